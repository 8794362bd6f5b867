// The fake MX in the simulation: accepted messages per second of wall time, with greylisting and
// ten rules evaluated for every message (none of which refuses it).
//
//   build/bench/fake_mx_bench [--clients N] [--messages N]
//
// N clients each send messages of 4 KiB over one pipelined connection. Greylisting is on with a
// zero delay, so each triplet is deferred once and then passes: the clients send one message first
// (the greylisting pass), then the measured batch. The clients are simulated in the same process.

#include <chrono>
#include <cstdio>
#include <cstring>

#include "fake_mx/fake_mx_node.hpp"
#include "sim/world.hpp"
#include "support/smtp_nodes.hpp"

using namespace relaysim;

int main(int argc, char** argv) {
  int clients = 20, messages = 2500;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--clients") == 0) clients = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--messages") == 0) messages = std::atoi(argv[i + 1]);
  }
  const Instant start = *parse_iso8601("2026-03-02T09:00:00Z");
  sim::World world(1, start);
  world.set_default_link({std::chrono::milliseconds(1), Duration(0), 0});
  world.add_host({"mx", {*io::Address::parse("192.0.2.25")}});
  fake_mx::Behaviour behaviour;
  behaviour.greylisting.enabled = true;
  behaviour.greylisting.delay = Duration(0);
  for (int r = 0; r < 10; ++r) {
    fake_mx::Rule rule;
    rule.name = "rule" + std::to_string(r);
    rule.stage = r % 2 == 0 ? fake_mx::Stage::rcpt : fake_mx::Stage::end_of_data;
    rule.match.recipient = "nobody" + std::to_string(r) + "@dest.example";  // never matches
    rule.reply = smtp::Reply::make(550, "5.1.1", "no");
    behaviour.rules.push_back(rule);
  }
  fake_mx::MailStore store;
  world.add_process({"mx", "mx", [&](io::Io& io) { return std::make_unique<fake_mx::FakeMxNode>(io, behaviour, nullptr, store); }, {}});
  std::string content = "From: <news@acme.example>\r\nTo: <ann@dest.example>\r\nSubject: bench\r\n\r\n";
  while (content.size() < 4096) content += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
  content.resize(4094);
  content += "\r\n";
  std::vector<std::unique_ptr<testing::SendRecord>> records;
  for (int c = 0; c < clients; ++c) {
    std::vector<smtp::OutgoingMessage> batch;
    for (int m = 0; m < messages + 1; ++m) {
      smtp::OutgoingMessage message;
      message.sender = smtp::Mailbox{"news", "acme.example", false, false};
      message.recipients.push_back({smtp::Mailbox{"ann", "dest.example", false, false}, {}});
      message.content = content;
      batch.push_back(std::move(message));
    }
    const std::string name = "client" + std::to_string(c);
    world.add_host({name, {io::Address::v4(0x0A000001u + (static_cast<std::uint32_t>(c) << 8))}});  // a /24 each
    records.push_back(std::make_unique<testing::SendRecord>());
    smtp::ClientConfig client;
    client.helo_name = name;
    client.tls = smtp::ClientTls::none;
    world.add_process({name, name, [&, batch, client, c](io::Io& io) {
                         return std::make_unique<testing::SendNode>(io, io::Endpoint{*io::Address::parse("192.0.2.25"), 25}, "mx",
                                                                    client, nullptr, batch, *records[c]);
                       }, {}});
  }
  world.start();
  const std::size_t total = static_cast<std::size_t>(clients) * static_cast<std::size_t>(messages);
  const auto wall = std::chrono::steady_clock::now();
  while (store.messages().size() < total && world.now() < start + days(1)) world.run_until(world.now() + std::chrono::milliseconds(100));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  std::printf("fake MX, greylisting + 10 rules, 4 KiB, %d clients: %zu of %zu accepted in %.3f s of wall time = %.0f messages/s "
              "(%.1f s virtual, %llu events)\n",
              clients, store.messages().size(), total, elapsed, static_cast<double>(store.messages().size()) / elapsed,
              static_cast<double>((world.now() - start).count()) / 1e6, static_cast<unsigned long long>(world.events_executed()));
  return store.messages().size() == total ? 0 : 1;
}
