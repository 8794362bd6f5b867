#include "relay/tls_report.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "endpoint/https_fetch.hpp"
#include "io/gzip.hpp"
#include "io/text.hpp"
#include "relay/config.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::relay::tlsrpt {
namespace {

constexpr std::int64_t seconds_a_day = 24 * 60 * 60;
constexpr Duration post_timeout = std::chrono::minutes(1);
constexpr std::size_t rua_max = 5;  // addresses served per domain; more are ignored

std::int64_t day_of(Instant instant) {
  const std::int64_t seconds = instant.unix_seconds();
  return seconds >= 0 ? seconds / seconds_a_day : -((-seconds + seconds_a_day - 1) / seconds_a_day);
}
Instant day_start(std::int64_t day) { return Instant::from_unix_seconds(day * seconds_a_day); }

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(separator, start), text.size());
    parts.push_back(trim(text.substr(start, end - start)));
    start = end + 1;
  }
  return parts;
}

// "https://host[:port]/path" split; none for anything else.
struct HttpsUrl {
  std::string host;
  std::uint16_t port = 443;
  std::string path = "/";
};
std::optional<HttpsUrl> parse_https_url(std::string_view url) {
  constexpr std::string_view scheme = "https://";
  if (url.size() <= scheme.size() || to_lower(url.substr(0, scheme.size())) != scheme) return std::nullopt;
  std::string_view rest = url.substr(scheme.size());
  HttpsUrl parsed;
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) parsed.path = std::string(rest.substr(slash));
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos) {
    const std::string_view digits = authority.substr(colon + 1);
    if (digits.empty() || digits.size() > 5 || !std::all_of(digits.begin(), digits.end(), ::isdigit))
      return std::nullopt;
    const long port = std::stol(std::string(digits));
    if (port < 1 || port > 65535) return std::nullopt;
    parsed.port = static_cast<std::uint16_t>(port);
    authority = authority.substr(0, colon);
  }
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  parsed.host = to_lower(authority);
  return parsed;
}

std::string date_of(Instant instant) { return format_iso8601(instant).substr(0, 10); }

// "TLS report for dest.example on 2026-03-02": what the log lines are about.
std::string describe(const Report& report) {
  return "TLS report for " + report.domain + " on " + date_of(report.start);
}

}  // namespace

std::string_view to_string(PolicyType type) {
  switch (type) {
    case PolicyType::sts: return "sts";
    case PolicyType::tlsa: return "tlsa";
    case PolicyType::no_policy_found: return "no-policy-found";
  }
  return "no-policy-found";
}

namespace {
constexpr std::pair<ResultType, std::string_view> result_names[] = {
    {ResultType::starttls_not_supported, "starttls-not-supported"},
    {ResultType::certificate_host_mismatch, "certificate-host-mismatch"},
    {ResultType::certificate_expired, "certificate-expired"},
    {ResultType::certificate_not_trusted, "certificate-not-trusted"},
    {ResultType::validation_failure, "validation-failure"},
    {ResultType::tlsa_invalid, "tlsa-invalid"},
    {ResultType::dnssec_invalid, "dnssec-invalid"},
    {ResultType::dane_required, "dane-required"},
    {ResultType::sts_policy_fetch_error, "sts-policy-fetch-error"},
    {ResultType::sts_policy_invalid, "sts-policy-invalid"},
    {ResultType::sts_webpki_invalid, "sts-webpki-invalid"},
};
}  // namespace

std::string_view to_string(ResultType type) {
  for (const auto& [known, name] : result_names) {
    if (known == type) return name;
  }
  return "validation-failure";
}

std::optional<ResultType> result_type_named(std::string_view name) {
  for (const auto& [known, known_name] : result_names) {
    if (known_name == name) return known;
  }
  return std::nullopt;
}

// OpenSSL's verify error strings (X509_verify_cert_error_string) and the SMTP client's own words.
ResultType classify_failure(std::string_view error, ResultType fallback) {
  const std::string text = to_lower(error);
  const auto says = [&](std::string_view words) { return text.find(words) != std::string::npos; };
  if (says("not offered") || says("refused starttls")) return ResultType::starttls_not_supported;
  if (says("certificate has expired")) return ResultType::certificate_expired;
  if (says("hostname mismatch") || says("host name mismatch")) return ResultType::certificate_host_mismatch;
  if (says("dane") || says("tlsa")) return ResultType::tlsa_invalid;
  if (says("self-signed") || says("self signed") || says("unable to get local issuer") ||
      says("unable to get issuer") || says("unable to verify the first certificate") || says("not trusted"))
    return ResultType::certificate_not_trusted;
  return fallback;
}

std::optional<std::vector<std::string>> record_rua(const std::vector<std::string>& texts, std::string* why) {
  const auto fail = [why](std::string reason) -> std::optional<std::vector<std::string>> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  const std::string* found = nullptr;
  for (const std::string& text : texts) {
    const std::vector<std::string> fields = split(text, ';');
    if (fields.empty() || fields.front() != "v=TLSRPTv1") continue;
    if (found != nullptr) return fail("more than one v=TLSRPTv1 record");
    found = &text;
  }
  if (found == nullptr) return fail("no v=TLSRPTv1 record");
  std::vector<std::string> rua;
  bool given = false;
  for (const std::string& field : split(*found, ';')) {
    const std::size_t equals = field.find('=');
    if (equals == std::string::npos || trim(std::string_view(field).substr(0, equals)) != "rua") continue;
    given = true;
    for (const std::string& uri : split(std::string_view(field).substr(equals + 1), ',')) {
      const std::string lower = to_lower(uri);
      if (lower.starts_with("mailto:")) {
        const std::string address =
            uri.substr(7, uri.find('?') == std::string::npos ? std::string::npos : uri.find('?') - 7);
        if (smtp::parse_address(address)) rua.push_back("mailto:" + address);
      } else if (parse_https_url(uri)) {
        rua.push_back(uri);
      }
      if (rua.size() == rua_max) break;
    }
  }
  if (!given) return fail("the v=TLSRPTv1 record has no rua");
  if (rua.empty()) return fail("the v=TLSRPTv1 record's rua has no mailto: or https: address");
  return rua;
}

std::string report_json(const Report& report) {
  nlohmann::ordered_json policies = nlohmann::ordered_json::array();
  for (const auto& [policy, counts] : report.policies) {
    nlohmann::ordered_json described;
    described["policy-type"] = std::string(to_string(policy.type));
    if (!policy.strings.empty()) described["policy-string"] = policy.strings;
    described["policy-domain"] = report.domain;
    if (!policy.mx_hosts.empty()) described["mx-host"] = policy.mx_hosts;
    nlohmann::ordered_json entry;
    entry["policy"] = std::move(described);
    entry["summary"] = {{"total-successful-session-count", counts.successes},
                        {"total-failure-session-count", counts.failures}};
    if (!counts.details.empty()) {
      nlohmann::ordered_json details = nlohmann::ordered_json::array();
      for (const auto& [key, count] : counts.details) {
        nlohmann::ordered_json detail;
        detail["result-type"] = std::string(to_string(key.result));
        if (!key.sending_ip.empty()) detail["sending-mta-ip"] = key.sending_ip;
        if (!key.receiving_mx.empty()) detail["receiving-mx-hostname"] = key.receiving_mx;
        if (!key.receiving_ip.empty()) detail["receiving-ip"] = key.receiving_ip;
        detail["failed-session-count"] = count;
        if (!key.reason_code.empty()) detail["failure-reason-code"] = key.reason_code;
        details.push_back(std::move(detail));
      }
      entry["failure-details"] = std::move(details);
    }
    policies.push_back(std::move(entry));
  }
  nlohmann::ordered_json json;
  json["organization-name"] = report.organization;
  json["date-range"] = {{"start-datetime", format_iso8601(report.start)}, {"end-datetime", format_iso8601(report.end)}};
  json["contact-info"] = report.contact;
  json["report-id"] = report.report_id;
  json["policies"] = std::move(policies);
  return json.dump(2, ' ', true);
}

std::string report_mail(const Report& report, std::string_view from, std::string_view to, Instant now,
                        std::string_view message_id) {
  const std::string& submitter = report.submitter;
  const std::string boundary = "tlsrpt." + std::to_string(now.unix_microseconds()) + "/" + submitter;
  const std::string file = submitter + "!" + report.domain + "!" + std::to_string(report.start.unix_seconds()) + "!" +
                           std::to_string(report.end.unix_seconds()) + ".json.gz";
  std::string out;
  out += "From: <" + std::string(from) + ">\r\n";
  out += "To: <" + std::string(to) + ">\r\n";
  out += "Subject: Report Domain: " + report.domain + " Submitter: " + submitter + "\r\n Report-ID: <" +
         report.report_id + ">\r\n";
  out += "Date: " + format_rfc5322(now) + "\r\n";
  out += "Message-ID: <" + std::string(message_id) + ">\r\n";
  out += "TLS-Report-Domain: " + report.domain + "\r\n";
  out += "TLS-Report-Submitter: " + submitter + "\r\n";
  out += "Auto-Submitted: auto-generated\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n\tboundary=\"" + boundary + "\"\r\n";
  out += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";
  out += "--" + boundary + "\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";
  out += "This is an aggregate TLS report from " + submitter + "\r\nabout mail to " + report.domain + " on " +
         date_of(report.start) + " (UTC).\r\n\r\n";
  out += "--" + boundary + "\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n" +
         "Content-Disposition: attachment;\r\n\tfilename=\"" + file + "\"\r\n\r\n";
  out += smtp::encode_base64_lines(io::gzip(report_json(report)));
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

Reporter::Reporter(io::Io& io, const RelayConfig& config, const tls::Context* context, MailReport mail)
    : io_(io), config_(config), context_(context), mail_(std::move(mail)) {}

Reporter::~Reporter() { *alive_ = false; }

void Reporter::record(const Session& session) {
  PolicyCounts& counts = counts_[Day{session.domain, day_of(io_.now())}][session.policy];
  if (!session.failure) {
    counts.successes += 1;
  } else {
    counts.failures += 1;
    counts.details[FailureKey{*session.failure, session.sending_ip, session.receiving_mx, session.receiving_ip,
                              session.reason_code}] += 1;
  }
  io_.trace("relay.tlsrpt_session", {{"domain", session.domain},
                                     {"policy", to_string(session.policy.type)},
                                     {"mx", session.receiving_mx},
                                     {"result", session.failure ? to_string(*session.failure) : "success"}});
  arm();
}

void Reporter::arm() {
  if (timer_.armed() || counts_.empty()) return;
  std::int64_t earliest = INT64_MAX;
  for (const auto& [day, policies] : counts_) earliest = std::min(earliest, day.day);
  timer_ = io_.at(day_start(earliest + 1) + config_.tlsrpt_report_delay, [this] {
    io::Pending fired = std::move(timer_);
    send_finished_days();
  });
}

void Reporter::send_finished_days() {
  for (auto it = counts_.begin(); it != counts_.end();) {
    const Day day = it->first;
    if (day_start(day.day + 1) + config_.tlsrpt_report_delay > io_.now()) {
      ++it;
      continue;
    }
    Report report;
    report.organization =
        config_.tlsrpt_organization_name.empty() ? config_.myhostname : config_.tlsrpt_organization_name;
    report.contact =
        config_.tlsrpt_contact_info.empty() ? "postmaster@" + config_.myhostname : config_.tlsrpt_contact_info;
    report.domain = day.domain;
    report.start = day_start(day.day);
    report.end = day_start(day.day + 1) - std::chrono::seconds(1);
    report.submitter = config_.tlsrpt_submitter.empty() ? config_.myhostname : config_.tlsrpt_submitter;
    report.report_id = date_of(report.start) + "_" + day.domain + "@" + report.submitter;
    report.policies = std::move(it->second);
    it = counts_.erase(it);
    look_up(day, std::move(report), 1);
  }
  arm();
}

void Reporter::look_up(const Day& day, Report report, int attempt) {
  lookups_[day] = io_.resolve("_smtp._tls." + day.domain, io::DnsType::txt,
                              [this, day, attempt, report = std::move(report)](const io::DnsAnswer& answer) {
                                on_record(day, report, attempt, answer);
                              });
}

void Reporter::on_record(const Day& day, const Report& report, int attempt, const io::DnsAnswer& answer) {
  io::Pending done = std::move(lookups_[day]);
  lookups_.erase(day);
  if (answer.temporary_failure()) {
    return retry(
        describe(report) + " not sent: TLSRPT policy lookup failed (" + std::string(io::to_string(answer.status)) + ")",
        attempt, [this, day, report, attempt] { look_up(day, report, attempt + 1); });
  }
  std::string why;
  const auto rua = record_rua(answer.texts, &why);
  if (!rua) {
    io_.trace("relay.tlsrpt_report", {{"domain", day.domain}, {"date", date_of(report.start)}, {"sent", why}});
    return;
  }
  for (const std::string& address : *rua) send(report, address);
}

void Reporter::send(const Report& report, const std::string& rua) {
  std::uint64_t successes = 0, failures = 0;
  for (const auto& [policy, counts] : report.policies) {
    successes += counts.successes;
    failures += counts.failures;
  }
  io_.trace("relay.tlsrpt_report", {{"domain", report.domain},
                                    {"date", date_of(report.start)},
                                    {"to", rua},
                                    {"policies", report.policies.size()},
                                    {"successful", successes},
                                    {"failed", failures}});
  if (!rua.starts_with("mailto:")) return post(report, rua, 1);
  const std::string address = rua.substr(7);
  const std::optional<smtp::Mailbox> mailbox = smtp::parse_address(address);
  if (!mailbox) return;
  const std::string from = config_.tlsrpt_sender_address.empty() ? "noreply-smtp-tls-reporting@" + config_.myhostname
                                                                 : config_.tlsrpt_sender_address;
  QueuedMessage message;
  message.arrival = io_.now();
  smtp::Recipient recipient{*mailbox, {}};
  recipient.dsn.notify_given = true;
  recipient.dsn.notify_never = true;  // a report that cannot be delivered tells nobody
  message.recipients.push_back({recipient, RecipientState::queued, 0, Instant(), "", false});
  message.content = report_mail(report, from, address, io_.now(), report.report_id);
  message.size = message.content.size();
  message.helo = config_.myhostname;
  const std::string what = describe(report);
  mail_(std::move(message), [this, alive = alive_, what, address](bool stored) {
    if (!*alive) return;
    log(stored ? what + " queued for " + address : "warning: " + what + " for " + address + " not queued");
  });
}

void Reporter::post(const Report& report, const std::string& url, int attempt) {
  const std::string what = describe(report);
  const std::optional<HttpsUrl> parsed = parse_https_url(url);
  if (!parsed) return;
  if (context_ == nullptr) return log("warning: " + what + " not posted to " + url + ": no trusted CAs");
  endpoint::HttpsRequest request;
  request.host = parsed->host;
  request.port = parsed->port;
  request.path = parsed->path;
  request.method = "POST";
  request.content_type = "application/tlsrpt+gzip";
  request.body = io::gzip(report_json(report));
  request.timeout = post_timeout;
  request.body_bytes_max = 16 * 1024;
  const std::uint64_t ticket = next_post_++;
  posts_[ticket] = std::make_unique<endpoint::HttpsFetch>(
      io_, std::move(request), *context_,
      [this, ticket, what, url, report, attempt](const endpoint::HttpsResult& result) {
        if (result.response && result.response->status >= 200 && result.response->status < 300) {
          log(what + " posted to " + url + ": " + std::to_string(result.response->status));
        } else {
          retry(what + " not posted to " + url + ": " +
                    (result.response ? "status " + std::to_string(result.response->status) : result.error),
                attempt, [this, report, url, attempt] { post(report, url, attempt + 1); });
        }
        // Inside the fetch's own callback: destroyed later, from the event loop.
        finished_posts_.push_back(std::move(posts_[ticket]));
        posts_.erase(ticket);
        if (!sweep_.armed())
          sweep_ = io_.after(Duration(0), [this] {
            io::Pending fired = std::move(sweep_);
            finished_posts_.clear();
          });
      });
}

void Reporter::retry(const std::string& what, int attempt, std::function<void()> again) {
  if (attempt >= report_attempts) {
    return log("warning: " + what + "; given up after " + counted(static_cast<std::uint64_t>(attempt), "attempt"));
  }
  log("warning: " + what + "; trying again in " + format_duration(report_retry_time) + " (attempt " +
      std::to_string(attempt) + " of " + std::to_string(report_attempts) + ")");
  const std::uint64_t id = next_retry_++;
  retries_[id] = io_.after(report_retry_time, [this, id, again = std::move(again)] {
    io::Pending fired = std::move(retries_[id]);
    retries_.erase(id);
    again();
  });
}

void Reporter::log(const std::string& line) { io_.observe(io::LogLine{line}); }

}  // namespace relaysim::relay::tlsrpt
