#include "fake_salesforce/next_hop.hpp"

#include <algorithm>

#include "io/assert.hpp"

namespace relaysim::salesforce {
namespace {

// RFC 7505's "." (or an empty exchange): no host at all.
bool names_no_host(const io::MxRecord& record) { return record.exchange == "." || record.exchange.empty(); }

}  // namespace

std::string NextHop::label() const {
  return host + "[" + endpoint.address.to_string() + "]:" + std::to_string(endpoint.port);
}

NextHopResolver::~NextHopResolver() = default;

void NextHopResolver::resolve(const std::string& name, std::uint16_t port, Handler handler) {
  const std::uint64_t id = next_id_++;
  auto lookup = std::make_unique<Lookup>();
  lookup->name = io::normalize_dns_name(name);
  lookup->port = port;
  lookup->handler = std::move(handler);
  Lookup& entry = *lookup;
  lookups_[id] = std::move(lookup);
  if (const auto literal = io::Address::parse(entry.name)) {
    entry.pending = io_.at(io_.now(), [this, id, hop = NextHop{entry.name, {*literal, port}, 0}] {
      finish(id, {NextHops::Kind::deliver, {hop}, "", ""});
    });
    return;
  }
  entry.pending =
      io_.resolve(entry.name, io::DnsType::mx, [this, id](const io::DnsAnswer& answer) { on_mx(id, answer); });
}

void NextHopResolver::on_mx(std::uint64_t id, const io::DnsAnswer& answer) {
  Lookup& lookup = *lookups_.at(id);
  if (answer.temporary_failure()) {
    return finish(id, {NextHops::Kind::defer, {}, "4.4.3", "DNS lookup of " + lookup.name + " failed temporarily"});
  }
  if (answer.status == io::DnsStatus::nxdomain) {
    return finish(id, {NextHops::Kind::fail, {}, "5.4.4", "DNS: " + lookup.name + " does not exist"});
  }
  if (answer.mx.size() == 1 && names_no_host(answer.mx[0])) {
    return finish(id, {NextHops::Kind::fail, {}, "5.1.10", lookup.name + " publishes a null MX: it accepts no mail"});
  }
  for (const io::MxRecord& record : answer.mx) {
    if (!names_no_host(record)) lookup.hosts.emplace_back(io::normalize_dns_name(record.exchange), record.preference);
  }
  // Then A: no MX records, and the name itself is the host.
  if (lookup.hosts.empty()) lookup.hosts.emplace_back(lookup.name, 0);
  std::stable_sort(lookup.hosts.begin(), lookup.hosts.end(), [this](const auto& a, const auto& b) {
    return reverse_preference ? a.second > b.second : a.second < b.second;
  });
  ask_next_host(id);
}

// One host at a time, in order: the hops come out in the order the hosts are to be tried.
void NextHopResolver::ask_next_host(std::uint64_t id) {
  Lookup& lookup = *lookups_.at(id);
  if (lookup.next_host == lookup.hosts.size()) {
    if (!lookup.hops.empty()) return finish(id, {NextHops::Kind::deliver, std::move(lookup.hops), "", ""});
    if (lookup.temporary_failure)
      return finish(id, {NextHops::Kind::defer,
                         {},
                         "4.4.3",
                         "DNS lookup of the mail servers of " + lookup.name + " failed temporarily"});
    return finish(id, {NextHops::Kind::fail, {}, "5.4.4", "no mail server of " + lookup.name + " has an address"});
  }
  lookup.pending = io_.resolve(lookup.hosts[lookup.next_host].first, io::DnsType::a,
                               [this, id](const io::DnsAnswer& answer) { on_a(id, answer); });
}

void NextHopResolver::on_a(std::uint64_t id, const io::DnsAnswer& answer) {
  Lookup& lookup = *lookups_.at(id);
  const auto& [host, preference] = lookup.hosts[lookup.next_host];
  if (answer.temporary_failure()) lookup.temporary_failure = true;
  for (const io::Address& address : answer.addresses) {
    if (address.is_v4()) lookup.hops.push_back({host, {address, lookup.port}, preference});
  }
  lookup.next_host += 1;
  ask_next_host(id);
}

void NextHopResolver::finish(std::uint64_t id, NextHops result) {
  const auto found = lookups_.find(id);
  RELAYSIM_ASSERT(found != lookups_.end());
  Handler handler = std::move(found->second->handler);
  lookups_.erase(found);  // its pending lookup ends with it; the handler may resolve again
  handler(std::move(result));
}

}  // namespace relaysim::salesforce
