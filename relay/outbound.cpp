#include "relay/outbound.hpp"
#include "relay/events.hpp"

#include <array>
#include <charconv>
#include <cstdio>

#include "io/assert.hpp"
#include "io/text.hpp"
#include "relay/bounce.hpp"
#include "relay/broken_variant.hpp"
#include "relay/maillog.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::relay {
namespace {

// Jobs taken per wake-up: a large backlog is dispatched in slices, letting other events run.
constexpr std::size_t dispatch_batch_max = 1000;

}  // namespace

Duration dead_destination_time(const RelayConfig& config) { return config.minimal_backoff_time / 2; }

Outbound::Outbound(io::Io& io, const RelayConfig& config, Queue& queue, DeliveryTls tls)
    : io_(io),
      config_(config),
      queue_(queue),
      tls_(tls),
      policy_(RetryPolicy::from(config)),
      jitter_(io.random_stream("retry-jitter")),
      router_(io, config),
      mta_sts_(io, config, tls.verify) {
  if (config.smtp_tlsrpt_enable) {
    tls_reports_ = std::make_unique<tlsrpt::Reporter>(io, config, tls.verify,
                                                      [this](QueuedMessage message, std::function<void(bool)> done) {
                                                        queue_report(std::move(message), std::move(done));
                                                      });
  }
}

void Outbound::queue_report(QueuedMessage message, std::function<void(bool stored)> done) {
  queue_.store(std::move(message), [this, alive = alive_, done = std::move(done)](io::Result<QueueId> stored) {
    if (!*alive) return;
    if (stored) enqueue(stored.value());
    done(static_cast<bool>(stored));
  });
}

Outbound::~Outbound() {
  *alive_ = false;
  destinations_.clear();  // slots first: they hold the router's lookups
}

void Outbound::log(std::string_view line) { io_.observe(io::LogLine{line}); }

void Outbound::start() {
  for (const QueueId& id : queue_.ids()) reschedule(id);
}

void Outbound::enqueue(const QueueId& id) {
  if (in_flight_.contains(id)) return;  // in flight: rescheduled when its jobs are done
  schedule_.set(id, io_.now());
  arm_timer();
}

void Outbound::flush() {
  queue_.entries().for_each([this](const QueueId& id, const std::unique_ptr<QueueEntry>& entry) {
    if (!entry->held) enqueue(id);
  });
  for (auto& [name, destination] : destinations_) destination.dead_until = Instant();
}

std::size_t Outbound::active_limit() const {
  return static_cast<std::size_t>(std::max(1, config_.qmgr_message_active_limit));
}

void Outbound::arm_timer() {
  const std::optional<Instant> next = schedule_.next_due();
  // With the active limit reached, nothing more is taken until a delivery finishes (job_finished).
  if (!next || in_flight_.size() >= active_limit()) {
    wake_.cancel();
    wake_at_ = Instant::max();
    return;
  }
  const Instant when = std::max(*next, io_.now());
  if (wake_.armed() && wake_at_ == when) return;
  wake_at_ = when;
  wake_ = io_.at(when, [this] {
    wake_at_ = Instant::max();
    on_timer();
  });
}

void Outbound::on_timer() {
  const std::size_t room = active_limit() > in_flight_.size() ? active_limit() - in_flight_.size() : 0;
  for (const QueueId& id : schedule_.take_due(io_.now(), std::min(dispatch_batch_max, room))) dispatch(id);
  const bool full = in_flight_.size() >= active_limit();
  if (full && !active_full_) {
    io_.trace("relay.active_full",
              {{"messages", in_flight_.size()}, {"limit", active_limit()}, {"scheduled", schedule_.size()}});
  }
  active_full_ = full;
  arm_timer();
}

void Outbound::reschedule(const QueueId& id) {
  const QueueEntry* entry = queue_.find(id);
  if (entry == nullptr || entry->held || in_flight_.contains(id)) return;
  std::optional<Instant> due;
  for (const RecipientStatus& recipient : entry->recipients) {
    if (recipient.final()) continue;
    due = due ? std::min(*due, recipient.next_attempt) : recipient.next_attempt;
  }
  if (!due) return;
  schedule_.set(id, std::max(*due, io_.now()));
  arm_timer();
}

void Outbound::retry_later(const QueueId& id) {
  schedule_.set(id, io_.now() + config_.minimal_backoff_time);
  arm_timer();
}

void Outbound::dispatch(const QueueId& id) {
  const QueueEntry* entry = queue_.find(id);
  if (entry == nullptr || entry->held || in_flight_.contains(id)) return;
  const Instant now = io_.now();
  std::vector<std::size_t> due;
  for (std::size_t i = 0; i < entry->recipients.size(); ++i) {
    const RecipientStatus& recipient = entry->recipients[i];
    if (!recipient.final() && recipient.next_attempt <= now) due.push_back(i);
  }
  if (due.empty()) return reschedule(id);
  // The rest of the message is on disk: envelope, addresses, content - unless every due recipient
  // waits for a dead destination, when the summary's addresses are all the deferral reads.
  std::shared_ptr<const QueuedMessage> message = deferral_without_file(id, *entry, due, now);
  if (!message) {
    io::Result<QueuedMessage> loaded = queue_.load(id);
    if (!loaded) {
      log("warning: " + id.to_string() + ": cannot read the queue file: " + loaded.error().detail);
      return retry_later(id);
    }
    message = std::make_shared<const QueuedMessage>(std::move(loaded).value());
  }
  // Due recipients by domain; std::map keeps the job order independent of recipient order.
  std::map<std::string, std::vector<std::size_t>> by_domain;
  for (const std::size_t i : due) by_domain[to_lower(message->recipients[i].recipient.mailbox.domain)].push_back(i);
  // Jobs: at most the recipient limit each. A dead destination's jobs are deferred at once.
  const std::size_t limit = static_cast<std::size_t>(std::max(1, config_.default_destination_recipient_limit));
  std::vector<DeliveryJob> jobs;
  std::vector<bool> suspended;
  for (const auto& [domain, indices] : by_domain) {
    const auto destination = destinations_.find(domain);
    const bool dead = destination != destinations_.end() && destination->second.dead_until > now;
    for (std::size_t start = 0; start < indices.size(); start += limit) {
      DeliveryJob job;
      job.message_id = id;
      job.destination = domain;
      job.queued = message;
      for (std::size_t i = start; i < std::min(indices.size(), start + limit); ++i)
        job.recipients.push_back(indices[i]);
      if (!dead) {
        job.sender_domain = message->sender ? message->sender->domain : std::string();
        job.message.sender = message->sender;
        job.message.parameters = message->parameters;
        job.message.parameters.size.reset();  // set by the client from the content
        for (const std::size_t index : job.recipients)
          job.message.recipients.push_back(message->recipients[index].recipient);
      }
      jobs.push_back(std::move(job));
      suspended.push_back(dead);
    }
  }
  in_flight_[id] = InFlight{static_cast<int>(jobs.size()), false};
  jobs_in_flight_ += jobs.size();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const std::string destination = jobs[i].destination;
    if (suspended[i]) {
      suspend(jobs[i], "4.4.1", destinations_.at(destination).suspended_reason);
      continue;
    }
    destinations_[destination].waiting.push_back(std::move(jobs[i]));
    pump(destination);
  }
}

std::shared_ptr<const QueuedMessage> Outbound::deferral_without_file(const QueueId& id, const QueueEntry& entry,
                                                                     const std::vector<std::size_t>& due,
                                                                     Instant now) const {
  // Not when the deferral might do more than defer: expire the message, or warn of a delay.
  if (now >= policy_.expiry(entry.arrival, entry.null_sender)) return nullptr;
  const bool may_warn =
      !entry.null_sender && config_.delay_warning_time.count() > 0 && now - entry.arrival >= config_.delay_warning_time;
  std::optional<std::vector<SummaryRecipient>> addresses = entry.recipient_addresses();
  if (!addresses) return nullptr;
  for (const std::size_t i : due) {
    const SummaryRecipient& recipient = (*addresses)[i];
    if (recipient.has_orcpt || (may_warn && !entry.recipients[i].delay_warned)) return nullptr;  // the file has more
    const auto destination = destinations_.find(to_lower(recipient.mailbox.domain));
    if (destination == destinations_.end() || destination->second.dead_until <= now) return nullptr;
  }
  // What apply() reads of a deferral: arrival, whether the sender is null, the recipients'
  // addresses and states. The sender itself, the content and the rest stay in the file: a
  // non-null sender is an empty mailbox here, which only a notification (never made on this
  // path) would read.
  auto message = std::make_shared<QueuedMessage>();
  message->id = id;
  message->arrival = entry.arrival;
  if (!entry.null_sender) message->sender = smtp::Mailbox{};
  message->size = entry.size;
  message->recipients.reserve(addresses->size());
  for (std::size_t i = 0; i < addresses->size(); ++i) {
    QueuedRecipient recipient;
    recipient.recipient.mailbox = std::move((*addresses)[i].mailbox);
    recipient.state = entry.recipients[i].state;
    recipient.next_attempt = entry.recipients[i].next_attempt;
    recipient.delay_warned = entry.recipients[i].delay_warned;
    message->recipients.push_back(std::move(recipient));
  }
  return message;
}

void Outbound::suspend(const DeliveryJob& job, const std::string& status, const std::string& reason) {
  DeliveryReport report;
  report.route = Route::Kind::defer;
  report.attempted = false;
  for (const std::size_t index : job.recipients) {
    RecipientOutcome outcome;
    outcome.index = index;
    outcome.outcome = smtp::Outcome::transient;
    outcome.status = status;
    outcome.reason = reason;
    report.recipients.push_back(std::move(outcome));
  }
  apply(job, report);
}

void Outbound::pump(const std::string& destination) {
  Destination& entry = destinations_[destination];
  const std::size_t limit = static_cast<std::size_t>(std::max(1, config_.default_destination_concurrency_limit));
  while (!entry.waiting.empty()) {
    // A connection waiting for a job first, then a slot without one, then a new slot.
    const auto cached = std::find_if(entry.slots.begin(), entry.slots.end(),
                                     [](const std::unique_ptr<Delivery>& slot) { return slot->cached(); });
    Delivery* slot = nullptr;
    if (cached != entry.slots.end()) {
      slot = cached->get();
    } else if (!entry.idle.empty()) {
      slot = *entry.idle.begin();
      entry.idle.erase(entry.idle.begin());
    } else if (entry.slots.size() < limit) {
      entry.slots.push_back(
          std::make_unique<Delivery>(io_, config_, router_, mta_sts_, tls_reports_.get(), tls_, *this, destination));
      slot = entry.slots.back().get();
    } else {
      break;  // a busy slot takes the next job when it is done
    }
    DeliveryJob job = std::move(entry.waiting.front());
    entry.waiting.pop_front();
    slot->start(std::move(job));
  }
  if (entry.waiting.empty() && !entry.idle.empty()) {
    std::erase_if(entry.slots, [&](const std::unique_ptr<Delivery>& slot) { return entry.idle.contains(slot.get()); });
    entry.idle.clear();
  }
}

void Outbound::schedule_pump(const std::string& destination) {
  Destination& entry = destinations_[destination];
  if (entry.pump.armed()) return;
  entry.pump = io_.at(io_.now(), [this, destination] {
    Destination& current = destinations_.at(destination);
    io::Pending self = std::move(current.pump);
    pump(destination);
    if (current.slots.empty() && current.waiting.empty() && current.dead_until <= io_.now())
      destinations_.erase(destination);
  });
}

void Outbound::slot_idle(Delivery& slot) {
  destinations_[slot.destination()].idle.insert(&slot);
  schedule_pump(slot.destination());
}

bool Outbound::destination_busy(const Delivery& slot) const {
  const auto found = destinations_.find(slot.destination());
  if (found == destinations_.end()) return false;
  const Destination& entry = found->second;
  if (!entry.waiting.empty()) return true;
  return std::any_of(entry.slots.begin(), entry.slots.end(),
                     [&slot](const std::unique_ptr<Delivery>& other) { return other.get() != &slot && other->busy(); });
}

std::optional<DeliveryJob> Outbound::next_job(Delivery& slot) {
  Destination& entry = destinations_[slot.destination()];
  if (entry.waiting.empty() || entry.dead_until > io_.now()) return std::nullopt;
  DeliveryJob job = std::move(entry.waiting.front());
  entry.waiting.pop_front();
  return job;
}

void Outbound::job_done(Delivery& slot, const DeliveryJob& job, DeliveryReport report) {
  Destination& entry = destinations_[slot.destination()];
  if (report.route == Route::Kind::deliver) {
    if (!report.reached_server) {
      // Nobody answered: remember the destination as dead and defer what waits for it.
      entry.dead_until = io_.now() + (config_.broken_variant == BrokenVariant::dead_destination_forever
                                          ? days(3650)
                                          : dead_destination_time(config_));
      entry.dead_reason = report.recipients.empty() ? "no server answered" : report.recipients.front().reason;
      entry.suspended_reason = "delivery temporarily suspended: " + entry.dead_reason;
      io_.observe(events::DestinationDead{
          .destination = slot.destination(), .until = entry.dead_until, .reason = entry.dead_reason});
      std::deque<DeliveryJob> waiting = std::move(entry.waiting);
      entry.waiting.clear();
      apply(job, report);
      for (const DeliveryJob& parked : waiting) suspend(parked, "4.4.1", entry.suspended_reason);
      return;
    }
    entry.dead_until = Instant();
  }
  apply(job, report);
}

void Outbound::apply(const DeliveryJob& job, const DeliveryReport& report) {
  if (queue_.find(job.message_id) == nullptr) return job_finished(job.message_id, false);  // deleted meanwhile
  const QueuedMessage& message = *job.queued;
  const Instant now = io_.now();
  const bool is_notification = !message.sender.has_value();
  const Instant expires = policy_.expiry(message.arrival, is_notification);
  const std::string delay = maillog::format_delay(now - message.arrival);
  std::optional<RetryDecision> retry;
  std::vector<Queue::StateChange> changes;
  changes.reserve(report.recipients.size());
  std::vector<std::size_t> expired;  // their outcome's status becomes 4.4.7
  Notices notices;

  std::string line;
  for (const RecipientOutcome& outcome : report.recipients) {
    QueuedRecipient state = message.recipients.at(outcome.index);
    const smtp::RecipientParameters& dsn = state.recipient.dsn;
    const std::string address = state.recipient.mailbox.to_string();
    state.attempts += 1;
    state.last_reply = outcome.reason;
    std::string_view status = outcome.status;
    std::string_view logged_status;  // Postfix's word for the log line
    switch (outcome.outcome) {
      case smtp::Outcome::delivered:
        state.state = RecipientState::delivered;
        counters_.delivered += 1;
        logged_status = "sent";
        if (!is_notification && !outcome.remote_dsn && wants_notice(config_, dsn, DsnAction::relayed)) {
          notices.relayed.recipients.push_back(outcome.index);
        }
        break;
      case smtp::Outcome::permanent:
        state.state = RecipientState::bounced;
        counters_.bounced += 1;
        logged_status = "bounced";
        notices.failed.recipients.push_back(outcome.index);
        break;
      case smtp::Outcome::transient:
        if (now >= expires && config_.broken_variant != BrokenVariant::never_expire) {
          state.state = RecipientState::bounced;
          counters_.bounced += 1;
          counters_.expired += 1;
          status = "4.4.7";
          expired.push_back(outcome.index);
          logged_status = "expired";
          notices.failed.recipients.push_back(outcome.index);
          break;
        }
        if (!retry) {
          retry = policy_.after_failure(message.arrival, now, is_notification, jitter_);
          io_.observe(events::RetryPlanned{.id = job.message_id, .next = retry->next_attempt, .why = retry->reason});
        }
        state.state = RecipientState::deferred;
        state.next_attempt = retry->next_attempt;
        counters_.deferred += 1;
        logged_status = "deferred";
        if (outcome.possible_duplicate) counters_.possible_duplicates += 1;
        if (!is_notification &&
            (!state.delay_warned || config_.broken_variant == BrokenVariant::delay_notice_every_deferral) &&
            now - message.arrival >= config_.delay_warning_time && wants_notice(config_, dsn, DsnAction::delayed)) {
          notices.delayed.recipients.push_back(outcome.index);
          state.delay_warned = true;
        }
        break;
    }
    maillog::delivery(
        line, {job.message_id, address, dsn.orcpt, outcome.relay, delay, status, logged_status, outcome.reason});
    log(line);
    if (outcome.possible_duplicate) log(maillog::possible_duplicate(job.message_id, address));
    io_.observe(events::RecipientSettled{.id = job.message_id,
                                         .rcpt = address,
                                         .outcome = outcome,
                                         .state = state.state,
                                         .status = status,
                                         .attempted = report.attempted});
    changes.push_back({outcome.index, std::move(state)});
  }

  // Bounces of a notification, or of a message whose recipients asked for no notice, are dropped.
  std::vector<std::pair<Notice, QueueId>> to_store;
  for (Notice* kind : notices.all()) {
    Notice& notice = *kind;
    if (notice.recipients.empty()) continue;
    // (The bounce_loop variant makes one loop only, so that the world still ends.)
    if (is_notification && (config_.broken_variant != BrokenVariant::bounce_loop || variant_loops_++ > 0)) {
      counters_.notifications_dropped += notice.recipients.size();
      for (const std::size_t index : notice.recipients) {
        log(maillog::notice_dropped(job.message_id, message.recipients[index].recipient.mailbox.to_string()));
      }
      continue;
    }
    std::erase_if(notice.recipients, [&](std::size_t index) {
      return !wants_notice(config_, message.recipients[index].recipient.dsn, notice.action);
    });
    if (notice.recipients.empty()) continue;
    to_store.push_back({notice, queue_.allocate_id()});
  }

  // A deferral that was never attempted is not worth an fsync: lost in a crash, it only brings
  // the next try forward. It changes the schedule in memory alone.
  const bool only_deferred = std::all_of(changes.begin(), changes.end(), [](const Queue::StateChange& change) {
    return change.second.state == RecipientState::deferred;
  });
  if (!report.attempted && to_store.empty() && only_deferred) {
    queue_.defer_in_memory(job.message_id, changes);
    return job_finished(job.message_id, false);
  }
  // The outcomes as the notifications report them (none to make: none needed).
  std::map<std::size_t, RecipientOutcome> outcomes;
  if (!to_store.empty()) {
    for (const RecipientOutcome& outcome : report.recipients) outcomes[outcome.index] = outcome;
    for (const std::size_t index : expired) outcomes[index].status = "4.4.7";
  }

  // Notifications first, then the states: a crash between leaves the recipient to be tried again.
  auto pending = std::make_shared<PendingOutcome>();
  pending->message_id = job.message_id;
  pending->message = job.queued;
  pending->notices = std::move(to_store);
  pending->changes = std::move(changes);
  pending->outcomes = std::move(outcomes);
  pending->expires = expires;
  record(std::move(pending));
}

void Outbound::record(std::shared_ptr<PendingOutcome> pending) {
  if (queue_.find(pending->message_id) == nullptr) return job_finished(pending->message_id, false);
  const QueuedMessage* current = pending->message.get();
  const auto alive = alive_;
  if (pending->next < pending->notices.size()) {
    const auto& [notice, id] = pending->notices[pending->next++];
    QueuedMessage dsn = notice_message(config_, *current, notice, pending->outcomes, io_.now(), pending->expires, id);
    const smtp::Mailbox notify = dsn.recipients.front().recipient.mailbox;
    queue_.store(std::move(dsn), [this, alive, pending, notify, action = notice.action,
                                  covered = notice.recipients](io::Result<QueueId> stored) {
      if (!*alive) return;
      const QueueId& message_id = pending->message_id;
      if (stored) {
        counters_.notifications += 1;
        log(maillog::notice_queued(message_id, action, stored.value()));
        std::vector<std::string> about;
        for (const std::size_t index : covered)
          about.push_back(pending->message->recipients[index].recipient.mailbox.to_string());
        io_.observe(events::NoticeQueued{
            .id = message_id, .dsn = stored.value(), .action = action, .to = notify, .about = std::move(about)});
        enqueue(stored.value());
      } else {
        // Without its notice a bounce is not final: the recipient stays deferred and is tried again.
        log("warning: " + message_id.to_string() + ": cannot queue a notification: " + stored.error().detail);
        for (auto& [index, state] : pending->changes) {
          if (std::find(covered.begin(), covered.end(), index) == covered.end()) continue;
          if (action == DsnAction::delayed) state.delay_warned = false;
          if (action == DsnAction::failed) {
            state.state = RecipientState::deferred;
            state.next_attempt = io_.now() + config_.minimal_backoff_time;
          }
        }
      }
      record(pending);
    });
    return;
  }
  queue_.update(
      pending->message_id, std::move(pending->changes),
      [this, alive, message_id = pending->message_id](io::Status status) {
        if (!*alive) return;
        if (!status)
          log("warning: " + message_id.to_string() + ": cannot record delivery status: " + status.error().detail);
        if (status && queue_.find(message_id) == nullptr) log(maillog::removed(message_id));
        job_finished(message_id, !status);
      });
}

void Outbound::job_finished(const QueueId& id, bool write_failed) {
  jobs_in_flight_ -= 1;
  InFlight* found = in_flight_.find(id);
  RELAYSIM_ASSERT(found != nullptr && found->jobs > 0);
  found->write_failed |= write_failed;
  if (--found->jobs > 0) return;
  const bool failed = found->write_failed;
  in_flight_.erase(id);
  if (in_flight_.size() + 1 == active_limit()) arm_timer();  // room again for what waits
  if (queue_.find(id) == nullptr) return;
  if (failed) {
    // The old state is still in memory, due now: wait a backoff rather than retry in a loop.
    return retry_later(id);
  }
  reschedule(id);
}

}  // namespace relaysim::relay
