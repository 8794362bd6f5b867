#pragma once
// Helpers for simulation tests: nodes whose behaviour is a lambda, a trace recorder, and a
// world with two hosts ready to use.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/io.hpp"
#include "sim/world.hpp"

namespace relaysim::testing {

inline io::Address address(const char* text) { return *io::Address::parse(text); }
inline Instant t0() { return *parse_iso8601("2026-03-02T09:00:00Z"); }

// A node whose start() runs a lambda. It keeps whatever the lambda wants kept alive (connections,
// listeners, pending operations), and loses it all on a crash, like any node.
class LambdaNode final : public io::Node {
 public:
  using Body = std::function<void(LambdaNode& node)>;
  LambdaNode(io::Io& io_ref, Body body) : io(io_ref), body_(std::move(body)) {}
  void start() override { body_(*this); }
  std::string status() const override { return "test node"; }

  io::Io& io;
  std::vector<std::unique_ptr<io::Connection>> connections;
  std::vector<std::unique_ptr<io::Listener>> listeners;
  std::vector<std::unique_ptr<io::File>> files;
  std::vector<io::Pending> pending;
  std::shared_ptr<void> keep_alive;  // anything else the body wants to die with the node

 private:
  Body body_;
};

inline void add_lambda_node(sim::World& world, const std::string& name, const std::string& host, LambdaNode::Body body,
                            sim::DiskConfig disk = {}) {
  world.add_process({name, host, [body](io::Io& io) { return std::make_unique<LambdaNode>(io, body); }, disk});
}

// Records every trace event: its kind, node and JSON line.
class TraceRecorder final : public sim::TraceSink {
 public:
  struct Entry {
    Instant time;
    std::string node;
    std::string kind;
    std::string line;
  };
  void on_event(const io::TraceEvent& event, std::string_view json_line) override {
    entries.push_back({event.time, std::string(event.node), std::string(event.kind), std::string(json_line)});
  }
  std::vector<Entry> of_kind(std::string_view kind) const {
    std::vector<Entry> out;
    for (const Entry& entry : entries) {
      if (entry.kind == kind) out.push_back(entry);
    }
    return out;
  }
  std::vector<Entry> entries;
};

// Two hosts, "a" (10.0.0.1) and "b" (10.0.0.2), 10 ms apart, no jitter.
inline std::unique_ptr<sim::World> two_host_world(std::uint64_t seed = 1) {
  auto world = std::make_unique<sim::World>(seed, t0());
  world->add_host({"a", {address("10.0.0.1")}});
  world->add_host({"b", {address("10.0.0.2")}});
  world->set_default_link({std::chrono::milliseconds(10), Duration(0), 0});
  return world;
}

// A server body that accepts on `port` and echoes every chunk back, recording what it got.
inline LambdaNode::Body echo_server(std::uint16_t port, std::string* received = nullptr) {
  return [port, received](LambdaNode& node) {
    auto listener = node.io.listen({io::Address::any_v4(), port}, [&node, received](std::unique_ptr<io::Connection> c) {
      io::Connection* connection = c.get();
      connection->on_receive([connection, received](std::string_view bytes) {
        if (received != nullptr) received->append(bytes);
        connection->send(bytes);
      });
      node.connections.push_back(std::move(c));
    });
    node.listeners.push_back(std::move(listener).value());
  };
}

}  // namespace relaysim::testing
