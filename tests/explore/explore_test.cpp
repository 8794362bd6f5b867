// The exploration's properties, 200 generated scenarios each, from a fixed seed so that CI is
// reproducible (`relaysim explore` is for open-ended runs). A failure names the shrunk scenario
// file and the RC_PARAMS that replays it: the properties run through explore::explore, which
// passes rapidcheck a test id, so RC_PARAMS="reproduce=..." works here as on the command line.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "explore/explore.hpp"

using namespace relaysim;

namespace {

constexpr int runs_in_ci = 200;
constexpr std::uint64_t seed_in_ci = 1;

void check_explored(const explore::Property& property) {
  explore::Coverage coverage;
  const explore::Exploration result = explore::explore(property, seed_in_ci, runs_in_ci, coverage);
  if (!result.passed && result.counterexample) {
    const std::filesystem::path directory = std::filesystem::path(RELAYSIM_BINARY_DIR) / "counterexamples";
    std::filesystem::create_directories(directory);
    const std::filesystem::path file = directory / (property.name + "-" + std::to_string(seed_in_ci) + ".json");
    std::ofstream(file) << result.counterexample->dump(2) << "\n";
    FAIL(property.name << " failed: " << result.message << "\nthe shrunk scenario: " << file.string() << "\nreplay it: relaysim run "
                       << file.string() << "\nor: RC_PARAMS=\"" << result.reproduce << "\" " << "build/tests/relaysim_tests \"[explore]\"");
  }
  REQUIRE(result.passed);
  CHECK(result.runs == runs_in_ci);
  CHECK(coverage["relay delivered"] > 0);  // the worlds did something
}

}  // namespace

TEST_CASE("explore: every invariant holds in generated worlds, faults and all", "[explore]") {
  check_explored(*explore::property_named("invariants"));
}

TEST_CASE("explore: without faults, known users get each message once and unknown users bounce", "[explore]") {
  check_explored(*explore::property_named("faults_removed_delivers"));
}

TEST_CASE("explore: a relay restarted at any instant changes no outcome", "[explore]") {
  check_explored(*explore::property_named("restart_changes_nothing"));
}

TEST_CASE("explore: a false property is caught and shrunk to one send, which replays as a failing scenario", "[explore]") {
  explore::Coverage coverage;
  const explore::Exploration result = explore::explore(explore::canary(), seed_in_ci, 100, coverage);
  REQUIRE_FALSE(result.passed);
  REQUIRE(result.counterexample);
  const nlohmann::json& scenario = *result.counterexample;
  CHECK(scenario["nodes"]["salesforce"]["traffic"].size() == 1);
  CHECK(scenario["nodes"]["salesforce"]["traffic"][0]["to"].size() == 1);
  CHECK_FALSE(scenario.contains("faults"));
  CHECK(result.reproduce.find("reproduce=") != std::string::npos);
  const explore::Check replay = explore::run_invariants(scenario, coverage);  // its expectations fail again
  CHECK_FALSE(replay.passed);
}
