#include "io/dns.hpp"

#include <idn2.h>

#include <algorithm>

#include "io/text.hpp"

namespace relaysim::io {

std::string_view to_string(DnsType type) {
  switch (type) {
    case DnsType::a: return "A";
    case DnsType::aaaa: return "AAAA";
    case DnsType::mx: return "MX";
    case DnsType::txt: return "TXT";
    case DnsType::cname: return "CNAME";
    case DnsType::ptr: return "PTR";
    case DnsType::tlsa: return "TLSA";
  }
  return "?";
}

std::optional<DnsType> parse_dns_type(std::string_view text) {
  if (text == "A") return DnsType::a;
  if (text == "AAAA") return DnsType::aaaa;
  if (text == "MX") return DnsType::mx;
  if (text == "TXT") return DnsType::txt;
  if (text == "CNAME") return DnsType::cname;
  if (text == "PTR") return DnsType::ptr;
  if (text == "TLSA") return DnsType::tlsa;
  return std::nullopt;
}

std::string_view to_string(DnsStatus status) {
  switch (status) {
    case DnsStatus::ok: return "ok";
    case DnsStatus::nxdomain: return "NXDOMAIN";
    case DnsStatus::servfail: return "SERVFAIL";
    case DnsStatus::timeout: return "timeout";
  }
  return "?";
}

std::string to_string(const TlsaRecord& record) {
  return std::to_string(record.usage) + " " + std::to_string(record.selector) + " " + std::to_string(record.matching) +
         " " + to_hex(record.data);
}

std::string tlsa_name(std::string_view host, std::uint16_t port) {
  return "_" + std::to_string(port) + "._tcp." + normalize_dns_name(host);
}

std::string reverse_name(const Address& address) {
  std::string out;
  if (address.is_v4()) {
    for (int i = 3; i >= 0; --i) out += std::to_string(address.bytes()[static_cast<std::size_t>(i)]) + ".";
    return out + "in-addr.arpa";
  }
  static constexpr char digits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    const std::uint8_t byte = address.bytes()[static_cast<std::size_t>(i)];
    out += digits[byte & 15];
    out += '.';
    out += digits[byte >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

std::string normalize_dns_name(std::string_view name) {
  std::string out(name);
  const bool ascii = std::all_of(out.begin(), out.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (!ascii && out.find('\0') == std::string::npos) {
    // An internationalized name is looked up, and compared, as its A-labels (IDNA2008 with UTS #46
    // mapping, as Postfix and browsers do): "bücher.example" is "xn--bcher-kva.example".
    char* converted = nullptr;
    if (idn2_to_ascii_8z(out.c_str(), &converted, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) == IDN2_OK) out = converted;
    idn2_free(converted);  // a name that is not a valid IDN stays as it is, and is found nowhere
  }
  // After the mapping, which may leave a label empty (a soft hyphen maps to nothing).
  while (!out.empty() && out.back() == '.') out.pop_back();
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace relaysim::io
