#pragma once
// A plain SMTP client node: sends a list of messages, each at its own instant and over its own
// connection, to a server named by DNS (A record) or address, and traces each recipient's outcome.
// It stands for any sending application - a CRM, a printer, a script - beside the Salesforce
// org's model, which has its relay settings and retry schedule. It retries nothing.

#include <optional>
#include <string>
#include <vector>

#include "io/io.hpp"
#include "smtp/client_session.hpp"
#include "tls/engine.hpp"

namespace relaysim::sender {

struct SmtpSenderMessage {
  Instant at;
  std::optional<smtp::Mailbox> sender;      // empty: <>
  smtp::MailParameters parameters;          // RET, ENVID (sent when the server offers DSN)
  std::vector<smtp::Recipient> recipients;  // with their NOTIFY
  std::string content;                      // with its header section
};

struct SmtpSenderConfig {
  std::string server;  // a DNS name with an A record, or an address
  std::uint16_t port = 25;
  smtp::ClientConfig client;  // HELO name, TLS policy, AUTH
  std::vector<SmtpSenderMessage> messages;
};

// `tls`: the client context for STARTTLS (null: TLS fails where the policy needs it).
std::unique_ptr<io::Node> make_smtp_sender(io::Io& io, SmtpSenderConfig config, const tls::Context* tls = nullptr);

}  // namespace relaysim::sender
