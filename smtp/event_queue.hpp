#pragma once
// The sessions' event queues: first in, first out, reusing their storage once drained, so a
// session's events cost no allocation after the first few.

#include <optional>
#include <utility>
#include <vector>

namespace relaysim::smtp {

template <typename Event>
class EventQueue {
 public:
  template <typename Value>
  void push_back(Value&& value) {
    items_.emplace_back(std::forward<Value>(value));
  }
  std::optional<Event> pop() {
    if (head_ == items_.size()) return std::nullopt;
    std::optional<Event> event(std::move(items_[head_++]));
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    }
    return event;
  }
  bool empty() const { return head_ == items_.size(); }

 private:
  std::vector<Event> items_;
  std::size_t head_ = 0;
};

}  // namespace relaysim::smtp
