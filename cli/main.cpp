// relaysim: the command line. Subcommands live in their own files; this only dispatches.

#include <cstdio>
#include <cstring>
#include <string_view>

#include "cli/commands.hpp"

namespace {

void print_usage() {
  std::printf(
      "relaysim - deterministic simulation and test doubles for SMTP relays\n"
      "\n"
      "usage: relaysim COMMAND [OPTIONS]\n"
      "\n"
      "commands:\n"
      "  run FILE...          run scenarios in virtual time: timeline, verdicts, stats, digest\n"
      "  validate FILE...     check scenarios for mistakes without running them\n"
      "  explain FILE         run a scenario and print every decision with its reason\n"
      "  explore              generate scenarios, check properties, shrink failures to scenario files\n"
      "  determinism FILE     run a world twice in separate processes and compare the traces\n"
      "  queue list|show DIR  look into a relay's queue directory (read-only)\n"
      "\n"
      "'relaysim COMMAND --help' describes a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage();
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    print_usage();
    return 0;
  }
  if (command == "run") return relaysim::cli::run_command(argc - 1, argv + 1);
  if (command == "determinism") return relaysim::cli::determinism_command(argc - 1, argv + 1);
  if (command == "queue") return relaysim::cli::queue_command(argc - 1, argv + 1);
  if (command == "validate") return relaysim::cli::validate_command(argc - 1, argv + 1);
  if (command == "explain") return relaysim::cli::explain_command(argc - 1, argv + 1);
  if (command == "explore") return relaysim::cli::explore_command(argc - 1, argv + 1);
  std::fprintf(stderr, "relaysim: unknown command '%s'\n\n", argv[1]);
  print_usage();
  return 2;
}
