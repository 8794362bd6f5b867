#pragma once
// The files `relaysim run` writes besides its output: JUnit XML for CI systems (one test case per
// expectation and invariant, cli/reports.cpp) and a self-contained HTML report (cli/html_report.cpp).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "scenario/verdicts.hpp"
#include "scenario/world_file.hpp"

namespace relaysim::cli {

struct RanFile {
  std::string file;
  std::string name;  // the scenario's name
  int status = 0;    // 0 passed, 1 a check failed, 2 bad input
  scenario::RunResult result;
  std::vector<std::string> mistakes;  // bad input: each mistake, with its JSON path
  std::uint64_t seed = 0;
  std::string digest;
  std::string started;    // wall clock, UTC, "2026-12-06T15:30:08": when the run began
  double seconds = 0;     // wall time of the run, for reports
  std::string report;     // the HTML report written for it, if any
  bool dialogue = false;  // run with --dialogue, which its digest depends on
  nlohmann::json json;    // --format json: this file's result, printed once every file has run
};

bool write_file(const std::string& path, const std::string& content);
// Why a file cannot be written at `path` ("no directory /x", "is a directory", "Permission
// denied"), or "" when it can: checked before a run, so that an hour's run does not end in
// "cannot write". "-" (standard output) is always writable.
std::string output_problem(const std::string& path);

// "+00:01:00.394 09:01:00": the offset from `start` and the UTC time of day; with `date`,
// "+00:01:00.394 2026-03-02 09:01:00".
std::string offset_and_clock(Instant at, Instant start, bool date = false);

// The wall-clock time now, in UTC, as JUnit's timestamp takes it: "2026-12-06T18:03:09".
std::string utc_timestamp();

// Text for XML and HTML: the five special characters escaped, control characters dropped.
std::string xml_escape(std::string_view text);

// A file's mistakes on standard error, one line each ("FILE: PATH: expected ..., found ..."), and
// its warnings ("FILE: warning: PATH: ...").
void print_mistakes(const std::string& file, const scenario::InputError& error);
void print_warnings(const std::string& file, const scenario::LoadedWorld& loaded);
std::string junit_xml(const std::vector<RanFile>& files);
// The index of a directory of reports: each scenario with its verdict, counts and a link to its page.
std::string html_index(const std::vector<RanFile>& files);
std::string html_report(const scenario::LoadedWorld& loaded, const scenario::RunObserver& observer,
                        const scenario::RunResult& result, const std::string& digest);

}  // namespace relaysim::cli
