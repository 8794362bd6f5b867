#include "relay/events.hpp"

#include <string>

namespace relaysim::relay::events {

void Stored::write(io::TraceFieldList& fields) const {
  std::string to;
  for (const QueuedRecipient& recipient : message.recipients)
    to.append(to.empty() ? "" : ",").append(recipient.recipient.mailbox.to_string());
  fields.add("id", fields.keep(message.id.to_string()));
  fields.add("from", fields.keep(message.sender ? message.sender->to_string() : std::string()));
  fields.add("to", fields.keep(std::move(to)));
  fields.add("recipients", message.recipients.size());
  fields.add("size", message.content.size());
  fields.add("client", message.client_address);
  fields.add("sasl", message.authenticated_user);
}

void Recovered::write(io::TraceFieldList& fields) const {
  fields.add("messages", messages);
  fields.add("discarded", discarded);
  fields.add("finished", finished);
}

void Routed::write(io::TraceFieldList& fields) const {
  fields.add("id", fields.keep(id.to_string()));
  fields.add("domain", domain);
  fields.add("route", route == Route::Kind::deliver ? "deliver" : route == Route::Kind::defer ? "defer" : "bounce");
  fields.add("why", why);
  fields.add("status", status);
}

void MtaStsApplied::write(io::TraceFieldList& fields) const {
  fields.add("id", fields.keep(id.to_string()));
  fields.add("domain", domain);
  fields.add("mode", mode);
  fields.add("policy_id", policy_id);
  fields.add("how", how);
}

void Connecting::write(io::TraceFieldList& fields) const {
  fields.add("id", id ? fields.keep(id->to_string()) : std::string_view());
  fields.add("hop", hop);
  fields.add("preference", preference);
  fields.add("tls", to_string(tls));
  fields.add("plaintext_fallback", plaintext_fallback);
}

void HopFailed::write(io::TraceFieldList& fields) const {
  fields.add("id", id ? fields.keep(id->to_string()) : std::string_view());
  fields.add("hop", hop);
  fields.add("stage", to_string(stage));
  fields.add("status", status);
  fields.add("reason", reason);
  fields.add("next", next_hop ? "next hop" : "same hop in plaintext");
}

void DestinationDead::write(io::TraceFieldList& fields) const {
  fields.add("destination", destination);
  fields.add("until", fields.keep(format_iso8601(until)));
  fields.add("reason", reason);
}

void RetryPlanned::write(io::TraceFieldList& fields) const {
  fields.add("id", fields.keep(id.to_string()));
  fields.add("at", fields.keep(format_iso8601(next)));
  fields.add("why", why);
}

void RecipientSettled::write(io::TraceFieldList& fields) const {
  fields.add("id", fields.keep(id.to_string()));
  fields.add("rcpt", rcpt);
  fields.add("outcome", to_string(outcome.outcome));
  fields.add("state", to_string(state));
  fields.add("status", status);
  fields.add("relay", outcome.relay);
  fields.add("tls", outcome.tls);
  fields.add("tls_verified", outcome.tls_verified);
  fields.add("possible_duplicate", outcome.possible_duplicate);
  fields.add("attempted", attempted);
  fields.add("stage", outcome.stage ? to_string(*outcome.stage) : std::string_view());
  fields.add("code", outcome.code);
  fields.add("reason", outcome.reason);
}

void OutcomesRecorded::write(io::TraceFieldList& fields) const {
  fields.add("id", fields.keep(id.to_string()));
  std::string joined;
  for (const std::size_t index : recipients) joined += (joined.empty() ? "" : ",") + std::to_string(index);
  fields.add("recipients", fields.keep(std::move(joined)));
}

void NoticeQueued::write(io::TraceFieldList& fields) const {
  fields.add("id", fields.keep(id.to_string()));
  fields.add("dsn", fields.keep(dsn.to_string()));
  fields.add("action", smtp::to_string(action));
  fields.add("to", fields.keep(to.to_string()));
}

}  // namespace relaysim::relay::events
