#pragma once
// The standard resolution of a mail destination to hops (RFC 5321 §5.1), as an MTA's SMTP client
// does it: the name's MX records through the Io DNS - preference order, equal preferences
// shuffled with a seeded stream, the name itself as implicit MX only when it has no MX, null MX
// (RFC 7505) bounced with 5.1.10 - then each host's A and AAAA addresses, at most `address_limit`
// of them, never past an MX host that is this server itself (a loop, 5.4.6). A temporary DNS
// failure defers, never bounces. Every route carries how it was found, for the trace.
//
// The relay's router (relay/routing.hpp) puts its static routes in front of this. The Salesforce
// org does not use it: it has its own, simpler model of Salesforce's lookup
// (fake_salesforce/next_hop.hpp), so that a bug in either shows as a disagreement.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/io.hpp"
#include "routing/route.hpp"

namespace relaysim::routing {

struct MxResolverOptions {
  std::size_t address_limit = 5;  // Postfix's smtp_mx_address_limit
  std::vector<io::Endpoint>
      own_listeners;  // this server's: an MX host on one is a loop (0.0.0.0: any of the host's addresses)
  // Deliberately broken resolutions (relay/broken_variant.hpp), set only by test code.
  bool null_mx_as_implicit = false;  // a null MX read as no MX records
  bool ignore_preference = false;    // MX hosts tried from the highest preference value down
};

// What to resolve: `name` by MX (or, without `mx_lookup`, as a host name or address literal
// itself), to hops on `port`.
struct Destination {
  std::string name;
  std::uint16_t port = 25;
  bool mx_lookup = true;
  std::string explanation;  // what chose this destination, if anything: the trace text starts with it
};

class MxResolver {
 public:
  using Handler = std::function<void(Route route)>;
  MxResolver(io::Io& io, MxResolverOptions options);
  ~MxResolver();
  MxResolver(const MxResolver&) = delete;
  MxResolver& operator=(const MxResolver&) = delete;

  // The handler runs from the event loop, never before this returns. Lookups in flight end with
  // the resolver.
  void resolve(Destination destination, Handler handler);

 private:
  struct Lookup;
  void on_mx(std::uint64_t id, const io::DnsAnswer& answer);
  void resolve_hosts(std::uint64_t id);
  void on_address(std::uint64_t id, std::size_t host, const io::DnsAnswer& answer);
  void finish(std::uint64_t id, Route route);

  io::Io& io_;
  MxResolverOptions options_;
  io::Random random_;
  std::map<std::uint64_t, std::unique_ptr<Lookup>> lookups_;
  std::uint64_t next_id_ = 1;
};

}  // namespace relaysim::routing
