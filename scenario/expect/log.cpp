// A log expectation: a node logged (or never logged) a line containing the given text - the one
// family that matches text, because log lines are what an administrator reads.

#include <algorithm>

#include "scenario/expect/expectations.hpp"

namespace relaysim::scenario::expect {

Verdict log(const Expectation& expect, const RunObserver& observer) {
  const auto found = std::find_if(observer.logs.begin(), observer.logs.end(), [&](const RunObserver::LogLine& line) {
    return (expect.node.empty() || line.node == expect.node) && line.line.find(expect.log) != std::string::npos;
  });
  const bool present = found != observer.logs.end();
  if (present != expect.absent) return {expect.name, true, present ? found->node + ": " + found->line : "held"};
  if (present) return {expect.name, false, "logged by " + found->node + ": " + found->line, found->at};
  return {expect.name, false, "no log line contains \"" + expect.log + "\""};
}

}  // namespace relaysim::scenario::expect
