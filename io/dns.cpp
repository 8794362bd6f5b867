#include "io/dns.hpp"

namespace relaysim::io {

std::string_view to_string(DnsType type) {
  switch (type) {
    case DnsType::a: return "A";
    case DnsType::aaaa: return "AAAA";
    case DnsType::mx: return "MX";
    case DnsType::txt: return "TXT";
    case DnsType::cname: return "CNAME";
  }
  return "?";
}

std::optional<DnsType> parse_dns_type(std::string_view text) {
  if (text == "A") return DnsType::a;
  if (text == "AAAA") return DnsType::aaaa;
  if (text == "MX") return DnsType::mx;
  if (text == "TXT") return DnsType::txt;
  if (text == "CNAME") return DnsType::cname;
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

std::string normalize_dns_name(std::string_view name) {
  std::string out(name);
  while (!out.empty() && out.back() == '.') out.pop_back();
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace relaysim::io
