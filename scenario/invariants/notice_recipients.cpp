// Every notification goes to the envelope sender of the message it reports on (RFC 3461 §6.2,
// RFC 5321 §4.5.5): a VERP return path included, never the From: header or a recipient.

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict notice_recipients(const RunObserver& observer) {
  checks::Violations violations;
  const checks::StoredMessages messages = checks::stored_messages(observer);
  std::size_t checked = 0;
  for (const RunObserver::RelayDsn& dsn : observer.dsns) {
    const auto original = messages.find({dsn.node, dsn.id});
    if (original == messages.end() || original->second->from.empty())
      continue;  // about <>: the bounce-loop invariant's
    checked += 1;
    if (checks::lower(dsn.to) != checks::lower(original->second->from)) {
      violations.add(dsn.node + " sent " + std::string(smtp::to_string(dsn.action)) + " notification " + dsn.dsn +
                         " about " + dsn.id + " to " + dsn.to + ", not to its envelope sender " +
                         original->second->from,
                     dsn.at);
    }
  }
  return violations.verdict("every notification goes to the envelope sender",
                            counted(checked, "notification") + " checked");
}

}  // namespace relaysim::scenario::invariants
