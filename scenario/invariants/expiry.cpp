// A recipient that only ever got temporary failures is bounced (4.4.7) at the end of the queue
// lifetime, not before: arrival + maximal_queue_lifetime, or bounce_queue_lifetime for a notice.

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict expiry(const LoadedWorld& loaded, const RunObserver& observer) {
  constexpr Duration clock_slack = std::chrono::seconds(1);
  using checks::offset;
  checks::Violations violations;
  const checks::StoredMessages arrivals = checks::stored_messages(observer);
  std::size_t checked = 0;
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (outcome.state != relay::RecipientState::bounced || outcome.outcome != smtp::Outcome::transient) continue;
    const auto config = loaded.relay_configs.find(outcome.node);
    const auto arrival = arrivals.find({outcome.node, outcome.id});
    if (config == loaded.relay_configs.end() || arrival == arrivals.end()) continue;
    checked += 1;
    const bool notice = arrival->second->from.empty();
    const Instant end_of_life = checks::end_of_life(config->second, *arrival->second);
    if (outcome.at + clock_slack < end_of_life) {
      violations.add(outcome.node + " bounced " + outcome.id + " to " + outcome.rcpt + " at " +
                         offset(outcome.at, loaded.start) + " (" + outcome.status +
                         ") after temporary failures only, before its " +
                         (notice ? "bounce_queue_lifetime" : "maximal_queue_lifetime") + " ends at " +
                         offset(end_of_life, loaded.start),
                     outcome.at);
    }
  }
  return violations.verdict("temporary failures bounce only when the queue lifetime ends",
                            counted(checked, "expiry", "expiries") + " checked");
}

}  // namespace relaysim::scenario::invariants
