// The relay's outbound side in the simulation: routing by MX, the per-stage handling of replies,
// retries over virtual days, bounces and their DSNs, NOTIFY, connection reuse and limits.

#include <catch2/catch.hpp>

#include "relay/relay_node.hpp"
#include "smtp/dsn.hpp"
#include "support/client_dialogue.hpp"
#include "support/dns_records.hpp"
#include "support/scripted_mx.hpp"
#include "support/smtp_nodes.hpp"
#include "support/test_world.hpp"
#include "tls/certificate.hpp"

using namespace relaysim;
using namespace relaysim::testing;
using namespace std::chrono_literals;

namespace {

const io::Endpoint relay_endpoint{*io::Address::parse("203.0.113.10"), 25};

struct DeliveryWorld {
  explicit DeliveryWorld(std::uint64_t seed = 1) : world(seed, t0()) {
    world.add_host({"relay", {relay_endpoint.address}});
    world.add_host({"office", {address("10.1.2.3")}});
    world.set_default_link({std::chrono::milliseconds(5), Duration(0), 0});
    world.add_trace_sink(trace);
    config.myhostname = "relay.acme.example";
    config.listeners = {relay::ListenerConfig{{io::Address::any_v4(), 25}, false}};
    config.mynetworks = {*io::Cidr::parse("10.1.0.0/16")};
    config.retry_jitter_percent = 0;
    // The sender's own domain: where bounces go.
    add_mx("mx.acme.example", "192.0.2.100", MxScript{}, acme);
    world.set_dns("acme.example", records().mx(10, "mx.acme.example"));
  }
  // An MX host with its A record, running a scripted server.
  void add_mx(const std::string& name, const char* ip, MxScript script, MxLog& log) {
    world.add_host({name, {address(ip)}});
    world.set_dns(name, records().a(address(ip)));
    world.add_process(
        {name, name, [script, &log](io::Io& io) { return std::make_unique<ScriptedMx>(io, script, log); }, {}});
  }
  void mx_records(const std::string& domain, std::vector<io::MxRecord> records) {
    io::DnsRecords mx;
    mx.mx = std::move(records);
    world.set_dns(domain, mx);
  }
  void add_relay() {
    relay_added = true;
    world.add_process({"relay", "relay",
                       [this](io::Io& io) {
                         auto node = std::make_unique<relay::RelayNode>(io, config, nullptr);
                         relay_node = node.get();
                         return std::unique_ptr<io::Node>(std::move(node));
                       },
                       sim::DiskConfig{}});
  }
  void send(std::vector<smtp::OutgoingMessage> messages) {
    world.add_process({"office",
                       "office",
                       [this, messages](io::Io& io) {
                         return std::make_unique<SendNode>(io, relay_endpoint, "relay.acme.example",
                                                           relay_client_config(), nullptr, messages, submission);
                       },
                       {}});
  }
  void run(Duration length = 1h) {
    if (!relay_added) add_relay();
    world.start();
    world.run_until(t0() + length);
  }
  std::vector<std::string> log_lines(std::string_view containing = "") const {
    std::vector<std::string> out;
    for (const auto& entry : trace.of_kind("log")) {
      const std::string line = nlohmann_line(entry.line);
      if (line.find(containing) != std::string::npos) out.push_back(line);
    }
    return out;
  }
  // The "line" field of a log trace event.
  static std::string nlohmann_line(const std::string& json) {
    const std::size_t start = json.find("\"line\":\"") + 8;
    std::string out;
    for (std::size_t i = start; i < json.size() && json[i] != '"'; ++i) {
      if (json[i] == '\\' && i + 1 < json.size()) ++i;
      out += json[i];
    }
    return out;
  }
  std::vector<smtp::DsnReport> bounces() const {
    std::vector<smtp::DsnReport> out;
    for (const MxMessage& message : acme.messages) {
      if (auto report = smtp::parse_dsn(message.content)) out.push_back(*report);
    }
    return out;
  }
  std::vector<Instant> times_of(std::string_view containing) const {
    std::vector<Instant> out;
    for (const auto& entry : trace.of_kind("log")) {
      if (nlohmann_line(entry.line).find(containing) != std::string::npos) out.push_back(entry.time);
    }
    return out;
  }

  sim::World world;
  TraceRecorder trace;
  relay::RelayConfig config;
  relay::RelayNode* relay_node = nullptr;
  bool relay_added = false;
  SendRecord submission;
  MxLog acme;
};

smtp::OutgoingMessage note(const char* from, std::vector<const char*> to) {
  return message(from, std::move(to), "From: <news@acme.example>\r\nSubject: hello\r\n\r\nbody\r\n");
}

}  // namespace

TEST_CASE("a message goes to the best MX, arrives untouched but for the Received header, and leaves the queue",
          "[relay][delivery]") {
  DeliveryWorld w;
  MxLog mx1, mx2;
  w.add_mx("mx1.dest.example", "192.0.2.11", MxScript{}, mx1);
  w.add_mx("mx2.dest.example", "192.0.2.12", MxScript{}, mx2);
  w.mx_records("dest.example", {{20, "mx2.dest.example"}, {10, "mx1.dest.example"}});
  w.send({note("news@acme.example", {"ann@dest.example"})});
  w.run();
  REQUIRE(mx1.messages.size() == 1);
  CHECK(mx2.connections == 0);
  CHECK(mx1.messages[0].sender == "news@acme.example");
  CHECK(mx1.messages[0].recipients == std::vector<std::string>{"ann@dest.example"});
  CHECK_THAT(mx1.messages[0].content, Catch::StartsWith("Received: from "));
  CHECK_THAT(mx1.messages[0].content, Catch::EndsWith("From: <news@acme.example>\r\nSubject: hello\r\n\r\nbody\r\n"));
  CHECK(w.relay_node->queue().size() == 0);
  const auto sent = w.log_lines("status=sent");
  REQUIRE(sent.size() == 1);
  CHECK_THAT(
      sent[0],
      Catch::Matches(
          R"(\w+: to=<ann@dest\.example>, relay=mx1\.dest\.example\[192\.0\.2\.11\]:25, delay=0\.\d\d, dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok: queued\))"));
  CHECK(w.log_lines("removed").size() == 1);
  CHECK(w.relay_node->outbound().counters().delivered == 1);
}

TEST_CASE("MX selection: the next MX when the first refuses connections, the domain itself when there is no MX",
          "[relay][delivery][routing]") {
  SECTION("next MX") {
    DeliveryWorld w;
    MxLog mx2;
    w.world.add_host({"mx1.dest.example", {address("192.0.2.11")}});  // up, nothing listening
    w.world.set_dns("mx1.dest.example", records().a("192.0.2.11"));
    w.add_mx("mx2.dest.example", "192.0.2.12", MxScript{}, mx2);
    w.mx_records("dest.example", {{10, "mx1.dest.example"}, {20, "mx2.dest.example"}});
    w.send({note("news@acme.example", {"ann@dest.example"})});
    w.run();
    CHECK(mx2.messages.size() == 1);
    CHECK(w.log_lines("status=sent")[0].find("relay=mx2.dest.example[192.0.2.12]:25") != std::string::npos);
    // mx1's refusal has a line of its own, as Postfix writes it: no queue id, before the status line.
    const auto all = w.log_lines();
    const auto refused =
        std::find(all.begin(), all.end(), "connect to mx1.dest.example[192.0.2.11]:25: connection refused");
    CHECK(refused != all.end());
    CHECK(refused < std::find_if(
                        all.begin(), all.end(),
                        [](const std::string& line) { return line.find("status=sent") != std::string::npos; }));
  }
  SECTION("implicit MX") {
    DeliveryWorld w;
    MxLog host;
    w.add_mx("dest.example", "192.0.2.20", MxScript{}, host);  // an A record, no MX
    w.send({note("news@acme.example", {"ann@dest.example"})});
    w.run();
    CHECK(host.messages.size() == 1);
  }
}

TEST_CASE("equal MX preferences are tried in an order drawn from the seed: the same seed, the same order",
          "[relay][delivery][routing][determinism]") {
  std::map<std::uint64_t, std::string> first_by_seed;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    DeliveryWorld w(seed);
    MxLog a, b;
    w.add_mx("a.dest.example", "192.0.2.21", MxScript{}, a);
    w.add_mx("b.dest.example", "192.0.2.22", MxScript{}, b);
    w.mx_records("dest.example", {{10, "a.dest.example"}, {10, "b.dest.example"}});
    w.send({note("news@acme.example", {"ann@dest.example"})});
    w.run();
    REQUIRE(a.messages.size() + b.messages.size() == 1);
    first_by_seed[seed] = a.messages.empty() ? "b" : "a";
  }
  std::set<std::string> seen;
  for (const auto& [seed, first] : first_by_seed) seen.insert(first);
  CHECK(seen == std::set<std::string>{"a", "b"});  // both orders occur across seeds
  DeliveryWorld again(7);
  MxLog a, b;
  again.add_mx("a.dest.example", "192.0.2.21", MxScript{}, a);
  again.add_mx("b.dest.example", "192.0.2.22", MxScript{}, b);
  again.mx_records("dest.example", {{10, "a.dest.example"}, {10, "b.dest.example"}});
  again.send({note("news@acme.example", {"ann@dest.example"})});
  again.run();
  CHECK((a.messages.empty() ? "b" : "a") == first_by_seed[7]);
}

TEST_CASE("null MX bounces at once with 5.1.10, NXDOMAIN bounces with 5.4.4, the DSN reports it field by field",
          "[relay][delivery][routing][dsn]") {
  DeliveryWorld w;
  w.mx_records("nomail.example", {{0, "."}});
  smtp::OutgoingMessage message = note("news@acme.example", {"ann@nomail.example", "bob@nowhere.example"});
  message.parameters.envid = "sf-123";
  message.recipients[0].dsn.orcpt_type = "rfc822";
  message.recipients[0].dsn.orcpt = "ann@nomail.example";
  w.send({message});
  w.run();
  CHECK(w.log_lines("status=bounced").size() == 2);
  const auto reports = w.bounces();
  REQUIRE(reports.size() == 2);  // one per event: the two domains failed in separate deliveries
  std::map<std::string, smtp::DsnRecipient> by_recipient;
  for (const auto& report : reports) {
    CHECK(report.reporting_mta == "relay.acme.example");
    CHECK(report.envelope_id == "sf-123");
    CHECK(report.arrival_date.starts_with("Mon, 02 Mar 2026 09:00:"));
    REQUIRE(report.recipients.size() == 1);
    by_recipient[report.recipients[0].final_recipient] = report.recipients[0];
  }
  const smtp::DsnRecipient& ann = by_recipient.at("ann@nomail.example");
  CHECK(ann.action == smtp::DsnAction::failed);
  CHECK(ann.status == "5.1.10");
  CHECK(ann.original_recipient == "ann@nomail.example");
  CHECK_THAT(ann.diagnostic, Catch::Contains("nullMX"));
  CHECK(by_recipient.at("bob@nowhere.example").status == "5.4.4");
  // The DSNs came from <>.
  for (const MxMessage& dsn : w.acme.messages) CHECK(dsn.sender.empty());
  CHECK(w.relay_node->queue().size() == 0);
}

TEST_CASE("a temporary DNS failure defers and never bounces, delivery follows when DNS recovers",
          "[relay][delivery][routing][dns]") {
  DeliveryWorld w;
  MxLog mx1;
  w.add_mx("mx1.dest.example", "192.0.2.11", MxScript{}, mx1);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
  w.world.add_dns_fault({sim::DnsFault::Kind::servfail, "dest.example", io::DnsType::mx, t0(), t0() + 20min});
  w.send({note("news@acme.example", {"ann@dest.example"})});
  w.run(2h);
  const auto deferred = w.log_lines("status=deferred");
  REQUIRE(!deferred.empty());
  CHECK_THAT(deferred[0], Catch::Contains("dsn=4.4.3"));
  CHECK(w.log_lines("status=bounced").empty());
  CHECK(mx1.messages.size() == 1);
}

TEST_CASE("per-stage replies are handled as Postfix handles them", "[relay][delivery][stages]") {
  struct Row {
    const char* what;
    MxScript first;             // the preferred MX
    bool second_mx;             // whether a second MX exists (else the first is final)
    const char* expect_status;  // the log's status= for ann
    const char* expect_dsn;     // the log's dsn=
    bool second_gets_it;
    const char* hop_line = nullptr;  // the text of mx1's own log line, when it failed with another MX left
  };
  MxScript greet4xx;
  greet4xx.greeting = "421 4.3.2 busy";
  MxScript greet5xx;
  greet5xx.greeting = "554 5.3.2 no thanks";
  MxScript ehlo4xx;
  ehlo4xx.ehlo = "421 4.3.2 shutting down";
  MxScript mail4xx;
  mail4xx.mail = "451 4.3.0 try later";
  MxScript mail5xx;
  mail5xx.mail = "553 5.7.1 sender refused";
  MxScript rcpt4xx;
  rcpt4xx.rcpt_default = "450 4.7.1 <ann@dest.example>: Recipient address rejected: Greylisted";
  MxScript rcpt5xx;
  rcpt5xx.rcpt_default = "550 5.1.1 <ann@dest.example>: Recipient address rejected: User unknown";
  MxScript data5xx;
  data5xx.data = "554 5.5.0 no data";
  MxScript dot4xx;
  dot4xx.end_of_data = "451 4.3.0 queue full";
  MxScript dot5xx;
  dot5xx.end_of_data = "550 5.7.1 content rejected";
  MxScript silent;
  silent.greeting = "";
  const std::vector<Row> rows = {
      {"4xx greeting: next MX", greet4xx, true, "sent", "2.0.0", true,
       ": host mx1.dest.example[192.0.2.11]:25 refused to talk to me: 421 4.3.2 busy"},
      {"4xx greeting on the final MX: deferred", greet4xx, false, "deferred", "4.3.2", false},
      {"5xx greeting: next MX", greet5xx, true, "sent", "2.0.0", true,
       ": host mx1.dest.example[192.0.2.11]:25 refused to talk to me: 554 5.3.2 no thanks"},
      {"5xx greeting on the final MX: deferred, not bounced", greet5xx, false, "deferred", "4.3.2", false},
      {"4xx EHLO: next MX", ehlo4xx, true, "sent", "2.0.0", true,
       ": host mx1.dest.example[192.0.2.11]:25 said: 421 4.3.2 shutting down (in reply to EHLO command)"},
      {"4xx MAIL: next MX", mail4xx, true, "sent", "2.0.0", true},
      {"4xx MAIL on the final MX: deferred", mail4xx, false, "deferred", "4.3.0", false},
      {"5xx MAIL: bounced, no next MX", mail5xx, true, "bounced", "5.7.1", false},
      {"4xx RCPT: the recipient goes to the next MX", rcpt4xx, true, "sent", "2.0.0", true},
      {"4xx RCPT on the final MX: deferred", rcpt4xx, false, "deferred", "4.7.1", false},
      {"5xx RCPT: bounced", rcpt5xx, true, "bounced", "5.1.1", false},
      {"5xx DATA: bounced", data5xx, true, "bounced", "5.5.0", false},
      {"4xx end of data: next MX", dot4xx, true, "sent", "2.0.0", true},
      {"5xx end of data: bounced", dot5xx, true, "bounced", "5.7.1", false},
      {"no greeting (timeout): next MX", silent, true, "sent", "2.0.0", true,
       ": conversation with mx1.dest.example[192.0.2.11]:25: "},
      {"no greeting on the final MX: deferred", silent, false, "deferred", "4.4.2", false},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    DeliveryWorld w;
    MxLog mx1, mx2;
    w.add_mx("mx1.dest.example", "192.0.2.11", row.first, mx1);
    std::vector<io::MxRecord> records{{10, "mx1.dest.example"}};
    if (row.second_mx) {
      w.add_mx("mx2.dest.example", "192.0.2.12", MxScript{}, mx2);
      records.push_back({20, "mx2.dest.example"});
    }
    w.mx_records("dest.example", records);
    w.send({note("news@acme.example", {"ann@dest.example"})});
    w.run(20min);  // one attempt only: the first retry is 5 minutes later, the test looks at the first
    const auto lines = w.log_lines("to=<ann@dest.example>");
    REQUIRE(!lines.empty());
    CHECK_THAT(lines[0], Catch::Contains(std::string("status=") + row.expect_status));
    CHECK_THAT(lines[0], Catch::Contains(std::string("dsn=") + row.expect_dsn));
    CHECK((mx2.messages.size() == 1) == row.second_gets_it);
    CHECK(w.bounces().size() == (std::string(row.expect_status) == "bounced" ? 1u : 0u));
    // A server that failed the session while another was left gets a log line of its own, before
    // the status line; on the final server the failure is in the status line only.
    std::vector<std::string> hop_lines;
    for (const std::string& line : w.log_lines("mx1.dest.example[192.0.2.11]:25")) {
      if (line.find("to=<") == std::string::npos) hop_lines.push_back(line);
    }
    if (!row.second_mx) CHECK(hop_lines.empty());
    if (row.hop_line != nullptr) {
      REQUIRE(hop_lines.size() == 1);
      CHECK_THAT(hop_lines[0], Catch::Contains(row.hop_line));
    }
  }
}

TEST_CASE("a 5xx for one recipient bounces that one only, the other is delivered, one DSN names the failure",
          "[relay][delivery][stages][dsn]") {
  DeliveryWorld w;
  MxLog mx1;
  MxScript script;
  script.rcpt["bob@dest.example"] = "550 5.1.1 <bob@dest.example>: Recipient address rejected: User unknown";
  w.add_mx("mx1.dest.example", "192.0.2.11", script, mx1);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
  w.send({note("news@acme.example", {"ann@dest.example", "bob@dest.example"})});
  w.run();
  REQUIRE(mx1.messages.size() == 1);
  CHECK(mx1.messages[0].recipients == std::vector<std::string>{"ann@dest.example"});
  const auto reports = w.bounces();
  REQUIRE(reports.size() == 1);
  REQUIRE(reports[0].recipients.size() == 1);
  const smtp::DsnRecipient& bob = reports[0].recipients[0];
  CHECK(bob.final_recipient == "bob@dest.example");
  CHECK(bob.status == "5.1.1");
  CHECK(bob.remote_mta == "mx1.dest.example");
  CHECK(bob.diagnostic == "550 5.1.1 <bob@dest.example>: Recipient address rejected: User unknown");
  CHECK(!bob.last_attempt_date.empty());
  // The original message comes back whole (RET not given).
  CHECK_THAT(w.acme.messages[0].content, Catch::Contains("Content-Type: message/rfc822"));
  CHECK_THAT(w.acme.messages[0].content, Catch::Contains("Subject: hello"));
}

TEST_CASE("a connection lost after the final dot defers without trying another MX, logged as a possible duplicate",
          "[relay][delivery][stages]") {
  DeliveryWorld w;
  MxLog mx1, mx2;
  MxScript dropping;
  dropping.drop_after_dot = true;
  w.add_mx("mx1.dest.example", "192.0.2.11", dropping, mx1);
  w.add_mx("mx2.dest.example", "192.0.2.12", MxScript{}, mx2);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}, {20, "mx2.dest.example"}});
  w.send({note("news@acme.example", {"ann@dest.example"})});
  w.run(4min);
  CHECK(mx2.connections == 0);
  const auto deferred = w.log_lines("status=deferred");
  REQUIRE(deferred.size() == 1);
  CHECK_THAT(deferred[0], Catch::Contains("message may be sent more than once"));
  CHECK(w.log_lines("may be delivered twice").size() == 1);
  CHECK(w.relay_node->outbound().counters().possible_duplicates == 1);
}

TEST_CASE(
    "retries back off from minimal_backoff_time towards maximal_backoff_time, then bounce with 4.4.7 at the lifetime",
    "[relay][delivery][retry]") {
  DeliveryWorld w;
  MxLog mx1;
  MxScript greylist_forever;
  greylist_forever.rcpt_default = "450 4.7.1 Greylisted";
  w.add_mx("mx1.dest.example", "192.0.2.11", greylist_forever, mx1);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
  w.send({note("news@acme.example", {"ann@dest.example"})});
  w.run(std::chrono::hours(24 * 6));
  const std::vector<Instant> attempts = w.times_of("to=<ann@dest.example>");
  REQUIRE(attempts.size() > 20);
  Duration previous{0};
  for (std::size_t i = 1; i < attempts.size(); ++i) {
    const Duration gap = attempts[i] - attempts[i - 1];
    CAPTURE(i, format_duration(gap));
    CHECK(gap >= 300s - 1s);                                   // never sooner than minimal_backoff_time
    CHECK(gap <= 4000s + 1s);                                  // never later than maximal_backoff_time
    if (i + 1 < attempts.size()) CHECK(gap + 1s >= previous);  // gaps grow, then hold
    previous = gap;
  }
  // Gaps double early on: 5m, 5m, 10m, 20m, 40m, then hold near 4000s.
  CHECK(attempts[3] - attempts[2] >= 590s);
  CHECK(attempts[attempts.size() - 2] - attempts[attempts.size() - 3] >= 3990s);
  const auto expired = w.log_lines("status=expired");
  REQUIRE(expired.size() == 1);
  CHECK_THAT(expired[0], Catch::Contains("dsn=4.4.7"));
  const Instant bounced_at = w.times_of("status=expired")[0];
  CHECK(bounced_at >= t0() + std::chrono::hours(24 * 5));
  CHECK(bounced_at <= t0() + std::chrono::hours(24 * 5) + 1min);
  const auto reports = w.bounces();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].recipients[0].status == "4.4.7");
  CHECK(reports[0].recipients[0].action == smtp::DsnAction::failed);
  CHECK(reports[0].recipients[0].diagnostic == "450 4.7.1 Greylisted");
  CHECK(w.relay_node->queue().size() == 0);
}

TEST_CASE("delay_warning_time sends one 'delayed' notice, then the message is delivered", "[relay][delivery][dsn]") {
  DeliveryWorld w;
  w.config.delay_warning_time = 1h;
  MxLog mx1;
  MxScript down;
  down.greeting = "421 4.3.2 down for maintenance";
  w.add_mx("mx1.dest.example", "192.0.2.11", down, mx1);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
  w.send({note("news@acme.example", {"ann@dest.example"})});
  w.run(8h);
  const auto reports = w.bounces();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].recipients[0].action == smtp::DsnAction::delayed);
  CHECK(reports[0].recipients[0].status == "4.3.2");
  CHECK(reports[0].recipients[0].will_retry_until == "Sat, 07 Mar 2026 09:00:00 +0000");
  // A delay notice returns the headers only.
  CHECK_THAT(w.acme.messages[0].content, Catch::Contains("Content-Type: text/rfc822-headers"));
  CHECK_THAT(w.acme.messages[0].content, !Catch::Contains("\r\nbody\r\n"));
}

TEST_CASE("NOTIFY: NEVER suppresses the bounce, SUCCESS gets a 'relayed' notice when the next hop lacks DSN",
          "[relay][delivery][dsn][notify]") {
  SECTION("NEVER") {
    DeliveryWorld w;
    MxLog mx1;
    MxScript refusing;
    refusing.rcpt_default = "550 5.1.1 unknown";
    w.add_mx("mx1.dest.example", "192.0.2.11", refusing, mx1);
    w.mx_records("dest.example", {{10, "mx1.dest.example"}});
    smtp::OutgoingMessage message = note("news@acme.example", {"ann@dest.example"});
    message.recipients[0].dsn.notify_given = true;
    message.recipients[0].dsn.notify_never = true;
    w.send({message});
    w.run();
    CHECK(w.log_lines("status=bounced").size() == 1);
    CHECK(w.bounces().empty());
  }
  SECTION("SUCCESS to a server without DSN") {
    DeliveryWorld w;
    MxLog mx1;
    MxScript plain;
    plain.ehlo = "250-mx\r\n250 PIPELINING";
    w.add_mx("mx1.dest.example", "192.0.2.11", plain, mx1);
    w.mx_records("dest.example", {{10, "mx1.dest.example"}});
    smtp::OutgoingMessage message = note("news@acme.example", {"ann@dest.example"});
    message.recipients[0].dsn.notify_given = true;
    message.recipients[0].dsn.notify_success = true;
    w.send({message});
    w.run();
    REQUIRE(mx1.messages.size() == 1);
    const auto reports = w.bounces();
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].recipients[0].action == smtp::DsnAction::relayed);
    CHECK(reports[0].recipients[0].status == "2.0.0");
  }
  SECTION("SUCCESS to a server with DSN: NOTIFY goes on, no notice from the relay") {
    DeliveryWorld w;
    MxLog mx1;
    w.add_mx("mx1.dest.example", "192.0.2.11", MxScript{}, mx1);
    w.mx_records("dest.example", {{10, "mx1.dest.example"}});
    smtp::OutgoingMessage message = note("news@acme.example", {"ann@dest.example"});
    message.recipients[0].dsn.notify_given = true;
    message.recipients[0].dsn.notify_success = true;
    w.send({message});
    w.run();
    REQUIRE(mx1.messages.size() == 1);
    CHECK_THAT(mx1.messages[0].rcpt_lines[0], Catch::Contains("NOTIFY=SUCCESS"));
    CHECK(w.bounces().empty());
  }
}

TEST_CASE("a message from <> that fails is dropped and logged, never bounced", "[relay][delivery][dsn]") {
  DeliveryWorld w;
  MxLog mx1;
  MxScript refusing;
  refusing.rcpt_default = "550 5.1.1 unknown";
  w.add_mx("mx1.dest.example", "192.0.2.11", refusing, mx1);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
  w.send({note("", {"ann@dest.example"})});
  w.run();
  CHECK(w.log_lines("undeliverable notification dropped").size() == 1);
  CHECK(w.acme.connections == 0);
  CHECK(w.relay_node->outbound().counters().notifications == 0);
  CHECK(w.relay_node->queue().size() == 0);
}

TEST_CASE("connection reuse: a backlog for one destination goes over one connection", "[relay][delivery][reuse]") {
  DeliveryWorld w;
  w.config.default_destination_concurrency_limit = 1;
  MxLog mx1;
  w.add_mx("mx1.dest.example", "192.0.2.11", MxScript{}, mx1);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
  std::vector<smtp::OutgoingMessage> messages;
  for (int i = 0; i < 5; ++i) messages.push_back(note("news@acme.example", {"ann@dest.example"}));
  w.send(messages);
  w.run();
  CHECK(mx1.messages.size() == 5);
  CHECK(mx1.transactions == 5);
  CHECK(mx1.connections < 5);
}

TEST_CASE("on-demand connection cache: while its destination is busy, a connection waits for the next job",
          "[relay][delivery][reuse]") {
  // One client submits a steady stream: each message is stored while the one before it is still
  // being delivered, so a delivery that ends finds its destination busy.
  const auto run_with = [](bool cache, DeliveryWorld& w, MxLog& mx1) {
    w.config.smtp_connection_cache_on_demand = cache;
    w.add_mx("mx1.dest.example", "192.0.2.11", MxScript{}, mx1);
    w.mx_records("dest.example", {{10, "mx1.dest.example"}});
    std::vector<smtp::OutgoingMessage> messages;
    for (int i = 0; i < 20; ++i) messages.push_back(note("news@acme.example", {"ann@dest.example"}));
    w.send(messages);
    w.run();
  };
  DeliveryWorld cached, uncached;
  MxLog cached_mx, uncached_mx;
  run_with(true, cached, cached_mx);
  run_with(false, uncached, uncached_mx);
  CHECK(cached_mx.messages.size() == 20);
  CHECK(uncached_mx.messages.size() == 20);
  CHECK(uncached_mx.connections == 20);
  CHECK(uncached.trace.of_kind("relay.connection_cached").empty());
  CHECK(cached_mx.connections <= uncached_mx.connections / 2);
  CHECK_FALSE(cached.trace.of_kind("relay.connection_cached").empty());
  // A waiting connection is closed with QUIT once smtp_connection_cache_time_limit passes: none
  // is left open after the stream.
  CHECK(cached_mx.concurrent == 0);
  const auto quits = std::count(cached_mx.commands.begin(), cached_mx.commands.end(), "QUIT");
  CHECK(quits == cached_mx.connections);
}

TEST_CASE("the destination concurrency limit caps parallel connections", "[relay][delivery][limits]") {
  DeliveryWorld w;
  w.config.default_destination_concurrency_limit = 2;
  MxLog mx1;
  w.add_mx("mx1.dest.example", "192.0.2.11", MxScript{}, mx1);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
  std::vector<smtp::OutgoingMessage> messages;
  for (int i = 0; i < 12; ++i) messages.push_back(note("news@acme.example", {"ann@dest.example"}));
  // Three submitting clients, so that messages arrive together.
  w.send(messages);
  w.run();
  CHECK(mx1.messages.size() == 12);
  CHECK(mx1.concurrent_max <= 2);
}

TEST_CASE("the active limit caps the messages being delivered at once, the others wait in the schedule",
          "[relay][delivery][limits]") {
  // A receiver that accepts connections and never greets: each attempt holds its message until the
  // greeting times out. Without the limit, all eight would be read and in delivery at once.
  const auto run_with = [](int active_limit, MxLog& slow, DeliveryWorld& w) {
    w.config.qmgr_message_active_limit = active_limit;
    MxScript silent;
    silent.greeting = "";
    w.add_mx("mx1.dest.example", "192.0.2.11", silent, slow);
    w.mx_records("dest.example", {{10, "mx1.dest.example"}});
    std::vector<smtp::OutgoingMessage> messages;
    for (int i = 0; i < 8; ++i) messages.push_back(note("news@acme.example", {"ann@dest.example"}));
    w.send(messages);
    w.run(20min);
  };
  DeliveryWorld limited;
  MxLog limited_mx;
  run_with(2, limited_mx, limited);
  CHECK(limited_mx.concurrent_max == 2);
  CHECK(limited.trace.of_kind("relay.active_full").size() >= 1);
  // Every message still gets its attempt, two at a time, and is deferred by the timeout.
  CHECK(limited.log_lines("status=deferred").size() >= 8);
  CHECK(limited.relay_node->queue().size() == 8);

  DeliveryWorld unlimited;
  MxLog unlimited_mx;
  run_with(20'000, unlimited_mx, unlimited);
  CHECK(unlimited_mx.concurrent_max == 8);
  CHECK(unlimited.trace.of_kind("relay.active_full").empty());
}

namespace {
// dest.example's only MX: a host that is up with nothing listening, so connections are refused.
void add_refusing_mx(DeliveryWorld& w) {
  w.world.add_host({"mx1.dest.example", {address("192.0.2.11")}});
  w.world.set_dns("mx1.dest.example", records().a("192.0.2.11"));
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
}
}  // namespace

TEST_CASE("a dead destination is remembered: later messages are deferred without another connection attempt",
          "[relay][delivery][limits]") {
  DeliveryWorld w;
  add_refusing_mx(w);
  std::vector<smtp::OutgoingMessage> messages;
  for (int i = 0; i < 4; ++i) messages.push_back(note("news@acme.example", {"ann@dest.example"}));
  w.config.default_destination_concurrency_limit = 1;
  w.send(messages);
  w.run(4min);
  CHECK(w.log_lines("status=deferred").size() == 4);
  CHECK(w.trace.of_kind("relay.connect").size() < 4);
  CHECK(!w.log_lines("delivery temporarily suspended").empty());
  // A deferral that was never attempted changes the schedule in memory only: no fsync for it.
  std::size_t memory_only = 0;
  for (const relay::QueueId& id : w.relay_node->queue().ids()) {
    const relay::QueueEntry& entry = *w.relay_node->queue().find(id);
    const relay::QueuedMessage on_disk = w.relay_node->mutable_queue().load(id).value();
    CHECK(entry.recipients[0].state == relay::RecipientState::deferred);
    if (on_disk.recipients[0].state == relay::RecipientState::queued) memory_only += 1;
  }
  CHECK(memory_only >= 1);
}

TEST_CASE("a deferral for a dead destination reads nothing from disk: the queue's summary has the addresses",
          "[relay][delivery][limits]") {
  DeliveryWorld w;
  add_refusing_mx(w);
  std::vector<smtp::OutgoingMessage> messages;
  for (const char* to : {"ann@dest.example", "bob@dest.example", "\"c d\"@dest.example", "dan@DEST.example"}) {
    messages.push_back(note("news@acme.example", {to}));
  }
  w.config.default_destination_concurrency_limit = 1;
  w.send(messages);
  w.run(4min);
  REQUIRE(w.log_lines("status=deferred").size() == 4);
  // Five minutes later the first retry tries a connection, is refused, and marks the destination
  // dead again; the retries due after that are deferred at once.
  while (w.trace.of_kind("relay.destination_dead").size() < 2 && w.world.now() < t0() + 10min) {
    w.world.run_until(w.world.now() + 1ms);
  }
  REQUIRE(w.trace.of_kind("relay.destination_dead").size() == 2);
  // From here the disk fails every operation: a deferral that read the queue file would fail.
  const Instant fault = w.world.now();
  w.world.add_disk_fault("relay", {io::Errc::io_error, fault, fault + 2min});
  w.world.run_until(fault + 2min);
  CHECK(w.log_lines("cannot read the queue file").empty());
  std::vector<std::string> suspended;
  for (const auto& entry : w.trace.of_kind("log")) {
    const std::string line = DeliveryWorld::nlohmann_line(entry.line);
    if (entry.time > fault && line.find("delivery temporarily suspended") != std::string::npos)
      suspended.push_back(line);
  }
  CHECK(suspended.size() == 2);
  // The lines name each recipient as its file does, a quoted local part included.
  for (const std::string& line : suspended) {
    const std::string id = line.substr(0, line.find(':'));
    const std::optional<relay::QueueId> key = relay::QueueId::parse(id);
    REQUIRE(key);
    const relay::QueuedMessage on_disk = w.relay_node->mutable_queue().load(*key).value();
    CHECK(line.starts_with(id + ": to=<" + on_disk.recipients[0].recipient.mailbox.to_string() +
                           ">, relay=none, delay="));
  }
  CHECK(w.relay_node->queue().size() == 4);
}

TEST_CASE("a relay restarted while messages are deferred loses nothing and resumes the schedule",
          "[relay][delivery][crash]") {
  DeliveryWorld w;
  MxLog mx1;
  MxScript script;
  w.add_mx("mx1.dest.example", "192.0.2.11", script, mx1);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
  // The MX is unreachable for the first 40 minutes.
  sim::NetworkFault down;
  down.kind = sim::NetworkFault::Kind::black_hole;
  down.from = t0();
  down.until = t0() + 40min;
  down.destinations = {*io::Cidr::parse("192.0.2.11/32")};
  down.name = "mx down";
  w.world.add_network_fault(down);
  std::vector<smtp::OutgoingMessage> messages;
  for (int i = 0; i < 3; ++i) messages.push_back(note("news@acme.example", {"ann@dest.example", "bob@dest.example"}));
  w.send(messages);
  w.add_relay();
  w.world.crash_at("relay", t0() + 10min, sim::CrashKind::power_loss);
  w.world.restart_at("relay", t0() + 15min);
  w.run(4h);
  CHECK(mx1.messages.size() == 3);
  std::size_t recipients = 0;
  for (const MxMessage& message : mx1.messages) recipients += message.recipients.size();
  CHECK(recipients == 6);
  CHECK(w.relay_node->recovery().recovered == 3);
  CHECK(w.relay_node->queue().size() == 0);
  CHECK(w.bounces().empty());
}

TEST_CASE(
    "outbound TLS policy per destination: may falls back to plaintext, encrypt defers without STARTTLS, "
    "verify checks the MX name",
    "[relay][delivery][tls]") {
  tls::CryptoContext crypto(5);
  tls::Forge forge(crypto);
  auto ca = forge.certificate_authority({"Public CA", {}, t0() - 30 * 24h, t0() + 3650 * 24h});
  auto good = forge.issue({"mx1.dest.example", {}, t0() - 24h, t0() + 90 * 24h}, ca.get());
  auto wrong = forge.issue({"other.example", {}, t0() - 24h, t0() + 90 * 24h}, ca.get());
  const auto server_context = [&](const tls::Certificate* certificate) {
    return std::make_unique<tls::Context>(crypto, tls::ContextConfig{tls::Role::server,
                                                                     certificate,
                                                                     {},
                                                                     {},
                                                                     tls::Verification::none,
                                                                     tls::Version::tls1_2,
                                                                     tls::Version::tls1_3});
  };
  tls::Context plain(
      crypto,
      tls::ContextConfig{
          tls::Role::client, nullptr, {}, {}, tls::Verification::none, tls::Version::tls1_2, tls::Version::tls1_3});
  tls::Context verify(crypto, tls::ContextConfig{tls::Role::client,
                                                 nullptr,
                                                 {},
                                                 {ca.get()},
                                                 tls::Verification::chain_and_name,
                                                 tls::Version::tls1_2,
                                                 tls::Version::tls1_3});
  struct Case {
    const char* what;
    relay::TlsLevel level;
    bool server_tls;
    const tls::Certificate* certificate;
    bool delivered;
    const char* status;  // of the first attempt
    bool over_tls;
  };
  const std::vector<Case> cases = {
      {"may, no STARTTLS offered: plaintext", relay::TlsLevel::may, false, nullptr, true, "2.0.0", false},
      {"may, STARTTLS offered: TLS", relay::TlsLevel::may, true, good.get(), true, "2.0.0", true},
      {"encrypt, no STARTTLS: deferred", relay::TlsLevel::encrypt, false, nullptr, false, "4.7.4", false},
      {"encrypt, wrong name: delivered (no check)", relay::TlsLevel::encrypt, true, wrong.get(), true, "2.0.0", true},
      {"verify, right name: delivered", relay::TlsLevel::verify, true, good.get(), true, "2.0.0", true},
      {"verify, wrong name: deferred", relay::TlsLevel::verify, true, wrong.get(), false, "4.7.5", false},
      {"none: plaintext even when offered", relay::TlsLevel::none, true, good.get(), true, "2.0.0", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    DeliveryWorld w;
    w.config.smtp_tls_policy_maps = {{"dest.example", c.level}};
    std::unique_ptr<tls::Context> server = c.server_tls ? server_context(c.certificate) : nullptr;
    SinkRecord sink;
    smtp::ServerConfig mx_config;
    mx_config.hostname = "mx1.dest.example";
    mx_config.starttls = c.server_tls;
    w.world.add_host({"mx1.dest.example", {address("192.0.2.11")}});
    w.world.set_dns("mx1.dest.example", records().a("192.0.2.11"));
    w.world.add_process({"mx1",
                         "mx1.dest.example",
                         [&](io::Io& io) {
                           return std::make_unique<SinkNode>(io, io::Endpoint{io::Address::any_v4(), 25}, mx_config,
                                                             server.get(), std::map<std::string, std::string>{}, sink);
                         },
                         {}});
    w.mx_records("dest.example", {{10, "mx1.dest.example"}});
    w.world.add_process({"relay",
                         "relay",
                         [&](io::Io& io) {
                           auto node = std::make_unique<relay::RelayNode>(
                               io, w.config, relay::RelayTls{nullptr, relay::DeliveryTls{&plain, &verify}});
                           w.relay_node = node.get();
                           return std::unique_ptr<io::Node>(std::move(node));
                         },
                         {}});
    w.relay_added = true;
    w.send({note("news@acme.example", {"ann@dest.example"})});
    w.run(4min);
    CHECK(sink.messages.size() == (c.delivered ? 1u : 0u));
    const auto lines = w.log_lines("to=<ann@dest.example>");
    REQUIRE(!lines.empty());
    CHECK_THAT(lines[0], Catch::Contains(std::string("dsn=") + c.status));
    if (c.delivered) {
      REQUIRE(sink.tls_versions.size() == 1);
      CHECK(sink.tls_versions[0].empty() != c.over_tls);
      const auto outcomes = w.trace.of_kind("relay.outcome");
      REQUIRE(!outcomes.empty());
      CHECK_THAT(outcomes[0].line, Catch::Contains(c.over_tls ? "\"tls\":true" : "\"tls\":false"));
    }
  }
}

TEST_CASE("a static route overrides MX: transport_maps by recipient domain, relayhost for the rest",
          "[relay][delivery][routing]") {
  DeliveryWorld w;
  MxLog partner_gateway, smarthost, dest_mx;
  MxScript on_2525;
  on_2525.port = 2525;
  w.add_mx("gw.partner.example", "192.0.2.50", on_2525, partner_gateway);
  w.add_mx("smarthost.acme.example", "192.0.2.60", MxScript{}, smarthost);
  w.add_mx("mx1.dest.example", "192.0.2.11", MxScript{}, dest_mx);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
  w.config.transport_maps = {relay::Transport{"partner.example", "", "192.0.2.50", 2525, false},
                             relay::Transport{"*", "", "smarthost.acme.example", 25, false}};
  w.send({note("news@acme.example", {"ann@partner.example", "bob@dest.example"})});
  w.run();
  REQUIRE(partner_gateway.messages.size() == 1);
  CHECK(partner_gateway.messages[0].recipients == std::vector<std::string>{"ann@partner.example"});
  REQUIRE(smarthost.messages.size() == 1);
  CHECK(smarthost.messages[0].recipients == std::vector<std::string>{"bob@dest.example"});
  CHECK(dest_mx.connections == 0);
  const auto routes = w.trace.of_kind("relay.route");
  REQUIRE(!routes.empty());
  CHECK_THAT(routes[0].line, Catch::Contains("transport_maps"));
  // The route's outcome has a name of its own: a second "kind" key would hide the event's kind
  // from any JSON reader.
  CHECK_THAT(routes[0].line, Catch::Contains("\"kind\":\"relay.route\"") && Catch::Contains("\"route\":\"deliver\""));
  CHECK_THAT(routes[0].line, !Catch::Contains("\"kind\":\"deliver\""));
}

TEST_CASE("smtp_mx_session_limit and smtp_mx_address_limit bound one delivery's attempts",
          "[relay][delivery][limits]") {
  SECTION("sessions") {
    DeliveryWorld w;
    MxScript busy;
    busy.greeting = "421 4.3.2 busy";
    MxLog a, b, c;
    w.add_mx("a.dest.example", "192.0.2.31", busy, a);
    w.add_mx("b.dest.example", "192.0.2.32", busy, b);
    w.add_mx("c.dest.example", "192.0.2.33", busy, c);
    w.mx_records("dest.example", {{10, "a.dest.example"}, {20, "b.dest.example"}, {30, "c.dest.example"}});
    w.send({note("news@acme.example", {"ann@dest.example"})});
    w.run(4min);
    CHECK(a.connections == 1);
    CHECK(b.connections == 1);
    CHECK(c.connections == 0);  // two sessions per delivery (Postfix's default)
  }
  SECTION("addresses") {
    DeliveryWorld w;
    w.config.smtp_mx_address_limit = 2;
    for (const char* host : {"a.dest.example", "b.dest.example", "c.dest.example"}) w.world.set_dns(host, records());
    w.world.set_dns("a.dest.example", records().a("192.0.2.41").a("192.0.2.42"));
    w.world.set_dns("b.dest.example", records().a("192.0.2.43"));
    w.mx_records("dest.example", {{10, "a.dest.example"}, {20, "b.dest.example"}});
    w.send({note("news@acme.example", {"ann@dest.example"})});
    w.run(4min);
    const auto connects = w.trace.of_kind("relay.connect");
    std::size_t to_dest = 0;
    for (const auto& entry : connects) to_dest += entry.line.find("dest.example") != std::string::npos ? 1 : 0;
    CHECK(to_dest == 2);  // both of a's addresses; b is past the limit
  }
}

TEST_CASE("CNAMEs are followed: for the domain's MX and for an MX host's address", "[relay][delivery][routing][dns]") {
  DeliveryWorld w;
  MxLog mx;
  w.add_mx("mail.hosting.example", "192.0.2.70", MxScript{}, mx);
  w.world.set_dns("dest.example", records().cname("dest.hosting.example"));  // the domain is an alias
  w.mx_records("dest.hosting.example", {{10, "mx.dest.example"}});
  w.world.set_dns("mx.dest.example", records().cname("mail.hosting.example"));  // so is its MX host
  w.send({note("news@acme.example", {"ann@dest.example"})});
  w.run();
  REQUIRE(mx.messages.size() == 1);
  CHECK(mx.messages[0].recipients == std::vector<std::string>{"ann@dest.example"});  // the address is not rewritten
}

TEST_CASE("a world with deliveries, retries and bounces replays to the same digest", "[relay][delivery][determinism]") {
  const auto run = [](std::uint64_t seed) {
    DeliveryWorld w(seed);
    w.config.retry_jitter_percent = 10;
    MxLog a, b;
    MxScript greylisting;
    greylisting.refuse_first_connections = 2;
    greylisting.rcpt["bob@dest.example"] = "550 5.1.1 unknown";
    w.add_mx("a.dest.example", "192.0.2.21", greylisting, a);
    w.add_mx("b.dest.example", "192.0.2.22", greylisting, b);
    w.mx_records("dest.example", {{10, "a.dest.example"}, {10, "b.dest.example"}});
    std::vector<smtp::OutgoingMessage> messages;
    for (int i = 0; i < 6; ++i) messages.push_back(note("news@acme.example", {"ann@dest.example", "bob@dest.example"}));
    w.send(messages);
    w.run(3h);
    CHECK(a.messages.size() + b.messages.size() == 6);
    CHECK(w.bounces().size() == 6);
    return w.world.digest();
  };
  const std::string first = run(11);
  CHECK(run(11) == first);
  CHECK(run(12) != first);
}

TEST_CASE("each deferred recipient is logged with its own reply, not another recipient's",
          "[relay][delivery][stages]") {
  DeliveryWorld w;
  MxLog mx1;
  MxScript script;
  script.rcpt["ann@dest.example"] = "450 4.7.1 <ann@dest.example>: Greylisted";
  script.rcpt["bob@dest.example"] = "452 4.2.2 <bob@dest.example>: Mailbox full";
  w.add_mx("mx1.dest.example", "192.0.2.11", script, mx1);
  w.mx_records("dest.example", {{10, "mx1.dest.example"}});
  w.send({note("news@acme.example", {"ann@dest.example", "bob@dest.example"})});
  w.run(4min);
  const auto ann = w.log_lines("to=<ann@dest.example>");
  const auto bob = w.log_lines("to=<bob@dest.example>");
  REQUIRE(ann.size() == 1);
  REQUIRE(bob.size() == 1);
  CHECK_THAT(ann[0], Catch::Contains("dsn=4.7.1") && Catch::Contains("<ann@dest.example>: Greylisted"));
  CHECK_THAT(bob[0], Catch::Contains("dsn=4.2.2") && Catch::Contains("<bob@dest.example>: Mailbox full"));
}

TEST_CASE("a smarthost with credentials: AUTH after STARTTLS, and never a password in plaintext",
          "[relay][delivery][auth]") {
  tls::CryptoContext crypto(6);
  tls::Forge forge(crypto);
  auto ca = forge.certificate_authority({"CA", {}, t0() - 30 * 24h, t0() + 3650 * 24h});
  auto certificate = forge.issue({"smarthost.acme.example", {}, t0() - 24h, t0() + 90 * 24h}, ca.get());
  tls::Context server(crypto, tls::ContextConfig{tls::Role::server,
                                                 certificate.get(),
                                                 {},
                                                 {},
                                                 tls::Verification::none,
                                                 tls::Version::tls1_2,
                                                 tls::Version::tls1_3});
  tls::Context plain(
      crypto,
      tls::ContextConfig{
          tls::Role::client, nullptr, {}, {}, tls::Verification::none, tls::Version::tls1_2, tls::Version::tls1_3});
  for (const bool offers_tls : {true, false}) {
    CAPTURE(offers_tls);
    DeliveryWorld w;
    w.config.transport_maps = {relay::Transport{"*", "", "smarthost.acme.example", 587, false}};
    w.config.smtp_sasl_password_maps["smarthost.acme.example"] = smtp::Credentials{"relay", "s3cret", "PLAIN"};
    w.config.smtp_tls_security_level = relay::TlsLevel::none;  // credentials override it: TLS is required
    SinkRecord sink;
    smtp::ServerConfig smarthost;
    smarthost.hostname = "smarthost.acme.example";
    smarthost.starttls = offers_tls;
    smarthost.auth_mechanisms = {"PLAIN", "LOGIN"};
    smarthost.auth_requires_tls = false;  // it would take a password in plaintext: the relay must not send one
    w.world.add_host({"smarthost.acme.example", {address("192.0.2.60")}});
    w.world.set_dns("smarthost.acme.example", records().a("192.0.2.60"));
    w.world.add_process({"smarthost",
                         "smarthost.acme.example",
                         [&](io::Io& io) {
                           return std::make_unique<SinkNode>(
                               io, io::Endpoint{io::Address::any_v4(), 587}, smarthost, offers_tls ? &server : nullptr,
                               std::map<std::string, std::string>{{"relay", "s3cret"}}, sink);
                         },
                         {}});
    w.world.add_process(
        {"relay",
         "relay",
         [&](io::Io& io) {
           auto node = std::make_unique<relay::RelayNode>(io, w.config, relay::RelayTls{nullptr, {&plain, nullptr}});
           w.relay_node = node.get();
           return std::unique_ptr<io::Node>(std::move(node));
         },
         {}});
    w.relay_added = true;
    w.send({note("news@acme.example", {"ann@dest.example"})});
    w.run(4min);
    if (offers_tls) {
      REQUIRE(sink.messages.size() == 1);
      CHECK(sink.authenticated_users == std::vector<std::string>{"relay"});
      CHECK(!sink.tls_versions[0].empty());
    } else {
      CHECK(sink.messages.empty());
      CHECK(sink.authenticated_users.empty());
      REQUIRE(!sink.transcripts.empty());
      CHECK_THAT(sink.transcripts[0], !Catch::Contains("C: AUTH"));
      CHECK_THAT(w.log_lines("to=<ann@dest.example>")[0], Catch::Contains("dsn=4.7.4"));
    }
  }
}
