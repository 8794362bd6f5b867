// The Salesforce org model without a network: domain filter matching and priority, the setups
// Salesforce refuses, daily limits and the GMT day, the retry schedule, VERP addresses, and the
// org's JSON with path-precise errors.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fake_salesforce/org.hpp"
#include "io/text.hpp"
#include "scenario/salesforce_config.hpp"

using namespace relaysim;
using namespace relaysim::salesforce;
using namespace std::chrono_literals;

namespace {

Instant at(const char* text) { return *parse_iso8601(text); }

Org org_from(const char* text) {
  const auto document = nlohmann::json::parse(text);
  return scenario::read_salesforce_org(scenario::JsonValue(document, "$"));
}

std::string error_of(const char* text) {
  try {
    (void)org_from(text);
  } catch (const scenario::InputError& error) {
    return error.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("domain filter patterns: '*' matches all, 'example.com' only itself, '*.example.com' only subdomains",
          "[salesforce][filters]") {
  struct Row {
    const char* sender_patterns;
    const char* sender_domain;
    bool matches;
  };
  const Row rows[] = {
      {"*", "acme.example", true},
      {"acme.example", "acme.example", true},
      {"acme.example", "mail.acme.example", false},
      {"*.acme.example", "mail.acme.example", true},
      {"*.acme.example", "acme.example", false},
      {"*.acme.example", "a.b.acme.example", true},
      {"acme.example, *.acme.example", "acme.example", true},
      {"acme.example, *.acme.example", "eu.acme.example", true},
      {"acme.example", "ACME.Example", true},
      {"acme.example", "notacme.example", false},
      {"*.acme.example", "xacme.example", false},
  };
  for (const Row& row : rows) {
    const std::string text = std::string(R"({ "relays": [{ "name": "corp", "host": "relay.acme.example" }],
                                              "filters": [{ "sender": ")") +
                             row.sender_patterns + R"(", "relay": "corp" }] })";
    const Org org = org_from(text.c_str());
    INFO(row.sender_patterns << " against " << row.sender_domain);
    CHECK((filter_for(org, to_lower(row.sender_domain), "dest.example") != nullptr) == row.matches);
  }
}

TEST_CASE("filters are evaluated by ascending priority, inactive ones skipped, no match means Salesforce's own path",
          "[salesforce][filters]") {
  const Org org = org_from(R"({
    "relays": [{ "name": "eu", "host": "eu-relay.acme.example" }, { "name": "us", "host": "us-relay.acme.example" },
               { "name": "old", "host": "old-relay.acme.example" }],
    "filters": [
      { "sender": "*", "recipient": "*", "relay": "us", "priority": 30 },
      { "sender": "*.eu.acme.example", "recipient": "*", "relay": "eu", "priority": 10 },
      { "sender": "acme.example", "recipient": "partner.example", "relay": "old", "priority": 1, "active": false },
      { "sender": "acme.example", "recipient": "*.gov.example", "relay": "eu", "priority": 20 }
    ] })");
  struct Row {
    const char* sender;
    const char* recipient;
    const char* relay;  // nullptr: Salesforce's own servers
  };
  const Row rows[] = {
      {"sales.eu.acme.example", "dest.example", "eu"},  // priority 10 before 30
      {"acme.example", "partner.example", "us"},        // the inactive filter is skipped
      {"acme.example", "tax.gov.example", "eu"},        // 20 before 30
      {"acme.example", "gov.example", "us"},            // "*.gov.example" is subdomains only
      {"other.example", "dest.example", "us"},
  };
  for (const Row& row : rows) {
    INFO(row.sender << " -> " << row.recipient);
    const EmailRelay* relay = relay_for(org, Category::single, row.sender, row.recipient);
    REQUIRE(relay != nullptr);
    CHECK(relay->name == row.relay);
  }
  // Without a catch-all filter, unmatched mail goes through Salesforce's own servers.
  const Org narrow = org_from(R"({ "relays": [{ "name": "corp", "host": "relay.acme.example" }],
                                   "filters": [{ "sender": "acme.example", "relay": "corp" }] })");
  CHECK(relay_for(narrow, Category::single, "other.example", "dest.example") == nullptr);
  CHECK(relay_for(narrow, Category::mass, "acme.example", "dest.example") != nullptr);
  // System notifications never use the relay by default; the table is the org's to change.
  CHECK(relay_for(narrow, Category::system, "acme.example", "dest.example") == nullptr);
  const Org all = org_from(R"({ "relays": [{ "name": "corp", "host": "relay.acme.example" }],
                                "filters": [{ "relay": "corp" }], "relay_categories": { "system": true, "mass": false } })");
  CHECK(relay_for(all, Category::system, "acme.example", "dest.example") != nullptr);
  CHECK(relay_for(all, Category::mass, "acme.example", "dest.example") == nullptr);
}

TEST_CASE("a setup Salesforce would refuse is refused at the field, with Salesforce's reason", "[salesforce][config]") {
  CHECK(error_of(R"({ "relays": [{ "host": "relay.acme.example", "port": 2525 }] })")
            .starts_with("$.relays[0].port: expected a setup Salesforce accepts, found Salesforce refuses it: Port: "
                         "bad value for restricted picklist field: 2525"));
  CHECK(
      error_of(
          R"({ "relays": [{ "host": "relay.acme.example", "tls": "Required", "auth": { "user": "sfdc", "password": "x" } }] })")
          .find("$.relays[0].auth: expected a setup Salesforce accepts, found Salesforce refuses it: When Enable SMTP "
                "Auth is selected, "
                "the TLS Setting must be set to RequiredVerify") == 0);
  CHECK(error_of(R"({ "relays": [{ "host": "198.51.100.10", "tls": "RequiredVerify" }] })")
            .starts_with("$.relays[0].host:"));
  CHECK(error_of(R"({ "relays": [{ "name": "a", "host": "r.example" }],
                      "filters": [{ "relay": "a", "priority": 1 }, { "relay": "a", "priority": 1 }] })")
            .find("$.filters[1].priority: expected a setup Salesforce accepts, found Salesforce refuses it: Duplicate "
                  "value found") == 0);
  CHECK(error_of(R"({ "relays": [{ "name": "a", "host": "r.example" }], "filters": [{ "relay": "b" }] })")
            .starts_with("$.filters[0].relay:"));
  CHECK(error_of(R"({ "relays": [{ "host": "r.example", "tls": "Sometimes" }] })")
            .starts_with("$.relays[0].tls: expected one of Off, Preferred, Required, PreferredVerify, RequiredVerify"));
  CHECK(error_of(R"({ "filters": [{ "sender": "*acme.example" }] })")
            .starts_with("$.filters[0].sender: expected domain patterns"));
  CHECK(error_of(R"({ "daily_limits": { "apex": 10 } })")
            .starts_with("$.daily_limits.apex: expected a limit under \"single\""));
  CHECK(
      error_of(
          R"({ "relays": [{ "host": "r.example", "tls": "RequiredVerify", "auth": { "user": "u", "password": "p", "mechanism": "CRAM-MD5" } }] })")
          .starts_with("$.relays[0].auth.mechanism: expected one of"));
  // Every port Salesforce can dial, and auth with Required Verify, are accepted.
  for (const char* port : {"25", "587", "10025", "11025"}) {
    const std::string text =
        std::string(R"({ "relays": [{ "host": "r.example", "port": )") + port +
        R"(, "tls": "RequiredVerify", "auth": { "user": "u", "password": "p", "mechanism": "LOGIN" } }] })";
    CHECK(org_from(text.c_str()).relays.at(0).auth->mechanism == "LOGIN");
  }
}

TEST_CASE(
    "daily limits count external addresses per GMT day: mass 5,000 (10 in developer orgs), single and Apex share 5,000",
    "[salesforce][limits]") {
  Org org;
  CHECK(daily_limit(org, Category::mass) == 5'000);
  CHECK(daily_limit(org, Category::single) == 5'000);
  CHECK(limit_bucket(Category::apex) == Category::single);
  CHECK(daily_limit(org, Category::workflow) == 0);
  org.edition = Edition::developer;
  CHECK(daily_limit(org, Category::mass) == 10);
  org.daily_limits[Category::single] = 3;
  CHECK(daily_limit(org, Category::apex) == 3);
  CHECK(gmt_day(at("2026-03-02T23:59:59Z")) == gmt_day(at("2026-03-02T00:00:00Z")));
  CHECK(gmt_day(at("2026-03-03T00:00:00Z")) == gmt_day(at("2026-03-02T23:59:59Z")) + 1);
  // A GMT day, not the org's local day: 00:30 in Paris is still the previous day in GMT.
  CHECK(gmt_day(at("2026-03-03T00:30:00+01:00")) == gmt_day(at("2026-03-02T12:00:00Z")));
}

TEST_CASE("sandboxes start with System email only, which refuses everything but system email", "[salesforce][limits]") {
  const Org sandbox = org_from(R"({ "environment": "sandbox" })");
  CHECK(sandbox.access == AccessLevel::system_email_only);
  CHECK(access_refusal(sandbox, Category::system).empty());
  CHECK(access_refusal(sandbox, Category::single).starts_with("NO_MASS_MAIL_PERMISSION"));
  const Org closed = org_from(R"({ "environment": "sandbox", "access": "no_access" })");
  CHECK_FALSE(access_refusal(closed, Category::system).empty());
  CHECK(access_refusal(org_from("{}"), Category::mass).empty());
}

TEST_CASE("Salesforce's retry schedule: +5m, +10m, ... +10h40m between attempts, nothing after 24h",
          "[salesforce][retry]") {
  const RetrySchedule schedule;
  const Instant first = at("2026-03-02T09:00:00Z");
  Instant now = first;
  std::vector<Duration> gaps;
  for (int attempts = 1;; ++attempts) {
    const std::optional<Instant> next = schedule.next_attempt(first, attempts, now);
    if (!next) break;
    gaps.push_back(*next - now);
    now = *next;
  }
  CHECK(gaps == std::vector<Duration>{5min, 10min, 20min, 40min, 80min, 160min, 320min, 640min});
  CHECK(now - first == 1275min);  // the ninth attempt, 21h15m after the first
  RetrySchedule short_lived;
  short_lived.give_up_after = 30min;
  CHECK(short_lived.next_attempt(first, 1, first) == first + 5min);
  CHECK(short_lived.next_attempt(first, 2, first + 5min) == first + 15min);
  CHECK_FALSE(short_lived.next_attempt(first, 3, first + 15min));  // +20m would end at 35m
}

TEST_CASE("VERP return paths encode the contact and a token, and read back", "[salesforce][verp]") {
  BounceManagement bounce;
  bounce.enabled = true;
  const std::string verp = verp_address(bounce, "Ann.Lee@Dest.Example", "7-0ME000000003");
  CHECK(verp == "Ann.Lee=dest.example__7-0ME000000003@na1.bnc.salesforce.com");
  const auto parts = parse_verp(bounce, verp);
  REQUIRE(parts);
  CHECK(parts->contact == "Ann.Lee@dest.example");
  CHECK(parts->token == "7-0ME000000003");
  // Local parts holding '=' or '__' still split at the last separators.
  const auto odd = parse_verp(bounce, verp_address(bounce, "a=b__c@dest.example", "9-0ME1"));
  REQUIRE(odd);
  CHECK(odd->contact == "a=b__c@dest.example");
  CHECK(odd->token == "9-0ME1");
  CHECK_FALSE(parse_verp(bounce, "ann=dest.example__7@bnc.salesforce.com"));  // the instance is missing
  CHECK_FALSE(parse_verp(bounce, "ann=dest.example__7@na1.bnc.example.com"));
  CHECK_FALSE(parse_verp(bounce, "ann@na1.bnc.salesforce.com"));
  CHECK_FALSE(parse_verp(bounce, "ann=dest.example__@na1.bnc.salesforce.com"));
}

TEST_CASE("an org node's traffic: generators expand in time order, with path-precise errors", "[salesforce][config]") {
  const auto document = nlohmann::json::parse(R"({ "type": "salesforce", "host": "h",
    "traffic": [
      { "at": "+10m", "from": "news@acme.example", "to": "ann@dest.example", "category": "mass", "count": 3, "interval": "1m" },
      { "at": "+20m", "from": "apex@acme.example", "to": "bob@dest.example", "category": "apex", "count": 5, "burst": 2, "interval": "10s" },
      { "at": "+11m30s", "from": "ceo@acme.example", "to": ["bob@dest.example"], "attachments": [{ "size": 100 }],
        "headers": { "X-Campaign": "spring" } }
    ] })");
  const Instant origin = at("2026-03-02T09:00:00Z");
  const OrgConfig config = scenario::read_salesforce_node(scenario::JsonValue(document, "$.nodes.sf"), origin);
  REQUIRE(config.traffic.size() == 9);
  std::vector<Duration> bursts;
  for (const Send& send : config.traffic) {
    if (send.category == Category::apex) bursts.push_back(send.at - origin);
  }
  CHECK(bursts == std::vector<Duration>{20min, 20min, 20min + 10s, 20min + 10s, 20min + 20s});
  CHECK(config.traffic[0].at == origin + 10min);
  CHECK(config.traffic[1].at == origin + 11min);
  CHECK(config.traffic[2].from.to_string() == "ceo@acme.example");
  CHECK(config.traffic[2].headers.at(0).first == "X-Campaign");
  CHECK(config.traffic[3].subject == "Test message (3)");
  CHECK(config.traffic[3].category == Category::mass);

  const auto bad =
      nlohmann::json::parse(R"({ "traffic": [{ "from": "a@b.example", "to": ["x@y.example"], "category": "fax" }] })");
  CHECK_THROWS_WITH(scenario::read_salesforce_node(scenario::JsonValue(bad, "$.nodes.sf"), origin),
                    Catch::StartsWith("$.nodes.sf.traffic[0].category: expected one of single, mass"));
}
