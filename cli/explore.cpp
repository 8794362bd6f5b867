// `relaysim explore`: property-based exploration outside the test suite. Generates scenarios from
// a seed, checks the properties on each, shrinks a failure to the smallest scenario that still
// fails and writes it as scenario JSON that `relaysim run` replays.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/reports.hpp"
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

// One batch of runs: its place in the sequence, what it reached, and its failure if any.
struct Batch {
  std::uint64_t index = 0;  // batch number: its seed is the first seed + index
  std::uint64_t seed = 0;
  int size = 0;  // runs asked for
  explore::Exploration result;
  explore::Coverage coverage;
};

nlohmann::json to_json(const Batch& batch) {
  nlohmann::json failure = nullptr;
  if (!batch.result.passed) {
    failure = {{"message", batch.result.message}, {"reproduce", batch.result.reproduce}};
    if (batch.result.counterexample) failure["counterexample"] = *batch.result.counterexample;
  }
  return {{"batch", batch.index},           {"seed", batch.seed},         {"size", batch.size},
          {"runs", batch.result.runs},      {"coverage", batch.coverage}, {"failure", failure},
          {"digests", batch.result.digests}};
}

Batch batch_from_json(const nlohmann::json& value) {
  Batch batch;
  batch.index = value.at("batch").get<std::uint64_t>();
  batch.seed = value.at("seed").get<std::uint64_t>();
  batch.size = value.at("size").get<int>();
  batch.result.runs = value.at("runs").get<int>();
  batch.coverage = value.at("coverage").get<explore::Coverage>();
  batch.result.digests = value.at("digests").get<std::vector<std::string>>();
  const nlohmann::json& failure = value.at("failure");
  if (!failure.is_null()) {
    batch.result.passed = false;
    batch.result.message = failure.at("message").get<std::string>();
    batch.result.reproduce = failure.at("reproduce").get<std::string>();
    if (failure.contains("counterexample")) batch.result.counterexample = failure.at("counterexample");
  }
  return batch;
}

// The batches a run takes, in order: shard I of N takes I, I+N, I+2N, ... until `runs` are planned.
std::vector<std::pair<std::uint64_t, int>> planned_batches(const Shard& shard, int runs) {
  std::vector<std::pair<std::uint64_t, int>> out;
  for (std::uint64_t batch = shard.index; runs > 0; batch += shard.count) {
    out.emplace_back(batch, std::min(batch_runs, runs));
    runs -= out.back().second;
  }
  return out;
}

// Runs the planned batches whose position k has k % jobs == job, stopping at the first failure
// or when the budget is spent.
std::vector<Batch> run_batches(const explore::Property& property, std::uint64_t seed,
                               const std::vector<std::pair<std::uint64_t, int>>& plan, std::size_t job,
                               std::size_t jobs, const std::function<bool()>& out_of_time) {
  std::vector<Batch> out;
  for (std::size_t k = job; k < plan.size(); k += jobs) {
    if (out_of_time()) break;
    Batch batch;
    batch.index = plan[k].first;
    batch.seed = seed + batch.index;
    batch.size = plan[k].second;
    batch.result = explore::explore(property, batch.seed, batch.size, batch.coverage);
    out.push_back(std::move(batch));
    if (!out.back().result.passed) break;
  }
  return out;
}

// `jobs` processes, each running its share of the plan; their batches, in plan order. A failed
// process's share is reported as an error.
std::optional<std::vector<Batch>> run_in_processes(const explore::Property& property, std::uint64_t seed,
                                                   const std::vector<std::pair<std::uint64_t, int>>& plan,
                                                   std::size_t jobs, const std::function<bool()>& out_of_time) {
  std::vector<std::pair<pid_t, int>> children;  // (pid, read end)
  std::fflush(stdout);
  for (std::size_t job = 0; job < jobs; ++job) {
    int pipe_ends[2];
    if (pipe(pipe_ends) != 0) return std::nullopt;
    const pid_t pid = fork();
    if (pid < 0) return std::nullopt;
    if (pid == 0) {
      close(pipe_ends[0]);
      nlohmann::json batches = nlohmann::json::array();
      for (const Batch& batch : run_batches(property, seed, plan, job, jobs, out_of_time))
        batches.push_back(to_json(batch));
      const std::string text = batches.dump();
      std::size_t written = 0;
      while (written < text.size()) {
        const ssize_t n = write(pipe_ends[1], text.data() + written, text.size() - written);
        if (n <= 0) _exit(3);
        written += static_cast<std::size_t>(n);
      }
      _exit(0);
    }
    close(pipe_ends[1]);
    children.emplace_back(pid, pipe_ends[0]);
  }
  std::vector<Batch> out;
  bool ok = true;
  for (const auto& [pid, fd] : children) {
    std::string text;
    char buffer[65536];
    for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ok = false;
      continue;
    }
    for (const nlohmann::json& value : nlohmann::json::parse(text)) out.push_back(batch_from_json(value));
  }
  if (!ok) return std::nullopt;
  std::sort(out.begin(), out.end(), [](const Batch& a, const Batch& b) { return a.index < b.index; });
  return out;
}

// What sequential batches come to: batches in order up to and including the first failure.
struct Outcome {
  int done = 0;
  explore::Coverage coverage;
  const Batch* failed = nullptr;
  double seconds = 0;  // wall time the property took; 0 when merged from results files
};

// What a JUnit report says of the exploration as a whole: how to run it again.
struct ExploreRun {
  std::uint64_t seed = 1;
  int runs = 0;
  std::string timestamp;  // UTC, when it started
};

Outcome combine(const std::vector<Batch>& batches) {
  Outcome outcome;
  for (const Batch& batch : batches) {
    outcome.done += batch.result.runs;
    for (const auto& [what, count] : batch.coverage) outcome.coverage[what] += count;
    if (!batch.result.passed) {
      outcome.done += 1;
      outcome.failed = &batch;
      break;
    }
  }
  return outcome;
}

// "property seed digest", a line for each world the batches ran, in order, up to the first
// failure: what `--digests` writes, to compare runs across builds, machines and shardings.
std::string digest_lines(const explore::Property& property, const std::vector<Batch>& batches) {
  std::string out;
  for (const Batch& batch : batches) {
    for (const std::string& digest : batch.result.digests)
      out += property.name + " " + std::to_string(batch.seed) + " " + digest + "\n";
    if (!batch.result.passed) break;
  }
  return out;
}

// Prints a property's outcome as a sequential run would; writes its counterexample. True: passed.
bool report(const explore::Property& property, const Outcome& outcome, const std::string& out, bool require_coverage) {
  if (const Batch* batch = outcome.failed) {
    std::printf("\nFAILED %s after %d scenarios: %s\n", property.name.c_str(), outcome.done,
                batch->result.message.c_str());
    if (batch->result.counterexample) {
      std::filesystem::create_directories(out);
      const std::string path = out + "/" + property.name + "-" + std::to_string(batch->seed) + ".json";
      std::ofstream file(path);
      file << batch->result.counterexample->dump(2) << "\n";
      std::printf("the shrunk scenario: %s\nreplay it:          relaysim run %s\n", path.c_str(), path.c_str());
    }
    if (!batch->result.reproduce.empty()) {
      std::printf("or through rapidcheck: RC_PARAMS=\"%s\" relaysim explore --property %s --seed %llu --runs %d\n",
                  batch->result.reproduce.c_str(), property.name.c_str(), static_cast<unsigned long long>(batch->seed),
                  batch->size);
    }
    return false;
  }
  std::printf("%s: passed %d scenarios; reached:\n", property.name.c_str(), outcome.done);
  for (const auto& [what, count] : outcome.coverage)
    std::printf("  %-32s %llu\n", what.c_str(), static_cast<unsigned long long>(count));
  const std::vector<std::string> short_of = explore::coverage_shortfalls(property, outcome.coverage, outcome.done);
  for (const std::string& line : short_of) std::printf("  SHORT of its minimum: %s\n", line.c_str());
  if (!short_of.empty() && require_coverage) {
    std::printf("FAILED %s: the generator did not reach what it is built to reach (docs/explore.md, \"Coverage\")\n",
                property.name.c_str());
    return false;
  }
  return true;
}

// One test case per property, in the form Jenkins, GitLab and GitHub reporters read: a class name
// without dots, times, and the seed and command that run it again (tests/cli/junit.xsd).
std::string junit_of(const std::vector<std::pair<const explore::Property*, Outcome>>& outcomes, const ExploreRun& run) {
  std::size_t failures = 0;
  double seconds = 0;
  std::string cases;
  char time[32];
  for (const auto& [property, outcome] : outcomes) {
    std::snprintf(time, sizeof time, "%.3f", outcome.seconds);
    seconds += outcome.seconds;
    cases += "    <testcase classname=\"relaysim-explore\" name=\"" + xml_escape(property->name) + "\" time=\"" + time +
             "\">";
    if (outcome.failed) {
      failures += 1;
      cases += "<failure type=\"counterexample\" message=\"" + xml_escape(outcome.failed->result.message) + "\">" +
               xml_escape(outcome.failed->result.message) + "</failure>";
    }
    cases += "<system-out>" + std::to_string(outcome.done) + " scenarios</system-out></testcase>\n";
  }
  std::snprintf(time, sizeof time, "%.3f", seconds);
  const std::string counts =
      "tests=\"" + std::to_string(outcomes.size()) + "\" failures=\"" + std::to_string(failures) + "\" errors=\"0\"";
  const std::string replay =
      "relaysim explore --seed " + std::to_string(run.seed) + " --runs " + std::to_string(run.runs);
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"relaysim explore\" " + counts + " time=\"" +
         time + "\">\n" + "  <testsuite name=\"relaysim explore\" " + counts + " time=\"" + time + "\" timestamp=\"" +
         run.timestamp + "\">\n" + "    <properties>\n      <property name=\"seed\" value=\"" +
         std::to_string(run.seed) + "\"/>\n" + "      <property name=\"runs\" value=\"" + std::to_string(run.runs) +
         "\"/>\n" + "      <property name=\"replay\" value=\"" + xml_escape(replay) + "\"/>\n    </properties>\n" +
         cases + "  </testsuite>\n</testsuites>\n";
}

// The JUnit XML and the digests, where asked for; false (with a message) when one cannot be written.
bool write_outputs(const std::string& junit, const std::string& junit_text, const std::string& digests,
                   const std::string& digest_text) {
  if (!junit.empty() && !write_file(junit, junit_text)) {
    std::fprintf(stderr, "relaysim explore: cannot write JUnit XML to '%s'\n", junit.c_str());
    return false;
  }
  if (!digests.empty() && !write_file(digests, digest_text)) {
    std::fprintf(stderr, "relaysim explore: cannot write digests to '%s'\n", digests.c_str());
    return false;
  }
  return true;
}

// `--merge DIR...`: the results files of shards or jobs, combined per property as one run of the
// same batches would have come out.
int merge_results(const std::vector<std::string>& directories, const std::string& out, const std::string& junit,
                  const std::string& digests, bool require_coverage) {
  std::map<std::string, std::vector<Batch>> by_property;
  ExploreRun run{.timestamp = utc_timestamp()};
  for (const std::string& directory : directories) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
      if (entry.path().extension() != ".json") continue;
      try {
        std::ifstream file(entry.path());
        const nlohmann::json results = nlohmann::json::parse(file);
        run.seed = results.at("seed").get<std::uint64_t>();
        run.runs = results.at("runs").get<int>();
        for (const nlohmann::json& batch : results.at("batches"))
          by_property[results.at("property").get<std::string>()].push_back(batch_from_json(batch));
      } catch (const std::exception& problem) {
        std::fprintf(stderr, "relaysim explore --merge: %s: not a results file: %s\n", entry.path().c_str(),
                     problem.what());
        return 2;
      }
    }
    if (error) {
      std::fprintf(stderr, "relaysim explore --merge: cannot read '%s': %s\n", directory.c_str(),
                   error.message().c_str());
      return 2;
    }
  }
  if (by_property.empty()) {
    std::fprintf(stderr, "relaysim explore --merge: no results files in the directories named\n");
    return 2;
  }
  std::vector<std::pair<const explore::Property*, Outcome>> outcomes;
  std::string digest_text;
  bool passed = true;
  for (auto& [name, batches] : by_property) {
    const explore::Property* property = explore::property_named(name);
    if (property == nullptr) {
      std::fprintf(stderr, "relaysim explore --merge: results for an unknown property '%s'\n", name.c_str());
      return 2;
    }
    std::sort(batches.begin(), batches.end(), [](const Batch& a, const Batch& b) { return a.index < b.index; });
    const auto repeated = std::adjacent_find(batches.begin(), batches.end(),
                                             [](const Batch& a, const Batch& b) { return a.index == b.index; });
    if (repeated != batches.end()) {
      std::fprintf(stderr, "relaysim explore --merge: batch %llu of %s appears twice (the same shard merged twice?)\n",
                   static_cast<unsigned long long>(repeated->index), name.c_str());
      return 2;
    }
    std::printf("%s: %zu batches merged\n", name.c_str(), batches.size());
    digest_text += digest_lines(*property, batches);
    outcomes.emplace_back(property, combine(batches));
    passed = report(*property, outcomes.back().second, out, require_coverage) && passed;
  }
  if (!write_outputs(junit, junit_of(outcomes, run), digests, digest_text)) return 2;
  return passed ? 0 : 1;
}

}  // namespace

cxxopts::Options explore_options() {
  cxxopts::Options parser(
      "relaysim explore",
      "Generate scenarios, check the properties on each, and shrink any failure to a scenario file that "
      "`relaysim run` replays.");
  parser.add_options()("runs", "generated scenarios per property (with --time-budget: at most)",
                       cxxopts::value<int>()->default_value("100"))(
      "seed", "the first seed", cxxopts::value<std::uint64_t>()->default_value("1"))(
      "time-budget", "stop after about this many seconds", cxxopts::value<double>())(
      "out", "where counterexamples go", cxxopts::value<std::string>()->default_value("counterexamples"))(
      "property", "check only this property", cxxopts::value<std::string>())(
      "shard", "I/N: take every N-th batch of seeds starting with the I-th, for parallel runs",
      cxxopts::value<std::string>())("require-coverage",
                                     "exit 1 when a coverage counter falls short of its minimum (docs/explore.md)")(
      "jobs", "run the batches in this many processes; the outcome is the same as one process's",
      cxxopts::value<std::size_t>()->default_value("1"))(
      "results", "write each property's batches (coverage, failures) as JSON into this directory, for --merge",
      cxxopts::value<std::string>())(
      "merge",
      "combine the results directories named after the options (shards' or jobs') into one report; runs nothing")(
      "directories", "results directories, for --merge", cxxopts::value<std::vector<std::string>>())(
      "junit", "write JUnit XML: one test case per property", cxxopts::value<std::string>())(
      "digests", "write the trace digest of every world run, a line each: property, batch seed, digest",
      cxxopts::value<std::string>())("list", "list the properties")("h,help", "show this help");
  parser.parse_positional({"directories"});
  parser.positional_help("[--merge DIR...]");
  return parser;
}

int explore_command(int argc, char** argv) {
  cxxopts::Options parser = explore_options();
  int runs = 0;
  std::uint64_t seed = 1;
  std::optional<double> budget;
  std::string out;
  std::vector<const explore::Property*> chosen;
  Shard shard;
  bool require_coverage = false;
  std::size_t jobs = 1;
  std::string results;
  std::vector<std::string> merge;
  std::string junit;
  std::string digests;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (parsed.count("list")) {
      for (const explore::Property& property : explore::properties())
        std::printf("%-26s %s\n", property.name.c_str(), property.description.c_str());
      std::printf("%-26s %s\n", explore::canary().name.c_str(), explore::canary().description.c_str());
      return 0;
    }
    require_coverage = parsed.count("require-coverage") > 0;
    jobs = parsed["jobs"].as<std::size_t>();
    if (jobs < 1 || jobs > 256) throw cxxopts::exceptions::exception("--jobs takes 1 to 256");
    if (parsed.count("results")) results = parsed["results"].as<std::string>();
    if (parsed.count("directories")) merge = parsed["directories"].as<std::vector<std::string>>();
    if (parsed.count("merge") && merge.empty())
      throw cxxopts::exceptions::exception("--merge takes the results directories to combine");
    if (!parsed.count("merge") && !merge.empty())
      throw cxxopts::exceptions::exception("directories are named only with --merge");
    if (parsed.count("junit")) junit = parsed["junit"].as<std::string>();
    if (parsed.count("digests")) digests = parsed["digests"].as<std::string>();
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
    return option_error("explore", error, argc, argv);
  }

  for (const auto& [option, path] : {std::pair{"--junit", junit}, std::pair{"--digests", digests}}) {
    if (path.empty()) continue;
    if (const std::string problem = output_problem(path); !problem.empty()) {
      std::fprintf(stderr, "relaysim explore: %s %s: cannot write there: %s\n", option, path.c_str(), problem.c_str());
      return 2;
    }
  }
  if (!merge.empty()) return merge_results(merge, out, junit, digests, require_coverage);
  const auto started = std::chrono::steady_clock::now();  // the budget is wall time, outside any world
  const std::string started_at = utc_timestamp();
  const int total = runs * static_cast<int>(chosen.size());
  int done_total = 0;
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  const std::function<bool()> out_of_time = [&] { return budget && elapsed() > *budget; };
  std::vector<std::pair<const explore::Property*, Outcome>> outcomes;
  std::vector<std::vector<Batch>> kept;  // the batches each outcome points into
  kept.reserve(chosen.size());
  std::string digest_text;
  bool passed = true;
  for (const explore::Property* property : chosen) {
    const double property_started = elapsed();
    const auto plan = planned_batches(shard, runs);
    std::vector<Batch> batches;
    if (jobs > 1) {
      auto ran = run_in_processes(*property, seed, plan, jobs, out_of_time);
      if (!ran) {
        std::fprintf(stderr, "relaysim explore: a job process failed\n");
        return 2;
      }
      batches = std::move(*ran);
    }
    // One process: one batch at a time, printing as it goes; jobs: their batches in order.
    int done = 0;
    for (std::size_t k = 0; k < (jobs > 1 ? batches.size() : plan.size()); ++k) {
      if (jobs == 1) {
        std::vector<Batch> one = run_batches(*property, seed, {plan[k]}, 0, 1, out_of_time);
        if (one.empty()) break;
        batches.push_back(std::move(one.front()));
      }
      const Batch& batch = batches[k];
      done += batch.result.runs;
      done_total += batch.result.runs;
      // Progress: this property's count, the whole exploration's, and a guess at what is left.
      const double seconds = elapsed();
      const double left = done_total > 0 ? seconds / done_total * std::max(0, total - done_total) : 0;
      std::printf("%s: %d of %d scenarios checked (seed %llu), %.1f s; all properties: %d of %d, about %.0f s left\n",
                  property->name.c_str(), done, runs, static_cast<unsigned long long>(batch.seed), seconds, done_total,
                  total, budget ? std::min(left, std::max(0.0, *budget - seconds)) : left);
      std::fflush(stdout);
      if (!batch.result.passed) break;
    }
    if (!results.empty()) {
      std::filesystem::create_directories(results);
      nlohmann::json file = {{"property", property->name},
                             {"seed", seed},
                             {"runs", runs},
                             {"shard", std::to_string(shard.index) + "/" + std::to_string(shard.count)},
                             {"batches", nlohmann::json::array()}};
      for (const Batch& batch : batches) file["batches"].push_back(to_json(batch));
      const std::string path = results + "/" + property->name + ".shard-" + std::to_string(shard.index) + "-of-" +
                               std::to_string(shard.count) + ".json";
      if (!write_file(path, file.dump() + "\n")) {
        std::fprintf(stderr, "relaysim explore: cannot write '%s'\n", path.c_str());
        return 2;
      }
    }
    digest_text += digest_lines(*property, batches);
    kept.push_back(std::move(batches));
    outcomes.emplace_back(property, combine(kept.back()));
    outcomes.back().second.seconds = elapsed() - property_started;
    passed = report(*property, outcomes.back().second, out, require_coverage) && passed;
    if (!passed) break;
  }
  if (!write_outputs(junit, junit_of(outcomes, {.seed = seed, .runs = runs, .timestamp = started_at}), digests,
                     digest_text))
    return 2;
  return passed ? 0 : 1;
}

}  // namespace relaysim::cli
