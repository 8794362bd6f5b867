// At most one delay notice per recipient of a message (Postfix's delay_warning_time warns once).
// A crash between two is the exception: a notice is stored before the recipient's state that
// says it was sent, so the attempt in flight at the crash is made again with its notice.

#include <tuple>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict delay_notices(const RunObserver& observer) {
  checks::Violations violations;
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<const RunObserver::RelayDsn*>>
      notices;  // (node, id, rcpt)
  for (const RunObserver::RelayDsn& dsn : observer.dsns) {
    if (dsn.action != smtp::DsnAction::delayed) continue;
    for (const std::string& rcpt : dsn.about) notices[{dsn.node, dsn.id, checks::lower(rcpt)}].push_back(&dsn);
  }
  for (const auto& [key, sent] : notices) {
    const auto& [node, id, rcpt] = key;
    std::vector<std::string> repeated{sent.front()->dsn};
    std::optional<Instant> first_repeat;
    for (std::size_t i = 1; i < sent.size(); ++i) {
      if (checks::crashed_between(observer, node, sent[i - 1]->at, sent[i]->at)) continue;
      repeated.push_back(sent[i]->dsn);
      if (!first_repeat) first_repeat = sent[i]->at;
    }
    if (repeated.size() > 1) {
      violations.add(node + " sent " + std::to_string(repeated.size()) + " delay notices about " + id + " to " + rcpt +
                         ": " + checks::joined(repeated),
                     first_repeat);
    }
  }
  return violations.verdict("at most one delay notice per recipient of a message",
                            counted(notices.size(), "delayed recipient") + " checked");
}

}  // namespace relaysim::scenario::invariants
