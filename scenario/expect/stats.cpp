// A statistics expectation: the run's counters (scenario/stats.cpp) have exactly the given values.

#include "scenario/expect/expectations.hpp"

namespace relaysim::scenario::expect {

Verdict stats(const Expectation& expect, const RunStats& stats) {
  std::string wrong;
  for (const auto& [name, value] : expect.stats) {
    for (const NamedStat& stat : run_stat_names) {
      if (name != stat.name) continue;
      const std::uint64_t actual = stats.*stat.value;
      if (actual != value)
        wrong +=
            (wrong.empty() ? "" : ", ") + name + " is " + std::to_string(actual) + ", not " + std::to_string(value);
    }
  }
  return {expect.name, wrong.empty(), wrong.empty() ? "held" : wrong};
}

}  // namespace relaysim::scenario::expect
