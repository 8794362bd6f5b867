// SMTP TLS Reporting (RFC 8460): the TLSRPT record, failure classification, the report's JSON
// and mail, and the receiving side's parsers, each against the other and against the RFC's text.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fake_mx/tls_report_collector.hpp"
#include "io/gzip.hpp"
#include "relay/tls_report.hpp"
#include "smtp/dsn.hpp"

using namespace relaysim;
using namespace relaysim::relay::tlsrpt;

namespace {

Report sample_report() {
  Report report;
  report.organization = "Acme Corp";
  report.contact = "tls-reports@acme.example";
  report.report_id = "2026-03-02_dest.example@acme.example";
  report.submitter = "acme.example";
  report.submitter = "acme.example";
  report.domain = "dest.example";
  report.start = *parse_iso8601("2026-03-02T00:00:00Z");
  report.end = *parse_iso8601("2026-03-02T23:59:59Z");
  PolicyDescription sts{PolicyType::sts,
                        {"version: STSv1", "mode: enforce", "mx: mx.dest.example", "max_age: 604800"},
                        {"mx.dest.example"}};
  PolicyCounts& counts = report.policies[sts];
  counts.successes = 5;
  counts.failures = 3;
  counts.details[{ResultType::certificate_expired, "203.0.113.10", "mx.dest.example", "192.0.2.25",
                  "certificate has expired"}] = 2;
  counts.details[{ResultType::validation_failure, "", "mx.old.example", "", ""}] = 1;
  report.policies[PolicyDescription{}].successes = 2;  // no-policy-found
  return report;
}

}  // namespace

TEST_CASE("TLSRPT records: one v=TLSRPTv1 record, its mailto: and https: rua", "[tlsrpt]") {
  std::string why;
  CHECK(record_rua({"v=TLSRPTv1; rua=mailto:reports@dest.example"}) ==
        std::vector<std::string>{"mailto:reports@dest.example"});
  CHECK(record_rua({"v=spf1 -all", "v=TLSRPTv1;rua=mailto:a@x.example,https://tlsrpt.x.example/v1"}) ==
        std::vector<std::string>{"mailto:a@x.example", "https://tlsrpt.x.example/v1"});
  CHECK(record_rua({"v=TLSRPTv1; rua=mailto:a@x.example?subject=x; ext=1"}) ==
        std::vector<std::string>{"mailto:a@x.example"});
  CHECK_FALSE(record_rua({}, &why));
  CHECK(why == "no v=TLSRPTv1 record");
  CHECK_FALSE(record_rua({"v=TLSRPTv1; rua=mailto:a@x.example", "v=TLSRPTv1; rua=mailto:b@x.example"}, &why));
  CHECK(why == "more than one v=TLSRPTv1 record");
  CHECK_FALSE(record_rua({"v=TLSRPTv1;"}, &why));
  CHECK(why == "the v=TLSRPTv1 record has no rua");
  CHECK_FALSE(record_rua({"v=TLSRPTv1; rua=http://x.example/, ftp://x.example/, mailto:not-an-address"}, &why));
  CHECK(why == "the v=TLSRPTv1 record's rua has no mailto: or https: address");
  CHECK_FALSE(record_rua({"v=TLSRPTv2; rua=mailto:a@x.example"}));
}

TEST_CASE("TLS failures are classified into RFC 8460's result types by what the engine said", "[tlsrpt]") {
  const auto classify = [](std::string_view error) { return classify_failure(error, ResultType::validation_failure); };
  CHECK(classify("TLS handshake failed: certificate verification failed: certificate has expired") ==
        ResultType::certificate_expired);
  CHECK(classify("certificate verification failed: hostname mismatch") == ResultType::certificate_host_mismatch);
  CHECK(classify("certificate verification failed: self-signed certificate") == ResultType::certificate_not_trusted);
  CHECK(classify("certificate verification failed: unable to get local issuer certificate") ==
        ResultType::certificate_not_trusted);
  CHECK(classify("certificate verification failed: No matching DANE TLSA records") == ResultType::tlsa_invalid);
  CHECK(classify("TLS is required, but was not offered by the server") == ResultType::starttls_not_supported);
  CHECK(classify("the server refused STARTTLS and TLS is required") == ResultType::starttls_not_supported);
  CHECK(classify("handshake failed: unexpected eof") == ResultType::validation_failure);
  CHECK(classify_failure("handshake failed", ResultType::sts_webpki_invalid) == ResultType::sts_webpki_invalid);
  for (const ResultType type :
       {ResultType::starttls_not_supported, ResultType::dane_required, ResultType::sts_webpki_invalid})
    CHECK(result_type_named(to_string(type)) == type);
  CHECK_FALSE(result_type_named("certificate-revoked"));
}

TEST_CASE("A TLS report's JSON has RFC 8460's fields and the receiving side reads it back", "[tlsrpt]") {
  const Report report = sample_report();
  const std::string json = report_json(report);
  const nlohmann::json document = nlohmann::json::parse(json);
  CHECK(document.at("organization-name") == "Acme Corp");
  CHECK(document.at("date-range").at("start-datetime") == "2026-03-02T00:00:00Z");
  CHECK(document.at("date-range").at("end-datetime") == "2026-03-02T23:59:59Z");
  REQUIRE(document.at("policies").size() == 2);
  const nlohmann::json& sts = document.at("policies").at(0);
  CHECK(sts.at("policy").at("policy-type") == "sts");
  CHECK(sts.at("policy").at("policy-domain") == "dest.example");
  CHECK(sts.at("policy").at("mx-host") == nlohmann::json::array({"mx.dest.example"}));
  CHECK(sts.at("summary").at("total-failure-session-count") == 3);
  CHECK(sts.at("failure-details").at(0).at("result-type") == "certificate-expired");
  CHECK(sts.at("failure-details").at(0).at("receiving-ip") == "192.0.2.25");
  CHECK(sts.at("failure-details").at(0).at("failed-session-count") == 2);
  CHECK_FALSE(sts.at("failure-details").at(1).contains("sending-mta-ip"));  // a host skipped: no session made
  CHECK_FALSE(document.at("policies").at(1).contains("failure-details"));

  const auto parsed = fake_mx::parse_tls_report(json);
  REQUIRE(parsed);
  CHECK(parsed->report_id == report.report_id);
  REQUIRE(parsed->policies.size() == 2);
  CHECK(parsed->policies[0].successes == 5);
  CHECK(parsed->policies[0].results ==
        std::map<std::string, std::uint64_t>{{"certificate-expired", 2}, {"validation-failure", 1}});
  CHECK(parsed->policies[1].type == "no-policy-found");

  std::string why;
  CHECK_FALSE(fake_mx::parse_tls_report("[]", &why));
  CHECK(why == "not a JSON object");
  nlohmann::json broken = document;
  broken["policies"][0]["summary"]["total-failure-session-count"] = 1;  // fewer than its details count
  CHECK_FALSE(fake_mx::parse_tls_report(broken.dump(), &why));
  CHECK(why.find("failure-details count 3") != std::string::npos);
  broken = document;
  broken.erase("report-id");
  CHECK_FALSE(fake_mx::parse_tls_report(broken.dump(), &why));
}

TEST_CASE("A TLS report by mail is multipart/report with the gzipped JSON, and the collector reads it", "[tlsrpt]") {
  const Report report = sample_report();
  const std::string mail = report_mail(report, "noreply-smtp-tls-reporting@relay.acme.example", "tls@dest.example",
                                       *parse_iso8601("2026-03-03T01:00:00Z"), report.report_id);
  CHECK(smtp::header_value(mail, "Subject") ==
        "Report Domain: dest.example Submitter: acme.example Report-ID: <2026-03-02_dest.example@acme.example>");
  CHECK(smtp::header_value(mail, "TLS-Report-Domain") == "dest.example");
  CHECK(smtp::header_value(mail, "TLS-Report-Submitter") == "acme.example");
  CHECK(mail.find("report-type=\"tlsrpt\"") != std::string::npos);
  CHECK(mail.find("Content-Type: application/tlsrpt+gzip") != std::string::npos);
  CHECK(mail.find("filename=\"acme.example!dest.example!1772409600!1772495999.json.gz\"") != std::string::npos);
  for (std::size_t line = 0, next; (next = mail.find("\r\n", line)) != std::string::npos; line = next + 2)
    CHECK(next - line <= 78);  // RFC 5322 2.1.1

  std::string why;
  const auto parsed = fake_mx::tls_report_from_mail(mail, &why);
  INFO(why);
  REQUIRE(parsed);
  CHECK(parsed->organization == "Acme Corp");
  CHECK(parsed->policies.at(0).failures == 3);
  CHECK_FALSE(fake_mx::tls_report_from_mail("Subject: hello\r\n\r\nhi\r\n", &why));
}

TEST_CASE("gzip round-trips and gunzip refuses what is not whole gzip", "[tlsrpt]") {
  const std::string text(10'000, 'x');
  const std::string packed = io::gzip(text);
  CHECK(packed.size() < 200);
  CHECK(static_cast<unsigned char>(packed[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(packed[1]) == 0x8b);
  CHECK(io::gunzip(packed, 1 << 20) == text);
  CHECK_FALSE(io::gunzip(packed.substr(0, packed.size() - 4), 1 << 20));  // the trailer cut
  CHECK_FALSE(io::gunzip("not gzip", 1 << 20));
  CHECK_FALSE(io::gunzip(packed, 100));  // past the bound
}
