#pragma once
// What a route lookup comes to: the hops to try, in order, or a deferral or bounce with its status
// and reason. Shared by the relay's router (relay/routing.hpp) and the MX resolver beneath it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/address.hpp"
#include "smtp/client_session.hpp"

namespace relaysim::routing {

struct Hop {
  std::string host;  // the MX (or next hop) name: for TLS verification and logs
  io::Endpoint endpoint;
  int preference = 0;
  // The MX records (when any) and this host's addresses were validated with DNSSEC: the host's
  // TLSA records can be believed (RFC 7672 2.2). False for an address literal.
  bool secure = false;
  std::string label() const;  // Postfix's "mx.example.com[192.0.2.1]:25"
};

struct Route {
  enum class Kind : std::uint8_t { deliver, defer, bounce };
  Kind kind = Kind::deliver;
  std::vector<Hop> hops;                  // deliver: in the order to try
  std::string status;                     // defer or bounce: the enhanced status code
  std::string reason;                     // defer or bounce: what a log line and a DSN say
  std::string explanation;                // how the route was found, for the trace
  bool implicit_mx = false;               // the domain has no MX: its own address records stand in (RFC 5321 §5.1)
  bool static_route = false;              // transport_maps or relayhost chose the next hop, not the domain's MX records
  bool remote_reply = false;              // reason came from DNS (Diagnostic-Code: X-Postfix style), not a server
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

}  // namespace relaysim::routing
