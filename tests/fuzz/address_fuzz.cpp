// libFuzzer target: the address parser, xtext, base64, RFC 2047 words and domain names. Invariants: no crash; a parsed mailbox
// prints to a form that parses back to the same address (quoting is presentation), and with SMTPUTF8 it is well-formed UTF-8;
// whatever base64 decodes re-encodes to the same text (only canonical base64 is accepted); xtext round-trips; encoded header
// text is ASCII, in words of at most 75 characters, and decodes to the input; any bytes make a DNS name (libidn2 included)
// that matches itself.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "io/assert.hpp"
#include "io/dns.hpp"
#include "smtp/syntax.hpp"

using namespace relaysim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = smtp::parse_path(text, true, (size & 1) != 0);
  if (const auto* path = std::get_if<smtp::ParsedPath>(&parsed); path && path->mailbox) {
    const std::string printed = "<" + path->mailbox->to_string() + ">";
    const auto again = smtp::parse_path(printed, true, true);
    RELAYSIM_ASSERT(std::holds_alternative<smtp::ParsedPath>(again));
    const smtp::Mailbox& reparsed = *std::get<smtp::ParsedPath>(again).mailbox;
    RELAYSIM_ASSERT(reparsed.local == path->mailbox->local);
    RELAYSIM_ASSERT(reparsed.domain == path->mailbox->domain);
    RELAYSIM_ASSERT(reparsed.address_literal == path->mailbox->address_literal);
    RELAYSIM_ASSERT(smtp::is_utf8(path->mailbox->local) && smtp::is_utf8(path->mailbox->domain));
  }
  if (smtp::is_utf8(text)) {
    const std::string encoded = smtp::encode_header_text(text);
    RELAYSIM_ASSERT(smtp::is_ascii(encoded));
    if (!smtp::is_ascii(text)) {
      std::string decoded;
      for (std::size_t at = 0; at < encoded.size();) {
        const std::size_t end = std::min(encoded.find("\r\n ", at), encoded.size());
        const std::string_view word = std::string_view(encoded).substr(at, end - at);
        RELAYSIM_ASSERT(word.size() <= 75 && word.starts_with("=?UTF-8?B?") && word.ends_with("?="));
        const auto bytes = smtp::decode_base64(word.substr(10, word.size() - 12));
        RELAYSIM_ASSERT(bytes && smtp::is_utf8(*bytes));
        decoded += *bytes;
        at = end + 3;
      }
      RELAYSIM_ASSERT(decoded == text);
    }
  }
  const std::string name = io::normalize_dns_name(text);
  RELAYSIM_ASSERT(smtp::domain_matches(name, text));
  if (const auto decoded = smtp::decode_base64(text)) RELAYSIM_ASSERT(smtp::encode_base64(*decoded) == text);
  RELAYSIM_ASSERT(smtp::decode_xtext(smtp::encode_xtext(text)) == std::string(text));
  (void)smtp::parse_command(text);
  return 0;
}
