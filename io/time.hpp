#pragma once
// Instants and durations. Node logic gets the current instant only from Io::now(); in the
// simulation that is virtual time starting at the scenario's `start`, in the real backend the
// system clock. Resolution is one microsecond; all arithmetic is on integers.

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relaysim {

using Duration = std::chrono::microseconds;
using std::chrono_literals::operator""us;
using std::chrono_literals::operator""ms;
using std::chrono_literals::operator""s;
using std::chrono_literals::operator""min;
using std::chrono_literals::operator""h;

constexpr Duration days(std::int64_t count) { return std::chrono::hours(24 * count); }

class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant from_unix_microseconds(std::int64_t microseconds) { return Instant(microseconds); }
  static constexpr Instant from_unix_seconds(std::int64_t seconds) { return Instant(seconds * 1'000'000); }

  constexpr std::int64_t unix_microseconds() const { return microseconds_; }
  constexpr std::int64_t unix_seconds() const {
    return microseconds_ >= 0 ? microseconds_ / 1'000'000 : -((-microseconds_ + 999'999) / 1'000'000);
  }

  constexpr Instant operator+(Duration duration) const { return Instant(microseconds_ + duration.count()); }
  constexpr Instant operator-(Duration duration) const { return Instant(microseconds_ - duration.count()); }
  constexpr Duration operator-(Instant other) const { return Duration(microseconds_ - other.microseconds_); }
  constexpr Instant& operator+=(Duration duration) {
    microseconds_ += duration.count();
    return *this;
  }
  constexpr auto operator<=>(const Instant&) const = default;

  static constexpr Instant max() { return Instant(INT64_MAX); }

 private:
  constexpr explicit Instant(std::int64_t microseconds) : microseconds_(microseconds) {}
  std::int64_t microseconds_ = 0;
};

// "2026-03-02T09:00:00Z", with ".250" or ".000250" fractions when the instant has them.
std::string format_iso8601(Instant instant);
void append_iso8601(std::string& out, Instant instant);  // the same, onto `out`
// RFC 5322 date as used in Date: and Received: headers: "Mon, 02 Mar 2026 09:00:00 +0000".
std::string format_rfc5322(Instant instant);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)".
std::optional<Instant> parse_iso8601(std::string_view text);

// Durations as people write them in scenarios and configuration: "250ms", "30s", "5m", "4h",
// "5d", "1h30m", "0". A bare integer is seconds (Postfix's convention for time parameters).
std::optional<Duration> parse_duration(std::string_view text);
// The shortest exact form: "1h20m", "250ms", "5d", "0s".
std::string format_duration(Duration duration);

}  // namespace relaysim
