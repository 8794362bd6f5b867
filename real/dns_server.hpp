#pragma once
// A DNS server on the real runtime's event loop, UDP and TCP on one port, for `relaysim dns`: the
// DNS double a relay under test resolves through. The handler turns a query into a response
// (io/dns_wire.hpp does the wire format) and runs on the event-loop thread.
//
// Limits: 64 TCP connections at once, each closed after 10 s without a query.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "io/address.hpp"
#include "io/result.hpp"
#include "real/runtime.hpp"

namespace relaysim::real {

class DnsServer {
 public:
  // The response to one query; nullopt: none at all (the client times out). `udp`: whether it
  // came over UDP (a long response is then truncated for the client to ask again over TCP).
  using Handler = std::function<std::optional<std::string>(std::string_view query, bool udp)>;
  ~DnsServer();
  // Listens on `endpoint` over UDP and TCP (port 0: one the system picks, the same for both).
  static io::Result<std::unique_ptr<DnsServer>> start(Runtime& runtime, io::Endpoint endpoint, Handler handler);
  io::Endpoint local_endpoint() const;

  struct State;

 private:
  explicit DnsServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace relaysim::real
