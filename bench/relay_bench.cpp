// The relay in the simulation: accepted (or delivered) messages per second of wall time.
//
//   build/bench/relay_bench [--clients N] [--messages N] [--deliver] [--client-engine] [--active-limit N]
//                           [--no-journal] [--keep-bodies]
//
// N clients in mynetworks each send messages of 4 KiB over one pipelined connection to a relay
// node; every message is stored (write, fsync, directory fsync, in the simulated disk) before its
// 250. Without --deliver the relay's only route leads nowhere and the run ends when every message
// is accepted; with --deliver an MX (the test sink node) takes every message, and the run ends when
// it has them all: submission -> relay -> MX mailbox. The MX checks that each message ends with the
// content submitted (the relay adds its Received: header on top), counts its bytes and releases
// them, as Postfix's smtp-sink does: 50,000 bodies are not kept in memory (--keep-bodies keeps
// them). Trace writing is off; the digest is on.
// The submitting clients are smtp-source-like load generators by default, the project's SMTP client
// engine with --client-engine (whose cost then counts against the figure too).

#include <chrono>
#include <cstdio>
#include <cstring>

#include "bench/bench_clients.hpp"
#include "relay/relay_node.hpp"
#include "sim/world.hpp"
#include "support/dns_records.hpp"

using namespace relaysim;

int main(int argc, char** argv) {
  int clients = 20, messages = 2500;
  bool deliver = false, client_engine = false, journal = true, keep_bodies = false;
  int active_limit = relay::RelayConfig{}.qmgr_message_active_limit;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--deliver") == 0) deliver = true;
    if (std::strcmp(argv[i], "--client-engine") == 0) client_engine = true;
    if (std::strcmp(argv[i], "--no-journal") == 0) journal = false;
    if (std::strcmp(argv[i], "--keep-bodies") == 0) keep_bodies = true;
    if (i + 1 < argc && std::strcmp(argv[i], "--clients") == 0) clients = std::atoi(argv[i + 1]);
    if (i + 1 < argc && std::strcmp(argv[i], "--messages") == 0) messages = std::atoi(argv[i + 1]);
    if (i + 1 < argc && std::strcmp(argv[i], "--active-limit") == 0) active_limit = std::atoi(argv[i + 1]);
  }
  const Instant start = *parse_iso8601("2026-03-02T09:00:00Z");
  sim::World world(1, start);
  world.set_default_link({std::chrono::milliseconds(1), Duration(0), 0});
  world.add_host({"relay", {*io::Address::parse("203.0.113.10")}});
  relay::RelayConfig config;
  config.listeners = {relay::ListenerConfig{{io::Address::any_v4(), 25}, false}};
  config.mynetworks = {*io::Cidr::parse("10.0.0.0/8")};
  config.qmgr_message_active_limit = active_limit;
  config.queue_journal = journal;
  testing::SinkRecord mailbox;
  mailbox.keep_content = keep_bodies;  // else each body is checked on arrival, then released
  mailbox.keep_transcripts = false;
  if (deliver) {
    world.add_host({"mx", {*io::Address::parse("192.0.2.25")}});
    world.set_dns("dest.example", testing::records().mx(10, "mx.dest.example").ttl(3600));
    world.set_dns("mx.dest.example", testing::records().a("192.0.2.25").ttl(3600));
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
  } else {
    config.transport_maps = {relay::Transport{"*", "", "192.0.2.1", 25, false}};  // nobody there: mail stays queued
  }
  world.add_process(
      {"relay", "relay", [&config](io::Io& io) { return std::make_unique<relay::RelayNode>(io, config, nullptr); },
       sim::DiskConfig{std::uint64_t{1} << 40, std::chrono::microseconds(100), sim::DiskConfig::CrashMode::torn}});
  const std::string content = bench::message_content(4096, "bench");
  mailbox.expected_content_ending = content;
  bench::Clients clients_;
  bench::LoadCounts counts;
  const io::Endpoint server{*io::Address::parse("203.0.113.10"), 25};
  if (client_engine) {
    bench::add_clients(world, clients_, clients, 0x0A000001u, 1, server,
                       [&](int) { return bench::copies(messages, "ann", content); });
  } else {
    bench::add_load_generators(world, counts, clients, 0x0A000001u, 1, server, messages, "ann@dest.example", content);
  }
  world.start();
  const std::size_t total = static_cast<std::size_t>(clients) * static_cast<std::size_t>(messages);
  if (deliver) mailbox.messages.reserve(total);  // the mailbox's own growth is not the relay's cost
  const auto accepted = [&] { return client_engine ? clients_.results() : counts.accepted; };
  const auto done = [&] { return deliver ? mailbox.messages.size() : accepted(); };
  const auto wall = std::chrono::steady_clock::now();
  while (done() < total && world.now() < start + days(1)) world.run_until(world.now() + std::chrono::milliseconds(100));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  std::printf(
      "relay %s, 4 KiB, %d %s: %zu of %zu %s in %.3f s of wall time = %.0f messages/s "
      "(%.1f s virtual, %llu events)\n",
      deliver ? "submission -> MX" : "inbound + queue", clients, client_engine ? "client engines" : "load generators",
      done(), total, deliver ? "delivered" : "accepted", elapsed, static_cast<double>(done()) / elapsed,
      static_cast<double>((world.now() - start).count()) / 1e6,
      static_cast<unsigned long long>(world.events_executed()));
  if (mailbox.unexpected_contents > 0)
    std::printf("%d messages reached the MX with the wrong content\n", mailbox.unexpected_contents);
  return done() == total && mailbox.unexpected_contents == 0 ? 0 : 1;
}
