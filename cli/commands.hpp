#pragma once
// The `relaysim` subcommands. Each returns the process exit status: 0 success, 1 a check failed,
// 2 bad input. Each builds its options in one function, which is the single source of its
// --help, its man page (`relaysim man`) and its shell completion (`relaysim completion`).

#include <cxxopts.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace relaysim::cli {

int run_command(int argc, char** argv);
int determinism_command(int argc, char** argv);
int queue_command(int argc, char** argv);
int validate_command(int argc, char** argv);
int explain_command(int argc, char** argv);
int explore_command(int argc, char** argv);
int falsify_command(int argc, char** argv);
int relay_command(int argc, char** argv);
int mx_command(int argc, char** argv);
int salesforce_command(int argc, char** argv);
int conformance_command(int argc, char** argv);
int dns_command(int argc, char** argv);
int password_command(int argc, char** argv);
int auth_command(int argc, char** argv);
int completion_command(int argc, char** argv);
int man_command(int argc, char** argv);
int import_command(int argc, char** argv);

cxxopts::Options run_options();
cxxopts::Options determinism_options();
cxxopts::Options queue_options();
cxxopts::Options validate_options();
cxxopts::Options explain_options();
cxxopts::Options explore_options();
cxxopts::Options falsify_options();
cxxopts::Options relay_options();
cxxopts::Options mx_options();
cxxopts::Options salesforce_options();
cxxopts::Options conformance_options();
cxxopts::Options dns_options();
cxxopts::Options password_options();
cxxopts::Options auth_options();
cxxopts::Options completion_options();
cxxopts::Options man_options();
cxxopts::Options import_options();

// What a word on the command line names, for completion: a file, a directory, or a word from a list.
enum class Completes { nothing, file, directory, words };

struct OptionValues {
  std::string_view option;  // long name, without "--"
  Completes completes;
  std::vector<std::string_view> words;  // for Completes::words
};

struct Command {
  std::string_view name;
  std::string_view usage;    // after "relaysim NAME": "FILE...", "list|show|... DIRECTORY [ID|ALL]"
  std::string_view summary;  // one line, for `relaysim --help` and the man page's NAME
  enum class Group { simulation, real_mode, tooling } group;
  std::vector<std::string_view> positional;  // options given by position: left out of option lists
  std::vector<std::string_view> actions;     // the first positional's words (queue list, auth spf, ...)
  Completes operands;                        // what the other positional words are
  std::vector<OptionValues> values;          // what option values are, where known
  cxxopts::Options (*options)();
  int (*main)(int argc, char** argv);
};

// Every subcommand, in the order `relaysim --help` lists them.
const std::vector<Command>& commands();
const Command* find_command(std::string_view name);

// One option as its help shows it, positional options left out.
struct OptionHelp {
  std::string short_name;  // "h", or empty
  std::string long_name;   // "help"
  std::string description;
  bool takes_value = false;
  std::string default_value;  // empty when none
  Completes completes = Completes::nothing;
  std::vector<std::string_view> words;
};
std::vector<OptionHelp> option_help(const Command& command);

// The text before "Usage:" in the command's --help: what it does, in a paragraph or more.
std::string description_of(const Command& command);

// `relaysim --help`.
std::string usage_text();

// "0.1.0": the project's version.
std::string version_number();

// "relaysim 0.1.0 (<git describe>)" and the versions of the libraries it was built with.
std::string version_text();

}  // namespace relaysim::cli
