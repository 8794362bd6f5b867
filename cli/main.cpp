// relaysim: the command line. Subcommands live in their own files; this only dispatches.

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "cli/commands.hpp"
#include "cli/options.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(relaysim::cli::usage_text().c_str(), stderr);
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(relaysim::cli::usage_text().c_str(), stdout);
    return 0;
  }
  if (command == "--version" || command == "version") {
    std::fputs(relaysim::cli::version_text().c_str(), stdout);
    return 0;
  }
  if (const relaysim::cli::Command* found = relaysim::cli::find_command(command))
    return found->main(argc - 1, argv + 1);
  const auto& commands = relaysim::cli::commands();
  const auto closest = std::min_element(commands.begin(), commands.end(), [&](const auto& a, const auto& b) {
    return relaysim::cli::edit_distance(command, a.name) < relaysim::cli::edit_distance(command, b.name);
  });
  if (relaysim::cli::edit_distance(command, closest->name) <= 2) {
    std::fprintf(stderr, "relaysim: unknown command '%s'; did you mean '%.*s'?\n\n", argv[1],
                 static_cast<int>(closest->name.size()), closest->name.data());
  } else {
    std::fprintf(stderr, "relaysim: unknown command '%s'\n\n", argv[1]);
  }
  std::fputs(relaysim::cli::usage_text().c_str(), stderr);
  return 2;
}
