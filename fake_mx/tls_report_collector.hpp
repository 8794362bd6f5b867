#pragma once
// The receiving end of SMTP TLS Reporting (RFC 8460): what a domain's report collector makes of a
// report - from an HTTPS POST to its rua (the collector node here), or from mail to a mailto: rua
// (a fake MX's mailbox; report_from_mail finds the attachment). A report is gunzipped when it
// says application/tlsrpt+gzip, parsed as RFC 8460 4.4's JSON, and kept with where it came from.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fake_mx/https_server.hpp"
#include "io/io.hpp"

namespace relaysim::fake_mx {

struct TlsReport {
  struct Policy {
    std::string type;  // "sts", "tlsa", "no-policy-found"
    std::string domain;
    std::vector<std::string> strings;
    std::vector<std::string> mx_hosts;
    std::uint64_t successes = 0;
    std::uint64_t failures = 0;
    std::map<std::string, std::uint64_t> results;  // failed sessions by result-type
  };
  std::string organization;
  std::string contact;
  std::string report_id;
  Instant start, end;
  std::vector<Policy> policies;

  Instant received;
  std::string via;  // "https" or "mailto"
};

// The report in `json`; none, with `why`, for anything RFC 8460 4.4 does not allow.
std::optional<TlsReport> parse_tls_report(std::string_view json, std::string* why = nullptr);
// The report a message carries (multipart/report; report-type="tlsrpt", its application/tlsrpt+gzip
// or +json part); none, with `why`, for a message that is no such report.
std::optional<TlsReport> tls_report_from_mail(std::string_view content, std::string* why = nullptr);
// The report in a POST body of this Content-Type.
std::optional<TlsReport> tls_report_from_post(std::string_view content_type, std::string_view body,
                                              std::string* why = nullptr);

// What a collector received, shared with the checks.
struct TlsReportStore {
  std::vector<TlsReport> reports;
  std::vector<std::string> rejected;  // why each unparseable POST was refused
};

struct TlsReportCollectorConfig {
  io::Address address = io::Address::any_v4();
  std::uint16_t port = 443;
  std::string path = "/";  // POSTs elsewhere: 404
  int status = 200;        // the answer to a report it parsed; a 5xx makes the sender's POST fail
};

class TlsReportCollectorNode final : public io::Node {
 public:
  TlsReportCollectorNode(io::Io& io, TlsReportCollectorConfig config, const tls::Context& tls, TlsReportStore& store);
  void start() override;
  std::string status() const override;

 private:
  HttpAnswer answer(const HttpRequest& request);

  io::Io& io_;
  TlsReportCollectorConfig config_;
  TlsReportStore& store_;
  HttpsServer server_;
};

}  // namespace relaysim::fake_mx
