#pragma once
// A queue id: 22 hex digits - the arrival time in microseconds (14), then a sequence number and
// random bits (8). Held in memory as two integers: a million of them cost no heap and compare fast.
// Inside the relay an id is always this type; text is parsed only where it comes in (a file name,
// a queue record, an operator's command) and written only where it goes out (logs, traces, DSNs).
// (Parsed and written in relay/queue/format.cpp.)

#include <array>
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
  // The 22 digits without a heap allocation, for the queue's records and hot log lines.
  struct Text {
    std::array<char, 22> digits;
    std::string_view view() const { return {digits.data(), digits.size()}; }
  };
  Text text() const;
  std::string to_string() const { return std::string(text().view()); }
  bool none() const { return time == 0 && rest == 0; }  // QueueId{}: not assigned yet
  auto operator<=>(const QueueId&) const = default;
};

}  // namespace relaysim::relay
