#pragma once
// The relay as a node: its queue, recovered at every start, and its inbound side. Delivery to
// MX servers, the retry scheduler and bounces join it with the relay's second part.

#include <memory>
#include <string>

#include "io/io.hpp"
#include "relay/config.hpp"
#include "relay/inbound.hpp"
#include "relay/queue.hpp"

namespace relaysim::relay {

class RelayNode final : public io::Node {
 public:
  RelayNode(io::Io& io, RelayConfig config, const tls::Context* tls);
  void start() override;
  std::string status() const override;
  const Queue& queue() const { return queue_; }
  const RecoveryReport& recovery() const { return recovery_; }

 private:
  io::Io& io_;
  RelayConfig config_;
  Queue queue_;
  Inbound inbound_;
  RecoveryReport recovery_;
};

}  // namespace relaysim::relay
