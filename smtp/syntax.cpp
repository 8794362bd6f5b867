#include "smtp/syntax.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cstdint>
#include <variant>

#include "io/dns.hpp"
#include "io/text.hpp"
#include "smtp/limits.hpp"

namespace relaysim::smtp {
namespace {

// atext of RFC 5322 §3.2.3.
bool is_atext(char c) {
  if (is_ascii_alpha(c) || is_ascii_digit(c)) return true;
  static constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return specials.find(c) != std::string_view::npos;
}

bool is_utf8_byte(char c) { return static_cast<unsigned char>(c) >= 0x80; }

// A domain: dot-separated labels of letters, digits and inner hyphens (RFC 5321 §4.1.2).
bool valid_domain(std::string_view domain, bool allow_utf8) {
  if (domain.empty() || domain.size() > domain_bytes_max) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = domain.find('.', start);
    const std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '-' && !(allow_utf8 && is_utf8_byte(c))) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool valid_address_literal(std::string_view literal) {
  // "[" ( IPv4 / "IPv6:" IPv6 / tag ":" text ) "]" - the content is checked loosely; policy
  // decides whether literals are acceptable at all. Printable ASCII only (dcontent, RFC 5321
  // §4.1.3), with SMTPUTF8 too.
  if (literal.size() < 3 || literal.front() != '[' || literal.back() != ']') return false;
  for (char c : literal.substr(1, literal.size() - 2)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '[' || c == ']' || c == '\\' || byte <= 32 || byte >= 127) return false;
  }
  return true;
}

}  // namespace

std::size_t find_line_break(std::string_view text, std::size_t from) {
  if (from >= text.size()) return std::string_view::npos;
  const char* const data = text.data();
  std::size_t at = from;
#if defined(__SSE2__)
  // One pass for either byte, sixteen at a time: lines are short, and two memchr calls per line
  // (one for each byte) cost more in calls than in scanning.
  const __m128i carriage = _mm_set1_epi8('\r');
  const __m128i newline = _mm_set1_epi8('\n');
  for (; at + 16 <= text.size(); at += 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + at));
    const int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(block, carriage), _mm_cmpeq_epi8(block, newline)));
    if (mask != 0) return at + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  for (; at < text.size(); ++at) {
    if (data[at] == '\r' || data[at] == '\n') return at;
  }
  return std::string_view::npos;
}

std::string_view to_string(Verb verb) {
  switch (verb) {
    case Verb::helo: return "HELO";
    case Verb::ehlo: return "EHLO";
    case Verb::mail: return "MAIL";
    case Verb::rcpt: return "RCPT";
    case Verb::data: return "DATA";
    case Verb::rset: return "RSET";
    case Verb::noop: return "NOOP";
    case Verb::quit: return "QUIT";
    case Verb::vrfy: return "VRFY";
    case Verb::expn: return "EXPN";
    case Verb::help: return "HELP";
    case Verb::starttls: return "STARTTLS";
    case Verb::auth: return "AUTH";
    case Verb::bdat: return "BDAT";
    case Verb::unknown: return "?";
  }
  return "?";
}

Command parse_command(std::string_view line) {
  static constexpr std::array<Verb, 14> verbs = {Verb::helo, Verb::ehlo, Verb::mail, Verb::rcpt,    Verb::data,
                                                 Verb::rset, Verb::noop, Verb::quit, Verb::vrfy,    Verb::expn,
                                                 Verb::help, Verb::auth, Verb::bdat, Verb::starttls};
  Command command;
  const std::size_t space = line.find(' ');
  command.name = to_upper(line.substr(0, space));
  if (space != std::string_view::npos) command.argument = std::string(line.substr(space + 1));
  for (Verb verb : verbs) {
    if (command.name == to_string(verb)) {
      command.verb = verb;
      break;
    }
  }
  return command;
}

std::string Mailbox::to_string() const {
  std::string out;
  bool needs_quotes = quoted_local && local.empty();
  for (std::size_t i = 0; i < local.size(); ++i) {
    const char c = local[i];
    const bool dot_ok = c == '.' && i > 0 && i + 1 < local.size() && local[i - 1] != '.';
    if (!is_atext(c) && !dot_ok && !is_utf8_byte(c)) needs_quotes = true;
  }
  if (needs_quotes) {
    out += '"';
    for (char c : local) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  } else {
    out += local;
  }
  if (!domain.empty()) out += "@" + domain;
  return out;
}

std::variant<ParsedPath, PathError> parse_path(std::string_view text, bool allow_null, bool allow_utf8) {
  ParsedPath parsed;
  if (text.starts_with(' ')) text.remove_prefix(1);
  if (text.empty() || text.front() != '<') return PathError{"the address must be in angle brackets"};
  const std::size_t path_start = 0;
  std::size_t at = 1;
  // Source route: "@a.example,@b.example:" - accepted and dropped, but remembered.
  if (at < text.size() && text[at] == '@') {
    const std::size_t colon = text.find(':', at);
    if (colon == std::string_view::npos) return PathError{"malformed source route"};
    parsed.had_source_route = true;
    at = colon + 1;
  }
  Mailbox mailbox;
  if (at < text.size() && text[at] == '>') {
    if (!allow_null || parsed.had_source_route) return PathError{"the null address is not allowed here"};
    at += 1;
  } else {
    // Local part: a quoted string or a dot-string.
    std::string local;
    if (at < text.size() && text[at] == '"') {
      mailbox.quoted_local = true;
      ++at;
      bool closed = false;
      while (at < text.size()) {
        const char c = text[at];
        if (c == '\\') {
          if (at + 1 >= text.size()) return PathError{"unterminated quoted local part"};
          const char escaped = text[at + 1];
          if (static_cast<unsigned char>(escaped) < 32 || escaped == 127)
            return PathError{"control character in the address"};
          if (is_utf8_byte(escaped) && !allow_utf8) return PathError{"invalid character in the quoted local part"};
          local += escaped;
          at += 2;
          continue;
        }
        if (c == '"') {
          closed = true;
          ++at;
          break;
        }
        if (static_cast<unsigned char>(c) < 32 || c == 127 || (is_utf8_byte(c) && !allow_utf8)) {
          return PathError{"invalid character in the quoted local part"};
        }
        local += c;
        ++at;
      }
      if (!closed) return PathError{"unterminated quoted local part"};
    } else {
      const std::size_t start = at;
      while (at < text.size() && (is_atext(text[at]) || text[at] == '.' || (allow_utf8 && is_utf8_byte(text[at]))))
        ++at;
      if (at < text.size() && text[at] != '@' && text[at] != '>') {
        const auto c = static_cast<unsigned char>(text[at]);
        if (c < 32 || c == 127) return PathError{"control character in the address"};
        if (is_utf8_byte(text[at])) return PathError{"8-bit character in the address without SMTPUTF8"};
        return PathError{"invalid character in the local part"};
      }
      local = std::string(text.substr(start, at - start));
      if (local.empty() || local.front() == '.' || local.back() == '.' || local.find("..") != std::string::npos) {
        return PathError{"malformed local part"};
      }
    }
    if (local.size() > local_part_bytes_max) return PathError{"local part longer than 64 bytes"};
    mailbox.local = std::move(local);
    if (at < text.size() && text[at] == '@') {
      ++at;
      const std::size_t close = text.find('>', at);
      if (close == std::string_view::npos) return PathError{"missing closing angle bracket"};
      const std::string_view domain = text.substr(at, close - at);
      if (!domain.empty() && domain.front() == '[') {
        if (!valid_address_literal(domain)) return PathError{"malformed address literal"};
        mailbox.address_literal = true;
        mailbox.domain = to_lower(domain);
      } else {
        if (!valid_domain(domain, allow_utf8)) return PathError{"malformed domain"};
        mailbox.domain = to_lower(domain);
      }
      at = close;
    } else if (!equals_ignoring_case(mailbox.local, "postmaster") || mailbox.quoted_local) {
      return PathError{"the address needs a domain"};
    }
    if (at >= text.size() || text[at] != '>') return PathError{"missing closing angle bracket"};
    ++at;
    if (allow_utf8 && !(is_utf8(mailbox.local) && is_utf8(mailbox.domain)))
      return PathError{"malformed UTF-8 in the address"};
    parsed.mailbox = std::move(mailbox);
  }
  if (at - path_start > path_bytes_max) return PathError{"path longer than 256 bytes"};
  // Parameters: SP-separated keyword[=value].
  std::string_view rest = text.substr(at);
  while (!rest.empty()) {
    if (rest.front() != ' ') return PathError{"unexpected text after the address"};
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    const std::size_t end = std::min(rest.find(' '), rest.size());
    const std::string_view parameter = rest.substr(0, end);
    rest.remove_prefix(end);
    const std::size_t equals = parameter.find('=');
    const std::string key = to_upper(parameter.substr(0, equals));
    if (key.empty()) return PathError{"empty parameter name"};
    for (char c : key) {
      if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '-') return PathError{"malformed parameter name"};
    }
    std::optional<std::string> value;
    if (equals != std::string_view::npos) value = std::string(parameter.substr(equals + 1));
    parsed.parameters.emplace_back(key, std::move(value));
  }
  return parsed;
}

std::optional<Mailbox> parse_address(std::string_view text) {
  const auto parsed = parse_path("<" + std::string(text) + ">", false, true);
  const auto* path = std::get_if<ParsedPath>(&parsed);
  if (path == nullptr || !path->mailbox || path->mailbox->domain.empty()) return std::nullopt;
  return *path->mailbox;
}

std::optional<std::string> decode_xtext(std::string_view text) {
  const auto hex = [](char h) -> int {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;  // RFC 3461 §4: upper-case hex only
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex(text[i + 1]);
      const int low = hex(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
      continue;
    }
    if (c < 33 || c > 126 || c == '=') return std::nullopt;
    out += c;
  }
  return out;
}

std::string encode_xtext(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 33 || byte > 126 || c == '+' || c == '=') {
      out += '+';
      out += digits[byte >> 4];
      out += digits[byte & 0xF];
    } else {
      out += c;
    }
  }
  return out;
}

std::string encode_base64(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) | static_cast<unsigned char>(bytes[i + 2]);
    out += alphabet[n >> 18];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += alphabet[n >> 18];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool is_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const auto lead = static_cast<unsigned char>(text[at]);
    std::size_t length = 1;
    std::uint32_t low = 0;  // the smallest code point this length may carry
    std::uint32_t point = lead;
    if (lead >= 0xf0 && lead <= 0xf4)
      length = 4, low = 0x10000, point = lead & 0x07;
    else if (lead >= 0xe0 && lead <= 0xef)
      length = 3, low = 0x800, point = lead & 0x0f;
    else if (lead >= 0xc2 && lead <= 0xdf)
      length = 2, low = 0x80, point = lead & 0x1f;
    else if (lead >= 0x80)
      return false;
    if (at + length > text.size()) return false;
    for (std::size_t i = 1; i < length; ++i) {
      const auto next = static_cast<unsigned char>(text[at + i]);
      if ((next & 0xc0) != 0x80) return false;
      point = (point << 6) | (next & 0x3f);
    }
    if (point < low || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return false;
    at += length;
  }
  return true;
}

std::string encode_header_text(std::string_view utf8) {
  if (is_ascii(utf8)) return std::string(utf8);
  // 45 octets make 60 base64 characters: with "=?UTF-8?B?" and "?=", a 72-character word.
  constexpr std::size_t octets_per_word = 45;
  const auto continuation = [](char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; };
  std::string out;
  std::size_t at = 0;
  while (at < utf8.size()) {
    std::size_t end = std::min(utf8.size(), at + octets_per_word);
    while (end < utf8.size() && end > at + 1 && continuation(utf8[end])) --end;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + encode_base64(utf8.substr(at, end - at)) + "?=";
    at = end;
  }
  return out;
}

std::string encode_base64_lines(std::string_view bytes) {
  const std::string encoded = encode_base64(bytes);
  std::string out;
  for (std::size_t at = 0; at < encoded.size(); at += 76) {
    out.append(encoded, at, 76);
    out += "\r\n";
  }
  return out;
}

std::optional<std::string> decode_base64_lines(std::string_view text) {
  std::string joined;
  for (const char c : text) {
    if (c != '\r' && c != '\n' && c != ' ' && c != '\t') joined += c;
  }
  return decode_base64(joined);
}

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int a = value(text[i]), b = value(text[i + 1]);
    const bool pad2 = last && text[i + 2] == '=' && text[i + 3] == '=';
    const bool pad1 = last && !pad2 && text[i + 3] == '=';
    const int c = pad2 ? 0 : value(text[i + 2]);
    const int d = (pad1 || pad2) ? 0 : value(text[i + 3]);
    if (a < 0 || b < 0 || c < 0 || d < 0) return std::nullopt;
    const std::uint32_t n = (static_cast<std::uint32_t>(a) << 18) | (static_cast<std::uint32_t>(b) << 12) |
                            (static_cast<std::uint32_t>(c) << 6) | static_cast<std::uint32_t>(d);
    out += static_cast<char>(n >> 16);
    if (pad2) {
      if ((n & 0xFFFF) != 0) return std::nullopt;  // non-canonical: stray bits
      break;
    }
    out += static_cast<char>((n >> 8) & 0xFF);
    if (pad1) {
      if ((n & 0xFF) != 0) return std::nullopt;
      break;
    }
    out += static_cast<char>(n & 0xFF);
  }
  return out;
}

bool domain_matches(std::string_view pattern, std::string_view domain) {
  if (pattern == "*") return true;
  const std::string d = io::normalize_dns_name(domain);
  if (pattern.starts_with("*.")) {
    const std::string parent = "." + io::normalize_dns_name(pattern.substr(2));
    return d.size() > parent.size() && d.ends_with(parent);
  }
  return io::normalize_dns_name(pattern) == d;
}

bool any_domain_matches(const std::vector<std::string>& patterns, std::string_view domain) {
  for (const std::string& pattern : patterns) {
    if (domain_matches(pattern, domain)) return true;
  }
  return false;
}

}  // namespace relaysim::smtp
