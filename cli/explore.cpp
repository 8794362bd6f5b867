// `relaysim explore`: property-based exploration outside the test suite. Generates scenarios from
// a seed, checks the properties on each, shrinks a failure to the smallest scenario that still
// fails and writes it as scenario JSON that `relaysim run` replays.

#include <chrono>
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>

#include "cli/commands.hpp"
#include "explore/explore.hpp"

namespace relaysim::cli {
namespace {

constexpr int batch_runs = 25;  // the time budget is checked between batches

struct Shard {
  std::uint64_t index = 0;
  std::uint64_t count = 1;
};

std::optional<Shard> parse_shard(const std::string& text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  try {
    Shard shard{std::stoull(text.substr(0, slash)), std::stoull(text.substr(slash + 1))};
    if (shard.count == 0 || shard.index >= shard.count) return std::nullopt;
    return shard;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

int explore_command(int argc, char** argv) {
  cxxopts::Options parser("relaysim explore",
                          "Generate scenarios, check the properties on each, and shrink any failure to a scenario file that "
                          "`relaysim run` replays.");
  parser.add_options()("runs", "generated scenarios per property (with --time-budget: at most)", cxxopts::value<int>()->default_value("100"))(
      "seed", "the first seed", cxxopts::value<std::uint64_t>()->default_value("1"))(
      "time-budget", "stop after about this many seconds", cxxopts::value<double>())(
      "out", "where counterexamples go", cxxopts::value<std::string>()->default_value("counterexamples"))(
      "property", "check only this property", cxxopts::value<std::string>())(
      "shard", "I/N: take every N-th batch of seeds starting with the I-th, for parallel runs", cxxopts::value<std::string>())(
      "require-coverage", "exit 1 when a coverage counter falls short of its minimum (docs/explore.md)")(
      "list", "list the properties")("h,help", "show this help");
  int runs = 0;
  std::uint64_t seed = 1;
  std::optional<double> budget;
  std::string out;
  std::vector<const explore::Property*> chosen;
  Shard shard;
  bool require_coverage = false;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (parsed.count("list")) {
      for (const explore::Property& property : explore::properties()) std::printf("%-26s %s\n", property.name.c_str(), property.description.c_str());
      std::printf("%-26s %s\n", explore::canary().name.c_str(), explore::canary().description.c_str());
      return 0;
    }
    require_coverage = parsed.count("require-coverage") > 0;
    runs = parsed["runs"].as<int>();
    if (runs < 1) throw cxxopts::exceptions::exception("--runs must be at least 1");
    seed = parsed["seed"].as<std::uint64_t>();
    if (parsed.count("time-budget")) budget = parsed["time-budget"].as<double>();
    out = parsed["out"].as<std::string>();
    if (parsed.count("shard")) {
      const auto value = parse_shard(parsed["shard"].as<std::string>());
      if (!value) throw cxxopts::exceptions::exception("--shard takes I/N with 0 <= I < N, such as 0/4");
      shard = *value;
    }
    if (parsed.count("property")) {
      const std::string name = parsed["property"].as<std::string>();
      const explore::Property* property = explore::property_named(name);
      if (property == nullptr) throw cxxopts::exceptions::exception("no property named '" + name + "' (see --list)");
      chosen.push_back(property);
    } else {
      for (const explore::Property& property : explore::properties()) chosen.push_back(&property);
    }
  } catch (const cxxopts::exceptions::exception& error) {
    std::fprintf(stderr, "relaysim explore: %s\n", error.what());
    return 2;
  }

  const auto started = std::chrono::steady_clock::now();  // the budget is wall time, outside any world
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
  for (const explore::Property* property : chosen) {
    explore::Coverage coverage;
    int done = 0;
    // Batches of runs, each from its own seed: shards take every N-th batch.
    for (std::uint64_t batch = shard.index; done < runs; batch += shard.count) {
      if (budget && elapsed() > *budget) break;
      const int size = std::min(batch_runs, runs - done);
      const std::uint64_t batch_seed = seed + batch;
      const explore::Exploration result = explore::explore(*property, batch_seed, size, coverage);
      done += result.runs;
      std::printf("%s: %d scenarios checked (seed %llu), %.1f s\n", property->name.c_str(), done, static_cast<unsigned long long>(batch_seed),
                  elapsed());
      std::fflush(stdout);
      if (result.passed) continue;
      done += 1;
      std::printf("\nFAILED %s after %d scenarios: %s\n", property->name.c_str(), done, result.message.c_str());
      if (result.counterexample) {
        std::filesystem::create_directories(out);
        const std::string path = out + "/" + property->name + "-" + std::to_string(batch_seed) + ".json";
        std::ofstream file(path);
        file << result.counterexample->dump(2) << "\n";
        std::printf("the shrunk scenario: %s\nreplay it:          relaysim run %s\n", path.c_str(), path.c_str());
      }
      if (!result.reproduce.empty()) {
        std::printf("or through rapidcheck: RC_PARAMS=\"%s\" relaysim explore --property %s --seed %llu --runs %d\n", result.reproduce.c_str(),
                    property->name.c_str(), static_cast<unsigned long long>(batch_seed), size);
      }
      return 1;
    }
    std::printf("%s: passed %d scenarios; reached:\n", property->name.c_str(), done);
    for (const auto& [what, count] : coverage) std::printf("  %-32s %llu\n", what.c_str(), static_cast<unsigned long long>(count));
    const std::vector<std::string> short_of = explore::coverage_shortfalls(*property, coverage, done);
    for (const std::string& line : short_of) std::printf("  SHORT of its minimum: %s\n", line.c_str());
    if (!short_of.empty() && require_coverage) {
      std::printf("FAILED %s: the generator did not reach what it is built to reach (docs/explore.md, \"Coverage\")\n", property->name.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace relaysim::cli
