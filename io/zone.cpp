#include "io/zone.hpp"

#include <algorithm>

namespace relaysim::io {
namespace {

constexpr int cname_chain_length_max = 8;

}  // namespace

std::string_view to_string(Dnssec state) {
  switch (state) {
    case Dnssec::insecure: return "unsigned";
    case Dnssec::secure: return "signed";
    case Dnssec::bogus: return "bogus";
  }
  return "?";
}

std::optional<Dnssec> parse_dnssec(std::string_view text) {
  if (text == "unsigned") return Dnssec::insecure;
  if (text == "signed") return Dnssec::secure;
  if (text == "bogus") return Dnssec::bogus;
  return std::nullopt;
}

void Zone::set(std::string_view name, DnsRecords records) {
  records.cname = normalize_dns_name(records.cname);
  for (MxRecord& mx : records.mx) {
    if (mx.exchange != ".") mx.exchange = normalize_dns_name(mx.exchange);
  }
  for (std::string& target : records.ptr) target = normalize_dns_name(target);
  records_[normalize_dns_name(name)] = std::move(records);
  rebuild_existing_names();
}

void Zone::remove(std::string_view name) {
  const auto found = records_.find(normalize_dns_name(name));
  if (found == records_.end()) return;
  records_.erase(found);
  rebuild_existing_names();
}

bool Zone::exists(std::string_view name) const { return existing_names_.contains(normalize_dns_name(name)); }

void Zone::rebuild_existing_names() {
  existing_names_.clear();
  for (const auto& [name, records] : records_) {
    std::string_view rest = name;
    while (true) {
      existing_names_.emplace(rest);
      const std::size_t dot = rest.find('.');
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
  }
}

void Zone::set_dnssec(std::string_view apex, Dnssec state) {
  if (state == Dnssec::insecure) {
    dnssec_.erase(normalize_dns_name(apex));
  } else {
    dnssec_[normalize_dns_name(apex)] = state;
  }
}

Dnssec Zone::dnssec_of(std::string_view name) const {
  std::string_view rest = name;
  while (true) {
    const auto found = dnssec_.find(rest);
    if (found != dnssec_.end()) return found->second;
    const std::size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return Dnssec::insecure;
    rest.remove_prefix(dot + 1);
  }
}

DnsAnswer Zone::answer(std::string_view name, DnsType type, std::uint32_t negative_ttl_seconds) const {
  std::vector<std::string> visited;
  DnsAnswer answer = lookup(name, type, negative_ttl_seconds, visited);
  if (dnssec_.empty()) return answer;
  // A validating resolver: every name the answer passed through is in a signed zone, or the
  // answer is not authenticated; a zone whose signatures fail makes the whole answer SERVFAIL.
  bool secure = true;
  for (const std::string& passed : visited) {
    const Dnssec state = dnssec_of(passed);
    if (state == Dnssec::bogus) return DnsAnswer::without_records(DnsStatus::servfail, answer.name);
    secure = secure && state == Dnssec::secure;
  }
  answer.authenticated = secure && answer.status != DnsStatus::servfail;
  return answer;
}

DnsAnswer Zone::lookup(std::string_view name, DnsType type, std::uint32_t negative_ttl_seconds,
                       std::vector<std::string>& visited) const {
  DnsAnswer answer;
  answer.name = normalize_dns_name(name);
  answer.canonical_name = answer.name;
  answer.ttl_seconds = negative_ttl_seconds;
  std::string current = answer.name;
  for (int hop = 0; hop <= cname_chain_length_max; ++hop) {
    visited.push_back(current);
    const auto found = records_.find(current);
    if (found == records_.end()) {
      if (!existing_names_.contains(current)) answer.status = DnsStatus::nxdomain;
      return answer;  // NXDOMAIN, or NODATA for a name that only has names below it
    }
    const DnsRecords& records = found->second;
    if (!records.cname.empty() && type != DnsType::cname) {
      current = records.cname;
      answer.canonical_name = current;
      continue;
    }
    answer.ttl_seconds = records.ttl_seconds;
    switch (type) {
      case DnsType::a:
      case DnsType::aaaa:
        for (const Address& address : records.addresses) {
          if (address.is_v4() == (type == DnsType::a)) answer.addresses.push_back(address);
        }
        break;
      case DnsType::mx: answer.mx = records.mx; break;
      case DnsType::txt: answer.texts = records.texts; break;
      case DnsType::cname: answer.cname_target = records.cname; break;
      case DnsType::ptr: answer.names = records.ptr; break;
      case DnsType::tlsa: answer.tlsa = records.tlsa; break;
    }
    if (answer.empty()) answer.ttl_seconds = std::min(records.ttl_seconds, negative_ttl_seconds);
    return answer;
  }
  answer.status = DnsStatus::servfail;  // a CNAME loop, as resolvers report it
  return answer;
}

}  // namespace relaysim::io
