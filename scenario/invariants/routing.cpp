// Salesforce routes every recipient as its Email Domain Filters say: the active filter with the
// lowest priority number whose sender and recipient patterns match, else Salesforce's own servers.
//
// The oracle here is written from the rules (../shared/REFERENCE.md, "Email Domain Filters"), not
// with the org's code (fake_salesforce/org.cpp, filter_for and relay_for): a bug in one - a
// priority compared the wrong way, a wildcard that matches the bare domain - shows up as a
// disagreement instead of being repeated by the check.

#include <algorithm>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {
namespace {

using checks::filter_patterns_match;

// Where the filters send mail from `sender_domain` to `recipient_domain`: a relay record's name,
// or "Salesforce". System email never uses a relay unless the org says otherwise.
std::string expected_path(const salesforce::Org& org, salesforce::Category category, const std::string& sender_domain,
                          const std::string& recipient_domain) {
  const auto set = org.uses_relay.find(category);
  const bool relayed = set != org.uses_relay.end() ? set->second : category != salesforce::Category::system;
  if (!relayed) return "Salesforce";
  std::vector<const salesforce::DomainFilter*> active;
  for (const salesforce::DomainFilter& filter : org.filters) {
    if (filter.active) active.push_back(&filter);
  }
  std::sort(active.begin(), active.end(), [](const auto* a, const auto* b) { return a->priority < b->priority; });
  for (const salesforce::DomainFilter* filter : active) {
    if (!filter_patterns_match(filter->sender_domains, sender_domain) ||
        !filter_patterns_match(filter->recipient_domains, recipient_domain))
      continue;
    const bool exists = std::any_of(org.relays.begin(), org.relays.end(),
                                    [&](const salesforce::EmailRelay& relay) { return relay.name == filter->relay; });
    return exists ? filter->relay : "Salesforce";
  }
  return "Salesforce";
}

}  // namespace

Verdict routing(const LoadedWorld& loaded) {
  checks::Violations violations;
  std::size_t checked = 0;
  for (const auto& [name, org] : loaded.orgs) {
    const salesforce::Org& setup = loaded.org_setups.at(name);
    for (const salesforce::LogEntry& entry : org->log) {
      if (entry.event != salesforce::EmailLogEvent::accepted) continue;
      const auto email = std::find_if(org->emails.begin(), org->emails.end(),
                                      [&](const salesforce::Email& e) { return e.id == entry.email; });
      if (email == org->emails.end()) continue;
      checked += 1;
      const std::string expected =
          expected_path(setup, email->category, checks::lower(email->from.domain), checks::domain_of(entry.recipient));
      if (entry.path != expected) {
        violations.add(name + " sent " + entry.email + " for " + entry.recipient + " via " + entry.path +
                           "; the filters say " + expected,
                       entry.at);
      }
    }
  }
  return violations.verdict("routing follows the Email Domain Filters", counted(checked, "recipient") + " checked");
}

}  // namespace relaysim::scenario::invariants
