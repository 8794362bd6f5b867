#pragma once
// What a run came to: the observations taken from its trace, the scenario's expectations checked
// against them, the invariants every run must keep (../shared/DESIGN.md §7), and the run's
// statistics. docs/scenario-format.md ("Expectations", "Invariants") documents each one.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "scenario/world_file.hpp"
#include "sim/world.hpp"

namespace relaysim::scenario {

// Everything the checks need from a run, collected as the trace goes by.
class RunObserver final : public sim::TraceSink {
 public:
  struct StoredAtRelay {  // queue.stored
    Instant at;
    std::string node;
    std::string id;
    std::string from;  // empty: <>
    std::vector<std::string> to;
    std::string client;  // empty: the relay's own notification
    std::string sasl;
  };
  struct RelayOutcome {  // relay.outcome
    Instant at;
    std::string node;
    std::string id;
    std::string rcpt;
    std::string outcome;  // delivered, transient, permanent
    std::string state;    // delivered, deferred, bounced
    std::string status;
    std::string relay;
    bool tls = false;
    bool tls_verified = false;
    bool possible_duplicate = false;
    bool attempted = true;
    std::string reason;
    std::string stage;  // the command the deciding reply answered; empty without a reply
    int code = 0;       // that reply's code
  };
  struct RelayRetry {  // relay.retry
    Instant at;
    std::string node;
    std::string id;
    Instant next;
  };
  struct RelayDsn {  // relay.dsn
    Instant at;
    std::string node;
    std::string id;
    std::string dsn;
    std::string action;
    std::string to;
  };
  struct LogLine {  // log
    Instant at;
    std::string node;
    std::string line;
  };
  struct SenderResult {  // sender.result (plain SMTP senders)
    Instant at;
    std::string node;
    std::int64_t message = 0;
    std::string rcpt;
    std::string outcome;
    std::string reply;
  };
  struct RouteStep {  // relay.route, then relay.connect for the same message
    Instant at;
    std::string node;
    std::string id;
    std::string domain;  // relay.route: the destination; relay.connect: empty
    int preference = -1;  // relay.connect: the hop's MX preference
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
  std::vector<LogLine> logs;
  std::vector<SenderResult> sender_results;
  std::vector<RouteStep> route_steps;
  std::map<std::string, std::set<std::string>> late_bounces;  // fake MX node -> recipients it accepted to bounce later
  std::vector<Mark> marks;
  std::map<std::string, std::vector<Instant>> crashes;  // by node
};

struct Verdict {
  std::string name;
  bool passed = true;
  std::string message;  // why it failed, naming the message, recipient and events; or what held
};

struct RunStats {
  std::uint64_t submitted = 0;   // messages senders asked to send (Salesforce sends, plain SMTP senders)
  std::uint64_t accepted = 0;    // messages relays accepted from clients (not their own notices)
  std::uint64_t delivered = 0;   // recipients that reached a mailbox of a fake MX (notices excluded)
  std::uint64_t bounced = 0;     // recipients a relay bounced, or Salesforce failed permanently or gave up
  std::uint64_t deferred = 0;    // deferrals by relays (attempts that ended transient)
  std::uint64_t duplicates = 0;  // deliveries of a message to a mailbox beyond the first
  std::uint64_t refused = 0;     // sends Salesforce refused at the source
};

struct RunResult {
  std::vector<Verdict> expectations;
  std::vector<Verdict> invariants;
  RunStats stats;
  bool passed() const;
};

// `quiescent`: the run ended because nothing was left to do (so every accepted recipient must
// have reached its end), not at `until`.
RunResult check_run(const LoadedWorld& loaded, const RunObserver& observer, bool quiescent);

}  // namespace relaysim::scenario
