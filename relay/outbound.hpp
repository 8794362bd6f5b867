#pragma once
// The relay's outbound side: the scheduler's clock, destinations with their delivery slots, and
// what each delivery's outcome does to the queue.
//
// A due message is split into jobs - its due recipients, grouped by domain, at most
// default_destination_recipient_limit each - and each job waits for a slot of its destination
// (at most default_destination_concurrency_limit at once). A destination where no server even
// greeted us is remembered as dead for half of minimal_backoff_time: its waiting and new jobs are
// deferred at once ("delivery temporarily suspended"), so one dead MX does not hold the queue; the
// retries of the deferred jobs, a whole minimal_backoff_time later, find it alive again and probe.
// At most qmgr_message_active_limit messages are being delivered at once (read from the queue and
// waiting in jobs or in slots), as in Postfix's active queue: past it, due messages wait in the
// schedule until a delivery finishes, so a destination that is slow to fail cannot pull the whole
// queue into memory.
//
// Outcomes are made durable in this order: first any notification (a DSN is a new queued message
// from <>), then the recipients' new states in one fsynced append. A crash in between leaves the
// recipient deferred, to be tried again: a notice may be sent twice, never lost. Failures bounce
// at once; transient failures are deferred by the retry policy, and bounce with 4.4.7 when the
// message outlives maximal_queue_lifetime. NOTIFY is honoured; nothing is ever sent to <>, and a
// notification that cannot be delivered is dropped and logged.

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "io/io.hpp"
#include "relay/bounce.hpp"
#include "relay/config.hpp"
#include "relay/delivery.hpp"
#include "relay/queue.hpp"
#include "relay/routing.hpp"
#include "relay/schedule.hpp"
#include "relay/tls_report.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::relay {

using smtp::DsnAction;

struct OutboundCounters {
  std::uint64_t delivered = 0;  // recipients
  std::uint64_t bounced = 0;    // recipients, expired ones included
  std::uint64_t expired = 0;
  std::uint64_t deferred = 0;  // deferrals (a recipient may count many times)
  std::uint64_t possible_duplicates = 0;
  std::uint64_t notifications = 0;          // DSNs queued
  std::uint64_t notifications_dropped = 0;  // undeliverable notifications, dropped
};

class Outbound final : public DeliveryOwner {
 public:
  Outbound(io::Io& io, const RelayConfig& config, Queue& queue, DeliveryTls tls);
  ~Outbound() override;

  // Schedules every message the queue holds (after recovery).
  void start();
  // A message found by a later recovery pass: scheduled at its recipients' next attempt.
  void recovered(const QueueId& id) { reschedule(id); }
  // A message was stored (or released from hold): schedule it now.
  void enqueue(const QueueId& id);
  // Every deferred message is due now (postqueue -f).
  void flush();

  const OutboundCounters& counters() const { return counters_; }
  std::size_t scheduled() const { return schedule_.size(); }
  std::size_t jobs_in_flight() const { return jobs_in_flight_; }

 private:
  struct Destination {
    std::deque<DeliveryJob> waiting;
    std::vector<std::unique_ptr<Delivery>> slots;
    std::set<Delivery*> idle;  // slots with no job and no connection
    Instant dead_until;
    std::string dead_reason;
    std::string suspended_reason;  // what a job deferred meanwhile says: "delivery temporarily suspended: <why>"
    io::Pending pump;
  };

  void job_done(Delivery& slot, const DeliveryJob& job, DeliveryReport report) override;
  std::optional<DeliveryJob> next_job(Delivery& slot) override;
  void slot_idle(Delivery& slot) override;
  bool destination_busy(const Delivery& slot) const override;

  void arm_timer();
  void on_timer();
  void dispatch(const QueueId& id);
  // A message whose due recipients all wait for a dead destination, made from the queue's summary
  // (no file read) when deferring them is all that can happen; null otherwise.
  std::shared_ptr<const QueuedMessage> deferral_without_file(const QueueId& id, const QueueEntry& entry,
                                                             const std::vector<std::size_t>& due, Instant now) const;
  void pump(const std::string& destination);
  void schedule_pump(const std::string& destination);
  // Defers a job without trying it: its destination is dead, or its content cannot be read.
  void suspend(const DeliveryJob& job, const std::string& status, const std::string& reason);
  void apply(const DeliveryJob& job, const DeliveryReport& report);
  void reschedule(const QueueId& id);
  void retry_later(const QueueId& id);  // after a disk error: a backoff, not a loop
  // What one job's outcomes still have to make durable: notifications, then the states.
  struct PendingOutcome {
    QueueId message_id;
    std::shared_ptr<const QueuedMessage> message;     // as loaded for the delivery
    std::vector<std::pair<Notice, QueueId>> notices;  // with the id each will be stored under
    std::size_t next = 0;
    std::vector<Queue::StateChange> changes;
    std::map<std::size_t, RecipientOutcome> outcomes;
    Instant expires;
  };
  void record(std::shared_ptr<PendingOutcome> pending);
  void job_finished(const QueueId& id, bool write_failed);
  void log(std::string_view line);

  io::Io& io_;
  const RelayConfig& config_;
  Queue& queue_;
  DeliveryTls tls_;
  RetryPolicy policy_;
  io::Random jitter_;
  Router router_;
  mta_sts::Resolver mta_sts_;                      // before destinations_: their deliveries hold lookups in it
  std::unique_ptr<tlsrpt::Reporter> tls_reports_;  // smtp_tlsrpt_enable; before destinations_ too
  // A TLS report to queue as mail (from <>), scheduled once it is durable.
  void queue_report(QueuedMessage message, std::function<void(bool stored)> done);
  Schedule schedule_;
  io::Pending wake_;
  Instant wake_at_ = Instant::max();
  std::map<std::string, Destination> destinations_;
  struct InFlight {
    int jobs = 0;  // not yet applied
    bool write_failed = false;
  };
  IdTable<InFlight> in_flight_;  // by message id
  std::size_t active_limit() const;
  bool active_full_ = false;  // the limit is reached (traced once each time it is)
  std::size_t jobs_in_flight_ = 0;
  int variant_loops_ = 0;  // the bounce_loop variant's count (relay/broken_variant.hpp)
  OutboundCounters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// How long a destination where nobody answered is skipped.
Duration dead_destination_time(const RelayConfig& config);

}  // namespace relaysim::relay
