#pragma once
// Where mail for a recipient domain goes: a static route (transport_maps, relayhost) when one
// matches, with its smtp_sasl_password_maps credentials; else the domain's MX records, resolved
// by routing::MxResolver (routing/mx_resolver.hpp: preference order, implicit and null MX,
// address records, loops). Every route carries the reason it was chosen, for the trace.

#include <functional>
#include <string>

#include "io/io.hpp"
#include "relay/config.hpp"
#include "routing/mx_resolver.hpp"
#include "routing/route.hpp"

namespace relaysim::relay {

using routing::Hop;
using routing::Route;

class Router {
 public:
  using Handler = std::function<void(Route route)>;
  Router(io::Io& io, const RelayConfig& config);

  // Routes mail for `recipient_domain` from `sender_domain` (empty for <>). The handler runs from
  // the event loop, never before this returns. Lookups in flight end with the router.
  void route(const std::string& recipient_domain, const std::string& sender_domain, Handler handler);
  // The static route for a destination, if any (also used to name the destination).
  const Transport* transport_for(const std::string& recipient_domain, const std::string& sender_domain) const;

 private:
  const RelayConfig& config_;
  routing::MxResolver resolver_;
};

}  // namespace relaysim::relay
