#pragma once
// Small text helpers, the project's one copy of each: ASCII case (protocol keywords, domains and
// header names compare case-insensitively in ASCII only), trimming, counts in words with the noun
// agreeing ("1 message", "2 messages", "1 delivery attempt"), and bytes as lower-case hex.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relaysim {

// ASCII classes, whatever the locale (std::isdigit and std::isalpha are the C locale's, and
// undefined for negative chars).
inline bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// ASCII only: bytes outside A-Z / a-z (UTF-8 included) are left as they are.
bool equals_ignoring_case(std::string_view a, std::string_view b);
std::string to_upper(std::string_view text);
std::string to_lower(std::string_view text);

// `text` without the leading and trailing bytes found in `characters` (by default space and tab).
std::string trim(std::string_view text, std::string_view characters = " \t");

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

inline std::string to_hex(std::string_view bytes) {
  return to_hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

// The octets of hex text (either case, an even number of digits); nullopt for anything else.
inline std::optional<std::string> from_hex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int high = digit(text[i]);
    const int low = digit(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
  }
  return out;
}

}  // namespace relaysim
