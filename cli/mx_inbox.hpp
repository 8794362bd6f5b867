#pragma once
// The fake MX's web inbox (`relaysim mx`, GET /): what a mail catcher such as Mailpit shows -
// mailboxes, messages with their envelope, header fields, body, the SMTP transcript, TLS and the
// authentication verdict - as plain HTML pages that read without JavaScript. A small script on
// the inbox page reloads it when the server's event stream (/api/events) says a message came.

#include <cstdint>
#include <string>
#include <string_view>

#include "fake_mx/fake_mx_node.hpp"

namespace relaysim::cli {

// Whether `query` (case-insensitive) is in the message's sender, a recipient, the subject or the
// text. An empty query matches every message.
bool message_matches(const fake_mx::StoredMessage& message, std::string_view query);

// GET /?mailbox=A&q=TEXT: the mailboxes with their counts, and the messages that match, newest first.
std::string inbox_page(const fake_mx::MailStore& store, std::string_view mailbox, std::string_view query,
                       std::string_view status);

// GET /messages/N: one message, whole.
std::string message_page(const fake_mx::StoredMessage& message);

}  // namespace relaysim::cli
