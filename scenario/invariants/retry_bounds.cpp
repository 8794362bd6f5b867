// Retries stay between minimal_backoff_time and maximal_backoff_time and inside the queue lifetime.

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict retry_bounds(const LoadedWorld& loaded, const RunObserver& observer) {
  constexpr Duration clock_slack = std::chrono::seconds(1);
  using checks::offset;
  checks::Violations violations;
  const checks::StoredMessages arrivals = checks::stored_messages(observer);
  std::size_t checked = 0;
  for (const RunObserver::RelayRetry& retry : observer.retries) {
    const auto config = loaded.relay_configs.find(retry.node);
    const auto arrival = arrivals.find({retry.node, retry.id});
    if (config == loaded.relay_configs.end() || arrival == arrivals.end()) continue;
    checked += 1;
    const relay::RelayConfig& relay = config->second;
    const Instant end_of_life = checks::end_of_life(relay, *arrival->second);
    const Duration gap = retry.next - retry.at;
    if (gap > relay.maximal_backoff_time + clock_slack) {
      violations.add(retry.node + " " + retry.id + " waits " + format_duration(gap) + " after " +
                         offset(retry.at, loaded.start) + ", more than maximal_backoff_time " +
                         format_duration(relay.maximal_backoff_time),
                     retry.at);
    }
    if (gap + clock_slack < relay.minimal_backoff_time && retry.next + clock_slack < end_of_life) {
      violations.add(retry.node + " " + retry.id + " waits only " + format_duration(gap) + " after " +
                         offset(retry.at, loaded.start) + ", less than minimal_backoff_time " +
                         format_duration(relay.minimal_backoff_time),
                     retry.at);
    }
    if (retry.next > end_of_life + clock_slack) {
      violations.add(retry.node + " " + retry.id + " plans an attempt at " + offset(retry.next, loaded.start) +
                         ", after its queue lifetime ends at " + offset(end_of_life, loaded.start),
                     retry.at);
    }
  }
  return violations.verdict("retries stay within the backoff bounds and the queue lifetime",
                            counted(checked, "retry", "retries") + " checked");
}

}  // namespace relaysim::scenario::invariants
