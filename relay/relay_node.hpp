#pragma once
// The relay as a node: its queue, recovered at every start; its inbound side, which stores what
// it accepts; and its outbound side, which schedules, routes, delivers and bounces it.

#include <memory>
#include <string>

#include "io/io.hpp"
#include "relay/config.hpp"
#include "relay/inbound.hpp"
#include "relay/outbound.hpp"
#include "relay/queue.hpp"

namespace relaysim::relay {

// The relay's TLS material: the server side for its listeners, and the client side for delivery.
struct RelayTls {
  const tls::Context* server = nullptr;
  DeliveryTls client;
};

class RelayNode final : public io::Node {
 public:
  RelayNode(io::Io& io, RelayConfig config, RelayTls tls);
  RelayNode(io::Io& io, RelayConfig config, const tls::Context* server_tls)
      : RelayNode(io, std::move(config), RelayTls{server_tls, {}}) {}
  void start() override;
  std::string status() const override;
  const Queue& queue() const { return queue_; }
  Queue& mutable_queue() { return queue_; }
  const RecoveryReport& recovery() const { return recovery_; }
  const Outbound& outbound() const { return outbound_; }
  Outbound& mutable_outbound() { return outbound_; }
  const Inbound& inbound() const { return inbound_; }
  // A graceful stop begins here: no new sessions; those in progress finish. Deliveries go on
  // until the node is destroyed, which is safe at any moment (the queue is on disk).
  void stop_accepting() { inbound_.stop_listening(); }

 private:
  io::Io& io_;
  RelayConfig config_;
  Queue queue_;
  Inbound inbound_;
  Outbound outbound_;
  void recover_later();

  RecoveryReport recovery_;
  io::Pending recovery_retry_;
};

// How long the relay waits before reading a queue directory again after a disk error.
inline constexpr Duration queue_recovery_retry = std::chrono::minutes(1);

}  // namespace relaysim::relay
