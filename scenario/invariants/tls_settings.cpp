// Salesforce's TLS setting and the relay's outbound TLS level are never violated.

#include <algorithm>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict tls_settings(const LoadedWorld& loaded, const RunObserver& observer) {
  checks::Violations violations;
  std::size_t checked = 0;
  for (const auto& [name, org] : loaded.orgs) {
    const salesforce::Org& setup = loaded.org_setups.at(name);
    for (const salesforce::LogEntry& entry : org->log) {
      if (entry.event != salesforce::EmailLogEvent::delivered) continue;
      const auto relay =
          std::find_if(setup.relays.begin(), setup.relays.end(), [&](const auto& r) { return r.name == entry.path; });
      if (relay == setup.relays.end()) continue;
      checked += 1;
      const bool required =
          relay->tls == salesforce::TlsSetting::required || relay->tls == salesforce::TlsSetting::required_verify;
      if (required && !entry.tls) {
        violations.add(name + " handed " + entry.email + " for " + entry.recipient + " to " + relay->name +
                           " without TLS under " + std::string(to_string(relay->tls)),
                       entry.at);
      }
      if (salesforce::verifies(relay->tls) && entry.tls && !entry.tls_verified) {
        violations.add(name + " handed " + entry.email + " for " + entry.recipient + " to " + relay->name +
                           " over TLS with an unverified certificate under " + std::string(to_string(relay->tls)),
                       entry.at);
      }
    }
  }
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (outcome.state != relay::RecipientState::delivered) continue;
    const auto config = loaded.relay_configs.find(outcome.node);
    if (config == loaded.relay_configs.end()) continue;
    checked += 1;
    const relay::TlsLevel level = relay::tls_level_for(config->second, checks::domain_of(outcome.rcpt));
    if ((level == relay::TlsLevel::encrypt || level == relay::TlsLevel::verify) && !outcome.tls) {
      violations.add(outcome.node + " delivered " + outcome.id + " to " + outcome.rcpt + " without TLS at level " +
                         std::string(relay::to_string(level)),
                     outcome.at);
    }
    if (level == relay::TlsLevel::verify && !outcome.tls_verified) {
      violations.add(outcome.node + " delivered " + outcome.id + " to " + outcome.rcpt +
                         " to an unverified server at level verify",
                     outcome.at);
    }
  }
  return violations.verdict("TLS settings are never violated", counted(checked, "hand-over") + " checked");
}

}  // namespace relaysim::scenario::invariants
