// `relaysim conformance --relay HOST:PORT`: judges a relay relaysim does not control - Postfix,
// Exchange, a cloud gateway, relaysim's own - from outside. The probe (conformance/probe.hpp)
// talks to the relay as Salesforce and as hostile clients do; a fake MX on --listen takes what the
// relay forwards (smarthost mode: the relay's next hop for every message is this port). Each check
// of the catalogue gets pass, fail, skipped (with why) or info. With --simulate RELAY.json the
// same probe judges relaysim's relay, configured by a `relaysim relay` file, in a simulated world.
//
// Exit status: 0 nothing failed, 1 a check failed, 2 bad input or the relay cannot be reached.

#include <arpa/inet.h>
#include <netdb.h>

#include <csignal>
#include <cstdio>
#include <cxxopts.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/real_mode.hpp"
#include "cli/reports.hpp"
#include "conformance/probe.hpp"
#include "io/dns_wire.hpp"
#include "io/text.hpp"
#include "real/dns_server.hpp"
#include "scenario/conformance_world.hpp"

namespace relaysim::cli {
namespace {

using conformance::Check;
using conformance::CheckResult;
using conformance::Verdict;

struct Invalid {
  std::string message;
};

// "HOST:PORT", "[v6]:PORT": the host as given, and its address (a name is resolved here, once).
std::pair<std::string, io::Endpoint> parse_host_port(const std::string& option, const std::string& text) {
  std::string host, port_text;
  if (text.starts_with("[")) {
    const std::size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw Invalid{"--" + option + ": expected HOST:PORT or [ADDRESS]:PORT, found '" + text + "'"};
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
      throw Invalid{"--" + option + ": expected HOST:PORT, found '" + text + "'"};
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  int port = 0;
  for (const char c : port_text) {
    if (!is_ascii_digit(c) || port > 65535) throw Invalid{"--" + option + ": the port must be 1 to 65535"};
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) throw Invalid{"--" + option + ": the port must be 1 to 65535"};
  if (auto address = io::Address::parse(host)) return {host, io::Endpoint{*address, static_cast<std::uint16_t>(port)}};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr)
    throw Invalid{"--" + option + ": cannot resolve '" + host + "'"};
  char text_address[64] = {};
  const bool v4 = found->ai_family == AF_INET;
  const void* raw = v4 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr)
                       : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr);
  inet_ntop(found->ai_family, raw, text_address, sizeof text_address);
  freeaddrinfo(found);
  return {host, io::Endpoint{*io::Address::parse(text_address), static_cast<std::uint16_t>(port)}};
}

Duration duration_option(const std::string& option, const std::string& text) {
  const auto parsed = parse_duration(text);
  if (!parsed || *parsed <= Duration(0))
    throw Invalid{"--" + option + ": expected a duration such as 90s or 5m, found '" + text + "'"};
  return *parsed;
}

std::string read_text_file(const std::string& option, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Invalid{"--" + option + ": cannot read " + path};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string group_of(std::string_view id) { return std::string(id.substr(0, id.find('.'))); }

const char* label(Verdict verdict) {
  switch (verdict) {
    case Verdict::pass: return "PASS";
    case Verdict::fail: return "FAIL";
    case Verdict::skipped: return "SKIP";
    case Verdict::info: return "INFO";
  }
  return "?";
}

std::string indented(std::string_view text, std::string_view prefix) {
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    out += std::string(prefix) + std::string(text.substr(at, end - at)) + "\n";
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return out;
}

std::map<Verdict, int> counts(const std::vector<CheckResult>& results) {
  std::map<Verdict, int> counted;
  for (const CheckResult& result : results) counted[result.outcome.verdict] += 1;
  return counted;
}

std::string summary_line(const std::vector<CheckResult>& results) {
  std::map<Verdict, int> counted = counts(results);
  return std::to_string(results.size()) + " checks: " + std::to_string(counted[Verdict::pass]) + " passed, " +
         std::to_string(counted[Verdict::fail]) + " failed, " + std::to_string(counted[Verdict::skipped]) +
         " skipped, " + std::to_string(counted[Verdict::info]) + " for information";
}

void print_text(const std::string& relay, const std::vector<CheckResult>& results, bool all_evidence) {
  std::printf("relaysim conformance: %s\n\n", relay.c_str());
  std::string group;
  for (const CheckResult& result : results) {
    const Check& check = *result.check;
    if (group_of(check.id) != group) {
      if (!group.empty()) std::printf("\n");
      group = group_of(check.id);
    }
    std::printf("%s  %-34s %s\n", label(result.outcome.verdict), std::string(check.id).c_str(),
                result.outcome.detail.c_str());
    if (result.outcome.verdict == Verdict::fail) {
      std::printf("      why: %s (%s)\n", std::string(check.reason).c_str(), std::string(check.reference).c_str());
    }
    if ((result.outcome.verdict == Verdict::fail || all_evidence) && !result.outcome.evidence.empty()) {
      std::printf("%s", indented(result.outcome.evidence, "      ").c_str());
    }
  }
  std::printf("\n%s\n", summary_line(results).c_str());
}

nlohmann::json json_report(const std::string& relay, const std::string& mode, const std::vector<CheckResult>& results) {
  nlohmann::json checks = nlohmann::json::array();
  for (const CheckResult& result : results) {
    checks.push_back({{"id", result.check->id},
                      {"title", result.check->title},
                      {"reason", result.check->reason},
                      {"reference", result.check->reference},
                      {"verdict", conformance::to_string(result.outcome.verdict)},
                      {"detail", result.outcome.detail},
                      {"evidence", result.outcome.evidence}});
  }
  std::map<Verdict, int> counted = counts(results);
  return {{"relay", relay},
          {"mode", mode},
          {"counts",
           {{"pass", counted[Verdict::pass]},
            {"fail", counted[Verdict::fail]},
            {"skipped", counted[Verdict::skipped]},
            {"info", counted[Verdict::info]}}},
          {"checks", checks}};
}

std::string junit_report(const std::vector<CheckResult>& results) {
  std::map<Verdict, int> counted = counts(results);
  std::string cases;
  for (const CheckResult& result : results) {
    const Check& check = *result.check;
    cases += "    <testcase classname=\"conformance." + xml_escape(group_of(check.id)) + "\" name=\"" +
             xml_escape(std::string(check.id)) + "\" time=\"0\">";
    const std::string& detail = result.outcome.detail;
    if (result.outcome.verdict == Verdict::fail) {
      cases += "<failure type=\"conformance\" message=\"" + xml_escape(detail) + "\">" +
               xml_escape(std::string(check.reason) + " (" + std::string(check.reference) + ")\n" +
                          result.outcome.evidence) +
               "</failure>";
    } else if (result.outcome.verdict == Verdict::skipped) {
      cases += "<skipped message=\"" + xml_escape(detail) + "\"/>";
    } else {
      cases += "<system-out>" + xml_escape(detail) + "</system-out>";
    }
    cases += "</testcase>\n";
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"relaysim conformance\" "
         "tests=\"" +
         std::to_string(results.size()) + "\" failures=\"" + std::to_string(counted[Verdict::fail]) +
         "\" errors=\"0\" skipped=\"" + std::to_string(counted[Verdict::skipped]) + "\">\n" + cases +
         "  </testsuite>\n</testsuites>\n";
}

// The catalogue as docs/conformance.md shows it.
void print_catalogue(bool markdown) {
  if (!markdown) {
    for (const Check& check : conformance::catalogue()) {
      std::printf("%-34s %s\n", std::string(check.id).c_str(), std::string(check.title).c_str());
    }
    return;
  }
  std::printf("| id | checks that | why | reference | needs |\n|---|---|---|---|---|\n");
  for (const Check& check : conformance::catalogue()) {
    std::printf("| `%s` | %s | %s | %s | %s |\n", std::string(check.id).c_str(), std::string(check.title).c_str(),
                std::string(check.reason).c_str(), std::string(check.reference).c_str(),
                std::string(conformance::to_string(check.needs)).c_str());
  }
}

struct Ran {
  int status = 0;  // 2: the run could not be made or the relay not reached (said on stderr)
  std::vector<CheckResult> results;
};

// The probe's TLS contexts: one that reports verification without enforcing it, one that enforces
// it (the Verify settings), one limited to TLS 1.2. Trust: the system's CAs and `trust_pem`'s.
struct ProbeTls {
  RealTls made;
  std::unique_ptr<tls::Context> judged;
  std::unique_ptr<tls::Context> tls1_2;
};
std::optional<ProbeTls> probe_tls(conformance::Options& options, const std::string& trust_pem,
                                  std::optional<std::uint64_t> seed) {
  scenario::TlsFiles files;
  files.system_trust = true;
  files.trust_pem = trust_pem;
  auto made = make_real_tls(files, seed);
  if (!made) {
    std::fprintf(stderr, "relaysim conformance: --tls-trust: %s\n", made.error().detail.c_str());
    return std::nullopt;
  }
  ProbeTls out{std::move(made).value(), nullptr, nullptr};
  std::vector<const tls::Certificate*> trusted;
  for (const auto& certificate : out.made.certificates) trusted.push_back(certificate.get());
  out.judged = std::make_unique<tls::Context>(*out.made.crypto, tls::ContextConfig{tls::Role::client,
                                                                                   nullptr,
                                                                                   {},
                                                                                   trusted,
                                                                                   tls::Verification::none,
                                                                                   tls::Version::tls1_2,
                                                                                   tls::Version::tls1_3,
                                                                                   true});
  out.tls1_2 = std::make_unique<tls::Context>(
      *out.made.crypto,
      tls::ContextConfig{
          tls::Role::client, nullptr, {}, {}, tls::Verification::none, tls::Version::tls1_2, tls::Version::tls1_2});
  options.tls_plain = out.judged.get();
  options.tls_verify = out.made.client_verify.get();
  options.tls_1_2 = out.tls1_2.get();
  return out;
}

Ran unreachable(const conformance::Probe& probe, const conformance::Options& options) {
  std::fprintf(stderr, "relaysim conformance: cannot talk to the relay at %s: %s\n", options.relay.to_string().c_str(),
               probe.discovery().session.error.c_str());
  return {2, {}};
}

// Against a relay on the network, with the harness's MX servers (and in dns mode its DNS double).
Ran run_real(conformance::Options options, const std::string& trust_pem, std::optional<io::Endpoint> dns_listen) {
  const std::optional<ProbeTls> tls = probe_tls(options, trust_pem, std::nullopt);
  if (!tls) return {2, {}};
  real::Runtime runtime;
  fake_mx::MailStore store;
  std::vector<std::unique_ptr<io::Io>> mx_ios;
  std::vector<std::unique_ptr<fake_mx::FakeMxNode>> mxs;
  for (const conformance::MxServer& server : conformance::mx_servers(options)) {
    real::NodeOptions mx_node;
    mx_node.node_name = server.node;
    mx_node.host_name = server.host;
    mx_node.data_directory = "/tmp";
    mx_ios.push_back(runtime.make_io(mx_node));
    mxs.push_back(std::make_unique<fake_mx::FakeMxNode>(*mx_ios.back(), server.behaviour, nullptr, store));
    mxs.back()->start();
    if (!mxs.back()->listening()) {
      std::fprintf(stderr,
                   "relaysim conformance: cannot listen on %s:%u for the MX %s (in use? ports below 1024 need root or "
                   "CAP_NET_BIND_SERVICE)\n",
                   server.behaviour.address.to_string().c_str(), server.behaviour.port, server.host.c_str());
      return {2, {}};
    }
  }
  io::Zone zone;
  std::unique_ptr<real::DnsServer> dns;
  if (dns_listen) {
    for (const auto& [name, records] : conformance::dns_records(options)) zone.set(name, records);
    auto started = real::DnsServer::start(runtime, *dns_listen, [&zone](std::string_view query, bool udp) {
      return io::answer_dns_query(query, zone, {}, udp);
    });
    if (!started) {
      std::fprintf(stderr, "relaysim conformance: --dns-listen: %s\n", started.error().detail.c_str());
      return {2, {}};
    }
    dns = std::move(started).value();
  }
  real::NodeOptions probe_node;
  probe_node.node_name = "conformance";
  probe_node.host_name = "conformance.relaysim.test";
  probe_node.data_directory = "/tmp";
  // The fake Salesforce org dials the relay record's host name: it resolves to --relay's address.
  if (const auto names = conformance::probe_dns_records(options); !names.empty()) {
    auto static_dns = std::make_shared<io::Zone>();
    for (const auto& [name, records] : names) static_dns->set(name, records);
    probe_node.static_dns = static_dns;
  }
  auto probe_io = runtime.make_io(probe_node);
  Ran ran;
  bool done = false;
  conformance::Probe probe(*probe_io, options, store, [&](const std::vector<CheckResult>& finished) {
    ran.results = finished;
    done = true;
  });
  probe.start();
  bool interrupted = false;
  runtime.on_signal(SIGINT, [&] { interrupted = true; });
  runtime.on_signal(SIGTERM, [&] { interrupted = true; });
  runtime.run_until([&] { return done || interrupted; }, conformance::run_bound(options));
  if (!done) {
    std::fprintf(stderr, "relaysim conformance: %s\n",
                 interrupted ? "interrupted" : "the checks did not finish in time");
    return {2, {}};
  }
  if (!probe.discovery().reachable) return unreachable(probe, options);
  return ran;
}

// The relay of a real-mode configuration file, in a simulated world with the harness beside it on
// one host: virtual time, so the retry window costs nothing, and the same seed gives the same run.
Ran run_simulated(conformance::Options options, const std::string& trust_pem, const std::string& path,
                  std::uint64_t seed, std::optional<Instant> start) {
  scenario::RelayDaemonConfig config;
  try {
    config = scenario::load_relay_daemon_config(path);
  } catch (const scenario::InputError& error) {
    std::fprintf(stderr, "relaysim conformance: %s: %s\n", path.c_str(), error.what());
    return {2, {}};
  }
  auto relay_tls = make_real_tls(config.tls, seed);
  if (!relay_tls) {
    std::fprintf(stderr, "relaysim conformance: %s: tls: %s\n", path.c_str(), relay_tls.error().detail.c_str());
    return {2, {}};
  }
  const std::optional<ProbeTls> tls = probe_tls(options, trust_pem, seed + 1);
  if (!tls) return {2, {}};
  scenario::ConformanceWorld world;
  world.relay = config.relay;
  world.relay_tls = {relay_tls.value().server.get(), relay_tls.value().delivery()};
  world.options = options;
  world.seed = seed;
  // By default the current second: the relay's certificates are judged as a real run would judge
  // them. The same seed and start give the same run.
  world.start = start ? *start
                      : Instant::from_unix_seconds(std::chrono::duration_cast<std::chrono::seconds>(
                                                       std::chrono::system_clock::now().time_since_epoch())
                                                       .count());
  scenario::SimulatedConformance outcome = scenario::run_conformance(std::move(world));
  if (!outcome.finished) {
    std::fprintf(stderr, "relaysim conformance: the checks did not finish in the simulated world\n");
    return {2, {}};
  }
  if (!outcome.reachable) {
    std::fprintf(stderr, "relaysim conformance: cannot talk to the simulated relay: %s\n", outcome.error.c_str());
    return {2, {}};
  }
  return {0, std::move(outcome.results)};
}

}  // namespace

cxxopts::Options conformance_options() {
  cxxopts::Options parser("relaysim conformance",
                          "judge a relay from outside, as Salesforce and hostile clients use it (docs/conformance.md)\n"
                          "  relaysim conformance --relay HOST:PORT [--tls-trust CA.pem] [--auth USER:PASSWORD]\n"
                          "  relaysim conformance --list [--format markdown]\n");
  parser.add_options()("relay", "the relay to judge", cxxopts::value<std::string>()->default_value(""))(
      "relay-name", "its host name as Salesforce's relay record gives it (default: the HOST of --relay)",
      cxxopts::value<std::string>()->default_value(""))("tls-trust",
                                                        "PEM file of CAs to trust besides the system's (a private CA)",
                                                        cxxopts::value<std::string>()->default_value(""))(
      "auth", "USER:PASSWORD of Salesforce's relay record", cxxopts::value<std::string>()->default_value(""))(
      "mode", "smarthost: the relay forwards all mail to --listen; dns: it resolves through --dns-listen",
      cxxopts::value<std::string>()->default_value("smarthost"))(
      "dns-listen", "dns mode: where the harness's DNS double answers (UDP and TCP)",
      cxxopts::value<std::string>()->default_value("127.0.0.1:53"))(
      "mx-network", "dns mode: the MX servers listen on the addresses after this one",
      cxxopts::value<std::string>()->default_value("127.0.1.0"))(
      "mx-port", "dns mode: the port the MX servers listen on", cxxopts::value<int>()->default_value("25"))(
      "listen", "where the harness's MX takes what the relay forwards",
      cxxopts::value<std::string>()->default_value("127.0.0.1:2526"))(
      "stranger", "a local address the relay does not trust, for the open-relay checks (e.g. 127.0.0.2)",
      cxxopts::value<std::string>()->default_value(""))("retry-window",
                                                        "how long a deferred message may take to come back",
                                                        cxxopts::value<std::string>()->default_value("90s"))(
      "settle", "how long to wait for mail that must not come", cxxopts::value<std::string>()->default_value("5s"))(
      "from", "the header From (the envelope sender is its Salesforce VERP form)",
      cxxopts::value<std::string>()->default_value("conformance@example.com"))(
      "domain", "recipients are at <behaviour>.DOMAIN",
      cxxopts::value<std::string>()->default_value("conformance.test"))(
      "only", "check ids (or groups ending in '.'), comma-separated", cxxopts::value<std::string>()->default_value(""))(
      "format", "text, json (markdown with --list)", cxxopts::value<std::string>()->default_value("text"))(
      "junit", "also write a JUnit XML report here", cxxopts::value<std::string>()->default_value(""))(
      "evidence", "show the evidence of every check, not only of failures")("list", "print the checks and exit")(
      "simulate", "run a relaysim relay configuration file (relaysim relay's) in a simulated world instead",
      cxxopts::value<std::string>()->default_value(""))("seed", "the simulated world's seed",
                                                        cxxopts::value<std::uint64_t>()->default_value("1"))(
      "start", "the simulated world's start, ISO 8601 UTC (default: now, to judge certificates as today)",
      cxxopts::value<std::string>()->default_value(""))("h,help", "this help");
  return parser;
}

int conformance_command(int argc, char** argv) {
  cxxopts::Options parser = conformance_options();
  conformance::Options options;
  std::string relay_text, format, junit_path, trust_path, simulate_path;
  std::optional<io::Endpoint> dns_listen;
  std::uint64_t seed = 1;
  std::optional<Instant> start;
  bool all_evidence = false;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    format = parsed["format"].as<std::string>();
    if (parsed.count("list")) {
      if (format != "text" && format != "markdown") throw Invalid{"--format: text or markdown with --list"};
      print_catalogue(format == "markdown");
      return 0;
    }
    if (format != "text" && format != "json") throw Invalid{"--format: text or json"};
    relay_text = parsed["relay"].as<std::string>();
    simulate_path = parsed["simulate"].as<std::string>();
    seed = parsed["seed"].as<std::uint64_t>();
    if (const std::string text = parsed["start"].as<std::string>(); !text.empty()) {
      start = parse_iso8601(text);
      if (!start) throw Invalid{"--start: expected an instant such as 2026-12-07T09:00:00Z, found '" + text + "'"};
    }
    if (relay_text.empty() && simulate_path.empty())
      throw Invalid{"--relay HOST:PORT (or --simulate RELAY.json) is required"};
    options.relay_name = parsed["relay-name"].as<std::string>();
    if (!relay_text.empty()) {
      auto [host, relay] = parse_host_port("relay", relay_text);
      options.relay = relay;
      if (options.relay_name.empty() && simulate_path.empty()) options.relay_name = host;
    }
    options.listen = parse_host_port("listen", parsed["listen"].as<std::string>()).second;
    const std::string mode = parsed["mode"].as<std::string>();
    if (mode != "smarthost" && mode != "dns") throw Invalid{"--mode: smarthost or dns"};
    if (mode == "dns") {
      options.mode = conformance::Mode::dns;
      const std::string network = parsed["mx-network"].as<std::string>();
      const auto base = io::Address::parse(network);
      if (!base || !base->is_v4()) throw Invalid{"--mx-network: an IPv4 address such as 127.0.1.0"};
      options.mx_network = *base;
      const int port = parsed["mx-port"].as<int>();
      if (port < 1 || port > 65535) throw Invalid{"--mx-port: 1 to 65535"};
      options.mx_port = static_cast<std::uint16_t>(port);
      if (simulate_path.empty())
        dns_listen = parse_host_port("dns-listen", parsed["dns-listen"].as<std::string>()).second;
    }
    if (const std::string auth = parsed["auth"].as<std::string>(); !auth.empty()) {
      const std::size_t colon = auth.find(':');
      if (colon == std::string::npos || colon == 0) throw Invalid{"--auth: expected USER:PASSWORD"};
      options.auth = smtp::Credentials{auth.substr(0, colon), auth.substr(colon + 1), "PLAIN"};
    }
    if (const std::string stranger = parsed["stranger"].as<std::string>(); !stranger.empty()) {
      options.stranger = io::Address::parse(stranger);
      if (!options.stranger) throw Invalid{"--stranger: expected an IP address, found '" + stranger + "'"};
    }
    options.retry_window = duration_option("retry-window", parsed["retry-window"].as<std::string>());
    options.settle = duration_option("settle", parsed["settle"].as<std::string>());
    options.from = parsed["from"].as<std::string>();
    if (options.from.find('@') == std::string::npos || options.from.find_first_of("<> \r\n") != std::string::npos)
      throw Invalid{"--from: an address such as support@acme.example"};
    options.domain = to_lower(parsed["domain"].as<std::string>());
    if (options.domain.empty() || options.domain.find_first_of("@<> ") != std::string::npos)
      throw Invalid{"--domain: a domain name"};
    for (std::string list = parsed["only"].as<std::string>(); !list.empty();) {
      const std::size_t comma = list.find(',');
      const std::string id = list.substr(0, comma);
      const bool group = !id.empty() && id.back() == '.';
      const bool known = group ? std::any_of(conformance::catalogue().begin(), conformance::catalogue().end(),
                                             [&](const Check& check) { return check.id.starts_with(id); })
                               : conformance::find_check(id) != nullptr;
      if (!known) throw Invalid{"--only: no check '" + id + "' (relaysim conformance --list shows them)"};
      options.only.push_back(id);
      list = comma == std::string::npos ? "" : list.substr(comma + 1);
    }
    junit_path = parsed["junit"].as<std::string>();
    trust_path = parsed["tls-trust"].as<std::string>();
    all_evidence = parsed.count("evidence") > 0;
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("conformance", error, argc, argv);
  } catch (const Invalid& invalid) {
    std::fprintf(stderr, "relaysim conformance: %s\n", invalid.message.c_str());
    return 2;
  }

  std::string trust_pem;
  if (!trust_path.empty()) {
    try {
      trust_pem = read_text_file("tls-trust", trust_path);
    } catch (const Invalid& invalid) {
      std::fprintf(stderr, "relaysim conformance: %s\n", invalid.message.c_str());
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  const Ran ran = simulate_path.empty() ? run_real(options, trust_pem, dns_listen)
                                        : run_simulated(options, trust_pem, simulate_path, seed, start);
  if (ran.status != 0) return ran.status;
  const std::string mode = options.mode == conformance::Mode::dns ? "dns" : "smarthost";
  const std::string where =
      (simulate_path.empty() ? relay_text + (relay_text.starts_with(options.relay.address.to_string())
                                                 ? ""
                                                 : " (" + options.relay.to_string() + ")")
                             : simulate_path + ", simulated (seed " + std::to_string(seed) + ")");
  if (format == "json") {
    std::printf("%s\n", json_report(where, mode, ran.results).dump(2).c_str());
  } else {
    print_text(where + " (" + mode + " mode)", ran.results, all_evidence);
  }
  if (!junit_path.empty()) {
    std::ofstream out(junit_path, std::ios::binary);
    out << junit_report(ran.results);
    if (!out) {
      std::fprintf(stderr, "relaysim conformance: --junit: cannot write %s\n", junit_path.c_str());
      return 2;
    }
  }
  return counts(ran.results)[Verdict::fail] > 0 ? 1 : 0;
}

}  // namespace relaysim::cli
