// A delivery or bounce the relay recorded durably is not made again: after a crash only the
// attempt that was in flight (settled, not yet recorded) may be repeated.

#include <tuple>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict recorded_outcomes(const LoadedWorld& loaded, const RunObserver& observer) {
  checks::Violations violations;
  using Key = std::tuple<std::string, std::string, std::string>;  // (relay node, queue id, recipient)
  std::map<Key, Instant> recorded_at;                             // the first instant its final state was durable
  for (const RunObserver::RelayRecorded& recorded : observer.recorded) {
    for (const std::string& rcpt : recorded.rcpts)
      recorded_at.try_emplace({recorded.node, recorded.id, checks::lower(rcpt)}, recorded.at);
  }
  std::map<Key, const RunObserver::RelayOutcome*> first_final;
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (!outcome.final()) continue;
    const Key key{outcome.node, outcome.id, checks::lower(outcome.rcpt)};
    const auto [first, inserted] = first_final.try_emplace(key, &outcome);
    if (inserted) continue;
    const auto recorded = recorded_at.find(key);
    if (recorded == recorded_at.end() || recorded->second > outcome.at) continue;
    violations.add(outcome.node + " " + std::string(relay::to_string(outcome.state)) + " " + outcome.id + " to " +
                       outcome.rcpt + " again at " + checks::offset(outcome.at, loaded.start) +
                       ", though it had recorded " + std::string(relay::to_string(first->second->state)) + " (" +
                       first->second->status + ", settled at " + checks::offset(first->second->at, loaded.start) +
                       ") durably at " + checks::offset(recorded->second, loaded.start),
                   outcome.at);
  }
  return violations.verdict("a recorded delivery or bounce is never made again",
                            counted(recorded_at.size(), "recorded recipient") + " checked");
}

}  // namespace relaysim::scenario::invariants
