#include "cli/options.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include "cli/commands.hpp"

namespace relaysim::cli {

namespace {

// What cxxopts quotes in a message, with ‘ and ’ (UTF-8): the value or the option it is about.
std::optional<std::string> quoted_in(const std::string& message) {
  const std::string open = "\u2018", close = "\u2019";
  const std::size_t start = message.find(open);
  const std::size_t end = start == std::string::npos ? std::string::npos : message.find(close, start + open.size());
  if (end == std::string::npos) return std::nullopt;
  return message.substr(start + open.size(), end - start - open.size());
}

}  // namespace

std::string describe_option_error(const cxxopts::exceptions::exception& error, int argc, char** argv) {
  const std::string message = error.what();
  if (dynamic_cast<const cxxopts::exceptions::incorrect_argument_type*>(&error) == nullptr) return message;
  // Find the quoted value, then the option that carried it.
  const std::optional<std::string> quoted = quoted_in(message);
  if (!quoted) return message;
  const std::string& value = *quoted;
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (!word.starts_with('-')) continue;
    const std::size_t equals = word.find('=');
    const bool attached = equals != std::string_view::npos && word.substr(equals + 1) == value;
    const bool following = equals == std::string_view::npos && i + 1 < argc && std::string_view(argv[i + 1]) == value;
    if (attached || following) return std::string(word.substr(0, equals)) + ": '" + value + "' is not a valid value";
  }
  return message;
}

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

namespace {

// "; did you mean --summary?" for an option the command does not have, or "".
std::string closest_option(std::string_view command, const std::string& message) {
  const std::optional<std::string> given = quoted_in(message);
  const Command* known = find_command(command);
  if (!given || known == nullptr) return "";
  std::string best;
  std::size_t best_distance = 3;  // at most two edits away
  for (const OptionHelp& option : option_help(*known)) {
    const std::size_t distance = edit_distance(*given, option.long_name);
    if (distance < best_distance) {
      best_distance = distance;
      best = option.long_name;
    }
  }
  return best.empty() ? "" : "; did you mean --" + best + "?";
}

}  // namespace

int option_error(std::string_view command, const cxxopts::exceptions::exception& error, int argc, char** argv) {
  std::string message = describe_option_error(error, argc, argv);
  if (dynamic_cast<const cxxopts::exceptions::no_such_option*>(&error) != nullptr)
    message += closest_option(command, message);
  std::fprintf(stderr, "relaysim %.*s: %s\n", static_cast<int>(command.size()), command.data(), message.c_str());
  return 2;
}

}  // namespace relaysim::cli
