#include "mailauth/message.hpp"

#include "io/text.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::mailauth {

std::string_view HeaderField::value() const {
  std::string_view out = raw.substr(name.size() + 1);
  if (out.ends_with("\r\n")) out.remove_suffix(2);
  return out;
}

ParsedMessage parse_message(std::string_view message) {
  ParsedMessage parsed;
  std::size_t at = 0;
  while (at < message.size()) {
    if (message.substr(at).starts_with("\r\n")) {
      parsed.body = message.substr(at + 2);
      return parsed;
    }
    // A field runs to a CRLF not followed by a space or a tab.
    std::size_t end = at;
    while (true) {
      const std::size_t crlf = message.find("\r\n", end);
      if (crlf == std::string_view::npos) {
        end = message.size();
        break;
      }
      end = crlf + 2;
      if (end >= message.size() || (message[end] != ' ' && message[end] != '\t')) break;
    }
    const std::string_view raw = message.substr(at, end - at);
    const std::size_t colon = raw.find(':');
    if (colon != std::string_view::npos && colon > 0 &&
        raw.substr(0, colon).find_first_of(" \t\r\n") == std::string_view::npos) {
      parsed.fields.push_back({raw.substr(0, colon), raw});
    }
    at = end;
  }
  return parsed;
}

std::string header_value(const ParsedMessage& message, std::string_view name) {
  for (const HeaderField& field : message.fields) {
    if (!equals_ignoring_case(field.name, name)) continue;
    std::string out;
    for (char c : field.value()) {
      if (c == '\r' || c == '\n') continue;
      out += c == '\t' ? ' ' : c;
    }
    const std::size_t first = out.find_first_not_of(' ');
    const std::size_t last = out.find_last_not_of(' ');
    return first == std::string::npos ? std::string() : out.substr(first, last - first + 1);
  }
  return "";
}

std::string from_domain(const ParsedMessage& message) {
  int count = 0;
  for (const HeaderField& field : message.fields) count += equals_ignoring_case(field.name, "From") ? 1 : 0;
  if (count != 1) return "";
  std::string value = header_value(message, "From");
  // The address: inside the last <...>, else the whole value.
  const std::size_t open = value.rfind('<');
  if (open != std::string::npos) {
    const std::size_t close = value.find('>', open);
    if (close == std::string::npos) return "";
    value = value.substr(open + 1, close - open - 1);
  }
  if (value.find(',') != std::string::npos) return "";  // more than one author
  const std::size_t at = value.rfind('@');
  if (at == std::string::npos) return "";
  std::string domain = to_lower(value.substr(at + 1));
  while (!domain.empty() && (domain.back() == ' ' || domain.back() == '.')) domain.pop_back();
  return domain;
}

}  // namespace relaysim::mailauth
