// What the endpoint drivers bound. Flow control in the simulated network, and the server
// session's backpressure on top of it: a client that pipelines without reading makes the session
// stop reading, never drop a reply. Long lines folded on the way out.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "smtp/client_session.hpp"
#include "smtp/reply.hpp"
#include "support/client_dialogue.hpp"
#include "support/dialogue.hpp"
#include "support/smtp_nodes.hpp"
#include "support/test_world.hpp"

using namespace relaysim;
using namespace relaysim::testing;
using namespace std::chrono_literals;

TEST_CASE("a paused receiver leaves the sender's bytes unsent until it reads again", "[sim][network][flow]") {
  auto world = two_host_world();
  io::Connection* server_side = nullptr;
  std::string received;
  add_lambda_node(*world, "server", "b", [&](LambdaNode& node) {
    auto listener = node.io.listen({io::Address::any_v4(), 25}, [&](std::unique_ptr<io::Connection> connection) {
      server_side = connection.get();
      connection->pause_receiving(true);
      connection->on_receive([&](std::string_view bytes) { received.append(bytes); });
      node.connections.push_back(std::move(connection));
    });
    node.listeners.push_back(std::move(listener).value());
  });
  io::Connection* client_side = nullptr;
  std::vector<Instant> drained;
  add_lambda_node(*world, "client", "a", [&](LambdaNode& node) {
    node.pending.push_back(node.io.connect({address("10.0.0.2"), 25}, {}, [&](auto result) {
      client_side = node.connections.emplace_back(std::move(result).value()).get();
      REQUIRE(client_side->send(std::string(100'000, 'x')));
      client_side->when_unsent_at_most(0, [&] { drained.push_back(node.io.now()); });
    }));
  });
  world->start();
  world->run_until(t0() + 10s);
  REQUIRE(client_side != nullptr);
  CHECK(received.empty());
  CHECK(client_side->unsent_bytes() == 100'000);  // arrived, not read
  CHECK(drained.empty());

  server_side->pause_receiving(false);
  world->run_until(t0() + 11s);
  CHECK(received.size() == 100'000);
  CHECK(client_side->unsent_bytes() == 0);
  CHECK(drained.size() == 1);
}

namespace {

// Sends EHLO, then `noops` NOOPs and QUIT in one go, reads nothing until `read_from`, then
// counts the replies and checks their order.
struct Pipeliner {
  int noops = 0;
  Instant read_from;
  io::Connection* connection = nullptr;
  std::string commands;
  std::size_t sent = 0;
  smtp::ReplyParser parser;
  std::vector<int> codes;
  bool out_of_order = false;
  bool closed = false;
};

// Like a TCP sender: segments of 16 KiB while fewer than 256 KiB wait unread by the peer.
void send_more(Pipeliner& state) {
  constexpr std::size_t segment_bytes = 16 * 1024, window_bytes = 256 * 1024;
  while (state.sent < state.commands.size() && state.connection->unsent_bytes() < window_bytes) {
    const std::string_view segment = std::string_view(state.commands).substr(state.sent, segment_bytes);
    REQUIRE(state.connection->send(segment));
    state.sent += segment.size();
  }
  if (state.sent < state.commands.size()) {
    state.connection->when_unsent_at_most(window_bytes / 2, [&state] { send_more(state); });
  }
}

LambdaNode::Body pipeliner(Pipeliner& state) {
  return [&state](LambdaNode& node) {
    node.pending.push_back(node.io.connect({address("10.0.0.2"), 25}, {}, [&state, &node](auto result) {
      state.connection = node.connections.emplace_back(std::move(result).value()).get();
      state.connection->on_receive([&state, &node](std::string_view bytes) {
        while (state.parser.feed(bytes) == smtp::ReplyParser::Status::complete) {
          const int code = state.parser.take().code;
          // 220 greeting, 250 EHLO, 250 per NOOP, 221: anything else is out of place.
          const std::size_t index = state.codes.size();
          const int expected = index == 0 ? 220 : index <= static_cast<std::size_t>(state.noops) + 1 ? 250 : 221;
          if (code != expected) state.out_of_order = true;
          state.codes.push_back(code);
          if (index == 0) REQUIRE(state.connection->send("EHLO client.example\r\n"));
          if (index != 1) continue;
          // Past EHLO (which ends a pipelined group): everything at once, and no reading for a while.
          state.connection->pause_receiving(true);
          for (int i = 0; i < state.noops; ++i) state.commands += "NOOP\r\n";
          state.commands += "QUIT\r\n";
          send_more(state);
          node.pending.push_back(node.io.at(state.read_from, [&state] { state.connection->pause_receiving(false); }));
        }
      });
      state.connection->on_close([&state](io::CloseReason) { state.closed = true; });
    }));
  };
}

}  // namespace

TEST_CASE("a client that pipelines without reading stops the session reading, and then gets every reply",
          "[endpoint][flow]") {
  auto world = two_host_world();
  TraceRecorder trace;
  world->add_trace_sink(trace);
  SinkRecord sink;
  sink.keep_transcripts = false;
  smtp::ServerConfig config = mx_config();
  config.junk_command_limit = 1'000'000;  // NOOPs are what this client sends
  world->add_process({"mx",
                      "b",
                      [&](io::Io& io) {
                        return std::make_unique<SinkNode>(io, io::Endpoint{io::Address::any_v4(), 25}, config, nullptr,
                                                          std::map<std::string, std::string>{}, sink);
                      },
                      {}});
  Pipeliner client;
  client.noops = 200'000;  // 1.2 MB of commands, 2.8 MB of replies
  client.read_from = t0() + 60s;
  add_lambda_node(*world, "client", "a", pipeliner(client));
  world->start();
  world->run_until(t0() + 59s);
  REQUIRE(client.connection != nullptr);
  // The session stopped reading: the client's commands wait.
  const std::size_t reply_bytes = 14;  // "250 2.0.0 Ok\r\n"
  const std::size_t slice_replies =
      endpoint::ServerConnection::read_slice_bytes / 6 * reply_bytes;  // "NOOP\r\n" is 6 bytes
  CHECK(client.codes.size() == 2);                                     // the greeting and EHLO's
  CHECK(client.sent < client.commands.size());
  CHECK(client.connection->unsent_bytes() > 128 * 1024);
  CHECK(trace.of_kind("smtp.server.backpressure").size() == 1);  // paused, once
  CHECK(trace.of_kind("net.send_failed").empty());

  world->run_until(t0() + 10min);
  CHECK(client.codes.size() == static_cast<std::size_t>(client.noops) + 3);
  CHECK_FALSE(client.out_of_order);
  CHECK(client.closed);
  CHECK(client.codes.back() == 221);
  // It paused and resumed many times, and each pause came with the replies waiting for the client
  // within the bound (plus one slice's worth of replies).
  const auto steps = trace.of_kind("smtp.server.backpressure");
  CHECK(steps.size() > 10);
  std::size_t most_waiting = 0;
  for (const auto& step : steps) {
    const auto json = nlohmann::json::parse(step.line);
    most_waiting = std::max(most_waiting, json.at("replies_waiting").get<std::size_t>());
  }
  CHECK(most_waiting > endpoint::ServerConnection::unsent_replies_bytes_max);
  CHECK(most_waiting <= endpoint::ServerConnection::unsent_replies_bytes_max + slice_replies);
}

TEST_CASE("a line over 998 octets arrives folded, and the receiver sees no over-long line", "[endpoint][line-length]") {
  auto world = two_host_world();
  SinkRecord sink;
  world->add_process({"mx",
                      "b",
                      [&](io::Io& io) {
                        return std::make_unique<SinkNode>(io, io::Endpoint{io::Address::any_v4(), 25}, mx_config(),
                                                          nullptr, std::map<std::string, std::string>{}, sink);
                      },
                      {}});
  SendRecord sent;
  const std::string content = "Subject: wide\r\n\r\n" + std::string(3000, 'w') + "\r\n";
  world->add_process({"relay",
                      "a",
                      [&](io::Io& io) {
                        return std::make_unique<SendNode>(
                            io, io::Endpoint{address("10.0.0.2"), 25}, "mx.example", relay_client_config(), nullptr,
                            std::vector{message("a@acme.example", {"b@dest.example"}, content)}, sent);
                      },
                      {}});
  world->start();
  world->run_until(t0() + 1min);
  REQUIRE(sink.messages.size() == 1);
  CHECK_FALSE(sink.messages[0].long_lines);
  CHECK(smtp::longest_line(sink.messages[0].content) == 998);
  CHECK(sink.messages[0].content == smtp::fold_long_lines(content, 998));
}
