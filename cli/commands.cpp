#include "cli/commands.hpp"

#include <algorithm>

#include "explore/explore.hpp"

namespace relaysim::cli {

namespace {

std::vector<Command> make_commands() {
  using enum Completes;
  using Group = Command::Group;
  const OptionValues text_or_json{"format", words, {"text", "json"}};
  const std::vector<OptionValues> server_values = {
      {"config", file, {}}, {"log", file, {}}, {"log-format", words, {"text", "json"}}, {"ready-file", file, {}}};
  std::vector<std::string_view> property_names;
  for (const explore::Property& property : explore::properties()) property_names.push_back(property.name);
  property_names.push_back(explore::canary().name);

  std::vector<Command> table = {
      {"run",
       "FILE...",
       "run scenarios in virtual time: timeline, verdicts, stats, digest",
       Group::simulation,
       {"files"},
       {},
       file,
       {{"trace", file, {}},
        {"junit", file, {}},
        {"report", file, {}},
        {"format", words, {"text", "json", "jsonl"}},
        {"color", words, {"auto", "always", "never"}}},
       run_options,
       run_command},
      {"validate",
       "FILE...",
       "check scenarios for mistakes without running them",
       Group::simulation,
       {"files"},
       {},
       file,
       {},
       validate_options,
       validate_command},
      {"explain",
       "FILE",
       "run a scenario and print every decision with its reason",
       Group::simulation,
       {"file"},
       {},
       file,
       {},
       explain_options,
       explain_command},
      {"explore",
       "",
       "generate scenarios, check properties, shrink failures to scenario files",
       Group::simulation,
       {"directories"},
       {},
       directory,
       {{"out", directory, {}},
        {"property", words, property_names},
        {"results", directory, {}},
        {"junit", file, {}},
        {"digests", file, {}}},
       explore_options,
       explore_command},
      {"falsify",
       "FILE...",
       "prove every expectation can fail: mutants of each must fail on the same run",
       Group::simulation,
       {"files"},
       {},
       file,
       {{"write", directory, {}}},
       falsify_options,
       falsify_command},
      {"import",
       "salesforce --relays F [--filters F] | postfix-config MAIN.CF | maillog FILE [--main-cf F]",
       "turn an org's relay records, a relay's main.cf or its maillog into a scenario",
       Group::simulation,
       {"source", "file"},
       {"salesforce", "postfix-config", "maillog"},
       file,
       {{"relays", file, {}},
        {"filters", file, {}},
        {"out", file, {}},
        {"transport", file, {}},
        {"tls-policy", file, {}},
        {"sasl-passwd", file, {}},
        {"main-cf", file, {}},
        {"since", nothing, {}},
        {"until", nothing, {}},
        {"relay-host", nothing, {}},
        {"year", nothing, {}},
        {"key", nothing, {}}},
       import_options,
       import_command},
      {"determinism",
       "FILE",
       "run a world twice in separate processes and compare the traces",
       Group::simulation,
       {"file"},
       {},
       file,
       {},
       determinism_options,
       determinism_command},
      {"queue",
       "list|show|hold|release|delete|flush DIR",
       "look into and change a relay's queue directory",
       Group::simulation,
       {"action", "directory", "id"},
       {"list", "show", "hold", "release", "delete", "flush"},
       directory,
       {},
       queue_options,
       queue_command},
      {"relay",
       "--config F",
       "the relay as a daemon",
       Group::real_mode,
       {},
       {},
       nothing,
       server_values,
       relay_options,
       relay_command},
      {"mx",
       "--config F",
       "a fake MX server with a web inbox and a JSON HTTP API",
       Group::real_mode,
       {},
       {},
       nothing,
       server_values,
       mx_options,
       mx_command},
      {"salesforce",
       "--config F send|test-deliverability",
       "a Salesforce org sending through a real relay",
       Group::real_mode,
       {"action"},
       {"send", "test-deliverability"},
       nothing,
       {{"config", file, {}},
        {"log", file, {}},
        {"category", words, {"single", "mass", "workflow", "flow", "apex", "system"}}},
       salesforce_options,
       salesforce_command},
      {"conformance",
       "--relay HOST:PORT [--tls-trust F] [--auth USER:PASSWORD]",
       "judge any relay from outside: Salesforce's TLS settings, open relay, smuggling, retries, bounces",
       Group::real_mode,
       {},
       {},
       nothing,
       {{"tls-trust", file, {}},
        {"junit", file, {}},
        {"mode", words, {"smarthost", "dns"}},
        {"format", words, {"text", "json", "markdown"}}},
       conformance_options,
       conformance_command},
      {"dns",
       "--zone FILE [--listen ADDRESS:PORT]",
       "a DNS double on UDP and TCP for a relay under test",
       Group::real_mode,
       {},
       {},
       nothing,
       {{"zone", file, {}}, {"ready-file", file, {}}, {"log", file, {}}},
       dns_options,
       dns_command},
      {"password",
       "",
       "hash a password (standard input) for the relay's users",
       Group::real_mode,
       {},
       {},
       nothing,
       {},
       password_options,
       password_command},
      {"auth",
       "spf|check|dkim-sign|dkim-record|tlsa",
       "SPF, DKIM and DMARC checks, DKIM signing and key records, TLSA records",
       Group::real_mode,
       {"action"},
       {"spf", "check", "dkim-sign", "dkim-record", "tlsa"},
       nothing,
       {{"dns", file, {}},
        {"key", file, {}},
        {"cert", file, {}},
        {"canonicalization", words, {"relaxed/relaxed", "relaxed/simple", "simple/relaxed", "simple/simple"}},
        text_or_json},
       auth_options,
       auth_command},
      {"completion",
       "bash|zsh",
       "print a shell completion script",
       Group::tooling,
       {"shell"},
       {"bash", "zsh"},
       nothing,
       {},
       completion_options,
       completion_command},
      {"man",
       "DIRECTORY",
       "write a man page for relaysim and for each command into a directory",
       Group::tooling,
       {"directory"},
       {},
       directory,
       {},
       man_options,
       man_command},
  };
  return table;
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> table = make_commands();
  return table;
}

const Command* find_command(std::string_view name) {
  const auto& table = commands();
  const auto found =
      std::find_if(table.begin(), table.end(), [&](const Command& command) { return command.name == name; });
  return found == table.end() ? nullptr : &*found;
}

std::vector<OptionHelp> option_help(const Command& command) {
  const cxxopts::Options parser = command.options();
  std::vector<OptionHelp> help;
  for (const std::string& group : parser.groups()) {
    for (const cxxopts::HelpOptionDetails& details : parser.group_help(group).options) {
      if (details.l.empty()) continue;
      const std::string& name = details.l.front();
      if (std::find(command.positional.begin(), command.positional.end(), name) != command.positional.end()) continue;
      OptionHelp option;
      option.short_name = details.s;
      option.long_name = name;
      option.description = details.desc;
      option.takes_value = !details.is_boolean;
      if (details.has_default && !details.is_boolean) option.default_value = details.default_value;
      for (const OptionValues& values : command.values) {
        if (values.option != name) continue;
        option.completes = values.completes;
        option.words = values.words;
      }
      help.push_back(std::move(option));
    }
  }
  return help;
}

std::string description_of(const Command& command) {
  const std::string help = command.options().help();
  std::string text = help.substr(0, help.find("Usage:"));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string usage_text() {
  std::string text =
      "relaysim - deterministic simulation and test doubles for SMTP relays\n"
      "\n"
      "usage: relaysim COMMAND [OPTIONS]\n";
  const std::pair<Command::Group, const char*> groups[] = {
      {Command::Group::simulation, "commands"},
      {Command::Group::real_mode, "real mode (real sockets, TLS, DNS and disk)"},
      {Command::Group::tooling, "for the shell"}};
  for (const auto& [group, title] : groups) {
    text += std::string("\n") + title + ":\n";
    for (const Command& command : commands()) {
      if (command.group != group) continue;
      std::string left = "  " + std::string(command.name);
      if (!command.usage.empty()) left += " " + std::string(command.usage);
      // The summary goes in a column; a long left side gets a line of its own.
      text += left.size() < 23 ? left + std::string(23 - left.size(), ' ') : left + "\n" + std::string(23, ' ');
      text += std::string(command.summary) + "\n";
    }
  }
  text += "\n'relaysim COMMAND --help' describes a command; 'relaysim --version' says which build this is.\n";
  return text;
}

}  // namespace relaysim::cli
