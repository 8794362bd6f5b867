#pragma once
// SMTP TLS Reporting (RFC 8460): the relay tells a recipient domain, once a day, how its TLS
// sessions to that domain's MX hosts went - per policy (its MTA-STS policy, a host's TLSA
// records, or none), how many succeeded and how many failed, and why.
//
// As Postfix does with smtp_tlsrpt_enable (it hands each TLS handshake's "success" or "failure"
// to the TLSRPT library, and sys4's tlsrpt-reportd sends the reports), Delivery records one
// session per TLS handshake it attempts - and per MX host a policy made it skip - and the Reporter
// keeps the counts per domain and UTC day. After the day ends (plus tlsrpt_report_delay) it looks
// up "_smtp._tls.<domain>" ("v=TLSRPTv1; rua=mailto:...,https://...") and sends the JSON report to
// every address there: a mailto: one as a multipart/report message through the relay's own queue,
// an https: one as a POST through Io. Both gzip the report (application/tlsrpt+gzip). A domain
// without such a record gets nothing. Counts are kept in memory: a restart loses the day's.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/io.hpp"
#include "io/time.hpp"
#include "relay/queue.hpp"

namespace relaysim::tls {
class Context;
}
namespace relaysim::endpoint {
class HttpsFetch;
}

namespace relaysim::relay {
struct RelayConfig;

namespace tlsrpt {

enum class PolicyType : std::uint8_t { sts, tlsa, no_policy_found };
std::string_view to_string(PolicyType type);  // "sts", "tlsa", "no-policy-found"

// RFC 8460 4.3's result types.
enum class ResultType : std::uint8_t {
  starttls_not_supported,
  certificate_host_mismatch,
  certificate_expired,
  certificate_not_trusted,
  validation_failure,
  tlsa_invalid,
  dnssec_invalid,
  dane_required,
  sts_policy_fetch_error,
  sts_policy_invalid,
  sts_webpki_invalid,
};
std::string_view to_string(ResultType type);  // "certificate-expired", ...
std::optional<ResultType> result_type_named(std::string_view name);

// The result type of a failed handshake, from the TLS engine's or the SMTP client's text
// ("TLS handshake failed: certificate verification failed: certificate has expired"); `fallback`
// when the text names no known cause.
ResultType classify_failure(std::string_view error, ResultType fallback);

// The policy a session was held to, as the report names it.
struct PolicyDescription {
  PolicyType type = PolicyType::no_policy_found;
  std::vector<std::string> strings;   // policy-string: the MTA-STS policy's lines, or the TLSA records
  std::vector<std::string> mx_hosts;  // mx-host: the policy's MX patterns, or the TLSA records' host
  auto operator<=>(const PolicyDescription&) const = default;
};

// One TLS session (or one MX host skipped by policy) to a recipient domain.
struct Session {
  std::string domain;  // the policy domain: the recipient domain
  PolicyDescription policy;
  std::optional<ResultType> failure;  // none: the session succeeded
  std::string sending_ip;             // the relay's address on the connection; empty when none was made
  std::string receiving_mx;           // the MX host name
  std::string receiving_ip;           // empty when none was dialled
  std::string reason_code;            // failure-reason-code: the engine's own words
};

// The rua addresses of the one "v=TLSRPTv1" record among a name's TXT records (RFC 8460 3); none
// when there is no such record, several, or no usable rua (`why` says which). Only mailto: and
// https: addresses are kept.
std::optional<std::vector<std::string>> record_rua(const std::vector<std::string>& texts, std::string* why = nullptr);

// One failure-details entry's identity, and the sessions it counts.
struct FailureKey {
  ResultType result = ResultType::validation_failure;
  std::string sending_ip, receiving_mx, receiving_ip, reason_code;
  auto operator<=>(const FailureKey&) const = default;
};
struct PolicyCounts {
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  std::map<FailureKey, std::uint64_t> details;
};

// One report's contents: a domain's day.
struct Report {
  std::string organization;
  std::string contact;
  std::string report_id;
  std::string submitter;  // the reporting domain: in the mail's subject, headers and attachment name
  std::string domain;
  Instant start, end;  // the day: 00:00:00Z, and 23:59:59Z
  std::map<PolicyDescription, PolicyCounts> policies;
};
// The report as RFC 8460 4.4's JSON.
std::string report_json(const Report& report);
// The report as RFC 8460 5.3's mail: multipart/report; report-type="tlsrpt", its JSON gzipped
// and base64-encoded as application/tlsrpt+gzip, named "submitter!domain!start!end.json.gz".
std::string report_mail(const Report& report, std::string_view from, std::string_view to, Instant now,
                        std::string_view message_id);

// A report whose policy lookup fails (SERVFAIL, timeout) or whose POST fails is tried again, an
// hour apart, up to four times in all (mail is the queue's to retry).
inline constexpr Duration report_retry_time = std::chrono::hours(1);
inline constexpr int report_attempts = 4;

// Keeps the counts and sends the reports. One per relay.
class Reporter {
 public:
  // Queues a report message (from <>) in the relay's queue; the callback reports whether it was stored.
  using MailReport = std::function<void(QueuedMessage message, std::function<void(bool stored)> done)>;

  // `context`: the client TLS context for https: addresses (chain and name checked); without one
  // those are skipped.
  Reporter(io::Io& io, const RelayConfig& config, const tls::Context* context, MailReport mail);
  ~Reporter();
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  void record(const Session& session);

 private:
  struct Day {
    std::string domain;
    std::int64_t day = 0;  // days since 1970-01-01, UTC
    auto operator<=>(const Day&) const = default;
  };
  void arm();
  void send_finished_days();
  void look_up(const Day& day, Report report, int attempt);
  void on_record(const Day& day, const Report& report, int attempt, const io::DnsAnswer& answer);
  void send(const Report& report, const std::string& rua);
  void post(const Report& report, const std::string& url, int attempt);
  // What failed for the `attempt`th time (a policy lookup, a POST): `again` in report_retry_time,
  // up to report_attempts; the log line says which.
  void retry(const std::string& what, int attempt, std::function<void()> again);
  void log(const std::string& line);

  io::Io& io_;
  const RelayConfig& config_;
  const tls::Context* context_;
  MailReport mail_;
  std::map<Day, std::map<PolicyDescription, PolicyCounts>> counts_;
  io::Pending timer_;
  std::map<Day, io::Pending> lookups_;
  std::map<std::uint64_t, std::unique_ptr<endpoint::HttpsFetch>> posts_;
  std::map<std::uint64_t, io::Pending> retries_;
  std::uint64_t next_retry_ = 1;
  std::uint64_t next_post_ = 1;
  io::Pending sweep_;
  std::vector<std::unique_ptr<endpoint::HttpsFetch>> finished_posts_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tlsrpt
}  // namespace relaysim::relay
