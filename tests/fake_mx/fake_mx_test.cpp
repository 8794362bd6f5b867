// The fake MX in the simulation: greylisting against a retrying relay, rules and sequences,
// mailboxes and quotas, limits, drops after the final dot, the mail store, presets, and its JSON.

#include <openssl/evp.h>
#include <algorithm>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fake_mx/fake_mx_node.hpp"
#include "mailauth/dkim.hpp"
#include "relay/relay_node.hpp"
#include "scenario/fake_mx_config.hpp"
#include "smtp/dsn.hpp"
#include "support/client_dialogue.hpp"
#include "support/dns_records.hpp"
#include "support/smtp_nodes.hpp"
#include "support/test_world.hpp"
#include "tls/certificate.hpp"

using namespace relaysim;
using namespace relaysim::testing;
using namespace std::chrono_literals;

namespace {

const io::Endpoint mx_endpoint{*io::Address::parse("192.0.2.11"), 25};

struct MxWorld {
  explicit MxWorld(fake_mx::Behaviour behaviour, std::uint64_t seed = 1) : world(seed, t0()) {
    world.add_host({"mx", {mx_endpoint.address}});
    world.set_default_link({std::chrono::milliseconds(5), Duration(0), 0});
    world.add_trace_sink(trace);
    world.add_process(
        {"mx",
         "mx",
         [this, behaviour](io::Io& io) { return std::make_unique<fake_mx::FakeMxNode>(io, behaviour, nullptr, store); },
         {}});
  }
  // A client on its own host that sends `messages` over one connection, starting at `when`.
  SendRecord& send_from(const std::string& host, const char* ip, std::vector<smtp::OutgoingMessage> messages,
                        Duration when = 0s) {
    if (!hosts.contains(host)) {
      world.add_host({host, {address(ip)}});
      hosts.insert(host);
    }
    records.push_back(std::make_unique<SendRecord>());
    SendRecord& record = *records.back();
    const std::string name = host + "-" + std::to_string(records.size());
    add_lambda_node(world, name, host, [&record, messages, when](LambdaNode& node) {
      auto sender = std::make_shared<std::unique_ptr<SendNode>>();
      node.keep_alive = sender;
      node.pending.push_back(node.io.at(node.io.now() + when, [&node, &record, messages, sender] {
        *sender =
            std::make_unique<SendNode>(node.io, mx_endpoint, "mx", relay_client_config(), nullptr, messages, record);
        (*sender)->start();
      }));
    });
    return record;
  }
  void run(Duration length = 1h) {
    world.start();
    world.run_until(t0() + length);
  }
  static std::string first_reply(const SendRecord& record) {
    if (!record.failures.empty())
      return record.failures[0].reply ? record.failures[0].reply->text() : record.failures[0].reason;
    if (record.results.empty()) return "(nothing)";
    const auto& recipient = record.results[0].recipients[0];
    return recipient.reply ? recipient.reply->text() : recipient.detail;
  }

  sim::World world;
  TraceRecorder trace;
  fake_mx::MailStore store;
  std::set<std::string> hosts;
  std::vector<std::unique_ptr<SendRecord>> records;
};

smtp::OutgoingMessage note(const char* from, std::vector<const char*> to, std::string subject = "hello") {
  return message(from, std::move(to), "Subject: " + subject + "\r\n\r\nbody\r\n");
}

// An office (10.1.2.3) that submits to a relay (203.0.113.10), which delivers to the MX of
// dest.example.
void office_relay_and_mx(sim::World& world, TraceRecorder& trace) {
  world.set_default_link({std::chrono::milliseconds(5), Duration(0), 0});
  world.add_trace_sink(trace);
  world.add_host({"relay", {address("203.0.113.10")}});
  world.add_host({"office", {address("10.1.2.3")}});
  world.add_host({"mx", {mx_endpoint.address}});
  world.set_dns("dest.example", records().mx(10, "mx.dest.example"));
  world.set_dns("mx.dest.example", records().a(mx_endpoint.address));
}

fake_mx::Behaviour from_json(const char* text) {
  const auto document = nlohmann::json::parse(text);
  return scenario::read_fake_mx_behaviour(scenario::JsonValue(document, "$"), t0());
}

}  // namespace

TEST_CASE("a greylisting MX defers the first try, and the relay's retry five minutes later gets through",
          "[fake_mx][greylist][relay]") {
  sim::World world(1, t0());
  TraceRecorder trace;
  office_relay_and_mx(world, trace);
  fake_mx::MailStore store;
  world.add_process({"mx",
                     "mx",
                     [&](io::Io& io) {
                       return std::make_unique<fake_mx::FakeMxNode>(io, *fake_mx::preset("postgrey"), nullptr, store);
                     },
                     {}});
  relay::RelayConfig config;
  config.myhostname = "relay.acme.example";
  config.mynetworks = {*io::Cidr::parse("10.1.0.0/16")};
  config.retry_jitter_percent = 0;
  world.add_process(
      {"relay", "relay", [&](io::Io& io) { return std::make_unique<relay::RelayNode>(io, config, nullptr); }, {}});
  SendRecord submission;
  world.add_process({"office",
                     "office",
                     [&](io::Io& io) {
                       return std::make_unique<SendNode>(
                           io, io::Endpoint{address("203.0.113.10"), 25}, "relay", relay_client_config(), nullptr,
                           std::vector<smtp::OutgoingMessage>{note("news@acme.example", {"ann@dest.example"})},
                           submission);
                     },
                     {}});
  world.start();
  world.run_until(t0() + 1h);
  REQUIRE(store.messages().size() == 1);
  CHECK(store.mailbox("ann@dest.example").size() == 1);
  const auto greylist = trace.of_kind("mx.greylist");
  REQUIRE(greylist.size() == 2);
  CHECK_THAT(greylist[0].line, Catch::Contains("first seen"));
  CHECK_THAT(greylist[1].line, Catch::Contains("\"verdict\":\"passed\""));
  CHECK(greylist[1].time - greylist[0].time >= 300s);
  CHECK(greylist[1].time - greylist[0].time < 310s);
}

TEST_CASE("rules: the next two connections get 421, then the MX accepts", "[fake_mx][rules]") {
  MxWorld w(
      from_json(R"({ "rules": [ { "stage": "connect", "times": 2, "reply": "421 4.3.2 Service shutting down" } ] })"));
  SendRecord& first = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})});
  SendRecord& second = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})}, 1s);
  SendRecord& third = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})}, 2s);
  w.run();
  CHECK(MxWorld::first_reply(first) == "421 4.3.2 Service shutting down");
  CHECK(MxWorld::first_reply(second) == "421 4.3.2 Service shutting down");
  CHECK(MxWorld::first_reply(third) == "250 2.0.0 Ok: queued as 00000001");
  CHECK(w.store.messages().size() == 1);
}

TEST_CASE("rules: every third message is refused at end of data", "[fake_mx][rules]") {
  MxWorld w(from_json(R"({ "rules": [ { "stage": "end_of_data", "every": 3, "reply": "451 4.3.0 Try again" } ] })"));
  std::vector<smtp::OutgoingMessage> messages;
  for (int i = 1; i <= 9; ++i)
    messages.push_back(note("a@acme.example", {"ann@dest.example"}, "n" + std::to_string(i)));
  SendRecord& client = w.send_from("client", "198.51.100.1", messages);
  w.run();
  REQUIRE(client.results.size() == 9);
  for (int i = 0; i < 9; ++i) {
    CAPTURE(i);
    const bool refused = (i + 1) % 3 == 0;
    CHECK((client.results[static_cast<std::size_t>(i)].recipients[0].outcome == smtp::Outcome::transient) == refused);
  }
  CHECK(w.store.messages().size() == 6);
}

TEST_CASE("rules match recipient, domain, sender and client, the first that applies wins", "[fake_mx][rules]") {
  MxWorld w(from_json(R"({ "rules": [
      { "name": "vip", "stage": "rcpt", "match": { "recipient": "boss@dest.example" }, "reply": "250 2.1.5 Welcome back" },
      { "stage": "rcpt", "match": { "recipient_domain": "*.dest.example" }, "reply": "550 5.7.1 No subdomains here" },
      { "stage": "mail", "match": { "sender": "spam@bad.example" }, "reply": "554 5.7.1 Go away" },
      { "stage": "mail", "match": { "client": "203.0.113.0/24" }, "reply": "421 4.7.0 Your network is blocked" }
    ] })"));
  SendRecord& boss = w.send_from("a", "198.51.100.1", {note("x@acme.example", {"boss@dest.example"})});
  SendRecord& sub = w.send_from("b", "198.51.100.2", {note("x@acme.example", {"ann@sales.dest.example"})});
  SendRecord& spam = w.send_from("c", "198.51.100.3", {note("spam@bad.example", {"ann@dest.example"})});
  SendRecord& blocked = w.send_from("d", "203.0.113.50", {note("x@acme.example", {"ann@dest.example"})});
  w.run();
  REQUIRE(boss.results.size() == 1);
  CHECK(boss.results[0].recipients[0].outcome == smtp::Outcome::delivered);
  CHECK(MxWorld::first_reply(sub) == "550 5.7.1 No subdomains here");
  CHECK(MxWorld::first_reply(spam) == "554 5.7.1 Go away");
  CHECK_THAT(MxWorld::first_reply(blocked), Catch::StartsWith("421 4.7.0 Your network is blocked"));
  CHECK(!w.trace.of_kind("mx.rule").empty());
  CHECK_THAT(w.trace.of_kind("mx.rule")[0].line, Catch::Contains("\"rule\":\"vip\""));
}

TEST_CASE("rules with a probability draw from the seed: the same seed, the same answers",
          "[fake_mx][rules][determinism]") {
  const auto outcomes = [](std::uint64_t seed) {
    MxWorld w(
        from_json(R"({ "rules": [ { "stage": "rcpt", "probability": 0.5, "reply": "451 4.7.1 Maybe later" } ] })"),
        seed);
    std::vector<smtp::OutgoingMessage> messages;
    // Fewer than the server's hard error limit (20 errors end a session).
    for (int i = 0; i < 16; ++i) messages.push_back(note("a@acme.example", {"ann@dest.example"}));
    SendRecord& client = w.send_from("client", "198.51.100.1", messages);
    w.run();
    std::string pattern;
    for (const auto& result : client.results)
      pattern += result.recipients[0].outcome == smtp::Outcome::delivered ? 'A' : 'd';
    return pattern;
  };
  const std::string first = outcomes(3);
  CHECK(first.size() == 16);
  CHECK(first.find('A') != std::string::npos);
  CHECK(first.find('d') != std::string::npos);
  CHECK(outcomes(3) == first);
  CHECK(outcomes(4) != first);
}

TEST_CASE("a drop after the final dot keeps the message and leaves the client without a reply", "[fake_mx][rules]") {
  MxWorld w(from_json(R"({ "rules": [ { "stage": "end_of_data", "times": 1, "drop": true } ] })"));
  SendRecord& client = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})});
  w.run();
  REQUIRE(client.results.size() == 1);
  CHECK(client.results[0].possible_duplicate);
  CHECK(w.store.messages().size() == 1);  // the receiver has it; the sender will send it again
}

TEST_CASE("a delay rule answers late: a tarpit", "[fake_mx][rules]") {
  MxWorld w(from_json(R"({ "rules": [ { "stage": "mail", "delay": "20s" } ] })"));
  SendRecord& client = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})});
  w.run();
  REQUIRE(client.results.size() == 1);
  CHECK(client.results[0].recipients[0].outcome == smtp::Outcome::delivered);
  const auto stored = w.trace.of_kind("mx.stored");
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].time - t0() >= 20s);
}

TEST_CASE("mailboxes: unknown users get 5.1.1, a full mailbox 4.2.2", "[fake_mx][mailboxes]") {
  MxWorld w(
      from_json(R"({ "mailboxes": { "users": ["ann@dest.example", "bob@dest.example"], "quota_messages": 2 } })"));
  std::vector<smtp::OutgoingMessage> messages;
  for (int i = 0; i < 3; ++i) messages.push_back(note("a@acme.example", {"ann@dest.example"}));
  messages.push_back(note("a@acme.example", {"zed@dest.example"}));
  SendRecord& client = w.send_from("client", "198.51.100.1", messages);
  w.run();
  REQUIRE(client.results.size() == 4);
  CHECK(client.results[0].recipients[0].outcome == smtp::Outcome::delivered);
  CHECK(client.results[1].recipients[0].outcome == smtp::Outcome::delivered);
  CHECK(client.results[2].recipients[0].reply->text() == "452 4.2.2 <ann@dest.example>: Mailbox full");
  CHECK(client.results[3].recipients[0].reply->text() ==
        "550 5.1.1 <zed@dest.example>: Recipient address rejected: User unknown in virtual mailbox table");
  CHECK(w.store.count("ann@dest.example") == 2);
}

TEST_CASE("limits: concurrent connections per client, and messages per connection, answered with 421",
          "[fake_mx][limits]") {
  SECTION("connections") {
    MxWorld w(from_json(R"({ "limits": { "connections_per_client": 1 },
                             "rules": [ { "stage": "mail", "delay": "10s" } ] })"));
    SendRecord& first = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})});
    SendRecord& second = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})}, 1s);
    SendRecord& other = w.send_from("other", "198.51.100.2", {note("a@acme.example", {"ann@dest.example"})}, 1s);
    w.run();
    CHECK(first.results.size() == 1);
    CHECK(MxWorld::first_reply(second) == "421 4.7.0 Too many concurrent SMTP connections; please try again later");
    CHECK(other.results.size() == 1);
  }
  SECTION("messages per connection") {
    MxWorld w(from_json(R"({ "limits": { "messages_per_connection": 2 } })"));
    std::vector<smtp::OutgoingMessage> messages(3, note("a@acme.example", {"ann@dest.example"}));
    SendRecord& client = w.send_from("client", "198.51.100.1", messages);
    w.run();
    CHECK(w.store.messages().size() == 2);
    REQUIRE(client.results.size() == 3);
    CHECK_THAT(client.results[2].recipients[0].reply->text(), Catch::StartsWith("421 4.7.28"));
  }
}

TEST_CASE("the mail store keeps envelope, content, client, time and the session transcript", "[fake_mx][store]") {
  MxWorld w(fake_mx::Behaviour{});
  smtp::OutgoingMessage message = note("news@acme.example", {"ann@dest.example", "bob@dest.example"});
  message.recipients[0].dsn.notify_given = true;
  message.recipients[0].dsn.notify_failure = true;
  w.send_from("client", "198.51.100.1", {message});
  w.run();
  REQUIRE(w.store.messages().size() == 1);
  const fake_mx::StoredMessage& stored = w.store.messages()[0];
  CHECK(stored.number == 1);
  CHECK(stored.sender == "news@acme.example");
  REQUIRE(stored.recipients.size() == 2);
  CHECK(stored.recipients[0].dsn.notify_failure);
  CHECK(stored.content == "Subject: hello\r\n\r\nbody\r\n");
  CHECK(stored.client.address.to_string() == "198.51.100.1");
  CHECK(stored.helo == "relay.acme.example");
  CHECK(stored.mx == "mx");
  CHECK(stored.received > t0());
  CHECK_THAT(stored.transcript, Catch::Contains("C: MAIL FROM:<news@acme.example>"));
  // The content is in the message; the transcript gives its size on the wire, then the final dot.
  CHECK_THAT(stored.transcript,
             Catch::EndsWith("S: 354 End data with <CR><LF>.<CR><LF>\nC: [24 bytes of message content]\nC: .\n"));
  CHECK(w.store.mailbox("BOB@dest.example").size() == 1);
}

namespace {

// A client on host "client" that sends each piece of `script` at its time, reading nothing.
void send_script(MxWorld& w, const std::vector<std::pair<Duration, std::string>>& script) {
  add_lambda_node(w.world, "client", "client", [script](LambdaNode& node) {
    node.pending.push_back(
        node.io.connect(mx_endpoint, {}, [&node, script](io::Result<std::unique_ptr<io::Connection>> connected) {
          REQUIRE(connected);
          node.connections.push_back(std::move(connected).value());
          io::Connection& connection = *node.connections.back();
          connection.on_receive([](std::string_view) {});
          for (const auto& [when, bytes] : script) {
            node.pending.push_back(node.io.after(when, [&connection, bytes = bytes] { (void)connection.send(bytes); }));
          }
        }));
  });
}

}  // namespace

TEST_CASE("a final dot split from its line end is counted as content, and the session goes on", "[fake_mx][store]") {
  MxWorld w(fake_mx::Behaviour{});
  w.world.add_host({"client", {address("198.51.100.1")}});
  // Content in three reads: up to the final dot, its CRLF alone, then the next command.
  const std::vector<std::pair<Duration, std::string>> script = {
      {1s, "EHLO client.example\r\n"},
      {2s, "MAIL FROM:<news@acme.example>\r\nRCPT TO:<ann@dest.example>\r\nDATA\r\n"},
      {3s, "Subject: split\r\n\r\nbody\r\n."},
      {4s, "\r\n"},
      {5s, "MAIL FROM:<news@acme.example>\r\nRCPT TO:<bob@dest.example>\r\nDATA\r\n"},
      {6s, "second\r\n.\r\n"}};
  send_script(w, script);
  w.run(1min);
  REQUIRE(w.store.messages().size() == 2);
  const fake_mx::StoredMessage& first = w.store.messages()[0];
  CHECK(first.content == "Subject: split\r\n\r\nbody\r\n");
  CHECK_THAT(first.transcript, Catch::EndsWith("C: [24 bytes of message content]\nC: .\n"));
  const fake_mx::StoredMessage& second = w.store.messages()[1];
  CHECK(second.content == "second\r\n");
  CHECK(second.transcript ==
        "S: 250 2.0.0 Ok: queued as 00000001\nC: MAIL FROM:<news@acme.example>\nC: RCPT TO:<bob@dest.example>\n"
        "C: DATA\nS: 250 2.1.0 Ok\nS: 250 2.1.5 Ok\nS: 354 End data with <CR><LF>.<CR><LF>\n"
        "C: [8 bytes of message content]\nC: .\n");
}

TEST_CASE("a transcript never keeps credentials - AUTH in any case with its initial response", "[fake_mx][store]") {
  MxWorld w(fake_mx::Behaviour{});
  w.world.add_host({"client", {address("198.51.100.1")}});
  // The fake MX offers no AUTH: the command is refused, and its credentials must still not be kept.
  const std::vector<std::pair<Duration, std::string>> script = {
      {1s, "EHLO client.example\r\n"},
      {2s, "Auth PLAIN AHNmZGMAczNjcmV0\r\n"},
      {3s, "MAIL FROM:<news@acme.example>\r\nRCPT TO:<ann@dest.example>\r\nDATA\r\n"},
      {4s, "body\r\n.\r\n"}};
  send_script(w, script);
  w.run(1min);
  REQUIRE(w.store.messages().size() == 1);
  const std::string& transcript = w.store.messages()[0].transcript;
  CHECK_THAT(transcript, Catch::Contains("C: Auth PLAIN [credentials hidden]\n"));
  CHECK_THAT(transcript, !Catch::Contains("AHNmZGMAczNjcmV0"));
}

TEST_CASE("a mail store with a limit drops its oldest messages and keeps its mailboxes right", "[fake_mx][store]") {
  fake_mx::MailStore store(3);
  const auto message = [](std::uint64_t number, std::vector<std::string> to) {
    fake_mx::StoredMessage stored;
    stored.number = number;
    for (const std::string& address : to) {
      const std::size_t at = address.find('@');
      stored.recipients.push_back({smtp::Mailbox{address.substr(0, at), address.substr(at + 1), false, false}, {}});
    }
    return stored;
  };
  store.add(message(1, {"ann@dest.example", "bob@dest.example"}));
  store.add(message(2, {"ann@dest.example", "ANN@dest.example"}));  // one mailbox named twice: kept once
  store.add(message(3, {"bob@dest.example"}));
  CHECK(store.count("ann@dest.example") == 2);
  CHECK(store.dropped() == 0);
  store.add(message(4, {"cat@dest.example"}));
  store.add(message(5, {"ann@dest.example"}));
  REQUIRE(store.messages().size() == 3);
  CHECK(store.messages().front().number == 3);
  CHECK(store.dropped() == 2);
  CHECK(store.count("bob@dest.example") == 1);
  REQUIRE(store.mailbox("ann@dest.example").size() == 1);
  CHECK(store.mailbox("ann@dest.example")[0]->number == 5);
  CHECK(store.mailbox("bob@dest.example")[0]->number == 3);
  CHECK(store.mailbox("cat@dest.example")[0]->number == 4);
  store.clear();
  CHECK(store.messages().empty());
  CHECK(store.count("ann@dest.example") == 0);
  store.add(message(6, {"ann@dest.example"}));
  CHECK(store.mailbox("ann@dest.example")[0]->number == 6);
  CHECK(fake_mx::MailStore().max_messages() == 0);  // a simulation's store keeps everything
}

TEST_CASE("a large message's transcript gives its size and is complete", "[fake_mx][store]") {
  MxWorld w(fake_mx::Behaviour{});
  smtp::OutgoingMessage message = note("news@acme.example", {"ann@dest.example"});
  message.content = "Subject: big\r\n\r\n";
  while (message.content.size() < 200 * 1024)
    message.content += ".a line that starts with a dot, so it is stuffed on the wire\r\n";
  const std::size_t lines = std::count(message.content.begin(), message.content.end(), '\n') - 2;
  w.send_from("client", "198.51.100.1", {message});
  w.run();
  REQUIRE(w.store.messages().size() == 1);
  const fake_mx::StoredMessage& stored = w.store.messages()[0];
  CHECK(stored.content == message.content);
  // Its size on the wire: one stuffing dot per line.
  CHECK_THAT(stored.transcript, Catch::EndsWith("C: [" + std::to_string(message.content.size() + lines) +
                                                " bytes of message content]\nC: .\n"));
  CHECK(stored.transcript.size() < 1024);
}

TEST_CASE("presets answer with their providers' texts", "[fake_mx][presets]") {
  const auto gmail = *fake_mx::preset("gmail");
  CHECK(gmail.mailboxes.unknown_user.code == 550);
  CHECK(gmail.mailboxes.unknown_user.lines.size() == 4);
  CHECK_THAT(gmail.mailboxes.unknown_user.wire(),
             Catch::StartsWith("550-5.1.1 The email account that you tried to reach does not exist."));
  CHECK_THAT(gmail.mailboxes.unknown_user.wire(),
             Catch::EndsWith("550 5.1.1  https://support.google.com/mail/?p=NoSuchUser - gsmtp\r\n"));
  CHECK(gmail.limits.rate_limited.enhanced == "4.7.28");
  CHECK(fake_mx::preset("outlook")->mailboxes.unknown_user.text() ==
        "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302) [mail.protection.outlook.example]");
  CHECK(fake_mx::preset("postgrey")->greylisting.enabled);
  CHECK(!fake_mx::preset("yahoo"));

  MxWorld w(from_json(R"({ "preset": "gmail", "mailboxes": { "users": ["ann@dest.example"] } })"));
  SendRecord& client = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"nobody@dest.example"})});
  w.run();
  CHECK_THAT(MxWorld::first_reply(client),
             Catch::StartsWith("550 5.1.1 The email account that you tried to reach does not exist."));
}

TEST_CASE("fake MX JSON mistakes name the path", "[fake_mx][config]") {
  const auto error_of = [](const char* text) -> std::string {
    try {
      (void)from_json(text);
    } catch (const scenario::InputError& error) {
      return error.what();
    }
    return "(no error)";
  };
  CHECK(error_of(R"({ "rules": [ { "stage": "rcpt", "reply": "45 4.7.1 x" } ] })") ==
        "$.rules[0].reply: expected a reply such as \"450 4.7.1 Greylisted\" (code 200 to 599, then an optional "
        "enhanced code), found \"45 4.7.1 x\"");
  CHECK(error_of(R"({ "rules": [ { "stage": "rcpt", "reply": "450 5.7.1 x" } ] })") ==
        "$.rules[0].reply: expected an enhanced code of the same class as the reply code, found \"450 5.7.1 x\"");
  CHECK(error_of(R"({ "rules": [ { "stage": "helo", "reply": "450 x" } ] })")
            .starts_with("$.rules[0].stage: expected one of"));
  CHECK(error_of(R"({ "rules": [ { "stage": "rcpt" } ] })").starts_with("$.rules[0]: expected exactly one action"));
  CHECK(error_of(R"({ "rules": [ { "stage": "rcpt", "drop": true, "probability": 1.5 } ] })")
            .starts_with("$.rules[0].probability: expected a probability from 0 to 1"));
  CHECK(error_of(R"({ "mailboxes": { "users": ["not an address"] } })")
            .starts_with("$.mailboxes.users[0]: expected an address"));
  CHECK(error_of(R"({ "greylisting": { "delay": "3d" } })")
            .starts_with("$.greylisting.delay: expected delay at most retry_window"));
  CHECK(error_of(R"({ "preset": "yahoo" })").starts_with("$.preset: expected one of"));
  CHECK(error_of(R"({ "greylist": true })").starts_with("$.greylist: expected one of the keys"));
}

TEST_CASE("rules at EHLO, STARTTLS and DATA: 421 at EHLO, 454 at STARTTLS, 554 at DATA", "[fake_mx][rules]") {
  SECTION("EHLO") {
    MxWorld w(from_json(R"({ "rules": [ { "stage": "ehlo", "reply": "421 4.3.2 Not now" } ] })"));
    SendRecord& client = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})});
    w.run();
    REQUIRE(client.failures.size() == 1);
    CHECK(client.failures[0].stage == smtp::Stage::ehlo);
    CHECK(MxWorld::first_reply(client) == "421 4.3.2 Not now");
  }
  SECTION("DATA") {
    MxWorld w(from_json(
        R"({ "rules": [ { "stage": "data", "match": { "sender": "a@acme.example" }, "reply": "554 5.7.1 No data for you" } ] })"));
    SendRecord& client =
        w.send_from("client", "198.51.100.1",
                    {note("a@acme.example", {"ann@dest.example"}), note("b@acme.example", {"ann@dest.example"})});
    w.run();
    REQUIRE(client.results.size() == 2);
    CHECK(client.results[0].recipients[0].outcome == smtp::Outcome::permanent);
    CHECK(client.results[0].recipients[0].reply->text() == "554 5.7.1 No data for you");
    CHECK(client.results[1].recipients[0].outcome == smtp::Outcome::delivered);
  }
  SECTION("STARTTLS") {
    tls::CryptoContext crypto(9);
    tls::Forge forge(crypto);
    auto ca = forge.certificate_authority({"CA", {}, t0() - 24h, t0() + 3650 * 24h});
    auto certificate = forge.issue({"mx", {}, t0() - 24h, t0() + 90 * 24h}, ca.get());
    tls::Context server(crypto, tls::ContextConfig{tls::Role::server,
                                                   certificate.get(),
                                                   {},
                                                   {},
                                                   tls::Verification::none,
                                                   tls::Version::tls1_2,
                                                   tls::Version::tls1_3});
    tls::Context client_tls(
        crypto,
        tls::ContextConfig{
            tls::Role::client, nullptr, {}, {}, tls::Verification::none, tls::Version::tls1_2, tls::Version::tls1_3});
    for (const bool refuse : {false, true}) {
      CAPTURE(refuse);
      sim::World world(1, t0());
      world.add_host({"mx", {mx_endpoint.address}});
      world.add_host({"client", {address("198.51.100.1")}});
      fake_mx::MailStore store;
      fake_mx::Behaviour behaviour = from_json(
          refuse
              ? R"({ "starttls": true, "rules": [ { "stage": "starttls", "reply": "454 4.7.0 TLS not available due to local problem" } ] })"
              : R"({ "starttls": true })");
      world.add_process(
          {"mx",
           "mx",
           [&](io::Io& io) { return std::make_unique<fake_mx::FakeMxNode>(io, behaviour, &server, store); },
           {}});
      SendRecord record;
      world.add_process({"client",
                         "client",
                         [&](io::Io& io) {
                           return std::make_unique<SendNode>(
                               io, mx_endpoint, "mx", relay_client_config(smtp::ClientTls::opportunistic), &client_tls,
                               std::vector<smtp::OutgoingMessage>{note("a@acme.example", {"ann@dest.example"})},
                               record);
                         },
                         {}});
      world.start();
      world.run_until(t0() + 10min);
      REQUIRE(store.messages().size() == 1);  // opportunistic TLS carries on in plaintext after a 454
      CHECK(store.messages()[0].tls.active == !refuse);
      CHECK((store.messages()[0].transcript.find("S: 454 4.7.0 TLS not available") != std::string::npos) == refuse);
    }
  }
}

TEST_CASE("a late bounce: accepted with 250, then a DSN reaches the sender's MX through normal delivery",
          "[fake_mx][bounce]") {
  for (const bool rfc3464 : {true, false}) {
    CAPTURE(rfc3464);
    MxWorld w(from_json(
        rfc3464
            ? R"({ "rules": [ { "stage": "end_of_data", "match": { "recipient": "gone@dest.example" },
                                                      "bounce_later": { "after": "15m", "status": "5.1.1",
                                                                        "diagnostic": "550 5.1.1 gone@dest.example: no such user" } } ] })"
            : R"({ "rules": [ { "stage": "end_of_data", "bounce_later": { "after": "15m", "format": "plain" } } ] })"));
    // The sender's domain and its MX, a second fake MX that keeps what it gets.
    fake_mx::MailStore sender_side;
    w.world.add_host({"mx.acme.example", {address("192.0.2.100")}});
    w.world.set_dns("acme.example", records().mx(10, "mx.acme.example"));
    w.world.set_dns("mx.acme.example", records().a("192.0.2.100"));
    w.world.add_process({"acme-mx",
                         "mx.acme.example",
                         [&](io::Io& io) {
                           return std::make_unique<fake_mx::FakeMxNode>(io, fake_mx::Behaviour{}, nullptr, sender_side);
                         },
                         {}});
    smtp::OutgoingMessage message = note("news@acme.example", {"gone@dest.example"});
    message.parameters.envid = "env-1";
    SendRecord& client = w.send_from("client", "198.51.100.1", {message});
    w.run();
    REQUIRE(client.results.size() == 1);
    CHECK(client.results[0].recipients[0].outcome == smtp::Outcome::delivered);  // the 250 came first
    CHECK(w.store.messages().empty());                                           // nothing in a mailbox
    REQUIRE(sender_side.messages().size() == 1);
    const fake_mx::StoredMessage& bounce = sender_side.messages()[0];
    CHECK(bounce.sender.empty());  // from <>
    CHECK(bounce.recipients[0].mailbox.to_string() == "news@acme.example");
    CHECK(bounce.received - t0() >= 15min);
    if (rfc3464) {
      const auto report = smtp::parse_dsn(bounce.content);
      REQUIRE(report);
      CHECK(report->envelope_id == "env-1");
      REQUIRE(report->recipients.size() == 1);
      CHECK(report->recipients[0].final_recipient == "gone@dest.example");
      CHECK(report->recipients[0].status == "5.1.1");
      CHECK(report->recipients[0].diagnostic == "550 5.1.1 gone@dest.example: no such user");
    } else {
      CHECK(!smtp::parse_dsn(bounce.content));
      CHECK_THAT(bounce.content, Catch::Contains("Subject: Returned mail: see transcript for details"));
      CHECK_THAT(bounce.content, Catch::Contains("  gone@dest.example\r\n"));
    }
  }
}

TEST_CASE("late bounces: none to <>, and one that cannot be delivered is retried, then dropped", "[fake_mx][bounce]") {
  MxWorld w(from_json(R"({ "rules": [ { "stage": "end_of_data", "bounce_later": { "after": "1m" } } ] })"));
  w.send_from("client", "198.51.100.1",
              {note("", {"ann@dest.example"}), note("news@nowhere.example", {"ann@dest.example"})});
  w.run(2h);
  CHECK(w.trace.of_kind("mx.bounce_skipped").size() == 1);
  CHECK(w.trace.of_kind("mx.bounce_deferred").size() == 4);
  REQUIRE(w.trace.of_kind("mx.bounce_dropped").size() == 1);
  CHECK_THAT(w.trace.of_kind("mx.bounce_dropped")[0].line, Catch::Contains("no such domain nowhere.example"));
}

TEST_CASE("limits: messages per client within a window, the window moves on", "[fake_mx][limits]") {
  MxWorld w(from_json(R"({ "limits": { "messages_per_client": 2, "window": "10m" } })"));
  SendRecord& first = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})});
  SendRecord& second = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})}, 1min);
  SendRecord& third = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})}, 2min);
  SendRecord& other = w.send_from("other", "198.51.100.2", {note("a@acme.example", {"ann@dest.example"})}, 2min);
  SendRecord& later = w.send_from("client", "198.51.100.1", {note("a@acme.example", {"ann@dest.example"})}, 11min);
  w.run();
  CHECK(first.results.at(0).recipients[0].outcome == smtp::Outcome::delivered);
  CHECK(second.results.at(0).recipients[0].outcome == smtp::Outcome::delivered);
  CHECK_THAT(MxWorld::first_reply(third), Catch::StartsWith("421 4.7.28"));
  CHECK(other.results.at(0).recipients[0].outcome == smtp::Outcome::delivered);  // per client
  CHECK(later.results.at(0).recipients[0].outcome == smtp::Outcome::delivered);  // the first two left the window
  CHECK(w.store.messages().size() == 4);
}

TEST_CASE("authentication: SPF, DKIM and DMARC decide inbox, spam or 5.7.26, with Authentication-Results",
          "[fake_mx][mailauth]") {
  MxWorld w(from_json(R"({"hostname": "mx.dest.example", "authentication": {"spf_fail": "spam"}})"));
  w.world.set_dns("acme.example", records().txt("v=spf1 ip4:198.51.100.10 -all"));
  w.world.set_dns("_dmarc.acme.example", records().txt("v=DMARC1; p=reject"));
  w.world.set_dns("other.example", records().txt("v=spf1 ip4:198.51.100.10 -all"));
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  REQUIRE(raw != nullptr);
  const mailauth::DkimKey key(raw);
  w.world.set_dns("sel1._domainkey.acme.example", records().txt(key.txt_record()));
  const std::string letter = "From: News <news@acme.example>\r\nTo: ann@dest.example\r\nSubject: hello\r\n\r\nbody\r\n";
  mailauth::DkimSignerConfig signer;
  signer.domain = "acme.example";
  signer.selector = "sel1";
  const std::string signed_letter = mailauth::sign_dkim(letter, key, signer, t0()) + letter;
  const std::string other = "From: <info@other.example>\r\nTo: ann@dest.example\r\nSubject: other\r\n\r\nbody\r\n";
  SendRecord& listed =
      w.send_from("relay", "198.51.100.10", {message("news@acme.example", {"ann@dest.example"}, letter)});
  SendRecord& unlisted =
      w.send_from("stranger", "203.0.113.66", {message("news@acme.example", {"bob@dest.example"}, letter)});
  SendRecord& signed_elsewhere =
      w.send_from("forwarder", "203.0.113.77", {message("news@acme.example", {"cy@dest.example"}, signed_letter)}, 1s);
  SendRecord& spf_only =
      w.send_from("stranger2", "203.0.113.88", {message("info@other.example", {"dan@dest.example"}, other)}, 2s);
  w.run();
  // The relay is in the SPF record: SPF and DMARC pass, inbox.
  CHECK(MxWorld::first_reply(listed).starts_with("250"));
  const auto ann = w.store.mailbox("ann@dest.example");
  REQUIRE(ann.size() == 1);
  CHECK(ann[0]->folder == "inbox");
  CHECK_THAT(
      ann[0]->content,
      Catch::StartsWith("Authentication-Results: mx.dest.example;\r\n\tspf=pass smtp.mailfrom=news@acme.example;"));
  CHECK_THAT(ann[0]->content, Catch::Contains("dmarc=pass (p=reject dis=none) header.from=acme.example"));
  // Anyone else, unsigned: DMARC fails under p=reject, 550 5.7.26 naming the domain, nothing kept.
  CHECK(MxWorld::first_reply(unlisted) ==
        "550 5.7.26 Unauthenticated email from acme.example is not accepted due to domain's DMARC policy");
  CHECK(w.store.mailbox("bob@dest.example").empty());
  // Signed by acme.example: SPF fails, but DKIM aligns and DMARC passes.
  CHECK(MxWorld::first_reply(signed_elsewhere).starts_with("250"));
  const auto cy = w.store.mailbox("cy@dest.example");
  REQUIRE(cy.size() == 1);
  CHECK(cy[0]->folder == "inbox");
  CHECK_THAT(cy[0]->authentication_results, Catch::Contains("spf=fail"));
  CHECK_THAT(cy[0]->authentication_results, Catch::Contains("dkim=pass header.d=acme.example header.s=sel1"));
  CHECK_THAT(cy[0]->authentication_results, Catch::Contains("dmarc=pass"));
  // No DMARC policy, SPF fails: spf_fail says spam.
  CHECK(MxWorld::first_reply(spf_only).starts_with("250"));
  const auto dan = w.store.mailbox("dan@dest.example");
  REQUIRE(dan.size() == 1);
  CHECK(dan[0]->folder == "spam");
  CHECK_THAT(dan[0]->authentication_results, Catch::Contains("dmarc=none header.from=other.example"));
  CHECK(w.trace.of_kind("mx.auth").size() == 4);
}

TEST_CASE("authentication: a DNS failure gives temperror and the message is kept", "[fake_mx][mailauth]") {
  MxWorld w(from_json(R"({"hostname": "mx.dest.example", "authentication": true})"));
  w.world.set_dns("acme.example", records().txt("v=spf1 -all"));
  w.world.add_dns_fault({sim::DnsFault::Kind::servfail, "acme.example", io::DnsType::txt, t0(), t0() + 1h});
  w.world.add_dns_fault({sim::DnsFault::Kind::timeout, "_dmarc.acme.example", std::nullopt, t0(), t0() + 1h});
  SendRecord& record = w.send_from(
      "client", "203.0.113.5",
      {message("news@acme.example", {"ann@dest.example"}, "From: news@acme.example\r\nSubject: x\r\n\r\nbody\r\n")});
  w.run();
  CHECK(MxWorld::first_reply(record).starts_with("250"));
  const auto ann = w.store.mailbox("ann@dest.example");
  REQUIRE(ann.size() == 1);
  CHECK(ann[0]->folder == "inbox");
  CHECK_THAT(ann[0]->authentication_results, Catch::Contains("spf=temperror"));
  CHECK_THAT(ann[0]->authentication_results, Catch::Contains("dmarc=temperror"));
}

TEST_CASE(
    "a DKIM signature survives the relay: long lines, trailing whitespace, 8-bit text, folded headers, leading dots",
    "[fake_mx][mailauth][relay]") {
  sim::World world(1, t0());
  TraceRecorder trace;
  office_relay_and_mx(world, trace);
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048});
  REQUIRE(raw != nullptr);
  const mailauth::DkimKey key(raw);
  world.set_dns("sel1._domainkey.acme.example", records().txt(key.txt_record()));
  fake_mx::MailStore store;
  world.add_process({"mx",
                     "mx",
                     [&](io::Io& io) {
                       return std::make_unique<fake_mx::FakeMxNode>(
                           io, from_json(R"({"hostname": "mx.dest.example", "authentication": true})"), nullptr, store);
                     },
                     {}});
  relay::RelayConfig config;
  config.myhostname = "relay.acme.example";
  config.mynetworks = {*io::Cidr::parse("10.1.0.0/16")};
  world.add_process(
      {"relay", "relay", [&](io::Io& io) { return std::make_unique<relay::RelayNode>(io, config, nullptr); }, {}});
  const std::string letter =
      "From: News <news@acme.example>\r\n"
      "To: ann@dest.example\r\n"
      "Subject: a subject folded\r\n"
      " over two lines\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n"
      "\r\n"
      "Grüße aus Köln   \r\n"
      "trailing tab\t\r\n"
      ".a line that starts with a dot\r\n"
      "..and one with two\r\n" +
      std::string(998, 'x') +
      "\r\n"
      "\r\n";
  std::string signed_letter;
  for (const auto mode : {mailauth::Canonicalization::simple, mailauth::Canonicalization::relaxed}) {
    mailauth::DkimSignerConfig signer;
    signer.domain = "acme.example";
    signer.selector = "sel1";
    signer.header_canonicalization = mode;
    signer.body_canonicalization = mode;
    signed_letter = mailauth::sign_dkim(letter, key, signer, t0()) + signed_letter;
  }
  signed_letter += letter;
  SendRecord submission;
  world.add_process(
      {"office",
       "office",
       [&](io::Io& io) {
         return std::make_unique<SendNode>(
             io, io::Endpoint{address("203.0.113.10"), 25}, "relay", relay_client_config(), nullptr,
             std::vector<smtp::OutgoingMessage>{message("news@acme.example", {"ann@dest.example"}, signed_letter)},
             submission);
       },
       {}});
  world.start();
  world.run_until(t0() + 1h);
  const auto ann = store.mailbox("ann@dest.example");
  REQUIRE(ann.size() == 1);
  // Both signatures, simple/simple and relaxed/relaxed, still verify after the relay's Received
  // header and two SMTP hops with dot-stuffing.
  const std::string& results = ann[0]->authentication_results;
  CHECK(results.find("dkim=pass header.d=acme.example") != std::string::npos);
  CHECK(results.find("dkim=pass header.d=acme.example", results.find("dkim=pass header.d=acme.example") + 1) !=
        std::string::npos);
  CHECK(results.find("dkim=fail") == std::string::npos);
  CHECK(ann[0]->content.find(letter) != std::string::npos);
}
