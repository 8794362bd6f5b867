#pragma once
// Counts in words, with the noun agreeing: "1 message", "2 messages", "1 delivery attempt".

#include <cstdint>
#include <string>
#include <string_view>

namespace relaysim {

// `plural` defaults to the singular with an "s".
inline std::string counted(std::uint64_t count, std::string_view singular, std::string_view plural = {}) {
  std::string out = std::to_string(count);
  out += ' ';
  if (count == 1) {
    out += singular;
  } else if (!plural.empty()) {
    out += plural;
  } else {
    out += singular;
    out += 's';
  }
  return out;
}

}  // namespace relaysim
