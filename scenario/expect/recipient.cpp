// A recipient expectation: what became of the messages to one recipient that its selectors pick,
// at every hop. The messages are found first (the journey); an expectation whose selectors pick
// none fails with "matched no message" rather than passing on nothing.

#include <algorithm>
#include <set>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/expect/expectations.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::scenario::expect {
namespace {

using checks::describe;
using checks::lower;
using checks::offset;
using salesforce::EmailLogEvent;

// The Salesforce emails the selectors pick, and the Message-IDs they carry: how the relay's and
// the mailboxes' copies of them are recognised.
struct Picked {
  std::set<std::pair<std::string, std::string>> emails;  // (org node, email id)
  std::set<std::string> message_ids;
};

bool header_selectors_match(const MessageSelector& select, std::string_view subject, std::string_view message_id) {
  if (select.subject && !subject.starts_with(*select.subject)) return false;
  if (select.subject_is && subject != *select.subject_is) return false;
  if (select.message_id && bare_message_id(*select.message_id) != message_id) return false;
  return true;
}

Picked pick_emails(const MessageSelector& select, const LoadedWorld& loaded) {
  Picked picked;
  for (const auto& [name, org] : loaded.orgs) {
    for (const salesforce::Email& email : org->emails) {
      const std::string message_id = bare_message_id(smtp::header_value(email.content, "Message-ID"));
      if (select.email && email.id != *select.email) continue;
      if (select.send && email.send != *select.send) continue;
      if (!header_selectors_match(select, email.subject, message_id)) continue;
      picked.emails.insert({name, email.id});
      if (!message_id.empty()) picked.message_ids.insert(message_id);
    }
  }
  return picked;
}

// A copy seen at a relay or in a mailbox is one of the selected messages.
bool copy_selected(const MessageSelector& select, const Picked& picked, std::string_view subject,
                   std::string_view message_id) {
  if (!select.any()) return true;
  if (select.email || select.send) return picked.message_ids.contains(std::string(message_id));
  return header_selectors_match(select, subject, message_id);
}

// What the run did to the selected messages of one recipient, gathered from every node.
struct Journey {
  std::vector<const fake_mx::StoredMessage*> deliveries;                 // in mailboxes, notices excluded
  std::vector<const RunObserver::RelayOutcome*> relay;                   // every relay outcome, in time order
  std::vector<std::pair<std::string, const salesforce::LogEntry*>> org;  // (org node, email log row)
  std::vector<const fake_mx::StoredMessage*> notices;                    // DSNs about the recipient in mailboxes
  std::set<std::string> relay_messages;                                  // (node + " " + id) of the relay copies
  std::optional<Instant> submitted;
  bool sender_results = false;  // a plain SMTP sender reported on a message to the recipient

  bool matched() const {
    return !deliveries.empty() || !relay.empty() || !org.empty() || !relay_messages.empty() || sender_results;
  }

  // The last thing that happened to it at a relay or in Salesforce: where a check that fails on
  // an absence ("never delivered") points.
  std::optional<Instant> last_seen() const {
    std::optional<Instant> last;
    if (!relay.empty()) last = relay.back()->at;
    for (const auto& [name, entry] : org) {
      if (!last || entry->at > *last) last = entry->at;
    }
    return last;
  }
  // The first delivery attempt, by a relay or by Salesforce, or the first copy in a mailbox.
  std::optional<Instant> first_attempt() const {
    std::optional<Instant> first;
    for (const auto* outcome : relay) {
      if (outcome->attempted) checks::keep_earliest(first, outcome->at);
    }
    for (const auto& [name, entry] : org) {
      if (salesforce::is_attempt(entry->event)) checks::keep_earliest(first, entry->at);
    }
    if (!deliveries.empty()) checks::keep_earliest(first, deliveries.front()->received);
    return first;
  }
};

// The orgs' marks of the recipient's contact as bounced that a selected email caused, by org node.
std::vector<std::pair<std::string, const salesforce::BouncedContact*>> marked_contacts(const Expectation& expect,
                                                                                       const LoadedWorld& loaded,
                                                                                       const Journey& journey) {
  std::vector<std::pair<std::string, const salesforce::BouncedContact*>> out;
  for (const auto& [name, org] : loaded.orgs) {
    const auto contact = org->bounced_contacts.find(lower(expect.to));
    if (contact == org->bounced_contacts.end()) continue;
    const bool about_selected = std::any_of(journey.org.begin(), journey.org.end(), [&, &node = name](const auto& row) {
      return row.first == node && row.second->email == contact->second.email;
    });
    if (about_selected) out.emplace_back(name, &contact->second);
  }
  return out;
}

Journey journey_of(const Expectation& expect, const LoadedWorld& loaded, const RunObserver& observer) {
  const MessageSelector& select = expect.select;
  const Picked picked = select.any() ? pick_emails(select, loaded) : Picked{};
  Journey journey;
  const std::string address = lower(expect.to);
  const auto for_recipient = [&](const std::vector<smtp::Recipient>& recipients) {
    return std::any_of(recipients.begin(), recipients.end(),
                       [&](const smtp::Recipient& r) { return lower(r.mailbox.to_string()) == address; });
  };
  std::set<std::string> selected_ids;  // Message-IDs of the selected copies in mailboxes and relays
  for (const auto& [name, store] : loaded.mail_stores) {
    for (const fake_mx::StoredMessage& message : store->messages()) {
      if (message.sender.empty()) continue;
      const std::string message_id = bare_message_id(smtp::header_value(message.content, "Message-ID"));
      if (for_recipient(message.recipients) &&
          copy_selected(select, picked, smtp::header_value(message.content, "Subject"), message_id)) {
        journey.deliveries.push_back(&message);
        selected_ids.insert(message_id);
      }
    }
  }
  std::sort(journey.deliveries.begin(), journey.deliveries.end(),
            [](const auto* a, const auto* b) { return a->received < b->received; });
  for (const RunObserver::StoredAtRelay& stored : observer.stored) {
    if (stored.client.empty()) continue;  // the relay's own notices are not messages to the recipient
    const bool to_recipient = std::any_of(stored.to.begin(), stored.to.end(),
                                          [&](const std::string& rcpt) { return lower(rcpt) == address; });
    if (!to_recipient || !copy_selected(select, picked, stored.subject, stored.message_id)) continue;
    journey.relay_messages.insert(stored.node + " " + stored.id);
    selected_ids.insert(stored.message_id);
    if (!journey.submitted || stored.at < *journey.submitted) journey.submitted = stored.at;
  }
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (lower(outcome.rcpt) == address && journey.relay_messages.contains(outcome.node + " " + outcome.id))
      journey.relay.push_back(&outcome);
  }
  for (const auto& [name, org] : loaded.orgs) {
    for (const salesforce::LogEntry* entry : org->log_for(address)) {
      if (select.any() && !picked.emails.contains({name, entry->email})) continue;
      journey.org.emplace_back(name, entry);
      if (entry->event == EmailLogEvent::accepted && (!journey.submitted || entry->at < *journey.submitted))
        journey.submitted = entry->at;
    }
  }
  // Notices about the recipient: with selectors, only those that return a selected message's headers.
  for (const auto& [name, store] : loaded.mail_stores) {
    for (const fake_mx::StoredMessage& message : store->messages()) {
      if (!message.sender.empty()) continue;
      const std::optional<smtp::DsnReport> report = smtp::parse_dsn(message.content);
      if (!report) continue;
      const bool about = std::any_of(report->recipients.begin(), report->recipients.end(),
                                     [&](const smtp::DsnRecipient& r) { return lower(r.final_recipient) == address; });
      if (!about) continue;
      if (select.any()) {
        if (!selected_ids.contains(report->returned_message_id) &&
            !picked.message_ids.contains(report->returned_message_id))
          continue;
      }
      journey.notices.push_back(&message);
    }
  }
  journey.sender_results =
      !select.any() && std::any_of(observer.sender_results.begin(), observer.sender_results.end(),
                                   [&](const RunObserver::SenderResult& r) { return lower(r.rcpt) == address; });
  return journey;
}

}  // namespace

Verdict recipient(const Expectation& expect, const LoadedWorld& loaded, const RunObserver& observer) {
  const Journey journey = journey_of(expect, loaded, observer);
  const Instant start = loaded.start;
  if (!journey.matched()) {
    return {expect.name, false,
            expect.to + ": matched no message" +
                (expect.select.any() ? " (" + expect.select.describe() + ")" : std::string())};
  }
  std::vector<std::string> failures;
  std::optional<Instant> went_wrong;  // the earliest instant a failure names
  const auto fail = [&](std::string text, std::optional<Instant> at) {
    failures.push_back(std::move(text));
    checks::keep_earliest(went_wrong, at);
  };

  if (expect.delivered) {
    if (*expect.delivered && journey.deliveries.empty()) {
      std::string last = "no relay or Salesforce outcome";
      if (!journey.relay.empty())
        last = "last relay outcome " + describe(*journey.relay.back(), start);
      else if (!journey.org.empty())
        last = "last Salesforce log row: " + std::string(to_string(journey.org.back().second->event)) + " " +
               journey.org.back().second->detail;
      fail("not delivered to any mailbox (" + last + ")", journey.last_seen());
    }
    if (!*expect.delivered && !journey.deliveries.empty()) {
      fail("delivered to " + journey.deliveries.front()->mx + " at " +
               offset(journey.deliveries.front()->received, start),
           journey.deliveries.front()->received);
    }
  }
  if (expect.bounced) {
    const std::string& status = *expect.bounced;
    std::vector<std::string> seen;
    bool found = false;
    for (const auto* outcome : journey.relay) {
      if (outcome->state != relay::RecipientState::bounced) continue;
      seen.push_back(outcome->status + " by " + outcome->node);
      found |= outcome->status.starts_with(status);
    }
    for (const auto* notice : journey.notices) {
      const std::optional<smtp::DsnReport> report = smtp::parse_dsn(notice->content);
      for (const smtp::DsnRecipient& recipient : report->recipients) {
        if (lower(recipient.final_recipient) != lower(expect.to) || recipient.action != smtp::DsnAction::failed)
          continue;
        seen.push_back(recipient.status + " in a DSN at " + notice->mx);
        found |= recipient.status.starts_with(status);
      }
    }
    for (const auto& [name, contact] : marked_contacts(expect, loaded, journey)) {
      seen.push_back(contact->status + " in " + name + "'s bounce inbox");
      found |= contact->status.starts_with(status);
    }
    for (const auto& [name, entry] : journey.org) {
      if (entry->event != EmailLogEvent::permanent_failure) continue;
      seen.push_back(std::string(to_string(entry->event)) + " at " + name + " (" + entry->detail + ")");
      found |= entry->status.starts_with(status);
    }
    if (!found) {
      fail("not bounced with " + (status.empty() ? std::string("any status") : status) +
               (seen.empty() ? " (no bounce at all)" : " (saw " + checks::joined(seen) + ")"),
           journey.last_seen());
    }
  }
  if (expect.deferred_at) {
    const Instant when = *expect.deferred_at;
    bool deferred = false;
    bool final = false;
    for (const auto* outcome : journey.relay) {
      if (outcome->at > when) break;
      if (outcome->state == relay::RecipientState::deferred) deferred = true;
      if (outcome->final()) final = true;
    }
    for (const auto& [name, entry] : journey.org) {
      if (entry->at > when) continue;
      if (entry->event == EmailLogEvent::transient_failure) deferred = true;
      if (entry->event == EmailLogEvent::permanent_failure || entry->event == EmailLogEvent::given_up) final = true;
    }
    if (!deferred || final)
      fail(std::string("not deferred at ") + offset(when, start) +
               (final ? " (already final)" : " (no deferral before then)"),
           when);
  }
  if (expect.never_attempted) {
    if (const std::optional<Instant> first = journey.first_attempt()) fail("a delivery was attempted", first);
  }
  if (expect.refused) {
    const bool refused = std::any_of(journey.org.begin(), journey.org.end(),
                                     [](const auto& e) { return e.second->event == EmailLogEvent::refused; });
    const auto sent = std::find_if(journey.org.begin(), journey.org.end(),
                                   [](const auto& e) { return e.second->event == EmailLogEvent::accepted; });
    if (!refused) {
      if (sent != journey.org.end())
        fail("sent, not refused at the source", sent->second->at);
      else
        fail("not refused at the source", journey.last_seen());
    }
  }
  if (expect.via) {
    std::set<std::string> paths;
    std::optional<Instant> left;  // when it went another way
    for (const auto& [name, entry] : journey.org) {
      if (entry->event != EmailLogEvent::accepted) continue;
      paths.insert(entry->path);
      checks::keep_earliest(left, entry->at);
    }
    for (const auto* outcome : journey.relay) {
      paths.insert(outcome->node);
      checks::keep_earliest(left, outcome->at);
    }
    if (!paths.contains(*expect.via)) {
      fail("not via " + *expect.via + " (went via " +
               (paths.empty() ? std::string("nothing") : checks::joined({paths.begin(), paths.end()})) + ")",
           left);
    }
  }
  if (expect.attempts) {
    // The instants of the attempts counted: one too many went wrong when it was made.
    std::vector<Instant> attempts;
    for (const auto* outcome : journey.relay) {
      if (outcome->attempted) attempts.push_back(outcome->at);
    }
    const char* counted = "relay";
    if (journey.relay.empty()) {
      for (const auto& [name, entry] : journey.org) {
        if (salesforce::is_attempt(entry->event)) attempts.push_back(entry->at);
      }
      counted = "Salesforce";
    }
    const auto least = static_cast<std::size_t>(expect.attempts->min);
    const auto most = static_cast<std::size_t>(expect.attempts->max);
    if (attempts.size() < least || attempts.size() > most) {
      const std::string wanted =
          least == most ? std::to_string(least) : std::to_string(least) + " to " + std::to_string(most);
      fail(relaysim::counted(attempts.size(), std::string(counted) + " attempt") + ", not " + wanted,
           attempts.size() > most ? std::optional(attempts[most]) : journey.last_seen());
    }
  }
  if (expect.within) {
    if (journey.deliveries.empty() || !journey.submitted) {
      fail("no delivery to time",
           journey.submitted ? std::optional(*journey.submitted + *expect.within) : std::nullopt);
    } else if (journey.deliveries.front()->received - *journey.submitted > *expect.within) {
      fail("delivered after " + format_duration(journey.deliveries.front()->received - *journey.submitted) +
               ", not within " + format_duration(*expect.within),
           *journey.submitted + *expect.within);
    }
  }
  if (expect.tls || expect.tls_verified) {
    // The first hop: Salesforce's hand-over when the recipient came from an org, else the relay's delivery.
    struct Hop {
      bool tls;
      bool verified;
      Instant at;
    };
    std::optional<Hop> hop;
    for (const auto& [name, entry] : journey.org) {
      if (entry->event == EmailLogEvent::delivered && !hop) hop = Hop{entry->tls, entry->tls_verified, entry->at};
    }
    for (const auto* outcome : journey.relay) {
      if (outcome->state == relay::RecipientState::delivered && !hop)
        hop = Hop{outcome->tls, outcome->tls_verified, outcome->at};
    }
    if (!hop) {
      fail("no hop delivered it, so no TLS to check", journey.last_seen());
    } else {
      if (expect.tls && hop->tls != *expect.tls)
        fail(std::string("TLS ") + (hop->tls ? "was" : "was not") + " used", hop->at);
      if (expect.tls_verified && hop->verified != *expect.tls_verified) {
        fail(std::string("the certificate ") + (hop->verified ? "was" : "was not") + " verified", hop->at);
      }
    }
  }
  if (expect.delivery_tls) {
    if (journey.deliveries.empty()) {
      fail("not in any mailbox, so no delivery TLS to check", journey.last_seen());
    } else if (journey.deliveries.front()->tls.active != *expect.delivery_tls) {
      fail(std::string("the mailbox's copy came ") +
               (journey.deliveries.front()->tls.active ? "over TLS" : "in plaintext"),
           journey.deliveries.front()->received);
    }
  }
  if (expect.dsn_received) {
    bool received = !journey.notices.empty();
    for (const auto& [name, entry] : journey.org)
      received |= entry->event == EmailLogEvent::bounced || entry->event == EmailLogEvent::notice_received;
    if (received != *expect.dsn_received) {
      fail(received ? "a DSN about it was received" : "no DSN about it reached a mailbox or a bounce inbox",
           received && !journey.notices.empty() ? std::optional(journey.notices.front()->received)
                                                : journey.last_seen());
    }
  }
  if (expect.contact_marked_bounced) {
    const bool marked = !marked_contacts(expect, loaded, journey).empty();
    if (marked != *expect.contact_marked_bounced)
      fail(marked ? "the contact was marked bounced" : "the contact was not marked bounced", journey.last_seen());
  }
  if (expect.email_log) {
    std::set<std::string> events;
    for (const auto& [name, entry] : journey.org) events.insert(std::string(to_string(entry->event)));
    if (!events.contains(std::string(to_string(*expect.email_log)))) {
      fail("no \"" + std::string(to_string(*expect.email_log)) + "\" row in the email log (rows: " +
               (events.empty() ? std::string("none") : checks::joined({events.begin(), events.end()})) + ")",
           journey.last_seen());
    }
  }
  if (failures.empty()) return {expect.name, true, "held"};
  return {expect.name, false, expect.to + ": " + checks::joined(failures, "; "), went_wrong};
}

}  // namespace relaysim::scenario::expect
