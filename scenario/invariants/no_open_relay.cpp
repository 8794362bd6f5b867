// No unauthorized relaying: a relay accepts only from mynetworks or authenticated clients, only
// for its recipient domains, and only from its sender domains when it has any.

#include <algorithm>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict no_open_relay(const LoadedWorld& loaded, const RunObserver& observer) {
  checks::Violations violations;
  std::size_t checked = 0;
  for (const RunObserver::StoredAtRelay& stored : observer.stored) {
    if (stored.client.empty()) continue;  // the relay's own notification
    const auto config = loaded.relay_configs.find(stored.node);
    if (config == loaded.relay_configs.end()) continue;
    checked += 1;
    const relay::RelayConfig& relay = config->second;
    const auto client = io::Address::parse(stored.client);
    const bool trusted = client && std::any_of(relay.mynetworks.begin(), relay.mynetworks.end(),
                                               [&](const io::Cidr& c) { return c.contains(*client); });
    if (!trusted && stored.sasl.empty()) {
      violations.add(stored.node + " accepted " + stored.id + " from " + stored.client +
                         ", neither in mynetworks nor authenticated",
                     stored.at);
    }
    for (const std::string& rcpt : stored.to) {
      if (!relay::any_domain_matches(relay.recipient_domains, checks::domain_of(rcpt))) {
        violations.add(stored.node + " accepted " + stored.id + " for " + rcpt + ", outside recipient_domains",
                       stored.at);
      }
    }
    if (!stored.from.empty() && !relay.sender_domains.empty() &&
        !relay::any_domain_matches(relay.sender_domains, checks::domain_of(stored.from))) {
      violations.add(stored.node + " accepted " + stored.id + " from " + stored.from + ", outside sender_domains",
                     stored.at);
    }
  }
  return violations.verdict("no unauthorized relaying", counted(checked, "accepted message") + " checked");
}

}  // namespace relaysim::scenario::invariants
