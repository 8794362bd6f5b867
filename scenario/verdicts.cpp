#include "scenario/verdicts.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "smtp/dsn.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::scenario {
namespace {

constexpr std::size_t violations_shown_max = 5;
constexpr Duration clock_slack = std::chrono::seconds(1);

std::string_view text_of(const io::TraceEvent& event, std::string_view key) {
  for (const io::TraceField& field : event.fields) {
    if (field.key == key) return field.value.text();
  }
  return {};
}

std::int64_t integer_of(const io::TraceEvent& event, std::string_view key) {
  for (const io::TraceField& field : event.fields) {
    if (field.key == key) return field.value.integer();
  }
  return 0;
}

bool flag_of(const io::TraceEvent& event, std::string_view key, bool otherwise = false) {
  for (const io::TraceField& field : event.fields) {
    if (field.key == key) return field.value.boolean();
  }
  return otherwise;
}

std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string lower(std::string_view text) { return smtp::to_lower(text); }

std::string domain_of(std::string_view address) {
  const std::size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : lower(address.substr(at + 1));
}

std::string offset(Instant when, Instant start) { return "+" + format_duration(when - start); }

// Collects violations of one invariant and turns them into a verdict.
class Violations {
 public:
  void add(std::string text) {
    count_ += 1;
    if (shown_.size() < violations_shown_max) shown_.push_back(std::move(text));
  }
  Verdict verdict(std::string name, std::string held) const {
    if (count_ == 0) return {std::move(name), true, std::move(held)};
    std::string message = std::to_string(count_) + (count_ == 1 ? " violation: " : " violations: ");
    for (std::size_t i = 0; i < shown_.size(); ++i) message += (i == 0 ? "" : "; ") + shown_[i];
    if (count_ > shown_.size()) message += "; ...";
    return {std::move(name), false, message};
  }

 private:
  std::size_t count_ = 0;
  std::vector<std::string> shown_;
};

// What the run did to one recipient, gathered from every node.
struct Journey {
  std::vector<const fake_mx::StoredMessage*> deliveries;    // in mailboxes, notices excluded
  std::vector<const RunObserver::RelayOutcome*> relay;      // every relay outcome, in time order
  std::vector<std::pair<std::string, const salesforce::LogEntry*>> org;  // (org node, email log row)
  std::vector<const fake_mx::StoredMessage*> notices;       // DSNs about the recipient in mailboxes
  std::optional<Instant> submitted;
};

bool subject_matches(const std::optional<std::string>& subject, std::string_view content) {
  return !subject || smtp::header_value(content, "Subject").starts_with(*subject);
}

Journey journey_of(const LoadedWorld& loaded, const RunObserver& observer, const std::string& to,
                   const std::optional<std::string>& subject) {
  Journey journey;
  const std::string address = lower(to);
  for (const auto& [name, store] : loaded.mail_stores) {
    for (const fake_mx::StoredMessage& message : store->messages()) {
      const bool for_recipient = std::any_of(message.recipients.begin(), message.recipients.end(),
                                             [&](const smtp::Recipient& r) { return lower(r.mailbox.to_string()) == address; });
      if (for_recipient && !message.sender.empty() && subject_matches(subject, message.content)) journey.deliveries.push_back(&message);
      if (!message.sender.empty()) continue;
      if (const auto report = smtp::parse_dsn(message.content)) {
        for (const smtp::DsnRecipient& recipient : report->recipients) {
          if (lower(recipient.final_recipient) == address) {
            journey.notices.push_back(&message);
            break;
          }
        }
      }
    }
  }
  std::sort(journey.deliveries.begin(), journey.deliveries.end(),
            [](const auto* a, const auto* b) { return a->received < b->received; });
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (lower(outcome.rcpt) == address) journey.relay.push_back(&outcome);
  }
  for (const auto& [name, org] : loaded.orgs) {
    for (const salesforce::LogEntry* entry : org->log_for(address)) {
      if (subject) {
        const auto email = std::find_if(org->emails.begin(), org->emails.end(), [&](const salesforce::Email& e) { return e.id == entry->email; });
        if (email != org->emails.end() && !subject_matches(subject, email->content)) continue;
      }
      journey.org.emplace_back(name, entry);
      if (entry->event == "Accepted" && (!journey.submitted || entry->at < *journey.submitted)) journey.submitted = entry->at;
    }
  }
  for (const RunObserver::StoredAtRelay& stored : observer.stored) {
    if (stored.client.empty()) continue;
    for (const std::string& rcpt : stored.to) {
      if (lower(rcpt) == address && (!journey.submitted || stored.at < *journey.submitted)) journey.submitted = stored.at;
    }
  }
  return journey;
}

bool is_attempt(const salesforce::LogEntry& entry) {
  return entry.event == "Delivered" || entry.event == "Transient failure" || entry.event == "Permanent failure" || entry.event == "Given up";
}

bool is_final(const salesforce::LogEntry& entry) {
  return entry.event == "Delivered" || entry.event == "Permanent failure" || entry.event == "Given up";
}

std::string describe(const RunObserver::RelayOutcome& outcome, Instant start) {
  return outcome.node + " " + outcome.id + " " + outcome.state + " " + outcome.status + " at " + offset(outcome.at, start);
}

// --- expectations

Verdict check_recipient(const Expectation& expect, const LoadedWorld& loaded, const RunObserver& observer) {
  const Journey journey = journey_of(loaded, observer, expect.to, expect.subject);
  const Instant start = loaded.start;
  std::vector<std::string> failures;
  const auto fail = [&](std::string text) { failures.push_back(std::move(text)); };

  if (expect.delivered) {
    if (*expect.delivered && journey.deliveries.empty()) {
      std::string last = "no relay or Salesforce outcome";
      if (!journey.relay.empty()) last = "last relay outcome " + describe(*journey.relay.back(), start);
      else if (!journey.org.empty()) last = "last Salesforce log row: " + journey.org.back().second->event + " " + journey.org.back().second->detail;
      fail("not delivered to any mailbox (" + last + ")");
    }
    if (!*expect.delivered && !journey.deliveries.empty()) {
      fail("delivered to " + journey.deliveries.front()->mx + " at " + offset(journey.deliveries.front()->received, start));
    }
  }
  if (expect.bounced) {
    const std::string& status = *expect.bounced;
    std::vector<std::string> seen;
    bool found = false;
    for (const auto* outcome : journey.relay) {
      if (outcome->state != "bounced") continue;
      seen.push_back(outcome->status + " by " + outcome->node);
      found |= outcome->status.starts_with(status);
    }
    for (const auto* notice : journey.notices) {
      const std::optional<smtp::DsnReport> report = smtp::parse_dsn(notice->content);
      for (const smtp::DsnRecipient& recipient : report->recipients) {
        if (lower(recipient.final_recipient) != lower(expect.to) || recipient.action != smtp::DsnAction::failed) continue;
        seen.push_back(recipient.status + " in a DSN at " + notice->mx);
        found |= recipient.status.starts_with(status);
      }
    }
    for (const auto& [name, org] : loaded.orgs) {
      if (const auto contact = org->bounced_contacts.find(lower(expect.to)); contact != org->bounced_contacts.end()) {
        seen.push_back(contact->second.status + " in " + name + "'s bounce inbox");
        found |= contact->second.status.starts_with(status);
      }
    }
    for (const auto& [name, entry] : journey.org) {
      if (entry->event != "Permanent failure" && entry->event != "Given up") continue;
      seen.push_back(entry->event + " at " + name + " (" + entry->detail + ")");
      found |= status.empty() || entry->detail.find(status) != std::string::npos;
    }
    if (!found) {
      std::string list;
      for (const std::string& item : seen) list += (list.empty() ? "" : ", ") + item;
      fail("not bounced with " + (status.empty() ? std::string("any status") : status) + (list.empty() ? " (no bounce at all)" : " (saw " + list + ")"));
    }
  }
  if (expect.deferred_at) {
    const Instant when = *expect.deferred_at;
    bool deferred = false;
    bool final = false;
    for (const auto* outcome : journey.relay) {
      if (outcome->at > when) break;
      if (outcome->state == "deferred") deferred = true;
      if (outcome->state == "delivered" || outcome->state == "bounced") final = true;
    }
    for (const auto& [name, entry] : journey.org) {
      if (entry->at > when) continue;
      if (entry->event == "Transient failure") deferred = true;
      if (entry->event == "Permanent failure" || entry->event == "Given up") final = true;
    }
    if (!deferred || final) fail(std::string("not deferred at ") + offset(when, start) + (final ? " (already final)" : " (no deferral before then)"));
  }
  if (expect.never_attempted) {
    const bool relay_attempt = std::any_of(journey.relay.begin(), journey.relay.end(), [](const auto* o) { return o->attempted; });
    const bool org_attempt = std::any_of(journey.org.begin(), journey.org.end(), [](const auto& e) { return is_attempt(*e.second); });
    if (relay_attempt || org_attempt || !journey.deliveries.empty()) fail("a delivery was attempted");
  }
  if (expect.refused) {
    const bool refused = std::any_of(journey.org.begin(), journey.org.end(), [](const auto& e) { return e.second->event == "Refused"; });
    if (!refused) fail("not refused at the source");
  }
  if (expect.via) {
    std::set<std::string> paths;
    for (const auto& [name, entry] : journey.org) {
      if (entry->event == "Accepted") paths.insert(entry->path);
    }
    for (const auto* outcome : journey.relay) paths.insert(outcome->node);
    if (!paths.contains(*expect.via)) {
      std::string list;
      for (const std::string& path : paths) list += (list.empty() ? "" : ", ") + path;
      fail("not via " + *expect.via + " (went via " + (list.empty() ? std::string("nothing") : list) + ")");
    }
  }
  if (expect.attempts) {
    int attempts = static_cast<int>(std::count_if(journey.relay.begin(), journey.relay.end(), [](const auto* o) { return o->attempted; }));
    const char* counted = "relay";
    if (journey.relay.empty()) {
      attempts = static_cast<int>(std::count_if(journey.org.begin(), journey.org.end(), [](const auto& e) { return is_attempt(*e.second); }));
      counted = "Salesforce";
    }
    if (attempts != *expect.attempts) fail(std::to_string(attempts) + " " + counted + " attempts, not " + std::to_string(*expect.attempts));
  }
  if (expect.within) {
    if (journey.deliveries.empty() || !journey.submitted) {
      fail("no delivery to time");
    } else if (journey.deliveries.front()->received - *journey.submitted > *expect.within) {
      fail("delivered after " + format_duration(journey.deliveries.front()->received - *journey.submitted) + ", not within " + format_duration(*expect.within));
    }
  }
  if (expect.tls || expect.tls_verified) {
    // The first hop: Salesforce's hand-over when the recipient came from an org, else the relay's delivery.
    std::optional<std::pair<bool, bool>> hop;
    for (const auto& [name, entry] : journey.org) {
      if (entry->event == "Delivered" && !hop) hop = std::pair(entry->tls, entry->tls_verified);
    }
    for (const auto* outcome : journey.relay) {
      if (outcome->state == "delivered" && !hop) hop = std::pair(outcome->tls, outcome->tls_verified);
    }
    if (!hop) {
      fail("no hop delivered it, so no TLS to check");
    } else {
      if (expect.tls && hop->first != *expect.tls) fail(std::string("TLS ") + (hop->first ? "was" : "was not") + " used");
      if (expect.tls_verified && hop->second != *expect.tls_verified) fail(std::string("the certificate ") + (hop->second ? "was" : "was not") + " verified");
    }
  }
  if (expect.delivery_tls) {
    if (journey.deliveries.empty()) {
      fail("not in any mailbox, so no delivery TLS to check");
    } else if (journey.deliveries.front()->tls.active != *expect.delivery_tls) {
      fail(std::string("the mailbox's copy came ") + (journey.deliveries.front()->tls.active ? "over TLS" : "in plaintext"));
    }
  }
  if (expect.dsn_received) {
    bool received = !journey.notices.empty();
    for (const auto& [name, entry] : journey.org) received |= entry->event == "Bounced" || entry->event == "Notice received";
    if (received != *expect.dsn_received) fail(received ? "a DSN about it was received" : "no DSN about it reached a mailbox or a bounce inbox");
  }
  if (expect.contact_marked_bounced) {
    bool marked = false;
    for (const auto& [name, org] : loaded.orgs) marked |= org->contact_bounced(expect.to);
    if (marked != *expect.contact_marked_bounced) fail(marked ? "the contact was marked bounced" : "the contact was not marked bounced");
  }
  if (expect.email_log) {
    std::set<std::string> events;
    for (const auto& [name, entry] : journey.org) events.insert(entry->event);
    if (!events.contains(*expect.email_log)) {
      std::string list;
      for (const std::string& event : events) list += (list.empty() ? "" : ", ") + event;
      fail("no \"" + *expect.email_log + "\" row in the email log (rows: " + (list.empty() ? std::string("none") : list) + ")");
    }
  }
  if (failures.empty()) return {expect.name, true, "held"};
  std::string message = expect.to + ": ";
  for (std::size_t i = 0; i < failures.size(); ++i) message += (i == 0 ? "" : "; ") + failures[i];
  return {expect.name, false, message};
}

Verdict check_mailbox(const Expectation& expect, const LoadedWorld& loaded) {
  std::vector<const fake_mx::StoredMessage*> messages;
  for (const auto& [name, store] : loaded.mail_stores) {
    for (const fake_mx::StoredMessage* message : store->mailbox(expect.mailbox)) messages.push_back(message);
  }
  if (expect.count && messages.size() != *expect.count) {
    return {expect.name, false, expect.mailbox + " holds " + std::to_string(messages.size()) + " messages, not " + std::to_string(*expect.count)};
  }
  if (expect.headers.empty() && expect.contains.empty() && expect.folder.empty()) return {expect.name, true, "held"};
  for (const fake_mx::StoredMessage* message : messages) {
    if (!expect.folder.empty() && message->folder != expect.folder) continue;
    const bool headers = std::all_of(expect.headers.begin(), expect.headers.end(), [&](const auto& header) {
      return smtp::header_value(message->content, header.first) == header.second;
    });
    if (headers && message->content.find(expect.contains) != std::string::npos) return {expect.name, true, "held"};
  }
  std::string folders;
  for (const fake_mx::StoredMessage* message : messages) folders += (folders.empty() ? "" : ", ") + message->folder;
  return {expect.name, false, expect.mailbox + ": no message with those headers and text" + (expect.folder.empty() ? "" : " in " + expect.folder) +
                                  " among " + std::to_string(messages.size()) + (folders.empty() ? "" : " (" + folders + ")")};
}

Verdict check_log(const Expectation& expect, const RunObserver& observer) {
  const auto found = std::find_if(observer.logs.begin(), observer.logs.end(), [&](const RunObserver::LogLine& line) {
    return (expect.node.empty() || line.node == expect.node) && line.line.find(expect.log) != std::string::npos;
  });
  const bool present = found != observer.logs.end();
  if (present != expect.absent) return {expect.name, true, present ? found->node + ": " + found->line : "held"};
  return {expect.name, false, present ? "logged by " + found->node + ": " + found->line : "no log line contains \"" + expect.log + "\""};
}

std::uint64_t stat_named(const RunStats& stats, const std::string& name) {
  if (name == "submitted") return stats.submitted;
  if (name == "accepted") return stats.accepted;
  if (name == "delivered") return stats.delivered;
  if (name == "bounced") return stats.bounced;
  if (name == "deferred") return stats.deferred;
  if (name == "duplicates") return stats.duplicates;
  return stats.refused;
}

Verdict check_stats(const Expectation& expect, const RunStats& stats) {
  std::string wrong;
  for (const auto& [name, value] : expect.stats) {
    const std::uint64_t actual = stat_named(stats, name);
    if (actual != value) wrong += (wrong.empty() ? "" : ", ") + name + " is " + std::to_string(actual) + ", not " + std::to_string(value);
  }
  return {expect.name, wrong.empty(), wrong.empty() ? "held" : wrong};
}

// --- invariants

bool crashed_between(const RunObserver& observer, const std::string& node, Instant from, Instant until) {
  const auto found = observer.crashes.find(node);
  if (found == observer.crashes.end()) return false;
  return std::any_of(found->second.begin(), found->second.end(), [&](Instant at) { return at >= from && at <= until; });
}

Verdict conservation(const LoadedWorld& loaded, const RunObserver& observer, bool quiescent) {
  Violations violations;
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<const RunObserver::RelayOutcome*>> finals;
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (outcome.state == "delivered" || outcome.state == "bounced") finals[{outcome.node, outcome.id, lower(outcome.rcpt)}].push_back(&outcome);
  }
  std::set<std::tuple<std::string, std::string, std::string>> accepted;
  for (const RunObserver::StoredAtRelay& stored : observer.stored) {
    for (const std::string& rcpt : stored.to) {
      const auto key = std::make_tuple(stored.node, stored.id, lower(rcpt));
      accepted.insert(key);
      const auto found = finals.find(key);
      if (found == finals.end()) {
        if (quiescent) {
          violations.add(stored.node + " accepted " + stored.id + " for " + rcpt + " at " + offset(stored.at, loaded.start) +
                         " and it never ended delivered or bounced");
        }
        continue;
      }
      const auto& list = found->second;
      for (std::size_t i = 1; i < list.size(); ++i) {
        if (!crashed_between(observer, stored.node, list[i - 1]->at, list[i]->at)) {
          violations.add(stored.node + " " + stored.id + " to " + rcpt + " ended twice without a crash between: " + describe(*list[i - 1], loaded.start) +
                         ", then " + describe(*list[i], loaded.start));
        }
      }
    }
  }
  // Nothing acknowledged is lost: every 250 "queued as ID" a client got names a message a relay stored.
  std::set<std::string> stored_ids;
  for (const RunObserver::StoredAtRelay& stored : observer.stored) stored_ids.insert(stored.id);
  const auto acknowledged = [&](const std::string& reply, const std::string& who, Instant at) {
    const std::size_t found = reply.find("queued as ");
    if (found == std::string::npos || !reply.starts_with("250")) return;
    const std::string id = reply.substr(found + 10, reply.find_first_of(" )", found + 10) - found - 10);
    if (!stored_ids.contains(id) && !loaded.relay_configs.empty()) {
      violations.add(who + " got \"" + reply + "\" at " + offset(at, loaded.start) + ", but no relay ever stored " + id + ": an acknowledged message is lost");
    }
  };
  for (const auto& [name, org] : loaded.orgs) {
    const salesforce::Org& setup = loaded.org_setups.at(name);
    for (const salesforce::LogEntry& entry : org->log) {
      const bool to_relay = std::any_of(setup.relays.begin(), setup.relays.end(), [&](const auto& r) { return r.name == entry.path; });
      if (entry.event == "Delivered" && to_relay) acknowledged(entry.detail, name + " (" + entry.email + " to " + entry.recipient + ")", entry.at);
    }
  }
  for (const RunObserver::SenderResult& result : observer.sender_results) {
    if (result.outcome == "delivered") acknowledged(result.reply, result.node + " (message " + std::to_string(result.message) + ")", result.at);
  }
  for (const auto& [key, list] : finals) {
    if (!accepted.contains(key)) violations.add(std::get<0>(key) + " delivered " + std::get<1>(key) + " to " + std::get<2>(key) + " which it never accepted");
  }
  for (const auto& [name, org] : loaded.orgs) {
    std::map<std::pair<std::string, std::string>, int> ends;
    for (const salesforce::LogEntry& entry : org->log) {
      const auto key = std::make_pair(entry.email, lower(entry.recipient));
      if (entry.event == "Accepted") ends.try_emplace(key, 0);
      if (is_final(entry)) ends[key] += 1;
    }
    for (const auto& [key, count] : ends) {
      if (count > 1) violations.add(name + " email " + key.first + " to " + key.second + " ended " + std::to_string(count) + " times");
      if (count == 0 && quiescent) violations.add(name + " email " + key.first + " to " + key.second + " never ended delivered, failed or given up");
    }
  }
  return violations.verdict("every accepted recipient ends delivered or bounced exactly once",
                            std::to_string(accepted.size()) + " relay recipients checked" + (quiescent ? "" : " (the run ended before quiescence)"));
}

Verdict retry_bounds(const LoadedWorld& loaded, const RunObserver& observer) {
  Violations violations;
  std::map<std::pair<std::string, std::string>, const RunObserver::StoredAtRelay*> arrivals;
  for (const RunObserver::StoredAtRelay& stored : observer.stored) arrivals[{stored.node, stored.id}] = &stored;
  std::size_t checked = 0;
  for (const RunObserver::RelayRetry& retry : observer.retries) {
    const auto config = loaded.relay_configs.find(retry.node);
    const auto arrival = arrivals.find({retry.node, retry.id});
    if (config == loaded.relay_configs.end() || arrival == arrivals.end()) continue;
    checked += 1;
    const relay::RelayConfig& relay = config->second;
    const Duration lifetime = arrival->second->from.empty() ? relay.bounce_queue_lifetime : relay.maximal_queue_lifetime;
    const Instant end_of_life = arrival->second->at + lifetime;
    const Duration gap = retry.next - retry.at;
    if (gap > relay.maximal_backoff_time + clock_slack) {
      violations.add(retry.node + " " + retry.id + " waits " + format_duration(gap) + " after " + offset(retry.at, loaded.start) +
                     ", more than maximal_backoff_time " + format_duration(relay.maximal_backoff_time));
    }
    if (gap + clock_slack < relay.minimal_backoff_time && retry.next + clock_slack < end_of_life) {
      violations.add(retry.node + " " + retry.id + " waits only " + format_duration(gap) + " after " + offset(retry.at, loaded.start) +
                     ", less than minimal_backoff_time " + format_duration(relay.minimal_backoff_time));
    }
    if (retry.next > end_of_life + clock_slack) {
      violations.add(retry.node + " " + retry.id + " plans an attempt at " + offset(retry.next, loaded.start) + ", after its queue lifetime ends at " +
                     offset(end_of_life, loaded.start));
    }
  }
  return violations.verdict("retries stay within the backoff bounds and the queue lifetime", std::to_string(checked) + " retries checked");
}

// A 5xx in reply to MAIL, RCPT, DATA or the end of data is permanent: the recipient bounces at
// once (RFC 5321 §4.2.1; Postfix bounces it), it is not kept for another try.
Verdict permanent_failures(const LoadedWorld& loaded, const RunObserver& observer) {
  Violations violations;
  std::size_t checked = 0;
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (!outcome.attempted || outcome.state == "delivered") continue;
    checked += 1;
    const bool permanent_reply = outcome.code >= 500;
    const bool transaction = outcome.stage == "MAIL FROM" || outcome.stage == "RCPT TO" || outcome.stage == "DATA" || outcome.stage == "end of data";
    if (permanent_reply && transaction && outcome.outcome == "transient") {
      violations.add(outcome.node + " deferred " + outcome.id + " to " + outcome.rcpt + " at " + offset(outcome.at, loaded.start) +
                     " after a permanent reply: " + outcome.reason);
    }
  }
  return violations.verdict("a 5xx in the transaction bounces at once", std::to_string(checked) + " failed attempts checked");
}

Verdict notifications(const RunObserver& observer) {
  Violations violations;
  std::map<std::pair<std::string, std::string>, const RunObserver::StoredAtRelay*> messages;
  for (const RunObserver::StoredAtRelay& stored : observer.stored) messages[{stored.node, stored.id}] = &stored;
  for (const RunObserver::RelayDsn& dsn : observer.dsns) {
    if (dsn.to.empty()) violations.add(dsn.node + " sent a " + dsn.action + " notification " + dsn.dsn + " to <>");
    const auto original = messages.find({dsn.node, dsn.id});
    if (original != messages.end() && original->second->from.empty()) {
      violations.add(dsn.node + " sent notification " + dsn.dsn + " about " + dsn.id + ", itself a notification: a bounce loop");
    }
  }
  return violations.verdict("no notification goes to <>, none is about a notification", std::to_string(observer.dsns.size()) + " notifications checked");
}

Verdict tls_settings(const LoadedWorld& loaded, const RunObserver& observer) {
  Violations violations;
  std::size_t checked = 0;
  for (const auto& [name, org] : loaded.orgs) {
    const salesforce::Org& setup = loaded.org_setups.at(name);
    for (const salesforce::LogEntry& entry : org->log) {
      if (entry.event != "Delivered") continue;
      const auto relay = std::find_if(setup.relays.begin(), setup.relays.end(), [&](const auto& r) { return r.name == entry.path; });
      if (relay == setup.relays.end()) continue;
      checked += 1;
      const bool required = relay->tls == salesforce::TlsSetting::required || relay->tls == salesforce::TlsSetting::required_verify;
      if (required && !entry.tls) violations.add(name + " handed " + entry.email + " for " + entry.recipient + " to " + relay->name + " without TLS under " + std::string(to_string(relay->tls)));
      if (salesforce::verifies(relay->tls) && entry.tls && !entry.tls_verified) {
        violations.add(name + " handed " + entry.email + " for " + entry.recipient + " to " + relay->name + " over TLS with an unverified certificate under " +
                       std::string(to_string(relay->tls)));
      }
    }
  }
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (outcome.state != "delivered") continue;
    const auto config = loaded.relay_configs.find(outcome.node);
    if (config == loaded.relay_configs.end()) continue;
    checked += 1;
    const relay::TlsLevel level = relay::tls_level_for(config->second, domain_of(outcome.rcpt));
    if ((level == relay::TlsLevel::encrypt || level == relay::TlsLevel::verify) && !outcome.tls) {
      violations.add(outcome.node + " delivered " + outcome.id + " to " + outcome.rcpt + " without TLS at level " + std::string(relay::to_string(level)));
    }
    if (level == relay::TlsLevel::verify && !outcome.tls_verified) {
      violations.add(outcome.node + " delivered " + outcome.id + " to " + outcome.rcpt + " to an unverified server at level verify");
    }
  }
  return violations.verdict("TLS settings are never violated", std::to_string(checked) + " hand-overs checked");
}

Verdict no_open_relay(const LoadedWorld& loaded, const RunObserver& observer) {
  Violations violations;
  std::size_t checked = 0;
  for (const RunObserver::StoredAtRelay& stored : observer.stored) {
    if (stored.client.empty()) continue;  // the relay's own notification
    const auto config = loaded.relay_configs.find(stored.node);
    if (config == loaded.relay_configs.end()) continue;
    checked += 1;
    const relay::RelayConfig& relay = config->second;
    const auto client = io::Address::parse(stored.client);
    const bool trusted = client && std::any_of(relay.mynetworks.begin(), relay.mynetworks.end(), [&](const io::Cidr& c) { return c.contains(*client); });
    if (!trusted && stored.sasl.empty()) {
      violations.add(stored.node + " accepted " + stored.id + " from " + stored.client + ", neither in mynetworks nor authenticated");
    }
    for (const std::string& rcpt : stored.to) {
      if (!relay::any_domain_matches(relay.recipient_domains, domain_of(rcpt))) {
        violations.add(stored.node + " accepted " + stored.id + " for " + rcpt + ", outside recipient_domains");
      }
    }
    if (!stored.from.empty() && !relay.sender_domains.empty() && !relay::any_domain_matches(relay.sender_domains, domain_of(stored.from))) {
      violations.add(stored.node + " accepted " + stored.id + " from " + stored.from + ", outside sender_domains");
    }
  }
  return violations.verdict("no unauthorized relaying", std::to_string(checked) + " accepted messages checked");
}

// A relay's first connection for a delivery goes to the most preferred MX (RFC 5321 §5.1), for
// domains whose MX records never change during the run.
Verdict mx_preference(const LoadedWorld& loaded, const RunObserver& observer) {
  Violations violations;
  std::size_t checked = 0;
  std::map<std::pair<std::string, std::string>, std::string> routed;  // (node, id) -> domain of the last route
  for (const RunObserver::RouteStep& step : observer.route_steps) {
    const auto key = std::make_pair(step.node, step.id);
    if (!step.domain.empty()) {
      routed[key] = step.domain;
      continue;
    }
    const auto route = routed.find(key);
    if (route == routed.end()) continue;  // a reused connection: no route of its own
    const std::string domain = route->second;
    routed.erase(route);
    const auto records = loaded.mx_records.find(domain);
    if (records == loaded.mx_records.end() || records->second.empty()) continue;
    int best = records->second.front().preference;
    for (const io::MxRecord& record : records->second) best = std::min<int>(best, record.preference);
    checked += 1;
    if (step.preference != best) {
      violations.add(step.node + " delivered " + step.id + " for " + domain + " first to an MX of preference " + std::to_string(step.preference) +
                     " at " + offset(step.at, loaded.start) + ", though " + std::to_string(best) + " is the most preferred");
    }
  }
  return violations.verdict("deliveries try the most preferred MX first", std::to_string(checked) + " deliveries checked");
}

// What a relay (or Salesforce) handed to a fake MX with a 250 is in that MX's mailbox - or the MX
// took it to bounce later. Nothing disappears between two hops.
Verdict hand_overs(const LoadedWorld& loaded, const RunObserver& observer) {
  Violations violations;
  std::size_t checked = 0;
  std::map<std::string, std::string> nodes_by_address;
  for (const auto& [node, host] : loaded.node_hosts) {
    for (const io::Address& address : loaded.host_addresses.at(host)) nodes_by_address.try_emplace(address.to_string(), node);
  }
  const auto check = [&](const std::string& who, const std::string& hop, const std::string& rcpt, Instant at) {
    const std::size_t open = hop.find('[');
    const std::size_t close = hop.find(']');
    if (open == std::string::npos || close == std::string::npos) return;
    const auto node = nodes_by_address.find(hop.substr(open + 1, close - open - 1));
    if (node == nodes_by_address.end()) return;
    const auto store = loaded.mail_stores.find(node->second);
    if (store == loaded.mail_stores.end()) return;  // not a fake MX: a relay, which the other checks cover
    checked += 1;
    if (store->second->count(rcpt) > 0) return;
    const auto late = observer.late_bounces.find(node->second);
    if (late != observer.late_bounces.end() && late->second.contains(lower(rcpt))) return;
    violations.add(who + " handed " + rcpt + " to " + node->second + " at " + offset(at, loaded.start) + " and got 250, but " + node->second +
                   " has nothing for " + rcpt);
  };
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (outcome.state == "delivered") check(outcome.node + " (" + outcome.id + ")", outcome.relay, outcome.rcpt, outcome.at);
  }
  for (const auto& [name, org] : loaded.orgs) {
    for (const salesforce::LogEntry& entry : org->log) {
      if (entry.event == "Delivered") check(name + " (" + entry.email + ")", entry.server, entry.recipient, entry.at);
    }
  }
  return violations.verdict("what was handed to an MX with 250 is in its mailbox", std::to_string(checked) + " hand-overs checked");
}

Verdict routing(const LoadedWorld& loaded) {
  Violations violations;
  std::size_t checked = 0;
  for (const auto& [name, org] : loaded.orgs) {
    const salesforce::Org& setup = loaded.org_setups.at(name);
    for (const salesforce::LogEntry& entry : org->log) {
      if (entry.event != "Accepted") continue;
      const auto email = std::find_if(org->emails.begin(), org->emails.end(), [&](const salesforce::Email& e) { return e.id == entry.email; });
      if (email == org->emails.end()) continue;
      checked += 1;
      const salesforce::EmailRelay* relay = salesforce::relay_for(setup, email->category, email->from.domain, domain_of(entry.recipient));
      const std::string expected = relay == nullptr ? "Salesforce" : relay->name;
      if (entry.path != expected) {
        violations.add(name + " sent " + entry.email + " for " + entry.recipient + " via " + entry.path + "; the filters say " + expected);
      }
    }
  }
  return violations.verdict("routing follows the Email Domain Filters", std::to_string(checked) + " recipients checked");
}

RunStats stats_of(const LoadedWorld& loaded, const RunObserver& observer) {
  RunStats stats;
  std::set<std::pair<std::string, std::int64_t>> sent;
  for (const RunObserver::SenderResult& result : observer.sender_results) sent.insert({result.node, result.message});
  stats.submitted = sent.size();
  for (const auto& [name, org] : loaded.orgs) {
    stats.submitted += org->counters.sends;
    stats.refused += org->counters.refused;
    stats.bounced += org->counters.failed + org->counters.given_up;
  }
  for (const RunObserver::StoredAtRelay& stored : observer.stored) stats.accepted += stored.client.empty() ? 0 : 1;
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (outcome.state == "bounced") stats.bounced += 1;
    if (outcome.outcome == "transient" && outcome.attempted) stats.deferred += 1;
  }
  std::map<std::pair<std::string, std::string>, int> copies;  // (mailbox, Message-ID)
  for (const auto& [name, store] : loaded.mail_stores) {
    for (const fake_mx::StoredMessage& message : store->messages()) {
      if (message.sender.empty()) continue;
      stats.delivered += message.recipients.size();
      const std::string id = smtp::header_value(message.content, "Message-ID");
      for (const smtp::Recipient& recipient : message.recipients) {
        if (!id.empty() && ++copies[{lower(recipient.mailbox.to_string()), id}] > 1) stats.duplicates += 1;
      }
    }
  }
  return stats;
}

}  // namespace

void RunObserver::on_event(const io::TraceEvent& event, std::string_view) {
  const std::string_view kind = event.kind;
  const std::string node(event.node);
  if (kind == "queue.stored") {
    stored.push_back({event.time, node, std::string(text_of(event, "id")), std::string(text_of(event, "from")),
                      split_commas(text_of(event, "to")), std::string(text_of(event, "client")), std::string(text_of(event, "sasl"))});
  } else if (kind == "relay.outcome") {
    outcomes.push_back({event.time, node, std::string(text_of(event, "id")), std::string(text_of(event, "rcpt")),
                        std::string(text_of(event, "outcome")), std::string(text_of(event, "state")), std::string(text_of(event, "status")),
                        std::string(text_of(event, "relay")), flag_of(event, "tls"), flag_of(event, "tls_verified"),
                        flag_of(event, "possible_duplicate"), flag_of(event, "attempted", true), std::string(text_of(event, "reason")),
                        std::string(text_of(event, "stage")), static_cast<int>(integer_of(event, "code"))});
  } else if (kind == "relay.retry") {
    const auto next = parse_iso8601(text_of(event, "at"));
    retries.push_back({event.time, node, std::string(text_of(event, "id")), next ? *next : event.time});
  } else if (kind == "relay.dsn") {
    dsns.push_back({event.time, node, std::string(text_of(event, "id")), std::string(text_of(event, "dsn")), std::string(text_of(event, "action")),
                    std::string(text_of(event, "to"))});
  } else if (kind == "log") {
    logs.push_back({event.time, node, std::string(text_of(event, "line"))});
  } else if (kind == "sender.result") {
    sender_results.push_back({event.time, node, integer_of(event, "message"), std::string(text_of(event, "rcpt")), std::string(text_of(event, "outcome")),
                              std::string(text_of(event, "reply"))});
  } else if (kind == "relay.route" && text_of(event, "route") == "deliver") {
    route_steps.push_back({event.time, node, std::string(text_of(event, "id")), std::string(text_of(event, "domain")), -1});
  } else if (kind == "mx.bounce_scheduled" || kind == "mx.bounce_skipped") {
    for (const std::string& rcpt : split_commas(text_of(event, "recipients"))) late_bounces[node].insert(lower(rcpt));
  } else if (kind == "relay.connect") {
    route_steps.push_back({event.time, node, std::string(text_of(event, "id")), "", static_cast<int>(integer_of(event, "preference"))});
  } else if (kind == "process.crash") {
    crashes[node].push_back(event.time);
    marks.push_back({event.time, node, std::string(kind), std::string(text_of(event, "crash"))});
  } else if (kind.starts_with("fault.")) {
    marks.push_back({event.time, node, std::string(kind), std::string(text_of(event, "fault"))});
  } else if (kind == "process.start") {
    marks.push_back({event.time, node, std::string(kind), ""});
  }
}

std::vector<Expectation> read_expectations(const JsonValue& list, Instant origin) {
  std::vector<Expectation> out;
  for (const JsonValue& item : list.items()) {
    Expectation expect;
    expect.path = item.path();
    if (item.has("to")) {
      item.allow_keys({"to", "subject", "delivered", "bounced", "deferred_at", "never_attempted", "refused", "via", "attempts", "within", "tls",
                       "tls_verified", "delivery_tls", "dsn_received", "contact_marked_bounced", "email_log", "name"});
      expect.kind = Expectation::Kind::recipient;
      expect.to = read_mailbox(item.at("to")).to_string();
      std::string what;
      const auto note = [&](const std::string& text) { what += (what.empty() ? "" : ", ") + text; };
      if (auto subject = item.find("subject")) expect.subject = subject->string();
      if (auto value = item.find("delivered")) {
        expect.delivered = value->boolean();
        note(*expect.delivered ? "delivered" : "not delivered");
      }
      if (auto value = item.find("bounced")) {
        if (value->raw().is_boolean()) {
          if (!value->boolean()) value->fail("true, or a status such as \"5.1.1\" (for \"not bounced\", use \"delivered\")");
          expect.bounced = "";
        } else {
          expect.bounced = value->string();
          const std::string& status = *expect.bounced;
          if (status.empty() || (status[0] != '4' && status[0] != '5')) value->fail("a status class or code such as \"5\" or \"5.1.1\"");
        }
        note("bounced" + (expect.bounced->empty() ? std::string() : " " + *expect.bounced));
      }
      if (auto value = item.find("deferred_at")) {
        expect.deferred_at = value->instant(origin);
        note("deferred at " + offset(*expect.deferred_at, origin));
      }
      if (auto value = item.find("never_attempted")) {
        expect.never_attempted = value->boolean();
        if (expect.never_attempted) note("never attempted");
      }
      if (auto value = item.find("refused")) {
        expect.refused = value->boolean();
        if (expect.refused) note("refused at the source");
      }
      if (auto value = item.find("via")) {
        expect.via = value->string();
        note("via " + *expect.via);
      }
      if (auto value = item.find("attempts")) {
        expect.attempts = static_cast<int>(value->integer(0, 1000));
        note(std::to_string(*expect.attempts) + (*expect.attempts == 1 ? " attempt" : " attempts"));
      }
      if (auto value = item.find("within")) {
        expect.within = value->duration();
        note("within " + format_duration(*expect.within));
      }
      if (auto value = item.find("tls")) {
        expect.tls = value->boolean();
        note(*expect.tls ? "over TLS" : "without TLS");
      }
      if (auto value = item.find("tls_verified")) {
        expect.tls_verified = value->boolean();
        note(*expect.tls_verified ? "certificate verified" : "certificate not verified");
      }
      if (auto value = item.find("delivery_tls")) {
        expect.delivery_tls = value->boolean();
        note(*expect.delivery_tls ? "delivered over TLS" : "delivered in plaintext");
      }
      if (auto value = item.find("dsn_received")) {
        expect.dsn_received = value->boolean();
        note(*expect.dsn_received ? "DSN received" : "no DSN");
      }
      if (auto value = item.find("contact_marked_bounced")) {
        expect.contact_marked_bounced = value->boolean();
        note(*expect.contact_marked_bounced ? "contact marked bounced" : "contact not marked");
      }
      if (auto value = item.find("email_log")) {
        expect.email_log = value->choice({"Accepted", "Refused", "Delivered", "Transient failure", "Permanent failure", "Given up", "Bounced",
                                          "Notice received"}) == 0 ? "Accepted" : value->string();
        note("email log: " + *expect.email_log);
      }
      if (what.empty()) item.fail("at least one thing to expect of the recipient, such as \"delivered\" or \"bounced\"");
      expect.name = expect.to + (expect.subject ? " (\"" + *expect.subject + "\")" : "") + ": " + what;
    } else if (item.has("mailbox")) {
      item.allow_keys({"mailbox", "count", "headers", "contains", "folder", "name"});
      expect.kind = Expectation::Kind::mailbox;
      expect.mailbox = read_mailbox(item.at("mailbox")).to_string();
      if (auto count = item.find("count")) expect.count = static_cast<std::size_t>(count->integer(0, 1'000'000));
      if (auto headers = item.find("headers")) {
        for (const auto& [name, value] : headers->members()) expect.headers.emplace_back(name, value.string());
      }
      if (auto contains = item.find("contains")) expect.contains = contains->string();
      if (auto folder = item.find("folder")) expect.folder = folder->choice({"inbox", "spam"}) == 0 ? "inbox" : "spam";
      expect.name = "mailbox " + expect.mailbox + (expect.count ? " holds " + std::to_string(*expect.count) : std::string(" holds a message")) +
                    (expect.headers.empty() && expect.contains.empty() ? "" : " with the given content") +
                    (expect.folder.empty() ? "" : " in " + expect.folder);
    } else if (item.has("log")) {
      item.allow_keys({"log", "node", "absent", "name"});
      expect.kind = Expectation::Kind::log;
      expect.log = item.at("log").string();
      if (expect.log.empty()) item.at("log").fail("some text to look for");
      if (auto node = item.find("node")) expect.node = node->string();
      if (auto absent = item.find("absent")) expect.absent = absent->boolean();
      expect.name = std::string(expect.absent ? "no " : "a ") + "log line" + (expect.node.empty() ? "" : " of " + expect.node) + " containing \"" + expect.log + "\"";
    } else if (item.has("stats")) {
      item.allow_keys({"stats", "name"});
      expect.kind = Expectation::Kind::stats;
      std::string what;
      for (const auto& [name, value] : item.at("stats").members()) {
        static const std::set<std::string> known{"submitted", "accepted", "delivered", "bounced", "deferred", "duplicates", "refused"};
        if (!known.contains(name)) value.fail("a value under one of submitted, accepted, delivered, bounced, deferred, duplicates, refused");
        expect.stats[name] = value.unsigned_integer();
        what += (what.empty() ? "" : ", ") + name + " " + std::to_string(expect.stats[name]);
      }
      expect.name = "stats: " + what;
    } else {
      item.fail("an expectation with \"to\", \"mailbox\", \"log\" or \"stats\"");
    }
    if (auto name = item.find("name")) expect.name = name->string();
    out.push_back(std::move(expect));
  }
  return out;
}

bool RunResult::passed() const {
  const auto ok = [](const Verdict& verdict) { return verdict.passed; };
  return std::all_of(expectations.begin(), expectations.end(), ok) && std::all_of(invariants.begin(), invariants.end(), ok);
}

RunResult check_run(const LoadedWorld& loaded, const RunObserver& observer, bool quiescent) {
  RunResult result;
  result.stats = stats_of(loaded, observer);
  for (const Expectation& expect : loaded.expectations) {
    switch (expect.kind) {
      case Expectation::Kind::recipient: result.expectations.push_back(check_recipient(expect, loaded, observer)); break;
      case Expectation::Kind::mailbox: result.expectations.push_back(check_mailbox(expect, loaded)); break;
      case Expectation::Kind::log: result.expectations.push_back(check_log(expect, observer)); break;
      case Expectation::Kind::stats: result.expectations.push_back(check_stats(expect, result.stats)); break;
    }
  }
  result.invariants.push_back(conservation(loaded, observer, quiescent));
  result.invariants.push_back(retry_bounds(loaded, observer));
  result.invariants.push_back(notifications(observer));
  result.invariants.push_back(permanent_failures(loaded, observer));
  result.invariants.push_back(tls_settings(loaded, observer));
  result.invariants.push_back(no_open_relay(loaded, observer));
  result.invariants.push_back(routing(loaded));
  result.invariants.push_back(mx_preference(loaded, observer));
  result.invariants.push_back(hand_overs(loaded, observer));
  return result;
}

}  // namespace relaysim::scenario
