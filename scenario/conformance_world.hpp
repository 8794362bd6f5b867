#pragma once
// `relaysim conformance --simulate`: relaysim's relay, the conformance harness's fake MX and its
// probe as three processes on one simulated host, run in virtual time until every check has a
// verdict. The CLI builds it from a `relaysim relay` configuration file; tests build it from a
// RelayConfig (a broken variant included) to show that each check fails on a relay it should.

#include <cstdint>
#include <string>
#include <vector>

#include "conformance/probe.hpp"
#include "relay/config.hpp"
#include "relay/relay_node.hpp"

namespace relaysim::scenario {

struct ConformanceWorld {
  relay::RelayConfig relay;
  relay::RelayTls relay_tls;     // contexts owned by the caller
  conformance::Options options;  // `relay` unset: the first listener (0.0.0.0 taken as 127.0.0.1)
  std::uint64_t seed = 1;
  Instant start;
};

struct SimulatedConformance {
  bool finished = false;  // every check got a verdict before the world's bound
  bool reachable = false;
  std::string error;  // why the relay could not be talked to
  std::vector<conformance::CheckResult> results;
};

SimulatedConformance run_conformance(ConformanceWorld world);

}  // namespace relaysim::scenario
