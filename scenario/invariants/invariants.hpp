#pragma once
// The invariants every run must keep (../shared/DESIGN.md §7), one file each. Each reads the run's
// typed records and the nodes' state, and names every violation: node, message, recipient, instant.
// tests/scenario/invariants_test.cpp holds a broken world for each that it must flag.

#include "scenario/verdicts.hpp"

namespace relaysim::scenario::invariants {

Verdict conservation(const LoadedWorld& loaded, const RunObserver& observer, bool quiescent);
Verdict retry_bounds(const LoadedWorld& loaded, const RunObserver& observer);
Verdict notifications(const RunObserver& observer);
Verdict permanent_failures(const LoadedWorld& loaded, const RunObserver& observer);
Verdict tls_settings(const LoadedWorld& loaded, const RunObserver& observer);
Verdict no_open_relay(const LoadedWorld& loaded, const RunObserver& observer);
Verdict routing(const LoadedWorld& loaded);
Verdict mx_preference(const LoadedWorld& loaded, const RunObserver& observer);
Verdict hand_overs(const LoadedWorld& loaded, const RunObserver& observer);
Verdict notice_recipients(const RunObserver& observer);
Verdict expiry(const LoadedWorld& loaded, const RunObserver& observer);
Verdict delay_notices(const RunObserver& observer);
Verdict null_mx(const LoadedWorld& loaded, const RunObserver& observer);
Verdict notice_requests(const RunObserver& observer);
Verdict recorded_outcomes(const LoadedWorld& loaded, const RunObserver& observer);

}  // namespace relaysim::scenario::invariants
