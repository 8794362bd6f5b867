#pragma once
// The scenario's expectations ("expect"): what should become of a recipient, a mailbox, the logs,
// the run's statistics. Read with the world (errors name the JSON path); checked by
// scenario/verdicts.hpp after the run. docs/scenario-format.md documents every key.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scenario/json_reader.hpp"

namespace relaysim::scenario {

// One expectation of the scenario's "expect" list, as read.
struct Expectation {
  enum class Kind : std::uint8_t { recipient, mailbox, log, stats };
  Kind kind = Kind::recipient;
  std::string path;  // "$.expect[2]"
  std::string name;  // for people: "ann@dest.example: delivered via corp"

  // recipient
  std::string to;
  std::optional<std::string> subject;  // only messages with this subject count
  std::optional<bool> delivered;
  std::optional<std::string> bounced;  // a status prefix: "5.1.1", "5", "" for any
  std::optional<Instant> deferred_at;
  bool never_attempted = false;
  bool refused = false;
  std::optional<std::string> via;  // a relay record's name, "Salesforce", or a relay node's name
  std::optional<int> attempts;
  std::optional<Duration> within;
  std::optional<bool> tls;
  std::optional<bool> tls_verified;
  std::optional<bool> delivery_tls;
  std::optional<bool> dsn_received;
  std::optional<bool> contact_marked_bounced;
  std::optional<std::string> email_log;  // an event of a Salesforce email log row: "Given up", "Refused", ...

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
};

std::vector<Expectation> read_expectations(const JsonValue& list, Instant origin);

// `origin`: what "+1h" in deferred_at counts from.
std::vector<Expectation> read_expectations(const JsonValue& list, Instant origin);

}  // namespace relaysim::scenario
