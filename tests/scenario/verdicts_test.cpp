// The invariants catch what they are for: each is fed observations that break it and must fail
// with a message naming the message, the recipient and the events; and expectations are read
// with path-precise errors.

#include <functional>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "scenario/verdicts.hpp"
#include "support/test_world.hpp"

using namespace relaysim;
using namespace relaysim::scenario;
using namespace std::chrono_literals;

namespace {

using testing::t0;

struct Fixture {
  Fixture() {
    loaded.start = t0();
    relay::RelayConfig config;
    config.mynetworks.push_back(*io::Cidr::parse("13.108.0.0/14"));
    loaded.relay_configs["relay"] = config;
  }
  RunObserver::StoredAtRelay& store(const std::string& id, const std::string& from, std::vector<std::string> to,
                                    const std::string& client = "13.108.0.10") {
    observer.stored.push_back({t0(), "relay", id, from, std::move(to), client, "", "Subject", id + "@acme.example"});
    return observer.stored.back();
  }
  void outcome(Duration at, const std::string& id, const std::string& rcpt, relay::RecipientState state,
               bool tls = false) {
    const smtp::Outcome outcome = state == relay::RecipientState::delivered ? smtp::Outcome::delivered
                                  : state == relay::RecipientState::bounced ? smtp::Outcome::permanent
                                                                            : smtp::Outcome::transient;
    observer.outcomes.push_back({t0() + at, "relay", id, rcpt, outcome, state,
                                 state == relay::RecipientState::bounced ? "5.1.1" : "2.0.0",
                                 "mx.dest.example[192.0.2.25]:25", io::Endpoint{*io::Address::parse("192.0.2.25"), 25},
                                 tls, false, false, true, "", std::nullopt, 0});
  }
  const Verdict& invariant(const std::string& prefix, bool quiescent = true) {
    result = check_run(loaded, observer, quiescent);
    for (const Verdict& verdict : result.invariants) {
      if (verdict.name.starts_with(prefix)) return verdict;
    }
    FAIL("no invariant named " << prefix);
    throw std::logic_error("unreachable");
  }
  LoadedWorld loaded;
  RunObserver observer;
  RunResult result;
};

}  // namespace

TEST_CASE("conservation: an accepted recipient with no end, or with two ends and no crash between, breaks it",
          "[scenario][invariants]") {
  Fixture fixture;
  fixture.store("A1", "sales@acme.example", {"ann@dest.example", "bob@dest.example"});
  fixture.outcome(1min, "A1", "ann@dest.example", relay::RecipientState::delivered);
  const Verdict& lost = fixture.invariant("every accepted recipient");
  CHECK_FALSE(lost.passed);
  CHECK(lost.message.find("relay accepted A1 for bob@dest.example at +0s and it never ended delivered or bounced") !=
        std::string::npos);
  CHECK(lost.at == t0());  // it went wrong when it was accepted: that is where to look
  CHECK(fixture.invariant("every accepted recipient", false).passed);    // stopped at `until`: bob may still be queued
  CHECK_FALSE(fixture.invariant("every accepted recipient", false).at);  // a check that holds names no instant

  fixture.outcome(2min, "A1", "bob@dest.example", relay::RecipientState::deferred);
  fixture.outcome(7min, "A1", "bob@dest.example", relay::RecipientState::delivered);
  CHECK(fixture.invariant("every accepted recipient").passed);

  fixture.outcome(9min, "A1", "bob@dest.example", relay::RecipientState::delivered);
  const Verdict& twice = fixture.invariant("every accepted recipient");
  CHECK_FALSE(twice.passed);
  CHECK(twice.message.find("A1 to bob@dest.example ended twice without a crash between") != std::string::npos);
  CHECK(twice.at == t0() + 9min);                            // the second end, not the first
  fixture.observer.crashes["relay"].push_back(t0() + 8min);  // a crash explains a repeat: a counted duplicate
  CHECK(fixture.invariant("every accepted recipient").passed);

  fixture.outcome(10min, "ZZ", "eve@dest.example", relay::RecipientState::delivered);
  CHECK(fixture.invariant("every accepted recipient")
            .message.find("delivered ZZ to eve@dest.example which it never accepted") != std::string::npos);
  // Unless the queue read ZZ back after a crash: durable in a commit the crash cut short, never acknowledged.
  fixture.observer.recovered["relay"].insert("ZZ");
  CHECK(fixture.invariant("every accepted recipient").passed);
}

TEST_CASE("conservation: a queue id given with a 250 that no relay ever stored breaks it", "[scenario][invariants]") {
  Fixture fixture;
  fixture.store("A1", "sales@acme.example", {"ann@dest.example"});
  fixture.outcome(1min, "A1", "ann@dest.example", relay::RecipientState::delivered);
  fixture.observer.sender_results.push_back(
      {t0(), "client", 1, "ann@dest.example", smtp::Outcome::delivered, "250 2.0.0 Ok: queued as A1", "A1"});
  CHECK(fixture.invariant("every accepted recipient").passed);
  fixture.observer.sender_results.push_back(
      {t0(), "client", 2, "ann@dest.example", smtp::Outcome::delivered, "250 2.0.0 Ok: queued as B7", "B7"});
  const Verdict& lost = fixture.invariant("every accepted recipient");
  CHECK_FALSE(lost.passed);
  CHECK(lost.message.find("client (message 2) was told \"queued as B7\" at +0s, but no relay ever stored B7: an "
                          "acknowledged message is lost") != std::string::npos);
}

TEST_CASE("retry bounds: a wait past maximal_backoff_time, or an attempt after the lifetime, breaks it",
          "[scenario][invariants]") {
  Fixture fixture;
  fixture.store("A1", "sales@acme.example", {"ann@dest.example"});
  fixture.observer.retries.push_back({t0() + 1min, "relay", "A1", t0() + 6min});
  CHECK(fixture.invariant("retries stay").passed);
  fixture.observer.retries.push_back({t0() + 2h, "relay", "A1", t0() + 4h});
  const Verdict& long_wait = fixture.invariant("retries stay");
  CHECK_FALSE(long_wait.passed);
  CHECK(long_wait.message.find("more than maximal_backoff_time") != std::string::npos);
  CHECK(long_wait.at == t0() + 2h);  // when the retry was planned
  fixture.observer.retries.back() = {t0() + 3h, "relay", "A1", t0() + 3h + 30s};
  CHECK(fixture.invariant("retries stay").message.find("less than minimal_backoff_time") != std::string::npos);
  fixture.observer.retries.back() = {t0() + 120h, "relay", "A1", t0() + 121h};
  CHECK(fixture.invariant("retries stay").message.find("after its queue lifetime ends") != std::string::npos);
}

TEST_CASE("notifications: one to <>, or one about a notification, breaks it", "[scenario][invariants]") {
  Fixture fixture;
  fixture.store("A1", "sales@acme.example", {"ghost@dest.example"});
  fixture.store("D1", "", {"sales@acme.example"}, "");
  fixture.observer.dsns.push_back({t0(), "relay", "A1", "D1", smtp::DsnAction::failed, "sales@acme.example"});
  CHECK(fixture.invariant("no notification").passed);
  fixture.observer.dsns.push_back({t0(), "relay", "D1", "D2", smtp::DsnAction::failed, "postmaster@acme.example"});
  CHECK(fixture.invariant("no notification").message.find("about D1, itself a notification: a bounce loop") !=
        std::string::npos);
  fixture.observer.dsns.back() = {t0(), "relay", "A1", "D3", smtp::DsnAction::failed, ""};
  CHECK(fixture.invariant("no notification").message.find("notification D3 to <>") != std::string::npos);
}

TEST_CASE("no open relay: mail accepted from a stranger, or for a domain not relayed, breaks it",
          "[scenario][invariants]") {
  Fixture fixture;
  fixture.store("A1", "sales@acme.example", {"ann@dest.example"});
  CHECK(fixture.invariant("no unauthorized").passed);
  fixture.store("A2", "spam@evil.example", {"victim@dest.example"}, "203.0.113.66");
  CHECK(fixture.invariant("no unauthorized")
            .message.find("accepted A2 from 203.0.113.66, neither in mynetworks nor authenticated") !=
        std::string::npos);
  fixture.observer.stored.back().sasl = "sfdc";
  CHECK(fixture.invariant("no unauthorized").passed);
  fixture.loaded.relay_configs["relay"].recipient_domains = {"dest.example"};
  fixture.store("A3", "sales@acme.example", {"x@elsewhere.example"});
  CHECK(fixture.invariant("no unauthorized").message.find("for x@elsewhere.example, outside recipient_domains") !=
        std::string::npos);
}

TEST_CASE("TLS settings: plaintext delivery where the policy says encrypt breaks it", "[scenario][invariants]") {
  Fixture fixture;
  fixture.loaded.relay_configs["relay"].smtp_tls_policy_maps.push_back({"dest.example", relay::TlsLevel::encrypt});
  fixture.store("A1", "sales@acme.example", {"ann@dest.example", "bob@other.example"});
  fixture.outcome(1min, "A1", "ann@dest.example", relay::RecipientState::delivered, true);
  fixture.outcome(1min, "A1", "bob@other.example", relay::RecipientState::delivered, false);  // level may: fine
  CHECK(fixture.invariant("TLS settings").passed);
  fixture.outcome(2min, "A1", "ann@dest.example", relay::RecipientState::delivered, false);
  CHECK(
      fixture.invariant("TLS settings").message.find("delivered A1 to ann@dest.example without TLS at level encrypt") !=
      std::string::npos);
}

TEST_CASE(
    "TLS settings: a DANE relay's delivery that no TLSA record authenticated breaks it when the scenario's DNS "
    "binds the host",
    "[scenario][invariants][dane]") {
  Fixture fixture;
  relay::RelayConfig& config = fixture.loaded.relay_configs["relay"];
  config.smtp_tls_security_level = relay::TlsLevel::dane;
  config.smtp_dns_support_dnssec = true;
  fixture.loaded.mx_records["dest.example"] = {{10, "mx.dest.example"}};
  fixture.loaded.tlsa_records["_25._tcp.mx.dest.example"] = {{3, 1, 1, std::string(32, '\x11')}};
  fixture.store("A1", "sales@acme.example", {"ann@dest.example"});
  fixture.outcome(1min, "A1", "ann@dest.example", relay::RecipientState::delivered, false);
  CHECK(fixture.invariant("TLS settings").passed);  // the zone is not signed: opportunistic TLS is all DANE asks

  fixture.loaded.dnssec_zones["dest.example"] = io::Dnssec::secure;
  const Verdict& plaintext = fixture.invariant("TLS settings");
  CHECK_FALSE(plaintext.passed);
  CHECK(plaintext.message.find("delivered A1 to ann@dest.example at mx.dest.example[192.0.2.25]:25 in plaintext "
                               "despite its DNSSEC-validated TLSA records, at level dane") != std::string::npos);

  fixture.observer.outcomes.back().tls = true;  // over TLS, but matched to no record
  CHECK(fixture.invariant("TLS settings").message.find("over TLS that matched none of") != std::string::npos);
  fixture.observer.outcomes.back().tls_verified = true;
  CHECK(fixture.invariant("TLS settings").passed);

  fixture.observer.outcomes.back().tls_verified = false;
  fixture.loaded.tlsa_records["_25._tcp.mx.dest.example"] = {{1, 1, 1, std::string(32, '\x11')}};  // PKIX-EE: unusable
  CHECK(fixture.invariant("TLS settings").passed);
  fixture.loaded.tlsa_records["_25._tcp.mx.dest.example"] = {{3, 1, 1, std::string(20, '\x11')}};  // a short digest
  CHECK(fixture.invariant("TLS settings").passed);

  config.smtp_tls_security_level = relay::TlsLevel::dane_only;  // nothing but DANE, whatever the DNS says
  CHECK(fixture.invariant("TLS settings")
            .message.find("without a session authenticated by TLSA records, at level "
                          "dane-only") != std::string::npos);
  config.smtp_dns_support_dnssec = false;  // dane-only without DNSSEC delivers nothing at all
  CHECK_FALSE(fixture.invariant("TLS settings").passed);
  config.smtp_tls_security_level = relay::TlsLevel::dane;  // dane without DNSSEC is may: nothing to hold it to
  fixture.observer.outcomes.back().tls = false;
  CHECK(fixture.invariant("TLS settings").passed);
}

TEST_CASE("routing: a recipient sent another way than the Email Domain Filters say breaks it",
          "[scenario][invariants]") {
  Fixture fixture;
  salesforce::Org setup;
  setup.relays.push_back({"corp", "relay.acme.example", 587, salesforce::TlsSetting::preferred, std::nullopt});
  setup.filters.push_back({{"acme.example"}, {"*"}, true, 1, "corp"});
  fixture.loaded.org_setups["sf"] = setup;
  auto state = std::make_shared<salesforce::OrgState>();
  state->emails.push_back({"0ME1", salesforce::Category::single, t0(), "Subject: x\r\n\r\nbody\r\n",
                           smtp::Mailbox{"sales", "acme.example"}, "x", "", false});
  state->log.push_back(
      {t0(), "0ME1", "ann@dest.example", salesforce::EmailLogEvent::accepted, "corp", "", "", 0, false, false});
  fixture.loaded.orgs["sf"] = state;
  CHECK(fixture.invariant("routing").passed);
  state->log.push_back(
      {t0(), "0ME1", "bob@dest.example", salesforce::EmailLogEvent::accepted, "Salesforce", "", "", 0, false, false});
  CHECK(fixture.invariant("routing").message.find(
            "sent 0ME1 for bob@dest.example via Salesforce; the filters say corp") != std::string::npos);
}

TEST_CASE(
    "routing: the oracle reads priorities, inactive filters and wildcards from the rules, not from the org's code",
    "[scenario][invariants]") {
  Fixture fixture;
  salesforce::Org setup;
  setup.relays.push_back({"corp", "relay.acme.example", 587, salesforce::TlsSetting::preferred, std::nullopt});
  setup.relays.push_back({"mkt", "relay2.acme.example", 587, salesforce::TlsSetting::preferred, std::nullopt});
  setup.filters.push_back({{"*"}, {"*"}, true, 9, "corp"});
  setup.filters.push_back({{"*.acme.example"}, {"*"}, true, 2, "mkt"});            // subdomains only
  setup.filters.push_back({{"acme.example"}, {"dest.example"}, false, 1, "mkt"});  // inactive
  fixture.loaded.org_setups["sf"] = setup;
  auto state = std::make_shared<salesforce::OrgState>();
  const auto email = [&](const std::string& id, const std::string& domain) {
    state->emails.push_back({id, salesforce::Category::mass, t0(), "Subject: x\r\n\r\nbody\r\n",
                             smtp::Mailbox{"news", domain}, "x", "", false});
  };
  const auto row = [&](const std::string& id, const std::string& path) {
    state->log.push_back(
        {t0(), id, "ann@dest.example", salesforce::EmailLogEvent::accepted, path, "", "", 0, false, false});
  };
  email("0ME1", "mkt.acme.example");
  email("0ME2", "acme.example");
  row("0ME1", "mkt");   // priority 2 before 9
  row("0ME2", "corp");  // "*.acme.example" is not acme.example; the inactive filter is skipped
  fixture.loaded.orgs["sf"] = state;
  CHECK(fixture.invariant("routing").passed);
  // Each a routing bug an org could have: the highest priority number first, a wildcard that takes
  // the bare domain, an inactive filter used.
  state->log[0].path = "corp";
  CHECK(fixture.invariant("routing").message.find("sent 0ME1 for ann@dest.example via corp; the filters say mkt") !=
        std::string::npos);
  state->log[0].path = "mkt";
  state->log[1].path = "mkt";
  CHECK(fixture.invariant("routing").message.find("sent 0ME2 for ann@dest.example via mkt; the filters say corp") !=
        std::string::npos);
}

TEST_CASE("expectations are read with path-precise errors", "[scenario][expectations]") {
  const auto error_of = [](const char* text) -> std::string {
    const auto document = nlohmann::json::parse(text);
    try {
      (void)read_expectations(JsonValue(document, "$.expect"), t0());
    } catch (const InputError& error) {
      return error.what();
    }
    return "(no error)";
  };
  CHECK(error_of(R"([{ "to": "ann@dest.example" }])")
            .starts_with("$.expect[0]: expected at least one thing to expect of the recipient"));
  CHECK(error_of(R"([{ "to": "ann@dest.example", "bounced": "2.0.0" }])")
            .starts_with("$.expect[0].bounced: expected a status class or code"));
  CHECK(error_of(R"([{ "to": "ann@dest.example", "delivred": true }])")
            .starts_with("$.expect[0].delivred: expected one of the keys"));
  CHECK(error_of(R"([{ "stats": { "sent": 1 } }])")
            .starts_with("$.expect[0].stats.sent: expected a value under one of submitted"));
  CHECK(error_of(R"([{ "to": "ann@dest.example", "email_log": "Lost" }])")
            .starts_with("$.expect[0].email_log: expected one of"));
  CHECK(error_of(R"([{ "frobnicate": 1 }])")
            .starts_with(
                "$.expect[0]: expected an expectation with \"to\", \"mailbox\", \"log\", \"stats\" or \"tls_report\""));
  CHECK(error_of(R"([{ "tls_report": "dest.example", "result_types": { "certificate-revoked": 1 } }])")
            .starts_with(
                "$.expect[0].result_types[\"certificate-revoked\"]: expected a count under an RFC 8460 result-type"));
  CHECK(
      error_of(R"([{ "tls_report": "dest.example", "via": "ftp" }])").starts_with("$.expect[0].via: expected one of"));
  CHECK(error_of(R"([{ "tls_report": "dest.example", "failed": -1 }])").starts_with("$.expect[0].failed: expected"));
  const auto document =
      nlohmann::json::parse(R"([{ "to": "ann@dest.example", "delivered": true, "via": "corp", "within": "15m" }])");
  const std::vector<Expectation> read = read_expectations(JsonValue(document, "$.expect"), t0());
  REQUIRE(read.size() == 1);
  CHECK(read[0].name == "ann@dest.example: delivered, via corp, within 15m");
}

TEST_CASE("permanent failures: a recipient kept for another try after a 5xx at RCPT breaks it",
          "[scenario][invariants]") {
  Fixture fixture;
  fixture.store("A1", "sales@acme.example", {"ghost@dest.example"});
  fixture.outcome(1min, "A1", "ghost@dest.example", relay::RecipientState::bounced);
  CHECK(fixture.invariant("a 5xx in the transaction").passed);
  fixture.observer.outcomes.back().outcome = smtp::Outcome::transient;
  fixture.observer.outcomes.back().state = relay::RecipientState::deferred;
  fixture.observer.outcomes.back().reason =
      "host mx.dest.example[192.0.2.25]:25 said: 550 5.1.1 <ghost@dest.example>: User unknown (in reply to RCPT TO "
      "command)";
  fixture.observer.outcomes.back().stage = smtp::Stage::rcpt;
  fixture.observer.outcomes.back().code = 550;
  CHECK(fixture.invariant("a 5xx in the transaction")
            .message.find("deferred A1 to ghost@dest.example at +1m after a permanent reply") != std::string::npos);
  // A 5xx greeting is not the transaction's: Postfix tries the next MX and defers on the last.
  fixture.observer.outcomes.back().reason =
      "host mx.dest.example[192.0.2.25]:25 refused to talk to me: 554 5.7.1 go away";
  fixture.observer.outcomes.back().stage = smtp::Stage::greeting;
  CHECK(fixture.invariant("a 5xx in the transaction").passed);
}

TEST_CASE("MX preference: a first connection to a less preferred MX breaks it", "[scenario][invariants]") {
  Fixture fixture;
  fixture.loaded.mx_records["dest.example"] = {{20, "mx2.dest.example"}, {10, "mx1.dest.example"}};
  fixture.observer.route_steps.push_back({t0(), "relay", "A1", "dest.example", -1, false});
  fixture.observer.route_steps.push_back({t0(), "relay", "A1", "", 10, false});
  fixture.observer.route_steps.push_back({t0(), "relay", "A1", "", 20, false});  // the next hop after a failure: fine
  CHECK(fixture.invariant("deliveries try the most preferred MX first").passed);
  // transport_maps or relayhost sends it elsewhere: the domain's MX records are not what it used.
  fixture.observer.route_steps.push_back({t0() + 1min, "relay", "A1", "dest.example", -1, true});
  fixture.observer.route_steps.push_back({t0() + 1min, "relay", "A1", "", 0, false});
  CHECK(fixture.invariant("deliveries try the most preferred MX first").passed);
  fixture.observer.route_steps.push_back({t0() + 5min, "relay", "A1", "dest.example", -1, false});
  fixture.observer.route_steps.push_back({t0() + 5min, "relay", "A1", "", 20, false});
  CHECK(fixture.invariant("deliveries try the most preferred MX first")
            .message.find("first to an MX of preference 20 at +5m, though 10") != std::string::npos);
}

TEST_CASE("hand-overs: a 250 from a fake MX for a recipient its mailbox never got breaks it",
          "[scenario][invariants]") {
  Fixture fixture;
  fixture.loaded.node_hosts["mx"] = "mx.dest.example";
  fixture.loaded.host_addresses["mx.dest.example"] = {*io::Address::parse("192.0.2.25")};
  auto store = std::make_shared<fake_mx::MailStore>();
  fixture.loaded.mail_stores["mx"] = store;
  fixture.store("A1", "sales@acme.example", {"ann@dest.example", "bob@dest.example"});
  fixture.outcome(1min, "A1", "ann@dest.example", relay::RecipientState::delivered);
  fixture.outcome(1min, "A1", "bob@dest.example", relay::RecipientState::delivered);
  fake_mx::StoredMessage message;
  message.sender = "sales@acme.example";
  message.recipients.push_back({smtp::Mailbox{"ann", "dest.example"}, {}});
  store->add(message);
  const Verdict& verdict = fixture.invariant("what was handed to an MX");
  CHECK_FALSE(verdict.passed);
  CHECK(verdict.message.find(
            "relay (A1) handed bob@dest.example to mx at +1m and got 250, but mx has nothing for bob@dest.example") !=
        std::string::npos);
  CHECK(verdict.at == t0() + 1min);
  fixture.observer.late_bounces["mx"].insert("bob@dest.example");  // taken to bounce later: fine
  CHECK(fixture.invariant("what was handed to an MX").passed);
}

TEST_CASE("notice recipients: a notification to the From: header instead of the envelope sender breaks it",
          "[scenario][invariants]") {
  Fixture fixture;
  fixture.store("A1", "bounces+ann=dest.example@bounce.acme.example", {"ann@dest.example"});
  fixture.store("D1", "", {"bounces+ann=dest.example@bounce.acme.example"});
  fixture.observer.dsns.push_back({t0() + 1min,
                                   "relay",
                                   "A1",
                                   "D1",
                                   smtp::DsnAction::failed,
                                   "bounces+ann=dest.example@bounce.acme.example",
                                   {"ann@dest.example"}});
  CHECK(fixture.invariant("every notification goes to the envelope sender").passed);
  fixture.observer.dsns.back().to = "sales@acme.example";
  CHECK(fixture.invariant("every notification goes to the envelope sender")
            .message.find("relay sent failed notification D1 about A1 to sales@acme.example, not to its envelope "
                          "sender bounces+ann=dest.example@bounce.acme.example") != std::string::npos);
}

TEST_CASE("expiry: a recipient with only temporary failures bounced before the queue lifetime ends breaks it",
          "[scenario][invariants]") {
  Fixture fixture;
  fixture.loaded.relay_configs["relay"].maximal_queue_lifetime = std::chrono::hours(24);
  fixture.store("A1", "sales@acme.example", {"ann@dest.example"});
  fixture.outcome(24h, "A1", "ann@dest.example", relay::RecipientState::bounced);
  fixture.observer.outcomes.back().outcome = smtp::Outcome::transient;
  fixture.observer.outcomes.back().status = "4.4.7";
  CHECK(fixture.invariant("temporary failures bounce only when").passed);
  fixture.observer.outcomes.back().at = t0() + 12h;
  CHECK(fixture.invariant("temporary failures bounce only when")
            .message.find("relay bounced A1 to ann@dest.example at +12h (4.4.7) after temporary failures only, before "
                          "its maximal_queue_lifetime ends at +1d") != std::string::npos);
  fixture.observer.outcomes.back().outcome = smtp::Outcome::permanent;  // a 5xx bounces at once: fine
  CHECK(fixture.invariant("temporary failures bounce only when").passed);
}

TEST_CASE("delay notices: two delay notices about one recipient of a message break it", "[scenario][invariants]") {
  Fixture fixture;
  fixture.store("A1", "sales@acme.example", {"ann@dest.example", "bob@dest.example"});
  fixture.observer.dsns.push_back(
      {t0() + 4h, "relay", "A1", "D1", smtp::DsnAction::delayed, "sales@acme.example", {"ann@dest.example"}});
  fixture.observer.dsns.push_back(
      {t0() + 5h, "relay", "A1", "D2", smtp::DsnAction::delayed, "sales@acme.example", {"bob@dest.example"}});
  CHECK(fixture.invariant("at most one delay notice").passed);
  fixture.observer.dsns.push_back(
      {t0() + 6h, "relay", "A1", "D3", smtp::DsnAction::delayed, "sales@acme.example", {"ann@dest.example"}});
  CHECK(fixture.invariant("at most one delay notice")
            .message.find("relay sent 2 delay notices about A1 to ann@dest.example: D1, D3") != std::string::npos);
  CHECK(fixture.invariant("at most one delay notice").at == t0() + 6h);  // the second notice
  // A crash between them: the second is the attempt in flight, made again with its notice.
  fixture.observer.crashes["relay"].push_back(t0() + 5h + 30min);
  CHECK(fixture.invariant("at most one delay notice").passed);
}

TEST_CASE(
    "recorded outcomes: a delivery made again after the first was recorded durably breaks it, even across a crash",
    "[scenario][invariants]") {
  Fixture fixture;
  fixture.store("A1", "sales@acme.example", {"ann@dest.example"});
  fixture.outcome(1min, "A1", "ann@dest.example", relay::RecipientState::delivered);
  fixture.observer.crashes["relay"].push_back(t0() + 2min);
  fixture.outcome(5min, "A1", "ann@dest.example", relay::RecipientState::delivered);
  // Settled but never recorded: the crash took the attempt in flight, and a repeat is allowed.
  CHECK(fixture.invariant("a recorded delivery or bounce").passed);
  CHECK(fixture.invariant("every accepted recipient").passed);
  // Recorded before the crash: the repeat undoes what was durable.
  fixture.observer.recorded.push_back({t0() + 1min + 10ms, "relay", "A1", {"Ann@dest.example"}});
  const Verdict& again = fixture.invariant("a recorded delivery or bounce");
  CHECK_FALSE(again.passed);
  CHECK(again.message.find("relay delivered A1 to ann@dest.example again at +5m, though it had recorded delivered "
                           "(2.0.0, settled at +1m) durably at +1m10ms") != std::string::npos);
  CHECK(again.at == t0() + 5min);
  CHECK(fixture.invariant("every accepted recipient")
            .passed);  // conservation alone excuses it: there was a crash between
}

TEST_CASE("null MX: an attempt, or a bounce other than 5.1.10, for a domain with a null MX breaks it",
          "[scenario][invariants]") {
  Fixture fixture;
  fixture.loaded.null_mx_domains.insert("other.example");
  fixture.store("A1", "sales@acme.example", {"dana@other.example"});
  fixture.outcome(0s, "A1", "dana@other.example", relay::RecipientState::bounced);
  fixture.observer.outcomes.back().status = "5.1.10";
  fixture.observer.outcomes.back().relay = "none";
  fixture.observer.outcomes.back().relay_endpoint.reset();
  CHECK(fixture.invariant("a null MX bounces").passed);
  fixture.observer.outcomes.back().status = "5.4.4";
  CHECK(fixture.invariant("a null MX bounces")
            .message.find("relay A1 to dana@other.example at +0s: bounced with 5.4.4, not 5.1.10") !=
        std::string::npos);
  fixture.observer.outcomes.back().status = "5.1.10";
  fixture.outcome(1min, "A1", "dana@other.example", relay::RecipientState::delivered);
  CHECK(fixture.invariant("a null MX bounces")
            .message.find("relay A1 to dana@other.example at +1m: a connection to mx.dest.example[192.0.2.25]:25 for a "
                          "domain with a null MX") != std::string::npos);
}

TEST_CASE("notice requests: a notice NOTIFY did not ask for, or a full return under RET=HDRS, breaks it",
          "[scenario][invariants]") {
  Fixture fixture;
  auto& message =
      fixture.store("A1", "app@acme.example", {"ann@dest.example", "bob@dest.example", "carol@dest.example"});
  message.dsn.resize(3);
  message.dsn[0].notify_given = message.dsn[0].notify_never = true;  // ann: NEVER
  message.dsn[1].notify_given = message.dsn[1].notify_success = message.dsn[1].notify_failure =
      true;              // bob: SUCCESS,FAILURE
  message.ret = "HDRS";  // carol: no NOTIFY
  auto& notice = fixture.store("D1", "", {"app@acme.example"});
  notice.returns_headers_only = true;
  fixture.observer.dsns.push_back({t0() + 1min,
                                   "relay",
                                   "A1",
                                   "D1",
                                   smtp::DsnAction::failed,
                                   "app@acme.example",
                                   {"bob@dest.example", "carol@dest.example"}});
  fixture.observer.dsns.push_back(
      {t0() + 2min, "relay", "A1", "D2", smtp::DsnAction::relayed, "app@acme.example", {"bob@dest.example"}});
  CHECK(fixture.invariant("notices honour NOTIFY and RET").passed);
  fixture.observer.dsns.push_back(
      {t0() + 3min, "relay", "A1", "D3", smtp::DsnAction::failed, "app@acme.example", {"ann@dest.example"}});
  CHECK(fixture.invariant("notices honour NOTIFY and RET")
            .message.find(
                "relay sent a failed notice D3 about A1 to ann@dest.example, whose NOTIFY did not ask for one") !=
        std::string::npos);
  fixture.observer.dsns.pop_back();
  fixture.observer.dsns.push_back(
      {t0() + 3min, "relay", "A1", "D3", smtp::DsnAction::relayed, "app@acme.example", {"carol@dest.example"}});
  CHECK(fixture.invariant("notices honour NOTIFY and RET")
            .message.find("relayed notice D3 about A1 to carol@dest.example") != std::string::npos);
  fixture.observer.dsns.pop_back();
  notice.returns_headers_only = false;
  CHECK(fixture.invariant("notices honour NOTIFY and RET")
            .message.find("relay returned the whole of A1 in notice D1, though its sender asked RET=HDRS") !=
        std::string::npos);
}

TEST_CASE("a failed recipient expectation names the instant it went wrong, a held one none",
          "[scenario][expectations]") {
  Fixture fixture;
  fixture.store("A1", "sales@acme.example", {"ann@dest.example"});
  fixture.outcome(1min, "A1", "ann@dest.example", relay::RecipientState::deferred);
  fixture.outcome(6min, "A1", "ann@dest.example", relay::RecipientState::bounced);
  const auto check = [&](const std::function<void(Expectation&)>& set) {
    Expectation expect;
    expect.name = "ann";
    expect.to = "ann@dest.example";
    set(expect);
    return check_expectation(expect, fixture.loaded, fixture.observer, RunStats{});
  };
  // An absence points at the last thing that did happen: the bounce at +6m.
  const Verdict never_delivered = check([](Expectation& e) { e.delivered = true; });
  CHECK_FALSE(never_delivered.passed);
  CHECK(never_delivered.at == t0() + 6min);
  // One attempt too many went wrong when it was made.
  const Verdict one_attempt = check([](Expectation& e) { e.attempts = {1, 1}; });
  CHECK_FALSE(one_attempt.passed);
  CHECK(one_attempt.at == t0() + 6min);
  CHECK(check([](Expectation& e) { e.attempts = {2, 2}; }).passed);
  CHECK_FALSE(check([](Expectation& e) { e.attempts = {2, 2}; }).at);
  // A range holds from its least to its most, both included.
  CHECK(check([](Expectation& e) { e.attempts = {1, 3}; }).passed);
  CHECK(check([](Expectation& e) { e.attempts = {0, 1}; }).at == t0() + 6min);
  const Verdict too_few = check([](Expectation& e) { e.attempts = {3, 5}; });
  CHECK_FALSE(too_few.passed);
  CHECK(too_few.message.find("2 relay attempts, not 3 to 5") != std::string::npos);
  // "Never attempted" went wrong at the first attempt; "deferred at" at the instant it names.
  CHECK(check([](Expectation& e) { e.never_attempted = true; }).at == t0() + 1min);
  const Verdict not_deferred = check([](Expectation& e) { e.deferred_at = t0() + 30s; });
  CHECK(not_deferred.message.find("not deferred at +30s (no deferral before then)") != std::string::npos);
  CHECK(not_deferred.at == t0() + 30s);
  // Several failures: the earliest instant.
  CHECK(check([](Expectation& e) {
          e.delivered = true;
          e.never_attempted = true;
        }).at == t0() + 1min);
}

TEST_CASE("an invariant with several violations names the earliest instant, whatever order they were found in",
          "[scenario][invariants]") {
  Fixture fixture;
  fixture.store("A1", "sales@acme.example", {"ann@dest.example"});
  fixture.observer.retries.push_back({t0() + 5h, "relay", "A1", t0() + 9h});  // too long a wait, found first
  fixture.observer.retries.push_back({t0() + 2h, "relay", "A1", t0() + 6h});  // too long too, and earlier
  const Verdict& verdict = fixture.invariant("retries stay");
  CHECK(verdict.message.starts_with("2 violations"));
  CHECK(verdict.at == t0() + 2h);
}
