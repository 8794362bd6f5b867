#include <catch2/catch.hpp>

#include "support/test_world.hpp"

using namespace relaysim;
using namespace relaysim::testing;

TEST_CASE("a crash drops the node's timers, and a restart starts a fresh node", "[sim][process]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  std::vector<std::string> log;
  add_lambda_node(world, "worker", "a", [&log](LambdaNode& node) {
    log.push_back("start at " + format_duration(node.io.now() - t0()));
    node.pending.push_back(
        node.io.after(10s, [&log, &node] { log.push_back("tick at " + format_duration(node.io.now() - t0())); }));
  });
  world.crash_at("worker", t0() + 5s);
  world.restart_at("worker", t0() + 7s);
  world.start();
  world.run_until(t0() + 1min);
  CHECK(log == std::vector<std::string>{"start at 0s", "start at 7s", "tick at 17s"});
}

TEST_CASE("a crash resets the peer's connection and drops its pending connects", "[sim][process]") {
  auto world = two_host_world();
  std::optional<io::CloseReason> client_saw;
  bool server_connect_completed = false;
  add_lambda_node(*world, "server", "b", [&server_connect_completed](LambdaNode& node) {
    echo_server(25)(node);
    // An outgoing connection still in flight when the crash comes: its callback must never run.
    node.pending.push_back(node.io.after(990ms, [&node, &server_connect_completed] {
      node.pending.push_back(node.io.connect({address("10.0.0.1"), 9}, {},
                                             [&server_connect_completed](auto) { server_connect_completed = true; }));
    }));
  });
  add_lambda_node(*world, "client", "a", [&client_saw](LambdaNode& node) {
    node.pending.push_back(node.io.connect({address("10.0.0.2"), 25}, {}, [&node, &client_saw](auto result) {
      auto& connection = node.connections.emplace_back(std::move(result).value());
      connection->on_close([&client_saw](io::CloseReason reason) { client_saw = reason; });
    }));
  });
  world->crash_at("server", t0() + 1s);
  world->start();
  world->run_until(t0() + 1min);
  CHECK(client_saw == io::CloseReason::reset);
  CHECK_FALSE(server_connect_completed);
  CHECK_FALSE(world->running("server"));
  CHECK(world->node("server") == nullptr);
}

TEST_CASE("each node gets its own random stream, unaffected by other nodes", "[sim][process]") {
  const auto draw = [](bool with_neighbour) {
    sim::World world(5, t0());
    world.add_host({"a", {address("10.0.0.1")}});
    std::uint64_t value = 0;
    if (with_neighbour) {
      add_lambda_node(world, "neighbour", "a", [](LambdaNode& node) {
        io::Random random = node.io.random_stream("jitter");
        for (int i = 0; i < 100; ++i) random.next();
      });
    }
    add_lambda_node(world, "subject", "a",
                    [&value](LambdaNode& node) { value = node.io.random_stream("jitter").next(); });
    world.start();
    world.run_until(t0() + 1s);
    return value;
  };
  CHECK(draw(false) == draw(true));
}
