#include <catch2/catch.hpp>

#include "io/time.hpp"

using namespace relaysim;

TEST_CASE("ISO-8601 instants parse and print back the same", "[time]") {
  const auto instant = parse_iso8601("2026-03-02T09:00:00Z");
  REQUIRE(instant);
  CHECK(instant->unix_seconds() == 1772442000);
  CHECK(format_iso8601(*instant) == "2026-03-02T09:00:00Z");
  CHECK(format_iso8601(*instant + 250ms) == "2026-03-02T09:00:00.250Z");
  CHECK(format_iso8601(*instant + 1us) == "2026-03-02T09:00:00.000001Z");
  CHECK(format_iso8601(Instant::from_unix_seconds(0)) == "1970-01-01T00:00:00Z");
  CHECK(format_iso8601(Instant::from_unix_seconds(-1)) == "1969-12-31T23:59:59Z");
}

TEST_CASE("ISO-8601 offsets, fractions and the calendar are honoured", "[time]") {
  CHECK(*parse_iso8601("2026-03-02T10:30:00+01:30") == *parse_iso8601("2026-03-02T09:00:00Z"));
  CHECK(*parse_iso8601("2026-03-01T23:00:00-10:00") == *parse_iso8601("2026-03-02T09:00:00Z"));
  CHECK(parse_iso8601("2026-03-02T09:00:00.5Z")->unix_microseconds() % 1'000'000 == 500'000);
  CHECK(parse_iso8601("2024-02-29T00:00:00Z"));  // leap year
  CHECK_FALSE(parse_iso8601("2026-02-29T00:00:00Z"));
  CHECK_FALSE(parse_iso8601("2100-02-29T00:00:00Z"));  // century, not a leap year
  CHECK(parse_iso8601("2000-02-29T00:00:00Z"));        // 400-year rule
  CHECK_FALSE(parse_iso8601("2026-03-02T09:00:00"));   // no zone
  CHECK_FALSE(parse_iso8601("2026-13-02T09:00:00Z"));
  CHECK_FALSE(parse_iso8601("2026-03-02T24:00:00Z"));
  CHECK_FALSE(parse_iso8601("2026-03-02T09:00:00Zjunk"));
  CHECK_FALSE(parse_iso8601(""));
}

TEST_CASE("RFC 5322 dates carry the right weekday", "[time]") {
  CHECK(format_rfc5322(*parse_iso8601("2026-03-02T09:00:00Z")) == "Mon, 02 Mar 2026 09:00:00 +0000");
  CHECK(format_rfc5322(Instant::from_unix_seconds(0)) == "Thu, 01 Jan 1970 00:00:00 +0000");
  CHECK(format_rfc5322(*parse_iso8601("2026-11-29T23:59:59Z")) == "Sun, 29 Nov 2026 23:59:59 +0000");
  CHECK(format_rfc5322(*parse_iso8601("0001-01-01T00:00:00Z")) == "Mon, 01 Jan 0001 00:00:00 +0000");
  CHECK(format_rfc5322(*parse_iso8601("9999-12-31T23:59:59Z")) == "Fri, 31 Dec 9999 23:59:59 +0000");
}

TEST_CASE("durations parse the way people write them", "[time]") {
  CHECK(*parse_duration("250ms") == 250ms);
  CHECK(*parse_duration("30s") == 30s);
  CHECK(*parse_duration("5m") == 5min);
  CHECK(*parse_duration("4h") == 4h);
  CHECK(*parse_duration("5d") == days(5));
  CHECK(*parse_duration("1h30m") == 90min);
  CHECK(*parse_duration("300") == 300s);  // a bare number is seconds, as in Postfix
  CHECK(*parse_duration("0") == Duration(0));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("5x"));
  CHECK_FALSE(parse_duration("1h30"));
  CHECK_FALSE(parse_duration("-5m"));
  CHECK_FALSE(parse_duration("m"));
}

TEST_CASE("durations print in their shortest exact form", "[time]") {
  CHECK(format_duration(Duration(0)) == "0s");
  CHECK(format_duration(80min) == "1h20m");
  CHECK(format_duration(days(5)) == "5d");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(90s + 5ms) == "1m30s5ms");
  CHECK(*parse_duration(format_duration(days(2) + 3h + 7s)) == days(2) + 3h + 7s);
}
