#pragma once
// The run's statistics from what it did: docs/scenario-format.md ("Statistics").

#include "scenario/verdicts.hpp"

namespace relaysim::scenario {

RunStats stats_of(const LoadedWorld& loaded, const RunObserver& observer);

}  // namespace relaysim::scenario
