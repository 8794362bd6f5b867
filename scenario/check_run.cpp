#include <algorithm>

#include "scenario/expect/expectations.hpp"
#include "scenario/invariants/invariants.hpp"
#include "scenario/stats.hpp"
#include "scenario/verdicts.hpp"

namespace relaysim::scenario {

bool RunResult::passed() const {
  const auto ok = [](const Verdict& verdict) { return verdict.passed; };
  return std::all_of(expectations.begin(), expectations.end(), ok) &&
         std::all_of(invariants.begin(), invariants.end(), ok);
}

Verdict check_expectation(const Expectation& expectation, const LoadedWorld& loaded, const RunObserver& observer,
                          const RunStats& stats) {
  switch (expectation.kind) {
    case Expectation::Kind::recipient: return expect::recipient(expectation, loaded, observer);
    case Expectation::Kind::mailbox: return expect::mailbox(expectation, loaded);
    case Expectation::Kind::log: return expect::log(expectation, observer);
    case Expectation::Kind::stats: return expect::stats(expectation, stats);
    case Expectation::Kind::tls_report: return expect::tls_report(expectation, loaded);
  }
  return {expectation.name, false, "an expectation of no known kind"};
}

RunResult check_run(const LoadedWorld& loaded, const RunObserver& observer, bool quiescent) {
  RunResult result;
  result.stats = stats_of(loaded, observer);
  for (const Expectation& expectation : loaded.expectations) {
    result.expectations.push_back(check_expectation(expectation, loaded, observer, result.stats));
  }
  result.invariants.push_back(invariants::conservation(loaded, observer, quiescent));
  result.invariants.push_back(invariants::retry_bounds(loaded, observer));
  result.invariants.push_back(invariants::notifications(observer));
  result.invariants.push_back(invariants::permanent_failures(loaded, observer));
  result.invariants.push_back(invariants::tls_settings(loaded, observer));
  result.invariants.push_back(invariants::no_open_relay(loaded, observer));
  result.invariants.push_back(invariants::routing(loaded));
  result.invariants.push_back(invariants::mx_preference(loaded, observer));
  result.invariants.push_back(invariants::hand_overs(loaded, observer));
  result.invariants.push_back(invariants::notice_recipients(observer));
  result.invariants.push_back(invariants::expiry(loaded, observer));
  result.invariants.push_back(invariants::delay_notices(observer));
  result.invariants.push_back(invariants::recorded_outcomes(loaded, observer));
  result.invariants.push_back(invariants::null_mx(loaded, observer));
  result.invariants.push_back(invariants::notice_requests(observer));
  return result;
}

}  // namespace relaysim::scenario
