// `relaysim validate FILE...`: load scenarios and report what is wrong, without running them.
// `relaysim explain FILE`: run a scenario and print only its decisions, each with the reason -
// which setting, which rule of the RFCs or of Postfix or Salesforce, which reply.

#include <cstdio>
#include <cxxopts.hpp>
#include <map>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/reports.hpp"
#include "cli/trace_sinks.hpp"
#include "scenario/world_file.hpp"

namespace relaysim::cli {
namespace {

// The rule behind a relay outcome's status, for people.
std::string rule_for_status(const std::string& status, const std::string& state) {
  if (status == "4.4.7") return "maximal_queue_lifetime reached: returned to the sender (RFC 3463 4.4.7)";
  if (status == "5.1.10") return "the domain publishes a null MX (RFC 7505): it accepts no mail";
  if (status == "4.4.3") return "a temporary DNS failure defers, never bounces (RFC 5321 §5.1)";
  if (state == "delivered")
    return "the next hop answered 2xx to the end of data: it owns the message now (RFC 5321 §4.1.1.4)";
  if (!status.empty() && status[0] == '5')
    return "a 5xx is permanent: bounced with a DSN to the envelope sender (RFC 5321 §4.2.1, RFC 3464)";
  if (!status.empty() && status[0] == '4')
    return "a 4xx is transient: deferred and retried with backoff (RFC 5321 §4.2.1, §4.5.4.1)";
  return "";
}

std::string tls_setting_rule(const std::string& setting) {
  if (setting == "Off") return "TLS Setting Off: never STARTTLS";
  if (setting == "Preferred")
    return "TLS Setting Preferred: STARTTLS if offered, else plaintext; the certificate is not checked";
  if (setting == "Required") return "TLS Setting Required: STARTTLS must be offered and succeed, else no delivery";
  if (setting == "PreferredVerify")
    return "TLS Setting PreferredVerify: if STARTTLS is offered, the certificate must chain to a trusted CA and name "
           "the host, else no delivery";
  if (setting == "RequiredVerify")
    return "TLS Setting RequiredVerify: STARTTLS offered, certificate trusted and naming the host, else no delivery";
  return "";
}

// The reason for a decision event, or "" for events that are not decisions.
std::string reason_for(const io::TraceEvent& event) {
  const std::string_view kind = event.kind;
  if (kind == "relay.route") {
    return "routing: " + trace_field(event, "why") +
           (trace_field(event, "route") == "deliver"
                ? ""
                : " -> " + trace_field(event, "route") + " " + trace_field(event, "status"));
  }
  if (kind == "relay.retry")
    return "retry schedule: " + trace_field(event, "why") +
           " (Postfix: the message's age, clamped to minimal_backoff_time..maximal_backoff_time)";
  if (kind == "relay.hop_failed") {
    return "Postfix's per-stage rule: a failure at " + trace_field(event, "stage") + " moves to the " +
           trace_field(event, "next") + " (" + trace_field(event, "reason") + ")";
  }
  if (kind == "relay.outcome")
    return rule_for_status(trace_field(event, "status"), trace_field(event, "state")) + ": " +
           trace_field(event, "reason");
  if (kind == "relay.destination_dead")
    return "dead-destination memory: other mail for " + trace_field(event, "destination") + " waits until " +
           trace_field(event, "until");
  if (kind == "relay.dsn")
    return "a " + trace_field(event, "action") + " notification to " + trace_field(event, "to") +
           " (RFC 3464), queued as " + trace_field(event, "dsn");
  if (kind == "mx.greylist") return "greylisting (postgrey): the triplet is " + trace_field(event, "verdict");
  if (kind == "mx.rule")
    return "the MX's behaviour rule " + trace_field(event, "rule") + " at " + trace_field(event, "stage") + ": " +
           trace_field(event, "action") + " " + trace_field(event, "reply");
  if (kind == "mx.refused") return "the MX's limits: " + trace_field(event, "why");
  if (kind == "salesforce.refused") return "Salesforce refuses the send at the source: " + trace_field(event, "error");
  if (kind == "salesforce.connect") return tls_setting_rule(trace_field(event, "tls"));
  if (kind == "salesforce.log") {
    const std::string what = trace_field(event, "event");
    std::string rule;
    if (what == "Transient failure") rule = " (Salesforce's retry schedule)";
    if (what == "Permanent failure") rule = " (a 5xx fails the email at once)";
    if (what == "Given up") rule = " (the retry schedule ran out)";
    if (what == "Accepted") rule = " (Email Domain Filters, by priority)";
    return "email log: " + what + rule + ": " + trace_field(event, "detail");
  }
  if (kind == "salesforce.bounce")
    return "bounce management: the VERP token names the send; contact " + trace_field(event, "contact") +
           (trace_field(event, "marked") == "true" ? " marked bounced" : " not marked");
  if (kind == "smtp.client.tls") {
    return trace_field(event, "verified") == "true"
               ? "TLS " + trace_field(event, "version") + ", certificate verified"
               : "TLS " + trace_field(event, "version") +
                     ", certificate not verified: " + trace_field(event, "verify_error");
  }
  if (kind == "smtp.client.tls_failed" || kind == "smtp.server.tls_failed")
    return "the TLS handshake failed: " + trace_field(event, "error");
  if (kind == "process.crash" || kind == "process.start" || kind.starts_with("fault.")) return std::string(kind);
  if (kind == "log") return trace_field(event, "line");
  return "";
}

class ExplainSink final : public sim::TraceSink {
 public:
  explicit ExplainSink(Instant start) : timeline_(start) {}
  void on_event(const io::TraceEvent& event, std::string_view) override {
    const std::string reason = reason_for(event);
    if (reason.empty()) return;
    line_.clear();
    timeline_.append(line_, event);
    std::fwrite(line_.data(), 1, line_.size(), stdout);
    if (event.kind != "log" && event.kind != "process.start") std::printf("      why: %s\n", reason.c_str());
  }

 private:
  ClockedTimeline timeline_;
  std::string line_;
};

}  // namespace

cxxopts::Options validate_options() {
  cxxopts::Options parser("relaysim validate", "Load scenarios and report every mistake, without running them.");
  parser.add_options()("h,help", "show this help")("files", "scenario files",
                                                   cxxopts::value<std::vector<std::string>>());
  parser.parse_positional({"files"});
  parser.positional_help("FILE...");
  return parser;
}

int validate_command(int argc, char** argv) {
  cxxopts::Options parser = validate_options();
  std::vector<std::string> files;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (parsed.count("files")) files = parsed["files"].as<std::vector<std::string>>();
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("validate", error, argc, argv);
  }
  if (files.empty()) {
    std::fprintf(stderr, "relaysim validate: name at least one file\n");
    return 2;
  }
  int status = 0;
  for (const std::string& file : files) {
    try {
      const scenario::LoadedWorld loaded = scenario::load_world_file(file, std::nullopt);
      print_warnings(file, loaded);
      std::printf("%s: ok (%s; %zu nodes, %zu expectations%s)\n", file.c_str(), loaded.name.c_str(),
                  loaded.node_hosts.size(), loaded.expectations.size(),
                  loaded.warnings.empty() ? ""
                  : loaded.warnings.size() == 1
                      ? ", 1 warning"
                      : (", " + std::to_string(loaded.warnings.size()) + " warnings").c_str());
    } catch (const scenario::InputError& error) {
      print_mistakes(file, error);
      const std::size_t count = 1 + error.further().size();
      std::fprintf(stderr, "%s: %zu %s\n", file.c_str(), count, count == 1 ? "mistake" : "mistakes");
      status = 2;
    }
  }
  return status;
}

cxxopts::Options explain_options() {
  cxxopts::Options parser("relaysim explain",
                          "Run a scenario and print each decision with its reason: the setting, the rule, the reply.");
  parser.add_options()("seed", "override the scenario's seed", cxxopts::value<std::uint64_t>())(
      "h,help", "show this help")("file", "scenario file", cxxopts::value<std::string>());
  parser.parse_positional({"file"});
  parser.positional_help("FILE");
  return parser;
}

int explain_command(int argc, char** argv) {
  cxxopts::Options parser = explain_options();
  std::string file;
  std::optional<std::uint64_t> seed;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (parsed.count("seed")) seed = parsed["seed"].as<std::uint64_t>();
    if (parsed.count("file")) file = parsed["file"].as<std::string>();
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("explain", error, argc, argv);
  }
  if (file.empty()) {
    std::fprintf(stderr, "relaysim explain: name a scenario file\n");
    return 2;
  }
  scenario::LoadedWorld loaded;
  try {
    loaded = scenario::load_world_file(file, seed);
  } catch (const scenario::InputError& error) {
    print_mistakes("relaysim: " + file, error);
    return 2;
  }
  std::printf("%s (seed %llu): every decision and why\n\n", loaded.name.c_str(),
              static_cast<unsigned long long>(loaded.seed));
  ExplainSink sink(loaded.start);
  loaded.world->add_trace_sink(sink);
  loaded.world->start();
  loaded.world->run_until(loaded.until);
  std::printf("\ndigest: %s\n", loaded.world->digest().c_str());
  return 0;
}

}  // namespace relaysim::cli
