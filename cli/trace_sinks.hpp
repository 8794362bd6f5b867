#pragma once
// Where a world's trace goes: a readable timeline on a terminal, a JSON Lines file, or memory.

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "sim/world.hpp"

namespace relaysim::cli {

// Timeline lines with the UTC time of day beside the offset, and a line naming the date whenever
// it changes: "+00:01:00.000 09:01:00  salesforce  salesforce.send ...". Whether a run crossed
// midnight GMT (Salesforce's daily limits) can be read off without arithmetic.
class ClockedTimeline {
 public:
  explicit ClockedTimeline(Instant start) : start_(start) {}
  // Appends the event's line to `out`, after a date line when its day is not the last line's.
  void append(std::string& out, const io::TraceEvent& event);

 private:
  Instant start_;
  std::int64_t day_ = INT64_MIN;
};

class TimelineSink final : public sim::TraceSink {
 public:
  // `held_lines_max`: 0 writes each line as it comes. Otherwise lines are held, at most that
  // many, and written by flush(); past that many they are counted and dropped (overflowed()).
  TimelineSink(std::FILE* out, Instant start, bool colour, std::size_t held_lines_max = 0)
      : out_(out), timeline_(start), colour_(colour), held_lines_max_(held_lines_max) {}
  void on_event(const io::TraceEvent& event, std::string_view json_line) override;
  bool overflowed() const { return held_lines_max_ != 0 && lines_ > held_lines_max_; }
  std::size_t lines() const { return lines_; }
  // Writes the held lines, unless there were too many.
  void flush();

 private:
  std::FILE* out_;
  ClockedTimeline timeline_;
  bool colour_;
  std::size_t held_lines_max_;
  std::size_t lines_ = 0;
  std::string buffer_;
  std::string held_;
};

class JsonLinesSink final : public sim::TraceSink {
 public:
  explicit JsonLinesSink(std::FILE* out) : out_(out) {}
  void on_event(const io::TraceEvent&, std::string_view json_line) override {
    std::fwrite(json_line.data(), 1, json_line.size(), out_);
  }

 private:
  std::FILE* out_;
};

// A trace event's field as text ("" when absent): text as it is, numbers in decimal, booleans
// as true or false.
std::string trace_field(const io::TraceEvent& event, std::string_view key);

// Colour on stdout: "always", "never", or "auto" - a terminal, and NO_COLOR unset or empty
// (no-color.org). Anything else throws cxxopts::exceptions::exception.
bool colour_wanted(const std::string& mode);

}  // namespace relaysim::cli
