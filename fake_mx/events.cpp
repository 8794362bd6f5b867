#include "fake_mx/events.hpp"

namespace relaysim::fake_mx::events {

void Greylisted::write(io::TraceFieldList& fields) const {
  fields.add("client", fields.keep(client.to_string()));
  fields.add("sender", sender);
  fields.add("rcpt", rcpt);
  fields.add("verdict", to_string(verdict));
}

void MessageStored::write(io::TraceFieldList& fields) const {
  fields.add("number", number);
  fields.add("from", from);
  fields.add("recipients", recipients);
  fields.add("bytes", bytes);
  fields.add("tls", tls);
  fields.add("dropped_reply", dropped_reply);
  fields.add("folder", folder);
}

void LateBounce::write(io::TraceFieldList& fields) const {
  std::string listed;
  for (const smtp::Recipient& recipient : recipients)
    listed.append(listed.empty() ? "" : ",").append(recipient.mailbox.to_string());
  fields.add("number", number);
  if (!scheduled) {
    fields.add("why", "the sender is <>: no bounce");
    fields.add("recipients", fields.keep(std::move(listed)));
    return;
  }
  fields.add("to", to);
  fields.add("at", fields.keep(format_iso8601(at)));
  fields.add("status", status);
  fields.add("recipients", fields.keep(std::move(listed)));
}

void LateBounceSent::write(io::TraceFieldList& fields) const {
  fields.add("to", to);
  fields.add("host", host);
  fields.add("attempts", attempts);
}

}  // namespace relaysim::fake_mx::events
