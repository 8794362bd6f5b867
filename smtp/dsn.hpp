#pragma once
// Delivery status notifications (RFC 3464, and RFC 6533 for internationalized mail): the multipart/report a relay sends from <> to a
// message's envelope sender when recipients fail, are delayed, or (on request) are delivered or
// relayed. One notification covers every recipient of one message that reached the same outcome
// in the same event. compose_dsn writes one; parse_dsn reads one back (tests, and the doubles
// that receive bounces).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/time.hpp"

namespace relaysim::smtp {

enum class DsnAction : std::uint8_t { failed, delayed, delivered, relayed };
std::string_view to_string(DsnAction action);

// One per-recipient field group. Dates are RFC 5322 text, as they appear in the report.
struct DsnRecipient {
  std::string final_recipient;     // the address, without "rfc822;"
  std::string original_recipient;  // ORCPT's address, when the client gave one
  DsnAction action = DsnAction::failed;
  std::string status;      // "5.1.1"
  std::string remote_mta;  // the host that answered, when one did
  std::string diagnostic;  // its reply, on one line ("550 5.1.1 ..."), without "smtp;"
  std::string last_attempt_date;
  std::string will_retry_until;  // delayed only
};

struct DsnReport {
  std::string reporting_mta;  // this relay's hostname
  std::string queue_id;
  std::string envelope_id;  // the client's ENVID
  std::string arrival_date;
  std::vector<DsnRecipient> recipients;
  // Read only: the Message-ID (without angle brackets) of the message the report returns, from its
  // returned headers or message; empty when it returns none.
  std::string returned_message_id;
};

struct DsnMessage {
  DsnReport report;
  std::string to;  // the envelope sender being notified
  Instant date;
  std::string message_id;     // without angle brackets
  std::string original;       // the original message (content as queued)
  bool headers_only = false;  // RET=HDRS: return only the header section
  // The original travelled with SMTPUTF8: the report is RFC 6533's (message/global-delivery-status,
  // "utf-8;" addresses, message/global or message/global-headers), and it needs SMTPUTF8 too.
  bool international = false;
};

// The whole message, header and body, CRLF line endings, ready to queue.
std::string compose_dsn(const DsnMessage& dsn);

// Reads the message/delivery-status part of a report; nullopt when the content is not a
// multipart/report of report-type delivery-status.
std::optional<DsnReport> parse_dsn(std::string_view content);

// The header section of a message (up to the blank line), CRLF-terminated.
std::string_view header_section(std::string_view content);
// The first header field of that name (case-insensitive), unfolded (its continuation lines joined); "" when absent.
std::string header_value(std::string_view content, std::string_view name);
// A parameter of a MIME header field's value ("boundary" of a Content-Type), quotes removed;
// `name` in lower case. None when the value has no such parameter.
std::optional<std::string> mime_parameter(std::string_view header_value, std::string_view name);

}  // namespace relaysim::smtp
