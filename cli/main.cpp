// relaysim: the command line. Subcommands live in their own files; this only dispatches.

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <vector>

#include "cli/commands.hpp"

namespace {

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
  if (const relaysim::cli::Command* found = relaysim::cli::find_command(command)) return found->main(argc - 1, argv + 1);
  const auto& commands = relaysim::cli::commands();
  const auto closest = std::min_element(commands.begin(), commands.end(), [&](const auto& a, const auto& b) {
    return edit_distance(command, a.name) < edit_distance(command, b.name);
  });
  if (edit_distance(command, closest->name) <= 2) {
    std::fprintf(stderr, "relaysim: unknown command '%s'; did you mean '%.*s'?\n\n", argv[1], static_cast<int>(closest->name.size()),
                 closest->name.data());
  } else {
    std::fprintf(stderr, "relaysim: unknown command '%s'\n\n", argv[1]);
  }
  std::fputs(relaysim::cli::usage_text().c_str(), stderr);
  return 2;
}
