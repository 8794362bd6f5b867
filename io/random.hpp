#pragma once
// Seeded randomness of our own. The generator (xoshiro256**, seeded through splitmix64) and every
// distribution are written here, because the standard library's distributions differ between
// implementations and would break byte-identical replay. No floating point: probabilities are
// rationals, durations are integers.

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "io/assert.hpp"
#include "io/time.hpp"

namespace relaysim::io {

std::uint64_t splitmix64_next(std::uint64_t& state);
// FNV-1a, 64 bits: a stable name hash for deriving streams (never used for security).
std::uint64_t stable_hash(std::string_view text);

class Random {
 public:
  explicit Random(std::uint64_t seed);
  // The stream for one component: independent of every other name under the same seed, so adding
  // a component (or a fault to one MX) does not shift the random choices of any other.
  static Random stream(std::uint64_t seed, std::string_view name);
  // A generator in a given raw state, for checking against the reference implementation.
  static Random from_state(const std::array<std::uint64_t, 4>& state) {
    Random random(0);
    random.state_ = state;
    return random;
  }

  std::uint64_t next();
  // Uniform in [0, bound); bound > 0. Lemire's multiply-and-reject method: no modulo bias.
  std::uint64_t below(std::uint64_t bound);
  // Uniform in [low, high], inclusive.
  std::int64_t between(std::int64_t low, std::int64_t high);
  Duration duration_between(Duration low, Duration high) { return Duration(between(low.count(), high.count())); }
  // True with probability numerator / denominator.
  bool chance(std::uint64_t numerator, std::uint64_t denominator);

  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(below(i));
      std::swap(items[i - 1], items[j]);
    }
  }

 private:
  std::array<std::uint64_t, 4> state_{};
};

}  // namespace relaysim::io
