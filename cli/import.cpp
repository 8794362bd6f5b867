// relaysim import salesforce: an org's exported Email Relay and Email Domain Filter records into a
// scenario (scenario/import_salesforce.hpp does the work).

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/reports.hpp"
#include "scenario/import_salesforce.hpp"

namespace relaysim::cli {
namespace {

// The records of one export file; a mistake names the file and the line or record.
std::vector<scenario::import::Record> records_of(const std::string& option, const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw scenario::import::ImportError("--" + option + " " + path + ": cannot read the file");
  std::ostringstream text;
  text << stream.rdbuf();
  try {
    return scenario::import::read_records(text.str());
  } catch (const scenario::import::ImportError& error) {
    throw scenario::import::ImportError("--" + option + " " + path + ": " + error.what());
  }
}

}  // namespace

cxxopts::Options import_options() {
  cxxopts::Options parser("relaysim import", "Turn what an admin exports into a scenario. salesforce: the org's EmailRelay and "
                                             "EmailDomainFilter records (CSV or JSON from `sf data query`, API field names).");
  parser.add_options()("relays", "the EmailRelay records (Id, Host, Port, TlsSetting, IsRequireAuth, AuthType, Username)",
                       cxxopts::value<std::string>(), "FILE")(
      "filters", "the EmailDomainFilter records (EmailRelayId, FromDomain, ToDomain, PriorityNumber, IsActive)", cxxopts::value<std::string>(),
      "FILE")("out", "write the scenario to this file instead of standard output", cxxopts::value<std::string>(), "FILE")(
      "h,help", "show this help")("source", "what to import: salesforce", cxxopts::value<std::string>());
  parser.parse_positional({"source"});
  parser.positional_help("salesforce");
  return parser;
}

int import_command(int argc, char** argv) {
  cxxopts::Options parser = import_options();
  std::string source, relays_path, filters_path, out_path;
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
    if (source != "salesforce") throw cxxopts::exceptions::exception(source.empty() ? "say what to import: salesforce" : "'" + source + "' is not salesforce");
    if (relays_path.empty()) throw cxxopts::exceptions::exception("salesforce needs --relays FILE (the EmailRelay records)");
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
    const auto relays = records_of("relays", relays_path);
    const auto filters = filters_path.empty() ? std::vector<scenario::import::Record>{} : records_of("filters", filters_path);
    const scenario::import::Imported imported =
        scenario::import::import_salesforce(relays, filters, relays_path + (filters_path.empty() ? "" : " and " + filters_path));
    for (const std::string& warning : imported.warnings) std::fprintf(stderr, "relaysim import: %s\n", warning.c_str());
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
