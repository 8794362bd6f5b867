// libFuzzer target: the address parser, xtext and base64. Invariants: no crash; a parsed mailbox
// prints to a form that parses back to the same address (quoting is presentation); whatever base64 decodes re-encodes to the
// same text (only canonical base64 is accepted); xtext round-trips.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "io/assert.hpp"
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
  }
  if (const auto decoded = smtp::decode_base64(text)) RELAYSIM_ASSERT(smtp::encode_base64(*decoded) == text);
  RELAYSIM_ASSERT(smtp::decode_xtext(smtp::encode_xtext(text)) == std::string(text));
  (void)smtp::parse_command(text);
  return 0;
}
