// `relaysim run FILE...`: load each world, run it in virtual time, print the timeline, the state
// of every node and the digest.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/reports.hpp"
#include "cli/trace_sinks.hpp"
#include "io/text.hpp"
#include "scenario/verdicts.hpp"
#include "scenario/world_file.hpp"

namespace relaysim::cli {
namespace {

struct RunOptions {
  std::optional<std::uint64_t> seed;
  std::string trace_path;
  std::string junit_path;
  std::string report_path;
  bool quiet = false;
  bool json = false;
  bool json_lines = false;  // --format jsonl: each file's object on a line of its own
  bool colour = false;
  bool timeline = false;           // the whole timeline even into a pipe
  std::optional<double> progress;  // seconds between lines on stderr about how far a long run is
  bool summary = false;            // text without the timeline, the email log as counts, only failed verdicts in full
  bool label_digests = false;      // several files: "FILE: digest: ..." so each line says whose it is
  bool dialogue = false;           // every SMTP command and reply traced (World::trace_smtp_dialogue)
};

constexpr std::size_t email_log_lines_max = 40;

// What a Salesforce admin would look at after the run: the counters, the email log, the contacts
// marked as bounced.
void print_org(const std::string& name, const salesforce::OrgState& org, Instant start, bool summary) {
  const salesforce::OrgCounters& counters = org.counters;
  std::printf(
      "\nSalesforce org %s: %s (%llu refused at the source), %s delivered, %llu failed, %llu given up, %s received\n",
      name.c_str(), counted(counters.sends, "send").c_str(), static_cast<unsigned long long>(counters.refused),
      counted(counters.delivered, "recipient").c_str(), static_cast<unsigned long long>(counters.failed),
      static_cast<unsigned long long>(counters.given_up), counted(counters.bounces, "bounce").c_str());
  if (summary) {
    std::map<std::string, std::size_t> by_event;
    for (const salesforce::LogEntry& entry : org.log) by_event[std::string(to_string(entry.event))] += 1;
    std::string counts;
    for (const auto& [event, count] : by_event)
      counts += (counts.empty() ? "" : ", ") + std::to_string(count) + " " + event;
    std::printf("  email log: %zu rows%s%s\n", org.log.size(), counts.empty() ? "" : ": ", counts.c_str());
  } else {
    std::printf("  email log:\n");
  }
  for (std::size_t i = 0; !summary && i < org.log.size() && i < email_log_lines_max; ++i) {
    const salesforce::LogEntry& entry = org.log[i];
    std::printf("    %s  %-13s %-24s %-18s %-10s %s\n", offset_and_clock(entry.at, start, true).c_str(),
                entry.email.c_str(), entry.recipient.c_str(), std::string(to_string(entry.event)).c_str(),
                entry.path.c_str(), entry.detail.c_str());
  }
  if (!summary && org.log.size() > email_log_lines_max) {
    std::printf("    ... %zu more entries (the salesforce.log events of the trace)\n",
                org.log.size() - email_log_lines_max);
  }
  for (const auto& [address, contact] : org.bounced_contacts) {
    std::printf("  bounced contact: %s (%s, email %s)\n", contact.contact.c_str(),
                contact.status.empty() ? "no status" : contact.status.c_str(), contact.email.c_str());
  }
}

nlohmann::json org_report(const salesforce::OrgState& org) {
  nlohmann::json bounced = nlohmann::json::array();
  for (const auto& [address, contact] : org.bounced_contacts) {
    bounced.push_back({{"contact", contact.contact}, {"status", contact.status}, {"email", contact.email}});
  }
  nlohmann::json log = nlohmann::json::array();
  for (const salesforce::LogEntry& entry : org.log) {
    log.push_back({{"at", format_iso8601(entry.at)},
                   {"email", entry.email},
                   {"to", entry.recipient},
                   {"event", salesforce::to_string(entry.event)},
                   {"path", entry.path},
                   {"server", entry.server},
                   {"attempt", entry.attempt},
                   {"tls", entry.tls},
                   {"tls_verified", entry.tls_verified},
                   {"status", entry.status},
                   {"detail", entry.detail}});
  }
  const salesforce::OrgCounters& counters = org.counters;
  return {{"sends", counters.sends},         {"refused", counters.refused},
          {"delivered", counters.delivered}, {"failed", counters.failed},
          {"given_up", counters.given_up},   {"bounces", counters.bounces},
          {"bounced_contacts", bounced},     {"email_log", log}};
}

nlohmann::json nodes_json(const sim::World& world) {
  nlohmann::json out = nlohmann::json::array();
  for (const sim::World::NodeState& state : world.node_states()) {
    out.push_back({{"name", state.name}, {"running", state.running}, {"status", state.status}});
  }
  return out;
}

// Every outcome the relays settled, in order: the recipient's journey as the relay saw it.
nlohmann::json relay_outcomes_json(const scenario::RunObserver& observer) {
  nlohmann::json out = nlohmann::json::array();
  for (const scenario::RunObserver::RelayOutcome& outcome : observer.outcomes) {
    out.push_back({{"at", format_iso8601(outcome.at)},
                   {"node", outcome.node},
                   {"queue_id", outcome.id},
                   {"to", outcome.rcpt},
                   {"outcome", smtp::to_string(outcome.outcome)},
                   {"state", relay::to_string(outcome.state)},
                   {"status", outcome.status},
                   {"relay", outcome.relay},
                   {"tls", outcome.tls},
                   {"tls_verified", outcome.tls_verified},
                   {"reason", outcome.reason}});
  }
  return out;
}

// Each recipient of each message a relay accepted, with its journey: what selects it (sender,
// subject, Message-ID), every attempt (hop) with its TLS facts, the final outcome, and the
// notices (DSNs) the relay queued about it.
nlohmann::json recipients_json(const scenario::RunObserver& observer) {
  using Key = std::tuple<std::string_view, std::string_view, std::string_view>;  // relay node, queue id, recipient
  std::map<Key, std::vector<const scenario::RunObserver::RelayOutcome*>> outcomes;
  for (const auto& outcome : observer.outcomes) outcomes[{outcome.node, outcome.id, outcome.rcpt}].push_back(&outcome);
  std::map<Key, std::vector<const scenario::RunObserver::RelayDsn*>> notices;
  for (const auto& dsn : observer.dsns) {
    for (const std::string& rcpt : dsn.about) notices[{dsn.node, dsn.id, rcpt}].push_back(&dsn);
  }
  nlohmann::json out = nlohmann::json::array();
  for (const scenario::RunObserver::StoredAtRelay& stored : observer.stored) {
    for (const std::string& rcpt : stored.to) {
      const Key key{stored.node, stored.id, rcpt};
      nlohmann::json hops = nlohmann::json::array();
      const scenario::RunObserver::RelayOutcome* last = nullptr;
      int attempts = 0;
      for (const auto* outcome : outcomes[key]) {
        last = outcome;
        if (!outcome->attempted) continue;
        attempts += 1;
        hops.push_back({{"at", format_iso8601(outcome->at)},
                        {"outcome", smtp::to_string(outcome->outcome)},
                        {"status", outcome->status},
                        {"relay", outcome->relay},
                        {"tls", outcome->tls},
                        {"tls_verified", outcome->tls_verified},
                        {"reason", outcome->reason}});
      }
      nlohmann::json dsns = nlohmann::json::array();
      for (const auto* dsn : notices[key]) {
        dsns.push_back({{"at", format_iso8601(dsn->at)},
                        {"action", smtp::to_string(dsn->action)},
                        {"to", dsn->to},
                        {"queue_id", dsn->dsn}});
      }
      out.push_back({{"node", stored.node},
                     {"queue_id", stored.id},
                     {"accepted_at", format_iso8601(stored.at)},
                     {"from", stored.from},
                     {"to", rcpt},
                     {"subject", stored.subject},
                     {"message_id", stored.message_id},
                     {"notice", stored.client.empty()},
                     {"state", last ? relay::to_string(last->state) : "queued"},
                     {"status", last ? last->status : ""},
                     {"attempts", attempts},
                     {"hops", std::move(hops)},
                     {"dsn", std::move(dsns)}});
    }
  }
  return out;
}

void print_verdicts(const char* title, const std::vector<scenario::Verdict>& verdicts, bool colour, bool summary) {
  if (verdicts.empty()) return;
  if (summary) {
    const auto passed = std::count_if(verdicts.begin(), verdicts.end(),
                                      [](const scenario::Verdict& verdict) { return verdict.passed; });
    std::printf("\n%s: %zu of %zu passed\n", title, static_cast<std::size_t>(passed), verdicts.size());
  } else {
    std::printf("\n%s:\n", title);
  }
  for (const scenario::Verdict& verdict : verdicts) {
    if (summary && verdict.passed) continue;  // the failures, with their evidence
    const char* mark =
        verdict.passed ? (colour ? "\033[32mok\033[0m  " : "ok  ") : (colour ? "\033[31mFAIL\033[0m" : "FAIL");
    std::printf("  %s %s", mark, verdict.name.c_str());
    if (!verdict.passed) std::printf("\n       %s", verdict.message.c_str());
    std::printf("\n");
  }
}

nlohmann::json verdicts_json(const std::vector<scenario::Verdict>& verdicts) {
  nlohmann::json out = nlohmann::json::array();
  for (const scenario::Verdict& verdict : verdicts) {
    nlohmann::json entry = {{"name", verdict.name}, {"passed", verdict.passed}, {"message", verdict.message}};
    if (verdict.at) entry["at"] = format_iso8601(*verdict.at);
    out.push_back(std::move(entry));
  }
  return out;
}

nlohmann::json stats_json(const scenario::RunStats& stats) {
  nlohmann::json out = nlohmann::json::object();
  for (const scenario::NamedStat& stat : scenario::run_stat_names) out[stat.name] = stats.*stat.value;
  return out;
}

// A run's timeline into a pipe (a CI log, a file) is held up to this many lines; a longer one
// gives way to the summary, unless --timeline asks for it.
constexpr std::size_t piped_timeline_lines_max = 5000;

// Runs the world to `loaded.until` in slices of virtual time, so that a long run can say how
// far it is: a line on stderr every `progress` seconds. A slice starts at one second of virtual
// time and doubles while slices take under a tenth of a second, so a quiet stretch of days costs
// few stops and a busy minute many. Slicing changes nothing in the run: the event loop stops
// between two events and carries on from there (tests/cli/outputs compares digests).
sim::World::RunOutcome run_with_progress(const std::string& path, scenario::LoadedWorld& loaded,
                                         std::optional<double> progress) {
  sim::World& world = *loaded.world;
  if (!progress) return world.run_until(loaded.until);
  const Duration span = loaded.until - loaded.start;
  const auto wall_start = std::chrono::steady_clock::now();
  auto last_line = wall_start;
  Duration slice = std::chrono::seconds(1);
  Instant limit = loaded.start;
  while (limit < loaded.until) {
    limit = loaded.until - limit > slice ? limit + slice : loaded.until;
    const auto slice_start = std::chrono::steady_clock::now();
    if (world.run_until(limit) == sim::World::RunOutcome::quiescent) return sim::World::RunOutcome::quiescent;
    const auto now = std::chrono::steady_clock::now();
    if (now - slice_start < std::chrono::milliseconds(100)) slice = slice * 2;
    if (std::chrono::duration<double>(now - last_line).count() < *progress || limit == loaded.until) continue;
    last_line = now;
    const double seconds = std::chrono::duration<double>(now - wall_start).count();
    const double done = static_cast<double>((limit - loaded.start).count()) / static_cast<double>(span.count());
    // What is left is a guess from the pace so far, and an upper bound: the world may go quiet sooner.
    const std::string left =
        done >= 0.01 ? ", at most about " + std::to_string(static_cast<long long>(seconds / done - seconds)) + " s left"
                     : "";
    std::fprintf(stderr, "relaysim run: %s: virtual +%s of at most +%s (%.0f%%), %.1f s so far%s\n", path.c_str(),
                 format_duration(limit - loaded.start).c_str(), format_duration(span).c_str(), done * 100, seconds,
                 left.c_str());
  }
  return sim::World::RunOutcome::reached_limit;
}

// `report_path`: where this file's HTML report goes, or empty.
RanFile run_one(const std::string& path, const RunOptions& options, const std::string& report_path) {
  RanFile ran;
  ran.file = path;
  // Wall time is only reported (JUnit's time and timestamp); nothing in the world sees it.
  const auto wall_start = std::chrono::steady_clock::now();
  ran.started = utc_timestamp();
  scenario::LoadedWorld loaded;
  try {
    loaded = scenario::load_world_file(path, options.seed);
  } catch (const scenario::InputError& error) {
    print_mistakes("relaysim: " + path, error);
    ran.mistakes = scenario::describe_mistakes(error);
    ran.status = 2;
    if (options.json) ran.json = {{"file", path}, {"passed", false}, {"mistakes", ran.mistakes}};
    return ran;
  }
  ran.seed = loaded.seed;
  print_warnings("relaysim: " + path, loaded);
  sim::World& world = *loaded.world;

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> trace_file(nullptr, std::fclose);
  std::unique_ptr<JsonLinesSink> jsonl;
  if (!options.trace_path.empty()) {
    if (options.trace_path == "-") {
      jsonl = std::make_unique<JsonLinesSink>(stdout);
    } else {
      trace_file.reset(std::fopen(options.trace_path.c_str(), "wb"));
      if (!trace_file) {
        std::fprintf(stderr, "relaysim: cannot write trace to '%s'\n", options.trace_path.c_str());
        ran.status = 2;
        return ran;
      }
      jsonl = std::make_unique<JsonLinesSink>(trace_file.get());
    }
    world.add_trace_sink(*jsonl);
  }
  const bool text = !options.quiet && !options.json && options.trace_path != "-";
  // On a terminal the timeline streams; into a pipe it is held, and gives way to the summary
  // when it grows past what anyone reads in a log.
  const bool hold_timeline = !options.timeline && isatty(STDOUT_FILENO) == 0;
  TimelineSink timeline(stdout, loaded.start, options.colour, hold_timeline ? piped_timeline_lines_max : 0);
  if (text) {
    std::printf("%s (seed %llu, start %s)\n", loaded.name.c_str(), static_cast<unsigned long long>(loaded.seed),
                format_iso8601(loaded.start).c_str());
    if (!loaded.description.empty()) std::printf("%s\n", loaded.description.c_str());
    std::printf("\n");
    if (!options.summary) world.add_trace_sink(timeline);
  }

  scenario::RunObserver observer;
  world.add_trace_sink(observer);
  world.trace_smtp_dialogue(options.dialogue);
  ran.dialogue = options.dialogue;
  world.start();
  const auto outcome = run_with_progress(path, loaded, options.progress);
  const bool quiescent = outcome == sim::World::RunOutcome::quiescent;
  const char* ended = quiescent ? "quiescent" : "reached the end of the run";
  const Duration elapsed = world.now() - loaded.start;
  const scenario::RunResult result = scenario::check_run(loaded, observer, quiescent);
  ran.name = loaded.name;
  ran.file = path;
  ran.result = result;
  ran.status = result.passed() ? 0 : 1;
  ran.digest = world.digest();
  ran.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (!report_path.empty()) {
    const std::string html = html_report(loaded, observer, result, world.digest());
    ran.report = report_path;
    if (!write_file(report_path, html)) {
      std::fprintf(stderr, "relaysim: cannot write the report to '%s'\n", report_path.c_str());
      ran.status = 2;
    }
  }

  if (options.json) {
    // docs/result.schema.json describes this object; "schema" changes when a key changes meaning.
    nlohmann::json report = {
        {"schema", 2},
        {"name", loaded.name},
        {"file", path},
        {"passed", result.passed()},
        {"seed", loaded.seed},
        {"digest", world.digest()},
        {"start", format_iso8601(loaded.start)},
        {"ended", quiescent ? "quiescent" : "until"},
        {"ended_at", format_iso8601(world.now())},
        {"virtual_time_ms", std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()},
        {"recipients", recipients_json(observer)},
        {"relay_outcomes", relay_outcomes_json(observer)},
        {"events", world.events_executed()},
        {"trace_events", world.trace_events()},
        {"expectations", verdicts_json(result.expectations)},
        {"invariants", verdicts_json(result.invariants)},
        {"stats", stats_json(result.stats)},
        {"nodes", nodes_json(world)}};
    for (const auto& [name, org] : loaded.orgs) report["salesforce"][name] = org_report(*org);
    ran.json = std::move(report);
  } else if (text) {
    bool summary = options.summary;
    if (!summary && timeline.overflowed()) {
      std::printf(
          "timeline: %zu lines, more than %zu for a pipe: the summary follows (--timeline prints it all, --trace FILE "
          "keeps every event)\n",
          timeline.lines(), piped_timeline_lines_max);
      summary = true;
    }
    timeline.flush();
    std::printf("\n");
    for (const std::string& line : world.status_lines()) std::printf("  %s\n", line.c_str());
    for (const auto& [name, org] : loaded.orgs) print_org(name, *org, loaded.start, summary);
    print_verdicts("expectations", result.expectations, options.colour, summary);
    print_verdicts("invariants", result.invariants, options.colour, summary);
    const scenario::RunStats& stats = result.stats;
    std::string line;
    for (const scenario::NamedStat& stat : scenario::run_stat_names) {
      line += (line.empty() ? "" : ", ") + std::to_string(stats.*stat.value) + " " + std::string(stat.name);
    }
    std::printf("\nstats: %s\n", line.c_str());
    std::printf("%s after %s of virtual time: %llu events, %llu trace events\n", ended,
                format_duration(elapsed).c_str(), static_cast<unsigned long long>(world.events_executed()),
                static_cast<unsigned long long>(world.trace_events()));
    std::printf("%s\n", result.passed() ? "PASSED" : "FAILED");
    std::printf("digest: %s\n", world.digest().c_str());
  } else if (options.trace_path != "-") {
    for (const scenario::Verdict& verdict : result.expectations) {
      if (!verdict.passed)
        std::fprintf(stderr, "%s: expectation failed: %s: %s\n", path.c_str(), verdict.name.c_str(),
                     verdict.message.c_str());
    }
    for (const scenario::Verdict& verdict : result.invariants) {
      if (!verdict.passed)
        std::fprintf(stderr, "%s: invariant broken: %s: %s\n", path.c_str(), verdict.name.c_str(),
                     verdict.message.c_str());
    }
    if (options.label_digests) std::printf("%s: ", path.c_str());
    std::printf("digest: %s\n", world.digest().c_str());
  }
  return ran;
}

}  // namespace

cxxopts::Options run_options() {
  cxxopts::Options parser("relaysim run", "Run worlds in virtual time and print what happened.");
  parser.add_options()("seed", "override the file's seed", cxxopts::value<std::uint64_t>())(
      "trace", "write the trace as JSON Lines to this file ('-' for standard output)", cxxopts::value<std::string>())(
      "junit", "write JUnit XML to this file: one test case per expectation and invariant",
      cxxopts::value<std::string>())("report",
                                     "write a self-contained HTML report to this file; with several files, a page each "
                                     "and an index into this directory",
                                     cxxopts::value<std::string>())(
      "format",
      "text, json (one object; an array of them for several files) or jsonl (an object per line, a line per file)",
      cxxopts::value<std::string>()->default_value("text"))(
      "summary", "text without the timeline: nodes, email log counts, failed verdicts with their evidence, stats")(
      "timeline", "print the whole timeline even into a pipe (by default a pipe gets the summary past 5000 lines)")(
      "color", "colour the text: auto (a terminal, and NO_COLOR unset), always or never",
      cxxopts::value<std::string>()->default_value("auto"))(
      "progress",
      "say on stderr how far a long run is, every SECONDS (5 when not given; the default when stderr is a terminal)",
      cxxopts::value<double>()->implicit_value("5"), "SECONDS")(
      "dialogue",
      "trace every SMTP command and reply, at both ends of each session (the report shows each session's dialogue; the "
      "digest "
      "changes with it)")("quiet", "print only the digest (\"FILE: digest: ...\" for each of several files)")(
      "h,help", "show this help")("files", "world files", cxxopts::value<std::vector<std::string>>());
  parser.parse_positional({"files"});
  parser.positional_help("FILE...");
  return parser;
}

int run_command(int argc, char** argv) {
  cxxopts::Options parser = run_options();
  RunOptions options;
  std::vector<std::string> files;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (parsed.count("seed")) options.seed = parsed["seed"].as<std::uint64_t>();
    if (parsed.count("trace")) options.trace_path = parsed["trace"].as<std::string>();
    if (parsed.count("junit")) options.junit_path = parsed["junit"].as<std::string>();
    if (parsed.count("report")) options.report_path = parsed["report"].as<std::string>();
    options.quiet = parsed.count("quiet") > 0;
    options.dialogue = parsed.count("dialogue") > 0;
    options.summary = parsed.count("summary") > 0;
    options.timeline = parsed.count("timeline") > 0;
    if (options.summary && options.timeline)
      throw cxxopts::exceptions::exception("--summary and --timeline contradict each other");
    options.colour = colour_wanted(parsed["color"].as<std::string>());
    if (parsed.count("progress")) {
      options.progress = parsed["progress"].as<double>();
      if (*options.progress < 0) throw cxxopts::exceptions::exception("--progress: seconds cannot be negative");
    } else if (isatty(STDERR_FILENO) != 0) {
      options.progress = 5.0;
    }
    const std::string format = parsed["format"].as<std::string>();
    if (format != "text" && format != "json" && format != "jsonl") {
      throw cxxopts::exceptions::exception("--format: '" + format + "' is not text, json or jsonl");
    }
    options.json = format != "text";
    options.json_lines = format == "jsonl";
    if (parsed.count("files")) files = parsed["files"].as<std::vector<std::string>>();
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("run", error, argc, argv);
  }
  if (files.empty()) {
    std::fprintf(stderr, "relaysim run: name at least one file\n%s\n", parser.help().c_str());
    return 2;
  }
  if (files.size() > 1 && !options.trace_path.empty()) {
    std::fprintf(stderr, "relaysim run: --trace takes one file at a time\n");
    return 2;
  }
  // --report: a file for one scenario; a directory (named with a trailing '/', or already one)
  // for several - a page each, and an index.
  const bool report_directory =
      !options.report_path.empty() &&
      (files.size() > 1 || options.report_path.ends_with('/') || std::filesystem::is_directory(options.report_path));
  const std::string report_index =
      report_directory ? (std::filesystem::path(options.report_path) / "index.html").string() : "";
  std::vector<std::string> report_paths(files.size(), report_directory ? std::string() : options.report_path);
  if (report_directory) {
    std::error_code error;
    std::filesystem::create_directories(options.report_path, error);
    if (error) {
      std::fprintf(stderr, "relaysim run: --report %s: cannot make the directory: %s\n", options.report_path.c_str(),
                   error.message().c_str());
      return 2;
    }
    std::set<std::string> taken{"index"};
    for (std::size_t i = 0; i < files.size(); ++i) {
      std::string stem = std::filesystem::path(files[i]).stem().string();
      for (int n = 2; taken.contains(stem); ++n)
        stem = std::filesystem::path(files[i]).stem().string() + "-" + std::to_string(n);
      taken.insert(stem);
      report_paths[i] = (std::filesystem::path(options.report_path) / (stem + ".html")).string();
    }
  }
  for (const auto& [option, path] : {std::pair{"--trace", options.trace_path}, std::pair{"--junit", options.junit_path},
                                     std::pair{"--report", report_directory ? report_index : options.report_path}}) {
    if (path.empty()) continue;
    if (const std::string problem = output_problem(path); !problem.empty()) {
      std::fprintf(stderr, "relaysim run: %s %s: cannot write there: %s\n", option, path.c_str(), problem.c_str());
      return 2;
    }
  }
  options.label_digests = files.size() > 1;
  int worst = 0;
  std::vector<RanFile> ran;
  for (std::size_t i = 0; i < files.size(); ++i) {
    ran.push_back(run_one(files[i], options, report_paths[i]));
    worst = std::max(worst, ran.back().status);
  }
  if (report_directory) {
    if (!write_file(report_index, html_index(ran))) {
      std::fprintf(stderr, "relaysim run: cannot write the report index to '%s'\n", report_index.c_str());
      return 2;
    }
  }
  if (options.json_lines) {
    for (const RanFile& file : ran) std::printf("%s\n", file.json.dump().c_str());
  } else if (options.json) {
    // One file: its object. Several: one array, in the order given - a single JSON document.
    nlohmann::json out = nlohmann::json::array();
    for (RanFile& file : ran) out.push_back(std::move(file.json));
    std::printf("%s\n", (ran.size() == 1 ? out.front() : out).dump(2).c_str());
  }
  if (!options.junit_path.empty() && !write_file(options.junit_path, junit_xml(ran))) {
    std::fprintf(stderr, "relaysim run: cannot write JUnit XML to '%s'\n", options.junit_path.c_str());
    return 2;
  }
  return worst;
}

}  // namespace relaysim::cli
