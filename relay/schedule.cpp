#include "relay/schedule.hpp"

#include <algorithm>
#include <functional>

#include "io/assert.hpp"
#include "relay/broken_variant.hpp"

namespace relaysim::relay {

RetryPolicy RetryPolicy::from(const RelayConfig& config) {
  return {config.minimal_backoff_time, config.maximal_backoff_time, config.maximal_queue_lifetime,
          config.bounce_queue_lifetime, config.retry_jitter_percent};
}

RetryDecision RetryPolicy::after_failure(Instant arrival, Instant now, bool notification, io::Random& random) const {
  RELAYSIM_ASSERT(minimal_backoff <= maximal_backoff);
  const Duration age = std::max(now - arrival, Duration(0));
  Duration delay = std::clamp(age, minimal_backoff, maximal_backoff);
  if (jitter_percent > 0) {
    const Duration spread = delay * jitter_percent / 100;
    delay = std::clamp(delay + random.duration_between(-spread, spread), minimal_backoff, maximal_backoff);
  }
  if (broken_variant() == BrokenVariant::no_backoff) delay = std::chrono::seconds(30);
  RetryDecision decision{now + delay, delay, false, {}};
  decision.reason.reserve(64);
  decision.reason.append("backoff ").append(format_duration(delay)).append(" (age ").append(format_duration(age));
  decision.reason.append(", bounds ").append(format_duration(minimal_backoff)).append("..").append(format_duration(maximal_backoff)).append(")");
  const Instant expires = expiry(arrival, notification);
  if (decision.next_attempt >= expires && broken_variant() != BrokenVariant::never_expire) {
    decision.next_attempt = std::max(expires, now);
    decision.delay = decision.next_attempt - now;
    decision.last_attempt = true;
    decision.reason = "last attempt at the queue lifetime's end (" +
                      format_duration(notification ? bounce_lifetime : queue_lifetime) + ")";
  }
  return decision;
}

namespace {
// std::push_heap and friends build a max-heap: ordering by "greater" puts the earliest on top.
constexpr auto later = std::greater<>();
}  // namespace

bool Schedule::live(const Slot& slot) const {
  const Instant* due = due_.find(slot.second);
  return due != nullptr && *due == slot.first;
}

void Schedule::drop_stale_top() {
  while (stale_ > 0 && !order_.empty() && !live(order_.front())) {
    std::pop_heap(order_.begin(), order_.end(), later);
    order_.pop_back();
    stale_ -= 1;
  }
  if (stale_ > due_.size() + 64) {
    order_.clear();
    due_.for_each([this](const QueueId& id, Instant due) { order_.emplace_back(due, id); });
    std::make_heap(order_.begin(), order_.end(), later);
    stale_ = 0;
  }
}

void Schedule::set(const QueueId& id, Instant due) {
  const auto [found, added] = due_.try_emplace(id, due);
  if (!added) {
    if (*found == due) return;
    *found = due;
    stale_ += 1;  // the entry for the old time
  }
  order_.emplace_back(due, id);
  std::push_heap(order_.begin(), order_.end(), later);
  drop_stale_top();
}

void Schedule::erase(const QueueId& id) {
  if (!due_.erase(id)) return;
  stale_ += 1;
  drop_stale_top();
}

std::optional<Instant> Schedule::next_due() const {
  if (order_.empty()) return std::nullopt;
  return order_.front().first;  // never stale: every change drops stale entries from the top
}

std::vector<QueueId> Schedule::take_due(Instant now, std::size_t limit) {
  std::vector<QueueId> taken;
  while (!order_.empty() && taken.size() < limit && order_.front().first <= now) {
    taken.push_back(order_.front().second);
    due_.erase(taken.back());
    std::pop_heap(order_.begin(), order_.end(), later);
    order_.pop_back();
    drop_stale_top();
  }
  return taken;
}

}  // namespace relaysim::relay
