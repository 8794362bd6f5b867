#pragma once
// What a run did, collected from its typed events as they happen (io/trace.hpp's Observation): the
// records every check reads. Together with the nodes' own state (mail stores, Salesforce email
// logs) this is all the checks see; none of it is parsed back from trace fields or reply texts.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "io/address.hpp"
#include "io/time.hpp"
#include "relay/queue.hpp"
#include "sim/world.hpp"
#include "smtp/client_session.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::scenario {

class RunObserver final : public sim::TraceSink {
 public:
  struct StoredAtRelay {  // relay::events::Stored
    Instant at;
    std::string node;
    std::string id;
    std::string from;  // empty: <>
    std::vector<std::string> to;
    std::string client;  // empty: the relay's own notification
    std::string sasl;
    std::string subject;                           // the message's Subject
    std::string message_id;                        // its Message-ID, without the angle brackets
    std::vector<smtp::RecipientParameters> dsn{};  // each recipient's NOTIFY, beside `to`
    std::string ret{};                             // RET: "FULL", "HDRS" or empty
    bool returns_headers_only = false;             // a notice: it returns the message's headers, not its body
  };
  struct RelayOutcome {  // relay::events::RecipientSettled
    Instant at;
    std::string node;
    std::string id;
    std::string rcpt;
    smtp::Outcome outcome = smtp::Outcome::transient;
    relay::RecipientState state = relay::RecipientState::deferred;
    std::string status;
    std::string relay;  // the hop's label, for messages
    std::optional<io::Endpoint> relay_endpoint;
    bool tls = false;
    bool tls_verified = false;
    bool possible_duplicate = false;
    bool attempted = true;
    std::string reason;
    std::optional<smtp::Stage> stage;  // the command the deciding reply answered
    int code = 0;                      // that reply's code

    bool final() const { return state == relay::RecipientState::delivered || state == relay::RecipientState::bounced; }
  };
  struct RelayRetry {  // relay::events::RetryPlanned
    Instant at;
    std::string node;
    std::string id;
    Instant next;
  };
  struct RelayDsn {  // relay::events::NoticeQueued
    Instant at;
    std::string node;
    std::string id;
    std::string dsn;
    smtp::DsnAction action = smtp::DsnAction::failed;
    std::string to;                    // the notice's recipient
    std::vector<std::string> about{};  // the recipients it reports on
  };
  struct RelayRecorded {  // relay::events::OutcomesRecorded
    Instant at;
    std::string node;
    std::string id;
    std::vector<std::string> rcpts;  // whose final states became durable
  };
  struct LogLine {  // io::LogLine
    Instant at;
    std::string node;
    std::string line;
  };
  struct SenderResult {  // sender::events::SenderResult
    Instant at;
    std::string node;
    std::int64_t message = 0;
    std::string rcpt;
    std::optional<smtp::Outcome> outcome;  // none: the message failed as a whole
    std::string reply;
    std::string queue_id;  // delivered: the id the server named
  };
  struct RouteStep {  // relay::events::Routed (delivering), then relay::events::Connecting (or a skipped HopFailed)
    Instant at;
    std::string node;
    std::string id;
    std::string domain;         // routed: the destination; connecting: empty
    int preference = -1;        // connecting or skipped: the hop's MX preference
    bool static_route = false;  // routed: by transport_maps or relayhost, not the domain's MX records
  };
  struct HopFailure {  // relay::events::HopFailed: a session with one server failed as a whole
    Instant at;
    std::string node;
    std::string id;
    std::string hop;  // "mx.example.com[192.0.2.1]:25"
    smtp::Stage stage = smtp::Stage::connect;
    std::string status;
    std::string reason;
    bool next_hop = true;  // false: the same hop again, in plaintext
  };
  struct DialogueLine {  // endpoint::events::DialogueLine, with the dialogue traced
    Instant at;
    std::string node;
    std::uint64_t conn = 0;
    std::string peer;
    bool from_client = true;
    bool sent = true;
    std::string line;
  };
  struct Mark {  // a fault window opening, a crash, a restart: for timelines
    Instant at;
    std::string node;
    std::string kind;
    std::string detail;
  };

  void on_event(const io::TraceEvent& event, std::string_view json_line) override;

  std::vector<StoredAtRelay> stored;
  std::vector<RelayOutcome> outcomes;
  std::vector<RelayRetry> retries;
  std::vector<RelayDsn> dsns;
  std::vector<RelayRecorded> recorded;
  std::vector<LogLine> logs;
  std::vector<SenderResult> sender_results;
  std::vector<RouteStep> route_steps;
  std::vector<HopFailure> hop_failures;
  std::vector<DialogueLine> dialogue;  // empty unless the world traces it (World::trace_smtp_dialogue)
  std::map<std::string, std::set<std::string>> late_bounces;  // fake MX node -> recipients it accepted to bounce later
  std::vector<Mark> marks;
  std::map<std::string, std::vector<Instant>> crashes;     // by node
  std::map<std::string, std::set<std::string>> recovered;  // relay node -> queue ids read back after a start
};

// "<id@host>" -> "id@host": how selectors and the observer compare Message-IDs.
std::string bare_message_id(std::string_view value);

}  // namespace relaysim::scenario
