#include "mailauth/lookups.hpp"

namespace relaysim::mailauth {

const io::DnsAnswer& Lookups::get(const std::string& name, io::DnsType type) const {
  const std::string key = io::normalize_dns_name(name);
  const auto found = answers_.find({key, type});
  if (found == answers_.end()) throw NeedsAnswer{key, type};
  return found->second;
}

void Lookups::add(const std::string& name, io::DnsType type, io::DnsAnswer answer) {
  answers_[{io::normalize_dns_name(name), type}] = std::move(answer);
}

}  // namespace relaysim::mailauth
