// SMTP with STARTTLS and AUTH between two nodes in the simulated world: the engines, the TLS
// engine and the endpoint drivers together, in virtual time, replayed byte for byte.

#include <catch2/catch.hpp>

#include "support/client_dialogue.hpp"
#include "support/smtp_nodes.hpp"
#include "support/test_world.hpp"
#include "tls/certificate.hpp"

using namespace relaysim;
using namespace relaysim::testing;

namespace {

struct RunResult {
  SinkRecord sink;
  SendRecord send;
  std::string digest;
};

// The relay host sends to the MX with TLS required and verified, authenticating; the MX's
// certificate is issued by a CA the sender trusts, valid from `valid_from` for 90 days.
RunResult run(std::uint64_t seed, Duration valid_from) {
  RunResult outcome;
  tls::CryptoContext material_crypto(seed);
  tls::Forge forge(material_crypto);
  auto ca = forge.certificate_authority({"Scenario CA", {}, t0() - days(365), t0() + days(3650)});
  auto certificate = forge.issue({"mx.dest.example", {}, t0() + valid_from, t0() + valid_from + days(90)}, ca.get());
  tls::CryptoContext server_crypto(seed + 1), client_crypto(seed + 2);
  tls::Context server_tls(server_crypto, {tls::Role::server,
                                          certificate.get(),
                                          {},
                                          {},
                                          tls::Verification::none,
                                          tls::Version::tls1_2,
                                          tls::Version::tls1_3});
  tls::Context client_tls(client_crypto, {tls::Role::client,
                                          nullptr,
                                          {},
                                          {ca.get()},
                                          tls::Verification::chain_and_name,
                                          tls::Version::tls1_2,
                                          tls::Version::tls1_3});
  {
    auto world = two_host_world(seed);
    world->set_default_link({std::chrono::milliseconds(20), std::chrono::milliseconds(5), 0});
    smtp::ServerConfig server_config = mx_config();
    server_config.starttls = true;
    server_config.auth_mechanisms = {"PLAIN", "LOGIN"};
    world->add_process({"mx",
                        "b",
                        [&](io::Io& io) {
                          return std::make_unique<SinkNode>(
                              io, io::Endpoint{io::Address::any_v4(), 25}, server_config, &server_tls,
                              std::map<std::string, std::string>{{"sfdc", "s3cret"}}, outcome.sink);
                        },
                        {}});
    smtp::ClientConfig client_config = relay_client_config(smtp::ClientTls::required);
    client_config.auth = smtp::Credentials{"sfdc", "s3cret", "LOGIN"};
    std::vector<smtp::OutgoingMessage> messages = {
        message("news@acme.example", {"ann@dest.example"}, "Subject: one\r\n\r\nfirst\r\n"),
        message("news@acme.example", {"bob@dest.example", "cy@dest.example"}, "Subject: two\r\n\r\nsecond\r\n")};
    world->add_process({"relay",
                        "a",
                        [&](io::Io& io) {
                          return std::make_unique<SendNode>(io, io::Endpoint{address("10.0.0.2"), 25},
                                                            "mx.dest.example", client_config, &client_tls, messages,
                                                            outcome.send);
                        },
                        {}});
    world->start();
    world->run_until(t0() + 1h);
    outcome.digest = world->digest();
  }
  return outcome;
}

}  // namespace

TEST_CASE("STARTTLS, AUTH LOGIN and two transactions on one connection, in the simulation", "[tls][endpoint][sim]") {
  const RunResult outcome = run(5, -days(1));
  REQUIRE(outcome.send.failures.empty());
  REQUIRE(outcome.send.results.size() == 2);
  CHECK(outcome.send.results[1].recipients.size() == 2);
  for (const auto& result : outcome.send.results) {
    for (const auto& recipient : result.recipients) CHECK(recipient.outcome == smtp::Outcome::delivered);
  }
  REQUIRE(outcome.sink.messages.size() == 2);
  CHECK(outcome.sink.messages[1].content == "Subject: two\r\n\r\nsecond\r\n");
  CHECK(outcome.sink.authenticated_users == std::vector<std::string>{"sfdc"});
  CHECK(outcome.sink.tls_versions == std::vector<std::string>{"TLSv1.3", "TLSv1.3"});
  CHECK(outcome.sink.connections == 1);  // the connection was reused
  CHECK_THAT(outcome.send.transcript, Catch::Contains("-- TLS TLSv1.3"));
  CHECK_THAT(outcome.send.transcript, Catch::Contains("C: AUTH LOGIN"));
  // The user name and the password answer the two 334 challenges: neither is kept.
  CHECK_THAT(
      outcome.send.transcript,
      Catch::Contains("S: 334 VXNlcm5hbWU6\nC: [credentials hidden]\nS: 334 UGFzc3dvcmQ6\nC: [credentials hidden]\n"));
}

TEST_CASE("a TLS world replays to the same digest, and another seed does not", "[tls][endpoint][determinism]") {
  const RunResult first = run(5, -days(1)), second = run(5, -days(1)), other = run(6, -days(1));
  CHECK(first.digest == second.digest);
  CHECK(first.digest != other.digest);
}

TEST_CASE("a certificate that becomes valid only tomorrow stops a verifying sender in virtual time",
          "[tls][endpoint][sim]") {
  const RunResult outcome = run(5, days(1));
  REQUIRE(outcome.send.failures.size() == 1);
  CHECK(outcome.send.failures[0].stage == smtp::Stage::starttls);
  CHECK_THAT(outcome.send.failures[0].reason, Catch::Contains("certificate is not yet valid"));
  CHECK(outcome.sink.messages.empty());
}

TEST_CASE("a server's idle deadline moves with each command and fires once, after the last",
          "[endpoint][sim][timeout]") {
  auto world = two_host_world();
  smtp::ServerConfig config = mx_config();
  config.command_timeout = std::chrono::seconds(300);
  SinkRecord sink;
  world->add_process({"mx",
                      "b",
                      [&](io::Io& io) {
                        return std::make_unique<SinkNode>(io, io::Endpoint{io::Address::any_v4(), 25}, config, nullptr,
                                                          std::map<std::string, std::string>{}, sink);
                      },
                      {}});
  // A client that says NOOP every 200 s, five times, then nothing: each NOOP comes before the
  // deadline the last one set, so only the silence after the fifth ends the session.
  std::vector<Instant> replies;
  std::vector<std::string> texts;
  bool closed = false;
  add_lambda_node(*world, "client", "a", [&](LambdaNode& node) {
    node.pending.push_back(
        node.io.connect({address("10.0.0.2"), 25}, {}, [&](io::Result<std::unique_ptr<io::Connection>> result) {
          REQUIRE(result);
          io::Connection& connection = *node.connections.emplace_back(std::move(result).value());
          connection.on_close([&](io::CloseReason) { closed = true; });
          connection.on_receive([&](std::string_view bytes) {
            replies.push_back(node.io.now());
            texts.emplace_back(bytes);
          });
          for (int i = 1; i <= 5; ++i) {
            node.pending.push_back(
                node.io.after(std::chrono::seconds(200) * i, [&connection] { connection.send("NOOP\r\n"); }));
          }
        }));
  });
  world->start();
  world->run_until(t0() + std::chrono::hours(1));
  REQUIRE(replies.size() == 7);  // the greeting, five NOOPs, the timeout
  CHECK_THAT(texts.back(), Catch::StartsWith("421 4.4.2"));
  CHECK(closed);
  // Connect: one round trip (20 ms). The fifth NOOP leaves at 1000.02 s and arrives 10 ms later;
  // the server gives up 300 s after that, and its reply takes 10 ms more.
  const Instant fifth_arrival = t0() + std::chrono::milliseconds(1000'030);
  CHECK(replies.back() == fifth_arrival + std::chrono::seconds(300) + std::chrono::milliseconds(10));
}
