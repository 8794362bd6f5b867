#pragma once
// What the expectation and invariant checks share: how they name instants, addresses and domains,
// and how an invariant gathers its violations into a verdict. Internal to scenario/.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/time.hpp"
#include "relay/config.hpp"
#include "scenario/verdicts.hpp"

namespace relaysim::scenario::checks {

std::string lower(std::string_view text);
std::string domain_of(std::string_view address);
std::string offset(Instant when, Instant start);  // "+5m"
std::string joined(const std::vector<std::string>& items, std::string_view separator = ", ");
// "relay 064C... deferred 4.2.0 at +5m": one relay outcome, for a failure message.
std::string describe(const RunObserver::RelayOutcome& outcome, Instant start);

// Whether an Email Domain Filter's patterns match `domain` (lower case), from Salesforce's rules
// rather than the org's code: "*" every domain, "*.example.com" its subdomains only,
// "example.com" itself only; case does not matter. The routing invariant's oracle, and the
// importer's for its probes.
bool filter_patterns_match(const std::vector<std::string>& patterns, const std::string& domain);

// The messages the relays stored, by (relay node, queue id).
using StoredMessages = std::map<std::pair<std::string, std::string>, const RunObserver::StoredAtRelay*>;
StoredMessages stored_messages(const RunObserver& observer);

// Whether `node` crashed at an instant in [from, until]: after a crash the attempt that was in
// flight may be made again, with its notices.
bool crashed_between(const RunObserver& observer, const std::string& node, Instant from, Instant until);

// When a stored message's queue lifetime ends: its arrival plus maximal_queue_lifetime, or
// bounce_queue_lifetime for a notice (from <>). Worked out from the configuration, not with the
// relay's own RetryPolicy::expiry, so that a wrong expiry in the relay shows.
Instant end_of_life(const relay::RelayConfig& config, const RunObserver::StoredAtRelay& message);

// `earliest` becomes `at` when `at` is set and comes before it: how a failed check keeps the
// instant it went wrong (Verdict::at) as it finds its failures.
void keep_earliest(std::optional<Instant>& earliest, std::optional<Instant> at);

// Collects violations of one invariant and turns them into a verdict: the first few in full.
class Violations {
 public:
  static constexpr std::size_t shown_max = 5;
  void add(std::string text, std::optional<Instant> at = std::nullopt);
  Verdict verdict(std::string name, std::string held) const;

 private:
  std::size_t count_ = 0;
  std::vector<std::string> shown_;
  std::optional<Instant> earliest_;
};

}  // namespace relaysim::scenario::checks
