// The relay's inbound policy in the simulation: who may relay, what is refused, what a stored
// message looks like. Never an open relay.

#include <catch2/catch.hpp>

#include "relay/password.hpp"
#include "relay/relay_node.hpp"
#include "support/client_dialogue.hpp"
#include "support/script_client.hpp"
#include "support/smtp_nodes.hpp"
#include "tls/certificate.hpp"

using namespace relaysim;
using namespace relaysim::testing;

namespace {

const io::Endpoint relay_submission{*io::Address::parse("203.0.113.10"), 587};

struct RelayWorld {
  explicit RelayWorld(std::uint64_t seed = 1) : crypto(seed), forge(crypto), world(seed, t0()) {
    ca = forge.certificate_authority({"Public CA", {}, t0() - days(30), t0() + days(3650)});
    certificate = forge.issue({"relay.acme.example", {}, t0() - days(1), t0() + days(90)}, ca.get());
    server_tls = std::make_unique<tls::Context>(crypto, tls::ContextConfig{tls::Role::server,
                                                                           certificate.get(),
                                                                           {},
                                                                           {},
                                                                           tls::Verification::none,
                                                                           tls::Version::tls1_2,
                                                                           tls::Version::tls1_3});
    client_tls = std::make_unique<tls::Context>(crypto, tls::ContextConfig{tls::Role::client,
                                                                           nullptr,
                                                                           {},
                                                                           {ca.get()},
                                                                           tls::Verification::chain_and_name,
                                                                           tls::Version::tls1_2,
                                                                           tls::Version::tls1_3});
    world.add_host({"relay", {relay_submission.address}});
    world.add_host({"sfdc", {address("13.108.0.10")}});        // Salesforce: authenticates
    world.add_host({"office", {address("10.1.2.3")}});         // in mynetworks
    world.add_host({"stranger", {address("198.51.100.66")}});  // neither
    world.set_default_link({std::chrono::milliseconds(5), Duration(0), 0});
    config.myhostname = "relay.acme.example";
    config.listeners = {relay::ListenerConfig{{io::Address::any_v4(), 587}, false}};
    config.mynetworks = {*io::Cidr::parse("10.1.0.0/16")};
    config.users = {{"sfdc", relay::hash_password("s3cret", "salt", 1000)}};
    config.sender_domains = {"acme.example", "*.acme.example", "bnc.salesforce.com", "*.bnc.salesforce.com"};
    config.transport_maps = {relay::Transport{"*", "", "192.0.2.1", 25, false}};  // nobody there: mail stays queued
  }
  void add_relay() {
    world.add_process({"relay",
                       "relay",
                       [this](io::Io& io) {
                         auto node = std::make_unique<relay::RelayNode>(io, config, server_tls.get());
                         relay_node = node.get();
                         return std::unique_ptr<io::Node>(std::move(node));
                       },
                       {}});
  }
  // A scripted client on `host`, connecting at the start or `delay` later.
  ScriptRecord& script(const std::string& host, std::vector<std::string> lines, Duration delay = Duration(0)) {
    records.push_back(std::make_unique<ScriptRecord>());
    auto body = script_client(relay_submission, std::move(lines), *records.back());
    if (delay.count() > 0) {
      body = [body, delay](LambdaNode& node) {
        node.pending.push_back(node.io.after(delay, [body, &node] { body(node); }));
      };
    }
    add_lambda_node(world, "script-" + std::to_string(records.size()), host, body);
    return *records.back();
  }
  // Three sessions from the office, each lingering after a NOOP; how many were greeted with `reply`.
  int lingering_sessions_told(const std::string& reply) {
    std::vector<ScriptRecord*> sessions;
    for (int i = 0; i < 3; ++i) sessions.push_back(&script("office", {"EHLO printer.office", "NOOP"}));
    run();
    int told = 0;
    for (const ScriptRecord* session : sessions) told += session->text(0) == reply ? 1 : 0;
    return told;
  }
  void run() {
    world.start();
    world.run_until(t0() + 1h);
  }
  // The queued messages, each with its content read back from disk.
  std::vector<relay::QueuedMessage> queued() {
    std::vector<relay::QueuedMessage> out;
    for (const relay::QueueId& id : relay_node->queue().ids())
      out.push_back(relay_node->mutable_queue().load(id).value());
    return out;
  }

  tls::CryptoContext crypto;
  tls::Forge forge;
  std::unique_ptr<tls::Certificate> ca, certificate;
  std::unique_ptr<tls::Context> server_tls, client_tls;
  sim::World world;
  relay::RelayConfig config;
  relay::RelayNode* relay_node = nullptr;
  std::vector<std::unique_ptr<ScriptRecord>> records;
};

}  // namespace

TEST_CASE("a client neither in mynetworks nor authenticated may not relay", "[relay][inbound][open-relay]") {
  RelayWorld relay;
  relay.add_relay();
  ScriptRecord& stranger = relay.script("stranger", {"EHLO spammer.example", "MAIL FROM:<boss@acme.example>",
                                                     "RCPT TO:<victim@dest.example>", "DATA", "QUIT"});
  relay.run();
  CHECK(stranger.text(2) == "250 2.1.0 Ok");
  CHECK(stranger.text(3) == "554 5.7.1 <victim@dest.example>: Relay access denied");
  CHECK(stranger.text(4) == "554 5.5.1 Error: no valid recipients");
  CHECK(relay.queued().empty());
}

TEST_CASE("Salesforce relays after STARTTLS and AUTH, the message gets one Received header and nothing else changes",
          "[relay][inbound]") {
  RelayWorld relay;
  relay.add_relay();
  smtp::ClientConfig client = relay_client_config(smtp::ClientTls::required);
  client.helo_name = "na1.salesforce.example";
  client.auth = smtp::Credentials{"sfdc", "s3cret", "PLAIN"};
  client.line_length_limit = 0;  // this sender sends its long line whole
  // Long lines, trailing whitespace, 8-bit bytes and folded headers must all survive untouched.
  const std::string content =
      "DKIM-Signature: v=1; a=rsa-sha256; d=acme.example; s=sf1;\r\n\th=From:To:Subject; b=abc\r\n"
      "From: News <news@acme.example>\r\nSubject: caf\xc3\xa9 \r\n\r\n" +
      std::string(1500, 'L') + "\r\ntrailing spaces   \r\n\tindented\r\n";
  SendRecord send;
  relay.world.add_process(
      {"sfdc",
       "sfdc",
       [&](io::Io& io) {
         return std::make_unique<SendNode>(
             io, relay_submission, "relay.acme.example", client, relay.client_tls.get(),
             std::vector<smtp::OutgoingMessage>{message("news@acme.example", {"ann@dest.example"}, content)}, send);
       },
       {}});
  relay.run();
  REQUIRE(send.failures.empty());
  REQUIRE(send.results.size() == 1);
  CHECK(send.results[0].recipients[0].outcome == smtp::Outcome::delivered);
  const auto queued = relay.queued();
  REQUIRE(queued.size() == 1);
  const std::string& stored = queued[0].content;
  REQUIRE(stored.starts_with("Received: from na1.salesforce.example (unknown [13.108.0.10])\r\n"));
  CHECK_THAT(stored, Catch::Contains("(Authenticated sender: sfdc)"));
  CHECK_THAT(stored, Catch::Contains("by relay.acme.example (relaysim) with ESMTPSA id " + queued[0].id.to_string()));
  CHECK_THAT(stored, Catch::Contains("for <ann@dest.example>; Mon, 02 Mar 2026 09:00:"));
  CHECK(stored.substr(stored.find("DKIM-Signature:")) == content);
  CHECK(queued[0].authenticated_user == "sfdc");
}

TEST_CASE("a client in mynetworks relays without AUTH, Received says ESMTP", "[relay][inbound]") {
  RelayWorld relay;
  relay.add_relay();
  ScriptRecord& office =
      relay.script("office", {"EHLO printer.office", "MAIL FROM:<scanner@acme.example>", "RCPT TO:<ann@dest.example>",
                              "DATA", "Subject: scan\r\n\r\npage\r\n.", "QUIT"});
  relay.run();
  CHECK(office.text(3) == "250 2.1.5 Ok");
  CHECK_THAT(office.text(5), Catch::StartsWith("250 2.0.0 Ok: queued as "));
  REQUIRE(relay.queued().size() == 1);
  CHECK_THAT(relay.queued()[0].content, Catch::Contains("with ESMTP id"));
}

TEST_CASE("AUTH is refused before TLS, and three wrong passwords end the session", "[relay][inbound][auth]") {
  SECTION("before TLS") {
    RelayWorld relay;
    relay.add_relay();
    ScriptRecord& client = relay.script("sfdc", {"EHLO sfdc.example", "AUTH PLAIN AHNmZGMAczNjcmV0", "QUIT"});
    relay.run();
    CHECK(client.text(2) == "538 5.7.11 Encryption required for requested authentication mechanism");
  }
  SECTION("wrong passwords") {
    RelayWorld relay;
    relay.config.smtpd_tls_auth_only = false;  // so the script can try in plaintext
    relay.add_relay();
    const std::string wrong = "AUTH PLAIN " + smtp::encode_base64(std::string("\0sfdc\0guess", 11));
    ScriptRecord& client = relay.script("sfdc", {"EHLO sfdc.example", wrong, wrong, wrong, "NOOP"});
    relay.run();
    CHECK(client.text(2) == "535 5.7.8 Error: authentication failed");
    CHECK(client.text(3) == "535 5.7.8 Error: authentication failed");
    CHECK(client.text(4) == "421 4.7.0 relay.acme.example Error: too many failed authentications");
    CHECK(client.replies.size() == 5);  // the NOOP was never answered
    CHECK(client.closed);
  }
}

TEST_CASE("an authorised client still cannot route through address tricks", "[relay][inbound][open-relay]") {
  RelayWorld relay;
  relay.add_relay();
  ScriptRecord& office = relay.script(
      "office", {"EHLO printer.office", "MAIL FROM:<scanner@acme.example>",
                 "RCPT TO:<victim%elsewhere.example@dest.example>", "RCPT TO:<elsewhere.example!victim@dest.example>",
                 "RCPT TO:<\"victim@elsewhere.example\"@dest.example>", "RCPT TO:<victim@[192.0.2.99]>",
                 "RCPT TO:<@dest.example:victim@elsewhere.example>", "RCPT TO:<postmaster>", "QUIT"});
  relay.run();
  CHECK(office.text(3) == "550 5.7.1 <victim%elsewhere.example@dest.example>: Percent-hack addresses are not relayed");
  CHECK(office.text(4) == "550 5.7.1 <elsewhere.example!victim@dest.example>: Bang paths are not relayed");
  CHECK(office.text(5) ==
        "550 5.7.1 <\"victim@elsewhere.example\"@dest.example>: Quoted addresses holding @ are not relayed");
  CHECK(office.text(6) == "550 5.7.1 <victim@[192.0.2.99]>: Address literals are not relayed");
  CHECK(office.text(7) == "550 5.7.1 <victim@elsewhere.example>: Source routing is not supported");
  CHECK(office.text(8) == "550 5.1.3 <postmaster>: A domain is required");
}

TEST_CASE("senders outside the allowed domains are refused even for authorised clients", "[relay][inbound]") {
  RelayWorld relay;
  relay.add_relay();
  ScriptRecord& office = relay.script("office", {"EHLO printer.office", "MAIL FROM:<ceo@competitor.example>",
                                                 "MAIL FROM:<news=acme.example__x@eu12.bnc.salesforce.com>", "QUIT"});
  relay.run();
  CHECK(office.text(2) ==
        "553 5.7.1 <ceo@competitor.example>: Sender address rejected: not permitted through this relay");
  CHECK(office.text(3) == "250 2.1.0 Ok");  // Salesforce's VERP bounce address
}

TEST_CASE("a message that has looped past the hop limit is refused with 5.4.6", "[relay][inbound]") {
  RelayWorld relay;
  relay.config.hopcount_limit = 5;
  relay.add_relay();
  std::string looped;
  for (int i = 0; i < 5; ++i)
    looped += "Received: from hop" + std::to_string(i) + " by relay; Mon, 2 Mar 2026 09:00:00 +0000\r\n";
  looped += "Subject: loop\r\n\r\nbody\r\n.";
  ScriptRecord& office = relay.script("office", {"EHLO printer.office", "MAIL FROM:<a@acme.example>",
                                                 "RCPT TO:<b@dest.example>", "DATA", looped, "QUIT"});
  relay.run();
  CHECK(office.text(5) == "554 5.4.6 Error: too many hops");
  CHECK(relay.queued().empty());
}

TEST_CASE("domain patterns follow Salesforce's filter rules", "[relay][inbound]") {
  CHECK(relay::domain_matches("*", "anything.example"));
  CHECK(relay::domain_matches("acme.example", "ACME.example"));
  CHECK_FALSE(relay::domain_matches("acme.example", "mail.acme.example"));
  CHECK(relay::domain_matches("*.acme.example", "mail.acme.example"));
  CHECK_FALSE(relay::domain_matches("*.acme.example", "acme.example"));
  CHECK_FALSE(relay::domain_matches("*.acme.example", "badacme.example"));
  // An internationalized name and its A-labels are one domain.
  CHECK(relay::domain_matches("xn--bcher-kva.example",
                              "b\xc3\xbc"
                              "cher.example"));
  CHECK(
      relay::domain_matches("*.B\xc3\xbc"
                            "cher.example",
                            "mail.xn--bcher-kva.example"));
  CHECK_FALSE(relay::domain_matches("bucher.example",
                                    "b\xc3\xbc"
                                    "cher.example"));
}

TEST_CASE("a verified password is answered from memory for its lifetime and a wrong one never is", "[relay][auth]") {
  const std::string hash = relay::hash_password("s3cret", "pepper", 1000);
  relay::VerifiedPasswords cache({1, 2, 3, 4}, std::chrono::hours(1));
  CHECK(cache.verify("sfdc", "s3cret", hash, t0()));
  CHECK(cache.hits() == 0);  // the first one pays PBKDF2
  CHECK(cache.verify("sfdc", "s3cret", hash, t0() + 59min));
  CHECK(cache.hits() == 1);
  CHECK_FALSE(cache.verify("sfdc", "s3cret!", hash, t0() + 59min));
  CHECK_FALSE(cache.verify("other", "s3cret", "pbkdf2-sha256$1000$00$00", t0() + 59min));  // another user's hash
  // A changed hash (a reload with a new password) misses, even with the old password.
  const std::string changed = relay::hash_password("n3w", "pepper", 1000);
  CHECK_FALSE(cache.verify("sfdc", "s3cret", changed, t0() + 59min));
  CHECK(cache.verify("sfdc", "n3w", changed, t0() + 59min));
  const std::uint64_t hits = cache.hits();
  CHECK(cache.verify("sfdc", "n3w", changed, t0() + 2h));  // expired: verified in full again
  CHECK(cache.hits() == hits);
  relay::VerifiedPasswords off({1, 2, 3, 4}, Duration(0));
  CHECK(off.verify("sfdc", "s3cret", hash, t0()));
  CHECK(off.verify("sfdc", "s3cret", hash, t0()));
  CHECK(off.hits() == 0);
}

TEST_CASE("passwords are stored salted and checked in constant time", "[relay][auth]") {
  const std::string hash = relay::hash_password("s3cret", "pepper", 1000);
  CHECK(hash.starts_with("pbkdf2-sha256$1000$706570706572$"));
  CHECK(relay::verify_password("s3cret", hash));
  CHECK_FALSE(relay::verify_password("s3cret!", hash));
  CHECK_FALSE(relay::verify_password("s3cret", "s3cret"));  // a plain password is never a hash
  CHECK(relay::is_password_hash(hash));
  CHECK_FALSE(relay::is_password_hash("pbkdf2-sha256$0$00$00"));
}

TEST_CASE("too many sessions from one client get 421 instead of a greeting", "[relay][inbound][limits]") {
  RelayWorld relay;
  relay.config.smtpd_client_connection_count_limit = 2;
  relay.config.smtpd_client_event_limit_exceptions =
      std::vector<io::Cidr>{};  // the office is in mynetworks, exempt by default
  relay.add_relay();
  // Three clients on the same host, each lingering on its session.
  CHECK(relay.lingering_sessions_told("421 4.7.0 relay.acme.example Error: too many connections from 10.1.2.3") == 1);
}

TEST_CASE(
    "clients in mynetworks are exempt from the per-client limits by default as in Postfix - a trusted burst is not "
    "refused",
    "[relay][inbound][limits]") {
  RelayWorld relay;
  relay.config.smtpd_client_connection_count_limit = 2;
  relay.config.smtpd_client_connection_rate_limit = 2;
  relay.add_relay();
  // smtpd_client_event_limit_exceptions unset: $mynetworks, which holds the office.
  CHECK(relay.lingering_sessions_told("220 relay.acme.example ESMTP") == 3);
}

TEST_CASE("strangers cannot take the sessions kept for mynetworks, and under stress they give theirs back",
          "[relay][inbound][limits][stress]") {
  RelayWorld relay;
  relay.config.smtpd_connection_limit = 4;
  relay.config.smtpd_trusted_connection_reserve = 1;  // strangers get 3
  relay.add_relay();
  std::vector<ScriptRecord*> strangers;
  for (int i = 0; i < 3; ++i) strangers.push_back(&relay.script("stranger", {"EHLO idle.example"}));
  // One more stranger and the office, a second later.
  ScriptRecord& fourth = relay.script("stranger", {"EHLO one.more.example"}, 1s);
  ScriptRecord& office = relay.script("office", {"EHLO printer.office", "NOOP"}, 1s);
  relay.run();

  CHECK(fourth.text(0) ==
        "421 4.7.0 relay.acme.example Error: too many connections: 3 sessions in use, the rest kept for trusted "
        "networks");
  CHECK(office.text(0).starts_with("220 "));
  CHECK(office.text(2) == "250 2.0.0 Ok");
  // Stress began with the third stranger: each stranger is timed out 10 s after its last line,
  // not after the usual 5 minutes. The office keeps the usual timeout.
  for (const ScriptRecord* stranger : strangers) {
    CHECK(stranger->text(2) == "421 4.4.2 relay.acme.example Error: timeout exceeded");
    REQUIRE(stranger->reply_times.size() == 3);
    CHECK(stranger->reply_times[2] - stranger->reply_times[1] < 11s);
  }
  REQUIRE(office.reply_times.size() == 4);
  CHECK(office.reply_times[3] - office.reply_times[2] > 4min);
}

TEST_CASE("clients in smtpd_client_event_limit_exceptions may take the sessions kept for trusted networks",
          "[relay][inbound][limits]") {
  RelayWorld relay;
  relay.config.smtpd_connection_limit = 4;
  relay.config.smtpd_trusted_connection_reserve = 2;  // strangers get 2
  // Salesforce's case: it authenticates rather than sitting in mynetworks, and its ranges are listed.
  relay.config.smtpd_client_event_limit_exceptions = std::vector<io::Cidr>{*io::Cidr::parse("198.51.100.0/24")};
  relay.add_relay();
  std::vector<ScriptRecord*> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(&relay.script("stranger", {"EHLO sfdc.example", "NOOP"}));
  relay.run();
  for (const ScriptRecord* client : clients) CHECK(client->text(0) == "220 relay.acme.example ESMTP");
}

TEST_CASE("at the global limit a newcomer waits in the listen backlog and is greeted when a session ends",
          "[relay][inbound][limits]") {
  RelayWorld relay;
  TraceRecorder trace;
  relay.world.add_trace_sink(trace);
  relay.config.smtpd_connection_limit = 2;
  relay.config.smtpd_trusted_connection_reserve = 0;
  relay.add_relay();
  ScriptRecord& first = relay.script("office", {"EHLO printer.office", "NOOP"});
  ScriptRecord& second = relay.script("office", {"EHLO scanner.office", "NOOP"});
  ScriptRecord& third = relay.script("office", {"EHLO laptop.office", "NOOP"}, 1s);
  relay.run();

  // Nobody hears 421 at the greeting: the third waits until the first two time out (smtpd_timeout).
  CHECK(first.text(0) == "220 relay.acme.example ESMTP");
  CHECK(second.text(0) == "220 relay.acme.example ESMTP");
  CHECK(third.text(0) == "220 relay.acme.example ESMTP");
  REQUIRE(first.reply_times.size() == 4);  // greeting, EHLO, NOOP, the timeout's 421
  REQUIRE(!third.reply_times.empty());
  CHECK(third.reply_times[0] >= first.reply_times[3]);
  CHECK(third.reply_times[0] - first.reply_times[3] < 1s);
  CHECK(third.text(2) == "250 2.0.0 Ok");
  CHECK(trace.of_kind("net.backlog").size() == 1);
  int warnings = 0;
  for (const auto& entry : trace.of_kind("log")) {
    warnings += entry.line.find(
                    "warning: all 2 sessions in use (smtpd_connection_limit): new clients wait in the "
                    "listen backlog") != std::string::npos;
  }
  CHECK(warnings == 1);
}

TEST_CASE("a client over its message rate is told 421 and dropped", "[relay][inbound][limits]") {
  RelayWorld relay;
  relay.config.smtpd_client_message_rate_limit = 2;
  relay.config.smtpd_client_event_limit_exceptions =
      std::vector<io::Cidr>{};  // the office is in mynetworks, exempt by default
  relay.add_relay();
  SendRecord send;
  relay.world.add_process({"sender",
                           "office",
                           [&](io::Io& io) {
                             std::vector<smtp::OutgoingMessage> messages;
                             for (int i = 0; i < 3; ++i)
                               messages.push_back(message("a@acme.example", {"b@dest.example"}, "x\r\n"));
                             return std::make_unique<SendNode>(io, relay_submission, "relay.acme.example",
                                                               relay_client_config(), nullptr, messages, send);
                           },
                           {}});
  relay.run();
  REQUIRE(send.results.size() == 3);
  CHECK(send.results[0].recipients[0].outcome == smtp::Outcome::delivered);
  CHECK(send.results[1].recipients[0].outcome == smtp::Outcome::delivered);
  CHECK(send.results[2].recipients[0].outcome == smtp::Outcome::transient);
  CHECK(send.results[2].recipients[0].reply->text() ==
        "421 4.7.0 relay.acme.example Error: too many messages from 10.1.2.3");
  CHECK(relay.queued().size() == 2);
}

TEST_CASE("a session that lasts past the session time limit is closed with 421", "[relay][inbound][limits]") {
  RelayWorld relay;
  relay.config.smtpd_session_time_limit = std::chrono::seconds(10);
  relay.add_relay();
  // EHLO, then silence: the command timeout (5 minutes) would come later than the session limit.
  ScriptRecord& idle = relay.script("office", {"EHLO printer.office"});
  relay.run();
  CHECK(idle.text(2) == "421 4.4.2 relay.acme.example Error: session time limit exceeded");
  CHECK(idle.closed);
}

TEST_CASE("past the soft error limit every error reply is held back a second (the tarpit)",
          "[relay][inbound][limits]") {
  RelayWorld relay;
  relay.add_relay();  // Postfix's defaults: soft limit 10, sleep 1s, hard limit 20
  std::vector<std::string> script = {"EHLO noisy.example"};
  for (int i = 0; i < 12; ++i) script.push_back("FROB");
  script.push_back("NOOP");
  ScriptRecord& noisy = relay.script("office", script);
  relay.run();
  REQUIRE(noisy.replies.size() >= 15);  // then the idle session's timeout
  // Errors 1 to 10 are answered at network speed (10 ms round trips), the 11th and 12th a second late.
  CHECK(noisy.reply_times[11] - noisy.reply_times[10] < 100ms);
  CHECK(noisy.reply_times[12] - noisy.reply_times[11] >= 1s);
  CHECK(noisy.reply_times[13] - noisy.reply_times[12] >= 1s);
  CHECK(noisy.text(14) == "250 2.0.0 Ok");
  CHECK(noisy.reply_times[14] - noisy.reply_times[13] < 100ms);  // a good command is not delayed
}

TEST_CASE("a relay world replays to the same digest, and another seed does not", "[relay][determinism]") {
  const auto run = [](std::uint64_t seed) {
    RelayWorld relay(seed);
    relay.world.set_default_link({std::chrono::milliseconds(5), std::chrono::milliseconds(3), 0});
    relay.add_relay();
    smtp::ClientConfig client = relay_client_config(smtp::ClientTls::required);
    client.auth = smtp::Credentials{"sfdc", "s3cret", "LOGIN"};
    SendRecord send;
    relay.world.add_process({"sfdc",
                             "sfdc",
                             [&](io::Io& io) {
                               std::vector<smtp::OutgoingMessage> messages;
                               for (int i = 0; i < 3; ++i) {
                                 messages.push_back(message("news@acme.example",
                                                            {"ann@dest.example", "bob@dest.example"},
                                                            "Subject: " + std::to_string(i) + "\r\n\r\nbody\r\n"));
                               }
                               return std::make_unique<SendNode>(io, relay_submission, "relay.acme.example", client,
                                                                 relay.client_tls.get(), messages, send);
                             },
                             {}});
    relay.script("stranger",
                 {"EHLO spammer.example", "MAIL FROM:<a@acme.example>", "RCPT TO:<v@dest.example>", "QUIT"});
    relay.world.crash_at("relay", t0() + 10min);
    relay.world.restart_at("relay", t0() + 11min);
    relay.run();
    CHECK(send.results.size() == 3);
    return relay.world.digest();
  };
  const std::string first = run(3);
  CHECK(first == run(3));
  CHECK(first != run(4));
}
