// `relaysim man DIRECTORY`: a man page for relaysim and one per command (relaysim-run(1), ...),
// written from the same option tables as --help. The build runs it; `cmake --install` and the
// .deb put the pages in share/man/man1.

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/reports.hpp"

namespace relaysim::cli {

namespace {

// Text for roff: backslashes escaped, hyphens as \- (so that options copy and search well), a
// line that would start with a control character guarded.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

// A description: lines that start with spaces (examples, usage lines) unfilled, the rest as paragraphs.
std::string roff_paragraphs(const std::string& text) {
  std::string out;
  std::istringstream lines(text);
  std::string line;
  bool unfilled = false;
  while (std::getline(lines, line)) {
    const bool indented = line.starts_with("  ");
    if (indented && !unfilled) out += ".PP\n.nf\n";
    if (!indented && unfilled) out += ".fi\n";
    if (!indented) out += ".PP\n";
    unfilled = indented;
    out += roff(indented ? line.substr(2) : line) + "\n";
  }
  if (unfilled) out += ".fi\n";
  return out;
}

std::string header(const std::string& title, const std::string& name, std::string_view summary) {
  return ".\\\" Written by `relaysim man` from the command's options; edit cli/ rather than this file.\n"
         ".TH " +
         title + " 1 \"\" \"relaysim " + version_number() +
         "\" \"relaysim manual\"\n"
         ".SH NAME\n" +
         roff(name) + " \\- " + roff(summary) + "\n";
}

const char* const exit_status =
    ".SH EXIT STATUS\n"
    ".TP\n.B 0\nsuccess: the runs passed, the command did what was asked\n"
    ".TP\n.B 1\na check failed: an expectation, an invariant, a property, a delivery\n"
    ".TP\n.B 2\nbad input: a mistake in a file, an option or an argument, said on standard error\n";

std::string command_page(const Command& command) {
  std::string upper = "RELAYSIM-" + std::string(command.name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string page = header(upper, "relaysim-" + std::string(command.name), command.summary);
  page += ".SH SYNOPSIS\n.B relaysim " + std::string(command.name) + "\n[\\fIOPTIONS\\fR]";
  if (!command.usage.empty()) page += " " + roff(command.usage);
  page += "\n.SH DESCRIPTION\n" + roff_paragraphs(description_of(command));
  page += ".SH OPTIONS\n";
  for (const OptionHelp& option : option_help(command)) {
    page += ".TP\n";
    if (!option.short_name.empty()) page += "\\fB\\-" + roff(option.short_name) + "\\fR, ";
    page += "\\fB\\-\\-" + roff(option.long_name) + "\\fR";
    if (option.takes_value)
      page += " \\fI" +
              std::string(option.completes == Completes::file        ? "FILE"
                          : option.completes == Completes::directory ? "DIRECTORY"
                                                                     : "VALUE") +
              "\\fR";
    page += "\n" + roff(option.description);
    if (!option.default_value.empty()) page += " (default: " + roff(option.default_value) + ")";
    page += "\n";
  }
  page += exit_status;
  page += ".SH SEE ALSO\n.BR relaysim (1)\n";
  return page;
}

std::string main_page() {
  std::string page = header("RELAYSIM", "relaysim", "deterministic simulation and test doubles for SMTP relays");
  page += ".SH SYNOPSIS\n.B relaysim\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n";
  page += ".br\n.B relaysim \\-\\-version\n";
  page +=
      ".SH DESCRIPTION\n"
      ".PP\nrelaysim tests the chain from a Salesforce org through an SMTP relay to the recipients' MX servers. "
      "It runs scenarios in virtual time, where the relay, fake Salesforce senders and fake MX servers meet "
      "network, TLS, DNS and disk faults; the same scenario and seed give the same trace, byte for byte. "
      "The same relay and doubles also run as daemons on real sockets.\n"
      ".PP\nThe documentation, scenario format and bundled scenarios are in /usr/share/doc/relaysim and "
      "/usr/share/relaysim/scenarios when relaysim is installed from its package.\n";
  page += ".SH COMMANDS\n";
  for (const Command& command : commands()) {
    page += ".TP\n\\fBrelaysim " + roff(command.name) + "\\fR";
    if (!command.usage.empty()) page += " " + roff(command.usage);
    page += "\n" + roff(command.summary) + "; see \\fBrelaysim\\-" + roff(command.name) + "\\fR(1)\n";
  }
  page +=
      ".SH ENVIRONMENT\n.TP\n.B NO_COLOR\nwhen set and not empty, output has no colour unless \\-\\-color=always asks "
      "for it\n";
  page += exit_status;
  page += ".SH SEE ALSO\n";
  std::string see;
  for (const Command& command : commands())
    see += (see.empty() ? "" : ",\n") + (".BR relaysim\\-" + roff(command.name) + " (1)");
  page += see + "\n";
  return page;
}

}  // namespace

cxxopts::Options man_options() {
  cxxopts::Options parser(
      "relaysim man",
      "Write the man pages into a directory: relaysim.1, and relaysim-COMMAND.1 for each command, from the "
      "same option tables as --help.");
  parser.add_options()("h,help", "show this help")("directory", "where the pages go", cxxopts::value<std::string>());
  parser.parse_positional({"directory"});
  parser.positional_help("DIRECTORY");
  return parser;
}

int man_command(int argc, char** argv) {
  cxxopts::Options parser = man_options();
  std::filesystem::path directory;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (!parsed.count("directory")) throw cxxopts::exceptions::exception("name the directory the pages go to");
    directory = parsed["directory"].as<std::string>();
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("man", error, argc, argv);
  }
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    std::fprintf(stderr, "relaysim man: %s: %s\n", directory.c_str(), error.message().c_str());
    return 2;
  }
  std::vector<std::pair<std::filesystem::path, std::string>> pages{{directory / "relaysim.1", main_page()}};
  for (const Command& command : commands())
    pages.emplace_back(directory / ("relaysim-" + std::string(command.name) + ".1"), command_page(command));
  for (const auto& [path, page] : pages) {
    if (!write_file(path.string(), page)) {
      std::fprintf(stderr, "relaysim man: cannot write %s\n", path.c_str());
      return 2;
    }
  }
  return 0;
}

}  // namespace relaysim::cli
