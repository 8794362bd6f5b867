#pragma once
// The scenario's expectations ("expect"): what should become of a recipient, a mailbox, the logs,
// the run's statistics. Read with the world (errors name the JSON path); checked by
// scenario/verdicts.hpp after the run. docs/scenario-format.md documents every key.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fake_salesforce/org_node.hpp"
#include "scenario/json_reader.hpp"

namespace relaysim::scenario {

// Which messages to a recipient an expectation judges. With none given, every message to the
// recipient counts; with several, a message must match them all. Whatever the selectors pick is
// exactly what every field of the expectation is judged on, at every hop: the Salesforce email and
// its email log rows, the relay's queued copies, the mailbox copies. docs/scenario-format.md.
struct MessageSelector {
  std::optional<std::string> subject;     // the Subject starts with this
  std::optional<std::string> subject_is;  // the Subject is exactly this
  std::optional<std::string> email;       // a Salesforce email id ("0ME000000012")
  std::optional<std::string>
      send;  // a send's name in the traffic: "renewals", or "renewals[12]" for a generator's 12th
  std::optional<std::string> message_id;  // the Message-ID, with or without angle brackets

  bool any() const { return subject || subject_is || email || send || message_id; }
  std::string describe() const;  // "subject \"Renewal\", send renewals[12]"
};

// One expectation of the scenario's "expect" list, as read.
struct Expectation {
  enum class Kind : std::uint8_t { recipient, mailbox, log, stats, tls_report };
  Kind kind = Kind::recipient;
  std::string path;  // "$.expect[2]"
  std::string name;  // for people: "ann@dest.example: delivered via corp"

  // recipient
  std::string to;
  MessageSelector select;
  std::optional<bool> delivered;
  std::optional<std::string> bounced;  // a status prefix: "5.1.1", "5", "" for any
  std::optional<Instant> deferred_at;
  bool never_attempted = false;
  bool refused = false;
  std::optional<std::string> via;  // a relay record's name, "Salesforce", or a relay node's name
  // `attempts`: exactly N, or between `min` and `max` ({"min": 2, "max": 4}), both inclusive.
  struct AttemptCount {
    int min = 0;
    int max = 0;
  };
  std::optional<AttemptCount> attempts;
  std::optional<Duration> within;
  std::optional<bool> tls;
  std::optional<bool> tls_verified;
  std::optional<bool> delivery_tls;
  std::optional<bool> dsn_received;
  std::optional<bool> contact_marked_bounced;
  std::optional<salesforce::EmailLogEvent> email_log;  // a row of the Salesforce email log: "Given up", "Refused", ...

  // mailbox
  std::string mailbox;
  std::optional<std::size_t> count;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string contains;
  std::string folder;  // "inbox" or "spam"; empty: either

  // log
  std::string log;
  std::string node;
  bool absent = false;

  // stats
  std::map<std::string, std::uint64_t> stats;

  // tls_report: the TLS reports (RFC 8460) a domain's collectors and mailboxes received, summed
  std::string report_domain;       // the policy-domain
  std::string report_via;          // "https", "mailto", or empty: either
  std::string report_policy_type;  // "sts", "tlsa", "no-policy-found", or empty: every policy
  std::optional<std::uint64_t> reports;
  std::optional<std::uint64_t> successful_sessions;
  std::optional<std::uint64_t> failed_sessions;
  std::map<std::string, std::uint64_t> result_types;  // failed sessions by result-type
};

// `origin`: what "+1h" in deferred_at counts from. With `mistakes`, an item with a mistake is left
// out and its mistake kept there, so that every item is read; without, the first mistake throws.
std::vector<Expectation> read_expectations(const JsonValue& list, Instant origin, Mistakes* mistakes = nullptr);

}  // namespace relaysim::scenario
