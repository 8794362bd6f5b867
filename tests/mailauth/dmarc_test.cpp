// DMARC: policy discovery, alignment, pct, and the Authentication-Results field.

#include <catch2/catch.hpp>

#include "io/zone.hpp"
#include "mailauth/dmarc.hpp"
#include "support/dns_records.hpp"

using relaysim::testing::records;

using namespace relaysim;
using mailauth::DmarcPolicy;
using mailauth::DmarcResult;

namespace {

mailauth::DmarcOutcome check(const io::Zone& zone, const mailauth::DmarcInput& input) {
  mailauth::Lookups lookups;
  return mailauth::run_with(
      lookups, [&](const mailauth::Lookups& answers) { return mailauth::check_dmarc(input, answers); },
      [&](const std::string& name, io::DnsType type) { return zone.answer(name, type, 300); });
}

mailauth::DkimSignatureCheck dkim(const char* domain, mailauth::DkimResult result = mailauth::DkimResult::pass) {
  mailauth::DkimSignatureCheck check;
  check.result = result;
  check.domain = domain;
  check.selector = "sel1";
  check.b_prefix = "abcdefgh";
  return check;
}

}  // namespace

TEST_CASE("the organisational domain is the registered one", "[dmarc]") {
  CHECK(mailauth::organizational_domain("acme.example") == "acme.example");
  CHECK(mailauth::organizational_domain("news.mail.acme.example") == "acme.example");
  CHECK(mailauth::organizational_domain("mail.acme.co.uk") == "acme.co.uk");
  CHECK(mailauth::organizational_domain("example") == "example");
  CHECK(mailauth::organizational_domain("Bnc.Salesforce.COM.") == "salesforce.com");
}

TEST_CASE("DMARC passes on an aligned SPF or DKIM pass, and fails otherwise", "[dmarc]") {
  io::Zone zone;
  zone.set("_dmarc.acme.example", records().txt("v=DMARC1; p=reject; rua=mailto:d@acme.example"));
  // Bounce management: SPF passes for Salesforce's VERP domain, which is not aligned with acme.
  mailauth::DmarcInput verp{"acme.example", mailauth::SpfResult::pass, "na1.bnc.salesforce.com", {}, 0};
  auto outcome = check(zone, verp);
  CHECK(outcome.result == DmarcResult::fail);
  CHECK(outcome.disposition == DmarcPolicy::reject);
  CHECK_FALSE(outcome.spf_aligned);
  // The same with an acme DKIM signature: aligned, pass.
  verp.dkim = {dkim("acme.example")};
  outcome = check(zone, verp);
  CHECK(outcome.result == DmarcResult::pass);
  CHECK(outcome.dkim_aligned);
  CHECK(outcome.disposition == DmarcPolicy::none);
  // Relaxed alignment takes a subdomain; strict does not.
  mailauth::DmarcInput sub{"acme.example", mailauth::SpfResult::pass, "bounce.acme.example", {}, 0};
  CHECK(check(zone, sub).result == DmarcResult::pass);
  zone.set("_dmarc.acme.example", records().txt("v=DMARC1; p=quarantine; aspf=s; adkim=s"));
  CHECK(check(zone, sub).result == DmarcResult::fail);
  sub.dkim = {dkim("mail.acme.example")};
  CHECK(check(zone, sub).result == DmarcResult::fail);
  sub.dkim = {dkim("acme.example", mailauth::DkimResult::fail)};
  CHECK(check(zone, sub).result == DmarcResult::fail);
  // SPF softfail is no pass.
  CHECK(check(zone, {"acme.example", mailauth::SpfResult::softfail, "acme.example", {}, 0}).result ==
        DmarcResult::fail);
}

TEST_CASE("DMARC finds the policy at the organisational domain, applies sp= and pct=", "[dmarc]") {
  io::Zone zone;
  zone.set("_dmarc.acme.example", records().txt("v=DMARC1; p=reject; sp=quarantine; pct=50"));
  mailauth::DmarcInput input{"news.acme.example", mailauth::SpfResult::fail, "news.acme.example", {}, 10};
  auto outcome = check(zone, input);
  CHECK(outcome.record_domain == "acme.example");
  CHECK(outcome.policy == DmarcPolicy::quarantine);
  CHECK(outcome.disposition == DmarcPolicy::quarantine);  // sampled in (10 < 50)
  input.sample = 70;
  CHECK(check(zone, input).disposition == DmarcPolicy::none);  // sampled out: quarantine -> none
  input.from_domain = "acme.example";
  CHECK(check(zone, input).disposition == DmarcPolicy::quarantine);  // sampled out: reject -> quarantine
  // No record, two records, not DMARC: none. A DNS failure: temperror.
  CHECK(check(io::Zone{}, input).result == DmarcResult::none);
  zone.set("_dmarc.acme.example", records().txt("v=DMARC1; p=reject").txt("v=DMARC1; p=none"));
  CHECK(check(zone, input).result == DmarcResult::none);
  zone.set("_dmarc.acme.example", records().txt("v=spf1 -all"));
  CHECK(check(zone, input).result == DmarcResult::none);
  mailauth::Lookups lookups;
  const auto broken = mailauth::run_with(
      lookups, [&](const mailauth::Lookups& answers) { return mailauth::check_dmarc(input, answers); },
      [](const std::string& name, io::DnsType) {
        return io::DnsAnswer::without_records(io::DnsStatus::servfail, name);
      });
  CHECK(broken.result == DmarcResult::temperror);
}

TEST_CASE("Authentication-Results records the three checks (RFC 8601)", "[dmarc]") {
  mailauth::SpfOutcome spf;
  spf.result = mailauth::SpfResult::pass;
  spf.identity = "mailfrom";
  mailauth::DmarcOutcome dmarc;
  dmarc.result = DmarcResult::pass;
  dmarc.policy = DmarcPolicy::reject;
  const std::string field = mailauth::authentication_results("mx.dest.example", spf, "news@acme.example",
                                                             {dkim("acme.example")}, dmarc, "acme.example");
  CHECK(field ==
        "Authentication-Results: mx.dest.example;\r\n"
        "\tspf=pass smtp.mailfrom=news@acme.example;\r\n"
        "\tdkim=pass header.d=acme.example header.s=sel1 header.b=abcdefgh;\r\n"
        "\tdmarc=pass (p=reject dis=none) header.from=acme.example\r\n");
}
