#include <catch2/catch.hpp>

#include "support/test_world.hpp"

using namespace relaysim;
using namespace relaysim::testing;

namespace {

struct Asked {
  io::DnsAnswer answer;
  Instant at;
};

// A world with one host "a", the given DNS data, and a node that asks `questions` at the given
// offsets from the start.
std::vector<Asked> ask(const std::function<void(sim::World&)>& configure,
                       std::vector<std::tuple<Duration, std::string, io::DnsType>> questions) {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  configure(world);
  auto answers = std::make_shared<std::vector<Asked>>();
  add_lambda_node(world, "asker", "a", [answers, questions](LambdaNode& node) {
    for (const auto& [offset, name, type] : questions) {
      node.pending.push_back(node.io.after(offset, [&node, answers, name = name, type = type] {
        node.pending.push_back(node.io.resolve(name, type, [&node, answers](const io::DnsAnswer& answer) {
          answers->push_back({answer, node.io.now()});
        }));
      }));
    }
  });
  world.start();
  world.run_until(t0() + days(1));
  return *answers;
}

sim::DnsRecords mx_records(std::vector<io::MxRecord> mx, std::uint32_t ttl = 300) {
  sim::DnsRecords records;
  records.mx = std::move(mx);
  records.ttl_seconds = ttl;
  return records;
}

sim::DnsRecords a_records(std::vector<const char*> addresses, std::uint32_t ttl = 300) {
  sim::DnsRecords records;
  for (const char* text : addresses) records.addresses.push_back(address(text));
  records.ttl_seconds = ttl;
  return records;
}

}  // namespace

TEST_CASE("MX, A and TXT questions get the scenario's records after the resolver latency", "[sim][dns]") {
  const auto answers = ask(
      [](sim::World& world) {
        world.set_dns("Dest.Example.", mx_records({{10, "mx1.dest.example"}, {20, "MX2.dest.example"}}));
        world.set_dns("mx1.dest.example", a_records({"203.0.113.5", "2001:db8::5"}));
        sim::DnsRecords spf;
        spf.texts = {"v=spf1 ip4:198.51.100.10 -all"};
        world.set_dns("acme.example", spf);
      },
      {{Duration(0), "dest.example", io::DnsType::mx},
       {1s, "mx1.dest.example", io::DnsType::a},
       {2s, "mx1.dest.example", io::DnsType::aaaa},
       {3s, "acme.example", io::DnsType::txt}});
  REQUIRE(answers.size() == 4);
  CHECK(answers[0].at == t0() + 1ms);
  CHECK(answers[0].answer.mx == std::vector<io::MxRecord>{{10, "mx1.dest.example"}, {20, "mx2.dest.example"}});
  CHECK(answers[1].answer.addresses == std::vector<io::Address>{address("203.0.113.5")});
  CHECK(answers[2].answer.addresses == std::vector<io::Address>{address("2001:db8::5")});
  CHECK(answers[3].answer.texts == std::vector<std::string>{"v=spf1 ip4:198.51.100.10 -all"});
}

TEST_CASE("NXDOMAIN for names that do not exist, NODATA for names that do", "[sim][dns]") {
  const auto answers = ask([](sim::World& world) { world.set_dns("mx1.dest.example", a_records({"203.0.113.5"})); },
                           {{Duration(0), "nowhere.example", io::DnsType::a},
                            {Duration(0), "mx1.dest.example", io::DnsType::mx},
                            {Duration(0), "dest.example", io::DnsType::mx}});  // exists: it has a name below it
  REQUIRE(answers.size() == 3);
  CHECK(answers[0].answer.status == io::DnsStatus::nxdomain);
  CHECK(answers[1].answer.status == io::DnsStatus::ok);
  CHECK(answers[1].answer.empty());
  CHECK(answers[2].answer.status == io::DnsStatus::ok);
  CHECK(answers[2].answer.empty());
}

TEST_CASE("CNAMEs are followed, and a loop is a server failure", "[sim][dns]") {
  const auto answers = ask(
      [](sim::World& world) {
        sim::DnsRecords alias;
        alias.cname = "mail.provider.example";
        world.set_dns("mail.acme.example", alias);
        world.set_dns("mail.provider.example", a_records({"192.0.2.25"}));
        sim::DnsRecords loop_a, loop_b;
        loop_a.cname = "b.loop.example";
        loop_b.cname = "a.loop.example";
        world.set_dns("a.loop.example", loop_a);
        world.set_dns("b.loop.example", loop_b);
      },
      {{Duration(0), "mail.acme.example", io::DnsType::a}, {Duration(0), "a.loop.example", io::DnsType::a}});
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].answer.canonical_name == "mail.provider.example");
  CHECK(answers[0].answer.addresses == std::vector<io::Address>{address("192.0.2.25")});
  CHECK(answers[1].answer.status == io::DnsStatus::servfail);
}

TEST_CASE("a signed zone's answers and denials are authenticated and a bogus zone is SERVFAIL to a validating resolver",
          "[sim][dns][dnssec]") {
  const io::TlsaRecord record{3, 1, 1, std::string(32, '\x5a')};
  const auto answers = ask(
      [&](sim::World& world) {
        world.set_dnssec("dest.example", io::Dnssec::secure);
        world.set_dnssec("broken.dest.example", io::Dnssec::bogus);
        world.set_dnssec("expired.example", io::Dnssec::bogus);
        world.set_dns("dest.example", mx_records({{10, "mx.dest.example"}}));
        world.set_dns("mx.dest.example", a_records({"192.0.2.25"}));
        sim::DnsRecords tlsa;
        tlsa.tlsa = {record};
        world.set_dns("_25._tcp.mx.dest.example", tlsa);
        world.set_dns("mx.broken.dest.example", a_records({"192.0.2.26"}));
        world.set_dns("expired.example", mx_records({{10, "mx.expired.example"}}));
        world.set_dns("partner.example", mx_records({{10, "mx.partner.example"}}));
        sim::DnsRecords alias;  // a signed name that leads out of the signed zone
        alias.cname = "mx.partner.example";
        world.set_dns("out.dest.example", alias);
        world.set_dns("mx.partner.example", a_records({"192.0.2.60"}));
      },
      {{Duration(0), "dest.example", io::DnsType::mx},
       {Duration(0), "_25._tcp.mx.dest.example", io::DnsType::tlsa},
       {Duration(0), "_25._tcp.mx.nowhere.dest.example", io::DnsType::tlsa},
       {Duration(0), "mx.broken.dest.example", io::DnsType::a},
       {Duration(0), "expired.example", io::DnsType::mx},
       {Duration(0), "partner.example", io::DnsType::mx},
       {Duration(0), "out.dest.example", io::DnsType::a}});
  REQUIRE(answers.size() == 7);
  CHECK(answers[0].answer.authenticated);
  CHECK(answers[0].answer.mx.size() == 1);
  CHECK(answers[1].answer.authenticated);
  CHECK(answers[1].answer.tlsa == std::vector<io::TlsaRecord>{record});
  CHECK(answers[2].answer.status == io::DnsStatus::nxdomain);  // an authenticated denial
  CHECK(answers[2].answer.authenticated);
  CHECK(answers[3].answer.status == io::DnsStatus::servfail);  // the longest apex decides: a bogus child zone
  CHECK(answers[3].answer.addresses.empty());
  CHECK(answers[4].answer.status == io::DnsStatus::servfail);
  CHECK(answers[4].answer.mx.empty());
  CHECK(answers[5].answer.status == io::DnsStatus::ok);  // unsigned: answered, not authenticated
  CHECK_FALSE(answers[5].answer.authenticated);
  CHECK(answers[6].answer.addresses == std::vector<io::Address>{address("192.0.2.60")});
  CHECK_FALSE(answers[6].answer.authenticated);  // the chain left the signed zone
}

TEST_CASE("faults answer only inside their window, a timeout takes the resolver timeout", "[sim][dns]") {
  const auto answers = ask(
      [](sim::World& world) {
        world.set_dns("dest.example", mx_records({{10, "mx.dest.example"}}, 0));
        world.add_dns_fault({sim::DnsFault::Kind::servfail, "dest.example", io::DnsType::mx, t0(), t0() + 1h});
        world.add_dns_fault({sim::DnsFault::Kind::timeout, "*.slow.example", std::nullopt, t0(), t0() + 1h});
      },
      {{Duration(0), "dest.example", io::DnsType::mx},
       {Duration(0), "dest.example", io::DnsType::a},  // another type: not faulted
       {1h, "dest.example", io::DnsType::mx},
       {Duration(0), "mx.slow.example", io::DnsType::a}});
  REQUIRE(answers.size() == 4);
  CHECK(answers[0].answer.status == io::DnsStatus::servfail);
  CHECK(answers[1].answer.status == io::DnsStatus::ok);
  // Answers are listed in the order they arrived: the timeout before the question asked an hour later.
  CHECK(answers[2].answer.status == io::DnsStatus::timeout);
  CHECK(answers[2].at == t0() + 5s);
  CHECK(answers[3].answer.status == io::DnsStatus::ok);
  CHECK(answers[3].answer.mx.size() == 1);
  CHECK(answers[3].at == t0() + 1h + 1ms);
}

TEST_CASE("a changed record is seen only once the cached answer's TTL runs out", "[sim][dns]") {
  const auto answers = ask(
      [](sim::World& world) {
        world.set_dns("dest.example", mx_records({{10, "old-mx.dest.example"}}, 600));
        world.change_dns_at(t0() + 1min, "dest.example", mx_records({{10, "new-mx.dest.example"}}, 600));
      },
      {{Duration(0), "dest.example", io::DnsType::mx},
       {5min, "dest.example", io::DnsType::mx},     // cached: still the old one
       {11min, "dest.example", io::DnsType::mx}});  // expired: the new one
  REQUIRE(answers.size() == 3);
  CHECK(answers[0].answer.mx.front().exchange == "old-mx.dest.example");
  CHECK(answers[1].answer.mx.front().exchange == "old-mx.dest.example");
  CHECK(answers[1].at == t0() + 5min);  // from the cache, at once
  CHECK(answers[2].answer.mx.front().exchange == "new-mx.dest.example");
}

TEST_CASE("a null MX is served as preference 0 and exchange '.'", "[sim][dns]") {
  const auto answers = ask(
      [](sim::World& world) {
        world.set_dns("nomail.example", mx_records({{0, "."}}));
      },
      {{Duration(0), "nomail.example", io::DnsType::mx}});
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].answer.mx == std::vector<io::MxRecord>{{0, "."}});
}

TEST_CASE("internationalized names are compared and asked as their A-labels", "[sim][dns][smtputf8]") {
  CHECK(io::normalize_dns_name("B\xc3\xbc"
                               "cher.Example.") == "xn--bcher-kva.example");
  CHECK(io::normalize_dns_name("xn--bcher-kva.example") == "xn--bcher-kva.example");
  CHECK(io::normalize_dns_name("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88") ==
        "xn--r8jz45g.xn--zckzah");
  // Not a valid IDN (a lone continuation byte): left as it is, so it is found nowhere.
  CHECK(io::normalize_dns_name("bad\x80.example") == "bad\x80.example");
  // Found by the address fuzzer: UTS #46 maps a soft hyphen to nothing, leaving a trailing dot;
  // the form is the same however often it is normalized.
  CHECK(io::normalize_dns_name(".\xc2\xad.") == "");
  CHECK(io::normalize_dns_name(io::normalize_dns_name("a.\xc2\xad.")) == io::normalize_dns_name("a.\xc2\xad."));
}
