#include "sim/event_loop.hpp"

#include <algorithm>

#include "io/assert.hpp"

namespace relaysim::sim {

std::uint64_t EventLoop::schedule(Instant when, Action action, const std::uint32_t* guard, std::uint32_t guard_value) {
  RELAYSIM_ASSERT(when >= now_);
  RELAYSIM_ASSERT(live_ < events_pending_max);
  std::uint32_t slot = 0;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& entry = slots_[slot];
  entry.action = std::move(action);
  entry.guard = guard;
  entry.guard_value = guard_value;
  entry.live = true;
  ++live_;
  heap_.push_back({when, next_sequence_++, slot, entry.generation});
  std::push_heap(heap_.begin(), heap_.end(), later);
  if (heap_.size() > 1024 && heap_.size() > 4 * live_) compact();
  return (std::uint64_t{entry.generation} << 32) | slot;
}

void EventLoop::cancel(std::uint64_t id) {
  const auto slot = static_cast<std::uint32_t>(id);
  const auto generation = static_cast<std::uint32_t>(id >> 32);
  if (slot >= slots_.size()) return;
  Slot& entry = slots_[slot];
  if (!entry.live || entry.generation != generation) return;
  release(slot);
}

void EventLoop::release(std::uint32_t slot) {
  Slot& entry = slots_[slot];
  entry.action = nullptr;
  entry.live = false;
  entry.generation = (entry.generation + 1) & generation_mask;  // bit 63 of an id stays clear
  if (entry.generation == 0) entry.generation = 1;
  --live_;
  free_slots_.push_back(slot);
}

void EventLoop::drop_dead_top() {
  while (!heap_.empty()) {
    const Entry& top = heap_.front();
    const Slot& slot = slots_[top.slot];
    if (slot.live && slot.generation == top.generation) return;
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
  }
}

void EventLoop::compact() {
  std::erase_if(heap_, [this](const Entry& entry) {
    const Slot& slot = slots_[entry.slot];
    return !slot.live || slot.generation != entry.generation;
  });
  std::make_heap(heap_.begin(), heap_.end(), later);
}

Instant EventLoop::next_time() {
  drop_dead_top();
  return heap_.empty() ? Instant::max() : heap_.front().time;
}

bool EventLoop::run_next(Instant limit) {
  drop_dead_top();
  if (heap_.empty() || heap_.front().time > limit) return false;
  const Entry top = heap_.front();
  std::pop_heap(heap_.begin(), heap_.end(), later);
  heap_.pop_back();
  Slot& slot = slots_[top.slot];
  Action action = std::move(slot.action);
  const bool guarded_out = slot.guard != nullptr && *slot.guard != slot.guard_value;
  release(top.slot);
  now_ = top.time;
  if (!guarded_out) {
    ++executed_;
    action();
  }
  return true;
}

void EventLoop::advance_to(Instant when) {
  RELAYSIM_ASSERT(when >= now_);
  RELAYSIM_ASSERT(next_time() >= when);
  now_ = when;
}

}  // namespace relaysim::sim
