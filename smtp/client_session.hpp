#pragma once
// The SMTP client session, sans-I/O: fed (now, bytes), it produces bytes to send, events for its
// owner and its next deadline. One session is one connection: greeting, EHLO (HELO fallback),
// STARTTLS per policy, AUTH, then any number of transactions (connection reuse), then QUIT.
//
// Each transaction ends with a typed result per recipient - delivered, transient or permanent,
// with the full reply and the stage - and records where it stopped, so that a connection lost
// after the final dot is known as a possible duplicate. TLS is the owner's: on StartTls it runs
// the handshake and calls tls_started() or tls_failed().

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "io/time.hpp"
#include "smtp/event_queue.hpp"
#include "smtp/limits.hpp"
#include "smtp/reply.hpp"
#include "smtp/server_session.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::smtp {

enum class ClientTls : std::uint8_t {
  none,           // never STARTTLS
  opportunistic,  // STARTTLS when offered; plaintext when not offered or refused with 4xx/5xx
  required,       // STARTTLS must be offered and succeed, else no delivery
};

struct Credentials {
  std::string user;
  std::string password;
  std::string mechanism = "PLAIN";  // or "LOGIN"
};

struct ClientConfig {
  std::string helo_name = "localhost";
  ClientTls tls = ClientTls::opportunistic;
  bool implicit_tls = false;  // the owner completes TLS before the greeting (RFC 8314)
  std::optional<Credentials> auth;
  bool use_pipelining = true;
  Duration greeting_timeout = client_greeting_timeout;
  Duration helo_timeout = client_mail_timeout;
  Duration mail_timeout = client_mail_timeout;
  Duration rcpt_timeout = client_rcpt_timeout;
  Duration data_init_timeout = client_data_init_timeout;
  Duration data_done_timeout = client_data_done_timeout;
  Duration quit_timeout = std::chrono::seconds(30);
  // Content lines longer than this are broken with CRLF SPACE before they are sent, as Postfix's
  // smtp_line_length_limit does (RFC 5321 §4.5.3.1.6 allows 998 octets); 0 sends them whole.
  std::size_t line_length_limit = text_line_bytes_max - 2;
};

struct Capabilities {
  bool esmtp = false;
  bool pipelining = false;
  bool starttls = false;
  bool eight_bit_mime = false;
  bool dsn = false;
  bool smtputf8 = false;
  bool enhanced_status_codes = false;
  std::optional<std::uint64_t> size_max;  // SIZE n (0 or absent: no limit announced)
  std::vector<std::string> auth_mechanisms;
};
// What a positive EHLO reply offers (its lines after the first).
Capabilities parse_capabilities(const Reply& reply);

enum class Stage : std::uint8_t { connect, greeting, ehlo, starttls, auth, mail, rcpt, data, content, quit };
std::string_view to_string(Stage stage);

struct OutgoingMessage {
  std::optional<Mailbox> sender;  // empty: <>
  MailParameters parameters;      // SIZE is set from the content when the server has SIZE
  std::vector<Recipient> recipients;
  std::string content;  // unstuffed; bare CR or LF are sent as CRLF, never as themselves
};

enum class Outcome : std::uint8_t { delivered, transient, permanent };
std::string_view to_string(Outcome outcome);

// Why the client failed a transaction itself, before MAIL FROM: this server cannot take it.
enum class Unsendable : std::uint8_t {
  no,
  too_large,       // larger than the server's SIZE (5.3.4)
  needs_smtputf8,  // internationalized, and the server did not offer SMTPUTF8 (5.6.7, RFC 6531 §3.4)
};

// Whether a message can only travel with SMTPUTF8: an address outside ASCII, or a sender that asked
// for SMTPUTF8 and headers outside ASCII. A message that asked for it but is ASCII throughout can go
// to a server without it, as Postfix sends it.
bool needs_smtputf8(const OutgoingMessage& message);

struct RecipientResult {
  Mailbox recipient;
  Outcome outcome = Outcome::transient;
  Stage stage = Stage::rcpt;
  std::optional<Reply> reply;              // absent when there was no reply (lost connection, timeout)
  std::string detail;                      // why, when there is no reply
  Unsendable unsendable = Unsendable::no;  // set: the reply is the client's own, not the server's
};

struct TransactionResult {
  std::vector<RecipientResult> recipients;  // in the order given
  Stage stopped_at = Stage::content;        // the last stage reached
  // The connection was lost (or timed out) after the final dot and before its reply: the server
  // may have accepted the message, so a retry may deliver it twice (RFC 5321 §4.5.4.1 / Postfix).
  bool possible_duplicate = false;
};

namespace client_event {
struct StartTls {};  // run the TLS handshake now; then tls_started() or tls_failed()
struct Ready {};     // idle: send() a message or quit()
struct Finished {    // one per send()
  TransactionResult result;
};
struct Failed {  // the session could not get ready (greeting, EHLO, STARTTLS, AUTH): try elsewhere
  Stage stage;
  std::optional<Reply> reply;
  std::string reason;
  bool permanent = false;
};
struct Violation {
  std::string what;
};
struct Closed {
  std::string reason;
};
}  // namespace client_event

using ClientEvent = std::variant<client_event::StartTls, client_event::Ready, client_event::Finished,
                                 client_event::Failed, client_event::Violation, client_event::Closed>;

// RFC 5321 §4.5.2 dot-stuffing, with every bare CR or LF turned into CRLF, ending in CRLF.CRLF.
std::string dot_stuff(std::string_view content);
// The same, appended to `out`.
void append_dot_stuffed(std::string& out, std::string_view content);
// The longest line of `content`, line endings (CRLF, bare CR or LF) not counted.
std::size_t longest_line(std::string_view content);
// `content` with every line longer than `limit` octets broken by CRLF SPACE into lines of at
// most `limit` (the space starts a continuation, so a header stays one header field); one octet
// shorter where a line starts with a dot, which dot-stuffing will double.
std::string fold_long_lines(std::string_view content, std::size_t limit);

class ClientSession {
 public:
  ClientSession(ClientConfig config, Instant now);

  void receive(Instant now, std::string_view bytes);
  void on_deadline(Instant now);
  // The connection closed or was reset under the session.
  void connection_lost(Instant now, std::string_view reason);
  Instant deadline() const { return deadline_; }
  std::string take_output();
  // What take_output() would return, then clear_output(): the buffer keeps its capacity for the next.
  std::string_view output() const { return output_; }
  void clear_output() {
    output_.clear();
    content_offset_ = std::string::npos;
  }
  // Where message content starts in output(): it runs to the end, its final ".\r\n" included.
  // npos when the output holds none.
  std::size_t content_offset() const { return content_offset_; }
  std::optional<ClientEvent> poll_event();

  bool ready() const { return state_ == State::ready; }
  // Starts a transaction; false (and nothing sent) unless ready() - a Ready event may be stale
  // by the time it is handled, if the server closed the session meanwhile.
  bool send(Instant now, OutgoingMessage message);
  void quit(Instant now);
  void tls_started(Instant now, TlsState tls);
  void tls_failed(Instant now, std::string_view reason);
  bool closed() const { return state_ == State::closed; }

  const Capabilities& capabilities() const { return capabilities_; }
  const TlsState& tls() const { return tls_; }
  const std::optional<Reply>& greeting() const { return greeting_; }

 private:
  enum class State {
    awaiting_tls,
    greeting,
    ehlo,
    helo,
    starttls,
    tls_handshake,
    auth,
    ready,
    transaction,
    quitting,
    closed
  };
  enum class Expect {
    greeting,
    ehlo,
    helo,
    starttls,
    auth_initial,
    auth_user,
    auth_password,
    mail,
    rcpt,
    data,
    content,
    rset,
    quit
  };
  struct Expectation {
    Expect what;
    std::size_t index = 0;  // the recipient, for rcpt
    Duration timeout;
  };

  void enter(State state);
  void expect(Instant now, Expect what, Duration timeout, std::size_t index = 0);
  void handle(Instant now, const Reply& reply);
  void after_greeting(Instant now, const Reply& reply);
  void after_ehlo(Instant now, const Reply& reply, bool extended);
  void after_starttls(Instant now, const Reply& reply);
  void after_auth(Instant now, const Reply& reply, Expect step);
  void next_setup_step(Instant now);
  void start_auth(Instant now);
  void become_ready();
  void after_mail(Instant now, const Reply& reply);
  void after_rcpt(Instant now, const Reply& reply, std::size_t index);
  void after_data(Instant now, const Reply& reply);
  void after_content(Instant now, const Reply& reply);
  void finish_transaction(Instant now);
  void write_rcpt(Instant now, std::size_t index);
  void refuse_unsendable(Instant now, Unsendable why, const Reply& reply);
  void decide_all(Outcome outcome, Stage stage, const std::optional<Reply>& reply, std::string detail,
                  bool only_accepted);
  void fail_setup(Instant now, Stage stage, std::optional<Reply> reply, std::string reason, bool permanent);
  void abandon(Instant now, std::string reason, bool timed_out);
  void close(std::string reason);
  void write(std::string_view bytes) { output_.append(bytes); }
  Stage current_stage() const;

  ClientConfig config_;
  State state_ = State::greeting;
  std::deque<Expectation> expected_;
  ReplyParser parser_;
  std::string output_;
  std::size_t content_offset_ = std::string::npos;
  EventQueue<ClientEvent> events_;
  Instant deadline_ = Instant::max();
  Capabilities capabilities_;
  TlsState tls_;
  std::optional<Reply> greeting_;
  bool authenticated_ = false;
  bool tls_attempted_ = false;

  // The transaction in flight.
  std::optional<OutgoingMessage> message_;
  TransactionResult result_;
  bool mail_accepted_ = false;
  std::size_t recipients_accepted_ = 0;
  std::size_t next_recipient_ = 0;
  std::vector<bool> accepted_;  // per recipient: RCPT got a 2xx
  std::vector<bool> decided_;   // per recipient: the outcome is final
  bool pipelined_ = false;
  bool content_sent_ = false;  // the final dot went out and its reply is awaited
  bool empty_data_ = false;    // DATA was answered 354 with no recipient: "." sent, reply ignored
  bool transaction_failed_ = false;
};

}  // namespace relaysim::smtp
