#include "cli/reports.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace relaysim::cli {

std::string offset_and_clock(Instant at, Instant start, bool date) {
  const std::int64_t ms = (at - start).count() / 1000;
  char text[32];
  std::snprintf(text, sizeof text, "+%02lld:%02lld:%02lld.%03lld", static_cast<long long>(ms / 3'600'000),
                static_cast<long long>(ms / 60'000 % 60), static_cast<long long>(ms / 1000 % 60),
                static_cast<long long>(ms % 1000));
  const std::string clock = format_iso8601(at);
  return std::string(text) + " " + (date ? clock.substr(0, 10) + " " : std::string()) + clock.substr(11, 8);
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", std::gmtime(&now));
  return stamp;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') out += c;
    }
  }
  return out;
}

std::string output_problem(const std::string& path) {
  if (path == "-") return "";
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path file(path);
  const fs::path directory = file.has_parent_path() ? file.parent_path() : fs::path(".");
  if (!fs::is_directory(directory, error)) return "no directory " + directory.string();
  if (fs::is_directory(file, error)) return path + " is a directory";
  const bool exists = fs::exists(file, error);
  if (::access(exists ? file.c_str() : directory.c_str(), W_OK) != 0) return std::strerror(errno);
  return "";
}

bool write_file(const std::string& path, const std::string& content) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << content;
  return static_cast<bool>(file);
}

void print_mistakes(const std::string& file, const scenario::InputError& error) {
  for (const std::string& line : scenario::describe_mistakes(error))
    std::fprintf(stderr, "%s: %s\n", file.c_str(), line.c_str());
}

void print_warnings(const std::string& file, const scenario::LoadedWorld& loaded) {
  for (const scenario::LoadWarning& warning : loaded.warnings) {
    std::fprintf(stderr, "%s: warning: %s: %s\n", file.c_str(), warning.path.c_str(), warning.message.c_str());
  }
}

namespace {

// A class name JUnit readers keep whole: the path relative to the working directory (as given when
// it lies elsewhere), without ".json", and with no dots, which Jenkins takes for packages.
std::string junit_classname(const std::string& file) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path path = fs::absolute(file, error).lexically_relative(fs::current_path(error));
  if (path.empty() || *path.begin() == "..") path = fs::path(file);
  if (path.extension() == ".json") path.replace_extension();
  std::string name = path.generic_string();
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

}  // namespace

std::string junit_xml(const std::vector<RanFile>& files) {
  std::size_t tests = 0;
  std::size_t failures = 0;
  std::size_t errors = 0;
  std::string suites;
  for (const RanFile& ran : files) {
    std::string cases;
    std::size_t suite_tests = 0;
    std::size_t suite_failures = 0;
    std::size_t suite_errors = 0;
    const std::string classname = xml_escape(junit_classname(ran.file));
    if (ran.status == 2 && ran.result.expectations.empty() && ran.result.invariants.empty()) {
      // Bad input: the mistakes themselves, each with its JSON path, as the command printed them.
      std::string text;
      for (const std::string& mistake : ran.mistakes) text += (text.empty() ? "" : "\n") + mistake;
      const std::string first = ran.mistakes.empty() ? std::string("bad input") : ran.mistakes.front();
      suite_tests = 1;
      suite_errors = 1;
      cases = "    <testcase classname=\"" + classname +
              "\" name=\"load\" time=\"0\"><error type=\"input\" message=\"" + xml_escape(first) + "\">" +
              xml_escape(text) + "</error></testcase>\n";
    }
    for (const auto* list : {&ran.result.expectations, &ran.result.invariants}) {
      const std::string kind = list == &ran.result.expectations ? "expectation" : "invariant";
      for (const scenario::Verdict& verdict : *list) {
        suite_tests += 1;
        cases += "    <testcase classname=\"" + classname + "\" name=\"" + xml_escape(kind + ": " + verdict.name) +
                 "\" time=\"0\">";
        if (!verdict.passed) {
          suite_failures += 1;
          // The body adds the instant it went wrong, for a reader of the CI page to find in the trace.
          const std::string body =
              verdict.message + (verdict.at ? "\nwent wrong at " + format_iso8601(*verdict.at) : std::string());
          cases += "<failure type=\"" + kind + "\" message=\"" + xml_escape(verdict.message) + "\">" +
                   xml_escape(body) + "</failure>";
        }
        cases += "</testcase>\n";
      }
    }
    tests += suite_tests;
    failures += suite_failures;
    errors += suite_errors;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f", ran.seconds);
    std::string properties;
    if (!ran.digest.empty()) {
      const auto property = [](const std::string& name, const std::string& value) {
        return "      <property name=\"" + name + "\" value=\"" + xml_escape(value) + "\"/>\n";
      };
      properties = "    <properties>\n" + property("file", ran.file) + property("seed", std::to_string(ran.seed)) +
                   property("digest", ran.digest) +
                   property("replay", "relaysim run --seed " + std::to_string(ran.seed) +
                                          (ran.dialogue ? " --dialogue " : " ") + ran.file) +
                   "    </properties>\n";
    }
    suites += "  <testsuite name=\"" + xml_escape(ran.name.empty() ? ran.file : ran.name) + "\" tests=\"" +
              std::to_string(suite_tests) + "\" failures=\"" + std::to_string(suite_failures) + "\" errors=\"" +
              std::to_string(suite_errors) + "\" time=\"" + seconds + "\" timestamp=\"" + ran.started + "\">\n" +
              properties + cases + "  </testsuite>\n";
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"relaysim\" tests=\"" + std::to_string(tests) +
         "\" failures=\"" + std::to_string(failures) + "\" errors=\"" + std::to_string(errors) + "\">\n" + suites +
         "</testsuites>\n";
}

}  // namespace relaysim::cli
