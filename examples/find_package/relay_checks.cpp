// Checks of your own against a relaysim world: load a scenario, change what your test is about,
// run it in virtual time and look at the verdicts. Here, the bundled quickstart: its MX
// greylists, so each message takes two attempts; without greylisting one attempt is enough; and
// a claim of one attempt with greylisting on must fail.

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "scenario/observer.hpp"
#include "scenario/verdicts.hpp"
#include "scenario/world_file.hpp"
#include "sim/world.hpp"

namespace scenario = relaysim::scenario;

namespace {

struct Outcome {
  bool passed = false;
  std::string digest;
};

Outcome run(const nlohmann::json& document, const std::string& directory, bool print = true) {
  scenario::LoadedWorld loaded = scenario::load_world(document, std::nullopt, directory);
  scenario::RunObserver observer;
  loaded.world->add_trace_sink(observer);
  loaded.world->start();
  const bool quiescent = loaded.world->run_until(loaded.until) == relaysim::sim::World::RunOutcome::quiescent;
  const scenario::RunResult result = scenario::check_run(loaded, observer, quiescent);
  for (const scenario::Verdict& verdict : result.expectations) {
    if (print)
      std::printf("  %s %s%s%s\n", verdict.passed ? "ok    " : "FAILED", verdict.name.c_str(),
                  verdict.passed ? "" : ": ", verdict.passed ? "" : verdict.message.c_str());
  }
  for (const scenario::Verdict& verdict : result.invariants) {
    if (print && !verdict.passed)
      std::printf("  FAILED invariant %s: %s\n", verdict.name.c_str(), verdict.message.c_str());
  }
  return {result.passed(), loaded.world->digest()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: relay_checks SCENARIO.json\n");
    return 2;
  }
  try {
    const nlohmann::json document = scenario::read_world_document(argv[1]);
    const std::string directory = scenario::directory_of(argv[1]);

    std::printf("%s as written:\n", argv[1]);
    const Outcome first = run(document, directory);
    // The same scenario and seed give the same trace, byte for byte.
    const Outcome again = run(document, directory, false);
    if (first.digest != again.digest) {
      std::printf("FAILED: two runs of one scenario differ: %s, %s\n", first.digest.c_str(), again.digest.c_str());
      return 1;
    }
    std::printf("digest %s, twice\n", first.digest.c_str());

    nlohmann::json one_attempt = document;
    for (nlohmann::json& expectation : one_attempt["expect"]) {
      if (expectation.contains("attempts")) expectation["attempts"] = 1;
    }
    std::printf("without greylisting, one attempt each:\n");
    nlohmann::json no_greylisting = one_attempt;
    no_greylisting["nodes"]["dest-mx"]["behaviour"].erase("preset");
    const Outcome plain = run(no_greylisting, directory);

    std::printf("with greylisting, one attempt each (must fail):\n");
    const Outcome wrong = run(one_attempt, directory);

    const bool as_expected = first.passed && plain.passed && !wrong.passed;
    std::printf("%s\n", as_expected ? "PASSED" : "FAILED");
    return as_expected ? 0 : 1;
  } catch (const scenario::InputError& error) {
    std::fprintf(stderr, "%s: %s: %s\n", argv[1], error.path().c_str(), error.what());
    return 2;
  }
}
