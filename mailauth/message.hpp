#pragma once
// A message's header fields and body as the authentication checks see them (RFC 5322): each
// field as it was written - name, colon, value and every continuation line, CRLFs included - and
// the body after the first empty line.

#include <string>
#include <string_view>
#include <vector>

namespace relaysim::mailauth {

struct HeaderField {
  std::string_view name;           // as written
  std::string_view raw;            // "Name: value\r\n\tcontinued\r\n"
  std::string_view value() const;  // after the colon, unfolded lines still in it, without the final CRLF
};

struct ParsedMessage {
  std::vector<HeaderField> fields;  // top to bottom
  std::string_view body;            // after the empty line; empty when there is none
};

// Views into `message`, which must outlive the result.
ParsedMessage parse_message(std::string_view message);

// The first field named `name` (case-insensitive), unfolded and trimmed; empty when absent.
std::string header_value(const ParsedMessage& message, std::string_view name);
// The domain of the From field's address ("News <news@acme.example>" -> "acme.example"), lower
// case; empty when there is not exactly one From field with one address.
std::string from_domain(const ParsedMessage& message);

}  // namespace relaysim::mailauth
