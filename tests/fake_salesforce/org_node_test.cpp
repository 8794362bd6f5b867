// The fake Salesforce org in the simulation: every TLS setting against relays with no TLS, a 454,
// bad certificates and a good one; SMTP auth with each mechanism against our relay; the retry
// schedule in virtual time; daily limits and the GMT reset; Salesforce's own path for unmatched
// mail; Test Deliverability from each sending range; and the VERP round trip from a bounce to a
// marked contact.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "relay/password.hpp"
#include "scenario/world_file.hpp"

using namespace relaysim;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Salesforce (two addresses in its ranges), a relay host answered by a fake MX on port 587, and
// the recipients' MX. Certificates for every case of the TLS table.
json base_world() {
  return json::parse(R"({
    "seed": 5, "start": "2026-03-02T09:00:00Z",
    "network": { "latency": "20ms" },
    "hosts": {
      "sfdc": { "addresses": ["13.108.0.10", "96.43.144.10"] },
      "relay.acme.example": { "addresses": ["198.51.100.10"] },
      "mx.dest.example": { "addresses": ["192.0.2.25"] }
    },
    "dns": {
      "relay.acme.example": { "A": ["198.51.100.10"] },
      "acme.example": { "MX": [[10, "relay.acme.example"]] },
      "dest.example": { "MX": [[10, "mx.dest.example"]] },
      "mx.dest.example": { "A": ["192.0.2.25"] }
    },
    "tls": {
      "public-ca": { "authority": true },
      "other-ca": { "authority": true },
      "good": { "issuer": "public-ca", "names": ["relay.acme.example"] },
      "domain-name": { "issuer": "public-ca", "names": ["acme.example"] },
      "expired": { "issuer": "public-ca", "names": ["relay.acme.example"], "not_before": "-100d", "not_after": "-10d" },
      "wrong-host": { "issuer": "public-ca", "names": ["mail.other.example"] },
      "untrusted": { "issuer": "other-ca", "names": ["relay.acme.example"] }
    },
    "nodes": {
      "relay": { "host": "relay.acme.example", "type": "fake_mx", "behaviour": { "hostname": "relay.acme.example", "port": 587 } },
      "dest-mx": { "host": "mx.dest.example", "type": "fake_mx", "behaviour": { "hostname": "mx.dest.example" } },
      "sfdc": {
        "host": "sfdc", "type": "salesforce", "tls": { "trust": ["public-ca"] },
        "org": {
          "relays": [{ "name": "corp", "host": "relay.acme.example", "port": 587, "tls": "Preferred" }],
          "filters": [{ "sender": "acme.example", "recipient": "*", "relay": "corp" }],
          "sending_ranges": ["13.108.0.0/14", "96.43.144.0/20", "136.146.0.0/15"]
        },
        "traffic": [{ "at": "+1m", "from": "news@acme.example", "to": ["ann@dest.example"], "subject": "Spring offer" }]
      }
    }
  })");
}

struct Run {
  scenario::LoadedWorld loaded;
  const salesforce::OrgState& org() const { return *loaded.orgs.at("sfdc"); }
  const fake_mx::MailStore& store(const std::string& node) const { return *loaded.mail_stores.at(node); }
  // The first log entry for a recipient after "Accepted": what the first attempt came to.
  const salesforce::LogEntry& first_outcome(const std::string& recipient) const {
    for (const salesforce::LogEntry* entry : org().log_for(recipient)) {
      if (entry->event != salesforce::EmailLogEvent::accepted) return *entry;
    }
    FAIL("no outcome for " << recipient);
    throw std::logic_error("unreachable");
  }
};

Run run(const json& world, Duration length) {
  Run result{scenario::load_world(world, std::nullopt)};
  result.loaded.world->start();
  result.loaded.world->run_until(result.loaded.start + length);
  return result;
}

}  // namespace

TEST_CASE("every TLS setting against relays with no TLS, a 454, bad certificates and a good one", "[salesforce][tls]") {
  enum class Expect { plain, tls, verified, none };
  struct Server {
    const char* name;
    const char* certificate;  // nullptr: no TLS at all
    bool refuse_starttls;
    Expect off, preferred, required, preferred_verify, required_verify;
  };
  const Server servers[] = {
      {"no TLS offered", nullptr, false, Expect::plain, Expect::plain, Expect::none, Expect::plain, Expect::none},
      {"STARTTLS answered 454", "good", true, Expect::plain, Expect::plain, Expect::none, Expect::plain, Expect::none},
      {"expired certificate", "expired", false, Expect::plain, Expect::tls, Expect::tls, Expect::none, Expect::none},
      {"certificate for another host", "wrong-host", false, Expect::plain, Expect::tls, Expect::tls, Expect::none,
       Expect::none},
      {"certificate from an untrusted CA", "untrusted", false, Expect::plain, Expect::tls, Expect::tls, Expect::none,
       Expect::none},
      {"good certificate", "good", false, Expect::plain, Expect::verified, Expect::tls, Expect::verified,
       Expect::verified},
  };
  const char* settings[] = {"Off", "Preferred", "Required", "PreferredVerify", "RequiredVerify"};
  for (const Server& server : servers) {
    const Expect expected[] = {server.off, server.preferred, server.required, server.preferred_verify,
                               server.required_verify};
    for (std::size_t s = 0; s < std::size(settings); ++s) {
      json world = base_world();
      json& relay = world["nodes"]["relay"];
      if (server.certificate != nullptr) {
        relay["tls"] = {{"certificate", server.certificate}};
        relay["behaviour"]["starttls"] = true;
      }
      if (server.refuse_starttls) {
        relay["behaviour"]["rules"] =
            json::parse(R"([{ "stage": "starttls", "reply": "454 4.7.0 TLS not available due to local problem" }])");
      }
      world["nodes"]["sfdc"]["org"]["relays"][0]["tls"] = settings[s];
      const Run result = run(world, 3min);
      INFO(server.name << " with TLS setting " << settings[s]);
      const salesforce::LogEntry& outcome = result.first_outcome("ann@dest.example");
      const auto& stored = result.store("relay").messages();
      if (expected[s] == Expect::none) {
        CHECK(outcome.event == salesforce::EmailLogEvent::transient_failure);
        CHECK(stored.empty());
        continue;
      }
      CHECK(outcome.event == salesforce::EmailLogEvent::delivered);
      REQUIRE(stored.size() == 1);
      CHECK(stored[0].tls.active == (expected[s] != Expect::plain));
      CHECK(outcome.tls == (expected[s] != Expect::plain));
      if (expected[s] == Expect::verified && std::string(settings[s]).find("Verify") != std::string::npos)
        CHECK(outcome.tls_verified);
    }
  }
}

TEST_CASE("a verified relay may present the relay record's domain instead of the MX host dialled",
          "[salesforce][tls]") {
  json world = base_world();
  world["nodes"]["relay"]["tls"] = {{"certificate", "domain-name"}};
  world["nodes"]["relay"]["behaviour"]["starttls"] = true;
  world["nodes"]["sfdc"]["org"]["relays"][0]["host"] = "acme.example";  // MX -> relay.acme.example
  world["nodes"]["sfdc"]["org"]["relays"][0]["tls"] = "RequiredVerify";
  const Run result = run(world, 3min);
  const salesforce::LogEntry& outcome = result.first_outcome("ann@dest.example");
  CHECK(outcome.event == salesforce::EmailLogEvent::delivered);
  CHECK(outcome.tls_verified);
  CHECK(outcome.server == "relay.acme.example[198.51.100.10]:587");
}

TEST_CASE("SMTP auth with PLAIN and LOGIN over Required Verify to our relay, a wrong password fails at once",
          "[salesforce][auth][relay]") {
  const std::string hash = relay::hash_password("s3cret", "sfdc-salt");
  for (const char* mechanism : {"PLAIN", "LOGIN", "wrong password"}) {
    json world = base_world();
    world["nodes"]["relay"] =
        json::parse(R"({ "host": "relay.acme.example", "type": "relay", "tls": { "certificate": "good" },
      "config": { "myhostname": "relay.acme.example", "listeners": [{ "port": 587 }], "sender_domains": ["acme.example"] } })");
    world["nodes"]["relay"]["config"]["users"] = {{"sfdc", hash}};
    json& record = world["nodes"]["sfdc"]["org"]["relays"][0];
    record["tls"] = "RequiredVerify";
    const bool wrong = std::string(mechanism) == "wrong password";
    record["auth"] = {
        {"user", "sfdc"}, {"password", wrong ? "guess" : "s3cret"}, {"mechanism", wrong ? "PLAIN" : mechanism}};
    const Run result = run(world, 10min);
    INFO(mechanism);
    const salesforce::LogEntry& outcome = result.first_outcome("ann@dest.example");
    if (wrong) {
      CHECK(outcome.event == salesforce::EmailLogEvent::permanent_failure);
      CHECK(outcome.detail.starts_with("535"));
      CHECK(result.org().log_for("ann@dest.example").size() == 2);  // accepted, failed: no retry after a 5xx
      CHECK(result.store("dest-mx").messages().empty());
    } else {
      CHECK(outcome.event == salesforce::EmailLogEvent::delivered);
      CHECK(outcome.tls_verified);
      REQUIRE(result.store("dest-mx").mailbox("ann@dest.example").size() == 1);  // and the relay delivered it on
    }
  }
}

TEST_CASE("a relay answering 4xx is retried at +5m, +10m, ... +10h40m, then the email is given up, a 5xx fails at once",
          "[salesforce][retry]") {
  json world = base_world();
  world["nodes"]["relay"]["behaviour"]["rules"] =
      json::parse(R"([{ "stage": "mail", "reply": "451 4.3.0 Mail server temporarily rejected message" }])");
  const Run result = run(world, 30h);
  std::vector<Instant> attempts;
  std::optional<salesforce::EmailLogEvent> last_event;
  for (const salesforce::LogEntry* entry : result.org().log_for("ann@dest.example")) {
    if (entry->event == salesforce::EmailLogEvent::transient_failure ||
        entry->event == salesforce::EmailLogEvent::given_up)
      attempts.push_back(entry->at);
    last_event = entry->event;
  }
  REQUIRE(attempts.size() == 9);
  const Instant first = result.loaded.start + 1min;
  const std::vector<Duration> offsets{0min, 5min, 15min, 35min, 75min, 155min, 315min, 635min, 1275min};
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    INFO("attempt " << i + 1);
    CHECK(attempts[i] - first >= offsets[i]);
    CHECK(attempts[i] - first < offsets[i] + 1s);  // the attempt's own round trips only, never accumulated
  }
  CHECK(last_event == salesforce::EmailLogEvent::given_up);
  CHECK(result.org().counters.given_up == 1);
  CHECK(result.first_outcome("ann@dest.example").detail.find("451 4.3.0") != std::string::npos);

  json refusing = base_world();
  refusing["nodes"]["relay"]["behaviour"]["rules"] =
      json::parse(R"([{ "stage": "rcpt", "reply": "554 5.7.1 Relay access denied" }])");
  const Run refused = run(refusing, 2h);
  CHECK(refused.first_outcome("ann@dest.example").event == salesforce::EmailLogEvent::permanent_failure);
  CHECK(refused.org().log_for("ann@dest.example").size() == 2);
  CHECK(refused.org().counters.failed == 1);

  json unreachable = base_world();
  unreachable["nodes"].erase("relay");
  const Run down = run(unreachable, 20min);
  const salesforce::LogEntry& outcome = down.first_outcome("ann@dest.example");
  CHECK(outcome.event == salesforce::EmailLogEvent::transient_failure);
  CHECK(outcome.detail.find("unable to connect to relay.acme.example[198.51.100.10]:587") != std::string::npos);
}

TEST_CASE("daily limits refuse sends at the source with Salesforce's error, and reset at 00:00 GMT",
          "[salesforce][limits]") {
  json world = base_world();
  world["start"] = "2026-03-02T23:00:00Z";
  json& org = world["nodes"]["sfdc"];
  org["org"]["edition"] = "developer";  // mass email: 10 addresses a day
  std::vector<std::string> eight;
  for (int i = 1; i <= 8; ++i) eight.push_back("c" + std::to_string(i) + "@dest.example");
  org["traffic"] = json::array();
  org["traffic"].push_back({{"at", "+50m"}, {"category", "mass"}, {"from", "news@acme.example"}, {"to", eight}});
  org["traffic"].push_back({{"at", "+55m"},
                            {"category", "mass"},
                            {"from", "news@acme.example"},
                            {"to", {"x1@dest.example", "x2@dest.example", "x3@dest.example"}}});
  org["traffic"].push_back(
      {{"at", "+56m"}, {"category", "single"}, {"from", "ceo@acme.example"}, {"to", {"x4@dest.example"}}});
  org["traffic"].push_back({{"at", "+61m"},
                            {"category", "mass"},
                            {"from", "news@acme.example"},
                            {"to", {"y1@dest.example", "y2@dest.example", "y3@dest.example"}}});
  const Run result = run(world, 2h);
  CHECK(result.org().counters.sends == 4);
  CHECK(result.org().counters.refused == 1);
  const salesforce::LogEntry& refused = result.first_outcome("x1@dest.example");
  CHECK(refused.event == salesforce::EmailLogEvent::refused);
  CHECK(refused.detail.starts_with("MASS_MAIL_LIMIT_EXCEEDED"));
  CHECK(result.first_outcome("x4@dest.example").event ==
        salesforce::EmailLogEvent::delivered);  // single email has its own limit
  CHECK(result.first_outcome("y1@dest.example").event == salesforce::EmailLogEvent::delivered);  // a new GMT day
  std::size_t recipients = 0;
  for (const fake_mx::StoredMessage& message : result.store("relay").messages())
    recipients += message.recipients.size();
  CHECK(recipients == 8 + 1 + 3);
}

TEST_CASE("unmatched mail goes out through Salesforce's own servers, straight to the MX from a Salesforce address",
          "[salesforce][filters]") {
  json world = base_world();
  world["nodes"]["sfdc"]["traffic"].push_back(
      {{"at", "+2m"}, {"from", "alerts@other.example"}, {"to", {"bob@dest.example"}}});
  const Run result = run(world, 10min);
  CHECK(result.first_outcome("ann@dest.example").path == "corp");
  const salesforce::LogEntry& direct = result.first_outcome("bob@dest.example");
  CHECK(direct.event == salesforce::EmailLogEvent::delivered);
  CHECK(direct.path == "Salesforce");
  CHECK(direct.server == "mx.dest.example[192.0.2.25]:25");
  REQUIRE(result.store("dest-mx").mailbox("bob@dest.example").size() == 1);
  const fake_mx::StoredMessage& message = *result.store("dest-mx").mailbox("bob@dest.example")[0];
  CHECK(message.client.address.to_string() == "13.108.0.10");
  CHECK(message.sender == "alerts@other.example");  // bounce management off: the From address
  // The headers Salesforce adds, dated by the virtual clock.
  CHECK(message.content.find("Date: Mon, 02 Mar 2026 09:02:00 +0000\r\n") != std::string::npos);
  CHECK(message.content.find("\r\nMessage-ID: <0ME000000002.") != std::string::npos);
  CHECK(message.content.find("\r\nX-SFDC-LK: 00D000000000001\r\n") != std::string::npos);
}

TEST_CASE("Test Deliverability sends one message per sending range, from an address in it",
          "[salesforce][deliverability]") {
  json world = base_world();
  world["nodes"]["sfdc"]["traffic"] = json::array();
  world["nodes"]["sfdc"]["org"]["filters"][0]["sender"] = "*";  // the test messages come from noreply@salesforce.com
  world["nodes"]["sfdc"]["test_deliverability"] = json::parse(R"([{ "at": "+1m", "to": "admin@acme.example" }])");
  const Run result = run(world, 10min);
  const auto& tests = result.org().deliverability;
  REQUIRE(tests.size() == 3);
  CHECK(tests[0].range == "13.108.0.0/14");
  CHECK(tests[0].source == "13.108.0.10");
  CHECK(tests[1].source == "96.43.144.10");
  CHECK(tests[2].range == "136.146.0.0/15");
  CHECK(tests[2].source.empty());  // this host has no address there: nothing sent from it
  const auto& stored = result.store("relay").messages();
  REQUIRE(stored.size() == 2);
  std::set<std::string> clients;
  for (const fake_mx::StoredMessage& message : stored) {
    clients.insert(message.client.address.to_string());
    CHECK(message.content.find("Subject: Test Deliverability from " + message.client.address.to_string() + "\r\n") !=
          std::string::npos);
  }
  CHECK(clients == std::set<std::string>{"13.108.0.10", "96.43.144.10"});
}

TEST_CASE("VERP round trip: the relay's DSN for an unknown user and a late plain-text bounce mark the contacts bounced",
          "[salesforce][verp][relay]") {
  json world = base_world();
  world["dns"]["na1.bnc.salesforce.com"] = {{"MX", {{10, "mx.na1.bnc.salesforce.com"}}}};
  world["dns"]["mx.na1.bnc.salesforce.com"] = {{"A", {"13.108.0.10"}}};
  world["nodes"]["relay"] = json::parse(R"({ "host": "relay.acme.example", "type": "relay",
    "config": { "myhostname": "relay.acme.example", "listeners": [{ "port": 587 }], "mynetworks": ["13.108.0.0/14"],
                "sender_domains": ["acme.example", "*.bnc.salesforce.com"] } })");
  world["nodes"]["dest-mx"]["behaviour"] = json::parse(R"({ "hostname": "mx.dest.example",
    "mailboxes": { "users": ["ann@dest.example", "late@dest.example"] },
    "rules": [{ "stage": "end_of_data", "match": { "recipient": "late@dest.example" },
                "bounce_later": { "after": "30m", "status": "5.2.2", "diagnostic": "552 5.2.2 Mailbox full", "format": "plain" } }] })");
  json& org = world["nodes"]["sfdc"];
  org["org"]["bounce_management"] = true;
  org["traffic"] = json::parse(
      R"([{ "at": "+1m", "from": "news@acme.example", "to": ["ann@dest.example", "ghost@dest.example", "late@dest.example"] }])");
  const Run result = run(world, 3h);

  // Three envelopes, each with its own VERP return path.
  const auto& delivered = result.store("dest-mx").mailbox("ann@dest.example");
  REQUIRE(delivered.size() == 1);
  CHECK(delivered[0]->sender.starts_with("ann=dest.example__"));
  CHECK(delivered[0]->sender.ends_with("@na1.bnc.salesforce.com"));

  const salesforce::OrgState& state = result.org();
  CHECK_FALSE(state.contact_bounced("ann@dest.example"));
  REQUIRE(state.contact_bounced("ghost@dest.example"));
  const salesforce::BouncedContact& ghost = state.bounced_contacts.at("ghost@dest.example");
  CHECK(ghost.status == "5.1.1");
  CHECK(ghost.email == "0ME000000001");
  REQUIRE(state.contact_bounced("late@dest.example"));
  CHECK(state.bounced_contacts.at("late@dest.example").status == "5.2.2");
  CHECK(state.counters.bounces == 2);
  // The email log tells the story an admin reads: delivered to the relay, then bounced.
  std::vector<std::string> events;
  for (const salesforce::LogEntry* entry : state.log_for("ghost@dest.example"))
    events.emplace_back(to_string(entry->event));
  CHECK(events == std::vector<std::string>{"Accepted", "Delivered", "Bounced"});
}

TEST_CASE("the bounce inbox refuses addresses that are not VERP addresses of this org", "[salesforce][verp]") {
  json world = base_world();
  world["dns"]["na1.bnc.salesforce.com"] = {{"MX", {{10, "mx.na1.bnc.salesforce.com"}}}};
  world["dns"]["mx.na1.bnc.salesforce.com"] = {{"A", {"13.108.0.10"}}};
  world["hosts"]["spammer"] = {{"addresses", {"203.0.113.66"}}};
  world["nodes"]["sfdc"]["org"]["bounce_management"] = true;
  world["nodes"]["spam"] =
      json::parse(R"({ "host": "spammer", "type": "smtp_sender", "server": "mx.na1.bnc.salesforce.com",
    "messages": [{ "at": "+5m", "from": "<>", "to": ["ann=dest.example__999-0ME000000001@na1.bnc.salesforce.com", "random@na1.bnc.salesforce.com"] }] })");
  const Run result = run(world, 20min);
  CHECK(result.org().bounced_contacts.empty());
  CHECK(result.org().counters.bounces == 0);
}

TEST_CASE("a restarted org picks up its outbox: the pending retry happens on schedule, sends due meanwhile go out",
          "[salesforce][retry][crash]") {
  json world = base_world();
  world["nodes"]["relay"]["behaviour"]["rules"] =
      json::parse(R"([{ "stage": "mail", "reply": "451 4.3.0 Try again later", "times": 2 }])");
  world["nodes"]["sfdc"]["traffic"].push_back(
      {{"at", "+9m"}, {"from", "news@acme.example"}, {"to", {"bob@dest.example"}}});
  world["faults"] = json::parse(
      R"([{ "kind": "crash", "node": "sfdc", "at": "+7m" }, { "kind": "restart", "node": "sfdc", "at": "+12m" }])");
  const Run result = run(world, 1h);
  std::vector<std::string> events;
  Instant delivered_at;
  for (const salesforce::LogEntry* entry : result.org().log_for("ann@dest.example")) {
    events.emplace_back(to_string(entry->event));
    if (entry->event == salesforce::EmailLogEvent::delivered) delivered_at = entry->at;
  }
  CHECK(events == std::vector<std::string>{"Accepted", "Transient failure", "Transient failure", "Delivered"});
  CHECK(delivered_at - result.loaded.start >= 16min);  // +1m, +6m, then +16m: the schedule survived the crash
  CHECK(delivered_at - result.loaded.start < 16min + 1s);
  const salesforce::LogEntry& late = result.first_outcome("bob@dest.example");
  CHECK(late.event == salesforce::EmailLogEvent::delivered);
  CHECK(late.at - result.loaded.start >= 12min);  // due at +9m, sent when the org came back
}

TEST_CASE("a new sandbox sends system email only: other sends are refused at the source", "[salesforce][limits]") {
  json world = base_world();
  world["nodes"]["sfdc"]["org"]["environment"] = "sandbox";
  world["nodes"]["sfdc"]["org"]["relay_categories"] = {{"system", true}};
  world["nodes"]["sfdc"]["traffic"].push_back(
      {{"at", "+2m"}, {"category", "system"}, {"from", "noreply@acme.example"}, {"to", {"bob@dest.example"}}});
  const Run result = run(world, 10min);
  const salesforce::LogEntry& refused = result.first_outcome("ann@dest.example");
  CHECK(refused.event == salesforce::EmailLogEvent::refused);
  CHECK(refused.detail.starts_with(
      "NO_MASS_MAIL_PERMISSION, Single email is not enabled for your organization or profile."));
  CHECK(result.first_outcome("bob@dest.example").event == salesforce::EmailLogEvent::delivered);
  CHECK(result.org().counters.refused == 1);
}

TEST_CASE("Salesforce's own servers send one envelope per recipient domain, each to that domain's MX",
          "[salesforce][filters]") {
  // Found by `relaysim explore` (faults_removed_delivers): one envelope for two domains went to
  // the first domain's MX, which refused the other domain's recipient.
  json world = base_world();
  world["hosts"]["other.example"] = {{"addresses", {"192.0.2.50"}}};
  world["nodes"]["other-mx"] = {
      {"host", "other.example"}, {"type", "fake_mx"}, {"behaviour", {{"hostname", "other.example"}}}};
  world["nodes"]["dest-mx"]["behaviour"]["mailboxes"] = {{"users", {"ann@dest.example"}}};
  world["nodes"]["sfdc"]["traffic"] =
      json::parse(R"([{ "at": "+1m", "category": "system", "from": "alerts@acme.example",
                                                        "to": ["ann@dest.example", "dana@other.example"] }])");
  const Run result = run(world, 10min);
  CHECK(result.first_outcome("ann@dest.example").server == "mx.dest.example[192.0.2.25]:25");
  CHECK(result.first_outcome("dana@other.example").server == "other.example[192.0.2.50]:25");
  CHECK(result.store("other-mx").mailbox("dana@other.example").size() == 1);
}
