// SPF against RFC 7208's own examples (§7.4 macros, Appendix A records), the lookup limits and
// every result.

#include <catch2/catch.hpp>

#include "io/zone.hpp"
#include "mailauth/spf.hpp"
#include "support/dns_records.hpp"

using relaysim::testing::records;

using namespace relaysim;
using mailauth::SpfResult;

namespace {

io::Address ip(const char* text) { return *io::Address::parse(text); }

// RFC 7208 Appendix A's zone, with example.com's SPF record given per test.
io::Zone appendix_a(const std::string& record) {
  io::Zone zone;
  zone.set(
      "example.com",
      records().a("192.0.2.10").a("192.0.2.11").mx(10, "mail-a.example.com").mx(20, "mail-b.example.com").txt(record));
  zone.set("amy.example.com", records().a("192.0.2.65"));
  zone.set("bob.example.com", records().a("192.0.2.66"));
  zone.set("mail-a.example.com", records().a("192.0.2.129"));
  zone.set("mail-b.example.com", records().a("192.0.2.130"));
  zone.set("www.example.com", records().cname("example.com"));
  zone.set("mail-c.example.org", records().a("192.0.2.140"));
  zone.set("example.org", records().mx(10, "mail-c.example.org"));
  const auto pointer = [&zone](const char* address, const char* name) {
    zone.set(io::reverse_name(ip(address)), records().ptr(name));
  };
  pointer("192.0.2.10", "example.com");
  pointer("192.0.2.11", "example.com");
  pointer("192.0.2.65", "amy.example.com");
  pointer("192.0.2.66", "bob.example.com");
  pointer("192.0.2.129", "mail-a.example.com");
  pointer("192.0.2.130", "mail-b.example.com");
  pointer("192.0.2.140", "mail-c.example.org");
  pointer("10.0.0.4", "bob.example.com");
  return zone;
}

mailauth::SpfOutcome check(const io::Zone& zone, const char* client, const std::string& sender = "alice@example.com") {
  mailauth::SpfRequest request{ip(client), sender, "mail.example.com", "mx.receiver.example",
                               Instant::from_unix_seconds(1'700'000'000)};
  mailauth::Lookups lookups;
  return mailauth::run_with(
      lookups, [&](const mailauth::Lookups& answers) { return mailauth::check_spf(request, answers); },
      [&](const std::string& name, io::DnsType type) { return zone.answer(name, type, 300); });
}

}  // namespace

TEST_CASE("SPF macros expand as RFC 7208 section 7.4 shows", "[spf]") {
  mailauth::SpfRequest request{ip("192.0.2.3"), "strong-bad@email.example.com", "mail.example.com", "mx.example.org",
                               Instant::from_unix_seconds(1'700'000'000)};
  const auto expand = [&](const char* text) {
    return mailauth::expand_spf_macros(text, "email.example.com", request.sender, request, false).value_or("<error>");
  };
  CHECK(expand("%{s}") == "strong-bad@email.example.com");
  CHECK(expand("%{o}") == "email.example.com");
  CHECK(expand("%{d}") == "email.example.com");
  CHECK(expand("%{d4}") == "email.example.com");
  CHECK(expand("%{d3}") == "email.example.com");
  CHECK(expand("%{d2}") == "example.com");
  CHECK(expand("%{d1}") == "com");
  CHECK(expand("%{dr}") == "com.example.email");
  CHECK(expand("%{d2r}") == "example.email");
  CHECK(expand("%{l}") == "strong-bad");
  CHECK(expand("%{l-}") == "strong.bad");
  CHECK(expand("%{lr}") == "strong-bad");
  CHECK(expand("%{lr-}") == "bad.strong");
  CHECK(expand("%{l1r-}") == "strong");
  CHECK(expand("%{ir}.%{v}._spf.%{d2}") == "3.2.0.192.in-addr._spf.example.com");
  CHECK(expand("%{lr-}.lp._spf.%{d2}") == "bad.strong.lp._spf.example.com");
  CHECK(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}") == "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  CHECK(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}") == "3.2.0.192.in-addr.strong.lp._spf.example.com");
  CHECK(expand("%{d2}.trusted-domains.example.net") == "example.com.trusted-domains.example.net");
  request.client = ip("2001:db8::cb01");
  CHECK(expand("%{ir}.%{v}._spf.%{d2}") ==
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
  // Upper case escapes; %% %_ %- are literals; c, r and t belong to explanations only.
  CHECK(expand("%{L}") == "strong-bad");
  CHECK(mailauth::expand_spf_macros("%{S}", "example.com", "a b@x.example", request, false) == "a%20b%40x.example");
  CHECK(expand("%%%_%-") == "% %20");
  CHECK(!mailauth::expand_spf_macros("%{c}", "example.com", request.sender, request, false));
  CHECK(mailauth::expand_spf_macros("%{c} at %{r} %{t}", "example.com", request.sender, request, true) ==
        "2001:db8::cb01 at mx.example.org 1700000000");
  CHECK(!mailauth::expand_spf_macros("%{x}", "example.com", request.sender, request, false));
  // %{p}: the client's validated name, with DNS; "unknown" without.
  io::Zone zone;
  zone.set(io::reverse_name(ip("192.0.2.3")), records().ptr("mx.example.org"));
  zone.set("mx.example.org", records().a("192.0.2.3"));
  request.client = ip("192.0.2.3");
  mailauth::Lookups lookups;
  const auto with_dns = mailauth::run_with(
      lookups,
      [&](const mailauth::Lookups& answers) {
        return mailauth::expand_spf_macros("%{p}", "email.example.com", request.sender, request, false, &answers);
      },
      [&](const std::string& name, io::DnsType type) { return zone.answer(name, type, 300); });
  CHECK(with_dns == "mx.example.org");
  CHECK(mailauth::expand_spf_macros("%{p}", "email.example.com", request.sender, request, false) == "unknown");
  CHECK(!mailauth::expand_spf_macros("%{d0}", "example.com", request.sender, request, false));
  CHECK(!mailauth::expand_spf_macros("%", "example.com", request.sender, request, false));
}

TEST_CASE("SPF decides RFC 7208 Appendix A.1's examples", "[spf]") {
  const auto passes = [](const std::string& record, const char* client) {
    return check(appendix_a(record), client).result == SpfResult::pass;
  };
  CHECK(passes("v=spf1 +all", "203.0.113.99"));
  CHECK(passes("v=spf1 a -all", "192.0.2.10"));
  CHECK(passes("v=spf1 a -all", "192.0.2.11"));
  CHECK_FALSE(passes("v=spf1 a -all", "192.0.2.65"));
  CHECK_FALSE(passes("v=spf1 a:example.org -all", "192.0.2.140"));  // example.org has no A records
  CHECK(passes("v=spf1 mx -all", "192.0.2.129"));
  CHECK(passes("v=spf1 mx -all", "192.0.2.130"));
  CHECK_FALSE(passes("v=spf1 mx -all", "192.0.2.140"));
  CHECK(passes("v=spf1 mx:example.org -all", "192.0.2.140"));
  CHECK(passes("v=spf1 mx mx:example.org -all", "192.0.2.129"));
  CHECK(passes("v=spf1 mx mx:example.org -all", "192.0.2.140"));
  CHECK(passes("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.131"));
  CHECK(passes("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.143"));
  CHECK_FALSE(passes("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.132"));
  CHECK(passes("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.141"));
  CHECK_FALSE(passes("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.144"));
  // ptr: a valid reverse name in example.com passes; valid but elsewhere, or not valid, fails.
  CHECK(passes("v=spf1 ptr -all", "192.0.2.65"));
  CHECK_FALSE(passes("v=spf1 ptr -all", "192.0.2.140"));
  CHECK_FALSE(passes("v=spf1 ptr -all", "10.0.0.4"));
}

TEST_CASE("SPF gives every result with its reason", "[spf]") {
  CHECK(check(appendix_a("v=spf1 -all"), "192.0.2.1").result == SpfResult::fail);
  CHECK(check(appendix_a("v=spf1 ~all"), "192.0.2.1").result == SpfResult::softfail);
  CHECK(check(appendix_a("v=spf1 ?all"), "192.0.2.1").result == SpfResult::neutral);
  const auto fallthrough = check(appendix_a("v=spf1 ip4:198.51.100.0/24"), "192.0.2.1");
  CHECK(fallthrough.result == SpfResult::neutral);
  CHECK(fallthrough.mechanism == "default");
  CHECK(check(appendix_a("not spf"), "192.0.2.1").result == SpfResult::none);
  CHECK(check(appendix_a("v=spf1 -all"), "192.0.2.1", "alice@nowhere.example").result == SpfResult::none);
  CHECK(check(appendix_a("v=spf1 foo:bar -all"), "192.0.2.1").result == SpfResult::permerror);
  CHECK(check(appendix_a("v=spf1 ip4:192.0.2.300 -all"), "192.0.2.1").result == SpfResult::permerror);
  CHECK(check(appendix_a("v=spf1 redirect=a.example redirect=b.example"), "192.0.2.1").result == SpfResult::permerror);
  // Two SPF records: permerror. Unknown modifiers are ignored.
  io::Zone two = appendix_a("v=spf1 -all");
  two.set("example.com", records().txt("v=spf1 -all").txt("v=spf1 +all"));
  CHECK(check(two, "192.0.2.1").result == SpfResult::permerror);
  CHECK(check(appendix_a("v=spf1 moo=cow +all"), "192.0.2.1").result == SpfResult::pass);
  // A temporary DNS failure is temperror.
  io::Zone broken = appendix_a("v=spf1 include:flaky.example -all");
  mailauth::SpfRequest request{ip("192.0.2.1"), "alice@example.com", "mail.example.com", "mx",
                               Instant::from_unix_seconds(0)};
  mailauth::Lookups lookups;
  const auto outcome = mailauth::run_with(
      lookups, [&](const mailauth::Lookups& answers) { return mailauth::check_spf(request, answers); },
      [&](const std::string& name, io::DnsType type) {
        if (name == "flaky.example") return io::DnsAnswer::without_records(io::DnsStatus::servfail, name);
        return broken.answer(name, type, 300);
      });
  CHECK(outcome.result == SpfResult::temperror);
  // The null sender checks the HELO identity.
  io::Zone helo = appendix_a("v=spf1 -all");
  helo.set("mail.example.com", records().a("192.0.2.77").txt("v=spf1 a -all"));
  const auto by_helo = check(helo, "192.0.2.77", "");
  CHECK(by_helo.identity == "helo");
  CHECK(by_helo.domain == "mail.example.com");
  CHECK(by_helo.result == SpfResult::pass);
}

TEST_CASE("SPF include, redirect and exp behave as RFC 7208 sections 5.2, 6.1 and 6.2 say", "[spf]") {
  io::Zone zone = appendix_a("v=spf1 include:_spf.provider.example -all");
  zone.set("_spf.provider.example", records().txt("v=spf1 ip4:13.108.0.0/14 ~all"));
  CHECK(check(zone, "13.110.1.1").result == SpfResult::pass);
  CHECK(check(zone, "192.0.2.1").result == SpfResult::fail);  // the include's softfail is no match
  zone.set("example.com", records().txt("v=spf1 include:nospf.example -all"));
  zone.set("nospf.example", records().a("192.0.2.9"));
  CHECK(check(zone, "192.0.2.1").result == SpfResult::permerror);  // include of a domain without SPF
  zone.set("example.com", records().txt("v=spf1 redirect=_spf.provider.example"));
  CHECK(check(zone, "13.108.5.5").result == SpfResult::pass);
  CHECK(check(zone, "192.0.2.1").result == SpfResult::softfail);
  zone.set("example.com", records().txt("v=spf1 redirect=nospf.example"));
  CHECK(check(zone, "192.0.2.1").result == SpfResult::permerror);
  zone.set("example.com", records().txt("v=spf1 -all exp=explain.example.com"));
  zone.set("explain.example.com", records().txt("%{i} is not one of %{d}'s designated mail servers."));
  const auto failed = check(zone, "192.0.2.1");
  CHECK(failed.result == SpfResult::fail);
  CHECK(failed.explanation == "192.0.2.1 is not one of example.com's designated mail servers.");
}

TEST_CASE("SPF stops at 10 DNS-querying terms and at 2 void lookups", "[spf]") {
  io::Zone zone = appendix_a("v=spf1 include:l1.example -all");
  for (int i = 1; i <= 11; ++i) {
    const std::string next = i < 11 ? "include:l" + std::to_string(i + 1) + ".example " : "";
    zone.set("l" + std::to_string(i) + ".example", records().txt("v=spf1 " + next + "ip4:192.0.2.1 -all"));
  }
  const auto deep = check(zone, "192.0.2.1");
  CHECK(deep.result == SpfResult::permerror);
  CHECK(deep.reason.find("more than 10") != std::string::npos);
  zone.set("l10.example", records().txt("v=spf1 ip4:192.0.2.1 -all"));
  const auto ten = check(zone, "192.0.2.1");
  CHECK(ten.result == SpfResult::pass);
  CHECK(ten.dns_lookups == 10);
  zone.set("example.com", records().txt("v=spf1 a:gone1.example a:gone2.example a:gone3.example +all"));
  const auto voids = check(zone, "192.0.2.1");
  CHECK(voids.result == SpfResult::permerror);
  CHECK(voids.void_lookups == 3);
  zone.set("example.com", records().txt("v=spf1 a:gone1.example a:gone2.example +all"));
  CHECK(check(zone, "192.0.2.1").result == SpfResult::pass);
  // exists: with macros, as used for per-address lookups.
  zone.set("example.com", records().txt("v=spf1 exists:%{ir}.ok.example -all"));
  zone.set("1.2.0.192.ok.example", records().a("127.0.0.2"));
  CHECK(check(zone, "192.0.2.1").result == SpfResult::pass);
  CHECK(check(zone, "192.0.2.2").result == SpfResult::fail);
}
