#pragma once
// A hash table keyed by queue id, in one array: open addressing with linear probing, at most half
// full, deletion by shifting the following entries back (no tombstones). A lookup costs one cache
// miss where a node-based std::unordered_map costs two or three; at a million queued messages
// (the outage and memory benchmarks) that is most of the scheduler's time. Iteration follows the
// array, which is deterministic: the same operations give the same order.

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "relay/queue_id.hpp"

namespace relaysim::relay {

template <typename Value>
class IdTable {
 public:
  Value* find(const QueueId& id) {
    if (size_ == 0) return nullptr;
    for (std::size_t i = home(id);; i = next(i)) {
      if (!slots_[i]) return nullptr;
      if (slots_[i]->first == id) return &slots_[i]->second;
    }
  }
  const Value* find(const QueueId& id) const { return const_cast<IdTable*>(this)->find(id); }
  bool contains(const QueueId& id) const { return find(id) != nullptr; }

  // The value for `id`, inserted from `value` if absent; true when inserted.
  std::pair<Value*, bool> try_emplace(const QueueId& id, Value value) {
    if (Value* found = find(id)) return {found, false};
    if ((size_ + 1) * 2 > slots_.size()) grow();
    std::size_t i = home(id);
    while (slots_[i]) i = next(i);
    slots_[i].emplace(id, std::move(value));
    size_ += 1;
    return {&slots_[i]->second, true};
  }
  Value& operator[](const QueueId& id) { return *try_emplace(id, Value()).first; }

  bool erase(const QueueId& id) {
    if (size_ == 0) return false;
    std::size_t hole = home(id);
    while (true) {
      if (!slots_[hole]) return false;
      if (slots_[hole]->first == id) break;
      hole = next(hole);
    }
    // Entries after the hole that probed past it move back into it, until an empty slot.
    for (std::size_t j = next(hole); slots_[j]; j = next(j)) {
      const std::size_t wanted = home(slots_[j]->first);
      const bool stays = hole <= j ? (hole < wanted && wanted <= j) : (hole < wanted || wanted <= j);
      if (stays) continue;
      slots_[hole] = std::move(slots_[j]);
      hole = j;
    }
    slots_[hole].reset();
    size_ -= 1;
    return true;
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() {
    slots_.clear();
    size_ = 0;
  }

  // Calls f(id, value) for every entry, in table order.
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& slot : slots_) {
      if (slot) f(slot->first, slot->second);
    }
  }

 private:
  static std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }
  std::size_t home(const QueueId& id) const {
    return static_cast<std::size_t>(mix(id.time ^ (static_cast<std::uint64_t>(id.rest) << 32 | id.rest))) &
           (slots_.size() - 1);
  }
  std::size_t next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }
  void grow() {
    std::vector<std::optional<std::pair<QueueId, Value>>> old = std::move(slots_);
    slots_ = std::vector<std::optional<std::pair<QueueId, Value>>>(old.empty() ? 16 : old.size() * 2);
    size_ = 0;
    for (auto& slot : old) {
      if (!slot) continue;
      std::size_t i = home(slot->first);
      while (slots_[i]) i = next(i);
      slots_[i] = std::move(slot);
      size_ += 1;
    }
  }

  std::vector<std::optional<std::pair<QueueId, Value>>> slots_;
  std::size_t size_ = 0;
};

}  // namespace relaysim::relay
