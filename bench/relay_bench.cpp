// The relay in the simulation: accepted (or delivered) messages per second of wall time.
//
//   build/bench/relay_bench [--clients N] [--messages N] [--deliver]
//
// N clients in mynetworks each send messages of 4 KiB over one pipelined connection to a relay
// node; every message is stored (write, fsync, directory fsync, in the simulated disk) before its
// 250. Without --deliver the relay's only route leads nowhere and the run ends when every message
// is accepted; with --deliver an MX (the test sink node) takes every message, and the run ends when
// it has them all: submission -> relay -> MX mailbox. Trace writing is off; the digest is on.

#include <chrono>
#include <cstdio>
#include <cstring>

#include "relay/relay_node.hpp"
#include "sim/world.hpp"
#include "support/smtp_nodes.hpp"

using namespace relaysim;

int main(int argc, char** argv) {
  int clients = 20, messages = 2500;
  bool deliver = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--deliver") == 0) deliver = true;
    if (i + 1 < argc && std::strcmp(argv[i], "--clients") == 0) clients = std::atoi(argv[i + 1]);
    if (i + 1 < argc && std::strcmp(argv[i], "--messages") == 0) messages = std::atoi(argv[i + 1]);
  }
  const Instant start = *parse_iso8601("2026-03-02T09:00:00Z");
  sim::World world(1, start);
  world.set_default_link({std::chrono::milliseconds(1), Duration(0), 0});
  world.add_host({"relay", {*io::Address::parse("203.0.113.10")}});
  relay::RelayConfig config;
  config.listeners = {relay::ListenerConfig{{io::Address::any_v4(), 25}, false}};
  config.mynetworks = {*io::Cidr::parse("10.0.0.0/8")};
  testing::SinkRecord mailbox;
  if (deliver) {
    world.add_host({"mx", {*io::Address::parse("192.0.2.25")}});
    world.set_dns("dest.example", {{}, {{10, "mx.dest.example"}}, {}, {}, 3600});
    world.set_dns("mx.dest.example", {{*io::Address::parse("192.0.2.25")}, {}, {}, {}, 3600});
    smtp::ServerConfig mx;
    mx.hostname = "mx.dest.example";
    world.add_process({"mx", "mx", [&mailbox, mx](io::Io& io) {
                         return std::make_unique<testing::SinkNode>(io, io::Endpoint{io::Address::any_v4(), 25}, mx, nullptr,
                                                                    std::map<std::string, std::string>{}, mailbox);
                       }, {}});
  } else {
    config.transport_maps = {relay::Transport{"*", "", "192.0.2.1", 25, false}};  // nobody there: mail stays queued
  }
  world.add_process({"relay", "relay", [&config](io::Io& io) { return std::make_unique<relay::RelayNode>(io, config, nullptr); },
                     sim::DiskConfig{std::uint64_t{1} << 40, std::chrono::microseconds(100), sim::DiskConfig::CrashMode::torn}});
  std::string content = "From: <news@acme.example>\r\nTo: <ann@dest.example>\r\nSubject: bench\r\n\r\n";
  while (content.size() < 4096) content += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
  content.resize(4094);
  content += "\r\n";
  std::vector<std::unique_ptr<testing::SendRecord>> records;
  for (int c = 0; c < clients; ++c) {
    std::vector<smtp::OutgoingMessage> batch;
    for (int m = 0; m < messages; ++m) {
      smtp::OutgoingMessage message;
      message.sender = smtp::Mailbox{"news", "acme.example", false, false};
      message.recipients.push_back({smtp::Mailbox{"ann", "dest.example", false, false}, {}});
      message.content = content;
      batch.push_back(std::move(message));
    }
    const std::string name = "client" + std::to_string(c);
    world.add_host({name, {io::Address::v4(0x0A000001u + static_cast<std::uint32_t>(c))}});
    records.push_back(std::make_unique<testing::SendRecord>());
    smtp::ClientConfig client;
    client.helo_name = name;
    client.tls = smtp::ClientTls::none;
    world.add_process({name, name, [&, batch, client, c](io::Io& io) {
                         return std::make_unique<testing::SendNode>(io, io::Endpoint{*io::Address::parse("203.0.113.10"), 25},
                                                                    "relay", client, nullptr, batch, *records[c]);
                       }, {}});
  }
  world.start();
  const std::size_t total = static_cast<std::size_t>(clients) * static_cast<std::size_t>(messages);
  const auto accepted = [&] {
    std::size_t count = 0;
    for (const auto& record : records) count += record->results.size();
    return count;
  };
  const auto done = [&] { return deliver ? mailbox.messages.size() : accepted(); };
  const auto wall = std::chrono::steady_clock::now();
  while (done() < total && world.now() < start + days(1)) world.run_until(world.now() + std::chrono::milliseconds(100));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  std::printf("relay %s, 4 KiB, %d clients: %zu of %zu %s in %.3f s of wall time = %.0f messages/s "
              "(%.1f s virtual, %llu events)\n",
              deliver ? "submission -> MX" : "inbound + queue", clients, done(), total, deliver ? "delivered" : "accepted",
              elapsed, static_cast<double>(done()) / elapsed, static_cast<double>((world.now() - start).count()) / 1e6,
              static_cast<unsigned long long>(world.events_executed()));
  return done() == total ? 0 : 1;
}
