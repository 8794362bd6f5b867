// `relaysim password`: reads a password from standard input and prints the salted hash the relay's
// "users" take (relay/password.hpp), so that no configuration file ever holds a plain password.

#include <sys/random.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.hpp"
#include "relay/password.hpp"

namespace relaysim::cli {

int password_command(int argc, char** argv) {
  if (argc > 1) {
    std::fprintf(stderr, "usage: relaysim password < file-with-the-password\n"
                         "prints the salted hash for the relay's \"users\" (docs/relay.md)\n");
    return std::string_view(argv[1]) == "--help" ? 0 : 2;
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
