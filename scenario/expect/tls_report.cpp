// A TLS report expectation: the reports (RFC 8460) about a domain that its collectors received by
// HTTPS and its mailboxes by mail, their session counts summed over the policies asked about.

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/expect/expectations.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::scenario::expect {
namespace {

// Every report the world's doubles received, in the order they arrived.
std::vector<fake_mx::TlsReport> received_reports(const LoadedWorld& loaded) {
  std::vector<fake_mx::TlsReport> reports;
  for (const auto& [name, store] : loaded.tls_report_stores) {
    reports.insert(reports.end(), store->reports.begin(), store->reports.end());
  }
  for (const auto& [name, store] : loaded.mail_stores) {
    for (const fake_mx::StoredMessage& message : store->messages()) {
      if (smtp::header_value(message.content, "TLS-Report-Domain").empty()) continue;
      std::optional<fake_mx::TlsReport> report = fake_mx::tls_report_from_mail(message.content);
      if (!report) continue;
      report->received = message.received;
      report->via = "mailto";
      reports.push_back(std::move(*report));
    }
  }
  std::stable_sort(reports.begin(), reports.end(),
                   [](const auto& a, const auto& b) { return a.received < b.received; });
  return reports;
}

}  // namespace

Verdict tls_report(const Expectation& expect, const LoadedWorld& loaded) {
  std::uint64_t reports = 0, successful = 0, failed = 0;
  std::map<std::string, std::uint64_t> results;
  std::optional<Instant> last;
  for (const fake_mx::TlsReport& report : received_reports(loaded)) {
    if (!expect.report_via.empty() && report.via != expect.report_via) continue;
    bool about = false;
    for (const fake_mx::TlsReport::Policy& policy : report.policies) {
      if (to_lower(policy.domain) != expect.report_domain) continue;
      about = true;
      if (!expect.report_policy_type.empty() && policy.type != expect.report_policy_type) continue;
      successful += policy.successes;
      failed += policy.failures;
      for (const auto& [type, count] : policy.results) results[type] += count;
    }
    if (!about) continue;
    reports += 1;
    last = report.received;
  }
  std::string wrong;
  const auto compare = [&](std::string_view what, std::optional<std::uint64_t> wanted, std::uint64_t actual) {
    if (wanted && *wanted != actual)
      wrong += (wrong.empty() ? "" : ", ") + std::string(what) + " " + std::to_string(actual) + ", not " +
               std::to_string(*wanted);
  };
  compare("reports", expect.reports, reports);
  compare("successful sessions", expect.successful_sessions, successful);
  compare("failed sessions", expect.failed_sessions, failed);
  for (const auto& [type, count] : expect.result_types) compare(type, count, results[type]);
  if (!expect.reports && reports == 0 && wrong.empty()) wrong = "no report about " + expect.report_domain + " arrived";
  if (!wrong.empty()) return {expect.name, false, wrong, last};
  return {expect.name, true,
          counted(reports, "report") + ": " + std::to_string(successful) + " successful, " + std::to_string(failed) +
              " failed sessions"};
}

}  // namespace relaysim::scenario::expect
