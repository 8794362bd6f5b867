#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include <set>

#include "io/random.hpp"

using relaysim::io::Random;
using relaysim::io::splitmix64_next;

TEST_CASE("splitmix64 matches the reference implementation's outputs", "[random]") {
  std::uint64_t state = 1234567;
  CHECK(splitmix64_next(state) == 6457827717110365317ull);
  CHECK(splitmix64_next(state) == 3203168211198807973ull);
  CHECK(splitmix64_next(state) == 9817491932198370423ull);
  CHECK(splitmix64_next(state) == 4593380528125082431ull);
  CHECK(splitmix64_next(state) == 16408922859458223821ull);
}

TEST_CASE("xoshiro256** matches the reference implementation's outputs", "[random]") {
  Random random = Random::from_state({1, 2, 3, 4});
  CHECK(random.next() == 11520ull);
  CHECK(random.next() == 0ull);
  CHECK(random.next() == 1509978240ull);
  CHECK(random.next() == 1215971899390074240ull);
}

TEST_CASE("streams are reproducible per name and independent between names", "[random]") {
  Random a1 = Random::stream(7, "mx1.dest.example");
  Random a2 = Random::stream(7, "mx1.dest.example");
  Random b = Random::stream(7, "mx2.dest.example");
  Random c = Random::stream(8, "mx1.dest.example");
  std::vector<std::uint64_t> from_a1, from_a2, from_b, from_c;
  for (int i = 0; i < 8; ++i) {
    from_a1.push_back(a1.next());
    from_a2.push_back(a2.next());
    from_b.push_back(b.next());
    from_c.push_back(c.next());
  }
  CHECK(from_a1 == from_a2);
  CHECK(from_a1 != from_b);
  CHECK(from_a1 != from_c);
}

TEST_CASE("chance() hits its probability over many draws", "[random]") {
  Random random(42);
  int hits = 0;
  constexpr int draws = 100'000;
  for (int i = 0; i < draws; ++i) hits += random.chance(1, 4) ? 1 : 0;
  // Expected 25,000; the standard deviation is about 137, so this bound is over 7 sigma wide.
  CHECK(hits > 24'000);
  CHECK(hits < 26'000);
  CHECK(random.chance(0, 5) == false);
  CHECK(random.chance(5, 5) == true);
}

TEST_CASE("below() covers every value of a small range evenly", "[random]") {
  Random random(3);
  std::array<int, 6> counts{};
  for (int i = 0; i < 60'000; ++i) counts[random.below(6)] += 1;
  for (int count : counts) {
    CHECK(count > 9'400);
    CHECK(count < 10'600);
  }
}

TEST_CASE("shuffle() permutes without losing or duplicating items", "[random]") {
  Random random(9);
  std::vector<int> items = {1, 2, 3, 4, 5, 6, 7, 8};
  std::set<std::vector<int>> orders;
  for (int i = 0; i < 50; ++i) {
    std::vector<int> copy = items;
    random.shuffle(copy);
    CHECK(std::set<int>(copy.begin(), copy.end()).size() == items.size());
    orders.insert(copy);
  }
  CHECK(orders.size() > 40);
}

TEST_CASE("distributions stay within their bounds", "[random][property]") {
  rc::prop("below(n) < n", [](std::uint64_t seed, std::uint64_t bound) {
    RC_PRE(bound > 0u);
    Random random(seed);
    for (int i = 0; i < 20; ++i) RC_ASSERT(random.below(bound) < bound);
  });
  rc::prop("between(low, high) is inclusive on both ends",
           [](std::uint64_t seed, std::int32_t low, std::uint16_t span) {
             Random random(seed);
             const std::int64_t high = std::int64_t{low} + span;
             for (int i = 0; i < 20; ++i) {
               const std::int64_t value = random.between(low, high);
               RC_ASSERT(value >= low);
               RC_ASSERT(value <= high);
             }
           });
}
