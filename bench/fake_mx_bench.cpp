// The fake MX in the simulation: accepted messages per second of wall time, with greylisting and
// ten rules evaluated for every message (none of which refuses it).
//
//   build/bench/fake_mx_bench [--clients N] [--messages N] [--client-engine]
//
// N clients each send messages of 4 KiB over one pipelined connection. Greylisting is on with a
// zero delay, so each triplet is deferred once and then passes: the clients send one message first
// (the greylisting pass), then the measured batch. The clients are simulated in the same process:
// smtp-source-like load generators by default, the project's SMTP client engine with
// --client-engine (whose cost then counts against the figure too).

#include <chrono>
#include <cstdio>
#include <cstring>

#include "bench/bench_clients.hpp"
#include "fake_mx/fake_mx_node.hpp"
#include "sim/world.hpp"

using namespace relaysim;

int main(int argc, char** argv) {
  int clients = 20, messages = 2500;
  bool client_engine = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--client-engine") == 0) client_engine = true;
    if (i + 1 < argc && std::strcmp(argv[i], "--clients") == 0) clients = std::atoi(argv[i + 1]);
    if (i + 1 < argc && std::strcmp(argv[i], "--messages") == 0) messages = std::atoi(argv[i + 1]);
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
  world.add_process({"mx",
                     "mx",
                     [&](io::Io& io) { return std::make_unique<fake_mx::FakeMxNode>(io, behaviour, nullptr, store); },
                     {}});
  const std::string content = bench::message_content(4096, "bench");
  bench::Clients senders;
  bench::LoadCounts counts;
  // A /24 each, so that greylisting sees twenty clients.
  const io::Endpoint server{*io::Address::parse("192.0.2.25"), 25};
  if (client_engine) {
    bench::add_clients(world, senders, clients, 0x0A000001u, 256, server,
                       [&](int) { return bench::copies(messages + 1, "ann", content); });
  } else {
    bench::add_load_generators(world, counts, clients, 0x0A000001u, 256, server, messages + 1, "ann@dest.example",
                               content);
  }
  world.start();
  const std::size_t total = static_cast<std::size_t>(clients) * static_cast<std::size_t>(messages);
  const auto wall = std::chrono::steady_clock::now();
  while (store.messages().size() < total && world.now() < start + days(1))
    world.run_until(world.now() + std::chrono::milliseconds(100));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  std::printf(
      "fake MX, greylisting + 10 rules, 4 KiB, %d %s: %zu of %zu accepted in %.3f s of wall time = %.0f messages/s "
      "(%.1f s virtual, %llu events)\n",
      clients, client_engine ? "client engines" : "load generators", store.messages().size(), total, elapsed,
      static_cast<double>(store.messages().size()) / elapsed, static_cast<double>((world.now() - start).count()) / 1e6,
      static_cast<unsigned long long>(world.events_executed()));
  return store.messages().size() == total ? 0 : 1;
}
