#pragma once
// For the importers' tests: whether an import warned with a line holding some text.

#include <string>
#include <string_view>

#include "scenario/import.hpp"

namespace relaysim::testing {

inline bool warned(const scenario::import::Imported& imported, std::string_view text) {
  for (const std::string& warning : imported.warnings) {
    if (warning.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace relaysim::testing
