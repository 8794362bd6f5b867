// Every accepted recipient ends delivered or bounced exactly once, and nothing acknowledged is lost.

#include <algorithm>
#include <tuple>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {
namespace {

using checks::crashed_between;
using checks::describe;
using checks::lower;
using checks::offset;

}  // namespace

Verdict conservation(const LoadedWorld& loaded, const RunObserver& observer, bool quiescent) {
  checks::Violations violations;
  using Key = std::tuple<std::string, std::string, std::string>;  // (relay node, queue id, recipient)
  std::map<Key, std::vector<const RunObserver::RelayOutcome*>> finals;
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (outcome.final()) finals[{outcome.node, outcome.id, lower(outcome.rcpt)}].push_back(&outcome);
  }
  std::set<Key> accepted;
  for (const RunObserver::StoredAtRelay& stored : observer.stored) {
    for (const std::string& rcpt : stored.to) {
      const Key key{stored.node, stored.id, lower(rcpt)};
      accepted.insert(key);
      const auto found = finals.find(key);
      if (found == finals.end()) {
        if (quiescent) {
          violations.add(stored.node + " accepted " + stored.id + " for " + rcpt + " at " +
                             offset(stored.at, loaded.start) + " and it never ended delivered or bounced",
                         stored.at);
        }
        continue;
      }
      const auto& list = found->second;
      for (std::size_t i = 1; i < list.size(); ++i) {
        if (!crashed_between(observer, stored.node, list[i - 1]->at, list[i]->at)) {
          violations.add(stored.node + " " + stored.id + " to " + rcpt + " ended twice without a crash between: " +
                             describe(*list[i - 1], loaded.start) + ", then " + describe(*list[i], loaded.start),
                         list[i]->at);
        }
      }
    }
  }
  // Nothing acknowledged is lost: every queue id a client was given with its 250 names a message a relay stored.
  std::set<std::string> stored_ids;
  for (const RunObserver::StoredAtRelay& stored : observer.stored) stored_ids.insert(stored.id);
  const auto acknowledged = [&](const std::string& queue_id, const std::string& who, Instant at) {
    if (queue_id.empty() || loaded.relay_configs.empty() || stored_ids.contains(queue_id)) return;
    violations.add(who + " was told \"queued as " + queue_id + "\" at " + offset(at, loaded.start) +
                       ", but no relay ever stored " + queue_id + ": an acknowledged message is lost",
                   at);
  };
  for (const auto& [name, org] : loaded.orgs) {
    const salesforce::Org& setup = loaded.org_setups.at(name);
    for (const salesforce::LogEntry& entry : org->log) {
      const bool to_relay =
          std::any_of(setup.relays.begin(), setup.relays.end(), [&](const auto& r) { return r.name == entry.path; });
      if (entry.event == salesforce::EmailLogEvent::delivered && to_relay) {
        acknowledged(entry.queue_id, name + " (" + entry.email + " to " + entry.recipient + ")", entry.at);
      }
    }
  }
  for (const RunObserver::SenderResult& result : observer.sender_results) {
    if (result.outcome == smtp::Outcome::delivered)
      acknowledged(result.queue_id, result.node + " (message " + std::to_string(result.message) + ")", result.at);
  }
  const auto recovered = [&](const std::string& node, const std::string& id) {
    const auto found = observer.recovered.find(node);
    return found != observer.recovered.end() && found->second.contains(id);
  };
  for (const auto& [key, list] : finals) {
    // Durable in a group commit the crash cut short: read back, never acknowledged (the client
    // sends it again, a counted duplicate).
    if (!accepted.contains(key) && recovered(std::get<0>(key), std::get<1>(key))) continue;
    if (!accepted.contains(key)) {
      violations.add(
          std::get<0>(key) + " delivered " + std::get<1>(key) + " to " + std::get<2>(key) + " which it never accepted",
          list.front()->at);
    }
  }
  for (const auto& [name, org] : loaded.orgs) {
    struct Ends {
      int count = 0;
      Instant accepted{};
      Instant second{};  // when it ended a second time
    };
    std::map<std::pair<std::string, std::string>, Ends> ends;
    for (const salesforce::LogEntry& entry : org->log) {
      const auto key = std::make_pair(entry.email, lower(entry.recipient));
      if (entry.event == salesforce::EmailLogEvent::accepted) ends.try_emplace(key, Ends{0, entry.at, {}});
      if (!salesforce::is_final(entry.event)) continue;
      Ends& ended = ends[key];
      ended.count += 1;
      if (ended.count == 2) ended.second = entry.at;
    }
    for (const auto& [key, ended] : ends) {
      if (ended.count > 1)
        violations.add(name + " email " + key.first + " to " + key.second + " ended " + counted(ended.count, "time"),
                       ended.second);
      if (ended.count == 0 && quiescent) {
        violations.add(
            name + " email " + key.first + " to " + key.second + " never ended delivered, failed or given up",
            ended.accepted);
      }
    }
  }
  return violations.verdict("every accepted recipient ends delivered or bounced exactly once",
                            counted(accepted.size(), "relay recipient") + " checked" +
                                (quiescent ? "" : " (the run ended before quiescence)"));
}

}  // namespace relaysim::scenario::invariants
