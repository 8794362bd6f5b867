#include "smtp/server_session.hpp"

#include <algorithm>

#include "io/assert.hpp"

namespace relaysim::smtp {
namespace {

// What a declared SIZE may reserve at once: a client cannot make the server allocate a whole
// message_size_limit by declaring it and sending nothing.
constexpr std::size_t content_reserve_bytes_max = 1024 * 1024;

bool all_digits(std::string_view text) {
  return !text.empty() && text.size() <= 19 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "PLAIN" initial or later response: authzid NUL authcid NUL passwd (RFC 4616 §2).
bool split_plain(std::string_view decoded, server_event::Auth& auth) {
  const std::size_t first = decoded.find('\0');
  if (first == std::string_view::npos) return false;
  const std::size_t second = decoded.find('\0', first + 1);
  if (second == std::string_view::npos || decoded.find('\0', second + 1) != std::string_view::npos) return false;
  auth.authorization_id = std::string(decoded.substr(0, first));
  auth.user = std::string(decoded.substr(first + 1, second - first - 1));
  auth.password = std::string(decoded.substr(second + 1));
  return !auth.user.empty();
}

}  // namespace

ServerSession::ServerSession(ServerConfig config, Instant now) : config_(std::move(config)) {
  deadline_ = now + config_.command_timeout;
  if (config_.implicit_tls) {
    enter(State::awaiting_tls);
  } else {
    greet();
  }
}

void ServerSession::enter(State state) { state_ = state; }

void ServerSession::greet() {
  greeted_ = true;
  reply(220, "", config_.hostname + " " + config_.greeting_text);
  enter(State::command);
}

std::string ServerSession::take_output() { return std::exchange(output_, std::string()); }

std::optional<ServerEvent> ServerSession::poll_event() { return events_.pop(); }

void ServerSession::reply(const Reply& reply) { reply.append_wire(output_); }

void ServerSession::reply(int code, std::string_view enhanced, std::string_view text) {
  if (text.find('\n') != std::string_view::npos) return reply(Reply::make(code, enhanced, text));
  // One line, written straight out: the common case, without building a Reply.
  char digits[4] = {static_cast<char>('0' + code / 100), static_cast<char>('0' + code / 10 % 10),
                    static_cast<char>('0' + code % 10), ' '};
  output_.append(digits, 4);
  if (!enhanced.empty()) {
    output_.append(enhanced);
    if (!text.empty()) output_ += ' ';
  }
  output_.append(text);
  output_.append("\r\n");
}

void ServerSession::error_reply(int code, std::string_view enhanced, std::string_view text) {
  reply(code, enhanced, text);
  count_error();
}

void ServerSession::error_reply(const Reply& rejection) {
  reply(rejection);
  count_error();
}

void ServerSession::tighten(Instant now, const SessionLimits& limits) {
  config_.command_timeout = limits.command_timeout;
  config_.hard_error_limit = limits.hard_error_limit;
  config_.soft_error_limit = std::min(config_.soft_error_limit, limits.hard_error_limit);
  config_.junk_command_limit = limits.junk_command_limit;
  config_.per_record_deadline = limits.per_record_deadline;
  deadline_ = std::min(deadline_, now + limits.command_timeout);
}

void ServerSession::count_junk() {
  if (++junk_commands_ > config_.junk_command_limit) count_error();
}

void ServerSession::count_error() {
  errors_ += 1;
  if (errors_ > config_.soft_error_limit) output_delay_ = config_.error_sleep_time;
  if (errors_ >= config_.hard_error_limit && state_ != State::closed) {
    reply(421, "4.7.0", config_.hostname + " Error: too many errors");
    close("too many errors");
  }
}

void ServerSession::close(std::string_view reason) {
  if (state_ == State::closed) return;
  enter(State::closed);
  pending_ = Pending::none;
  discard_input();
  events_.push_back(server_event::Closed{std::string(reason)});
}

void ServerSession::terminate(const Reply& last, std::string_view reason) {
  if (state_ == State::closed) return;
  if (state_ != State::awaiting_tls) reply(last);  // mid-handshake, there is nobody to read it
  close(reason);
}

void ServerSession::reset_transaction() {
  mail_given_ = false;
  envelope_ = Envelope();
  pending_recipient_.reset();
  pending_mail_.reset();
  content_.clear();
}

bool ServerSession::auth_offered() const {
  return !config_.auth_mechanisms.empty() && (tls_.active || !config_.auth_requires_tls);
}

void ServerSession::append_capabilities() {
  // Written straight to the output: an EHLO reply is the longest the session sends.
  const auto line = [this](std::string_view text, bool last) {
    output_.append(last ? "250 " : "250-").append(text).append("\r\n");
  };
  line(config_.hostname, false);
  if (config_.pipelining) line("PIPELINING", false);
  line(config_.message_size_max > 0 ? "SIZE " + std::to_string(config_.message_size_max) : "SIZE", false);
  if (config_.starttls && !tls_.active) line("STARTTLS", false);
  if (auth_offered() && authenticated_user_.empty()) {
    std::string auth = "AUTH";
    for (const std::string& mechanism : config_.auth_mechanisms) auth += " " + mechanism;
    line(auth, false);
  }
  line("ENHANCEDSTATUSCODES", !config_.eight_bit_mime && !config_.dsn && !config_.smtputf8);
  if (config_.eight_bit_mime) line("8BITMIME", !config_.dsn && !config_.smtputf8);
  if (config_.dsn) line("DSN", !config_.smtputf8);
  if (config_.smtputf8) line("SMTPUTF8", true);
}

void ServerSession::receive(Instant now, std::string_view bytes) {
  if (state_ == State::closed) return;
  if (state_ == State::awaiting_tls) {
    // Plaintext while TLS is being set up is never acted on (RFC 3207 §4.2, CVE-2011-0411).
    if (!bytes.empty())
      events_.push_back(server_event::Violation{"plaintext received while TLS was starting: discarded"});
    return;
  }
  if (!config_.per_record_deadline || bytes.find('\n') != std::string_view::npos) {
    deadline_ = now + config_.command_timeout;
  }
  // Consumed input is dropped lazily, so a pipelined burst is not shifted once per command.
  if (input_offset_ == input_.size()) {
    input_.clear();
    input_offset_ = 0;
  } else if (input_offset_ > 0) {
    input_.erase(0, input_offset_);
    input_offset_ = 0;
  }
  input_.append(bytes);
  pump();
}

void ServerSession::on_deadline(Instant now) {
  if (state_ == State::closed || pending_ != Pending::none || now < deadline_) return;
  reply(421, "4.4.2", config_.hostname + " Error: timeout exceeded");
  close("timeout");
}

void ServerSession::pump() {
  while (state_ != State::closed && pending_ == Pending::none) {
    switch (state_) {
      case State::command:
      case State::auth_response: {
        const std::size_t limit = state_ == State::auth_response ? auth_line_bytes_max : command_line_bytes_max;
        const std::string_view unread = std::string_view(input_).substr(input_offset_);
        const std::size_t newline = unread.find('\n');
        if (newline == std::string::npos) {
          if (unread.size() > limit) {
            // Too long: answer once, then drop everything up to the next line end.
            if (!discarding_line_) error_reply(500, "5.5.2", "Error: line too long");
            discarding_line_ = true;
            discard_input();
          }
          return;
        }
        std::string_view line = unread.substr(0, newline);
        input_offset_ += newline + 1;
        if (discarding_line_) {
          discarding_line_ = false;
          continue;
        }
        if (line.empty() || line.back() != '\r') {
          if (config_.bare_line_endings == BareLineEndings::reject) {
            events_.push_back(server_event::Violation{"bare <LF> in a command line"});
            error_reply(500, "5.5.2", "Error: bare <LF> received");
            continue;
          }
        } else {
          line.remove_suffix(1);
        }
        if (line.find('\r') != std::string::npos) {
          events_.push_back(server_event::Violation{"bare <CR> in a command line"});
          error_reply(500, "5.5.2", "Error: bare <CR> received");
          continue;
        }
        if (line.size() + 2 > limit) {
          error_reply(500, "5.5.2", "Error: line too long");
          continue;
        }
        if (state_ == State::auth_response) {
          process_auth_response(line);
        } else {
          process_command_line(line, input_offset_ < input_.size());
        }
        break;
      }
      case State::data:
        if (!process_data()) return;
        break;
      case State::awaiting_tls:
      case State::closed: return;
    }
  }
}

bool ServerSession::process_command_line(std::string_view line, bool more_input_follows) {
  const Command command = parse_command(line);
  const bool may_pipeline = esmtp_ && config_.pipelining;
  if (more_input_follows && !may_pipeline) {
    // The client sent more before hearing this reply, without PIPELINING (RFC 2920 §3).
    events_.push_back(server_event::Violation{"improper command pipelining after " + command.name});
    reply(554, "5.5.0", "Error: SMTP protocol synchronization");
    close("improper command pipelining");
    return false;
  }
  const auto no_argument = [&](std::string_view syntax) {
    if (command.argument.empty()) return true;
    error_reply(501, "5.5.4", "Syntax: " + std::string(syntax));
    return false;
  };
  switch (command.verb) {
    case Verb::helo: on_helo(command, false); break;
    case Verb::ehlo: on_helo(command, true); break;
    case Verb::mail: on_mail(command); break;
    case Verb::rcpt: on_rcpt(command); break;
    case Verb::data:
      if (no_argument("DATA")) on_data();
      break;
    case Verb::rset:
      if (no_argument("RSET")) {
        reset_transaction();
        reply(250, "2.0.0", "Ok");
        count_junk();
      }
      break;
    case Verb::noop:
      reply(250, "2.0.0", "Ok");
      count_junk();
      break;
    case Verb::quit:
      reply(221, "2.0.0", "Bye");
      close("quit");
      break;
    case Verb::vrfy:
      if (command.argument.empty()) {
        error_reply(501, "5.5.4", "Syntax: VRFY address");
      } else {
        reply(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery");
        count_junk();
      }
      break;
    case Verb::expn:
    case Verb::bdat: error_reply(502, "5.5.1", "Error: command not implemented"); break;
    case Verb::help:
      reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
      break;
    case Verb::starttls:
      if (no_argument("STARTTLS")) on_starttls(more_input_follows);
      break;
    case Verb::auth: on_auth(command); break;
    case Verb::unknown: error_reply(500, "5.5.2", "Error: command not recognized"); break;
  }
  return true;
}

void ServerSession::on_helo(const Command& command, bool extended) {
  if (command.argument.empty() || command.argument.find(' ') != std::string::npos) {
    error_reply(501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname");
    return;
  }
  if (config_.ask_at_commands) {
    pending_extended_ = extended;
    return ask_owner(extended ? "EHLO" : "HELO", command.argument);
  }
  proceed_helo(command.argument, extended);
}

void ServerSession::ask_owner(std::string verb, std::string argument) {
  pending_command_ = server_event::Command{std::move(verb), std::move(argument)};
  events_.push_back(*pending_command_);
  pending_ = Pending::command;
}

void ServerSession::proceed_helo(const std::string& name, bool extended) {
  helo_ = name;
  esmtp_ = extended;
  reset_transaction();  // RFC 5321 §4.1.4
  events_.push_back(server_event::Helo{helo_, extended});
  if (extended) {
    append_capabilities();
  } else {
    reply(250, "", config_.hostname);
  }
}

void ServerSession::on_mail(const Command& command) {
  if (helo_.empty()) return error_reply(503, "5.5.1", "Error: send HELO/EHLO first");
  if (mail_given_) return error_reply(503, "5.5.1", "Error: nested MAIL command");
  if (command.argument.size() < 5 || !equals_ignoring_case(std::string_view(command.argument).substr(0, 5), "FROM:")) {
    return error_reply(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  }
  auto parsed = parse_path(std::string_view(command.argument).substr(5), true, config_.smtputf8);
  if (const auto* error = std::get_if<PathError>(&parsed)) {
    return error_reply(501, "5.1.7", "Bad sender address syntax: " + error->reason);
  }
  ParsedPath& path = std::get<ParsedPath>(parsed);
  if (!path.parameters.empty() && !esmtp_) return error_reply(555, "5.5.4", "Error: parameters need EHLO");
  MailParameters parameters;
  std::vector<std::string> seen;
  for (const auto& [key, value] : path.parameters) {
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return error_reply(501, "5.5.4", "Error: duplicate " + key);
    seen.push_back(key);
    if (key == "SIZE") {
      if (!value || !all_digits(*value)) return error_reply(501, "5.5.4", "Bad SIZE syntax");
      parameters.size = std::stoull(*value);
      if (config_.message_size_max > 0 && *parameters.size > config_.message_size_max) {
        return error_reply(552, "5.3.4", "Message size exceeds fixed limit");
      }
    } else if (key == "BODY" && config_.eight_bit_mime) {
      const std::string body = value ? to_upper(*value) : "";
      if (body != "7BIT" && body != "8BITMIME") return error_reply(501, "5.5.4", "Bad BODY keyword");
      parameters.body = body;
    } else if (key == "RET" && config_.dsn) {
      const std::string ret = value ? to_upper(*value) : "";
      if (ret != "FULL" && ret != "HDRS") return error_reply(501, "5.5.4", "Bad RET keyword");
      parameters.ret = ret;
    } else if (key == "ENVID" && config_.dsn) {
      const auto decoded = value ? decode_xtext(*value) : std::nullopt;
      if (!decoded || decoded->size() > 100) return error_reply(501, "5.5.4", "Bad ENVID syntax");  // RFC 3461 §4.4
      parameters.envid = *decoded;
    } else if (key == "SMTPUTF8" && config_.smtputf8 && !value) {
      parameters.smtputf8 = true;
    } else if (key == "AUTH") {
      const auto decoded = value ? decode_xtext(*value) : std::nullopt;
      if (!decoded) return error_reply(501, "5.5.4", "Bad AUTH parameter syntax");
      parameters.auth = *decoded;
    } else {
      return error_reply(555, "5.5.4", "Unsupported option: " + key);
    }
  }
  // RFC 6531 §3.4: an address outside ASCII travels only in a transaction that asked for SMTPUTF8.
  if (path.mailbox && !parameters.smtputf8 && !is_ascii(path.mailbox->to_string())) {
    return error_reply(553, "5.6.7", "Error: an address outside ASCII needs SMTPUTF8");
  }
  pending_mail_ = server_event::Mail{path.mailbox, parameters, path.had_source_route};
  pending_ = Pending::mail;
  events_.push_back(*pending_mail_);
}

void ServerSession::on_rcpt(const Command& command) {
  if (!mail_given_) return error_reply(503, "5.5.1", "Error: need MAIL command");
  if (command.argument.size() < 3 || !equals_ignoring_case(std::string_view(command.argument).substr(0, 3), "TO:")) {
    return error_reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
  }
  auto parsed = parse_path(std::string_view(command.argument).substr(3), false, envelope_.parameters.smtputf8);
  if (const auto* error = std::get_if<PathError>(&parsed)) {
    return error_reply(501, "5.1.3", "Bad recipient address syntax: " + error->reason);
  }
  ParsedPath& path = std::get<ParsedPath>(parsed);
  if (envelope_.recipients.size() >= config_.recipients_max) {
    return error_reply(452, "4.5.3", "Error: too many recipients");  // RFC 5321 §4.5.3.1.10
  }
  if (!path.parameters.empty() && !esmtp_) return error_reply(555, "5.5.4", "Error: parameters need EHLO");
  Recipient recipient{*path.mailbox, {}};
  for (const auto& [key, value] : path.parameters) {
    if (key == "NOTIFY" && config_.dsn && !recipient.dsn.notify_given) {
      if (!value || value->empty()) return error_reply(501, "5.5.4", "Bad NOTIFY syntax");
      recipient.dsn.notify_given = true;
      std::string_view list = *value;
      while (!list.empty()) {
        const std::size_t comma = std::min(list.find(','), list.size());
        const std::string item = to_upper(list.substr(0, comma));
        list.remove_prefix(std::min(comma + 1, list.size()));
        if (item == "NEVER") {
          recipient.dsn.notify_never = true;
        } else if (item == "SUCCESS") {
          recipient.dsn.notify_success = true;
        } else if (item == "FAILURE") {
          recipient.dsn.notify_failure = true;
        } else if (item == "DELAY") {
          recipient.dsn.notify_delay = true;
        } else {
          return error_reply(501, "5.5.4", "Bad NOTIFY keyword");
        }
      }
      const bool others = recipient.dsn.notify_success || recipient.dsn.notify_failure || recipient.dsn.notify_delay;
      if (recipient.dsn.notify_never && others)
        return error_reply(501, "5.5.4", "NEVER must stand alone");  // RFC 3461 §4.1
    } else if (key == "ORCPT" && config_.dsn && recipient.dsn.orcpt_type.empty()) {
      const std::size_t semicolon = value ? value->find(';') : std::string::npos;
      if (semicolon == std::string::npos || semicolon == 0) return error_reply(501, "5.5.4", "Bad ORCPT syntax");
      const auto decoded = decode_xtext(std::string_view(*value).substr(semicolon + 1));
      if (!decoded || decoded->empty()) return error_reply(501, "5.5.4", "Bad ORCPT syntax");
      recipient.dsn.orcpt_type = to_lower(std::string_view(*value).substr(0, semicolon));
      recipient.dsn.orcpt = *decoded;
    } else {
      return error_reply(555, "5.5.4", "Unsupported option: " + key);
    }
  }
  pending_recipient_ = recipient;
  pending_ = Pending::rcpt;
  events_.push_back(server_event::Rcpt{std::move(recipient), path.had_source_route});
}

void ServerSession::on_data() {
  if (!mail_given_) return error_reply(503, "5.5.1", "Error: need RCPT command");
  if (envelope_.recipients.empty()) return error_reply(554, "5.5.1", "Error: no valid recipients");
  if (config_.ask_at_commands) return ask_owner("DATA", "");
  proceed_data();
}

void ServerSession::proceed_data() {
  reply(354, "", "End data with <CR><LF>.<CR><LF>");
  content_.clear();
  // Room for the declared size (RFC 1870), up to a bound, spares the buffer its doublings.
  content_.reserve(std::min<std::size_t>(envelope_.parameters.size.value_or(0) + 64, content_reserve_bytes_max));
  line_start_ = LineStart::real;
  line_length_ = 0;
  oversized_ = false;
  normalized_ = false;
  long_lines_ = false;
  enter(State::data);
}

// Reads message content up to CRLF.CRLF. Returns false when it needs more input.
bool ServerSession::process_data() {
  const std::string_view in = std::string_view(input_).substr(input_offset_);
  const std::size_t cap = config_.message_size_max > 0 ? std::min(config_.message_size_max, message_buffer_bytes_max)
                                                       : message_buffer_bytes_max;
  // Content is the input minus stuffing dots: copied in runs, broken only at a stuffing dot, a
  // normalised line ending, or the end of what arrived.
  const auto store = [&](std::string_view piece) {
    if (oversized_) return;
    if (content_.size() + piece.size() > cap) {
      oversized_ = true;
      return;
    }
    content_.append(piece);
  };
  std::size_t run = 0;
  const auto flush = [&](std::size_t until) {
    if (until > run) store(in.substr(run, until - run));
    run = until;
  };
  std::size_t at = 0;
  bool finished = false;
  while (at < in.size()) {
    if (line_start_ == LineStart::real && in[at] == '.') {
      if (at + 1 >= in.size()) break;
      if (in[at + 1] == '\r') {
        if (at + 2 >= in.size()) break;
        if (in[at + 2] == '\n') {
          flush(at);
          at += 3;
          finished = true;
          break;
        }
      }
      flush(at);
      at += 1;  // dot-stuffing (RFC 5321 §4.5.2): drop the leading dot
      run = at;
      line_start_ = LineStart::none;
    }
    const std::size_t stop = find_line_break(in, at);
    const std::size_t end = stop == std::string_view::npos ? in.size() : stop;
    line_length_ += end - at;
    if (line_length_ + 2 > text_line_bytes_max) long_lines_ = true;
    if (end > at) line_start_ = LineStart::none;
    at = end;
    if (stop == std::string_view::npos) break;
    if (in[at] == '\r') {
      if (at + 1 >= in.size()) break;  // wait to see what follows the CR
      if (in[at + 1] == '\n') {
        at += 2;
        line_start_ = LineStart::real;
        line_length_ = 0;
        continue;
      }
    }
    // A bare CR or LF (RFC 5321 §2.3.8): never a line end that could end DATA.
    const char* which = in[at] == '\r' ? "<CR>" : "<LF>";
    if (config_.bare_line_endings == BareLineEndings::reject) {
      discard_input();
      events_.push_back(server_event::Violation{std::string("bare ") + which + " in message content"});
      reply(521, "5.5.2", config_.hostname + " Error: bare " + which + " received");
      close(std::string("bare ") + which + " in DATA");
      return true;
    }
    normalized_ = true;
    flush(at);
    store("\r\n");
    at += 1;
    run = at;
    line_start_ = LineStart::soft;
    line_length_ = 0;
  }
  if (!finished) flush(at);
  input_offset_ += at;
  content_bytes_read_ += at;
  if (!finished) return false;
  enter(State::command);
  if (oversized_) {
    reset_transaction();
    error_reply(552, "5.3.4", "Error: message file too big");
    return true;
  }
  pending_ = Pending::message;
  // The transaction ends with this message: its envelope moves to the owner.
  events_.push_back(
      server_event::Message{std::exchange(envelope_, Envelope()), std::move(content_), normalized_, long_lines_});
  content_.clear();
  return true;
}

void ServerSession::on_starttls(bool more_input_follows) {
  if (!config_.starttls) return error_reply(502, "5.5.1", "Error: command not implemented");
  if (tls_.active) return error_reply(554, "5.5.1", "Error: TLS already active");
  if (more_input_follows || input_offset_ < input_.size()) {
    events_.push_back(server_event::Violation{"plaintext pipelined after STARTTLS: discarded (CVE-2011-0411)"});
    discard_input();
  }
  if (config_.ask_at_commands) return ask_owner("STARTTLS", "");
  proceed_starttls();
}

void ServerSession::proceed_starttls() {
  reply(220, "2.0.0", "Ready to start TLS");
  events_.push_back(server_event::StartTls{});
  enter(State::awaiting_tls);
}

void ServerSession::tls_started(Instant now, TlsState tls) {
  if (state_ != State::awaiting_tls) return;
  // RFC 3207 §4.2: forget everything learned before TLS.
  tls_ = std::move(tls);
  tls_.active = true;
  helo_.clear();
  esmtp_ = false;
  authenticated_user_.clear();
  reset_transaction();
  discard_input();
  deadline_ = now + config_.command_timeout;
  if (!greeted_) {
    greet();
  } else {
    enter(State::command);
  }
}

void ServerSession::on_auth(const Command& command) {
  if (helo_.empty() || !esmtp_) return error_reply(503, "5.5.1", "Error: send EHLO first");
  if (config_.auth_mechanisms.empty()) return error_reply(503, "5.5.1", "Error: authentication not enabled");
  if (config_.auth_requires_tls && !tls_.active) {
    return error_reply(538, "5.7.11", "Encryption required for requested authentication mechanism");  // RFC 4954 §6
  }
  if (!authenticated_user_.empty()) return error_reply(503, "5.5.1", "Error: already authenticated");
  if (mail_given_) return error_reply(503, "5.5.1", "Error: MAIL transaction in progress");
  const std::size_t space = command.argument.find(' ');
  const std::string mechanism = to_upper(std::string_view(command.argument).substr(0, space));
  const std::optional<std::string> initial =
      space == std::string::npos ? std::nullopt : std::optional<std::string>(command.argument.substr(space + 1));
  if (std::find(config_.auth_mechanisms.begin(), config_.auth_mechanisms.end(), mechanism) ==
      config_.auth_mechanisms.end()) {
    return error_reply(504, "5.5.4", "Error: unsupported authentication mechanism");
  }
  auth_ = server_event::Auth{mechanism, {}, {}, {}};
  auth_step_ = 0;
  enter(State::auth_response);
  if (initial) {
    process_auth_response(*initial == "=" ? "" : *initial);  // "=" is an empty initial response (RFC 4954 §4)
    return;
  }
  reply(334, "", mechanism == "LOGIN" ? "VXNlcm5hbWU6" : "");  // "Username:"
}

void ServerSession::process_auth_response(std::string_view line) {
  if (line == "*") {
    enter(State::command);
    return error_reply(501, "5.7.0", "Authentication aborted");
  }
  const auto decoded = decode_base64(line);
  if (!decoded) {
    enter(State::command);
    return error_reply(501, "5.5.2", "Error: cannot decode response");
  }
  if (auth_.mechanism == "PLAIN") {
    if (!split_plain(*decoded, auth_)) {
      enter(State::command);
      return error_reply(501, "5.5.2", "Error: malformed PLAIN response");
    }
    return finish_auth();
  }
  if (auth_step_ == 0) {
    auth_.user = *decoded;
    auth_step_ = 1;
    reply(334, "", "UGFzc3dvcmQ6");  // "Password:"
    return;
  }
  auth_.password = *decoded;
  finish_auth();
}

void ServerSession::finish_auth() {
  enter(State::command);
  pending_ = Pending::auth;
  events_.push_back(auth_);
}

void ServerSession::decide(Instant now, Verdict verdict) {
  RELAYSIM_ASSERT(pending_ != Pending::none);
  const Pending decided = std::exchange(pending_, Pending::none);
  deadline_ = now + config_.command_timeout;
  const auto answer = [&](int code, std::string_view enhanced, std::string_view text) {
    if (verdict.reply) {
      reply(*verdict.reply);
    } else {
      reply(code, enhanced, text);
    }
    if (!verdict.accepted) count_error();  // a refusal counts towards the error limit
    if (verdict.reply && verdict.reply->code == 421) close("the owner closed the session");  // RFC 5321 §3.8
  };
  switch (decided) {
    case Pending::mail:
      if (verdict.accepted) {
        mail_given_ = true;
        envelope_.sender = pending_mail_->sender;
        envelope_.parameters = pending_mail_->parameters;
      }
      pending_mail_.reset();
      answer(verdict.accepted ? 250 : 550, verdict.accepted ? "2.1.0" : "5.7.1",
             verdict.accepted ? "Ok" : "Sender rejected");
      break;
    case Pending::rcpt:
      if (verdict.accepted) envelope_.recipients.push_back(*pending_recipient_);
      pending_recipient_.reset();
      answer(verdict.accepted ? 250 : 550, verdict.accepted ? "2.1.5" : "5.1.1",
             verdict.accepted ? "Ok" : "Recipient rejected");
      break;
    case Pending::message:
      reset_transaction();
      answer(verdict.accepted ? 250 : 554, verdict.accepted ? "2.0.0" : "5.7.1",
             verdict.accepted ? "Ok: queued" : "Message rejected");
      break;
    case Pending::auth:
      if (verdict.accepted) authenticated_user_ = auth_.user;
      auth_ = {};
      answer(verdict.accepted ? 235 : 535, verdict.accepted ? "2.7.0" : "5.7.8",
             verdict.accepted ? "Authentication successful" : "Error: authentication failed");
      break;
    case Pending::command: {
      const server_event::Command command = std::move(*pending_command_);
      pending_command_.reset();
      if (!verdict.accepted) {
        answer(554, "5.5.0", "Error: refused");
        break;
      }
      if (command.verb == "DATA") {
        proceed_data();
      } else if (command.verb == "STARTTLS") {
        proceed_starttls();
        return;  // no more input until the handshake is done
      } else {
        proceed_helo(command.argument, pending_extended_);
      }
      break;
    }
    case Pending::none: break;
  }
  pump();
}

}  // namespace relaysim::smtp
