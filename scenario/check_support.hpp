#pragma once
// What the expectation and invariant checks share: how they name instants, addresses and domains,
// and how an invariant gathers its violations into a verdict. Internal to scenario/.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "io/time.hpp"
#include "scenario/verdicts.hpp"

namespace relaysim::scenario::checks {

std::string lower(std::string_view text);
std::string domain_of(std::string_view address);
std::string offset(Instant when, Instant start);  // "+5m"
std::string joined(const std::vector<std::string>& items, std::string_view separator = ", ");

// Collects violations of one invariant and turns them into a verdict: the first few in full.
class Violations {
 public:
  static constexpr std::size_t shown_max = 5;
  void add(std::string text);
  Verdict verdict(std::string name, std::string held) const;

 private:
  std::size_t count_ = 0;
  std::vector<std::string> shown_;
};

}  // namespace relaysim::scenario::checks
