// What a relay (or Salesforce) handed to a fake MX with a 250 is in that MX's mailbox - or the MX
// took it to bounce later. Nothing disappears between two hops.

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict hand_overs(const LoadedWorld& loaded, const RunObserver& observer) {
  checks::Violations violations;
  std::size_t checked = 0;
  std::map<io::Address, std::string> nodes_by_address;
  for (const auto& [node, host] : loaded.node_hosts) {
    for (const io::Address& address : loaded.host_addresses.at(host)) nodes_by_address.try_emplace(address, node);
  }
  const auto check = [&](const std::string& who, const std::optional<io::Endpoint>& hop, const std::string& rcpt,
                         Instant at) {
    if (!hop) return;
    const auto node = nodes_by_address.find(hop->address);
    if (node == nodes_by_address.end()) return;
    const auto store = loaded.mail_stores.find(node->second);
    if (store == loaded.mail_stores.end()) return;  // not a fake MX: a relay, which the other checks cover
    checked += 1;
    if (store->second->count(rcpt) > 0) return;
    const auto late = observer.late_bounces.find(node->second);
    if (late != observer.late_bounces.end() && late->second.contains(checks::lower(rcpt))) return;
    violations.add(who + " handed " + rcpt + " to " + node->second + " at " + checks::offset(at, loaded.start) +
                       " and got 250, but " + node->second + " has nothing for " + rcpt,
                   at);
  };
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (outcome.state == relay::RecipientState::delivered)
      check(outcome.node + " (" + outcome.id + ")", outcome.relay_endpoint, outcome.rcpt, outcome.at);
  }
  for (const auto& [name, org] : loaded.orgs) {
    for (const salesforce::LogEntry& entry : org->log) {
      if (entry.event == salesforce::EmailLogEvent::delivered)
        check(name + " (" + entry.email + ")", entry.server_endpoint, entry.recipient, entry.at);
    }
  }
  return violations.verdict("what was handed to an MX with 250 is in its mailbox",
                            counted(checked, "hand-over") + " checked");
}

}  // namespace relaysim::scenario::invariants
