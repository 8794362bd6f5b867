#pragma once
// Small text helpers: counts in words, with the noun agreeing ("1 message", "2 messages",
// "1 delivery attempt"), and bytes as lower-case hex.

#include <cstddef>
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

// "3f00a1": two lower-case hex digits a byte.
inline std::string to_hex(const unsigned char* bytes, std::size_t length) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (std::size_t i = 0; i < length; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

}  // namespace relaysim
