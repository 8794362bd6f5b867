// relaysim import maillog: a Postfix log read into its traffic, its servers' behaviour in time
// windows, and each recipient's end; lines it cannot read are counted and shown.

#include <string>

#include <catch2/catch.hpp>

#include "scenario/import.hpp"
#include "support/import_warnings.hpp"

using namespace relaysim::scenario::import;
using nlohmann::ordered_json;

namespace {

// A morning at relay.acme.example: crm hands over three messages; dest.example greylists ann once,
// does not know ghost; slow.example refuses connections for a while; nowhere.example has no DNS
// for a while; a line from another program, a line Postfix never writes, a notice Postfix wrote.
const char* const morning =
    "Mar  2 09:00:01 relay postfix/smtpd[100]: connect from crm.acme.example[10.1.2.3]\n"
    "Mar  2 09:00:01 relay postfix/smtpd[100]: 4A1B2C3D4E: client=crm.acme.example[10.1.2.3]\n"
    "Mar  2 09:00:01 relay postfix/cleanup[101]: 4A1B2C3D4E: message-id=<1@crm.acme.example>\n"
    "Mar  2 09:00:01 relay postfix/qmgr[102]: 4A1B2C3D4E: from=<orders@acme.example>, size=1234, nrcpt=2 (queue "
    "active)\n"
    "Mar  2 09:00:02 relay postfix/smtp[103]: 4A1B2C3D4E: to=<ann@dest.example>, relay=mx.dest.example[192.0.2.25]:25, "
    "delay=1.1, "
    "delays=0.1/0/0.5/0.5, dsn=4.7.1, status=deferred (host mx.dest.example[192.0.2.25] said: 450 4.7.1 "
    "<ann@dest.example>: Recipient "
    "address rejected: Greylisted (in reply to RCPT TO command))\n"
    "Mar  2 09:00:02 relay postfix/smtp[103]: 4A1B2C3D4E: to=<ghost@dest.example>, "
    "relay=mx.dest.example[192.0.2.25]:25, delay=1.1, "
    "delays=0.1/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.dest.example[192.0.2.25] said: 550 5.1.1 "
    "<ghost@dest.example>: User "
    "unknown (in reply to RCPT TO command))\n"
    "Mar  2 09:00:02 relay postfix/bounce[104]: 4A1B2C3D4E: sender non-delivery notification: 5B6C7D8E9F\n"
    "Mar  2 09:00:02 relay postfix/qmgr[102]: 5B6C7D8E9F: from=<>, size=3000, nrcpt=1 (queue active)\n"
    "Mar  2 09:00:03 relay postfix/smtp[103]: 5B6C7D8E9F: to=<orders@acme.example>, "
    "relay=mx.acme.example[192.0.2.100]:25, delay=1, "
    "delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 77)\n"
    "Mar  2 09:00:03 relay kernel: [1234.5] eth0: link up\n"
    "Mar  2 09:00:03 relay postfix/smtpd[100]: 6C7D8E9F0A: client=crm.acme.example[10.1.2.3]\n"
    "Mar  2 09:00:03 relay postfix/qmgr[102]: 6C7D8E9F0A: from=<orders@acme.example>, size=900, nrcpt=1 (queue "
    "active)\n"
    "Mar  2 09:00:04 relay postfix/smtp[105]: connect to mx1.slow.example[192.0.2.51]:25: Connection refused\n"
    "Mar  2 09:00:04 relay postfix/smtp[105]: 6C7D8E9F0A: to=<bob@slow.example>, relay=none, delay=1, delays=0/0/1/0, "
    "dsn=4.4.1, "
    "status=deferred (connect to mx2.slow.example[192.0.2.52]:25: Connection refused)\n"
    "Mar  2 09:00:04 relay postfix/smtpd[100]: 7D8E9F0A1B: client=crm.acme.example[10.1.2.3]\n"
    "Mar  2 09:00:04 relay postfix/qmgr[102]: 7D8E9F0A1B: from=<orders@acme.example>, size=900, nrcpt=1 (queue "
    "active)\n"
    "Mar  2 09:00:05 relay postfix/smtp[106]: 7D8E9F0A1B: to=<carol@nowhere.example>, relay=none, delay=1, "
    "delays=0/0/1/0, dsn=4.4.3, "
    "status=deferred (Host or domain name not found. Name service error for name=nowhere.example type=MX: Host not "
    "found, try again)\n"
    "Mar  2 09:00:06 relay postfix/smtp[107]: this is not a line Postfix writes\n"
    "Mar  2 09:05:02 relay postfix/smtp[103]: 4A1B2C3D4E: to=<ann@dest.example>, relay=mx.dest.example[192.0.2.25]:25, "
    "delay=301, "
    "delays=300/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 78)\n"
    "Mar  2 09:05:04 relay postfix/qmgr[102]: 6C7D8E9F0A: to=<bob@slow.example>, relay=none, delay=301, "
    "delays=301/0/0/0, dsn=4.4.1, "
    "status=deferred (delivery temporarily suspended: connect to mx2.slow.example[192.0.2.52]:25: Connection refused)\n"
    "Mar  2 09:10:05 relay postfix/smtp[106]: 7D8E9F0A1B: to=<carol@nowhere.example>, "
    "relay=mx.nowhere.example[192.0.2.60]:25, delay=601, "
    "delays=600/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 5)\n"
    "Mar  2 09:20:04 relay postfix/smtp[105]: 6C7D8E9F0A: to=<bob@slow.example>, "
    "relay=mx1.slow.example[192.0.2.51]:25, delay=1201, "
    "delays=1200/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9)\n";

Imported import(std::string_view text, MaillogOptions options = {}) {
  if (options.name.empty()) options.name = "maillog";
  return import_maillog(text, options, std::nullopt);
}

using relaysim::testing::warned;

const ordered_json* expectation_for(const Imported& imported, const std::string& to, const std::string& subject) {
  for (const auto& item : imported.scenario["expect"]) {
    if (item["to"] == to && item["subject_is"] == subject) return &item;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("maillog: each queue id's message is sent again by its client at its arrival", "[scenario][import]") {
  const Imported imported = import(morning);
  const ordered_json& scenario = imported.scenario;
  CHECK(scenario["start"] == "2026-03-02T09:00:00Z");
  const ordered_json& crm = scenario["nodes"]["crm.acme.example"];
  CHECK(crm["type"] == "smtp_sender");
  CHECK(crm["server"] == "relay");
  CHECK(scenario["hosts"]["crm.acme.example"]["addresses"][0] == "10.1.2.3");
  REQUIRE(crm["messages"].size() == 3);  // the notice Postfix wrote is the relay's own to write
  const ordered_json& first = crm["messages"][0];
  CHECK(first["at"] == "2026-03-02T09:00:01Z");
  CHECK(first["from"] == "orders@acme.example");
  CHECK(first["to"] == ordered_json({"ann@dest.example", "ghost@dest.example"}));
  CHECK(first["subject"] == "Postfix queue id 4A1B2C3D4E");
  CHECK(scenario["nodes"]["relay"]["config"]["mynetworks"] == ordered_json({"10.1.2.3"}));
}

TEST_CASE("maillog: a greylisting reply holds until halfway to the retry that passed - a 5xx from its first sight on",
          "[scenario][import]") {
  const Imported imported = import(morning);
  const ordered_json& rules = imported.scenario["nodes"]["mx.dest.example"]["behaviour"]["rules"];
  REQUIRE(rules.size() == 2);
  CHECK(rules[0]["stage"] == "rcpt");
  CHECK(rules[0]["match"]["recipient"] == "ann@dest.example");
  CHECK(rules[0]["reply"] == "450 4.7.1 <ann@dest.example>: Recipient address rejected: Greylisted");
  CHECK_FALSE(rules[0]["match"].contains("from"));
  CHECK(rules[0]["match"]["until"] == "2026-03-02T09:02:32Z");  // halfway from 09:00:02 to 09:05:02
  CHECK(rules[1]["match"]["recipient"] == "ghost@dest.example");
  CHECK(rules[1]["reply"] == "550 5.1.1 <ghost@dest.example>: User unknown");
  CHECK_FALSE(rules[1]["match"].contains("until"));
  CHECK(imported.scenario["dns"]["dest.example"]["MX"] == ordered_json({{10, "mx.dest.example"}}));
  CHECK(imported.scenario["hosts"]["mx.dest.example"]["addresses"][0] == "192.0.2.25");
}

TEST_CASE("maillog: refused connections become faults in windows - the servers tried in order become the MX records",
          "[scenario][import]") {
  const Imported imported = import(morning);
  const ordered_json& faults = imported.scenario["faults"];
  std::vector<ordered_json> refusals;
  for (const auto& fault : faults) {
    if (fault["kind"] == "refuse") refusals.push_back(fault);
  }
  REQUIRE(refusals.size() == 2);
  CHECK(refusals[0]["destination"] == "mx1.slow.example");
  CHECK_FALSE(refusals[0].contains("from"));
  CHECK(refusals[0]["until"] == "2026-03-02T09:10:04Z");  // halfway from 09:00:04 to the delivery at 09:20:04
  CHECK(refusals[1]["destination"] == "mx2.slow.example");
  CHECK_FALSE(refusals[1].contains("until"));  // never seen answering
  CHECK(imported.scenario["dns"]["slow.example"]["MX"] ==
        ordered_json({{10, "mx1.slow.example"}, {20, "mx2.slow.example"}}));
}

TEST_CASE("maillog: a temporary DNS failure is a fault until halfway to the delivery", "[scenario][import]") {
  const Imported imported = import(morning);
  const ordered_json* dns = nullptr;
  for (const auto& fault : imported.scenario["faults"]) {
    if (fault["kind"] == "dns") dns = &fault;
  }
  REQUIRE(dns != nullptr);
  CHECK((*dns)["name"] == "nowhere.example");
  CHECK((*dns)["type"] == "MX");
  CHECK((*dns)["error"] == "servfail");
  CHECK((*dns)["until"] == "2026-03-02T09:05:05Z");
}

TEST_CASE("maillog: each recipient's end is an expectation - attempts counted without the queue manager's deferrals",
          "[scenario][import]") {
  const Imported imported = import(morning);
  const ordered_json* ann = expectation_for(imported, "ann@dest.example", "Postfix queue id 4A1B2C3D4E");
  REQUIRE(ann != nullptr);
  CHECK((*ann)["delivered"] == true);
  CHECK((*ann)["attempts"] == ordered_json({{"min", 1}, {"max", 3}}));
  const ordered_json* ghost = expectation_for(imported, "ghost@dest.example", "Postfix queue id 4A1B2C3D4E");
  REQUIRE(ghost != nullptr);
  CHECK((*ghost)["bounced"] == "5.1.1");
  CHECK((*ghost)["attempts"] == ordered_json({{"min", 1}, {"max", 2}}));  // one either side, and a bounce needs one
  const ordered_json* bob = expectation_for(imported, "bob@slow.example", "Postfix queue id 6C7D8E9F0A");
  REQUIRE(bob != nullptr);
  CHECK((*bob)["attempts"] ==
        ordered_json({{"min", 1}, {"max", 3}}));     // the 09:05 line is the queue manager's, not an attempt
  CHECK_FALSE(imported.scenario.contains("until"));  // everything ended
}

TEST_CASE("maillog: a recipient still deferred when the log ends is expected deferred - the run stops there",
          "[scenario][import]") {
  MaillogOptions options;
  options.until = relaysim::parse_iso8601("2026-03-02T09:06:00Z");
  const Imported imported = import(morning, options);
  const ordered_json* bob = expectation_for(imported, "bob@slow.example", "Postfix queue id 6C7D8E9F0A");
  REQUIRE(bob != nullptr);
  CHECK((*bob)["deferred_at"] == "2026-03-02T09:05:05Z");
  CHECK(imported.scenario["until"] == "2026-03-02T09:06:04Z");
  CHECK(warned(imported, "lines outside --since/--until: skipped"));
}

TEST_CASE("maillog: lines it cannot read are counted and shown with their line - other programs are skipped",
          "[scenario][import]") {
  const Imported imported = import(morning);
  CHECK(warned(imported, "maillog: 1 line not understood, skipped:"));
  CHECK(warned(imported, "maillog:18: this is not a line Postfix writes"));
  CHECK(warned(imported, "1 line from programs other than Postfix"));
  CHECK(warned(imported, "1 notice Postfix wrote itself"));
}

TEST_CASE("maillog: RFC 3339 timestamps - the relay's host chosen by --relay-host - nothing usable is an error",
          "[scenario][import]") {
  const std::string log =
      "2026-03-02T10:00:00.123456+00:00 relay2 postfix/smtpd[1]: AB12CD34EF: client=app.example[10.0.0.9]\n"
      "2026-03-02T10:00:00.200000+00:00 relay2 postfix/qmgr[2]: AB12CD34EF: from=<a@app.example>, size=10, nrcpt=1 "
      "(queue active)\n"
      "2026-03-02T10:00:01+0000 relay2 postfix/smtp[3]: AB12CD34EF: to=<x@dest.example>, "
      "relay=mx.dest.example[192.0.2.25]:25, delay=1, "
      "delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n";
  MaillogOptions options;
  options.relay_host = "relay2";
  const Imported imported = import(std::string(morning) + log, options);
  CHECK(imported.scenario["nodes"]["app.example"]["messages"][0]["at"] == "2026-03-02T10:00:00.123456Z");
  CHECK(warned(imported, "from hosts other than relay2"));
  options.relay_host = "elsewhere";
  try {
    import(morning, options);
    FAIL("no error");
  } catch (const ImportError& error) {
    CHECK(std::string(error.what()).find("maillog: no message that arrived") != std::string::npos);
  }
}

TEST_CASE("maillog: lost and timed-out sessions - a refused greeting - failed TLS - a null MX", "[scenario][import]") {
  const std::string log =
      "Mar  2 09:00:00 relay postfix/smtpd[1]: 1A2B3C4D5E: client=app.example[10.0.0.9]\n"
      "Mar  2 09:00:00 relay postfix/qmgr[2]: 1A2B3C4D5E: from=<a@app.example>, size=10, nrcpt=5 (queue active)\n"
      "Mar  2 09:00:30 relay postfix/smtp[3]: 1A2B3C4D5E: to=<x@lost.example>, relay=mx.lost.example[192.0.2.70]:25, "
      "delay=30, "
      "delays=0/0/30/0, dsn=4.4.2, status=deferred (lost connection with mx.lost.example[192.0.2.70] while receiving "
      "the initial server "
      "greeting)\n"
      "Mar  2 09:10:00 relay postfix/smtp[4]: 1A2B3C4D5E: to=<y@slow.example>, relay=mx.slow.example[192.0.2.71]:25, "
      "delay=600, "
      "delays=0/0/0/600, dsn=4.4.2, status=deferred (conversation with mx.slow.example[192.0.2.71] timed out while "
      "sending end of data -- "
      "message may be sent more than once)\n"
      "Mar  2 09:00:01 relay postfix/smtp[5]: 1A2B3C4D5E: to=<z@tls.example>, relay=mx.tls.example[192.0.2.72]:25, "
      "delay=1, "
      "delays=0/0/1/0, dsn=4.7.5, status=deferred (Cannot start TLS: handshake failure)\n"
      "Mar  2 09:00:01 relay postfix/smtp[6]: 1A2B3C4D5E: to=<w@busy.example>, relay=mx.busy.example[192.0.2.73]:25, "
      "delay=1, "
      "delays=0/0/1/0, dsn=4.3.2, status=deferred (host mx.busy.example[192.0.2.73] refused to talk to me: 421 4.3.2 "
      "System not accepting "
      "network messages)\n"
      "Mar  2 09:00:01 relay postfix/smtp[7]: 1A2B3C4D5E: to=<v@null.example>, relay=none, delay=1, delays=0/0/1/0, "
      "dsn=5.1.10, "
      "status=bounced (Domain null.example does not accept mail (nullMX))\n";
  const Imported imported = import(log);
  const ordered_json& nodes = imported.scenario["nodes"];
  const ordered_json lost = nodes["mx.lost.example"]["behaviour"]["rules"][0];
  CHECK(lost["stage"] == "connect");
  CHECK(lost["drop"] == true);
  const ordered_json slow = nodes["mx.slow.example"]["behaviour"]["rules"][0];
  CHECK(slow["stage"] == "end_of_data");
  CHECK(slow["match"]["recipient"] == "y@slow.example");
  CHECK(slow["delay"] == "1h");
  const ordered_json busy = nodes["mx.busy.example"]["behaviour"]["rules"][0];
  CHECK(busy["stage"] == "connect");
  CHECK(busy["reply"] == "421 4.3.2 System not accepting network messages");
  bool tls_fault = false;
  for (const auto& fault : imported.scenario["faults"])
    tls_fault = tls_fault || (fault["kind"] == "tls" && fault["destination"] == "mx.tls.example");
  CHECK(tls_fault);
  // Deferred on a failed handshake: at `may` Postfix would have retried in plaintext.
  CHECK(nodes["relay"]["config"]["smtp_tls_policy_maps"]["tls.example"] == "encrypt");
  CHECK(warned(imported, "its TLS policy is taken to be encrypt"));
  CHECK(imported.scenario["dns"]["null.example"]["MX"] == ordered_json({{0, "."}}));
  const ordered_json* null = expectation_for(imported, "v@null.example", "Postfix queue id 1A2B3C4D5E");
  REQUIRE(null != nullptr);
  CHECK((*null)["bounced"] == "5.1.10");
  CHECK(imported.scenario["until"] == "2026-03-02T09:11:00Z");  // four recipients still deferred at the end
}
