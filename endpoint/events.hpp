#pragma once
// What the SMTP connections report of themselves (io/trace.hpp's typed events): with the dialogue
// traced (Io::traces_dialogue), each command and reply line of a session.

#include <cstdint>
#include <string_view>

#include "io/address.hpp"
#include "io/trace.hpp"

namespace relaysim::endpoint::events {

// One line of an SMTP session as it went over the wire (after TLS, before it): a command from the
// client or a reply line from the server. Message content is one line giving its size,
// "[1234 bytes of message content]", followed by the ".".
struct DialogueLine {
  static constexpr std::string_view kind = "smtp.dialogue";
  std::uint64_t conn = 0;
  const io::Endpoint& peer;  // the other end, as this node sees it
  bool from_client = true;
  bool sent = true;       // this node sent it (else received it): both ends of a session trace it
  std::string_view line;  // without its CRLF

  void write(io::TraceFieldList& fields) const;
};

}  // namespace relaysim::endpoint::events
