// The retry policy and the schedule, as pure functions of virtual time; and DSNs written and read back.

#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "relay/id_table.hpp"
#include "relay/schedule.hpp"
#include "smtp/dsn.hpp"
#include "support/test_world.hpp"

using namespace relaysim;
using namespace relaysim::testing;
using namespace std::chrono_literals;

TEST_CASE("backoff: the message's age clamped to [minimal, maximal], jitter inside the bounds, the last try at expiry",
          "[relay][retry][unit]") {
  relay::RetryPolicy policy;
  policy.jitter_percent = 0;
  io::Random random(1);
  const Instant arrival = t0();
  CHECK(policy.after_failure(arrival, arrival, false, random).delay == 300s);
  CHECK(policy.after_failure(arrival, arrival + 600s, false, random).delay == 600s);
  CHECK(policy.after_failure(arrival, arrival + 2h, false, random).delay == 4000s);
  const relay::RetryDecision last = policy.after_failure(arrival, arrival + 5 * 24h - 10min, false, random);
  CHECK(last.last_attempt);
  CHECK(last.next_attempt == arrival + 5 * 24h);
  // Notifications use bounce_queue_lifetime.
  policy.bounce_lifetime = 1h;
  CHECK(policy.after_failure(arrival, arrival + 50min, true, random).next_attempt == arrival + 1h);

  policy.jitter_percent = 10;
  std::set<Duration> seen;
  for (int i = 0; i < 200; ++i) {
    const Duration delay = policy.after_failure(arrival, arrival + 1000s, false, random).delay;
    CHECK(delay >= 900s);
    CHECK(delay <= 1100s);
    seen.insert(delay);
    const Duration low = policy.after_failure(arrival, arrival, false, random).delay;
    CHECK(low >= 300s);  // jitter never goes below the minimum
  }
  CHECK(seen.size() > 10);
}

TEST_CASE("the schedule hands out what is due, earliest first, and says when to wake next", "[relay][retry][unit]") {
  const relay::QueueId a{1, 0}, b{2, 0}, c{3, 0};
  relay::Schedule schedule;
  CHECK(!schedule.next_due());
  schedule.set(b, t0() + 10s);
  schedule.set(a, t0() + 5s);
  schedule.set(c, t0() + 20s);
  schedule.set(b, t0() + 30s);  // moved, not duplicated
  CHECK(schedule.size() == 3);
  CHECK(*schedule.next_due() == t0() + 5s);
  CHECK(schedule.take_due(t0() + 25s, 10) == std::vector<relay::QueueId>{a, c});
  CHECK(*schedule.next_due() == t0() + 30s);
  schedule.erase(b);
  CHECK(!schedule.next_due());
  for (std::uint32_t i = 0; i < 5; ++i) schedule.set(relay::QueueId{9, i}, t0());
  CHECK(schedule.take_due(t0(), 2).size() == 2);  // bounded per call
  CHECK(schedule.size() == 3);
}

TEST_CASE("the schedule agrees with an ordered set under any mix of sets, moves, erases and takes",
          "[relay][retry][unit]") {
  // The schedule leaves stale entries behind when a time moves; the model is the plain ordered
  // index it replaces. Many moves per id exercise the compaction as well.
  relay::Schedule schedule;
  std::set<std::pair<Instant, relay::QueueId>> model;
  std::map<relay::QueueId, Instant> due;
  std::uint64_t state = 12345;
  const auto next = [&state](std::uint64_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % bound;
  };
  Instant now = t0();
  for (int step = 0; step < 200'000; ++step) {
    const relay::QueueId id{next(300), static_cast<std::uint32_t>(next(2))};
    const std::uint64_t action = next(10);
    if (action < 6) {
      const Instant when = now + std::chrono::seconds(next(100));
      if (const auto old = due.find(id); old != due.end()) model.erase({old->second, id});
      due[id] = when;
      model.insert({when, id});
      schedule.set(id, when);
    } else if (action < 8) {
      if (const auto old = due.find(id); old != due.end()) {
        model.erase({old->second, id});
        due.erase(old);
      }
      schedule.erase(id);
    } else {
      now += std::chrono::seconds(next(30));
      const std::size_t limit = 1 + next(20);
      std::vector<relay::QueueId> expected;
      while (!model.empty() && expected.size() < limit && model.begin()->first <= now) {
        expected.push_back(model.begin()->second);
        due.erase(model.begin()->second);
        model.erase(model.begin());
      }
      REQUIRE(schedule.take_due(now, limit) == expected);
    }
    REQUIRE(schedule.size() == model.size());
    REQUIRE(schedule.next_due() == (model.empty() ? std::nullopt : std::optional<Instant>(model.begin()->first)));
  }
}

TEST_CASE("the id table agrees with std::map under inserts and erases, through growth and wrap-around",
          "[relay][queue][unit]") {
  relay::IdTable<int> table;
  std::map<relay::QueueId, int> model;
  std::uint64_t state = 99;
  const auto next = [&state](std::uint64_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % bound;
  };
  for (int step = 0; step < 300'000; ++step) {
    // Few distinct ids (at most 4,000), so collisions, probe chains and back-shifts are frequent.
    const relay::QueueId id{next(2000), static_cast<std::uint32_t>(next(2))};
    if (next(3) == 0) {
      CHECK(table.erase(id) == (model.erase(id) > 0));
    } else {
      const auto [value, added] = table.try_emplace(id, step);
      const auto [known, inserted] = model.try_emplace(id, step);
      REQUIRE(added == inserted);
      REQUIRE(*value == known->second);
    }
    REQUIRE(table.size() == model.size());
    if (step % 1000 == 0) {
      std::map<relay::QueueId, int> seen;
      table.for_each([&seen](const relay::QueueId& key, int value) { seen.emplace(key, value); });
      REQUIRE(seen == model);
      for (const auto& [key, value] : model) REQUIRE(table.find(key) != nullptr);
    }
  }
}

TEST_CASE("queue ids: 22 hex digits held as two integers, in the same order as their text", "[relay][queue][unit]") {
  const auto id = relay::QueueId::parse("064C06CFCC0CB8000086BA");
  REQUIRE(id);
  CHECK(id->to_string() == "064C06CFCC0CB8000086BA");
  CHECK(*relay::QueueId::parse("064C06CFCC0CB8000086BA") < *relay::QueueId::parse("064C06CFCC0CB8000086BB"));
  CHECK(*relay::QueueId::parse("064C06CFCC0CB8FFFFFFFF") < *relay::QueueId::parse("064C06CFCC0CB900000000"));
  CHECK(!relay::QueueId::parse("064c06cfcc0cb8000086ba"));  // lower case is not what the queue writes
  CHECK(!relay::QueueId::parse("short"));
  CHECK(!relay::QueueId::parse("../etc/passwd000000000"));
  CHECK(!relay::QueueId::parse("064C06CFCC0CB8000086BG"));
  CHECK(!relay::QueueId::parse("064C06CFCC0CB8000086B@"));
  CHECK(relay::QueueId{0xFFFFFFFFFFFFFFull, 0xFFFFFFFFu}.to_string() == "FFFFFFFFFFFFFFFFFFFFFF");
  CHECK(relay::QueueId{0, 1}.to_string() == "0000000000000000000001");
}

TEST_CASE("a DSN reads back field by field, and nothing in a diagnostic can inject a field", "[relay][dsn][unit]") {
  smtp::DsnMessage dsn;
  dsn.report.reporting_mta = "relay.acme.example";
  dsn.report.queue_id = "ABC123";
  dsn.report.envelope_id = "sf-42";
  dsn.report.arrival_date = format_rfc5322(t0());
  smtp::DsnRecipient ann;
  ann.final_recipient = "ann@dest.example";
  ann.original_recipient = "Ann@Dest.example";
  ann.action = smtp::DsnAction::failed;
  ann.status = "5.1.1";
  ann.remote_mta = "mx1.dest.example";
  ann.diagnostic = "550 5.1.1 unknown\r\nAction: delivered";  // a hostile reply
  ann.last_attempt_date = format_rfc5322(t0() + 1min);
  smtp::DsnRecipient bob = ann;
  bob.final_recipient = "bob@dest.example";
  bob.original_recipient.clear();
  bob.diagnostic = "550 5.7.1 no";
  dsn.report.recipients = {ann, bob};
  dsn.to = "bounces+123@bnc.salesforce.example";
  dsn.date = t0() + 1min;
  dsn.message_id = "ABC124@relay.acme.example";
  dsn.original = "Subject: hi\r\nFrom: <a@acme.example>\r\n\r\nthe body\r\n";

  const std::string full = smtp::compose_dsn(dsn);
  CHECK_THAT(full, Catch::StartsWith("From: MAILER-DAEMON@relay.acme.example (Mail Delivery System)\r\n"));
  CHECK_THAT(full, Catch::Contains("To: <bounces+123@bnc.salesforce.example>\r\n"));
  CHECK_THAT(full, Catch::Contains("Auto-Submitted: auto-replied\r\n"));
  CHECK_THAT(full, Catch::Contains("\r\nthe body\r\n"));
  CHECK(full.find("\n") == full.find("\r\n") + 1);  // CRLF line endings
  for (std::size_t at = full.find('\n'); at != std::string::npos; at = full.find('\n', at + 1)) {
    REQUIRE(at > 0);
    REQUIRE(full[at - 1] == '\r');
  }
  const auto report = smtp::parse_dsn(full);
  REQUIRE(report);
  CHECK(report->reporting_mta == "relay.acme.example");
  CHECK(report->queue_id == "ABC123");
  CHECK(report->envelope_id == "sf-42");
  CHECK(report->arrival_date == format_rfc5322(t0()));
  REQUIRE(report->recipients.size() == 2);
  CHECK(report->recipients[0].final_recipient == "ann@dest.example");
  CHECK(report->recipients[0].original_recipient == "Ann@Dest.example");
  CHECK(report->recipients[0].action == smtp::DsnAction::failed);  // the injected "Action:" stayed text
  CHECK(report->recipients[0].status == "5.1.1");
  CHECK(report->recipients[0].remote_mta == "mx1.dest.example");
  CHECK(report->recipients[0].diagnostic == "550 5.1.1 unknown  Action: delivered");
  CHECK(report->recipients[1].original_recipient.empty());
  CHECK(report->recipients[1].diagnostic == "550 5.7.1 no");

  dsn.headers_only = true;
  const std::string headers = smtp::compose_dsn(dsn);
  CHECK_THAT(headers, Catch::Contains("Content-Type: text/rfc822-headers"));
  CHECK_THAT(headers, !Catch::Contains("the body"));
  CHECK(smtp::parse_dsn("Subject: not a report\r\n\r\nhello\r\n") == std::nullopt);
}

TEST_CASE(
    "an internationalized DSN is RFC 6533's, as Postfix writes one: global parts, utf-8 addresses, and it reads back",
    "[relay][dsn][smtputf8][unit]") {
  smtp::DsnMessage dsn;
  dsn.report.reporting_mta = "relay.acme.example";
  dsn.report.queue_id = "ABC123";
  dsn.report.arrival_date = format_rfc5322(t0());
  smtp::DsnRecipient zoe;
  zoe.final_recipient = "zo\xc3\xab@old.example";
  zoe.original_recipient = "zo\xc3\xab@old.example";
  zoe.status = "5.6.7";
  zoe.diagnostic = "SMTPUTF8 is required, but was not offered by host mx.old.example[192.0.2.26]:25";
  smtp::DsnRecipient ann = zoe;
  ann.final_recipient = "ann@old.example";
  ann.original_recipient.clear();
  dsn.report.recipients = {zoe, ann};
  dsn.to = "sales@acme.example";
  dsn.date = t0() + 1min;
  dsn.message_id = "ABC124@relay.acme.example";
  dsn.original = "To: zo\xc3\xab@old.example\r\nSubject: hi\r\n\r\nthe body\r\n";

  const std::string plain = smtp::compose_dsn(dsn);
  CHECK_THAT(plain,
             Catch::Contains("Final-Recipient: rfc822; zo  @old.example\r\n"));  // 8-bit bytes never pass unflagged
  CHECK_THAT(plain, Catch::Contains("Content-Type: message/rfc822"));

  dsn.international = true;
  const std::string global = smtp::compose_dsn(dsn);
  // The report type stays delivery-status, as in Postfix's RFC 6533 bounces; the parts change.
  CHECK_THAT(global, Catch::Contains("Content-Type: multipart/report; report-type=delivery-status;"));
  CHECK_THAT(global, Catch::Contains("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"));
  CHECK_THAT(global,
             Catch::Contains("Content-Type: message/global-delivery-status\r\nContent-Transfer-Encoding: 8bit\r\n"));
  CHECK_THAT(
      global,
      Catch::Contains(
          "Final-Recipient: utf-8; zo\xc3\xab@old.example\r\nOriginal-Recipient: utf-8; zo\xc3\xab@old.example\r\n"));
  CHECK_THAT(global, Catch::Contains("Final-Recipient: rfc822; ann@old.example\r\n"));  // ASCII keeps its type
  CHECK_THAT(global, Catch::Contains("Content-Type: message/global\r\n"));
  const auto report = smtp::parse_dsn(global);
  REQUIRE(report);
  REQUIRE(report->recipients.size() == 2);
  CHECK(report->recipients[0].final_recipient == "zo\xc3\xab@old.example");
  CHECK(report->recipients[0].status == "5.6.7");

  dsn.headers_only = true;
  CHECK_THAT(smtp::compose_dsn(dsn), Catch::Contains("Content-Type: message/global-headers\r\n"));
}
