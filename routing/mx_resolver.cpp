#include "routing/mx_resolver.hpp"

#include <algorithm>

#include "io/assert.hpp"

namespace relaysim::routing {

std::string Hop::label() const {
  const std::string address = endpoint.address.to_string();
  return host + "[" + address + "]:" + std::to_string(endpoint.port);
}

struct MxResolver::Lookup {
  struct Host {
    std::string name;
    int preference = 0;
    std::vector<io::Address> addresses;  // A then AAAA
    bool temporary_failure = false;
    int answers = 0;
    bool secure = true;  // every address answer was authenticated (DNSSEC)
  };
  std::string name;  // the domain or next hop being resolved
  std::uint16_t port = 25;
  bool implicit_mx = false;
  bool mx_secure = true;  // the MX answer was authenticated, or no MX lookup was made
  Handler handler;
  std::vector<Host> hosts;
  int outstanding = 0;
  std::vector<io::Pending> pending;
  std::string explanation;
};

MxResolver::MxResolver(io::Io& io, MxResolverOptions options)
    : io_(io), options_(std::move(options)), random_(io.random_stream("mx-order")) {}

MxResolver::~MxResolver() = default;

void MxResolver::resolve(Destination destination, Handler handler) {
  const std::uint64_t id = next_id_++;
  auto lookup = std::make_unique<Lookup>();
  lookup->handler = std::move(handler);
  lookup->port = destination.port;
  lookup->name = io::normalize_dns_name(destination.name);
  lookup->explanation = std::move(destination.explanation);
  Lookup& entry = *lookup;
  lookups_[id] = std::move(lookup);
  if (const auto literal = io::Address::parse(entry.name); literal && !destination.mx_lookup) {
    entry.hosts.push_back({entry.name, 0, {*literal}, false, 2, false});
    entry.pending.push_back(io_.at(io_.now(), [this, id] { resolve_hosts(id); }));
    return;
  }
  if (!destination.mx_lookup) {
    entry.hosts.push_back({entry.name, 0, {}, false, 0, true});
    entry.pending.push_back(io_.at(io_.now(), [this, id] { resolve_hosts(id); }));
    return;
  }
  entry.pending.push_back(
      io_.resolve(entry.name, io::DnsType::mx, [this, id](const io::DnsAnswer& answer) { on_mx(id, answer); }));
}

void MxResolver::on_mx(std::uint64_t id, const io::DnsAnswer& answer) {
  Lookup& lookup = *lookups_.at(id);
  const std::string& name = lookup.name;
  if (answer.temporary_failure()) {
    return finish(id, Route::failed(Route::Kind::defer, "4.4.3",
                                    "Host or domain name not found. Name service error for name=" + name +
                                        " type=MX: Host not found, try again",
                                    "MX lookup " + std::string(io::to_string(answer.status))));
  }
  if (answer.status == io::DnsStatus::nxdomain) {
    return finish(id, Route::failed(Route::Kind::bounce, "5.4.4",
                                    "Host or domain name not found. Name service error for name=" + name +
                                        " type=MX: Host not found",
                                    "MX lookup NXDOMAIN"));
  }
  lookup.mx_secure = answer.authenticated;
  std::vector<io::MxRecord> records = answer.mx;
  const bool null_mx = records.size() == 1 && (records.front().exchange == "." || records.front().exchange.empty());
  if (null_mx && !options_.null_mx_as_implicit) {
    return finish(id, Route::failed(Route::Kind::bounce, "5.1.10", "Domain " + name + " does not accept mail (nullMX)",
                                    "null MX (RFC 7505)"));
  }
  std::erase_if(records, [](const io::MxRecord& record) { return record.exchange == "." || record.exchange.empty(); });
  if (records.empty()) {
    lookup.implicit_mx = true;
    lookup.hosts.push_back({name, 0, {}, false, 0, true});
    lookup.explanation += (lookup.explanation.empty() ? "" : "; ") + std::string("no MX: implicit MX ") + name;
    return resolve_hosts(id);
  }
  // Preference order; equal preferences in a seeded random order (RFC 5321 §5.1).
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.preference < b.preference; });
  if (options_.ignore_preference) std::reverse(records.begin(), records.end());
  for (std::size_t start = 0; start < records.size();) {
    std::size_t end = start;
    while (end < records.size() && records[end].preference == records[start].preference) ++end;
    std::vector<io::MxRecord> tie(records.begin() + static_cast<std::ptrdiff_t>(start),
                                  records.begin() + static_cast<std::ptrdiff_t>(end));
    random_.shuffle(tie);
    std::copy(tie.begin(), tie.end(), records.begin() + static_cast<std::ptrdiff_t>(start));
    start = end;
  }
  std::string order;
  for (const io::MxRecord& record : records) {
    lookup.hosts.push_back({io::normalize_dns_name(record.exchange), record.preference, {}, false, 0, true});
    order += (order.empty() ? "" : ", ") + lookup.hosts.back().name + " (" + std::to_string(record.preference) + ")";
  }
  lookup.explanation += (lookup.explanation.empty() ? "" : "; ") + std::string("MX ") + order;
  resolve_hosts(id);
}

void MxResolver::resolve_hosts(std::uint64_t id) {
  Lookup& lookup = *lookups_.at(id);
  for (std::size_t i = 0; i < lookup.hosts.size(); ++i) {
    if (lookup.hosts[i].answers == 2) continue;
    for (const io::DnsType type : {io::DnsType::a, io::DnsType::aaaa}) {
      lookup.outstanding += 1;
      lookup.pending.push_back(io_.resolve(lookup.hosts[i].name, type,
                                           [this, id, i](const io::DnsAnswer& answer) { on_address(id, i, answer); }));
    }
  }
  if (lookup.outstanding == 0) on_address(id, lookup.hosts.size(), io::DnsAnswer{});
}

void MxResolver::on_address(std::uint64_t id, std::size_t host, const io::DnsAnswer& answer) {
  Lookup& lookup = *lookups_.at(id);
  if (host < lookup.hosts.size()) {
    Lookup::Host& entry = lookup.hosts[host];
    entry.answers += 1;
    lookup.outstanding -= 1;
    if (answer.temporary_failure()) entry.temporary_failure = true;
    entry.secure = entry.secure && answer.authenticated;
    for (const io::Address& address : answer.addresses) {
      // A before AAAA whatever order the answers came in: the hop order must not depend on timing.
      if (address.is_v4()) {
        const auto first_v6 = std::find_if(entry.addresses.begin(), entry.addresses.end(),
                                           [](const io::Address& a) { return !a.is_v4(); });
        entry.addresses.insert(first_v6, address);
      } else {
        entry.addresses.push_back(address);
      }
    }
    if (lookup.outstanding > 0) return;
  }
  // Every answer is in. An MX host that is this server - one of its listeners' address and port -
  // ends the list there, with every host of the same or a worse preference (RFC 5321 §5.1): mail
  // must not loop back.
  // The host's own addresses matter only for a listener on the wildcard address (asked once).
  std::optional<std::vector<io::Address>> own;
  const auto is_this_server = [&](const io::Address& address) {
    for (const io::Endpoint& listener : options_.own_listeners) {
      if (listener.port != lookup.port) continue;
      if (listener.address.is_unspecified() && !own) own = io_.host_addresses();
      if (listener.address.is_unspecified() ? std::find(own->begin(), own->end(), address) != own->end()
                                            : listener.address == address) {
        return true;
      }
    }
    return false;
  };
  std::optional<int> own_preference;
  for (const Lookup::Host& entry : lookup.hosts) {
    for (const io::Address& address : entry.addresses) {
      if (is_this_server(address)) {
        own_preference = own_preference ? std::min(*own_preference, entry.preference) : entry.preference;
      }
    }
  }
  Route route;
  route.explanation = lookup.explanation;
  route.implicit_mx = lookup.implicit_mx;
  bool temporary = false;
  std::string temporary_host;
  for (const Lookup::Host& entry : lookup.hosts) {
    if (own_preference && entry.preference >= *own_preference) break;
    if (entry.temporary_failure && entry.addresses.empty()) {
      temporary = true;
      temporary_host = entry.name;
    }
    for (const io::Address& address : entry.addresses) {
      if (route.hops.size() >= options_.address_limit) break;
      route.hops.push_back({entry.name, {address, lookup.port}, entry.preference, lookup.mx_secure && entry.secure});
    }
  }
  if (!route.hops.empty()) {
    std::string hops;
    for (const Hop& hop : route.hops) hops += (hops.empty() ? "" : ", ") + hop.label();
    route.explanation += (route.explanation.empty() ? "" : "; ") + std::string("try ") + hops;
    return finish(id, std::move(route));
  }
  if (own_preference) {
    return finish(id, Route::failed(Route::Kind::bounce, "5.4.6", "mail for " + lookup.name + " loops back to myself",
                                    route.explanation + "; the best MX is this relay"));
  }
  if (temporary) {
    return finish(id, Route::failed(Route::Kind::defer, "4.4.3",
                                    "Host or domain name not found. Name service error for name=" + temporary_host +
                                        " type=A: Host not found, try again",
                                    route.explanation + "; address lookup failed temporarily"));
  }
  return finish(id, Route::failed(Route::Kind::bounce, "5.4.4",
                                  lookup.implicit_mx ? "Host or domain name not found. Name service error for name=" +
                                                           lookup.name + " type=A: Host not found"
                                                     : "no MX host for " + lookup.name + " has an address",
                                  route.explanation + "; no address"));
}

void MxResolver::finish(std::uint64_t id, Route route) {
  const auto found = lookups_.find(id);
  RELAYSIM_ASSERT(found != lookups_.end());
  std::unique_ptr<Lookup> lookup = std::move(found->second);
  lookups_.erase(found);
  Handler handler = std::move(lookup->handler);
  // The lookup's pending handles end with it; the handler runs last, so it may route again.
  lookup.reset();
  handler(std::move(route));
}

}  // namespace relaysim::routing
