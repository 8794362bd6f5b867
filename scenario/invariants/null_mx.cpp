// Mail for a domain with a null MX (RFC 7505: "MX 0 .") is never attempted: it bounces with
// 5.1.10 at once, even when the domain has an address and a listening host of its own.

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict null_mx(const LoadedWorld& loaded, const RunObserver& observer) {
  using checks::offset;
  checks::Violations violations;
  std::size_t checked = 0;
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (!loaded.null_mx_domains.contains(checks::domain_of(outcome.rcpt))) continue;
    checked += 1;
    const std::string which =
        outcome.node + " " + outcome.id + " to " + outcome.rcpt + " at " + offset(outcome.at, loaded.start);
    if (outcome.relay_endpoint)
      violations.add(which + ": a connection to " + outcome.relay + " for a domain with a null MX", outcome.at);
    if (outcome.state == relay::RecipientState::delivered)
      violations.add(which + ": delivered to a domain with a null MX", outcome.at);
    // A DNS failure defers (and may expire); a bounce on an answer names the null MX.
    if (outcome.state == relay::RecipientState::bounced && outcome.outcome == smtp::Outcome::permanent &&
        outcome.status != "5.1.10") {
      violations.add(which + ": bounced with " + outcome.status + ", not 5.1.10", outcome.at);
    }
  }
  return violations.verdict("a null MX bounces with 5.1.10, never attempted", counted(checked, "outcome") + " checked");
}

}  // namespace relaysim::scenario::invariants
