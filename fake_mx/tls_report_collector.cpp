#include "fake_mx/tls_report_collector.hpp"

#include <nlohmann/json.hpp>

#include "io/gzip.hpp"
#include "io/text.hpp"
#include "smtp/dsn.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::fake_mx {
namespace {

constexpr std::size_t report_bytes_max = 1024 * 1024;

std::optional<TlsReport> failed(std::string* why, std::string reason) {
  if (why != nullptr) *why = std::move(reason);
  return std::nullopt;
}

}  // namespace

std::optional<TlsReport> parse_tls_report(std::string_view json, std::string* why) {
  const nlohmann::json document = nlohmann::json::parse(json, nullptr, false);
  if (document.is_discarded() || !document.is_object()) return failed(why, "not a JSON object");
  try {
    TlsReport report;
    report.organization = document.at("organization-name").get<std::string>();
    report.contact = document.at("contact-info").get<std::string>();
    report.report_id = document.at("report-id").get<std::string>();
    const auto start = parse_iso8601(document.at("date-range").at("start-datetime").get<std::string>());
    const auto end = parse_iso8601(document.at("date-range").at("end-datetime").get<std::string>());
    if (!start || !end || *end < *start) return failed(why, "date-range is not two instants in order");
    report.start = *start;
    report.end = *end;
    for (const nlohmann::json& entry : document.at("policies")) {
      TlsReport::Policy policy;
      const nlohmann::json& described = entry.at("policy");
      policy.type = described.at("policy-type").get<std::string>();
      if (policy.type != "sts" && policy.type != "tlsa" && policy.type != "no-policy-found")
        return failed(why, "unknown policy-type \"" + policy.type + "\"");
      policy.domain = described.at("policy-domain").get<std::string>();
      if (described.contains("policy-string"))
        policy.strings = described.at("policy-string").get<std::vector<std::string>>();
      if (described.contains("mx-host")) policy.mx_hosts = described.at("mx-host").get<std::vector<std::string>>();
      policy.successes = entry.at("summary").at("total-successful-session-count").get<std::uint64_t>();
      policy.failures = entry.at("summary").at("total-failure-session-count").get<std::uint64_t>();
      std::uint64_t detailed = 0;
      if (entry.contains("failure-details")) {
        for (const nlohmann::json& detail : entry.at("failure-details")) {
          const std::uint64_t count = detail.at("failed-session-count").get<std::uint64_t>();
          policy.results[detail.at("result-type").get<std::string>()] += count;
          detailed += count;
        }
      }
      if (detailed > policy.failures)
        return failed(why, "failure-details count " + std::to_string(detailed) + " failed sessions of " +
                               policy.domain + ", the summary " + std::to_string(policy.failures));
      report.policies.push_back(std::move(policy));
    }
    return report;
  } catch (const nlohmann::json::exception& error) {
    return failed(why, std::string("a member is missing or of the wrong type: ") + error.what());
  }
}

std::optional<TlsReport> tls_report_from_post(std::string_view content_type, std::string_view body, std::string* why) {
  const std::string type = to_lower(content_type.substr(0, content_type.find(';')));
  if (type == "application/tlsrpt+json") return parse_tls_report(body, why);
  if (type != "application/tlsrpt+gzip") return failed(why, "Content-Type " + std::string(content_type));
  const std::optional<std::string> json = io::gunzip(body, report_bytes_max);
  if (!json) return failed(why, "the body is not gzip");
  return parse_tls_report(*json, why);
}

std::optional<TlsReport> tls_report_from_mail(std::string_view content, std::string* why) {
  const std::string top = smtp::header_value(content, "Content-Type");
  if (!to_lower(top).starts_with("multipart/report") ||
      to_lower(smtp::mime_parameter(top, "report-type").value_or("")) != "tlsrpt")
    return failed(why, "not multipart/report; report-type=\"tlsrpt\"");
  const std::string boundary = smtp::mime_parameter(top, "boundary").value_or("");
  if (boundary.empty()) return failed(why, "no boundary");
  const std::string delimiter = "--" + boundary;
  std::size_t at = content.find(delimiter);
  while (at != std::string_view::npos) {
    const std::size_t part_start = content.find("\r\n", at);
    if (part_start == std::string_view::npos) break;
    const std::size_t next = content.find(delimiter, part_start);
    const std::string_view part =
        content.substr(part_start + 2, (next == std::string_view::npos ? content.size() : next) - part_start - 2);
    const std::string type = to_lower(smtp::header_value(part, "Content-Type"));
    if (type.starts_with("application/tlsrpt+")) {
      const std::size_t body_start = part.find("\r\n\r\n");
      if (body_start == std::string_view::npos) return failed(why, "the report part has no body");
      std::string body(part.substr(body_start + 4));
      if (to_lower(smtp::header_value(part, "Content-Transfer-Encoding")) == "base64") {
        const std::optional<std::string> decoded = smtp::decode_base64_lines(body);
        if (!decoded) return failed(why, "the report part is not base64");
        body = *decoded;
      }
      return tls_report_from_post(type, body, why);
    }
    at = next;
  }
  return failed(why, "no application/tlsrpt+gzip or +json part");
}

TlsReportCollectorNode::TlsReportCollectorNode(io::Io& io, TlsReportCollectorConfig config, const tls::Context& tls,
                                               TlsReportStore& store)
    : io_(io),
      config_(std::move(config)),
      store_(store),
      server_(io, {config_.address, config_.port}, tls, report_bytes_max,
              [this](const HttpRequest& request) { return answer(request); }) {}

void TlsReportCollectorNode::start() { server_.start(); }

std::string TlsReportCollectorNode::status() const {
  return "collecting TLS reports: " + std::to_string(store_.reports.size()) + " received, " +
         std::to_string(store_.rejected.size()) + " refused";
}

// RFC 8460 3: a report is POSTed to the rua's URL; a report it cannot read is refused with 400.
HttpAnswer TlsReportCollectorNode::answer(const HttpRequest& request) {
  if (request.method != "POST") return {405, "text/plain", "", Duration(0)};
  if (request.path != config_.path) return {404, "text/plain", "not found\r\n", Duration(0)};
  std::string why;
  std::optional<TlsReport> report = tls_report_from_post(request.content_type, request.body, &why);
  if (!report) {
    store_.rejected.push_back(why);
    io_.observe(io::LogLine{"refused a TLS report: " + why});
    return {400, "text/plain", why + "\r\n", Duration(0)};
  }
  report->received = io_.now();
  report->via = "https";
  io_.observe(io::LogLine{"TLS report " + report->report_id + " from " + report->organization + " received"});
  store_.reports.push_back(std::move(*report));
  return {config_.status, "text/plain", "", Duration(0)};
}

}  // namespace relaysim::fake_mx
