#include "cli/trace_sinks.hpp"

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

}  // namespace

void TimelineSink::on_event(const io::TraceEvent& event, std::string_view) {
  buffer_.clear();
  io::append_timeline_line(buffer_, event, start_);
  const char* colour = colour_ ? colour_of(event.kind) : "";
  if (*colour != '\0') {
    buffer_.pop_back();
    std::fprintf(out_, "%s%s\033[0m\n", colour, buffer_.c_str());
  } else {
    std::fwrite(buffer_.data(), 1, buffer_.size(), out_);
  }
}

}  // namespace relaysim::cli
