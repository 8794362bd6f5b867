// A long outage in the simulation: N messages for one domain whose only MX refuses connections
// for most of the queue lifetime, then comes back. Every message is retried on the backoff
// schedule through the outage (dead-destination memory defers most retries without a connection)
// and delivered once the MX is back. Measures wall time for the whole run.
//
//   build/bench/outage_bench [--messages N] [--outage 4d12h]

#include <chrono>
#include <cstdio>
#include <cstring>

#include "bench/bench_clients.hpp"
#include "relay/relay_node.hpp"
#include "sim/world.hpp"
#include "support/dns_records.hpp"
#include "support/smtp_nodes.hpp"

using namespace relaysim;

int main(int argc, char** argv) {
  int messages = 100'000;
  Duration outage = std::chrono::hours(24 * 4 + 12);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--messages") == 0) messages = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--outage") == 0) outage = *parse_duration(argv[i + 1]);
  }
  const Instant start = *parse_iso8601("2026-03-02T09:00:00Z");
  sim::World world(1, start);
  world.set_default_link({std::chrono::milliseconds(1), Duration(0), 0});
  world.add_host({"relay", {*io::Address::parse("203.0.113.10")}});
  world.add_host({"mx", {*io::Address::parse("192.0.2.25")}});
  world.set_dns("dest.example", testing::records().mx(10, "mx.dest.example").ttl(3600));
  world.set_dns("mx.dest.example", testing::records().a("192.0.2.25").ttl(3600));
  sim::NetworkFault down;
  down.kind = sim::NetworkFault::Kind::refuse;
  down.from = start;
  down.until = start + outage;
  down.destinations = {*io::Cidr::parse("192.0.2.25/32")};
  down.name = "MX outage";
  world.add_network_fault(down);
  relay::RelayConfig config;
  config.listeners = {relay::ListenerConfig{{io::Address::any_v4(), 25}, false}};
  config.mynetworks = {*io::Cidr::parse("10.0.0.0/8")};
  world.add_process(
      {"relay", "relay", [&config](io::Io& io) { return std::make_unique<relay::RelayNode>(io, config, nullptr); },
       sim::DiskConfig{std::uint64_t{1} << 40, std::chrono::microseconds(100), sim::DiskConfig::CrashMode::torn}});
  testing::SinkRecord mailbox;
  mailbox.keep_content = false;  // each body is checked on arrival, then released
  mailbox.keep_transcripts = false;
  smtp::ServerConfig mx;
  mx.hostname = "mx.dest.example";
  world.add_process({"mx",
                     "mx",
                     [&mailbox, mx](io::Io& io) {
                       return std::make_unique<testing::SinkNode>(io, io::Endpoint{io::Address::any_v4(), 25}, mx,
                                                                  nullptr, std::map<std::string, std::string>{},
                                                                  mailbox);
                     },
                     {}});
  const int clients = 20;
  const std::string content = bench::message_content(1024, "outage");
  mailbox.expected_content_ending = content;
  bench::Clients senders;
  bench::add_clients(world, senders, clients, 0x0A000001u, 1, {*io::Address::parse("203.0.113.10"), 25}, [&](int c) {
    std::vector<smtp::OutgoingMessage> batch;
    for (int m = c; m < messages; m += clients) {
      auto one = bench::copies(1, "user" + std::to_string(m), content);
      batch.push_back(std::move(one.front()));
    }
    return batch;
  });
  world.start();
  const auto wall = std::chrono::steady_clock::now();
  const auto total = static_cast<std::size_t>(messages);
  mailbox.messages.reserve(total);
  while (mailbox.messages.size() < total && world.now() < start + days(6))
    world.run_until(world.now() + std::chrono::minutes(1));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  const auto* relay = dynamic_cast<const relay::RelayNode*>(world.node("relay"));
  const relay::OutboundCounters& counters = relay->outbound().counters();
  std::printf(
      "outage of %s, %d messages: %zu delivered (%d with wrong content), %llu deferrals, %llu bounced; %.1f s of wall "
      "time "
      "(%.1f h virtual, %llu events)\n",
      format_duration(outage).c_str(), messages, mailbox.messages.size(), mailbox.unexpected_contents,
      static_cast<unsigned long long>(counters.deferred), static_cast<unsigned long long>(counters.bounced), elapsed,
      static_cast<double>((world.now() - start).count()) / 3.6e9,
      static_cast<unsigned long long>(world.events_executed()));
  return mailbox.messages.size() == total && mailbox.unexpected_contents == 0 ? 0 : 1;
}
