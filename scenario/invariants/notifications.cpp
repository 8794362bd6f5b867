// No notification goes to <>, and none is about a notification (no bounce loops).

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict notifications(const RunObserver& observer) {
  checks::Violations violations;
  const checks::StoredMessages messages = checks::stored_messages(observer);
  for (const RunObserver::RelayDsn& dsn : observer.dsns) {
    const std::string action(smtp::to_string(dsn.action));
    if (dsn.to.empty()) violations.add(dsn.node + " sent a " + action + " notification " + dsn.dsn + " to <>", dsn.at);
    const auto original = messages.find({dsn.node, dsn.id});
    if (original != messages.end() && original->second->from.empty()) {
      violations.add(
          dsn.node + " sent notification " + dsn.dsn + " about " + dsn.id + ", itself a notification: a bounce loop",
          dsn.at);
    }
  }
  return violations.verdict("no notification goes to <>, none is about a notification",
                            counted(observer.dsns.size(), "notification") + " checked");
}

}  // namespace relaysim::scenario::invariants
