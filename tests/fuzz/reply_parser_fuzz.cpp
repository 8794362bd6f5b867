// libFuzzer target: arbitrary bytes as server replies, into the reply parser and the client
// session. Invariants: no crash or sanitizer report; parsed codes are 200-599; the client session
// only ever sends complete command lines.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "io/assert.hpp"
#include "smtp/client_session.hpp"

using namespace relaysim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  smtp::ReplyParser parser;
  std::string_view rest = bytes;
  while (!rest.empty()) {
    const auto status = parser.feed(rest);
    if (status == smtp::ReplyParser::Status::complete) {
      const smtp::Reply reply = parser.take();
      RELAYSIM_ASSERT(reply.code >= 200 && reply.code <= 599);
      RELAYSIM_ASSERT(!reply.lines.empty());
    } else {
      break;
    }
  }

  smtp::ClientConfig config;
  config.tls = size > 0 && (data[0] & 1) ? smtp::ClientTls::opportunistic : smtp::ClientTls::none;
  const Instant now = Instant::from_unix_seconds(1'772'442'000);
  smtp::ClientSession session(config, now);
  std::size_t at = 0;
  int sends = 0;  // a message the server's SIZE refuses comes back Ready at once: send a few, not forever
  while (at < size && !session.closed()) {
    const std::size_t piece = std::min<std::size_t>(1 + data[at] % 32, size - at);
    session.receive(now, bytes.substr(at, piece));
    at += piece;
    while (auto event = session.poll_event()) {
      if (std::holds_alternative<smtp::client_event::Ready>(*event) && ++sends <= 4) {
        smtp::OutgoingMessage message;
        message.sender = smtp::Mailbox{"a", "acme.example", false, false};
        message.recipients.push_back({smtp::Mailbox{"b", "dest.example", false, false}, {}});
        message.content = "x\r\n.\r\ny";
        session.send(now, message);
      }
      if (std::holds_alternative<smtp::client_event::StartTls>(*event))
        session.tls_started(now, {true, "TLSv1.3", "X", "", true});
    }
    const std::string output = session.take_output();
    RELAYSIM_ASSERT(output.empty() || output.ends_with("\r\n"));
  }
  return 0;
}
