#pragma once
// Property-based exploration: rapidcheck generators of whole scenarios (DNS layouts, a Salesforce
// org, the relay's configuration, MX behaviours, traffic, faults), the properties every generated
// world must keep, and what a failure leaves behind - the shrunk scenario as ordinary scenario
// JSON that `relaysim run` replays. docs/explore.md describes the generators and properties.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <rapidcheck.h>
#include <nlohmann/json.hpp>

#include "relay/broken_variant.hpp"

namespace relaysim::explore {

// A generated scenario: the scenario document itself, as `relaysim run` reads it.
struct GeneratedScenario {
  nlohmann::json document;
  // The relays and orgs the scenario runs against: broken that way when a test proves that
  // exploration catches a broken relay (relay/broken_variant.hpp); never from the command line.
  relay::BrokenVariant broken_variant = relay::BrokenVariant::none;
};
void showValue(const GeneratedScenario& scenario, std::ostream& out);  // for rapidcheck's messages

rc::Gen<GeneratedScenario> scenarios();

// What happened in a run that exploration aims to reach: counters by name ("greylist passed",
// "5xx after DATA", "crash during delivery", "expired 4.4.7", ...).
using Coverage = std::map<std::string, std::uint64_t>;

// One property's verdict on one scenario.
struct Check {
  bool passed = true;
  std::string message;                 // what broke, naming the message, recipient and events
  nlohmann::json document;             // the scenario that was run, with expectations that replay the failure
  std::vector<std::string> digests{};  // the trace digest of each world the check ran, in order
};

// The least a coverage counter must reach in 200 runs (scaled for other run counts): a path the
// generator is built to reach. A counter that falls below it means the generator stopped reaching
// that path, and the property stopped testing it. docs/explore.md lists them.
struct CoverageMinimum {
  std::string counter;
  std::uint64_t per_200_runs = 0;
};

struct Property {
  std::string name;
  std::string description;
  std::function<Check(const GeneratedScenario& scenario, Coverage& coverage)> check;
  std::vector<CoverageMinimum> minimums{};
};

// The counters of `coverage`, after `runs` runs of `property`, that fell short of their minimum:
// "null MX bounce: 0 in 200 runs, at least 20 expected".
std::vector<std::string> coverage_shortfalls(const Property& property, const Coverage& coverage, int runs);

// invariants: every invariant of the scenario checks holds in the generated world.
// faults_removed_delivers: without faults and MX rules, every known user gets each message once
//   and every unknown user's message bounces with 5.1.1.
// faults_end_delivers: with the faults kept, every known user gets each message the relay handles
//   once the faults are over, unless its time ran out during one.
// restart_changes_nothing: a relay killed and restarted at any instant changes no outcome but
//   counted duplicates.
const std::vector<Property>& properties();
// Not among properties(): "every recipient gets its mail", false by design, to show a failure
// caught, shrunk and replayed. Reachable by name.
const Property& canary();
const Property* property_named(std::string_view name);

// Runs a scenario document to the end; the verdicts and what it reached.
Check run_invariants(const nlohmann::json& document, Coverage& coverage,
                     relay::BrokenVariant broken_variant = relay::BrokenVariant::none);

struct Exploration {
  bool passed = true;
  int runs = 0;                                  // generated scenarios that passed before the end or the failure
  std::string message;                           // the shrunk failure
  std::optional<nlohmann::json> counterexample;  // the shrunk scenario, as scenario JSON
  std::string reproduce;                         // RC_PARAMS that replays the failure through rapidcheck
  // The trace digest of every world run for the generated scenarios, in order (shrinking runs
  // left out): the same seed gives the same list on any machine, in one process or many.
  std::vector<std::string> digests{};
};

// Checks a property on `runs` generated scenarios from `seed` (RC_PARAMS="reproduce=..." for
// this property's id replays a recorded failure instead). A failure is shrunk. `broken_variant`:
// the relays and orgs of every scenario broken that way (tests/explore/broken_variants_test.cpp).
Exploration explore(const Property& property, std::uint64_t seed, int runs, Coverage& coverage,
                    relay::BrokenVariant broken_variant = relay::BrokenVariant::none);
// The id rapidcheck's reproduce strings use for a property.
std::string test_id(const Property& property);

}  // namespace relaysim::explore
