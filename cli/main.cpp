// relaysim: the command line. Subcommands live in their own files; this only dispatches.

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>
#include <vector>

#include "cli/commands.hpp"

namespace {

void print_usage(std::FILE* out) {
  std::fprintf(out,
      "relaysim - deterministic simulation and test doubles for SMTP relays\n"
      "\n"
      "usage: relaysim COMMAND [OPTIONS]\n"
      "\n"
      "commands:\n"
      "  run FILE...          run scenarios in virtual time: timeline, verdicts, stats, digest\n"
      "  validate FILE...     check scenarios for mistakes without running them\n"
      "  explain FILE         run a scenario and print every decision with its reason\n"
      "  explore              generate scenarios, check properties, shrink failures to scenario files\n"
      "  falsify FILE...      prove every expectation can fail: mutants of each must fail on the same run\n"
      "  determinism FILE     run a world twice in separate processes and compare the traces\n"
      "  queue list|show|hold|release|delete|flush DIR\n"
      "                       look into and change a relay's queue directory\n"
      "\n"
      "real mode (real sockets, TLS, DNS and disk):\n"
      "  relay --config F     the relay as a daemon\n"
      "  mx --config F        a fake MX server with a JSON HTTP API\n"
      "  salesforce --config F send|test-deliverability\n"
      "                       a Salesforce org sending through a real relay\n"
      "  password             hash a password (standard input) for the relay's users\n"
      "  auth spf|check|dkim-sign|dkim-record\n"
      "                       SPF, DKIM and DMARC checks, DKIM signing and key records"
      "\n"
      "'relaysim COMMAND --help' describes a command; 'relaysim --version' says which build this is.\n");
}

constexpr std::array commands = {"run",   "validate", "explain",    "explore", "falsify",  "determinism", "queue",
                                 "relay", "mx",       "salesforce", "password", "auth"};

// Edits (insertions, deletions, substitutions) between two words: for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    print_usage(stdout);
    return 0;
  }
  if (command == "--version" || command == "version") {
    std::fputs(relaysim::cli::version_text().c_str(), stdout);
    return 0;
  }
  if (command == "run") return relaysim::cli::run_command(argc - 1, argv + 1);
  if (command == "determinism") return relaysim::cli::determinism_command(argc - 1, argv + 1);
  if (command == "queue") return relaysim::cli::queue_command(argc - 1, argv + 1);
  if (command == "validate") return relaysim::cli::validate_command(argc - 1, argv + 1);
  if (command == "explain") return relaysim::cli::explain_command(argc - 1, argv + 1);
  if (command == "falsify") return relaysim::cli::falsify_command(argc - 1, argv + 1);
  if (command == "explore") return relaysim::cli::explore_command(argc - 1, argv + 1);
  if (command == "relay") return relaysim::cli::relay_command(argc - 1, argv + 1);
  if (command == "mx") return relaysim::cli::mx_command(argc - 1, argv + 1);
  if (command == "auth") return relaysim::cli::auth_command(argc - 1, argv + 1);
  if (command == "password") return relaysim::cli::password_command(argc - 1, argv + 1);
  if (command == "salesforce") return relaysim::cli::salesforce_command(argc - 1, argv + 1);
  const auto closest = std::min_element(commands.begin(), commands.end(), [&](std::string_view a, std::string_view b) {
    return edit_distance(command, a) < edit_distance(command, b);
  });
  if (edit_distance(command, *closest) <= 2) {
    std::fprintf(stderr, "relaysim: unknown command '%s'; did you mean '%s'?\n\n", argv[1], *closest);
  } else {
    std::fprintf(stderr, "relaysim: unknown command '%s'\n\n", argv[1]);
  }
  print_usage(stderr);
  return 2;
}
