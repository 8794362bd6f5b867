#pragma once
// Proving a scenario's expectations can fail. Each expectation is changed into mutants that claim
// something the run did not do (delivered <-> bounced, another status, attempts +-1, another relay,
// absent <-> present, a count +-1, a selector no message matches, ...). Checked against the same
// run, every mutant must fail; one that passes is an expectation that would also have passed on
// the wrong world. `relaysim falsify` runs it; docs/scenario-format.md ("Proving expectations").

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scenario/verdicts.hpp"

namespace relaysim::scenario {

struct Mutant {
  std::size_t index = 0;  // which item of "expect"
  std::string change;     // for people: "\"delivered\": true -> false"
  nlohmann::json item;    // the changed item, as it would be written in the scenario
};

// The mutants of every item of the document's "expect" list. `loaded` is the world the document
// loads into: other relays and nodes are drawn from it.
std::vector<Mutant> mutants_of(const nlohmann::json& document, const LoadedWorld& loaded);

struct MutantVerdict {
  Mutant mutant;
  Verdict verdict;       // the mutant checked against the run; `passed` means it survived
  bool readable = true;  // false: the mutant is not a valid expectation (verdict.message says why)
};

// Checks every mutant against the finished run the observer saw.
std::vector<MutantVerdict> check_mutants(const std::vector<Mutant>& mutants, const LoadedWorld& loaded,
                                         const RunObserver& observer, const RunStats& stats);

// The document with expectation `mutant.index` replaced by the mutant: a scenario file whose run
// must fail.
nlohmann::json with_mutant(const nlohmann::json& document, const Mutant& mutant);

}  // namespace relaysim::scenario
