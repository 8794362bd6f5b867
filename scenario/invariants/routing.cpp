// Salesforce routes every recipient as its Email Domain Filters say: the first active filter by
// priority that matches, else Salesforce's own servers.

#include <algorithm>

#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict routing(const LoadedWorld& loaded) {
  checks::Violations violations;
  std::size_t checked = 0;
  for (const auto& [name, org] : loaded.orgs) {
    const salesforce::Org& setup = loaded.org_setups.at(name);
    for (const salesforce::LogEntry& entry : org->log) {
      if (entry.event != salesforce::EmailLogEvent::accepted) continue;
      const auto email = std::find_if(org->emails.begin(), org->emails.end(), [&](const salesforce::Email& e) { return e.id == entry.email; });
      if (email == org->emails.end()) continue;
      checked += 1;
      const salesforce::EmailRelay* relay = salesforce::relay_for(setup, email->category, email->from.domain, checks::domain_of(entry.recipient));
      const std::string expected = relay == nullptr ? "Salesforce" : relay->name;
      if (entry.path != expected) {
        violations.add(name + " sent " + entry.email + " for " + entry.recipient + " via " + entry.path + "; the filters say " + expected);
      }
    }
  }
  return violations.verdict("routing follows the Email Domain Filters", std::to_string(checked) + " recipients checked");
}

}  // namespace relaysim::scenario::invariants
