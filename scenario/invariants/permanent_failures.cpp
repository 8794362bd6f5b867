// A 5xx in reply to MAIL, RCPT, DATA or the end of data is permanent: the recipient bounces at
// once (RFC 5321 §4.2.1; Postfix bounces it), it is not kept for another try.

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict permanent_failures(const LoadedWorld& loaded, const RunObserver& observer) {
  checks::Violations violations;
  std::size_t checked = 0;
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (!outcome.attempted || outcome.state == relay::RecipientState::delivered) continue;
    checked += 1;
    const bool permanent_reply = outcome.code >= 500;
    const bool transaction = outcome.stage == smtp::Stage::mail || outcome.stage == smtp::Stage::rcpt ||
                             outcome.stage == smtp::Stage::data || outcome.stage == smtp::Stage::content;
    if (permanent_reply && transaction && outcome.outcome == smtp::Outcome::transient) {
      violations.add(outcome.node + " deferred " + outcome.id + " to " + outcome.rcpt + " at " +
                         checks::offset(outcome.at, loaded.start) + " after a permanent reply: " + outcome.reason,
                     outcome.at);
    }
  }
  return violations.verdict("a 5xx in the transaction bounces at once",
                            counted(checked, "failed attempt") + " checked");
}

}  // namespace relaysim::scenario::invariants
