#include "cli/options.hpp"

#include <cstdio>

namespace relaysim::cli {

std::string describe_option_error(const cxxopts::exceptions::exception& error, int argc, char** argv) {
  const std::string message = error.what();
  if (dynamic_cast<const cxxopts::exceptions::incorrect_argument_type*>(&error) == nullptr) return message;
  // cxxopts quotes the value with ‘ and ’ (UTF-8): find it, then the option that carried it.
  const std::string open = "\u2018", close = "\u2019";
  const std::size_t start = message.find(open);
  const std::size_t end = start == std::string::npos ? std::string::npos : message.find(close, start + open.size());
  if (end == std::string::npos) return message;
  const std::string value = message.substr(start + open.size(), end - start - open.size());
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

int option_error(std::string_view command, const cxxopts::exceptions::exception& error, int argc, char** argv) {
  std::fprintf(stderr, "relaysim %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               describe_option_error(error, argc, argv).c_str());
  return 2;
}

}  // namespace relaysim::cli
