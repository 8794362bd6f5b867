#include "relay/relay_node.hpp"

namespace relaysim::relay {

RelayNode::RelayNode(io::Io& io, RelayConfig config, RelayTls tls)
    : io_(io),
      config_(std::move(config)),
      queue_(io, config_.queue_directory),
      inbound_(io, config_, queue_, tls.server),
      outbound_(io, config_, queue_, tls.client) {
  inbound_.on_stored([this](const std::string& id) { outbound_.enqueue(id); });
}

void RelayNode::start() {
  recovery_ = queue_.recover();
  for (const std::string& problem : recovery_.problems) io_.trace("log", {{"line", "warning: " + problem}});
  outbound_.start();
  if (const io::Status started = inbound_.start(); !started) {
    io_.trace("log", {{"line", "fatal: " + started.error().detail}});
  }
}

std::string RelayNode::status() const {
  const OutboundCounters& counters = outbound_.counters();
  return std::to_string(queue_.size()) + " queued, " + std::to_string(inbound_.accepted_messages()) +
         " accepted, " + std::to_string(inbound_.connections()) + " connections, " + std::to_string(counters.delivered) +
         " delivered, " + std::to_string(counters.bounced) + " bounced, " + std::to_string(counters.deferred) + " deferrals";
}

}  // namespace relaysim::relay
