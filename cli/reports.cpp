#include "cli/reports.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <set>

namespace relaysim::cli {

// Text for XML and HTML: the five special characters escaped, control characters dropped.
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
namespace {

constexpr int lane_width = 230;
constexpr int lane_margin = 140;
constexpr int row_height = 30;
constexpr int header_height = 46;
constexpr std::size_t label_length_max = 70;


std::string shorten(std::string text) {
  if (text.size() > label_length_max) text = text.substr(0, label_length_max - 3) + "...";
  return text;
}

std::string offset(Instant when, Instant start) {
  const std::int64_t ms = (when - start).count() / 1000;
  char text[32];
  std::snprintf(text, sizeof text, "+%02lld:%02lld:%02lld.%03lld", static_cast<long long>(ms / 3'600'000), static_cast<long long>(ms / 60'000 % 60),
                static_cast<long long>(ms / 1000 % 60), static_cast<long long>(ms % 1000));
  return text;
}

// One arrow of a sequence diagram: a hand-over from one node to another and how it ended.
struct Arrow {
  Instant at;
  std::string from;
  std::string to;
  std::string label;
  std::string outcome;  // delivered, transient, permanent, note
};

class Diagrams {
 public:
  Diagrams(const scenario::LoadedWorld& loaded, const scenario::RunObserver& observer) : loaded_(loaded), observer_(observer) {
    for (const auto& [node, host] : loaded.node_hosts) {
      for (const io::Address& address : loaded.host_addresses.at(host)) nodes_by_address_.try_emplace(address.to_string(), node);
    }
  }

  // The node a server label such as "mx.dest.example[192.0.2.25]:25" points at.
  std::string node_of(const std::string& label) const {
    const std::size_t open = label.find('[');
    const std::size_t close = label.find(']');
    if (open == std::string::npos || close == std::string::npos) return "unreachable";
    const auto found = nodes_by_address_.find(label.substr(open + 1, close - open - 1));
    return found == nodes_by_address_.end() ? label.substr(0, open) : found->second;
  }

  // Recipients in the order they first appear, each with its arrows in time order.
  std::vector<std::pair<std::string, std::vector<Arrow>>> build() const {
    std::vector<std::string> order;
    std::map<std::string, std::vector<Arrow>> arrows;
    const auto add_recipient = [&](const std::string& rcpt) {
      if (!arrows.contains(rcpt)) {
        order.push_back(rcpt);
        arrows[rcpt];
      }
    };
    for (const auto& [name, org] : loaded_.orgs) {
      for (const salesforce::LogEntry& entry : org->log) {
        using salesforce::EmailLogEvent;
        const std::string rcpt = smtp::to_lower(entry.recipient);
        const std::string event(to_string(entry.event));
        if (entry.event == EmailLogEvent::accepted || entry.event == EmailLogEvent::refused) add_recipient(rcpt);
        if (!arrows.contains(rcpt)) continue;
        if (entry.event == EmailLogEvent::delivered || entry.event == EmailLogEvent::transient_failure || entry.event == EmailLogEvent::permanent_failure) {
          const std::string outcome = entry.event == EmailLogEvent::delivered           ? "delivered"
                                      : entry.event == EmailLogEvent::transient_failure ? "transient"
                                                                                        : "permanent";
          arrows[rcpt].push_back({entry.at, name, entry.server == "none" ? "unreachable" : node_of(entry.server),
                                  event + (entry.tls ? " (TLS)" : "") + ": " + entry.detail, outcome});
        } else if (entry.event != EmailLogEvent::accepted) {
          arrows[rcpt].push_back({entry.at, name, name, event + ": " + entry.detail, entry.event == EmailLogEvent::bounced ? "permanent" : "note"});
        }
      }
    }
    for (const scenario::RunObserver::StoredAtRelay& stored : observer_.stored) {
      if (stored.client.empty()) continue;
      for (const std::string& rcpt : stored.to) add_recipient(smtp::to_lower(rcpt));
    }
    std::map<std::string, std::vector<std::string>> recipients_of;  // relay queue id -> recipients
    for (const scenario::RunObserver::StoredAtRelay& stored : observer_.stored) {
      for (const std::string& rcpt : stored.to) recipients_of[stored.node + " " + stored.id].push_back(smtp::to_lower(rcpt));
    }
    std::map<std::string, std::string> original_of;  // notification id -> the message it is about
    for (const scenario::RunObserver::RelayDsn& dsn : observer_.dsns) original_of[dsn.node + " " + dsn.dsn] = dsn.node + " " + dsn.id;
    for (const scenario::RunObserver::RelayOutcome& outcome : observer_.outcomes) {
      if (!outcome.attempted) continue;
      const std::string target = outcome.relay == "none" ? "unreachable" : node_of(outcome.relay);
      const std::string label = std::string(relay::to_string(outcome.state)) + " " + outcome.status + (outcome.tls ? " (TLS)" : "");
      const std::string kind(smtp::to_string(outcome.outcome));
      const std::string rcpt = smtp::to_lower(outcome.rcpt);
      if (arrows.contains(rcpt)) arrows[rcpt].push_back({outcome.at, outcome.node, target, label, kind});
      // A notification's delivery belongs to the recipients whose failure it reports.
      if (const auto original = original_of.find(outcome.node + " " + outcome.id); original != original_of.end()) {
        for (const std::string& about : recipients_of[original->second]) {
          if (arrows.contains(about)) arrows[about].push_back({outcome.at, outcome.node, target, "DSN to " + outcome.rcpt + ": " + label, kind});
        }
      }
    }
    std::vector<std::pair<std::string, std::vector<Arrow>>> out;
    for (const std::string& rcpt : order) {
      std::vector<Arrow>& list = arrows[rcpt];
      std::stable_sort(list.begin(), list.end(), [](const Arrow& a, const Arrow& b) { return a.at < b.at; });
      out.emplace_back(rcpt, std::move(list));
    }
    return out;
  }

 private:
  const scenario::LoadedWorld& loaded_;
  const scenario::RunObserver& observer_;
  std::map<std::string, std::string> nodes_by_address_;
};

const char* colour_of(const std::string& outcome) {
  if (outcome == "delivered") return "#1a7f37";
  if (outcome == "transient") return "#bf8700";
  if (outcome == "permanent") return "#cf222e";
  return "#57606a";
}

std::string sequence_svg(const std::vector<Arrow>& arrows, Instant start) {
  std::vector<std::string> lanes;
  for (const Arrow& arrow : arrows) {
    for (const std::string& lane : {arrow.from, arrow.to}) {
      if (std::find(lanes.begin(), lanes.end(), lane) == lanes.end()) lanes.push_back(lane);
    }
  }
  const auto x_of = [&](const std::string& lane) {
    return lane_margin + lane_width / 2 + lane_width * static_cast<int>(std::find(lanes.begin(), lanes.end(), lane) - lanes.begin());
  };
  const int width = lane_margin + lane_width * static_cast<int>(lanes.size()) + 20;
  const int height = header_height + row_height * static_cast<int>(arrows.size()) + 20;
  std::string svg = "<svg class=\"sequence\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(height) + "\" role=\"img\">";
  for (const std::string& lane : lanes) {
    const int x = x_of(lane);
    svg += "<text x=\"" + std::to_string(x) + "\" y=\"20\" text-anchor=\"middle\" class=\"lane\">" + xml_escape(lane) + "</text>";
    svg += "<line x1=\"" + std::to_string(x) + "\" y1=\"28\" x2=\"" + std::to_string(x) + "\" y2=\"" + std::to_string(height - 10) +
           "\" stroke=\"#d0d7de\" stroke-width=\"2\"/>";
  }
  for (std::size_t i = 0; i < arrows.size(); ++i) {
    const Arrow& arrow = arrows[i];
    const int y = header_height + row_height * static_cast<int>(i) + 14;
    const int from = x_of(arrow.from);
    const int to = x_of(arrow.to);
    const std::string colour = colour_of(arrow.outcome);
    svg += "<text x=\"8\" y=\"" + std::to_string(y + 4) + "\" class=\"time\">" + offset(arrow.at, start) + "</text>";
    if (from == to) {
      svg += "<circle cx=\"" + std::to_string(from) + "\" cy=\"" + std::to_string(y) + "\" r=\"5\" fill=\"" + colour + "\"/>";
    } else {
      const int tip = to > from ? to - 6 : to + 6;
      svg += "<line x1=\"" + std::to_string(from) + "\" y1=\"" + std::to_string(y) + "\" x2=\"" + std::to_string(tip) + "\" y2=\"" +
             std::to_string(y) + "\" stroke=\"" + colour + "\" stroke-width=\"2\"/>";
      svg += "<polygon points=\"" + std::to_string(to) + "," + std::to_string(y) + " " + std::to_string(tip) + "," + std::to_string(y - 5) + " " +
             std::to_string(tip) + "," + std::to_string(y + 5) + "\" fill=\"" + colour + "\"/>";
    }
    const int label_x = std::min(from, to) + 8;
    svg += "<text x=\"" + std::to_string(label_x) + "\" y=\"" + std::to_string(y - 5) + "\" class=\"label\" fill=\"" + colour + "\"><title>" +
           xml_escape(arrow.label) + "</title>" + xml_escape(shorten(arrow.label)) + "</text>";
  }
  return svg + "</svg>";
}

std::string verdict_rows(const std::vector<scenario::Verdict>& verdicts) {
  std::string rows;
  for (const scenario::Verdict& verdict : verdicts) {
    rows += std::string("<tr class=\"") + (verdict.passed ? "pass" : "fail") + "\"><td>" + (verdict.passed ? "ok" : "FAIL") + "</td><td>" +
            xml_escape(verdict.name) + "</td><td>" + xml_escape(verdict.message) + "</td></tr>";
  }
  return rows;
}

}  // namespace

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
  for (const std::string& line : scenario::describe_mistakes(error)) std::fprintf(stderr, "%s: %s\n", file.c_str(), line.c_str());
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
      cases = "    <testcase classname=\"" + classname + "\" name=\"load\" time=\"0\"><error type=\"input\" message=\"" +
              xml_escape(first) + "\">" + xml_escape(text) + "</error></testcase>\n";
    }
    for (const auto* list : {&ran.result.expectations, &ran.result.invariants}) {
      const std::string kind = list == &ran.result.expectations ? "expectation" : "invariant";
      for (const scenario::Verdict& verdict : *list) {
        suite_tests += 1;
        cases += "    <testcase classname=\"" + classname + "\" name=\"" + xml_escape(kind + ": " + verdict.name) + "\" time=\"0\">";
        if (!verdict.passed) {
          suite_failures += 1;
          cases += "<failure type=\"" + kind + "\" message=\"" + xml_escape(verdict.message) + "\">" + xml_escape(verdict.message) + "</failure>";
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
                   property("replay", "relaysim run --seed " + std::to_string(ran.seed) + " " + ran.file) + "    </properties>\n";
    }
    suites += "  <testsuite name=\"" + xml_escape(ran.name.empty() ? ran.file : ran.name) + "\" tests=\"" + std::to_string(suite_tests) +
              "\" failures=\"" + std::to_string(suite_failures) + "\" errors=\"" + std::to_string(suite_errors) + "\" time=\"" + seconds +
              "\" timestamp=\"" + ran.started + "\">\n" + properties + cases + "  </testsuite>\n";
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"relaysim\" tests=\"" + std::to_string(tests) + "\" failures=\"" +
         std::to_string(failures) + "\" errors=\"" + std::to_string(errors) + "\">\n" + suites + "</testsuites>\n";
}

std::string html_report(const scenario::LoadedWorld& loaded, const scenario::RunObserver& observer, const scenario::RunResult& result,
                        const std::string& digest) {
  const Diagrams diagrams(loaded, observer);
  const auto journeys = diagrams.build();
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + xml_escape(loaded.name) +
      "</title><style>"
      "body{font-family:system-ui,sans-serif;margin:2em;color:#24292f}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}"
      "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top;font-size:.9em}"
      "tr.pass td:first-child{color:#1a7f37;font-weight:bold}tr.fail td:first-child{color:#cf222e;font-weight:bold}"
      ".verdict{font-size:1.2em;font-weight:bold}.verdict.pass{color:#1a7f37}.verdict.fail{color:#cf222e}"
      "svg.sequence{font-family:ui-monospace,monospace;font-size:11px;border:1px solid #d0d7de;background:#fff}"
      "svg .lane{font-weight:bold;font-size:12px}svg .time{fill:#57606a}code{font-size:.9em}"
      "</style></head><body>\n";
  html += "<h1>" + xml_escape(loaded.name) + "</h1>\n";
  if (!loaded.description.empty()) html += "<p>" + xml_escape(loaded.description) + "</p>\n";
  html += std::string("<p class=\"verdict ") + (result.passed() ? "pass\">PASSED" : "fail\">FAILED") + "</p>\n";
  html += "<p>seed " + std::to_string(loaded.seed) + ", start " + xml_escape(format_iso8601(loaded.start)) + ", digest <code>" + xml_escape(digest) + "</code></p>\n";
  const scenario::RunStats& stats = result.stats;
  html += "<table id=\"stats\"><tr>";
  for (const scenario::NamedStat& stat : scenario::run_stat_names) html += "<th>" + std::string(stat.name) + "</th>";
  html += "</tr><tr>";
  for (const scenario::NamedStat& stat : scenario::run_stat_names) html += "<td>" + std::to_string(stats.*stat.value) + "</td>";
  html += "</tr></table>\n";
  html += "<h2>Expectations</h2>\n<table id=\"expectations\">" + verdict_rows(result.expectations) + "</table>\n";
  if (result.expectations.empty()) html += "<p>The scenario states no expectations.</p>\n";
  html += "<h2>Invariants</h2>\n<table id=\"invariants\">" + verdict_rows(result.invariants) + "</table>\n";
  html += "<h2>Messages</h2>\n";
  for (const auto& [recipient, arrows] : journeys) {
    html += "<h3>" + xml_escape(recipient) + "</h3>\n";
    html += arrows.empty() ? std::string("<p>No hand-over.</p>\n") : sequence_svg(arrows, loaded.start) + "\n";
  }
  html += "<h2>Timeline of attempts and faults</h2>\n<table id=\"timeline\"><tr><th>time</th><th>node</th><th>what</th></tr>";
  std::vector<std::tuple<Instant, std::string, std::string>> rows;
  for (const scenario::RunObserver::Mark& mark : observer.marks) rows.emplace_back(mark.at, mark.node, mark.kind + (mark.detail.empty() ? "" : " " + mark.detail));
  for (const auto& [recipient, arrows] : journeys) {
    for (const Arrow& arrow : arrows) rows.emplace_back(arrow.at, arrow.from, recipient + " -> " + arrow.to + ": " + arrow.label);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  for (const auto& [at, node, what] : rows) {
    html += "<tr><td>" + offset(at, loaded.start) + "</td><td>" + xml_escape(node) + "</td><td>" + xml_escape(what) + "</td></tr>";
  }
  html += "</table>\n</body></html>\n";
  return html;
}

}  // namespace relaysim::cli
