#pragma once
// Where mail for a recipient domain goes: a static route (transport_maps) when one matches, else
// the domain's MX records through the Io DNS - preference order, equal preferences shuffled with
// the relay's seeded stream, the domain itself as implicit MX only when it has no MX, null MX
// (RFC 7505) bounced with 5.1.10, each host's A and AAAA addresses, at most smtp_mx_address_limit
// of them, and never this relay's own addresses (a loop, 5.4.6). A temporary DNS failure defers,
// never bounces. Every route carries the reason it was chosen, for the trace.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/io.hpp"
#include "relay/config.hpp"

namespace relaysim::relay {

struct Hop {
  std::string host;  // the MX (or next hop) name: for TLS verification and logs
  io::Endpoint endpoint;
  int preference = 0;
  std::string label() const;  // Postfix's "mx.example.com[192.0.2.1]:25"
};

struct Route {
  enum class Kind : std::uint8_t { deliver, defer, bounce };
  Kind kind = Kind::deliver;
  std::vector<Hop> hops;   // deliver: in the order to try
  std::string status;      // defer or bounce: the enhanced status code
  std::string reason;      // defer or bounce: what a log line and a DSN say
  std::string explanation; // how the route was found, for the trace
  bool implicit_mx = false;   // the domain has no MX: its own address records stand in (RFC 5321 §5.1)
  bool static_route = false;  // transport_maps or relayhost chose the next hop, not the domain's MX records
  bool remote_reply = false;  // reason came from DNS (Diagnostic-Code: X-Postfix style), not a server
  std::optional<smtp::Credentials> auth;  // for a static route's next hop (smtp_sasl_password_maps)

  // A route that delivers nowhere: deferred or bounced, with the status and why.
  static Route failed(Kind kind, std::string status, std::string reason, std::string explanation) {
    Route route;
    route.kind = kind;
    route.status = std::move(status);
    route.reason = std::move(reason);
    route.explanation = std::move(explanation);
    route.remote_reply = true;
    return route;
  }
};

class Router {
 public:
  using Handler = std::function<void(Route route)>;
  Router(io::Io& io, const RelayConfig& config);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Routes mail for `recipient_domain` from `sender_domain` (empty for <>). The handler runs from
  // the event loop, never before this returns. Lookups in flight end with the router.
  void route(const std::string& recipient_domain, const std::string& sender_domain, Handler handler);
  // The static route for a destination, if any (also used to name the destination).
  const Transport* transport_for(const std::string& recipient_domain, const std::string& sender_domain) const;

 private:
  struct Lookup;
  void on_mx(std::uint64_t id, const io::DnsAnswer& answer);
  void resolve_hosts(std::uint64_t id);
  void on_address(std::uint64_t id, std::size_t host, const io::DnsAnswer& answer);
  void finish(std::uint64_t id, Route route);

  io::Io& io_;
  const RelayConfig& config_;
  io::Random random_;
  std::map<std::uint64_t, std::unique_ptr<Lookup>> lookups_;
  std::uint64_t next_id_ = 1;
};

}  // namespace relaysim::relay
