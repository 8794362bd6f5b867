#pragma once
// The SMTP server session, sans-I/O: fed (now, bytes), it produces bytes to send, events for its
// owner, and its next deadline. It never reads a clock or touches a socket.
//
// Decisions (accept this sender? this recipient? this message? these credentials?) are asked of
// the owner through events; the session stops reading input until the owner calls decide(), so
// the relay can make a message durable before its 250 and the fake MX can answer from its rules.
// TLS is the owner's too: on STARTTLS the session emits StartTls and waits for tls_started().

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
#include "smtp/syntax.hpp"

namespace relaysim::smtp {

// What to do with a CR or LF that is not part of CRLF (RFC 5321 §2.3.8). Either way only CRLF.CRLF
// ends DATA, so a smuggled "\n.\n" can never end a message early.
enum class BareLineEndings : std::uint8_t {
  reject,     // answer 521 5.5.2 and close, as Postfix's smtpd_forbid_bare_newline does
  normalize,  // turn them into CRLF inside the message
};

struct ServerConfig {
  std::string hostname = "localhost";
  std::string greeting_text = "ESMTP";
  bool implicit_tls = false;                 // greet only once the owner reports the TLS handshake (RFC 8314)
  bool starttls = false;                     // offer STARTTLS
  std::vector<std::string> auth_mechanisms;  // "PLAIN", "LOGIN"; empty: no AUTH
  bool auth_requires_tls = true;
  std::size_t message_size_max = message_size_bytes_default;  // 0: no limit announced (hard cap still applies)
  std::size_t recipients_max = recipients_default_max;
  BareLineEndings bare_line_endings = BareLineEndings::reject;
  // Past soft_error_limit errors, every further error reply should reach the client only after
  // error_sleep_time (Postfix's tarpit); the session says so through take_output_delay().
  int soft_error_limit = soft_error_limit_default;
  Duration error_sleep_time = error_sleep_time_default;
  int hard_error_limit = hard_error_limit_default;
  // NOOP, RSET and VRFY past this many each count as an error (Postfix's smtpd_junk_command_limit).
  int junk_command_limit = junk_command_limit_default;
  Duration command_timeout = server_command_timeout;
  // On, the command timeout restarts when a line ends rather than at every read, so a client
  // trickling a byte at a time cannot hold the session (Postfix's smtpd_per_record_deadline).
  bool per_record_deadline = false;
  bool pipelining = true;
  bool eight_bit_mime = true;
  bool dsn = true;
  bool smtputf8 = false;
  // Ask the owner, with a Command event, before answering EHLO/HELO, STARTTLS and DATA (a fake MX
  // refuses at any stage; the relay has no use for it).
  bool ask_at_commands = false;
};

// Whatever size is configured, a message is never buffered past this.
inline constexpr std::size_t message_buffer_bytes_max = 256 * 1024 * 1024;

// Limits an owner may tighten during a session (a relay under stress, Postfix's stress mode).
struct SessionLimits {
  Duration command_timeout;
  int hard_error_limit;
  int junk_command_limit;
  bool per_record_deadline;
};

struct TlsState {
  bool active = false;
  std::string version;  // "TLSv1.3"
  std::string cipher;
  std::string peer_subject;  // client certificate, if any
  bool peer_verified = false;
};

struct MailParameters {
  std::optional<std::uint64_t> size;
  std::string body;   // "7BIT", "8BITMIME" or empty
  std::string ret;    // "FULL", "HDRS" or empty (RFC 3461)
  std::string envid;  // decoded xtext
  bool smtputf8 = false;
  std::string auth;  // the AUTH= parameter (RFC 4954 §5), decoded
};

struct RecipientParameters {
  bool notify_given = false;
  bool notify_never = false, notify_success = false, notify_failure = false, notify_delay = false;
  std::string orcpt_type;  // "rfc822"
  std::string orcpt;       // decoded xtext
};

struct Recipient {
  Mailbox mailbox;
  RecipientParameters dsn;
};

struct Envelope {
  std::optional<Mailbox> sender;  // empty: the null sender <>
  MailParameters parameters;
  std::vector<Recipient> recipients;  // accepted ones only
};

namespace server_event {
struct Helo {
  std::string name;
  bool extended = false;
};
struct Mail {  // decision
  std::optional<Mailbox> sender;
  MailParameters parameters;
  bool source_route = false;
};
struct Rcpt {  // decision
  Recipient recipient;
  bool source_route = false;
};
struct Message {  // decision
  Envelope envelope;
  std::string content;  // unstuffed, CRLF line endings
  bool normalized_bare_line_endings = false;
  bool long_lines = false;  // a line over RFC 5321's 1000 bytes
};
struct Auth {  // decision
  std::string mechanism;
  std::string authorization_id;
  std::string user;
  std::string password;
};
struct Command {  // decision, with ServerConfig::ask_at_commands: "EHLO", "HELO", "STARTTLS" or "DATA"
  std::string verb;
  std::string argument;
};
struct StartTls {};  // the owner starts TLS now and calls tls_started() once the handshake is done
struct Violation {   // abuse worth logging: bare line endings, injection, synchronization errors
  std::string what;
};
struct Closed {
  std::string reason;
};
}  // namespace server_event

using ServerEvent =
    std::variant<server_event::Helo, server_event::Mail, server_event::Rcpt, server_event::Message, server_event::Auth,
                 server_event::Command, server_event::StartTls, server_event::Violation, server_event::Closed>;

// The owner's answer to a decision event.
struct Verdict {
  bool accepted = true;
  std::optional<Reply> reply;  // replaces the session's default reply when set
  static Verdict accept() { return {}; }
  static Verdict accept_with(Reply reply) { return {true, std::move(reply)}; }
  static Verdict reject(Reply reply) { return {false, std::move(reply)}; }
};

class ServerSession {
 public:
  ServerSession(ServerConfig config, Instant now);

  void receive(Instant now, std::string_view bytes);
  // Call when now >= deadline(): a silent client is told 421 and the session closes.
  void on_deadline(Instant now);
  Instant deadline() const { return deadline_; }
  // Bytes to send, in order; empty when there are none.
  std::string take_output();
  // What take_output() would return, then clear_output(): the buffer keeps its capacity for the next.
  std::string_view output() const { return output_; }
  void clear_output() { output_.clear(); }
  // How long to hold the output just taken before sending it (and to read nothing meanwhile):
  // error_sleep_time once the client is past the soft error limit, else zero. Reading clears it.
  Duration take_output_delay() { return std::exchange(output_delay_, Duration(0)); }
  std::optional<ServerEvent> poll_event();
  bool awaiting_decision() const { return pending_ != Pending::none; }
  void decide(Instant now, Verdict verdict);
  // The owner's TLS handshake finished (after StartTls, or at once in implicit-TLS mode).
  void tls_started(Instant now, TlsState tls);
  // The session is over; close the connection once the output is sent.
  bool closed() const { return state_ == State::closed; }
  // The owner ends the session with a last reply (a 421: session time limit, shutdown).
  void terminate(const Reply& reply, std::string_view reason);
  // New limits from now on; the deadline moves no later than now + the new command timeout.
  void tighten(Instant now, const SessionLimits& limits);

  const TlsState& tls() const { return tls_; }
  // Between the 354 and the final dot.
  bool receiving_content() const { return state_ == State::data; }
  // Bytes of input read as message content, final dots included, over the whole session.
  std::uint64_t content_bytes_read() const { return content_bytes_read_; }
  // Input received and not read yet (a line end split between two reads waits here).
  std::size_t unread_bytes() const { return input_.size() - input_offset_; }
  const std::string& helo_name() const { return helo_; }
  const std::string& authenticated_user() const { return authenticated_user_; }
  const Envelope& envelope() const { return envelope_; }
  int errors() const { return errors_; }

 private:
  enum class State { awaiting_tls, command, auth_response, data, closed };
  enum class Pending { none, mail, rcpt, message, auth, command };
  enum class LineStart { none, real, soft };  // soft: after a bare CR/LF; never ends DATA

  void enter(State state);
  void pump();
  bool process_command_line(std::string_view line, bool more_input_follows);
  void process_auth_response(std::string_view line);
  bool process_data();
  void reply(const Reply& reply);
  void reply(int code, std::string_view enhanced, std::string_view text);
  void count_error();
  void count_junk();  // after the reply to NOOP, RSET or VRFY
  void error_reply(int code, std::string_view enhanced, std::string_view text);
  void error_reply(const Reply& rejection);
  void close(std::string_view reason);
  void reset_transaction();
  void greet();
  void append_capabilities();
  bool auth_offered() const;

  void on_helo(const Command& command, bool extended);
  void on_mail(const Command& command);
  void on_rcpt(const Command& command);
  void on_data();
  void on_auth(const Command& command);
  void on_starttls(bool more_input_follows);
  void finish_auth();

  ServerConfig config_;
  State state_ = State::command;
  Pending pending_ = Pending::none;
  void discard_input() {
    input_.clear();
    input_offset_ = 0;
  }

  std::string input_;
  std::size_t input_offset_ = 0;  // input_ before this has been consumed
  std::uint64_t content_bytes_read_ = 0;
  std::string output_;
  EventQueue<ServerEvent> events_;
  Instant deadline_;
  bool greeted_ = false;
  Duration output_delay_{0};
  bool discarding_line_ = false;
  int errors_ = 0;
  int junk_commands_ = 0;

  // Session facts.
  std::string helo_;
  bool esmtp_ = false;
  TlsState tls_;
  std::string authenticated_user_;

  // The transaction.
  bool mail_given_ = false;
  Envelope envelope_;
  std::optional<Recipient> pending_recipient_;
  std::optional<server_event::Mail> pending_mail_;
  std::optional<server_event::Command> pending_command_;
  bool pending_extended_ = false;
  void ask_owner(std::string verb, std::string argument);  // a Command decision
  void proceed_helo(const std::string& name, bool extended);
  void proceed_data();
  void proceed_starttls();

  // AUTH exchange in progress.
  std::string auth_mechanism_;
  int auth_step_ = 0;
  server_event::Auth auth_;

  // DATA in progress.
  std::string content_;
  LineStart line_start_ = LineStart::real;
  std::size_t line_length_ = 0;
  bool oversized_ = false;
  bool normalized_ = false;
  bool long_lines_ = false;
};

}  // namespace relaysim::smtp
