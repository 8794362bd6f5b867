#include "relay/config.hpp"

#include <algorithm>

#include "smtp/syntax.hpp"

namespace relaysim::relay {

std::string_view to_string(TlsLevel level) {
  switch (level) {
    case TlsLevel::none: return "none";
    case TlsLevel::may: return "may";
    case TlsLevel::encrypt: return "encrypt";
    case TlsLevel::verify: return "verify";
    case TlsLevel::dane: return "dane";
    case TlsLevel::dane_only: return "dane-only";
  }
  return "?";
}

TlsLevel tls_level_for(const RelayConfig& config, std::string_view domain) {
  // The most specific pattern wins: the domain itself, then the longest "*.parent", then "*".
  const TlsPolicy* best = nullptr;
  std::size_t best_rank = 0;
  for (const TlsPolicy& policy : config.smtp_tls_policy_maps) {
    if (!domain_matches(policy.domain, domain)) continue;
    const std::size_t rank = policy.domain == "*"              ? 1
                             : policy.domain.starts_with("*.") ? 1 + policy.domain.size()
                                                               : SIZE_MAX;
    if (best == nullptr || rank > best_rank) {
      best = &policy;
      best_rank = rank;
    }
  }
  return best == nullptr ? config.smtp_tls_security_level : best->level;
}

bool has_tls_policy(const RelayConfig& config, std::string_view domain) {
  return std::any_of(config.smtp_tls_policy_maps.begin(), config.smtp_tls_policy_maps.end(),
                     [&](const TlsPolicy& policy) { return domain_matches(policy.domain, domain); });
}

}  // namespace relaysim::relay
