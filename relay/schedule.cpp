#include "relay/schedule.hpp"

#include <algorithm>

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
  RetryDecision decision{now + delay, delay, false,
                         "backoff " + format_duration(delay) + " (age " + format_duration(age) + ", bounds " +
                             format_duration(minimal_backoff) + ".." + format_duration(maximal_backoff) + ")"};
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

void Schedule::set(const QueueId& id, Instant due) {
  erase(id);
  due_.emplace(id, due);
  order_.emplace(due, id);
}

void Schedule::erase(const QueueId& id) {
  const auto found = due_.find(id);
  if (found == due_.end()) return;
  order_.erase({found->second, id});
  due_.erase(found);
}

std::optional<Instant> Schedule::next_due() const {
  if (order_.empty()) return std::nullopt;
  return order_.begin()->first;
}

std::vector<QueueId> Schedule::take_due(Instant now, std::size_t limit) {
  std::vector<QueueId> taken;
  while (!order_.empty() && taken.size() < limit && order_.begin()->first <= now) {
    taken.push_back(order_.begin()->second);
    due_.erase(taken.back());
    order_.erase(order_.begin());
  }
  return taken;
}

}  // namespace relaysim::relay
