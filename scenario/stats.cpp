// The run's statistics (RunStats), as `relaysim run` prints them and `"stats"` expectations check them.

#include "scenario/stats.hpp"
#include "scenario/check_support.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::scenario {

RunStats stats_of(const LoadedWorld& loaded, const RunObserver& observer) {
  RunStats stats;
  std::set<std::pair<std::string, std::int64_t>> sent;
  for (const RunObserver::SenderResult& result : observer.sender_results) sent.insert({result.node, result.message});
  stats.submitted = sent.size();
  for (const auto& [name, org] : loaded.orgs) {
    stats.submitted += org->counters.sends;
    stats.refused += org->counters.refused;
    stats.bounced += org->counters.failed;
    stats.given_up += org->counters.given_up;
  }
  for (const RunObserver::StoredAtRelay& stored : observer.stored) stats.accepted += stored.client.empty() ? 0 : 1;
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (outcome.state == relay::RecipientState::bounced) stats.bounced += 1;
    if (outcome.outcome == smtp::Outcome::transient && outcome.attempted) stats.deferred += 1;
  }
  std::map<std::pair<std::string, std::string>, int> copies;  // (mailbox, Message-ID)
  for (const auto& [name, store] : loaded.mail_stores) {
    for (const fake_mx::StoredMessage& message : store->messages()) {
      if (message.sender.empty()) continue;
      stats.delivered += message.recipients.size();
      const std::string id = smtp::header_value(message.content, "Message-ID");
      for (const smtp::Recipient& recipient : message.recipients) {
        if (!id.empty() && ++copies[{checks::lower(recipient.mailbox.to_string()), id}] > 1) stats.duplicates += 1;
      }
    }
  }
  return stats;
}

}  // namespace relaysim::scenario
