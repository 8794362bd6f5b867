#include "io/time.hpp"

#include <array>
#include <charconv>
#include <cstdio>

namespace relaysim {
namespace {

struct CivilDate {
  std::int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

// Days since 1970-01-01 from a proleptic Gregorian date, and back; the usual era-based
// algorithms, valid for every year an int64 of microseconds can hold.
std::int64_t days_from_civil(CivilDate date) {
  const std::int64_t year = date.month <= 2 ? date.year - 1 : date.year;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (date.month > 2 ? date.month - 3 : date.month + 9) + 2) / 5 + date.day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

CivilDate civil_from_days(std::int64_t days) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto day_of_era = static_cast<unsigned>(days - era * 146097);
  const unsigned year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned month_index = (5 * day_of_year + 2) / 153;
  const unsigned day = day_of_year - (153 * month_index + 2) / 5 + 1;
  const unsigned month = month_index < 10 ? month_index + 3 : month_index - 9;
  const std::int64_t year = static_cast<std::int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0);
  return {year, month, day};
}

bool is_leap_year(std::int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

unsigned days_in_month(std::int64_t year, unsigned month) {
  static constexpr std::array<unsigned, 12> lengths = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : lengths[month - 1];
}

struct Split {
  CivilDate date;
  unsigned hour, minute, second;
  std::int64_t microsecond;
  std::int64_t days;
};

Split split(Instant instant) {
  const std::int64_t microseconds = instant.unix_microseconds();
  constexpr std::int64_t per_day = 86'400'000'000;
  std::int64_t days = microseconds / per_day;
  std::int64_t rest = microseconds % per_day;
  if (rest < 0) {
    rest += per_day;
    days -= 1;
  }
  const auto seconds_of_day = static_cast<unsigned>(rest / 1'000'000);
  return {civil_from_days(days), seconds_of_day / 3600, seconds_of_day / 60 % 60,
          seconds_of_day % 60,   rest % 1'000'000,      days};
}

// Reads exactly `width` decimal digits.
bool read_digits(std::string_view& text, std::size_t width, unsigned& out) {
  if (text.size() < width) return false;
  unsigned value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  text.remove_prefix(width);
  out = value;
  return true;
}

bool consume(std::string_view& text, char expected) {
  if (text.empty() || text.front() != expected) return false;
  text.remove_prefix(1);
  return true;
}

}  // namespace

std::string format_iso8601(Instant instant) {
  std::string out;
  append_iso8601(out, instant);
  return out;
}

void append_iso8601(std::string& out, Instant instant) {
  // Written digit by digit: every trace line carries one, and snprintf dominated their cost.
  const Split parts = split(instant);
  char buffer[40];
  std::size_t at = 0;
  const auto digits = [&](std::int64_t value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buffer[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
    at += static_cast<std::size_t>(width);
  };
  if (parts.date.year < 0 || parts.date.year > 9999) {  // outside ISO-8601's four digits: rare, so plain
    char wide[64];
    const int length = std::snprintf(wide, sizeof wide, "%lld-%02u-%02uT%02u:%02u:%02u.%06lldZ",
                                     static_cast<long long>(parts.date.year), parts.date.month, parts.date.day,
                                     parts.hour, parts.minute, parts.second, static_cast<long long>(parts.microsecond));
    out.append(wide, static_cast<std::size_t>(length));
    return;
  }
  digits(parts.date.year, 4);
  buffer[at++] = '-';
  digits(parts.date.month, 2);
  buffer[at++] = '-';
  digits(parts.date.day, 2);
  buffer[at++] = 'T';
  digits(parts.hour, 2);
  buffer[at++] = ':';
  digits(parts.minute, 2);
  buffer[at++] = ':';
  digits(parts.second, 2);
  if (parts.microsecond % 1000 != 0) {
    buffer[at++] = '.';
    digits(parts.microsecond, 6);
  } else if (parts.microsecond != 0) {
    buffer[at++] = '.';
    digits(parts.microsecond / 1000, 3);
  }
  buffer[at++] = 'Z';
  out.append(buffer, at);
}

std::string format_rfc5322(Instant instant) {
  static constexpr std::array<const char*, 7> weekdays = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const Split parts = split(instant);
  const auto weekday = static_cast<std::size_t>(((parts.days % 7) + 7) % 7);  // 1970-01-01 was a Thursday
  if (parts.date.year < 0 || parts.date.year > 9999) {                        // outside four digits: rare, so plain
    char buffer[64];
    const int length = std::snprintf(buffer, sizeof buffer, "%s, %02u %s %04lld %02u:%02u:%02u +0000",
                                     weekdays[weekday], parts.date.day, months[parts.date.month - 1],
                                     static_cast<long long>(parts.date.year), parts.hour, parts.minute, parts.second);
    return std::string(buffer, static_cast<std::size_t>(length));
  }
  // Written by hand: every Received: header carries one.
  std::string out;
  out.reserve(31);
  const auto digits = [&out](unsigned value, int width) {
    char text[4];
    for (int i = width - 1; i >= 0; --i) {
      text[i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
    out.append(text, static_cast<std::size_t>(width));
  };
  out += weekdays[weekday];
  out += ", ";
  digits(parts.date.day, 2);
  out += ' ';
  out += months[parts.date.month - 1];
  out += ' ';
  digits(static_cast<unsigned>(parts.date.year), 4);
  out += ' ';
  digits(parts.hour, 2);
  out += ':';
  digits(parts.minute, 2);
  out += ':';
  digits(parts.second, 2);
  out += " +0000";
  return out;
}

std::optional<Instant> parse_iso8601(std::string_view text) {
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(text, 4, year) || !consume(text, '-') || !read_digits(text, 2, month) || !consume(text, '-') ||
      !read_digits(text, 2, day) || !(consume(text, 'T') || consume(text, 't') || consume(text, ' ')) ||
      !read_digits(text, 2, hour) || !consume(text, ':') || !read_digits(text, 2, minute) || !consume(text, ':') ||
      !read_digits(text, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
      second > 59) {
    return std::nullopt;
  }
  std::int64_t microsecond = 0;
  if (consume(text, '.')) {
    std::int64_t scale = 100'000;
    std::size_t digits = 0;
    while (!text.empty() && text.front() >= '0' && text.front() <= '9') {
      if (digits < 6) microsecond += (text.front() - '0') * scale;
      scale /= 10;
      ++digits;
      text.remove_prefix(1);
    }
    if (digits == 0) return std::nullopt;
  }
  std::int64_t offset_seconds = 0;
  if (consume(text, 'Z') || consume(text, 'z')) {
  } else if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    const bool negative = text.front() == '-';
    text.remove_prefix(1);
    unsigned offset_hours = 0, offset_minutes = 0;
    if (!read_digits(text, 2, offset_hours) || !consume(text, ':') || !read_digits(text, 2, offset_minutes) ||
        offset_hours > 23 || offset_minutes > 59) {
      return std::nullopt;
    }
    offset_seconds = static_cast<std::int64_t>(offset_hours * 3600 + offset_minutes * 60) * (negative ? -1 : 1);
  } else {
    return std::nullopt;
  }
  if (!text.empty()) return std::nullopt;
  const std::int64_t days = days_from_civil({year, month, day});
  const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  return Instant::from_unix_microseconds(seconds * 1'000'000 + microsecond);
}

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  bool all_digits = true;
  for (char c : text) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) {
    if (text.size() > 12) return std::nullopt;
    std::int64_t seconds = 0;
    for (char c : text) seconds = seconds * 10 + (c - '0');
    return Duration(seconds * 1'000'000);
  }
  std::int64_t total = 0;
  while (!text.empty()) {
    std::int64_t number = 0;
    std::size_t digits = 0;
    while (!text.empty() && text.front() >= '0' && text.front() <= '9') {
      number = number * 10 + (text.front() - '0');
      text.remove_prefix(1);
      if (++digits > 12) return std::nullopt;
    }
    if (digits == 0) return std::nullopt;
    std::int64_t unit = 0;
    if (text.starts_with("ms")) {
      unit = 1'000;
      text.remove_prefix(2);
    } else if (text.starts_with("us")) {
      unit = 1;
      text.remove_prefix(2);
    } else if (!text.empty()) {
      switch (text.front()) {
        case 's': unit = 1'000'000; break;
        case 'm': unit = 60'000'000; break;
        case 'h': unit = 3'600'000'000; break;
        case 'd': unit = 86'400'000'000; break;
        case 'w': unit = 604'800'000'000; break;
        default: return std::nullopt;
      }
      text.remove_prefix(1);
    } else {
      return std::nullopt;  // "1h30": a trailing number needs a unit
    }
    total += number * unit;
  }
  return Duration(total);
}

std::string format_duration(Duration duration) {
  std::int64_t rest = duration.count();
  if (rest == 0) return "0s";
  std::string out;
  if (rest < 0) {
    out.push_back('-');
    rest = -rest;
  }
  static constexpr std::array<std::pair<std::int64_t, const char*>, 6> units = {
      {{86'400'000'000, "d"}, {3'600'000'000, "h"}, {60'000'000, "m"}, {1'000'000, "s"}, {1'000, "ms"}, {1, "us"}}};
  for (const auto& [size, name] : units) {
    if (rest >= size) {
      char digits[24];
      const auto written = std::to_chars(digits, digits + sizeof digits, rest / size);
      out.append(digits, written.ptr).append(name);
      rest %= size;
    }
  }
  return out;
}

}  // namespace relaysim
