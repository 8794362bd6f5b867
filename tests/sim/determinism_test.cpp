#include <catch2/catch.hpp>

#include "scenario/world_file.hpp"
#include "support/test_world.hpp"

using namespace relaysim;

namespace {

struct Outcome {
  std::string digest;
  std::uint64_t trace_events;
  std::vector<std::string> status;
};

Outcome run(std::optional<std::uint64_t> seed) {
  auto loaded = scenario::load_world_file(RELAYSIM_SOURCE_DIR "/scenarios/kernel-stress.json", seed);
  loaded.world->start();
  loaded.world->run_until(loaded.until);
  return {loaded.world->digest(), loaded.world->trace_events(), loaded.world->status_lines()};
}

}  // namespace

TEST_CASE("the same world and seed give the same digest, twice in one process", "[determinism]") {
  const Outcome first = run(std::nullopt);
  const Outcome second = run(std::nullopt);
  CHECK(first.trace_events > 500);  // a world with enough going on to be worth comparing
  CHECK(first.digest == second.digest);
  CHECK(first.trace_events == second.trace_events);
  CHECK(first.status == second.status);
}

TEST_CASE("a different seed gives a different digest", "[determinism]") { CHECK(run(1).digest != run(2).digest); }

TEST_CASE("two worlds interleaved in one process do not influence each other", "[determinism]") {
  const Outcome alone = run(std::nullopt);
  auto a = scenario::load_world_file(RELAYSIM_SOURCE_DIR "/scenarios/kernel-stress.json", std::nullopt);
  auto b = scenario::load_world_file(RELAYSIM_SOURCE_DIR "/scenarios/kernel-stress.json", 99);
  a.world->start();
  b.world->start();
  bool more_a = true, more_b = true;
  while (more_a || more_b) {
    if (more_a) more_a = a.world->step();
    if (more_b) more_b = b.world->step();
  }
  CHECK(a.world->digest() == alone.digest);
}

TEST_CASE("the stress world's nodes all finish despite every fault", "[determinism]") {
  const Outcome outcome = run(std::nullopt);
  REQUIRE(outcome.status.size() == 5);
  CHECK_THAT(outcome.status[0], Catch::Contains("answered 60/60"));
  CHECK_THAT(outcome.status[1], Catch::Contains("answered 60/60"));
  CHECK_THAT(outcome.status[2], Catch::Contains("answered 40/40"));
}
