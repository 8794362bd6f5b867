#pragma once
// What the plain SMTP sender (sender/smtp_sender.hpp) reports: typed events (io/trace.hpp).

#include <cstddef>
#include <optional>
#include <string_view>

#include "io/trace.hpp"
#include "smtp/client_session.hpp"

namespace relaysim::sender::events {

// The outcome of one recipient of message number `message` (from 1), or of the whole message
// (`rcpt` "*", no `outcome`) when the session failed before any recipient had one.
struct SenderResult {
  static constexpr std::string_view kind = "sender.result";
  std::size_t message = 0;
  std::string_view rcpt;
  std::optional<smtp::Outcome> outcome;  // none: the message failed as a whole
  std::string_view reply;                // the server's reply, or what went wrong
  std::string_view queue_id{};           // delivered: the id the server named in its 250; empty if none

  void write(io::TraceFieldList& fields) const {
    fields.add("message", message);
    fields.add("rcpt", rcpt);
    fields.add("outcome", outcome ? smtp::to_string(*outcome) : std::string_view("failed"));
    fields.add("reply", reply);
  }
};

}  // namespace relaysim::sender::events
