#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "endpoint/events.hpp"
#include "scenario/observer.hpp"
#include "scenario/verdicts.hpp"
#include "scenario/world_file.hpp"
#include "smtp/dsn.hpp"
#include "support/test_world.hpp"
#include "tls/certificate.hpp"
#include "tls/crypto_context.hpp"

using namespace relaysim;
using scenario::InputError;

namespace {

// A small valid world; each test breaks one thing in it.
nlohmann::json valid_world() {
  return nlohmann::json::parse(R"({
    "seed": 3,
    "start": "2026-03-02T09:00:00Z",
    "hosts": {
      "client.example": { "addresses": ["198.51.100.10"] },
      "server.example": { "addresses": ["203.0.113.5"] }
    },
    "dns": { "server.example": { "A": ["203.0.113.5"] } },
    "nodes": {
      "server": { "host": "server.example", "type": "line_server" },
      "client": { "host": "client.example", "type": "line_client", "server": "server.example", "lines": 2 }
    }
  })");
}

std::string error_of(const nlohmann::json& document) {
  try {
    scenario::load_world(document, std::nullopt);
  } catch (const InputError& error) {
    return error.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("a valid world loads and runs to quiescence", "[scenario]") {
  auto loaded = scenario::load_world(valid_world(), std::nullopt);
  CHECK(loaded.seed == 3);
  loaded.world->start();
  CHECK(loaded.world->run_until(loaded.until) == sim::World::RunOutcome::quiescent);
  CHECK_THAT(loaded.world->status_lines()[0], Catch::Contains("answered 2/2"));
}

TEST_CASE("every input error names the JSON path, what was expected and what was found", "[scenario]") {
  SECTION("an unknown key") {
    auto document = valid_world();
    document["hostz"] = nlohmann::json::object();
    CHECK_THAT(error_of(document), Catch::StartsWith("$.hostz: expected one of the keys name, description"));
    CHECK_THAT(error_of(document), Catch::EndsWith("found unknown key \"hostz\""));
  }
  SECTION("a bad address") {
    auto document = valid_world();
    document["hosts"]["server.example"]["addresses"][0] = "203.0.113";
    CHECK(error_of(document) ==
          "$.hosts[\"server.example\"].addresses[0]: expected an IPv4 or IPv6 address, found \"203.0.113\"");
  }
  SECTION("a duplicate address is refused by the world, at the host's path") {
    auto document = valid_world();
    document["hosts"]["server.example"]["addresses"][0] = "198.51.100.10";
    CHECK(error_of(document) ==
          "$.hosts[\"server.example\"]: expected a possible world, found address 198.51.100.10 of host "
          "'server.example' already belongs to host 'client.example'");
  }
  SECTION("a node on an unknown host") {
    auto document = valid_world();
    document["nodes"]["server"]["host"] = "elsewhere.example";
    CHECK(error_of(document) ==
          "$.nodes.server.host: expected the name of a host of this world, found \"elsewhere.example\"");
  }
  SECTION("a negative latency") {
    auto document = valid_world();
    document["network"] = {{"latency", "-5ms"}};
    CHECK_THAT(error_of(document), Catch::StartsWith("$.network.latency: expected a duration such as"));
  }
  SECTION("a missing required key") {
    auto document = valid_world();
    document["nodes"]["client"].erase("server");
    CHECK(error_of(document) == "$.nodes.client.server: expected a value, found nothing (the key is required)");
  }
  SECTION("an unknown node type") {
    auto document = valid_world();
    document["nodes"]["client"]["type"] = "smtp_client";
    CHECK(error_of(document) ==
          "$.nodes.client.type: expected one of \"line_server\", \"line_client\", \"relay\", \"fake_mx\", "
          "\"mta_sts_host\", \"tls_report_collector\", \"smtp_sender\", \"salesforce\", found \"smtp_client\"");
  }
  SECTION("a fault that ends before it begins") {
    auto document = valid_world();
    document["faults"] = nlohmann::json::parse(R"([{ "kind": "refuse", "from": "+5m", "until": "+1m" }])");
    CHECK(error_of(document) == "$.faults[0].until: expected an instant after \"from\", found \"+1m\"");
  }
  SECTION("a crash of a node that does not exist") {
    auto document = valid_world();
    document["faults"] = nlohmann::json::parse(R"([{ "kind": "crash", "node": "relay", "at": "+1m" }])");
    CHECK(error_of(document) == "$.faults[0]: expected a possible world, found unknown process 'relay'");
  }
  SECTION("an A record holding an IPv6 address") {
    auto document = valid_world();
    document["dns"]["server.example"]["A"][0] = "2001:db8::1";
    CHECK(error_of(document) == "$.dns[\"server.example\"].A[0]: expected an IPv4 address, found \"2001:db8::1\"");
  }
}

TEST_CASE("broken JSON is an input error at its line and column", "[scenario]") {
  CHECK_THROWS_AS(scenario::parse_json_text("{ \"seed\": ", "broken.json"), InputError);
  CHECK_THROWS_WITH(scenario::parse_json_text("{ \"seed\": ", "broken.json"),
                    Catch::StartsWith("line 1, column 11: expected valid JSON, found broken.json does not parse"));
  CHECK_THROWS_WITH(scenario::parse_json_text("{\n  \"name\": \"x\",\n  \"seed\": 1,\n}\n", "trailing.json"),
                    Catch::StartsWith("line 4, column 1: expected valid JSON, found trailing.json does not parse: "
                                      "syntax error while parsing object key - unexpected '}'"));
}

TEST_CASE("a scenario file that is missing, a directory or empty says which, and $schema is welcome", "[scenario]") {
  const std::string directory = RELAYSIM_SOURCE_DIR "/scenarios";
  const auto error_of = [](const std::string& path) {
    try {
      scenario::read_json_file(path, "a scenario file");
    } catch (const InputError& error) {
      return std::string(error.what());
    }
    return std::string("(read)");
  };
  CHECK(error_of(directory) == "$: expected a scenario file, found " + directory + " is a directory");
  CHECK(error_of(directory + "/none.json") ==
        "$: expected a scenario file, found no file at " + directory + "/none.json");
  const std::string empty = std::filesystem::temp_directory_path() / "relaysim-empty.json";
  { std::ofstream(empty) << " \n"; }
  CHECK(error_of(empty) == "$: expected a scenario file, found " + empty + " is empty");
  std::filesystem::remove(empty);
  // An editor's "$schema" is accepted at the top, and only there.
  const nlohmann::json named = nlohmann::json::parse(R"({ "$schema": "docs/scenario.schema.json", "name": "x" })");
  CHECK_NOTHROW(scenario::JsonValue(named, "$").allow_keys({"name"}));
  const nlohmann::json nested = nlohmann::json::parse(R"({ "$schema": "x" })");
  CHECK_THROWS_AS(scenario::JsonValue(nested, "$.nodes").allow_keys({"name"}), InputError);
}

namespace {

// Loads a bundled world and runs it to its end.
scenario::LoadedWorld run_bundled(const std::string& file) {
  scenario::LoadedWorld loaded =
      scenario::load_world_file(std::string(RELAYSIM_SOURCE_DIR "/scenarios/") + file, std::nullopt);
  loaded.world->start();
  loaded.world->run_until(loaded.until);
  return loaded;
}

}  // namespace

TEST_CASE(
    "a world file with a relay, fake MX servers and a sender: mail is delivered after greylisting and one bounce comes "
    "back",
    "[scenario][relay]") {
  const scenario::LoadedWorld loaded = run_bundled("relay-greylisting.json");
  const fake_mx::MailStore& dest = *loaded.mail_stores.at("dest-mx");
  const fake_mx::MailStore& acme = *loaded.mail_stores.at("acme-mx");
  CHECK(dest.mailbox("ann@dest.example").size() == 1);
  CHECK(dest.mailbox("bob@dest.example").size() == 1);
  REQUIRE(acme.messages().size() == 1);
  const auto report = smtp::parse_dsn(acme.messages()[0].content);
  REQUIRE(report);
  CHECK(report->recipients.at(0).final_recipient == "ghost@dest.example");
  CHECK(report->recipients.at(0).status == "5.1.1");
}

TEST_CASE("world file mistakes in relay, fake MX and sender nodes name the path", "[scenario]") {
  const auto error_of = [](const char* nodes) -> std::string {
    const std::string text =
        std::string(
            R"({ "start": "2026-03-02T09:00:00Z", "hosts": { "h": { "addresses": ["192.0.2.1"] } }, "nodes": )") +
        nodes + "}";
    try {
      (void)scenario::load_world(nlohmann::json::parse(text), std::nullopt);
    } catch (const scenario::InputError& error) {
      return error.what();
    }
    return "(no error)";
  };
  CHECK(error_of(R"({ "r": { "host": "h", "type": "relay", "config": { "mynetwork": [] } } })")
            .starts_with("$.nodes.r.config.mynetwork: expected one of the keys"));
  CHECK(error_of(R"({ "m": { "host": "h", "type": "fake_mx", "behaviour": { "rules": [ { "stage": "rcpt" } ] } } })")
            .starts_with("$.nodes.m.behaviour.rules[0]: expected exactly one action"));
  CHECK(
      error_of(
          R"({ "s": { "host": "h", "type": "smtp_sender", "server": "x", "messages": [ { "from": "a@b.example", "to": ["nobody"] } ] } })")
          .starts_with("$.nodes.s.messages[0].to[0]: expected an address"));
  CHECK(
      error_of(
          R"({ "s": { "host": "h", "type": "smtp_sender", "server": "x", "messages": [ { "from": "a@b.example", "to": [] } ] } })")
          .starts_with("$.nodes.s.messages[0].to: expected at least one address"));
  // An MTA-STS policy host: HTTPS only, a policy or a body, mx patterns under enforce and testing.
  CHECK(error_of(R"({ "p": { "host": "h", "type": "mta_sts_host", "policy": { "mode": "enforce", "mx": ["mx"] } } })")
            .starts_with("$.nodes.p.tls: expected"));
  CHECK(error_of(R"({ "p": { "host": "h", "type": "mta_sts_host", "tls": { "certificate": "c" } } })")
            .starts_with("$.nodes.p: expected a \"policy\" (or a \"body\")"));
  CHECK(error_of(R"({ "p": { "host": "h", "type": "mta_sts_host", "policy": { "mode": "enforce" } } })")
            .starts_with("$.nodes.p.policy: expected at least one MX host pattern (\"mx\") for enforce or testing"));
  CHECK(error_of(R"({ "p": { "host": "h", "type": "mta_sts_host", "policy": { "mode": "strict", "mx": ["mx"] } } })")
            .starts_with("$.nodes.p.policy.mode: expected one of"));
  CHECK(
      error_of(
          R"({ "p": { "host": "h", "type": "mta_sts_host", "body": "x", "changes": [ { "at": "+1h", "status": 99 } ] } })")
          .starts_with("$.nodes.p.changes[0].status: expected"));
  // A TLS report collector: HTTPS only, a path that is a path, a status that is an answer.
  CHECK(error_of(R"({ "c": { "host": "h", "type": "tls_report_collector" } })").starts_with("$.nodes.c.tls: expected"));
  CHECK(error_of(R"({ "c": { "host": "h", "type": "tls_report_collector", "path": "v1" } })")
            .starts_with("$.nodes.c.path: expected a path that starts with \"/\""));
  CHECK(error_of(R"({ "c": { "host": "h", "type": "tls_report_collector", "status": 101 } })")
            .starts_with("$.nodes.c.status: expected"));
  CHECK(error_of(R"({ "c": { "host": "h", "type": "tls_report_collector", "rua": "x" } })")
            .starts_with("$.nodes.c.rua: expected one of the keys"));
}

TEST_CASE("a two-hour MX outage: every message delivered after it, one delay notice each before", "[scenario][relay]") {
  const scenario::LoadedWorld loaded = run_bundled("relay-mx-outage.json");
  const fake_mx::MailStore& dest = *loaded.mail_stores.at("dest-mx");
  const fake_mx::MailStore& acme = *loaded.mail_stores.at("acme-mx");
  REQUIRE(dest.mailbox("ann@dest.example").size() == 5);
  for (const fake_mx::StoredMessage* message : dest.mailbox("ann@dest.example")) {
    CHECK(message->received >= loaded.start + std::chrono::hours(2));  // not before the MX came back
  }
  REQUIRE(acme.messages().size() == 5);
  for (const fake_mx::StoredMessage& notice : acme.messages()) {
    const auto report = smtp::parse_dsn(notice.content);
    REQUIRE(report);
    CHECK(report->recipients.at(0).action == smtp::DsnAction::delayed);
    CHECK(notice.received >= loaded.start + std::chrono::hours(1));
  }
}

TEST_CASE(
    "world files forge TLS material: verified STARTTLS from sender to relay to MX, and an expired MX certificate "
    "refused",
    "[scenario][relay][tls]") {
  for (const bool expired : {false, true}) {
    CAPTURE(expired);
    nlohmann::json document = nlohmann::json::parse(R"({
      "seed": 4, "start": "2026-03-02T09:00:00Z",
      "hosts": {
        "app.acme.example": { "addresses": ["10.1.2.3"] },
        "relay.acme.example": { "addresses": ["203.0.113.10"] },
        "mx.dest.example": { "addresses": ["192.0.2.25"] }
      },
      "dns": {
        "relay.acme.example": { "A": ["203.0.113.10"] },
        "dest.example": { "MX": [[10, "mx.dest.example"]] },
        "mx.dest.example": { "A": ["192.0.2.25"] }
      },
      "tls": {
        "public-ca": { "authority": true },
        "relay-cert": { "issuer": "public-ca", "names": ["relay.acme.example"] },
        "mx-cert": { "issuer": "public-ca", "names": ["mx.dest.example"] }
      },
      "nodes": {
        "relay": { "host": "relay.acme.example", "type": "relay",
                   "tls": { "certificate": "relay-cert", "trust": ["public-ca"] },
                   "config": { "myhostname": "relay.acme.example", "mynetworks": ["10.1.0.0/16"], "smtp_tls_security_level": "verify" } },
        "mx": { "host": "mx.dest.example", "type": "fake_mx", "tls": { "certificate": "mx-cert" },
                "behaviour": { "hostname": "mx.dest.example", "starttls": true } },
        "app": { "host": "app.acme.example", "type": "smtp_sender", "server": "relay.acme.example",
                 "tls": "required", "verify": true, "trust": ["public-ca"],
                 "messages": [ { "from": "news@acme.example", "to": ["ann@dest.example"] } ] }
      }
    })");
    if (expired) {
      document["tls"]["mx-cert"]["not_before"] = "-90d";
      document["tls"]["mx-cert"]["not_after"] = "-1d";
    }
    scenario::LoadedWorld loaded = scenario::load_world(document, std::nullopt);
    testing::TraceRecorder trace;
    loaded.world->add_trace_sink(trace);
    loaded.world->start();
    loaded.world->run_until(loaded.start + std::chrono::minutes(4));
    const auto results = trace.of_kind("sender.result");
    REQUIRE(results.size() == 1);
    CHECK_THAT(results[0].line, Catch::Contains("\"outcome\":\"delivered\""));  // the relay took it over verified TLS
    const auto client_tls = trace.of_kind("smtp.client.tls");
    REQUIRE(!client_tls.empty());
    CHECK_THAT(client_tls[0].line, Catch::Contains("\"verified\":true"));
    const fake_mx::MailStore& mx = *loaded.mail_stores.at("mx");
    if (expired) {
      CHECK(mx.messages().empty());
      const auto outcomes = trace.of_kind("relay.outcome");
      REQUIRE(!outcomes.empty());
      CHECK_THAT(outcomes[0].line, Catch::Contains("\"status\":\"4.7.5\""));
    } else {
      REQUIRE(mx.messages().size() == 1);
      CHECK(mx.messages()[0].tls.active);
      CHECK_THAT(trace.of_kind("relay.outcome")[0].line, Catch::Contains("\"tls_verified\":true"));
    }
  }
}

TEST_CASE(
    "the bundled Salesforce world: relayed with verified TLS and auth, greylisted then delivered, a contact marked "
    "bounced",
    "[scenario][salesforce]") {
  const scenario::LoadedWorld loaded = run_bundled("quickstart.json");
  const fake_mx::MailStore& dest = *loaded.mail_stores.at("dest-mx");
  const salesforce::OrgState& org = *loaded.orgs.at("salesforce");
  CHECK(dest.mailbox("ann@dest.example").size() == 1);
  CHECK(dest.mailbox("bob@dest.example").size() == 1);
  CHECK(dest.mailbox("admin@dest.example").size() == 1);
  CHECK(dest.mailbox("admin@dest.example")[0]->client.address.to_string() == "13.108.0.10");  // Salesforce's own path
  CHECK(org.contact_bounced("ghost@dest.example"));
  CHECK(org.bounced_contacts.size() == 1);
  for (const salesforce::LogEntry* entry : org.log_for("ann@dest.example")) {
    if (entry->event == salesforce::EmailLogEvent::delivered) CHECK(entry->tls_verified);
  }
}

TEST_CASE(
    "TLS material as PEM: an administrator's certificate and key served, a CA trusted without its key, mistakes named",
    "[scenario][tls]") {
  // Material made outside the world, as an administrator's files would be.
  tls::CryptoContext crypto(42);
  tls::Forge forge(crypto);
  const Instant start = *parse_iso8601("2026-03-02T09:00:00Z");
  tls::CertificateSpec authority_spec{"Corp Root", {},    start - days(10), start + days(3650), tls::KeyType::ec_p256,
                                      true,        "Corp"};
  const auto authority = forge.certificate_authority(authority_spec);
  tls::CertificateSpec relay_spec{"relay.acme.example",
                                  {"relay.acme.example"},
                                  start - days(1),
                                  start + days(90),
                                  tls::KeyType::ec_p256,
                                  false,
                                  "Corp"};
  const auto relay = forge.issue(relay_spec, authority.get());

  nlohmann::json document = nlohmann::json::parse(R"({
    "seed": 4, "start": "2026-03-02T09:00:00Z",
    "hosts": { "sfdc": { "addresses": ["13.108.0.10"] }, "relay.acme.example": { "addresses": ["198.51.100.10"] } },
    "nodes": {
      "relay": { "host": "relay.acme.example", "type": "fake_mx", "tls": { "certificate": "relay" },
                 "behaviour": { "hostname": "relay.acme.example", "starttls": true } },
      "sfdc": { "host": "sfdc", "type": "salesforce", "tls": { "trust": ["corp-root"] },
                "org": { "relays": [{ "name": "corp", "host": "relay.acme.example", "tls": "RequiredVerify" }], "filters": [{ "relay": "corp" }] },
                "traffic": [{ "at": "+1m", "from": "sales@acme.example", "to": ["ann@dest.example"] }] }
    },
    "expect": [{ "to": "ann@dest.example", "email_log": "Delivered", "tls_verified": true }]
  })");
  document["tls"]["corp-root"] = {{"certificate_pem", authority->certificate_pem()}};
  document["tls"]["relay"] = {{"certificate_pem", relay->certificate_pem()}, {"key_pem", relay->key_pem()}};
  scenario::LoadedWorld loaded = scenario::load_world(document, std::nullopt);
  loaded.world->start();
  loaded.world->run_until(loaded.start + std::chrono::minutes(5));
  const std::vector<const salesforce::LogEntry*> log = loaded.orgs.at("sfdc")->log_for("ann@dest.example");
  REQUIRE(log.size() == 2);
  CHECK(log[1]->event == salesforce::EmailLogEvent::delivered);
  CHECK(log[1]->tls_verified);

  nlohmann::json keyless = document;
  keyless["tls"]["relay"].erase("key_pem");
  CHECK(error_of(keyless) ==
        "$.nodes.relay.tls.certificate: expected a certificate with its private key (\"key_pem\" or \"key_file\"), "
        "found \"relay\"");
  nlohmann::json garbled = document;
  garbled["tls"]["corp-root"]["certificate_pem"] =
      "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  CHECK_THAT(error_of(garbled), Catch::StartsWith("$.tls[\"corp-root\"]: expected a PEM certificate"));
  nlohmann::json missing = document;
  missing["tls"]["corp-root"] = {{"certificate_file", "no-such-dir/root.pem"}};
  CHECK_THAT(error_of(missing),
             Catch::StartsWith("$.tls[\"corp-root\"].certificate_file: expected a readable PEM file"));
}

TEST_CASE(
    "the dialogue option traces every SMTP command and reply at both ends with content as its size and credentials "
    "hidden - off it changes nothing",
    "[scenario][trace]") {
  struct Dialogue final : sim::TraceSink {
    std::vector<std::string> lines;  // "node sent|received C|S: line"
    void on_event(const io::TraceEvent& event, std::string_view) override {
      if (const auto* line = event.as<endpoint::events::DialogueLine>()) {
        lines.push_back(std::string(event.node) + (line->sent ? " sent " : " received ") +
                        (line->from_client ? "C: " : "S: ") + std::string(line->line));
      }
    }
  };
  const auto run = [](bool dialogue, Dialogue& sink) {
    scenario::LoadedWorld loaded =
        scenario::load_world_file(RELAYSIM_SOURCE_DIR "/scenarios/quickstart.json", std::nullopt);
    loaded.world->add_trace_sink(sink);
    loaded.world->trace_smtp_dialogue(dialogue);
    loaded.world->start();
    loaded.world->run_until(loaded.until);
    return loaded.world->digest();
  };
  Dialogue off, on, again;
  const std::string plain = run(false, off);
  CHECK(off.lines.empty());
  CHECK(plain == run_bundled("quickstart.json").world->digest());  // the option's default is the trace as it was
  const std::string traced = run(true, on);
  CHECK(traced != plain);
  CHECK(run(true, again) == traced);  // deterministic with it too
  const auto has = [&](const std::string& text) {
    return std::find(on.lines.begin(), on.lines.end(), text) != on.lines.end();
  };
  // Both ends of Salesforce's hand-over to the relay, and the relay's delivery to the MX.
  CHECK(has("salesforce sent C: EHLO sfdc-mta"));
  CHECK(has("relay received C: EHLO sfdc-mta"));
  CHECK(has("relay sent S: 220 2.0.0 Ready to start TLS"));
  CHECK(has("relay sent C: RCPT TO:<ann@dest.example>"));
  CHECK(has("dest-mx received C: RCPT TO:<ann@dest.example>"));
  CHECK(has("salesforce sent C: ."));
  // Content is one line giving its size, at both ends the same; credentials never appear.
  std::vector<std::string> sizes;
  for (const std::string& line : on.lines) {
    if (line.find("bytes of message content]") != std::string::npos) sizes.push_back(line.substr(line.find("C: ")));
    CHECK(line.find("Subject:") == std::string::npos);
    CHECK(line.find("AHNmZGMAczNjcmV0") == std::string::npos);  // base64 of the relay password
  }
  REQUIRE(sizes.size() >= 2);
  CHECK(std::count(sizes.begin(), sizes.end(), sizes.front()) >= 2);  // what Salesforce sent is what the relay read
  CHECK(has("salesforce sent C: AUTH PLAIN [credentials hidden]"));
}

namespace {

// A bundled scenario run with every relay broken as `variant`, checked.
scenario::RunResult run_broken(const std::string& path, relay::BrokenVariant variant) {
  scenario::LoadedWorld loaded =
      scenario::load_world(scenario::read_world_document(path), std::nullopt, scenario::directory_of(path), variant);
  scenario::RunObserver observer;
  loaded.world->add_trace_sink(observer);
  loaded.world->start();
  const bool quiescent = loaded.world->run_until(loaded.until) == sim::World::RunOutcome::quiescent;
  return scenario::check_run(loaded, observer, quiescent);
}

scenario::Verdict tls_invariant(const scenario::RunResult& result) {
  for (const scenario::Verdict& verdict : result.invariants) {
    if (verdict.name.starts_with("TLS settings")) return verdict;
  }
  FAIL("no TLS settings invariant");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE(
    "DANE: a relay that ignores TLSA records hands a DANE-protected MX mail in plaintext and the TLS invariant "
    "catches it",
    "[scenario][dane]") {
  const std::string path = RELAYSIM_SOURCE_DIR "/scenarios/dane-starttls-stripped.json";
  const auto run = [&](relay::BrokenVariant variant) { return run_broken(path, variant); };
  const scenario::RunResult kept = run(relay::BrokenVariant::none);
  CHECK(kept.passed());
  CHECK(tls_invariant(kept).passed);

  const scenario::RunResult broken = run(relay::BrokenVariant::tlsa_ignored);
  CHECK_FALSE(broken.passed());
  const scenario::Verdict verdict = tls_invariant(broken);
  CHECK_FALSE(verdict.passed);
  CHECK(verdict.message.find("to ann@dest.example at mx.dest.example[192.0.2.25]:25 in plaintext despite its "
                             "DNSSEC-validated TLSA records") != std::string::npos);
}

TEST_CASE(
    "MTA-STS: a relay that ignores MTA-STS hands an enforce domain's MX mail over unverified TLS and the TLS "
    "invariant catches it",
    "[scenario][mta-sts]") {
  const std::string path = RELAYSIM_SOURCE_DIR "/scenarios/mta-sts-mx-missing-from-policy.json";
  const scenario::RunResult kept = run_broken(path, relay::BrokenVariant::none);
  CHECK(kept.passed());
  CHECK(tls_invariant(kept).passed);

  const scenario::RunResult broken = run_broken(path, relay::BrokenVariant::mta_sts_ignored);
  CHECK_FALSE(broken.passed());
  const scenario::Verdict verdict = tls_invariant(broken);
  CHECK_FALSE(verdict.passed);
  CHECK(verdict.message.find("to bea@bank.example at mx.bank.example[192.0.2.80]:25 over TLS with an unverified "
                             "certificate under the enforce MTA-STS policy of bank.example") != std::string::npos);
}
