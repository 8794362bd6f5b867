#include "relay/bounce.hpp"

#include "io/text.hpp"
#include "relay/broken_variant.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::relay {
namespace {

using smtp::DsnAction;

// The notice_to_header_from variant's recipient: the address in the From: header (relay/broken_variant.hpp).
smtp::Mailbox header_from_variant(std::string_view content, const smtp::Mailbox& otherwise) {
  std::string value = smtp::header_value(content, "From");
  if (const std::size_t open = value.rfind('<'), close = value.rfind('>'); open != std::string::npos && close > open) {
    value = value.substr(open + 1, close - open - 1);
  }
  const std::size_t at = value.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == value.size()) return otherwise;
  return smtp::Mailbox{value.substr(0, at), value.substr(at + 1)};
}

// The RFC 3464 report about `recipients` of `message`.
std::string report(const RelayConfig& config, const QueuedMessage& message, DsnAction action,
                   const std::vector<std::size_t>& recipients, const std::map<std::size_t, RecipientOutcome>& outcomes,
                   Instant now, Instant until, const QueueId& id) {
  smtp::DsnMessage dsn;
  dsn.report.reporting_mta = config.myhostname;
  dsn.report.queue_id = message.id.to_string();
  dsn.report.envelope_id = message.parameters.envid;
  dsn.report.arrival_date = format_rfc5322(message.arrival);
  for (const std::size_t index : recipients) {
    const QueuedRecipient& queued = message.recipients[index];
    const RecipientOutcome& outcome = outcomes.at(index);
    smtp::DsnRecipient recipient;
    recipient.final_recipient = queued.recipient.mailbox.to_string();
    recipient.original_recipient = queued.recipient.dsn.orcpt;
    recipient.action = action;
    recipient.status = outcome.status;
    recipient.remote_mta = outcome.diagnostic.empty() ? std::string() : outcome.remote_host;
    recipient.diagnostic = outcome.diagnostic.empty() ? outcome.reason : outcome.diagnostic;
    recipient.last_attempt_date = format_rfc5322(now);
    if (action == DsnAction::delayed) recipient.will_retry_until = format_rfc5322(until);
    dsn.report.recipients.push_back(std::move(recipient));
  }
  dsn.to = message.sender ? message.sender->to_string() : message.recipients.front().recipient.mailbox.to_string();
  dsn.date = now;
  dsn.message_id = id.to_string() + "@" + config.myhostname;
  dsn.original = message.content;
  dsn.international = message.parameters.smtputf8;
  dsn.headers_only = action != DsnAction::failed || (to_lower(message.parameters.ret) == "hdrs" &&
                                                     config.broken_variant != BrokenVariant::notify_ignored);
  return smtp::compose_dsn(dsn);
}

}  // namespace

bool wants_notice(const RelayConfig& config, const smtp::RecipientParameters& requested, DsnAction action) {
  static const smtp::RecipientParameters none_given;
  const smtp::RecipientParameters& dsn =
      config.broken_variant == BrokenVariant::notify_ignored ? none_given : requested;
  switch (action) {
    case DsnAction::failed: return !dsn.notify_given || dsn.notify_failure;
    case DsnAction::delayed: return config.delay_warning_time.count() > 0 && (!dsn.notify_given || dsn.notify_delay);
    case DsnAction::delivered: return dsn.notify_given && dsn.notify_success;
    case DsnAction::relayed: return dsn.notify_given && dsn.notify_success;
  }
  return false;
}

QueuedMessage notice_message(const RelayConfig& config, const QueuedMessage& about, const Notice& notice,
                             const std::map<std::size_t, RecipientOutcome>& outcomes, Instant now, Instant until,
                             const QueueId& id) {
  QueuedMessage dsn;
  dsn.id = id;
  dsn.arrival = now;
  // (A notice about a notice happens only in the bounce_loop variant: it goes to the failed
  // notice's own recipient.)
  smtp::Mailbox notify = about.sender ? *about.sender : about.recipients.front().recipient.mailbox;
  if (config.broken_variant == BrokenVariant::notice_to_header_from)
    notify = header_from_variant(about.content, notify);
  dsn.recipients.push_back({smtp::Recipient{notify, {}}, RecipientState::queued, 0, Instant(), "", false});
  dsn.content = report(config, about, notice.action, notice.recipients, outcomes, now, until, id);
  dsn.helo = config.myhostname;
  dsn.parameters.smtputf8 = about.parameters.smtputf8;  // an internationalized report needs SMTPUTF8 too
  return dsn;
}

}  // namespace relaysim::relay
