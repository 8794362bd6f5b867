#include "relay/schedule.hpp"

#include <algorithm>

#include "io/assert.hpp"
#include "relay/broken_variant.hpp"

namespace relaysim::relay {

RetryPolicy RetryPolicy::from(const RelayConfig& config) {
  return {config.minimal_backoff_time,  config.maximal_backoff_time, config.maximal_queue_lifetime,
          config.bounce_queue_lifetime, config.retry_jitter_percent, config.broken_variant};
}

Instant RetryPolicy::expiry(Instant arrival, bool notification) const {
  const Duration lifetime = notification ? bounce_lifetime : queue_lifetime;
  return arrival + (broken_variant == BrokenVariant::early_expiry ? lifetime / 2 : lifetime);
}

RetryDecision RetryPolicy::after_failure(Instant arrival, Instant now, bool notification, io::Random& random) const {
  RELAYSIM_ASSERT(minimal_backoff <= maximal_backoff);
  const Duration age = std::max(now - arrival, Duration(0));
  Duration delay = std::clamp(age, minimal_backoff, maximal_backoff);
  if (jitter_percent > 0) {
    const Duration spread = delay * jitter_percent / 100;
    delay = std::clamp(delay + random.duration_between(-spread, spread), minimal_backoff, maximal_backoff);
  }
  if (broken_variant == BrokenVariant::no_backoff) delay = std::chrono::seconds(30);
  RetryDecision decision{now + delay, delay, false, {}};
  decision.reason.reserve(64);
  decision.reason.append("backoff ").append(format_duration(delay)).append(" (age ").append(format_duration(age));
  decision.reason.append(", bounds ")
      .append(format_duration(minimal_backoff))
      .append("..")
      .append(format_duration(maximal_backoff))
      .append(")");
  const Instant expires = expiry(arrival, notification);
  if (decision.next_attempt >= expires && broken_variant != BrokenVariant::never_expire) {
    decision.next_attempt = std::max(expires, now);
    decision.delay = decision.next_attempt - now;
    decision.last_attempt = true;
    decision.reason = "last attempt at the queue lifetime's end (" +
                      format_duration(notification ? bounce_lifetime : queue_lifetime) + ")";
  }
  return decision;
}

bool Schedule::live(const Slot& slot) const {
  const Instant* due = due_.find(slot.second);
  return due != nullptr && *due == slot.first;
}

void Schedule::sort_front() {
  if (buckets_.empty()) return;
  Bucket& bucket = buckets_.begin()->second;
  if (bucket.sorted) return;
  std::sort(bucket.slots.begin() + static_cast<std::ptrdiff_t>(bucket.next), bucket.slots.end());
  bucket.sorted = true;
}

void Schedule::push(const Slot& slot) {
  const auto [found, added] = buckets_.try_emplace(slot.first.unix_seconds());
  Bucket& bucket = found->second;
  if (bucket.sorted) {
    // The front bucket: into its place among the slots not yet taken.
    const auto at =
        std::upper_bound(bucket.slots.begin() + static_cast<std::ptrdiff_t>(bucket.next), bucket.slots.end(), slot);
    bucket.slots.insert(at, slot);
  } else {
    bucket.slots.push_back(slot);
  }
  if (found == buckets_.begin()) sort_front();
}

void Schedule::pop_front() {
  Bucket& bucket = buckets_.begin()->second;
  if (++bucket.next == bucket.slots.size()) {
    buckets_.erase(buckets_.begin());
    sort_front();
  }
}

void Schedule::drop_stale_front() {
  while (stale_ > 0 && !buckets_.empty() && !live(front())) {
    pop_front();
    stale_ -= 1;
  }
  if (stale_ > due_.size() + 64) {
    buckets_.clear();
    stale_ = 0;
    std::vector<Slot> live_slots;
    live_slots.reserve(due_.size());
    due_.for_each([&live_slots](const QueueId& id, Instant due) { live_slots.emplace_back(due, id); });
    for (const Slot& slot : live_slots) push(slot);
  }
}

void Schedule::set(const QueueId& id, Instant due) {
  const auto [found, added] = due_.try_emplace(id, due);
  if (!added) {
    if (*found == due) return;
    *found = due;
    stale_ += 1;  // the pair for the old time
  }
  push({due, id});
  drop_stale_front();
}

void Schedule::erase(const QueueId& id) {
  if (!due_.erase(id)) return;
  stale_ += 1;
  drop_stale_front();
}

std::optional<Instant> Schedule::next_due() const {
  if (buckets_.empty()) return std::nullopt;
  return front().first;  // never stale: every change drops stale pairs from the front
}

std::vector<QueueId> Schedule::take_due(Instant now, std::size_t limit) {
  std::vector<QueueId> taken;
  while (!buckets_.empty() && taken.size() < limit && front().first <= now) {
    taken.push_back(front().second);
    due_.erase(taken.back());
    pop_front();
    drop_stale_front();
  }
  return taken;
}

}  // namespace relaysim::relay
