#pragma once
// Where a world's trace goes: a readable timeline on a terminal, a JSON Lines file, or memory.

#include <cstdio>
#include <string>
#include <vector>

#include "sim/world.hpp"

namespace relaysim::cli {

class TimelineSink final : public sim::TraceSink {
 public:
  TimelineSink(std::FILE* out, Instant start, bool colour) : out_(out), start_(start), colour_(colour) {}
  void on_event(const io::TraceEvent& event, std::string_view json_line) override;

 private:
  std::FILE* out_;
  Instant start_;
  bool colour_;
  std::string buffer_;
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

}  // namespace relaysim::cli
