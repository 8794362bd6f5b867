#include "relay/relay_node.hpp"

#include "io/text.hpp"

namespace relaysim::relay {

RelayNode::RelayNode(io::Io& io, RelayConfig config, RelayTls tls)
    : io_(io),
      config_(std::move(config)),
      queue_(io, config_.queue_directory,
             JournalOptions{.enabled = config_.queue_journal, .broken_variant = config_.broken_variant}),
      inbound_(io, config_, queue_, tls.server),
      outbound_(io, config_, queue_, tls.client) {
  inbound_.on_stored([this](const QueueId& id) { outbound_.enqueue(id); });
}

void RelayNode::start() {
  recovery_ = queue_.recover();
  for (const std::string& problem : recovery_.problems) io_.observe(io::LogLine{"warning: " + problem});
  if (!recovery_.complete) recover_later();
  outbound_.start();
  if (const io::Status started = inbound_.start(); !started) {
    io_.observe(io::LogLine{"fatal: " + started.error().detail});
  }
}

// A disk that failed during recovery may hold acknowledged messages: read it again until it
// answers, and schedule what turns up. Nothing acknowledged may stay on disk unknown.
void RelayNode::recover_later() {
  io_.observe(
      io::LogLine{"warning: queue recovery incomplete; trying again in " + format_duration(queue_recovery_retry)});
  recovery_retry_ = io_.after(queue_recovery_retry, [this] {
    const RecoveryReport pass = queue_.recover();
    for (const std::string& problem : pass.problems) io_.observe(io::LogLine{"warning: " + problem});
    recovery_.recovered += pass.recovered;
    recovery_.discarded += pass.discarded;
    recovery_.finished += pass.finished;
    recovery_.complete = pass.complete;
    for (const QueueId& id : pass.recovered_ids) outbound_.recovered(id);
    if (!pass.complete) recover_later();
  });
}

std::string RelayNode::status() const {
  const OutboundCounters& counters = outbound_.counters();
  return std::to_string(queue_.size()) + " queued, " + std::to_string(inbound_.accepted_messages()) + " accepted, " +
         counted(inbound_.connections(), "connection") + ", " + std::to_string(counters.delivered) + " delivered, " +
         std::to_string(counters.bounced) + " bounced, " + counted(counters.deferred, "deferral");
}

}  // namespace relaysim::relay
