#pragma once
// RFC 5321 syntax: command lines, mailbox paths with their parameters, xtext (RFC 3461) and
// base64 (RFC 4648, as AUTH uses it). Parsing only: what to accept is the session's and its
// owner's business.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "io/text.hpp"

namespace relaysim::smtp {

enum class Verb { helo, ehlo, mail, rcpt, data, rset, noop, quit, vrfy, expn, help, starttls, auth, bdat, unknown };
std::string_view to_string(Verb verb);

struct Command {
  Verb verb = Verb::unknown;
  std::string name;      // as sent, upper-cased
  std::string argument;  // everything after the verb and one space
};
// `line` without its CRLF.
Command parse_command(std::string_view line);

struct Mailbox {
  std::string local;   // without quotes; may hold any character when `quoted_local`
  std::string domain;  // lower-cased; "[203.0.113.5]" for an address literal; empty for "<postmaster>"
  bool quoted_local = false;
  bool address_literal = false;
  std::string to_string() const;  // "local@domain", re-quoting the local part when needed
  bool operator==(const Mailbox&) const = default;
};

struct ParsedPath {
  std::optional<Mailbox> mailbox;  // empty for the null path "<>"
  bool had_source_route = false;   // "<@a,@b:user@d>": the route is dropped (RFC 5321 §4.1.2)
  std::vector<std::pair<std::string, std::optional<std::string>>> parameters;  // keys upper-cased
};

struct PathError {
  std::string reason;
};

// Parses "<path> [SP parameters]" as found after "FROM:" or "TO:". One space before the path is
// tolerated, as real clients send it. Enforces the RFC 5321 §4.5.3.1 length limits.
std::variant<ParsedPath, PathError> parse_path(std::string_view text, bool allow_null, bool allow_utf8);

// An address as people write it ("ann@example.com", internationalized too: RFC 6531), without
// angle brackets; nullopt unless it is a mailbox with a domain.
std::optional<Mailbox> parse_address(std::string_view text);

// Text ("+2B" escapes) of RFC 3461 §4; nullopt when malformed.
std::optional<std::string> decode_xtext(std::string_view text);
std::string encode_xtext(std::string_view text);

std::string encode_base64(std::string_view bytes);
// Base64 as a MIME body carries it (RFC 2045 6.8): lines of 76 characters, each ended by CRLF.
std::string encode_base64_lines(std::string_view bytes);

// Every byte below 0x80.
bool is_ascii(std::string_view text);
// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
bool is_utf8(std::string_view text);

// Header text as a composer writes it: ASCII as it is; UTF-8 as RFC 2047 encoded words
// ("=?UTF-8?B?...?="), each at most 75 characters and never splitting a character, folded with
// CRLF SPACE between them, so that the header section stays ASCII.
std::string encode_header_text(std::string_view utf8);
// Strict: nullopt for anything but canonical base64 (RFC 4648 §4) with correct padding.
std::optional<std::string> decode_base64(std::string_view text);
// A MIME body's base64: line breaks and white space dropped, the rest decoded strictly.
std::optional<std::string> decode_base64_lines(std::string_view text);

// The position of the first CR or LF at or after `from`, or npos. Two vectorised memchr scans:
// std::string_view::find_first_of tests every byte against the set one call at a time.
std::size_t find_line_break(std::string_view text, std::size_t from);

// Domain patterns, as Salesforce's Email Domain Filters and the relay's rules use them: "*" matches
// every domain; "example.com" that domain only; "*.example.com" its subdomains only. Compared as
// DNS names are: case-insensitive, and an internationalized name equals its A-labels.
bool domain_matches(std::string_view pattern, std::string_view domain);
bool any_domain_matches(const std::vector<std::string>& patterns, std::string_view domain);

}  // namespace relaysim::smtp
