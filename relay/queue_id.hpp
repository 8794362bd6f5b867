#pragma once
// A queue id: 22 hex digits - the arrival time in microseconds (14), then a sequence number and
// random bits (8). Held in memory as two integers: a million of them cost no heap and compare fast.
// (Parsed and written in queue.cpp.)

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relaysim::relay {

struct QueueId {
  std::uint64_t time = 0;
  std::uint32_t rest = 0;
  static std::optional<QueueId> parse(std::string_view text);
  std::string to_string() const;
  auto operator<=>(const QueueId&) const = default;
};

}  // namespace relaysim::relay
