#include "cli/trace_sinks.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cxxopts.hpp>

namespace relaysim::cli {
namespace {

// Faults and crashes stand out; failures are red, successes green.
const char* colour_of(std::string_view kind) {
  if (kind.starts_with("fault.") || kind.starts_with("process.crash") || kind.starts_with("disk.")) return "\033[35m";
  if (kind.find("fail") != std::string_view::npos || kind.ends_with("reset") || kind.ends_with("retry")) {
    return "\033[31m";
  }
  if (kind.ends_with("stored") || kind.ends_with("answered") || kind.ends_with("done")) return "\033[32m";
  if (kind.starts_with("net.") || kind.starts_with("dns.")) return "\033[2m";
  return "";
}

constexpr std::int64_t microseconds_per_day = 86'400'000'000;

}  // namespace

void ClockedTimeline::append(std::string& out, const io::TraceEvent& event) {
  const std::int64_t micros = event.time.unix_microseconds();
  const std::int64_t day = micros >= 0 ? micros / microseconds_per_day : (micros + 1) / microseconds_per_day - 1;
  const std::string iso = format_iso8601(event.time);  // 2026-03-02T09:01:00.020Z
  if (day != day_) {
    day_ = day;
    out += "              ";
    out.append(iso, 0, 10);
    out += " (UTC)\n";
  }
  const std::size_t line_start = out.size();
  io::append_timeline_line(out, event, start_);
  // After the offset ("+00:01:00.000"), before the two spaces: the time of day.
  const std::size_t offset_end = out.find("  ", line_start);
  out.insert(offset_end, " " + iso.substr(11, 8));
}

void TimelineSink::on_event(const io::TraceEvent& event, std::string_view) {
  ++lines_;
  if (overflowed()) {
    if (!held_.empty()) held_ = std::string();  // too long to print: let the memory go
    return;
  }
  buffer_.clear();
  timeline_.append(buffer_, event);
  if (const char* colour = colour_ ? colour_of(event.kind) : ""; *colour != '\0') {
    // The event's line is coloured, not the date line before it.
    const std::size_t previous = buffer_.rfind('\n', buffer_.size() - 2);
    buffer_.insert(buffer_.size() - 1, "\033[0m");
    buffer_.insert(previous == std::string::npos ? 0 : previous + 1, colour);
  }
  if (held_lines_max_ != 0) {
    held_ += buffer_;
  } else {
    std::fwrite(buffer_.data(), 1, buffer_.size(), out_);
  }
}

void TimelineSink::flush() {
  if (overflowed()) return;
  std::fwrite(held_.data(), 1, held_.size(), out_);
  held_.clear();
}

std::string trace_field(const io::TraceEvent& event, std::string_view key) {
  for (const io::TraceField& entry : event.fields) {
    if (entry.key != key) continue;
    if (entry.value.type() == io::TraceValue::Type::text) return std::string(entry.value.text());
    if (entry.value.type() == io::TraceValue::Type::boolean) return entry.value.boolean() ? "true" : "false";
    return std::to_string(entry.value.integer());
  }
  return "";
}

bool colour_wanted(const std::string& mode) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  if (mode != "auto") throw cxxopts::exceptions::exception("--color: '" + mode + "' is not auto, always or never");
  const char* no_color = std::getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) != 0 && (no_color == nullptr || *no_color == '\0');
}

}  // namespace relaysim::cli
