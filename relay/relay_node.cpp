#include "relay/relay_node.hpp"

namespace relaysim::relay {

RelayNode::RelayNode(io::Io& io, RelayConfig config, const tls::Context* tls)
    : io_(io), config_(std::move(config)), queue_(io, config_.queue_directory), inbound_(io, config_, queue_, tls) {}

void RelayNode::start() {
  recovery_ = queue_.recover();
  for (const std::string& problem : recovery_.problems) io_.trace("log", {{"line", "warning: " + problem}});
  if (const io::Status started = inbound_.start(); !started) {
    io_.trace("log", {{"line", "fatal: " + started.error().detail}});
  }
}

std::string RelayNode::status() const {
  return std::to_string(queue_.messages().size()) + " queued, " + std::to_string(inbound_.accepted_messages()) +
         " accepted, " + std::to_string(inbound_.connections()) + " connections";
}

}  // namespace relaysim::relay
