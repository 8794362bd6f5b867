#include "cli/commands.hpp"

#include <idn2.h>
#include <openssl/crypto.h>
#include <zlib.h>
#include <boost/version.hpp>
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

#include "git_describe.hpp"

namespace relaysim::cli {

std::string version_number() { return RELAYSIM_VERSION; }

std::string version_text() {
  const auto dotted = [](int major, int minor, int patch) {
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  };
  std::string boost = BOOST_LIB_VERSION;  // "1_74"
  for (char& c : boost) c = c == '_' ? '.' : c;
  std::string text = "relaysim " RELAYSIM_VERSION " (" RELAYSIM_GIT_DESCRIBE ")\n";
  text += std::string("OpenSSL ") + OpenSSL_version(OPENSSL_VERSION_STRING) + ", Boost " + boost + ", nlohmann/json " +
          dotted(NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH) + ", cxxopts " +
          dotted(CXXOPTS__VERSION_MAJOR, CXXOPTS__VERSION_MINOR, CXXOPTS__VERSION_PATCH) + ", libidn2 " +
          idn2_check_version(nullptr) + ", zlib " + zlibVersion() + "\n";
  return text;
}

}  // namespace relaysim::cli
