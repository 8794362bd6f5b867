// libFuzzer target: arbitrary bytes, in arbitrary chunks, into the SMTP server session.
// Invariants: no crash or sanitizer report; every reply line is CRLF-terminated and starts with
// three digits; at most one Message per end of data; the session never outputs after it closed;
// an address outside ASCII reaches the owner only with SMTPUTF8, and only as well-formed UTF-8.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "io/assert.hpp"
#include "smtp/server_session.hpp"
#include "smtp/syntax.hpp"

using namespace relaysim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  smtp::ServerConfig config;
  config.hostname = "mx.example";
  config.bare_line_endings = (data[0] & 1) ? smtp::BareLineEndings::normalize : smtp::BareLineEndings::reject;
  config.pipelining = (data[0] & 2) != 0;
  config.starttls = (data[0] & 4) != 0;
  config.auth_mechanisms = {"PLAIN", "LOGIN"};
  config.auth_requires_tls = (data[0] & 8) != 0;
  config.message_size_max = (data[0] & 16) ? 64 : 10'240'000;
  config.recipients_max = 3;
  config.smtputf8 = (data[0] & 32) != 0;
  const std::size_t chunk = 1 + data[1] % 64;
  const Instant now = Instant::from_unix_seconds(1'772'442'000);
  smtp::ServerSession session(config, now);
  std::string output = session.take_output();
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  int decisions = 0;
  while (!input.empty()) {
    const std::string_view piece = input.substr(0, chunk);
    input.remove_prefix(piece.size());
    const bool was_closed = session.closed();
    session.receive(now, piece);
    while (auto event = session.poll_event()) {
      if (std::holds_alternative<smtp::server_event::StartTls>(*event))
        session.tls_started(now, {true, "TLSv1.3", "X", "", false});
      // An address outside ASCII only with SMTPUTF8 offered (and, for a sender, asked for), and
      // only as well-formed UTF-8.
      if (const auto* mail = std::get_if<smtp::server_event::Mail>(&*event); mail && mail->sender) {
        const std::string address = mail->sender->to_string();
        RELAYSIM_ASSERT(smtp::is_ascii(address) || (mail->parameters.smtputf8 && smtp::is_utf8(address)));
      }
      if (const auto* rcpt = std::get_if<smtp::server_event::Rcpt>(&*event)) {
        const std::string address = rcpt->recipient.mailbox.to_string();
        RELAYSIM_ASSERT(smtp::is_ascii(address) || (config.smtputf8 && smtp::is_utf8(address)));
      }
      if (session.awaiting_decision()) {
        // Alternate accepting and refusing, so both paths run.
        session.decide(now, (++decisions % 3 == 0) ? smtp::Verdict::reject(smtp::Reply::make(550, "5.7.1", "no"))
                                                   : smtp::Verdict::accept());
      }
    }
    const std::string more = session.take_output();
    RELAYSIM_ASSERT(!was_closed || more.empty());
    output += more;
  }
  // Every reply line: three digits, then space or hyphen, ended by CRLF.
  std::size_t start = 0;
  while (start < output.size()) {
    const std::size_t end = output.find("\r\n", start);
    RELAYSIM_ASSERT(end != std::string::npos);
    RELAYSIM_ASSERT(end - start >= 3);
    for (std::size_t i = start; i < start + 3; ++i) RELAYSIM_ASSERT(output[i] >= '0' && output[i] <= '9');
    RELAYSIM_ASSERT(end - start == 3 || output[start + 3] == ' ' || output[start + 3] == '-');
    start = end + 2;
  }
  return 0;
}
