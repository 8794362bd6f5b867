#pragma once
// The simulation's event loop: one thread, events ordered by (virtual time, sequence number), time
// jumps to the next event. Cancellation is O(1) (the slot's generation changes); cancelled entries
// are skipped when they surface and the heap is compacted when they outnumber live ones.
//
// Bounds: the heap and the slot table grow with the number of scheduled events; both are limited
// by `events_pending_max`, past which scheduling asserts (a world with that many simultaneous
// timers and packets in flight is a bug in a scenario generator, not a workload).

#include <cstdint>
#include <functional>
#include <vector>

#include "io/time.hpp"

namespace relaysim::sim {

class EventLoop {
 public:
  using Action = std::function<void()>;
  static constexpr std::size_t events_pending_max = 64 * 1024 * 1024;
  // Ids never have bit 63 set, so owners may use it to tell their own ids apart.
  static constexpr std::uint32_t generation_mask = 0x7FFF'FFFF;

  explicit EventLoop(Instant start) : now_(start) {}

  Instant now() const { return now_; }
  // Schedules `action` at `when` (not before now). `guard`, when given, must still equal
  // `guard_value` when the event comes due, else the event is skipped: this is how everything a
  // crashed process had scheduled is dropped without tracking each event.
  std::uint64_t schedule(Instant when, Action action, const std::uint32_t* guard = nullptr,
                         std::uint32_t guard_value = 0);
  // No-op for ids that already ran or were cancelled, and for 0, which is never an id.
  void cancel(std::uint64_t id);

  // Runs the next event due at or before `limit`; false when there is none (time then stays).
  bool run_next(Instant limit);
  // The instant of the next live event, or Instant::max() when there is none.
  Instant next_time();
  // Advances time without running anything (to a stated end of run).
  void advance_to(Instant when);

  std::size_t pending() const { return live_; }
  std::uint64_t executed() const { return executed_; }

 private:
  struct Entry {
    Instant time;
    std::uint64_t sequence;
    std::uint32_t slot;
    std::uint32_t generation;
  };
  struct Slot {
    Action action;
    const std::uint32_t* guard = nullptr;
    std::uint32_t guard_value = 0;
    std::uint32_t generation = 1;  // never 0, so that 0 is never an id
    bool live = false;
  };
  static bool later(const Entry& a, const Entry& b) {
    return a.time != b.time ? a.time > b.time : a.sequence > b.sequence;
  }
  void drop_dead_top();
  void release(std::uint32_t slot);
  void compact();

  Instant now_;
  std::uint64_t next_sequence_ = 0;
  std::uint64_t executed_ = 0;
  std::size_t live_ = 0;
  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
};

}  // namespace relaysim::sim
