// `relaysim dns --zone FILE`: a DNS double on UDP and TCP, answering from the records of a file in
// the scenario's "dns" form, with names that fail (SERVFAIL) or never answer. Point a relay under
// test at it (docs/conformance.md says how for relaysim, Postfix and others) to route test
// domains to fake MX servers on loopback addresses.
//
// Exit status: 0 after SIGTERM or SIGINT, 2 bad input or an address it cannot listen on.

#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/real_mode.hpp"
#include "io/dns_wire.hpp"
#include "real/dns_server.hpp"
#include "scenario/real_config.hpp"

namespace relaysim::cli {
namespace {

// "example.com MX", for the log.
std::string describe(std::string_view query) {
  const std::optional<io::DnsQuery> parsed = io::parse_dns_query(query);
  if (!parsed) return "a malformed query";
  const std::string type =
      parsed->known_type ? to_upper(io::to_string(*parsed->known_type)) : "TYPE" + std::to_string(parsed->type);
  return parsed->name + " " + type;
}

}  // namespace

cxxopts::Options dns_options() {
  cxxopts::Options parser("relaysim dns",
                          "a DNS double on UDP and TCP, answering from a zone file (docs/conformance.md)\n"
                          "  relaysim dns --zone zone.json [--listen 127.0.0.1:53] [--ready-file F] [--log F]\n");
  parser.add_options()("zone", "the records: {\"records\": {name: records}, \"servfail\": [...], \"timeout\": [...]}",
                       cxxopts::value<std::string>())("listen", "where to answer, UDP and TCP",
                                                      cxxopts::value<std::string>()->default_value("127.0.0.1:53"))(
      "ready-file", "once listening, write {\"pid\", \"dns\"} here", cxxopts::value<std::string>()->default_value(""))(
      "log", "a line per query here (default standard error)", cxxopts::value<std::string>()->default_value(""))(
      "quiet", "no line per query")("h,help", "this help");
  return parser;
}

int dns_command(int argc, char** argv) {
  cxxopts::Options parser = dns_options();
  std::string zone_path, listen_text, ready_file, log_path;
  bool quiet = false;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (!parsed.count("zone")) throw cxxopts::exceptions::exception("--zone FILE is required");
    zone_path = parsed["zone"].as<std::string>();
    listen_text = parsed["listen"].as<std::string>();
    ready_file = parsed["ready-file"].as<std::string>();
    log_path = parsed["log"].as<std::string>();
    quiet = parsed.count("quiet") > 0;
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("dns", error, argc, argv);
  }
  const std::optional<io::Endpoint> listen = scenario::parse_endpoint(listen_text);
  if (!listen) {
    std::fprintf(stderr, "relaysim dns: --listen: expected ADDRESS:PORT such as 127.0.0.1:53, found '%s'\n",
                 listen_text.c_str());
    return 2;
  }
  scenario::DnsServerConfig config;
  try {
    config = scenario::load_dns_server_config(zone_path);
  } catch (const scenario::InputError& error) {
    std::fprintf(stderr, "relaysim dns: %s: %s\n", zone_path.c_str(), error.what());
    return 2;
  }
  auto log = DaemonLog::open(log_path, false, "");
  if (!log) return 2;
  std::signal(SIGPIPE, SIG_IGN);
  real::Runtime runtime;
  log->flush_per_burst(runtime);
  auto server = real::DnsServer::start(runtime, *listen, [&](std::string_view query, bool udp) {
    std::optional<std::string> answer = io::answer_dns_query(query, *config.zone, config.faults, udp);
    if (!quiet) {
      const char* rcode[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP"};
      std::string outcome = "no answer";
      if (answer && answer->size() >= 12) {
        const int code = (*answer)[3] & 0xf;
        const int records = static_cast<unsigned char>((*answer)[6]) << 8 | static_cast<unsigned char>((*answer)[7]);
        outcome = std::string(code < 5 ? rcode[code] : "?") + ", " + std::to_string(records) + " records" +
                  (((*answer)[2] & 0x02) != 0 ? ", truncated" : "");
      }
      log->note("dns", std::string(udp ? "udp" : "tcp") + " query " + describe(query) + ": " + outcome);
    }
    return answer;
  });
  if (!server) {
    std::fprintf(stderr, "relaysim dns: %s\n", server.error().detail.c_str());
    return 2;
  }
  const io::Endpoint bound = server.value()->local_endpoint();
  log->note("dns", "ready: answering on " + bound.to_string() + " (UDP and TCP)");
  if (!ready_file.empty() &&
      !write_ready_file(ready_file, {{"pid", static_cast<int>(getpid())}, {"dns", bound.to_string()}})) {
    std::fprintf(stderr, "relaysim dns: cannot write %s\n", ready_file.c_str());
    return 2;
  }
  runtime.on_signal(SIGTERM, [&runtime] { runtime.stop(); });
  runtime.on_signal(SIGINT, [&runtime] { runtime.stop(); });
  runtime.run();
  return 0;
}

}  // namespace relaysim::cli
