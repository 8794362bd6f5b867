// Simulated DNS: authoritative data from the scenario, a caching resolver per host (answers kept
// for their TTL, NXDOMAIN and NODATA for the negative TTL), and fault windows per name and type.
// Faulted answers are never cached. CNAME chains are followed like a recursive resolver does.

#include <algorithm>

#include "io/assert.hpp"
#include "sim/internal.hpp"
#include "sim/process_io.hpp"

namespace relaysim::sim {
namespace {

bool name_matches(const std::string& pattern, const std::string& name) {
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
    return name.size() > suffix.size() && name.ends_with(suffix);
  }
  return pattern == name;
}

std::string summarize(const io::DnsAnswer& answer) {
  std::string out;
  const auto add = [&out](const std::string& item) {
    if (!out.empty()) out += ' ';
    out += item;
  };
  for (const io::MxRecord& mx : answer.mx) add(std::to_string(mx.preference) + ":" + mx.exchange);
  for (const io::Address& address : answer.addresses) add(address.to_string());
  for (const std::string& text : answer.texts) add("\"" + text + "\"");
  if (!answer.cname_target.empty()) add(answer.cname_target);
  for (const std::string& name : answer.names) add(name);
  for (const io::TlsaRecord& tlsa : answer.tlsa) add(io::to_string(tlsa));
  return out;
}

}  // namespace

const DnsFault* World::Impl::find_dns_fault(const std::string& name, io::DnsType type, Instant when) const {
  for (const DnsFault& fault : dns_faults) {
    if (fault.from <= when && when < fault.until && (!fault.type || *fault.type == type) &&
        name_matches(fault.name, name)) {
      return &fault;
    }
  }
  return nullptr;
}

io::Pending ProcessIo::resolve(std::string_view name, io::DnsType type, DnsHandler handler) {
  const std::uint64_t operation = new_operation_id();
  if (!alive()) return {this, operation};
  queries.emplace(operation, std::move(handler));

  const std::string key = io::normalize_dns_name(name);
  const Instant now = world_.loop.now();
  io::DnsAnswer answer;
  Instant when = now + world_.dns_settings.latency;
  std::string source = "authoritative";
  auto& cache = process_.host->dns_cache;
  const auto cached = cache.find({key, type});
  if (const DnsFault* fault = world_.find_dns_fault(key, type, now)) {
    answer.name = key;
    answer.canonical_name = key;
    source = "fault";
    switch (fault->kind) {
      case DnsFault::Kind::servfail: answer.status = io::DnsStatus::servfail; break;
      case DnsFault::Kind::nxdomain: answer.status = io::DnsStatus::nxdomain; break;
      case DnsFault::Kind::empty: answer.status = io::DnsStatus::ok; break;
      case DnsFault::Kind::timeout:
        answer.status = io::DnsStatus::timeout;
        when = now + world_.dns_settings.timeout;
        break;
    }
  } else if (world_.dns_settings.cache && cached != cache.end() && cached->second.expires > now) {
    answer = cached->second.answer;
    when = now;
    source = "cache";
  } else {
    answer = world_.dns_zone.answer(key, type, world_.dns_settings.negative_ttl_seconds);
    if (world_.dns_settings.cache && !answer.temporary_failure()) {
      cache[{key, type}] = DnsCacheEntry{answer, now + std::chrono::seconds(answer.ttl_seconds)};
    }
  }
  schedule(when, [this, operation, answer = std::move(answer), type, source] {
    const auto found = queries.find(operation);
    if (found == queries.end()) return;
    auto on_answer = std::move(found->second);
    queries.erase(found);
    const std::string records = summarize(answer);
    io::TraceFieldList fields;
    fields.add("name", answer.name);
    fields.add("type", io::to_string(type));
    fields.add("status", io::to_string(answer.status));
    fields.add("records", records);
    fields.add("source", source);
    if (answer.authenticated) fields.add("ad", true);  // validated with DNSSEC
    world_.emit(process_.name, "dns.answer", fields.fields());
    on_answer(answer);
  });
  return {this, operation};
}

}  // namespace relaysim::sim
