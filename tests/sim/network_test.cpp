#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include "support/test_world.hpp"

using namespace relaysim;
using namespace relaysim::testing;

namespace {

// A client body that connects to b:port, sends `message` once connected and records the outcome.
struct ClientLog {
  std::string received;
  std::string error;
  std::optional<io::CloseReason> closed;
  Instant connected_at;
  Instant last_receive_at;
  Instant failed_at;
};

LambdaNode::Body client(ClientLog& log, std::uint16_t port, std::string message,
                        Duration timeout = std::chrono::seconds(30)) {
  return [&log, port, message, timeout](LambdaNode& node) {
    io::ConnectOptions options;
    options.timeout = timeout;
    node.pending.push_back(
        node.io.connect({address("10.0.0.2"), port}, options,
                        [&log, &node, message](io::Result<std::unique_ptr<io::Connection>> result) {
                          if (!result) {
                            log.error = std::string(io::to_string(result.error().code));
                            log.failed_at = node.io.now();
                            return;
                          }
                          log.connected_at = node.io.now();
                          auto& connection = node.connections.emplace_back(std::move(result).value());
                          connection->on_receive([&log, &node](std::string_view bytes) {
                            log.received.append(bytes);
                            log.last_receive_at = node.io.now();
                          });
                          connection->on_close([&log](io::CloseReason reason) { log.closed = reason; });
                          connection->send(message);
                        }));
  };
}

}  // namespace

TEST_CASE("a connection takes one round trip and data one way-delay each way", "[sim][network]") {
  auto world = two_host_world();
  std::string server_got;
  ClientLog log;
  add_lambda_node(*world, "server", "b", echo_server(25, &server_got));
  add_lambda_node(*world, "client", "a", client(log, 25, "EHLO a.example\r\n"));
  world->start();
  world->run_until(t0() + 1s);
  CHECK(log.error.empty());
  CHECK(log.connected_at == t0() + 20ms);
  CHECK(server_got == "EHLO a.example\r\n");
  CHECK(log.received == "EHLO a.example\r\n");
  CHECK(log.last_receive_at == t0() + 40ms);
}

TEST_CASE("connecting where nothing listens is refused after a round trip", "[sim][network]") {
  auto world = two_host_world();
  ClientLog log;
  add_lambda_node(*world, "client", "a", client(log, 25, "x"));
  world->start();
  world->run_until(t0() + 1min);
  CHECK(log.error == "connection refused");
  CHECK(log.failed_at == t0() + 20ms);
}

TEST_CASE("listeners on 0.0.0.0 and [::] share a port, but not two on one family's unspecified address",
          "[sim][network]") {
  auto world = two_host_world();
  std::vector<std::string> outcomes;
  add_lambda_node(*world, "server", "b", [&outcomes](LambdaNode& node) {
    auto kept = std::make_shared<std::vector<std::unique_ptr<io::Listener>>>();
    node.keep_alive = kept;
    for (const char* where : {"0.0.0.0", "::", "0.0.0.0", "10.0.0.2", "::"}) {
      auto listener = node.io.listen({*io::Address::parse(where), 25}, [](std::unique_ptr<io::Connection>) {});
      outcomes.push_back(std::string(where) +
                         (listener ? " ok" : " " + std::string(io::to_string(listener.error().code))));
      if (listener) kept->push_back(std::move(listener).value());
    }
  });
  world->start();
  world->run_until(t0() + 1s);
  CHECK(outcomes == std::vector<std::string>{"0.0.0.0 ok", ":: ok", "0.0.0.0 address in use", "10.0.0.2 address in use",
                                             ":: address in use"});
}

TEST_CASE("a refused connect leaves the world's other scheduled actions alone", "[sim][network]") {
  auto world = two_host_world();
  bool later_ran = false;
  world->at(t0() + 1min, [&later_ran] { later_ran = true; });  // scheduled first: the oldest event
  sim::NetworkFault fault;  // refused by a fault: the attempt ends before any timeout is armed
  fault.kind = sim::NetworkFault::Kind::refuse;
  world->add_network_fault(fault);
  ClientLog log;
  add_lambda_node(*world, "client", "a", client(log, 25, "x"));
  world->start();
  CHECK(world->run_until(t0() + 1h) == sim::World::RunOutcome::quiescent);
  CHECK(log.error == "connection refused");
  CHECK(later_ran);
}

TEST_CASE("an address no host has times out at the connect timeout", "[sim][network]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  ClientLog log;
  add_lambda_node(world, "client", "a", client(log, 25, "x", 7s));
  world.start();
  world.run_until(t0() + 1min);
  CHECK(log.error == "timed out");
  CHECK(log.failed_at == t0() + 7s);
}

TEST_CASE("a firewall drops or rejects sources outside its allow list", "[sim][network]") {
  auto world = two_host_world();
  const bool reject = GENERATE(false, true);
  sim::FirewallRule rule;
  rule.port = 25;
  rule.allow = {*io::Cidr::parse("13.108.0.0/14")};  // Salesforce's range, not host a
  rule.action = reject ? sim::FirewallRule::Action::reject : sim::FirewallRule::Action::drop;
  world->add_firewall_rule("b", rule);
  ClientLog log25, log587;
  add_lambda_node(*world, "server", "b", [](LambdaNode& node) {
    echo_server(25)(node);
    echo_server(587)(node);
  });
  add_lambda_node(*world, "client25", "a", client(log25, 25, "x", 10s));
  add_lambda_node(*world, "client587", "a", client(log587, 587, "y", 10s));
  world->start();
  world->run_until(t0() + 1min);
  CHECK(log25.error == (reject ? "connection refused" : "timed out"));
  CHECK(log25.failed_at == t0() + (reject ? 20ms : 10s));
  CHECK(log587.error.empty());  // the rule names port 25 only
  CHECK(log587.received == "y");
}

TEST_CASE("a refuse fault refuses only inside its window", "[sim][network]") {
  auto world = two_host_world();
  sim::NetworkFault fault;
  fault.kind = sim::NetworkFault::Kind::refuse;
  fault.from = t0();
  fault.until = t0() + 1s;
  fault.port = 25;
  world->add_network_fault(fault);
  ClientLog early, late;
  add_lambda_node(*world, "server", "b", echo_server(25));
  add_lambda_node(*world, "early", "a", client(early, 25, "x"));
  add_lambda_node(*world, "late", "a", [&late](LambdaNode& node) {
    node.pending.push_back(node.io.after(2s, [&node, &late] { client(late, 25, "late")(node); }));
  });
  world->start();
  world->run_until(t0() + 1min);
  CHECK(early.error == "connection refused");
  CHECK(late.error.empty());
  CHECK(late.received == "late");
}

TEST_CASE("a partition holds data until it heals, then delivers it in order", "[sim][network]") {
  auto world = two_host_world();
  sim::NetworkFault fault;
  fault.kind = sim::NetworkFault::Kind::partition;
  fault.from = t0() + 100ms;
  fault.until = t0() + 5s;
  fault.sources = {*io::Cidr::parse("10.0.0.1")};
  fault.destinations = {*io::Cidr::parse("10.0.0.2")};
  fault.both_directions = true;
  world->add_network_fault(fault);
  std::string server_got;
  Instant server_got_at;
  add_lambda_node(*world, "server", "b", [&](LambdaNode& node) {
    auto listener = node.io.listen({io::Address::any_v4(), 25}, [&](std::unique_ptr<io::Connection> c) {
      c->on_receive([&](std::string_view bytes) {
        server_got.append(bytes);
        server_got_at = node.io.now();
      });
      node.connections.push_back(std::move(c));
    });
    node.listeners.push_back(std::move(listener).value());
  });
  add_lambda_node(*world, "client", "a", [](LambdaNode& node) {
    node.pending.push_back(node.io.connect({address("10.0.0.2"), 25}, {}, [&node](auto result) {
      node.connections.push_back(std::move(result).value());
      node.pending.push_back(node.io.after(1s, [&node] {  // inside the partition
        node.connections.back()->send("one ");
        node.connections.back()->send("two");
      }));
    }));
  });
  world->start();
  world->run_until(t0() + 1min);
  CHECK(server_got == "one two");
  CHECK(server_got_at == t0() + 5s + 10ms);
}

TEST_CASE("a reset fault cuts a stream right after a byte pattern", "[sim][network]") {
  auto world = two_host_world();
  sim::NetworkFault fault;
  fault.kind = sim::NetworkFault::Kind::reset;
  fault.after_pattern = "\r\n.\r\n";
  fault.port = 25;
  world->add_network_fault(fault);
  std::string server_got;
  std::optional<io::CloseReason> server_closed;
  add_lambda_node(*world, "server", "b", [&](LambdaNode& node) {
    auto listener = node.io.listen({io::Address::any_v4(), 25}, [&](std::unique_ptr<io::Connection> c) {
      c->on_receive([&](std::string_view bytes) { server_got.append(bytes); });
      c->on_close([&](io::CloseReason reason) { server_closed = reason; });
      node.connections.push_back(std::move(c));
    });
    node.listeners.push_back(std::move(listener).value());
  });
  ClientLog log;
  add_lambda_node(*world, "client", "a", client(log, 25, "Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"));
  world->start();
  world->run_until(t0() + 1min);
  CHECK(server_got == "Subject: x\r\n\r\nbody\r\n.\r\n");  // the final dot arrives, QUIT does not
  CHECK(server_closed == io::CloseReason::reset);
  CHECK(log.closed == io::CloseReason::reset);
}

TEST_CASE("a reset fault after N bytes delivers exactly N bytes", "[sim][network]") {
  auto world = two_host_world();
  sim::NetworkFault fault;
  fault.kind = sim::NetworkFault::Kind::reset;
  fault.after_bytes = 5;
  fault.sources = {*io::Cidr::parse("10.0.0.1")};
  world->add_network_fault(fault);
  std::string server_got;
  ClientLog log;
  add_lambda_node(*world, "server", "b", echo_server(25, &server_got));
  add_lambda_node(*world, "client", "a", client(log, 25, "0123456789"));
  world->start();
  world->run_until(t0() + 1min);
  CHECK(server_got == "01234");
  CHECK(log.closed == io::CloseReason::reset);
}

TEST_CASE("a graceful close reaches the peer after the data sent before it", "[sim][network]") {
  auto world = two_host_world();
  std::string server_got;
  std::optional<io::CloseReason> server_closed;
  add_lambda_node(*world, "server", "b", [&](LambdaNode& node) {
    auto listener = node.io.listen({io::Address::any_v4(), 25}, [&](std::unique_ptr<io::Connection> c) {
      c->on_receive([&](std::string_view bytes) { server_got.append(bytes); });
      c->on_close([&](io::CloseReason reason) {
        server_closed = reason;
        CHECK(server_got == "QUIT\r\n");  // everything before the close has arrived
      });
      node.connections.push_back(std::move(c));
    });
    node.listeners.push_back(std::move(listener).value());
  });
  add_lambda_node(*world, "client", "a", [](LambdaNode& node) {
    node.pending.push_back(node.io.connect({address("10.0.0.2"), 25}, {}, [](auto result) {
      auto connection = std::move(result).value();
      connection->send("QUIT\r\n");
      // Destroying the connection closes it gracefully.
    }));
  });
  world->start();
  CHECK(world->run_until(t0() + 1min) == sim::World::RunOutcome::quiescent);
  CHECK(server_closed == io::CloseReason::closed_by_peer);
}

TEST_CASE("jitter never reorders a stream", "[sim][network][property]") {
  rc::prop("the receiver gets exactly the concatenation of the sends",
           [](std::uint64_t seed, const std::vector<std::string>& chunks) {
             auto world = two_host_world(seed);
             world->set_default_link({std::chrono::milliseconds(5), std::chrono::milliseconds(50), 0});
             std::string server_got;
             add_lambda_node(*world, "server", "b", echo_server(25, &server_got));
             add_lambda_node(*world, "client", "a", [chunks](LambdaNode& node) {
               node.pending.push_back(node.io.connect({address("10.0.0.2"), 25}, {}, [&node, chunks](auto result) {
                 auto& connection = node.connections.emplace_back(std::move(result).value());
                 for (const std::string& chunk : chunks) connection->send(chunk);
               }));
             });
             world->start();
             world->run_until(t0() + 1h);
             std::string expected;
             for (const std::string& chunk : chunks) expected += chunk;
             RC_ASSERT(server_got == expected);
           });
}

TEST_CASE("listening twice on a port, or on an address the host lacks, is refused", "[sim][network]") {
  auto world = two_host_world();
  std::vector<std::string> errors;
  add_lambda_node(*world, "server", "b", [&errors](LambdaNode& node) {
    auto first = node.io.listen({io::Address::any_v4(), 25}, [](auto) {});
    REQUIRE(first);
    node.listeners.push_back(std::move(first).value());
    auto second = node.io.listen({address("10.0.0.2"), 25}, [](auto) {});
    errors.emplace_back(second ? "ok" : io::to_string(second.error().code));
    auto foreign = node.io.listen({address("10.0.0.1"), 26}, [](auto) {});
    errors.emplace_back(foreign ? "ok" : io::to_string(foreign.error().code));
  });
  world->start();
  world->run_until(t0() + 1s);
  CHECK(errors == std::vector<std::string>{"address in use", "address not local"});
}

TEST_CASE("impossible configuration is refused with a clear message", "[sim][config]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  CHECK_THROWS_WITH(world.add_host({"b", {address("10.0.0.1")}}),
                    "address 10.0.0.1 of host 'b' already belongs to host 'a'");
  CHECK_THROWS_WITH(world.add_host({"a", {address("10.0.0.3")}}), "duplicate host 'a'");
  CHECK_THROWS_WITH(world.set_link("a", "nowhere", {}), "unknown host 'nowhere'");
  CHECK_THROWS_WITH(world.set_default_link({Duration(-5), Duration(0), 0}), "negative latency -5us");
  CHECK_THROWS_WITH(world.add_process({"x", "nowhere", [](io::Io&) { return std::unique_ptr<io::Node>(); }, {}}),
                    "unknown host 'nowhere'");
  CHECK_THROWS_WITH(world.crash_at("ghost", t0()), "unknown process 'ghost'");
}

TEST_CASE("a paused listener leaves clients in its backlog and accepts them in order when it resumes",
          "[sim][network][backlog]") {
  auto world = two_host_world();
  std::vector<std::pair<Instant, std::string>> accepted;  // when, and the first bytes read
  add_lambda_node(*world, "server", "b", [&accepted](LambdaNode& node) {
    auto listener = node.io.listen({io::Address::any_v4(), 25}, [&node, &accepted](std::unique_ptr<io::Connection> c) {
      const std::size_t index = accepted.size();
      accepted.emplace_back(node.io.now(), "");
      c->on_receive([&accepted, index](std::string_view bytes) { accepted[index].second.append(bytes); });
      node.connections.push_back(std::move(c));
    });
    node.listeners.push_back(std::move(listener).value());
    node.listeners.back()->pause_accepting(true);
    node.pending.push_back(node.io.after(5s, [&node] { node.listeners.back()->pause_accepting(false); }));
  });
  ClientLog first, second, gone;
  add_lambda_node(*world, "first", "a", client(first, 25, "one"));
  add_lambda_node(*world, "gone", "a", [&gone](LambdaNode& node) {
    node.pending.push_back(node.io.after(10ms, [&node, &gone] {
      client(gone, 25, "never read")(node);
      node.pending.push_back(node.io.after(1s, [&node] { node.connections.clear(); }));  // leaves while waiting
    }));
  });
  add_lambda_node(*world, "second", "a", [&second](LambdaNode& node) {
    node.pending.push_back(node.io.after(20ms, [&node, &second] { client(second, 25, "two")(node); }));
  });
  world->start();
  world->run_until(t0() + 10s);

  // The handshake completes at once, as the kernel completes it; the server hears of them later.
  CHECK(first.connected_at == t0() + 20ms);
  CHECK(second.connected_at == t0() + 40ms);
  CHECK(first.error.empty());
  CHECK(second.error.empty());
  // Accepted when the listener resumes, oldest first, with what they sent meanwhile; the client
  // that left before is never handed over.
  REQUIRE(accepted.size() == 2);
  CHECK(accepted[0] == std::make_pair(t0() + 5s, std::string("one")));
  CHECK(accepted[1] == std::make_pair(t0() + 5s, std::string("two")));
}

TEST_CASE("past a full backlog a connect gets no answer and times out", "[sim][network][backlog]") {
  auto world = two_host_world();
  add_lambda_node(*world, "server", "b", [](LambdaNode& node) {
    auto listener = node.io.listen({io::Address::any_v4(), 25}, [&node](std::unique_ptr<io::Connection> c) {
      node.connections.push_back(std::move(c));
    });
    node.listeners.push_back(std::move(listener).value());
    node.listeners.back()->pause_accepting(true);
  });
  int connected = 0;
  std::vector<std::pair<Instant, std::string>> failures;
  add_lambda_node(*world, "clients", "a", [&connected, &failures](LambdaNode& node) {
    io::ConnectOptions options;
    options.timeout = 30s;
    for (std::size_t i = 0; i < io::Listener::backlog_max + 2; ++i) {
      node.pending.push_back(
          node.io.connect({address("10.0.0.2"), 25}, options,
                          [&node, &connected, &failures](io::Result<std::unique_ptr<io::Connection>> result) {
                            if (!result) {
                              failures.emplace_back(node.io.now(), std::string(io::to_string(result.error().code)));
                              return;
                            }
                            connected += 1;
                            node.connections.push_back(std::move(result).value());
                          }));
    }
  });
  world->start();
  world->run_until(t0() + 1min);
  CHECK(connected == static_cast<int>(io::Listener::backlog_max));
  REQUIRE(failures.size() == 2);
  for (const auto& [when, error] : failures) {
    CHECK(when == t0() + 30s);
    CHECK(error == "timed out");
  }
}

TEST_CASE("a listener destroyed with clients in its backlog resets them", "[sim][network][backlog]") {
  auto world = two_host_world();
  add_lambda_node(*world, "server", "b", [](LambdaNode& node) {
    auto listener = node.io.listen({io::Address::any_v4(), 25}, [](std::unique_ptr<io::Connection>) {});
    node.listeners.push_back(std::move(listener).value());
    node.listeners.back()->pause_accepting(true);
    node.pending.push_back(node.io.after(1s, [&node] { node.listeners.clear(); }));
  });
  ClientLog log;
  add_lambda_node(*world, "client", "a", client(log, 25, "hello"));
  world->start();
  world->run_until(t0() + 5s);
  CHECK(log.error.empty());
  CHECK(log.closed == io::CloseReason::reset);
  CHECK(log.received.empty());
}
