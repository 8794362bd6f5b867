// The relay's MX resolver (routing/mx_resolver.hpp) and the fake Salesforce org's own next-hop
// lookup (fake_salesforce/next_hop.hpp) are written apart. On the zones where RFC 5321 and what
// Salesforce documents agree - IPv4 only, distinct MX preferences, no address limit reached - they
// must come to the same hops, deferral or bounce. A bug planted in either one makes them disagree.

#include <map>

#include <catch2/catch.hpp>

#include "fake_salesforce/next_hop.hpp"
#include "io/random.hpp"
#include "routing/mx_resolver.hpp"
#include "support/dns_records.hpp"
#include "support/test_world.hpp"

using namespace relaysim;
using namespace relaysim::testing;

namespace {

// What a lookup came to, in the terms both resolvers share.
struct Resolution {
  std::string kind;  // deliver, defer, bounce
  std::string status;
  std::vector<std::string> hops;  // "host[address]:port", in the order to try
  bool operator==(const Resolution&) const = default;
};

std::string describe(const Resolution& outcome) {
  std::string text = outcome.kind + (outcome.status.empty() ? "" : " " + outcome.status);
  for (const std::string& hop : outcome.hops) text += " " + hop;
  return text;
}

// A zone for dest.example, drawn from `random`: MX hosts with distinct preferences (or none, or a
// null MX, or no name at all), each with up to two IPv4 addresses, and temporary DNS failures.
struct Zone {
  std::vector<std::pair<std::string, io::DnsRecords>> names;
  std::vector<sim::DnsFault> faults;
  std::string text;  // for the failure message
};

Zone draw_zone(io::Random& random) {
  Zone zone;
  const auto fault = [&](const std::string& name, io::DnsType type) {
    zone.faults.push_back({sim::DnsFault::Kind::servfail, name, type, t0(), Instant::max()});
    zone.text += " servfail(" + name + " " + std::string(io::to_string(type)) + ")";
  };
  const auto addresses = [&](Records& records, const std::string& name, std::uint64_t seed) {
    const std::uint64_t count = random.below(3);
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::string address = "192.0.2." + std::to_string(seed * 4 + i + 1);
      records.a(address);
      zone.text += " " + name + " A " + address;
    }
  };
  const std::uint64_t shape = random.below(10);
  if (shape == 0) {  // no such domain
    zone.text = "NXDOMAIN";
    return zone;
  }
  if (shape == 1) {
    zone.names.push_back({"dest.example", records().mx(0, ".")});
    zone.text = "null MX";
    return zone;
  }
  if (shape == 2) fault("dest.example", io::DnsType::mx);
  Records domain;
  if (shape == 3) {             // no MX: the domain's own address records
    domain.txt("v=spf1 -all");  // the name exists
    zone.text += "no MX;";
    addresses(domain, "dest.example", 0);
    if (random.chance(1, 4)) fault("dest.example", io::DnsType::a);
    zone.names.push_back({"dest.example", domain});
    return zone;
  }
  std::vector<int> preferences = {5, 10, 20, 30, 40};
  random.shuffle(preferences);
  const std::uint64_t hosts = 1 + random.below(4);
  for (std::uint64_t i = 0; i < hosts; ++i) {
    const std::string host = "mx" + std::to_string(i) + ".dest.example";
    domain.mx(preferences[i], host);
    zone.text += " MX " + std::to_string(preferences[i]) + " " + host + ";";
    Records records;
    addresses(records, host, i + 1);
    if (random.chance(1, 8)) {
      fault(host, io::DnsType::a);
    } else if (random.chance(1, 8)) {
      zone.text += " " + host + " NXDOMAIN";
      continue;
    }
    zone.names.push_back({host, records});
  }
  zone.names.push_back({"dest.example", domain});
  return zone;
}

// Either resolver's answer (routing::Route, salesforce::NextHops) in the terms both share.
template <typename Result>
Resolution outcome_of(const Result& result) {
  using Kind = decltype(result.kind);
  Resolution out;
  out.kind = result.kind == Kind::deliver ? "deliver" : result.kind == Kind::defer ? "defer" : "bounce";
  out.status = result.status;
  for (const auto& hop : result.hops) out.hops.push_back(hop.label());
  return out;
}

struct Planted {
  bool relay_ignores_preference = false;
  bool salesforce_reverses_preference = false;
};

// Both resolvers on one zone, in one simulated world.
std::pair<Resolution, Resolution> resolve_both(const Zone& zone, Planted planted) {
  sim::World world(1, t0());
  world.add_host({"client", {address("10.0.0.1")}});
  for (const auto& [name, records] : zone.names) world.set_dns(name, records);
  for (const sim::DnsFault& fault : zone.faults) world.add_dns_fault(fault);
  std::pair<Resolution, Resolution> outcomes;
  add_lambda_node(world, "client", "client", [&](LambdaNode& node) {
    routing::MxResolverOptions options;
    options.address_limit = 100;
    options.ignore_preference = planted.relay_ignores_preference;
    auto relay = std::make_shared<routing::MxResolver>(node.io, options);
    auto salesforce = std::make_shared<salesforce::NextHopResolver>(node.io);
    salesforce->reverse_preference = planted.salesforce_reverses_preference;
    node.keep_alive = std::make_shared<std::pair<decltype(relay), decltype(salesforce)>>(relay, salesforce);
    relay->resolve({"dest.example", 25, true, ""}, [&](routing::Route route) { outcomes.first = outcome_of(route); });
    salesforce->resolve("dest.example", 25, [&](salesforce::NextHops result) { outcomes.second = outcome_of(result); });
  });
  world.start();
  world.run_until(t0() + std::chrono::minutes(1));
  return outcomes;
}

// The first of `zones` zones on which the two disagree, described; empty when they all agree.
// `kinds` counts what the zones came to (deliver with more than one hop counted apart).
std::string first_disagreement(Planted planted, int zones, std::map<std::string, int>* kinds = nullptr) {
  io::Random random(2026);
  for (int i = 0; i < zones; ++i) {
    const Zone zone = draw_zone(random);
    const auto [relay, salesforce] = resolve_both(zone, planted);
    if (relay.kind.empty() || salesforce.kind.empty()) return "zone" + zone.text + ": a resolver never answered";
    if (!(relay == salesforce))
      return "zone" + zone.text + ": relay " + describe(relay) + ", salesforce " + describe(salesforce);
    if (kinds != nullptr)
      (*kinds)[relay.kind + (relay.hops.size() > 1 ? " to several hops" : "") +
               (relay.status.empty() ? "" : " " + relay.status)] += 1;
  }
  return "";
}

}  // namespace

TEST_CASE("the relay's MX resolver and Salesforce's next-hop lookup agree where their rules agree",
          "[routing][salesforce]") {
  std::map<std::string, int> kinds;
  CHECK(first_disagreement({}, 300, &kinds) == "");
  // The zones reach every outcome the two can come to.
  for (const char* kind : {"deliver", "deliver to several hops", "defer 4.4.3", "bounce 5.1.10", "bounce 5.4.4"}) {
    CAPTURE(kind);
    CHECK(kinds[kind] >= 10);
  }
}

TEST_CASE("a resolver that ignores MX preference disagrees with the other one", "[routing][salesforce]") {
  const std::string relay_broken = first_disagreement({.relay_ignores_preference = true}, 300);
  CAPTURE(relay_broken);
  CHECK(relay_broken.find("relay deliver") != std::string::npos);
  const std::string salesforce_broken = first_disagreement({.salesforce_reverses_preference = true}, 300);
  CAPTURE(salesforce_broken);
  CHECK(salesforce_broken.find("salesforce deliver") != std::string::npos);
}

TEST_CASE("the two resolvers both bounce a null MX and defer a failing MX lookup", "[routing][salesforce]") {
  Zone null_mx;
  null_mx.names.push_back({"dest.example", records().mx(0, ".")});
  const auto [relay, salesforce] = resolve_both(null_mx, {});
  CHECK(describe(relay) == "bounce 5.1.10");
  CHECK(describe(salesforce) == "bounce 5.1.10");
  Zone servfail;
  servfail.names.push_back({"dest.example", records().mx(10, "mx.dest.example")});
  servfail.faults.push_back({sim::DnsFault::Kind::servfail, "dest.example", io::DnsType::mx, t0(), Instant::max()});
  const auto [relay_deferred, salesforce_deferred] = resolve_both(servfail, {});
  CHECK(describe(relay_deferred) == "defer 4.4.3");
  CHECK(describe(salesforce_deferred) == "defer 4.4.3");
}
