// The exploration's properties, 200 generated scenarios each, from a fixed seed so that CI is
// reproducible (`relaysim explore` is for open-ended runs). A failure names the shrunk scenario
// file and the RC_PARAMS that replays it: the properties run through explore::explore, which
// passes rapidcheck a test id, so RC_PARAMS="reproduce=..." works here as on the command line.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

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
    FAIL(property.name << " failed: " << result.message << "\nthe shrunk scenario: " << file.string()
                       << "\nreplay it: relaysim run " << file.string() << "\nor: RC_PARAMS=\"" << result.reproduce
                       << "\" "
                       << "build/tests/relaysim_tests \"[explore]\"");
  }
  REQUIRE(result.passed);
  CHECK(result.runs == runs_in_ci);
  // Coverage is an assertion: the paths the generator is built to reach were reached.
  std::string reached;
  for (const auto& [what, count] : coverage) reached += "\n  " + what + " " + std::to_string(count);
  INFO(property.name << " reached:" << reached);
  CHECK(explore::coverage_shortfalls(property, coverage, runs_in_ci) == std::vector<std::string>{});
  CHECK(!property.minimums.empty());
}

}  // namespace

TEST_CASE("explore: every invariant holds in generated worlds, faults and all", "[explore]") {
  check_explored(*explore::property_named("invariants"));
}

TEST_CASE("explore: without faults, known users get each message once and unknown users bounce", "[explore]") {
  check_explored(*explore::property_named("faults_removed_delivers"));
}

TEST_CASE("explore: once the faults are over, every known user gets each message unless its time ran out during one",
          "[explore]") {
  check_explored(*explore::property_named("faults_end_delivers"));
}

TEST_CASE("explore: a relay restarted at any instant changes no outcome", "[explore]") {
  check_explored(*explore::property_named("restart_changes_nothing"));
}

TEST_CASE("explore: a false property is caught and shrunk to one send, which replays as a failing scenario",
          "[explore]") {
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

TEST_CASE("explore: coverage short of a minimum is named, scaled to the runs", "[explore]") {
  const explore::Property& property = *explore::property_named("invariants");
  explore::Coverage coverage;
  std::map<std::string, std::uint64_t> minimum;
  for (const explore::CoverageMinimum& each : property.minimums)
    coverage[each.counter] = minimum[each.counter] = each.per_200_runs;
  REQUIRE(minimum["crash"] >= 2);
  REQUIRE(minimum["null MX bounce"] >= 2);
  CHECK(explore::coverage_shortfalls(property, coverage, 200).empty());
  coverage.erase("null MX bounce");
  coverage["crash"] = minimum["crash"] - 1;
  const std::string crash = "crash: " + std::to_string(minimum["crash"] - 1) + " in 200 runs, at least " +
                            std::to_string(minimum["crash"]) + " expected";
  const std::string null_mx =
      "null MX bounce: 0 in 200 runs, at least " + std::to_string(minimum["null MX bounce"]) + " expected";
  CHECK(explore::coverage_shortfalls(property, coverage, 200) == std::vector<std::string>{crash, null_mx});
  // Fewer runs, smaller minimums; never below one.
  CHECK(explore::coverage_shortfalls(property, coverage, 100) ==
        std::vector<std::string>{"null MX bounce: 0 in 100 runs, at least " +
                                 std::to_string(std::max<std::uint64_t>(1, minimum["null MX bounce"] / 2)) +
                                 " expected"});
  coverage.clear();
  CHECK(explore::coverage_shortfalls(property, coverage, 1).size() == property.minimums.size());
}
