// relaysim import salesforce|postfix-config|maillog: what an admin exports, into a scenario
// (scenario/import.hpp does the work).

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/reports.hpp"
#include "io/text.hpp"
#include "scenario/import.hpp"

namespace relaysim::cli {
namespace {

std::string text_of(const std::string& what, const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw scenario::import::ImportError(what + " " + path + ": cannot read the file");
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

// The records of one export file; a mistake names the file and the line or record.
std::vector<scenario::import::Record> records_of(const std::string& option, const std::string& path) {
  const std::string text = text_of("--" + option, path);
  try {
    return scenario::import::read_records(text);
  } catch (const scenario::import::ImportError& error) {
    throw scenario::import::ImportError("--" + option + " " + path + ": " + error.what());
  }
}

// 32 bytes from the system's random source, as hex: an anonymizing key nobody can guess from the file.
std::string random_key() {
  std::random_device source;
  std::array<unsigned char, 32> bytes{};
  for (unsigned char& byte : bytes) byte = static_cast<unsigned char>(source() & 255U);
  return to_hex(bytes.data(), bytes.size());
}

}  // namespace

cxxopts::Options import_options() {
  cxxopts::Options parser(
      "relaysim import",
      "Turn what an admin exports into a scenario. salesforce: the org's EmailRelay and EmailDomainFilter records (CSV "
      "or JSON from `sf data query`, API field names). postfix-config MAIN.CF: the relay's settings, with the source "
      "text of its maps. maillog FILE: the relay's log - its traffic, what each destination server did when, and how "
      "each recipient ended.");
  parser.add_options()("relays",
                       "the EmailRelay records (Id, Host, Port, TlsSetting, IsRequireAuth, AuthType, Username)",
                       cxxopts::value<std::string>(), "FILE")(
      "filters", "the EmailDomainFilter records (EmailRelayId, FromDomain, ToDomain, PriorityNumber, IsActive)",
      cxxopts::value<std::string>(),
      "FILE")("transport", "postfix-config: the source text of transport_maps", cxxopts::value<std::string>(), "FILE")(
      "tls-policy", "postfix-config: the source text of smtp_tls_policy_maps", cxxopts::value<std::string>(), "FILE")(
      "sasl-passwd", "postfix-config: the source text of smtp_sasl_password_maps", cxxopts::value<std::string>(),
      "FILE")(
      "main-cf",
      "maillog: the relay's main.cf, for the relay node's settings (with --transport, --tls-policy, --sasl-passwd)",
      cxxopts::value<std::string>(),
      "FILE")("since", "maillog: skip lines before this instant (ISO 8601)", cxxopts::value<std::string>(), "TIME")(
      "until", "maillog: skip lines from this instant on (ISO 8601)", cxxopts::value<std::string>(), "TIME")(
      "relay-host", "maillog: the syslog host name of the relay's lines (default: the host with most Postfix lines)",
      cxxopts::value<std::string>(), "NAME")(
      "year", "maillog: the year of classic syslog timestamps, which carry none (default: --since's, else 2026)",
      cxxopts::value<unsigned>(), "YEAR")("out", "write the scenario to this file instead of standard output",
                                          cxxopts::value<std::string>(), "FILE")(
      "anonymize",
      "rename addresses, domains and IP addresses consistently under a key (printed on stderr, never in the file)")(
      "key", "with --anonymize: the key (64 hex digits) of an earlier import, to rename the same way",
      cxxopts::value<std::string>(), "HEX")("h,help", "show this help")(
      "source", "what to import: salesforce or postfix-config", cxxopts::value<std::string>())(
      "file", "main.cf", cxxopts::value<std::string>());
  parser.parse_positional({"source", "file"});
  parser.positional_help("salesforce | postfix-config MAIN.CF | maillog FILE");
  return parser;
}

int import_command(int argc, char** argv) {
  cxxopts::Options parser = import_options();
  std::string source, relays_path, filters_path, out_path, main_cf_path;
  std::string file_path;  // the positional file: main.cf for postfix-config, the log for maillog
  scenario::import::MaillogOptions maillog;
  std::map<std::string, std::string> maps;  // option -> path
  bool anonymize = false;
  std::string key;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (parsed.count("source")) source = parsed["source"].as<std::string>();
    if (parsed.count("relays")) relays_path = parsed["relays"].as<std::string>();
    if (parsed.count("filters")) filters_path = parsed["filters"].as<std::string>();
    if (parsed.count("out")) out_path = parsed["out"].as<std::string>();
    if (parsed.count("file")) file_path = parsed["file"].as<std::string>();
    anonymize = parsed.count("anonymize") > 0;
    if (parsed.count("main-cf")) main_cf_path = parsed["main-cf"].as<std::string>();
    for (const char* option : {"since", "until"}) {
      if (!parsed.count(option)) continue;
      const auto instant = parse_iso8601(parsed[option].as<std::string>());
      if (!instant)
        throw cxxopts::exceptions::exception(std::string("--") + option +
                                             ": expected an ISO 8601 instant such as 2026-03-02T09:00:00Z");
      (std::string_view(option) == "since" ? maillog.since : maillog.until) = instant;
    }
    if (maillog.since) maillog.year = static_cast<unsigned>(std::stoi(format_iso8601(*maillog.since).substr(0, 4)));
    if (parsed.count("year")) maillog.year = parsed["year"].as<unsigned>();
    if (maillog.year < 1970 || maillog.year > 9999)
      throw cxxopts::exceptions::exception("--year: expected a year such as 2026");
    if (parsed.count("relay-host")) maillog.relay_host = parsed["relay-host"].as<std::string>();
    if (parsed.count("key")) {
      key = parsed["key"].as<std::string>();
      if (!anonymize) throw cxxopts::exceptions::exception("--key goes with --anonymize");
      if (key.size() != 64 || key.find_first_not_of("0123456789abcdef") != std::string::npos) {
        throw cxxopts::exceptions::exception(
            "--key: expected 64 lower-case hex digits, as an earlier --anonymize printed it");
      }
    }
    for (const char* option : {"transport", "tls-policy", "sasl-passwd"}) {
      if (parsed.count(option)) maps[option] = parsed[option].as<std::string>();
    }
    if (source != "salesforce" && source != "postfix-config" && source != "maillog") {
      throw cxxopts::exceptions::exception(source.empty()
                                               ? "say what to import: salesforce, postfix-config or maillog"
                                               : "'" + source + "' is not salesforce, postfix-config or maillog");
    }
    if (source == "salesforce" && relays_path.empty())
      throw cxxopts::exceptions::exception("salesforce needs --relays FILE (the EmailRelay records)");
    if (source == "postfix-config" && file_path.empty())
      throw cxxopts::exceptions::exception("postfix-config needs the main.cf file");
    if (source == "maillog" && file_path.empty()) throw cxxopts::exceptions::exception("maillog needs the log file");
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("import", error, argc, argv);
  }
  if (!out_path.empty()) {
    if (const std::string problem = output_problem(out_path); !problem.empty()) {
      std::fprintf(stderr, "relaysim import: --out %s: %s\n", out_path.c_str(), problem.c_str());
      return 2;
    }
  }
  try {
    scenario::import::Imported imported;
    if (source == "salesforce") {
      const auto relays = records_of("relays", relays_path);
      const auto filters =
          filters_path.empty() ? std::vector<scenario::import::Record>{} : records_of("filters", filters_path);
      imported = scenario::import::import_salesforce(
          relays, filters, relays_path + (filters_path.empty() ? "" : " and " + filters_path));
    } else if (source == "postfix-config" || !main_cf_path.empty()) {
      const std::string& config_path = source == "postfix-config" ? file_path : main_cf_path;
      scenario::import::PostfixFiles files{config_path, text_of("main.cf", config_path), std::nullopt, std::nullopt,
                                           std::nullopt};
      const auto map_source = [&](const char* option) -> std::optional<scenario::import::MapSource> {
        if (!maps.contains(option)) return std::nullopt;
        return scenario::import::MapSource{maps[option], text_of(std::string("--") + option, maps[option])};
      };
      files.transport = map_source("transport");
      files.tls_policy = map_source("tls-policy");
      files.sasl_passwd = map_source("sasl-passwd");
      imported = scenario::import::import_postfix(files);
    }
    if (source == "maillog") {
      maillog.name = file_path;
      std::optional<scenario::import::Imported> relay;
      if (!main_cf_path.empty()) relay = std::move(imported);
      imported = scenario::import::import_maillog(text_of("the maillog", file_path), maillog, relay);
    }
    for (const std::string& warning : imported.warnings) std::fprintf(stderr, "relaysim import: %s\n", warning.c_str());
    if (anonymize) {
      if (key.empty()) key = random_key();
      scenario::import::Anonymizer(key).scenario(imported.scenario);
      std::fprintf(
          stderr,
          "relaysim import: names anonymized with key %s: give --key with it to rename another import the same way; "
          "the key is not in the file\n",
          key.c_str());
    }
    const std::string text = imported.scenario.dump(2) + "\n";
    if (out_path.empty()) {
      std::fputs(text.c_str(), stdout);
    } else if (!write_file(out_path, text)) {
      std::fprintf(stderr, "relaysim import: cannot write %s\n", out_path.c_str());
      return 2;
    }
    return 0;
  } catch (const scenario::import::ImportError& error) {
    std::fprintf(stderr, "relaysim import: %s\n", error.what());
    return 2;
  }
}

}  // namespace relaysim::cli
