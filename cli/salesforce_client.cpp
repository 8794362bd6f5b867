// `relaysim salesforce --config org.json send|test-deliverability`: a Salesforce org sending
// through a real relay exactly as its setup says - Email Domain Filters, the relay's TLS setting,
// SMTP auth, bounce management's VERP return paths, the retry schedule - and reporting each step
// and outcome the way Salesforce's email log does. The org is the same node the simulation runs.
//
// It runs until every recipient has an outcome (delivered, failed, given up) or --wait passes;
// a recipient still waiting for a retry then counts as not delivered.
// Exit status: 0 every recipient delivered (handed over with a 250), 1 some were not, 2 bad input.

#include <csignal>
#include <cstdio>
#include <cxxopts.hpp>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/real_mode.hpp"
#include "fake_salesforce/org_node.hpp"

namespace relaysim::cli {
namespace {

void print_log_entry(const salesforce::LogEntry& entry) {
  std::string via = entry.path.empty() ? "" : "via " + entry.path;
  if (!entry.server.empty()) via += (via.empty() ? "" : " ") + entry.server;
  if (entry.tls) via += entry.tls_verified ? ", TLS verified" : ", TLS";
  std::printf("%s  %-10s  %-28s  %-18s  attempt %d  %s%s%s\n", format_iso8601(entry.at).c_str(), entry.email.c_str(),
              entry.recipient.c_str(), std::string(to_string(entry.event)).c_str(), entry.attempt, via.c_str(),
              entry.detail.empty() ? "" : ": ", entry.detail.c_str());
  std::fflush(stdout);
}

}  // namespace

cxxopts::Options salesforce_options() {
  cxxopts::Options parser(
      "relaysim salesforce",
      "a Salesforce org sending through a real relay (docs/real-mode.md)\n"
      "  relaysim salesforce --config org.json send --from A --to B[,C...] [--subject S] [--count N]\n"
      "  relaysim salesforce --config org.json test-deliverability --to A\n");
  parser.add_options()("config", "the org's configuration file (JSON)", cxxopts::value<std::string>())(
      "action", "send or test-deliverability", cxxopts::value<std::string>())(
      "from", "the sender (a user's or an org-wide address)", cxxopts::value<std::string>()->default_value(""))(
      "to", "recipients, comma-separated", cxxopts::value<std::string>()->default_value(""))(
      "subject", "the subject", cxxopts::value<std::string>()->default_value("Test message"))(
      "body", "the text", cxxopts::value<std::string>()->default_value("This is a test message."))(
      "count", "how many emails", cxxopts::value<int>()->default_value("1"))(
      "category", "single, mass, workflow, flow, apex or system",
      cxxopts::value<std::string>()->default_value("single"))("wait", "seconds to wait for outcomes, retries included",
                                                              cxxopts::value<int>()->default_value("60"))(
      "log", "the node's own log (Postfix-like lines) here", cxxopts::value<std::string>()->default_value("/dev/null"))(
      "h,help", "this help");
  parser.parse_positional({"action"});
  return parser;
}

int salesforce_command(int argc, char** argv) {
  cxxopts::Options parser = salesforce_options();
  std::string config_path, action, log_path;
  salesforce::OrgConfig org_config;
  int wait_seconds = 60;
  std::vector<smtp::Mailbox> to;
  std::optional<smtp::Mailbox> from;
  std::string subject, body, category_name;
  int count = 1;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (!parsed.count("config")) throw cxxopts::exceptions::exception("--config FILE is required");
    if (!parsed.count("action")) throw cxxopts::exceptions::exception("send or test-deliverability is required");
    config_path = parsed["config"].as<std::string>();
    action = parsed["action"].as<std::string>();
    if (action != "send" && action != "test-deliverability")
      throw cxxopts::exceptions::exception("unknown action '" + action + "'");
    std::string list = parsed["to"].as<std::string>();
    for (std::size_t at = 0; !list.empty();) {
      const std::size_t comma = list.find(',', at);
      const std::string item = list.substr(at, comma - at);
      auto parsed_to = smtp::parse_address(item);
      if (!parsed_to)
        throw cxxopts::exceptions::exception("--to: '" + item + "' is not an address such as ann@example.com");
      to.push_back(*parsed_to);
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    if (to.empty()) throw cxxopts::exceptions::exception("--to ADDRESS is required");
    if (action == "send") {
      from = smtp::parse_address(parsed["from"].as<std::string>());
      if (!from) throw cxxopts::exceptions::exception("--from: an address such as support@acme.example is required");
    }
    subject = parsed["subject"].as<std::string>();
    body = parsed["body"].as<std::string>();
    if (subject.find_first_of("\r\n") != std::string::npos)
      throw cxxopts::exceptions::exception("--subject: one line of text");
    count = parsed["count"].as<int>();
    if (count < 1 || count > 100'000) throw cxxopts::exceptions::exception("--count: 1 to 100000");
    category_name = parsed["category"].as<std::string>();
    if (!salesforce::category_named(category_name))
      throw cxxopts::exceptions::exception("--category: single, mass, workflow, flow, apex or system");
    wait_seconds = parsed["wait"].as<int>();
    log_path = parsed["log"].as<std::string>();
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("salesforce", error, argc, argv);
  }

  auto loaded =
      load_server_config<scenario::OrgClientConfig>("salesforce", config_path, scenario::load_org_client_config);
  if (!loaded) return 2;
  const scenario::OrgClientConfig& config = loaded->first;
  const RealTls& tls = loaded->second;
  auto log = DaemonLog::open(log_path, false, "");
  if (!log) return 2;

  real::Runtime runtime;
  auto io = runtime.make_io(node_options("salesforce", "", config.data_directory, config.dns, log.get()));
  const Instant now = io->now();
  org_config.org = config.org;
  org_config.org.bounce_management.inbox_port = 0;  // a one-shot client takes no bounces; the port is the system's pick
  if (action == "send") {
    for (int i = 0; i < count; ++i) {
      salesforce::Send send;
      send.at = now;
      send.category = *salesforce::category_named(category_name);
      send.from = *from;
      send.to = to;
      send.subject = count > 1 ? subject + " (" + std::to_string(i + 1) + ")" : subject;
      send.body = body;
      org_config.traffic.push_back(std::move(send));
    }
  } else {
    org_config.deliverability_tests.push_back({now, to.front()});
    org_config.deliverability_from_own_address = true;
    // Salesforce's published ranges (a sample), when the configuration names none.
    if (org_config.org.sending_ranges.empty()) {
      for (const char* range : {"13.108.0.0/14", "96.43.144.0/20", "136.146.0.0/15", "204.14.232.0/21"}) {
        org_config.org.sending_ranges.push_back(*io::Cidr::parse(range));
      }
    }
  }
  salesforce::OrgState state;
  auto node = salesforce::make_org_node(*io, org_config, {tls.client_plain.get(), tls.client_verify.get()}, state);
  node->start();

  std::size_t printed = 0;
  const auto print_new = [&] {
    for (; printed < state.log.size(); ++printed) print_log_entry(state.log[printed]);
  };
  const auto finished = [&] {
    print_new();
    if (state.traffic_started < org_config.traffic.size() ||
        state.tests_started < org_config.deliverability_tests.size())
      return false;
    for (const salesforce::Envelope& envelope : state.envelopes) {
      if (!envelope.done) return false;
    }
    return true;
  };
  bool interrupted = false;
  runtime.on_signal(SIGINT, [&] { interrupted = true; });
  runtime.on_signal(SIGTERM, [&] { interrupted = true; });
  const bool done =
      runtime.run_until([&] { return finished() || interrupted; }, std::chrono::seconds(wait_seconds)) && !interrupted;
  print_new();
  for (const salesforce::DeliverabilityResult& result : state.deliverability) {
    std::printf("test deliverability: range %s: sent from %s, email %s\n", result.range.c_str(), result.source.c_str(),
                result.email.c_str());
  }
  const salesforce::OrgCounters& counters = state.counters;
  std::printf("sends %llu, refused %llu, recipients %llu, delivered %llu, failed %llu, given up %llu%s\n",
              static_cast<unsigned long long>(counters.sends), static_cast<unsigned long long>(counters.refused),
              static_cast<unsigned long long>(counters.recipients), static_cast<unsigned long long>(counters.delivered),
              static_cast<unsigned long long>(counters.failed), static_cast<unsigned long long>(counters.given_up),
              done ? "" : ", still retrying when the wait ended");
  node.reset();
  io.reset();
  const bool all_delivered =
      done && counters.refused == 0 && counters.delivered == counters.recipients && counters.recipients > 0;
  return all_delivered ? 0 : 1;
}

}  // namespace relaysim::cli
