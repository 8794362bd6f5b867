#include <catch2/catch.hpp>

#include "sim/event_loop.hpp"

using namespace relaysim;
using relaysim::sim::EventLoop;

TEST_CASE("events run in time order, and in scheduling order at the same instant", "[event_loop]") {
  EventLoop loop(Instant::from_unix_seconds(100));
  std::string order;
  loop.schedule(Instant::from_unix_seconds(102), [&] { order += 'c'; });
  loop.schedule(Instant::from_unix_seconds(101), [&] { order += 'a'; });
  loop.schedule(Instant::from_unix_seconds(101), [&] { order += 'b'; });
  while (loop.run_next(Instant::max())) {}
  CHECK(order == "abc");
  CHECK(loop.now() == Instant::from_unix_seconds(102));
}

TEST_CASE("a cancelled event never runs and cancelling twice is harmless", "[event_loop]") {
  EventLoop loop{Instant()};
  bool ran = false;
  const auto id = loop.schedule(Instant() + 1s, [&] { ran = true; });
  loop.cancel(id);
  loop.cancel(id);
  CHECK(loop.pending() == 0);
  CHECK_FALSE(loop.run_next(Instant::max()));
  CHECK_FALSE(ran);
}

TEST_CASE("an id that ran does not cancel the event that reused its slot", "[event_loop]") {
  EventLoop loop{Instant()};
  const auto first = loop.schedule(Instant(), [] {});
  REQUIRE(loop.run_next(Instant::max()));
  bool second_ran = false;
  loop.schedule(Instant() + 1s, [&] { second_ran = true; });
  loop.cancel(first);
  while (loop.run_next(Instant::max())) {}
  CHECK(second_ran);
}

TEST_CASE("a guard that changed drops the event", "[event_loop]") {
  EventLoop loop{Instant()};
  std::uint32_t epoch = 0;
  bool ran = false;
  loop.schedule(
      Instant() + 1s, [&] { ran = true; }, &epoch, epoch);
  epoch += 1;  // the owning process crashed
  while (loop.run_next(Instant::max())) {}
  CHECK_FALSE(ran);
  CHECK(loop.executed() == 0);
}

TEST_CASE("run_next stops at the limit and leaves later events alone", "[event_loop]") {
  EventLoop loop{Instant()};
  int runs = 0;
  loop.schedule(Instant() + 1s, [&] { ++runs; });
  loop.schedule(Instant() + 3s, [&] { ++runs; });
  while (loop.run_next(Instant() + 2s)) {}
  CHECK(runs == 1);
  CHECK(loop.next_time() == Instant() + 3s);
  loop.advance_to(Instant() + 2s);
  CHECK(loop.now() == Instant() + 2s);
}

TEST_CASE("heavy cancellation compacts the heap without changing the order", "[event_loop]") {
  EventLoop loop{Instant()};
  std::vector<int> order;
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 10'000; ++i) {
    ids.push_back(loop.schedule(Instant() + Duration(10'000 - i), [&order, i] { order.push_back(i); }));
  }
  for (int i = 0; i < 10'000; ++i) {
    if (i % 100 != 0) loop.cancel(ids[static_cast<std::size_t>(i)]);
  }
  for (int i = 0; i < 5'000; ++i) loop.schedule(Instant() + 20s, [] {});  // triggers compaction
  while (loop.run_next(Instant() + 1s)) {}
  REQUIRE(order.size() == 100);
  for (std::size_t i = 1; i < order.size(); ++i) CHECK(order[i - 1] > order[i]);
}

TEST_CASE("0 is never an event id, so cancelling it touches nothing", "[event_loop]") {
  EventLoop loop{Instant()};
  bool ran = false;
  const auto id = loop.schedule(Instant() + 1s, [&] { ran = true; });
  CHECK(id != 0);
  loop.cancel(0);
  while (loop.run_next(Instant::max())) {}
  CHECK(ran);
}
