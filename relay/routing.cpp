#include "relay/routing.hpp"

#include "relay/broken_variant.hpp"

namespace relaysim::relay {
namespace {

routing::MxResolverOptions resolver_options(const RelayConfig& config) {
  routing::MxResolverOptions options;
  options.address_limit = static_cast<std::size_t>(config.smtp_mx_address_limit);
  for (const ListenerConfig& listener : config.listeners) options.own_listeners.push_back(listener.address);
  options.null_mx_as_implicit = config.broken_variant == BrokenVariant::null_mx_as_implicit;
  options.ignore_preference = config.broken_variant == BrokenVariant::ignore_mx_preference;
  return options;
}

}  // namespace

Router::Router(io::Io& io, const RelayConfig& config) : config_(config), resolver_(io, resolver_options(config)) {}

const Transport* Router::transport_for(const std::string& recipient_domain, const std::string& sender_domain) const {
  for (const Transport& transport : config_.transport_maps) {
    if (!domain_matches(transport.recipient_domain, recipient_domain)) continue;
    if (!transport.sender_domain.empty() && !domain_matches(transport.sender_domain, sender_domain)) continue;
    return &transport;
  }
  return nullptr;
}

void Router::route(const std::string& recipient_domain, const std::string& sender_domain, Handler handler) {
  const Transport* transport = transport_for(recipient_domain, sender_domain);
  if (transport == nullptr)
    return resolver_.resolve({recipient_domain, config_.smtp_port, true, ""}, std::move(handler));
  routing::Destination destination{transport->nexthop, transport->port, transport->mx_lookup, ""};
  destination.explanation = "transport_maps: " + transport->recipient_domain +
                            (transport->sender_domain.empty() ? "" : " from " + transport->sender_domain) + " -> " +
                            (transport->mx_lookup ? "" : "[") + transport->nexthop + (transport->mx_lookup ? "" : "]") +
                            ":" + std::to_string(transport->port);
  std::optional<smtp::Credentials> auth;
  if (const auto found = config_.smtp_sasl_password_maps.find(io::normalize_dns_name(transport->nexthop));
      found != config_.smtp_sasl_password_maps.end()) {
    auth = found->second;
  }
  resolver_.resolve(std::move(destination), [auth = std::move(auth), handler = std::move(handler)](Route route) {
    if (route.kind == Route::Kind::deliver) {
      route.static_route = true;
      route.auth = auth;
    }
    handler(std::move(route));
  });
}

}  // namespace relaysim::relay
