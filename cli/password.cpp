// `relaysim password`: reads a password from standard input and prints the salted hash the relay's
// "users" take (relay/password.hpp), so that no configuration file ever holds a plain password.

#include <sys/random.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "relay/password.hpp"

namespace relaysim::cli {

cxxopts::Options password_options() {
  cxxopts::Options parser(
      "relaysim password",
      "Read a password from standard input and print the salted hash the relay's \"users\" take (docs/relay.md).");
  parser.add_options()("h,help", "show this help");
  parser.positional_help("< FILE-WITH-THE-PASSWORD");
  return parser;
}

int password_command(int argc, char** argv) {
  cxxopts::Options parser = password_options();
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (!parsed.unmatched().empty())
      throw cxxopts::exceptions::exception("takes no arguments; the password comes on standard input");
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("password", error, argc, argv);
  }
  std::string password;
  std::getline(std::cin, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    std::fprintf(stderr, "relaysim password: no password on standard input\n");
    return 2;
  }
  unsigned char salt_bytes[16];
  if (getrandom(salt_bytes, sizeof salt_bytes, 0) != sizeof salt_bytes) {
    std::fprintf(stderr, "relaysim password: no randomness for the salt\n");
    return 1;
  }
  const std::string_view salt(reinterpret_cast<const char*>(salt_bytes), sizeof salt_bytes);
  std::printf("%s\n", relay::hash_password(password, salt).c_str());
  return 0;
}

}  // namespace relaysim::cli
