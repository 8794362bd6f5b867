// Notices honour what the sender asked for (RFC 3461): NOTIFY=NEVER gets none; a NOTIFY list gets
// only the kinds it names (and a success notice only when it names SUCCESS); without NOTIFY,
// failures and delays are reported, successes are not; RET=HDRS returns headers, not the body.

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {
namespace {

bool asked_for(const smtp::RecipientParameters& dsn, smtp::DsnAction action) {
  if (!dsn.notify_given) return action == smtp::DsnAction::failed || action == smtp::DsnAction::delayed;
  if (dsn.notify_never) return false;
  switch (action) {
    case smtp::DsnAction::failed: return dsn.notify_failure;
    case smtp::DsnAction::delayed: return dsn.notify_delay;
    case smtp::DsnAction::delivered:
    case smtp::DsnAction::relayed: return dsn.notify_success;
  }
  return false;
}

}  // namespace

Verdict notice_requests(const RunObserver& observer) {
  checks::Violations violations;
  const checks::StoredMessages messages = checks::stored_messages(observer);
  std::size_t checked = 0;
  for (const RunObserver::RelayDsn& notice : observer.dsns) {
    const auto original = messages.find({notice.node, notice.id});
    if (original == messages.end()) continue;
    const RunObserver::StoredAtRelay& message = *original->second;
    const std::string action(smtp::to_string(notice.action));
    for (const std::string& rcpt : notice.about) {
      for (std::size_t i = 0; i < message.to.size() && i < message.dsn.size(); ++i) {
        if (checks::lower(message.to[i]) != checks::lower(rcpt)) continue;
        checked += 1;
        if (!asked_for(message.dsn[i], notice.action)) {
          violations.add(notice.node + " sent a " + action + " notice " + notice.dsn + " about " + notice.id + " to " +
                             rcpt + ", whose NOTIFY did not ask for one",
                         notice.at);
        }
      }
    }
    const auto sent = messages.find({notice.node, notice.dsn});
    if (notice.action == smtp::DsnAction::failed && checks::lower(message.ret) == "hdrs" && sent != messages.end() &&
        !sent->second->returns_headers_only) {
      violations.add(notice.node + " returned the whole of " + notice.id + " in notice " + notice.dsn +
                         ", though its sender asked RET=HDRS",
                     notice.at);
    }
  }
  return violations.verdict("notices honour NOTIFY and RET", counted(checked, "notified recipient") + " checked");
}

}  // namespace relaysim::scenario::invariants
