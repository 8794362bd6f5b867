#include "smtp/dsn.hpp"

#include <map>

#include "io/text.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::smtp {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

// Report fields are single lines of printable ASCII: anything else in a reply or an address
// becomes a space, so no diagnostic can inject a header or end the part early.
// A field's text on one line: control characters become spaces, and so do 8-bit bytes unless the
// report is an internationalized one (RFC 6533), which carries UTF-8 as it is.
std::string field_text(std::string_view text, bool utf8 = false) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    out += (byte >= 0x20 && byte < 0x7f) || (utf8 && byte >= 0x80) ? c : ' ';
  }
  return out;
}

// "rfc822; user@example.com", or RFC 6533's "utf-8; ..." for an address outside ASCII.
std::string address_field(std::string_view address, bool international) {
  if (international && !is_ascii(address)) return "utf-8; " + field_text(address, true);
  return "rfc822; " + field_text(address);
}

std::string subject_for(DsnAction action) {
  switch (action) {
    case DsnAction::failed: return "Undelivered Mail Returned to Sender";
    case DsnAction::delayed: return "Delayed Mail (still being retried)";
    case DsnAction::delivered: return "Successful Mail Delivery Report";
    case DsnAction::relayed: return "Successful Mail Delivery Report";
  }
  return "Mail Delivery Status Report";
}

std::string explanation_for(DsnAction action, const std::string& host) {
  std::string out = "This is the mail system at host " + host + ".\r\n\r\n";
  switch (action) {
    case DsnAction::failed:
      out +=
          "I'm sorry to have to inform you that your message could not\r\n"
          "be delivered to one or more recipients. It's attached below.\r\n";
      break;
    case DsnAction::delayed:
      out +=
          "Your message could not be delivered for some time.\r\n"
          "It will be retried until it is too old; you need not send it again.\r\n";
      break;
    case DsnAction::delivered:
      out += "Your message was successfully delivered to the destination(s)\r\nlisted below.\r\n";
      break;
    case DsnAction::relayed:
      out +=
          "Your message was successfully delivered to the destination(s)\r\n"
          "listed below, which could not confirm final delivery: no further\r\nnotification will follow.\r\n";
      break;
  }
  return out;
}

// Unfolded header fields of one block ("Name: value" lines, continuation lines joined), names
// lower-cased. Repeated names keep the first.
std::map<std::string, std::string> read_fields(std::string_view block) {
  std::map<std::string, std::string> fields;
  std::string name;
  std::size_t at = 0;
  while (at < block.size()) {
    std::size_t end = block.find('\n', at);
    if (end == std::string_view::npos) end = block.size();
    std::string_view line = block.substr(at, end - at);
    if (line.ends_with('\r')) line.remove_suffix(1);
    at = end + 1;
    if (line.empty()) continue;
    if ((line.front() == ' ' || line.front() == '\t') && !name.empty()) {
      fields[name] += " " + std::string(trim(line));
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    name = to_lower(trim(line.substr(0, colon)));
    fields.try_emplace(name, std::string(trim(line.substr(colon + 1))));
  }
  return fields;
}

// "rfc822; user@example.com" -> "user@example.com".
std::string without_type(const std::string& value) {
  const std::size_t semicolon = value.find(';');
  return std::string(trim(semicolon == std::string::npos ? value : value.substr(semicolon + 1)));
}

// Splits at blank lines.
std::vector<std::string_view> blocks(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find("\r\n\r\n", at);
    std::size_t skip = 4;
    const std::size_t bare = text.find("\n\n", at);
    if (bare != std::string_view::npos && (end == std::string_view::npos || bare < end)) {
      end = bare;
      skip = 2;
    }
    if (end == std::string_view::npos) end = text.size(), skip = 0;
    const std::string_view block = text.substr(at, end - at);
    if (!trim(block).empty()) out.push_back(block);
    at = end + skip;
  }
  return out;
}

}  // namespace

std::string_view to_string(DsnAction action) {
  switch (action) {
    case DsnAction::failed: return "failed";
    case DsnAction::delayed: return "delayed";
    case DsnAction::delivered: return "delivered";
    case DsnAction::relayed: return "relayed";
  }
  return "?";
}

std::string_view header_section(std::string_view content) {
  if (content.starts_with("\r\n")) return content.substr(0, 0);
  const std::size_t end = content.find("\r\n\r\n");
  return end == std::string_view::npos ? content : content.substr(0, end + 2);
}

std::string compose_dsn(const DsnMessage& dsn) {
  const DsnReport& report = dsn.report;
  const DsnAction action = report.recipients.empty() ? DsnAction::failed : report.recipients.front().action;
  const std::string boundary =
      report.queue_id + "." + std::to_string(dsn.date.unix_microseconds()) + "/" + report.reporting_mta;
  const bool utf8 = dsn.international;
  const auto text = [utf8](std::string_view field) { return field_text(field, utf8); };
  std::string out;
  out += "From: MAILER-DAEMON@" + report.reporting_mta + " (Mail Delivery System)\r\n";
  out += "To: <" + text(dsn.to) + ">\r\n";
  out += "Subject: " + subject_for(action) + "\r\n";
  out += "Date: " + format_rfc5322(dsn.date) + "\r\n";
  out += "Message-ID: <" + dsn.message_id + ">\r\n";
  out += "Auto-Submitted: auto-replied\r\n";  // RFC 3834: no auto-reply to this
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n";
  if (utf8) out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  out += "--" + boundary + "\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=" +
         std::string(utf8 ? "utf-8\r\nContent-Transfer-Encoding: 8bit" : "us-ascii") + "\r\n\r\n";
  out += explanation_for(action, report.reporting_mta) + "\r\n";
  for (const DsnRecipient& recipient : report.recipients) {
    out += "<" + text(recipient.final_recipient) + ">: ";
    if (!recipient.remote_mta.empty()) out += "host " + text(recipient.remote_mta) + " said: ";
    out += text(recipient.diagnostic.empty() ? recipient.status : recipient.diagnostic) + "\r\n";
  }
  out += "\r\n";

  out += "--" + boundary + "\r\nContent-Description: Delivery report\r\nContent-Type: message/" +
         std::string(utf8 ? "global-" : "") + "delivery-status\r\n" +
         std::string(utf8 ? "Content-Transfer-Encoding: 8bit\r\n" : "") + "\r\n";
  out += "Reporting-MTA: dns; " + report.reporting_mta + "\r\n";
  out += "X-Relaysim-Queue-ID: " + report.queue_id + "\r\n";
  if (!report.envelope_id.empty()) out += "Original-Envelope-Id: " + text(report.envelope_id) + "\r\n";
  out += "Arrival-Date: " + report.arrival_date + "\r\n";
  for (const DsnRecipient& recipient : report.recipients) {
    out += "\r\nFinal-Recipient: " + address_field(recipient.final_recipient, utf8) + "\r\n";
    if (!recipient.original_recipient.empty()) {
      out += "Original-Recipient: " + address_field(recipient.original_recipient, utf8) + "\r\n";
    }
    out += "Action: " + std::string(to_string(recipient.action)) + "\r\n";
    out += "Status: " + recipient.status + "\r\n";
    if (!recipient.remote_mta.empty()) out += "Remote-MTA: dns; " + text(recipient.remote_mta) + "\r\n";
    if (!recipient.diagnostic.empty()) out += "Diagnostic-Code: smtp; " + text(recipient.diagnostic) + "\r\n";
    if (!recipient.last_attempt_date.empty()) out += "Last-Attempt-Date: " + recipient.last_attempt_date + "\r\n";
    if (!recipient.will_retry_until.empty()) out += "Will-Retry-Until: " + recipient.will_retry_until + "\r\n";
  }
  out += "\r\n";

  if (dsn.headers_only) {
    out += "--" + boundary + "\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: " +
           std::string(utf8 ? "message/global-headers" : "text/rfc822-headers") + "\r\n\r\n";
    out += header_section(dsn.original);
  } else {
    out += "--" + boundary + "\r\nContent-Description: Undelivered Message\r\nContent-Type: message/" +
           std::string(utf8 ? "global" : "rfc822") + "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
    out += dsn.original;
    if (!dsn.original.empty() && !dsn.original.ends_with("\r\n")) out += "\r\n";
  }
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

std::optional<DsnReport> parse_dsn(std::string_view content) {
  const std::string_view headers = header_section(content);
  const auto top = read_fields(headers);
  const auto type = top.find("content-type");
  if (type == top.end()) return std::nullopt;
  const std::string lower = to_lower(type->second);
  if (!lower.starts_with("multipart/report") || lower.find("delivery-status") == std::string::npos) return std::nullopt;
  const auto boundary = mime_parameter(type->second, "boundary");
  if (!boundary || boundary->empty()) return std::nullopt;
  const std::string delimiter = "--" + *boundary;
  std::optional<DsnReport> report_found;
  std::string returned_message_id;
  std::size_t at = content.find(delimiter, headers.size());
  while (at != std::string_view::npos) {
    const std::size_t part_start = content.find('\n', at);
    if (part_start == std::string_view::npos) return std::nullopt;
    const std::size_t next = content.find(delimiter, part_start);
    const std::string_view part =
        content.substr(part_start + 1, (next == std::string_view::npos ? content.size() : next) - part_start - 1);
    const std::vector<std::string_view> groups = blocks(part);
    if (!groups.empty()) {
      const auto part_headers = read_fields(groups.front());
      const auto part_type = part_headers.find("content-type");
      const std::string part_lower = part_type == part_headers.end() ? std::string() : to_lower(part_type->second);
      if ((part_lower.starts_with("text/rfc822-headers") || part_lower.starts_with("message/rfc822") ||
           part_lower.starts_with("message/global")) &&
          groups.size() >= 2) {
        returned_message_id = header_value(std::string(groups[1]) + "\r\n\r\n", "Message-ID");
        while (!returned_message_id.empty() &&
               (returned_message_id.front() == '<' || returned_message_id.front() == ' '))
          returned_message_id.erase(0, 1);
        while (!returned_message_id.empty() && (returned_message_id.back() == '>' || returned_message_id.back() == ' '))
          returned_message_id.pop_back();
      }
      const bool report_part =
          part_lower.starts_with("message/delivery-status") || part_lower.starts_with("message/global-delivery-status");
      if (!report_found && part_type != part_headers.end() && report_part) {
        if (groups.size() < 3) return std::nullopt;  // per-message fields and at least one recipient
        DsnReport report;
        const auto per_message = read_fields(groups[1]);
        const auto get = [](const std::map<std::string, std::string>& fields, const std::string& name) {
          const auto found = fields.find(name);
          return found == fields.end() ? std::string() : found->second;
        };
        report.reporting_mta = without_type(get(per_message, "reporting-mta"));
        report.queue_id = get(per_message, "x-relaysim-queue-id");
        report.envelope_id = get(per_message, "original-envelope-id");
        report.arrival_date = get(per_message, "arrival-date");
        for (std::size_t i = 2; i < groups.size(); ++i) {
          const auto fields = read_fields(groups[i]);
          DsnRecipient recipient;
          recipient.final_recipient = without_type(get(fields, "final-recipient"));
          recipient.original_recipient = without_type(get(fields, "original-recipient"));
          const std::string action = to_lower(get(fields, "action"));
          if (action == "failed")
            recipient.action = DsnAction::failed;
          else if (action == "delayed")
            recipient.action = DsnAction::delayed;
          else if (action == "delivered")
            recipient.action = DsnAction::delivered;
          else if (action == "relayed")
            recipient.action = DsnAction::relayed;
          else
            return std::nullopt;
          recipient.status = get(fields, "status");
          recipient.remote_mta = without_type(get(fields, "remote-mta"));
          const std::string diagnostic = get(fields, "diagnostic-code");
          recipient.diagnostic = diagnostic.empty() ? std::string() : without_type(diagnostic);
          recipient.last_attempt_date = get(fields, "last-attempt-date");
          recipient.will_retry_until = get(fields, "will-retry-until");
          if (recipient.final_recipient.empty() || recipient.status.empty()) return std::nullopt;
          report.recipients.push_back(std::move(recipient));
        }
        report_found = std::move(report);
      }
    }
    at = next;
  }
  if (report_found) report_found->returned_message_id = std::move(returned_message_id);
  return report_found;
}

std::optional<std::string> mime_parameter(std::string_view header_value, std::string_view name) {
  const std::string lower = to_lower(header_value);
  const std::size_t found = lower.find(std::string(name) + "=");
  if (found == std::string::npos) return std::nullopt;
  std::string_view rest = header_value.substr(found + name.size() + 1);
  if (rest.starts_with('"')) {
    const std::size_t close = rest.find('"', 1);
    return std::string(rest.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
  }
  const std::size_t end = rest.find_first_of("; \t");
  return std::string(rest.substr(0, end));
}

std::string header_value(std::string_view content, std::string_view name) {
  const std::string_view headers = header_section(content);
  std::size_t position = 0;
  while (position < headers.size()) {
    const std::size_t end = headers.find("\r\n", position);
    const std::string_view line =
        headers.substr(position, end == std::string_view::npos ? std::string_view::npos : end - position);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        to_lower(line.substr(0, name.size())) == to_lower(name)) {
      std::string_view first = line.substr(name.size() + 1);
      while (!first.empty() && first.front() == ' ') first.remove_prefix(1);
      std::string value(first);
      // Unfolded (RFC 5322 2.2.3): a line that starts with white space continues the field.
      for (std::size_t next = end; next != std::string_view::npos && next + 2 < headers.size() &&
                                   (headers[next + 2] == ' ' || headers[next + 2] == '\t');) {
        const std::size_t after = headers.find("\r\n", next + 2);
        value += headers.substr(next + 2, after == std::string_view::npos ? std::string_view::npos : after - next - 2);
        next = after;
      }
      return value;
    }
    if (end == std::string_view::npos) break;
    position = end + 2;
  }
  return "";
}

}  // namespace relaysim::smtp
