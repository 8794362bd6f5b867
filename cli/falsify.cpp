// `relaysim falsify FILE...`: run each scenario once, then check that every expectation could have
// failed: each is changed into mutants that claim what the run did not do, and every mutant must
// fail against the same run (scenario/falsify.hpp).

#include <cstdio>
#include <cxxopts.hpp>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/reports.hpp"
#include "scenario/falsify.hpp"
#include "scenario/world_file.hpp"

namespace relaysim::cli {
namespace {

struct FalsifyOptions {
  std::optional<std::uint64_t> seed;
  std::string write_directory;
  bool verbose = false;
};

std::string stem_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.ends_with(".json")) name.resize(name.size() - 5);
  return name;
}

// 0: every mutant failed; 1: one survived, or the scenario itself fails; 2: bad input.
int falsify_one(const std::string& path, const FalsifyOptions& options) {
  nlohmann::json document;
  scenario::LoadedWorld loaded;
  try {
    document = scenario::read_world_document(path);
    loaded = scenario::load_world(document, options.seed, scenario::directory_of(path));
  } catch (const scenario::InputError& error) {
    print_mistakes("relaysim: " + path, error);
    return 2;
  }
  scenario::RunObserver observer;
  loaded.world->add_trace_sink(observer);
  loaded.world->start();
  const bool quiescent = loaded.world->run_until(loaded.until) == sim::World::RunOutcome::quiescent;
  const scenario::RunResult result = scenario::check_run(loaded, observer, quiescent);
  if (!result.passed()) {
    std::printf("%s: the scenario itself fails ('relaysim run %s' says why); its expectations cannot be proven\n",
                path.c_str(), path.c_str());
    return 1;
  }
  const std::vector<scenario::Mutant> mutants = scenario::mutants_of(document, loaded);
  const std::vector<scenario::MutantVerdict> verdicts =
      scenario::check_mutants(mutants, loaded, observer, result.stats);
  std::size_t failed = 0;
  for (const scenario::MutantVerdict& checked : verdicts) {
    const scenario::Mutant& mutant = checked.mutant;
    const std::string where = "$.expect[" + std::to_string(mutant.index) + "]";
    if (!checked.readable) {
      std::printf("  UNREADABLE %s %s: %s\n", where.c_str(), mutant.change.c_str(), checked.verdict.message.c_str());
    } else if (checked.verdict.passed) {
      std::printf("  SURVIVED %s %s: %s still holds\n", where.c_str(), mutant.change.c_str(),
                  checked.verdict.name.c_str());
    } else {
      ++failed;
      if (options.verbose)
        std::printf("  failed  %s %s: %s\n", where.c_str(), mutant.change.c_str(), checked.verdict.message.c_str());
    }
  }
  std::printf("%s: %zu expectations, %zu mutants, %zu failed as they should\n", path.c_str(),
              result.expectations.size(), mutants.size(), failed);
  if (!options.write_directory.empty()) {
    for (std::size_t k = 0; k < mutants.size(); ++k) {
      const std::string out =
          options.write_directory + "/" + stem_of(path) + ".mutant-" + std::to_string(k + 1) + ".json";
      nlohmann::json changed = scenario::with_mutant(document, mutants[k]);
      changed["description"] = "A mutant of " + stem_of(path) + ": " + "$.expect[" + std::to_string(mutants[k].index) +
                               "] " + mutants[k].change + ". Its run must fail.";
      if (!write_file(out, changed.dump(2) + "\n")) {
        std::fprintf(stderr, "relaysim falsify: cannot write '%s'\n", out.c_str());
        return 2;
      }
    }
  }
  return failed == mutants.size() ? 0 : 1;
}

}  // namespace

cxxopts::Options falsify_options() {
  cxxopts::Options parser(
      "relaysim falsify",
      "Run each scenario once and prove every expectation can fail: each is changed into mutants that claim what the "
      "run did "
      "not do (delivered <-> bounced, another status, attempts +-1, another relay, a count +-1, a selector no message "
      "matches, ...), and every mutant must fail against the same run. Exit 0: all failed; 1: one survived.");
  parser.add_options()("seed", "override the files' seed", cxxopts::value<std::uint64_t>())(
      "write", "also write each mutant as a scenario file into this directory", cxxopts::value<std::string>())(
      "v,verbose", "print every mutant and why it failed")("h,help", "show this help")(
      "files", "scenario files", cxxopts::value<std::vector<std::string>>());
  parser.parse_positional({"files"});
  parser.positional_help("FILE...");
  return parser;
}

int falsify_command(int argc, char** argv) {
  cxxopts::Options parser = falsify_options();
  FalsifyOptions options;
  std::vector<std::string> files;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (parsed.count("seed")) options.seed = parsed["seed"].as<std::uint64_t>();
    if (parsed.count("write")) options.write_directory = parsed["write"].as<std::string>();
    options.verbose = parsed.count("verbose") > 0;
    if (parsed.count("files")) files = parsed["files"].as<std::vector<std::string>>();
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("falsify", error, argc, argv);
  }
  if (files.empty()) {
    std::fprintf(stderr, "relaysim falsify: name at least one file\n");
    return 2;
  }
  int worst = 0;
  for (const std::string& file : files) worst = std::max(worst, falsify_one(file, options));
  return worst;
}

}  // namespace relaysim::cli
