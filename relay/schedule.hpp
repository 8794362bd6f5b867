#pragma once
// The retry scheduler: a pure policy over virtual time. It answers two questions - which messages
// are due now, and when to wake next - and never sleeps or scans the whole queue: due times sit in
// an ordered index, so a tick costs O(log n) per message taken.
//
// Backoff follows Postfix: after a failed attempt the next one waits the message's age in the
// queue, clamped to [minimal_backoff_time, maximal_backoff_time], so gaps roughly double and then
// hold; each delay is moved by up to retry_jitter_percent, drawn from the relay's seeded stream and
// kept within the same bounds. A message is bounced with 4.4.7 when an attempt fails at or after
// its expiry (arrival + maximal_queue_lifetime, or bounce_queue_lifetime for notifications); the
// last attempt is placed at the expiry itself, so a destination that never answers bounces on time.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/random.hpp"
#include "io/time.hpp"
#include "relay/config.hpp"
#include "relay/id_table.hpp"
#include "relay/queue.hpp"

namespace relaysim::relay {

struct RetryDecision {
  Instant next_attempt;
  Duration delay;
  bool last_attempt = false;  // placed at the expiry: failing again bounces
  std::string reason;         // why this time, for the trace
};

struct RetryPolicy {
  Duration minimal_backoff = std::chrono::seconds(300);
  Duration maximal_backoff = std::chrono::seconds(4000);
  Duration queue_lifetime = std::chrono::hours(5 * 24);
  Duration bounce_lifetime = std::chrono::hours(5 * 24);
  int jitter_percent = 10;
  BrokenVariant broken_variant = BrokenVariant::none;

  static RetryPolicy from(const RelayConfig& config);

  // When a message that arrived at `arrival` should be tried next after failing at `now`.
  RetryDecision after_failure(Instant arrival, Instant now, bool notification, io::Random& random) const;
  // When it must be bounced with 4.4.7 if still undelivered.
  Instant expiry(Instant arrival, bool notification) const;
};

// Due times by message id. Each message has at most one due time.
class Schedule {
 public:
  void set(const QueueId& id, Instant due);
  void erase(const QueueId& id);
  bool contains(const QueueId& id) const { return due_.contains(id); }
  std::size_t size() const { return due_.size(); }
  // The earliest due time, if any: when to wake next.
  std::optional<Instant> next_due() const;
  // Removes and returns, earliest first (then by id), up to `limit` messages due at or before `now`.
  std::vector<QueueId> take_due(Instant now, std::size_t limit);

 private:
  // The order: (due, id) pairs in buckets of one second, in a map by second. Retries mostly land
  // seconds to hours ahead, so a set() appends to a bucket nobody reads yet; the earliest bucket
  // is sorted once when it comes to the front (it is kept sorted after that). Taking costs no
  // reordering of the rest, and nothing is allocated per entry. A changed or erased due time
  // leaves its old pair behind, stale (it no longer matches due_); stale pairs are dropped when
  // they come to the front, and all at once when they outnumber the live ones.
  using Slot = std::pair<Instant, QueueId>;
  struct Bucket {
    std::vector<Slot> slots;
    std::size_t next = 0;  // slots before it are taken
    bool sorted = false;
  };
  void push(const Slot& slot);
  const Slot& front() const { return buckets_.begin()->second.slots[buckets_.begin()->second.next]; }
  void pop_front();
  void sort_front();
  void drop_stale_front();
  bool live(const Slot& slot) const;
  std::map<std::int64_t, Bucket> buckets_;  // by the due time's second; the first one is sorted
  std::size_t stale_ = 0;                   // stale pairs: none, the usual case, costs no check
  IdTable<Instant> due_;
};

}  // namespace relaysim::relay
