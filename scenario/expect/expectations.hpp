#pragma once
// The expectation families, one file each: what should become of a recipient's messages
// (recipient.cpp), a mailbox (mailbox.cpp), the logs (log.cpp), the statistics (stats.cpp), the TLS
// reports a domain received (tls_report.cpp).

#include "scenario/expectation.hpp"
#include "scenario/verdicts.hpp"

namespace relaysim::scenario::expect {

Verdict recipient(const Expectation& expect, const LoadedWorld& loaded, const RunObserver& observer);
Verdict mailbox(const Expectation& expect, const LoadedWorld& loaded);
Verdict log(const Expectation& expect, const RunObserver& observer);
Verdict stats(const Expectation& expect, const RunStats& stats);
Verdict tls_report(const Expectation& expect, const LoadedWorld& loaded);

}  // namespace relaysim::scenario::expect
