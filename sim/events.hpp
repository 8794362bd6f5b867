#pragma once
// The simulated world's own observable steps: processes starting and crashing, fault windows
// opening and closing, a connection reset by a fault. Typed events (io/trace.hpp).

#include <cstdint>
#include <string_view>

#include "io/trace.hpp"
#include "sim/world.hpp"

namespace relaysim::sim::events {

struct ProcessStarted {
  static constexpr std::string_view kind = "process.start";
  std::string_view host;
  std::uint64_t epoch = 0;

  void write(io::TraceFieldList& fields) const {
    fields.add("host", host);
    fields.add("epoch", epoch);
  }
};

struct ProcessCrashed {
  static constexpr std::string_view kind = "process.crash";
  CrashKind crash = CrashKind::kill;

  void write(io::TraceFieldList& fields) const { fields.add("crash", to_string(crash)); }
};

// A scheduled network fault window opens; `fault` is its name in the scenario.
struct FaultBegan {
  static constexpr std::string_view kind = "fault.begin";
  std::string_view fault;
  NetworkFault::Kind fault_kind = NetworkFault::Kind::refuse;
  std::string_view source;       // "*" or the source networks, comma-separated
  std::string_view destination;  // likewise
  std::string_view port;         // "*" or the port
  std::string_view until;        // an ISO 8601 instant, or "never"

  void write(io::TraceFieldList& fields) const {
    fields.add("fault", fault);
    fields.add("fault_kind", to_string(fault_kind));
    fields.add("source", source);
    fields.add("destination", destination);
    fields.add("port", port);
    fields.add("until", until);
  }
};

struct FaultEnded {
  static constexpr std::string_view kind = "fault.end";
  std::string_view fault;
  NetworkFault::Kind fault_kind = NetworkFault::Kind::refuse;

  void write(io::TraceFieldList& fields) const {
    fields.add("fault", fault);
    fields.add("fault_kind", to_string(fault_kind));
  }
};

// A connection reset by a fault after it carried `after_bytes` bytes.
struct FaultReset {
  static constexpr std::string_view kind = "fault.reset";
  std::string_view fault;
  std::uint64_t conn = 0;
  std::uint64_t after_bytes = 0;

  void write(io::TraceFieldList& fields) const {
    fields.add("fault", fault);
    fields.add("conn", conn);
    fields.add("after_bytes", after_bytes);
  }
};

}  // namespace relaysim::sim::events
