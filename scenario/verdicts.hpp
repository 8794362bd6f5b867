#pragma once
// What a run came to: the scenario's expectations checked against what the run did
// (scenario/observer.hpp and the nodes' state), the invariants every run must keep
// (../shared/DESIGN.md §7), and the run's statistics. docs/scenario-format.md ("Expectations",
// "Invariants") documents each one; scenario/expect/ and scenario/invariants/ hold one file each.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scenario/observer.hpp"
#include "scenario/world_file.hpp"

namespace relaysim::scenario {

struct Verdict {
  std::string name;
  bool passed = true;
  std::string message;  // why it failed, naming the message, recipient and events; or what held
  // A failed check: the earliest instant at which what it names went wrong (the delivery that
  // should not have happened, the retry planned too late), when the failure has one. A check that
  // fails on an absence (never delivered) names the last thing that did happen, or nothing.
  std::optional<Instant> at = std::nullopt;
};

struct RunStats {
  std::uint64_t submitted = 0;   // messages senders asked to send (Salesforce sends, plain SMTP senders)
  std::uint64_t accepted = 0;    // messages relays accepted from clients (not their own notices)
  std::uint64_t delivered = 0;   // recipients that reached a mailbox of a fake MX (notices excluded)
  std::uint64_t bounced = 0;     // recipients a relay bounced, or Salesforce failed permanently (a 5xx)
  std::uint64_t given_up = 0;    // recipients Salesforce stopped retrying: nothing bounced, nobody told
  std::uint64_t deferred = 0;    // deferrals by relays (attempts that ended transient)
  std::uint64_t duplicates = 0;  // deliveries of a message to a mailbox beyond the first
  std::uint64_t refused = 0;     // sends Salesforce refused at the source
};

// The statistics by their names in the scenario format and the JSON output, in order.
struct NamedStat {
  const char* name;
  std::uint64_t RunStats::*value;
};
inline constexpr NamedStat run_stat_names[] = {
    {"submitted", &RunStats::submitted},   {"accepted", &RunStats::accepted}, {"delivered", &RunStats::delivered},
    {"bounced", &RunStats::bounced},       {"given_up", &RunStats::given_up}, {"deferred", &RunStats::deferred},
    {"duplicates", &RunStats::duplicates}, {"refused", &RunStats::refused},
};

struct RunResult {
  std::vector<Verdict> expectations;
  std::vector<Verdict> invariants;
  RunStats stats;
  bool passed() const;
};

// One expectation against a finished run (`stats`: the run's statistics, scenario/stats.hpp).
Verdict check_expectation(const Expectation& expectation, const LoadedWorld& loaded, const RunObserver& observer,
                          const RunStats& stats);

// `quiescent`: the run ended because nothing was left to do (so every accepted recipient must
// have reached its end), not at `until`.
RunResult check_run(const LoadedWorld& loaded, const RunObserver& observer, bool quiescent);

}  // namespace relaysim::scenario
