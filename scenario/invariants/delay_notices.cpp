// At most one delay notice per recipient of a message (Postfix's delay_warning_time warns once).

#include <tuple>

#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict delay_notices(const RunObserver& observer) {
  checks::Violations violations;
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<std::string>> notices;  // (node, id, rcpt) -> delay notices
  for (const RunObserver::RelayDsn& dsn : observer.dsns) {
    if (dsn.action != smtp::DsnAction::delayed) continue;
    for (const std::string& rcpt : dsn.about) notices[{dsn.node, dsn.id, checks::lower(rcpt)}].push_back(dsn.dsn);
  }
  for (const auto& [key, sent] : notices) {
    const auto& [node, id, rcpt] = key;
    if (sent.size() > 1) violations.add(node + " sent " + std::to_string(sent.size()) + " delay notices about " + id + " to " + rcpt + ": " + checks::joined(sent));
  }
  return violations.verdict("at most one delay notice per recipient of a message", std::to_string(notices.size()) + " delayed recipients checked");
}

}  // namespace relaysim::scenario::invariants
