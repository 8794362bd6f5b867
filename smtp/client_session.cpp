#include "smtp/client_session.hpp"

#include <algorithm>

#include "io/assert.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::smtp {

std::string_view to_string(Stage stage) {
  switch (stage) {
    case Stage::connect: return "connect";
    case Stage::greeting: return "greeting";
    case Stage::ehlo: return "EHLO";
    case Stage::starttls: return "STARTTLS";
    case Stage::auth: return "AUTH";
    case Stage::mail: return "MAIL FROM";
    case Stage::rcpt: return "RCPT TO";
    case Stage::data: return "DATA";
    case Stage::content: return "end of data";
    case Stage::quit: return "QUIT";
  }
  return "?";
}

namespace {

bool ascii(const Mailbox& mailbox) { return is_ascii(mailbox.local) && is_ascii(mailbox.domain); }

}  // namespace

bool needs_smtputf8(const OutgoingMessage& message) {
  if (message.sender && !ascii(*message.sender)) return true;
  for (const Recipient& recipient : message.recipients) {
    if (!ascii(recipient.mailbox)) return true;
  }
  return message.parameters.smtputf8 && !is_ascii(header_section(message.content));
}

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::delivered: return "delivered";
    case Outcome::transient: return "transient";
    case Outcome::permanent: return "permanent";
  }
  return "?";
}

std::string dot_stuff(std::string_view content) {
  std::string out;
  append_dot_stuffed(out, content);
  return out;
}

std::size_t longest_line(std::string_view content) {
  std::size_t longest = 0, at = 0;
  while (at < content.size()) {
    const std::size_t stop = std::min(find_line_break(content, at), content.size());
    longest = std::max(longest, stop - at);
    at = stop + 1;
  }
  return longest;
}

std::string fold_long_lines(std::string_view content, std::size_t limit) {
  RELAYSIM_ASSERT(limit > 2);
  std::string out;
  out.reserve(content.size() + content.size() / limit * 3 + 3);
  std::size_t at = 0;
  while (at < content.size()) {
    const std::size_t stop = std::min(find_line_break(content, at), content.size());
    std::string_view line = content.substr(at, stop - at);
    std::size_t room = line.starts_with('.') ? limit - 1 : limit;
    while (line.size() > room) {
      out.append(line.substr(0, room));
      out.append("\r\n ");
      line.remove_prefix(room);
      room = limit - 1;  // after the space
    }
    out.append(line);
    if (stop < content.size()) out += content[stop];  // the line ending, as it was
    at = stop + 1;
  }
  return out;
}

void append_dot_stuffed(std::string& out, std::string_view content) {
  out.reserve(out.size() + content.size() + content.size() / 64 + 8);
  // Copied in runs, broken only where a dot is added or a bare line ending becomes CRLF.
  std::size_t run = 0;
  bool line_start = true;
  std::size_t at = 0;
  while (at < content.size()) {
    if (line_start && content[at] == '.') {
      out.append(content.substr(run, at - run));
      out += '.';
      run = at;
    }
    const std::size_t stop = find_line_break(content, at);
    if (stop == std::string_view::npos) {
      at = content.size();
      line_start = false;
      break;
    }
    if (content[stop] == '\r' && stop + 1 < content.size() && content[stop + 1] == '\n') {
      at = stop + 2;  // CRLF stays
      line_start = true;
      continue;
    }
    // A bare CR or LF becomes CRLF, so it can never end DATA downstream.
    out.append(content.substr(run, stop - run));
    out += "\r\n";
    at = stop + 1;
    run = at;
    line_start = true;
  }
  out.append(content.substr(run, at - run));
  if (!line_start) out += "\r\n";
  out += ".\r\n";
}

ClientSession::ClientSession(ClientConfig config, Instant now) : config_(std::move(config)) {
  if (config_.implicit_tls) {
    enter(State::awaiting_tls);
  } else {
    enter(State::greeting);
    expect(now, Expect::greeting, config_.greeting_timeout);
  }
}

void ClientSession::enter(State state) { state_ = state; }

std::string ClientSession::take_output() {
  content_offset_ = std::string::npos;
  return std::exchange(output_, std::string());
}

std::optional<ClientEvent> ClientSession::poll_event() { return events_.pop(); }

void ClientSession::expect(Instant now, Expect what, Duration timeout, std::size_t index) {
  expected_.push_back({what, index, timeout});
  if (expected_.size() == 1) deadline_ = now + timeout;
}

Stage ClientSession::current_stage() const {
  if (!expected_.empty()) {
    switch (expected_.front().what) {
      case Expect::greeting: return Stage::greeting;
      case Expect::ehlo:
      case Expect::helo: return Stage::ehlo;
      case Expect::starttls: return Stage::starttls;
      case Expect::auth_initial:
      case Expect::auth_user:
      case Expect::auth_password: return Stage::auth;
      case Expect::mail: return Stage::mail;
      case Expect::rcpt: return Stage::rcpt;
      case Expect::data: return Stage::data;
      case Expect::content: return Stage::content;
      case Expect::rset: return result_.stopped_at;
      case Expect::quit: return Stage::quit;
    }
  }
  return state_ == State::tls_handshake || state_ == State::awaiting_tls ? Stage::starttls : Stage::greeting;
}

void ClientSession::receive(Instant now, std::string_view bytes) {
  if (state_ == State::closed || bytes.empty()) return;
  if (state_ == State::tls_handshake || state_ == State::awaiting_tls) {
    events_.push_back(client_event::Violation{"plaintext received while TLS was starting: discarded"});
    return;
  }
  while (!bytes.empty() && state_ != State::closed) {
    const ReplyParser::Status status = parser_.feed(bytes);
    if (status == ReplyParser::Status::incomplete) return;
    if (status == ReplyParser::Status::malformed) {
      abandon(now, "malformed reply: " + parser_.error(), false);
      return;
    }
    const Reply reply = parser_.take();
    if (expected_.empty()) {
      if (reply.code == 421) {  // the server is going away (RFC 5321 §3.8)
        abandon(now, "the server closed the session: " + reply.text(), false);
      } else {
        events_.push_back(client_event::Violation{"unexpected reply: " + reply.text()});
      }
      continue;
    }
    handle(now, reply);
    if (state_ == State::tls_handshake && !bytes.empty()) {
      // Replies after "220 Ready to start TLS" in the same plaintext: an injection (CVE-2011-1575 style).
      events_.push_back(client_event::Violation{"plaintext pipelined after the STARTTLS reply: discarded"});
      return;
    }
  }
}

void ClientSession::handle(Instant now, const Reply& reply) {
  const Expectation expectation = expected_.front();
  expected_.pop_front();
  deadline_ = expected_.empty() ? Instant::max() : now + expected_.front().timeout;
  switch (expectation.what) {
    case Expect::greeting: return after_greeting(now, reply);
    case Expect::ehlo: return after_ehlo(now, reply, true);
    case Expect::helo: return after_ehlo(now, reply, false);
    case Expect::starttls: return after_starttls(now, reply);
    case Expect::auth_initial:
    case Expect::auth_user:
    case Expect::auth_password: return after_auth(now, reply, expectation.what);
    case Expect::mail: return after_mail(now, reply);
    case Expect::rcpt: return after_rcpt(now, reply, expectation.index);
    case Expect::data: return after_data(now, reply);
    case Expect::content: return after_content(now, reply);
    case Expect::rset: return finish_transaction(now);
    case Expect::quit: return close("quit");
  }
}

Capabilities parse_capabilities(const Reply& reply) {
  Capabilities capabilities;
  capabilities.esmtp = true;
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    const std::string_view line = reply.lines[i];
    const std::string_view keyword = line.substr(0, line.find_first_of(" ="));
    const std::string_view argument =
        keyword.size() < line.size() ? line.substr(keyword.size() + 1) : std::string_view();
    const auto is = [keyword](std::string_view name) { return equals_ignoring_case(keyword, name); };
    if (is("PIPELINING")) capabilities.pipelining = true;
    if (is("STARTTLS")) capabilities.starttls = true;
    if (is("8BITMIME")) capabilities.eight_bit_mime = true;
    if (is("DSN")) capabilities.dsn = true;
    if (is("SMTPUTF8")) capabilities.smtputf8 = true;
    if (is("ENHANCEDSTATUSCODES")) capabilities.enhanced_status_codes = true;
    if (is("SIZE")) {
      capabilities.size_max = 0;
      if (!argument.empty() && argument.size() < 19 && argument.find_first_not_of("0123456789") == std::string::npos) {
        capabilities.size_max = std::stoull(std::string(argument));
      }
    }
    if (is("AUTH")) {
      std::string_view rest = argument;
      while (!rest.empty()) {
        const std::size_t space = std::min(rest.find(' '), rest.size());
        if (space > 0) capabilities.auth_mechanisms.push_back(to_upper(rest.substr(0, space)));
        rest.remove_prefix(std::min(space + 1, rest.size()));
      }
    }
  }
  return capabilities;
}

void ClientSession::after_greeting(Instant now, const Reply& reply) {
  greeting_ = reply;
  if (reply.code != 220) {
    return fail_setup(now, Stage::greeting, reply, "the server's greeting was not 220", reply.permanent());
  }
  write("EHLO " + config_.helo_name + "\r\n");
  expect(now, Expect::ehlo, config_.helo_timeout);
  enter(State::ehlo);
}

void ClientSession::after_ehlo(Instant now, const Reply& reply, bool extended) {
  if (extended && reply.permanent()) {
    write("HELO " + config_.helo_name + "\r\n");  // RFC 5321 §3.2: fall back to HELO
    expect(now, Expect::helo, config_.helo_timeout);
    enter(State::helo);
    return;
  }
  if (!reply.positive()) return fail_setup(now, Stage::ehlo, reply, "the server refused EHLO/HELO", reply.permanent());
  capabilities_ = extended ? parse_capabilities(reply) : Capabilities();
  next_setup_step(now);
}

void ClientSession::next_setup_step(Instant now) {
  if (!tls_.active && config_.tls != ClientTls::none && !tls_attempted_) {
    if (capabilities_.starttls) {
      tls_attempted_ = true;
      write("STARTTLS\r\n");
      expect(now, Expect::starttls, config_.helo_timeout);
      enter(State::starttls);
      return;
    }
    if (config_.tls == ClientTls::required) {
      return fail_setup(now, Stage::starttls, std::nullopt, "TLS is required, but was not offered by the server",
                        false);
    }
  }
  if (config_.auth && !authenticated_) return start_auth(now);
  become_ready();
}

void ClientSession::after_starttls(Instant now, const Reply& reply) {
  if (reply.code == 220) {
    enter(State::tls_handshake);
    deadline_ = Instant::max();  // the owner times the handshake
    events_.push_back(client_event::StartTls{});
    return;
  }
  if (config_.tls == ClientTls::required) {
    return fail_setup(now, Stage::starttls, reply, "the server refused STARTTLS and TLS is required", false);
  }
  next_setup_step(now);  // opportunistic: carry on in plaintext
}

void ClientSession::tls_started(Instant now, TlsState tls) {
  if (state_ != State::tls_handshake && state_ != State::awaiting_tls) return;
  tls_ = std::move(tls);
  tls_.active = true;
  tls_attempted_ = true;
  if (state_ == State::awaiting_tls) {
    enter(State::greeting);
    expect(now, Expect::greeting, config_.greeting_timeout);
    return;
  }
  // RFC 3207 §4.2: forget what the server said before TLS and ask again.
  capabilities_ = Capabilities();
  write("EHLO " + config_.helo_name + "\r\n");
  expect(now, Expect::ehlo, config_.helo_timeout);
  enter(State::ehlo);
}

void ClientSession::tls_failed(Instant now, std::string_view reason) {
  (void)now;
  if (state_ != State::tls_handshake && state_ != State::awaiting_tls) return;
  events_.push_back(
      client_event::Failed{Stage::starttls, std::nullopt, "TLS handshake failed: " + std::string(reason), false});
  close("TLS handshake failed");  // the stream is unusable: no QUIT
}

void ClientSession::start_auth(Instant now) {
  const Credentials& credentials = *config_.auth;
  const auto& offered = capabilities_.auth_mechanisms;
  if (std::find(offered.begin(), offered.end(), to_upper(credentials.mechanism)) == offered.end()) {
    return fail_setup(now, Stage::auth, std::nullopt, "the server does not offer AUTH " + credentials.mechanism, false);
  }
  enter(State::auth);
  if (to_upper(credentials.mechanism) == "LOGIN") {
    write("AUTH LOGIN\r\n");
    expect(now, Expect::auth_user, config_.helo_timeout);
    return;
  }
  write("AUTH PLAIN " +
        encode_base64(std::string(1, '\0') + credentials.user + std::string(1, '\0') + credentials.password) + "\r\n");
  expect(now, Expect::auth_initial, config_.helo_timeout);
}

void ClientSession::after_auth(Instant now, const Reply& reply, Expect step) {
  const Credentials& credentials = *config_.auth;
  if (step == Expect::auth_user || step == Expect::auth_password) {
    if (reply.code != 334) return fail_setup(now, Stage::auth, reply, "authentication failed", reply.permanent());
    write(encode_base64(step == Expect::auth_user ? credentials.user : credentials.password) + "\r\n");
    expect(now, step == Expect::auth_user ? Expect::auth_password : Expect::auth_initial, config_.helo_timeout);
    return;
  }
  if (reply.code != 235) return fail_setup(now, Stage::auth, reply, "authentication failed", reply.permanent());
  authenticated_ = true;
  become_ready();
}

void ClientSession::become_ready() {
  enter(State::ready);
  deadline_ = Instant::max();
  events_.push_back(client_event::Ready{});
}

bool ClientSession::send(Instant now, OutgoingMessage message) {
  if (state_ != State::ready) return false;
  RELAYSIM_ASSERT(!message.recipients.empty());
  message_ = std::move(message);
  result_ = TransactionResult();
  result_.stopped_at = Stage::mail;
  for (const Recipient& recipient : message_->recipients) {
    result_.recipients.push_back({recipient.mailbox, Outcome::transient, Stage::rcpt, std::nullopt, "not attempted"});
  }
  accepted_.assign(message_->recipients.size(), false);
  decided_.assign(message_->recipients.size(), false);
  mail_accepted_ = false;
  recipients_accepted_ = 0;
  next_recipient_ = 0;
  content_sent_ = false;
  empty_data_ = false;
  transaction_failed_ = false;
  pipelined_ = config_.use_pipelining && capabilities_.pipelining;
  enter(State::transaction);

  if (capabilities_.size_max && *capabilities_.size_max > 0 && message_->content.size() > *capabilities_.size_max) {
    refuse_unsendable(
        now, Unsendable::too_large,
        Reply::make(552, "5.3.4",
                    "message size exceeds the server's limit of " + std::to_string(*capabilities_.size_max)));
    return true;
  }
  const bool international = needs_smtputf8(*message_);
  if (international && !capabilities_.smtputf8) {
    refuse_unsendable(now, Unsendable::needs_smtputf8,
                      Reply::make(554, "5.6.7", "SMTPUTF8 is required, but was not offered"));
    return true;
  }

  std::string mail = "MAIL FROM:<" + (message_->sender ? message_->sender->to_string() : std::string()) + ">";
  const MailParameters& parameters = message_->parameters;
  if (capabilities_.size_max) mail += " SIZE=" + std::to_string(message_->content.size());
  if (capabilities_.eight_bit_mime && !parameters.body.empty()) mail += " BODY=" + parameters.body;
  if (capabilities_.dsn && !parameters.ret.empty()) mail += " RET=" + parameters.ret;
  if (capabilities_.dsn && !parameters.envid.empty()) mail += " ENVID=" + encode_xtext(parameters.envid);
  if (capabilities_.smtputf8 && (parameters.smtputf8 || international)) mail += " SMTPUTF8";
  write(mail + "\r\n");
  expect(now, Expect::mail, config_.mail_timeout);
  if (pipelined_) {
    for (std::size_t i = 0; i < message_->recipients.size(); ++i) {
      write_rcpt(now, i);
    }
    write("DATA\r\n");
    expect(now, Expect::data, config_.data_init_timeout);
  }
  return true;
}

void ClientSession::write_rcpt(Instant now, std::size_t index) {
  const Recipient& recipient = message_->recipients[index];
  std::string rcpt = "RCPT TO:<" + recipient.mailbox.to_string() + ">";
  if (capabilities_.dsn && recipient.dsn.notify_given) {
    std::string notify;
    const auto add = [&notify](const char* word) { notify += (notify.empty() ? "" : ",") + std::string(word); };
    if (recipient.dsn.notify_never) add("NEVER");
    if (recipient.dsn.notify_success) add("SUCCESS");
    if (recipient.dsn.notify_failure) add("FAILURE");
    if (recipient.dsn.notify_delay) add("DELAY");
    rcpt += " NOTIFY=" + notify;
  }
  if (capabilities_.dsn && !recipient.dsn.orcpt.empty()) {
    rcpt += " ORCPT=" + (recipient.dsn.orcpt_type.empty() ? std::string("rfc822") : recipient.dsn.orcpt_type) + ";" +
            encode_xtext(recipient.dsn.orcpt);
  }
  write(rcpt + "\r\n");
  expect(now, Expect::rcpt, config_.rcpt_timeout, index);
  next_recipient_ = index + 1;
}

// Fails the whole transaction before MAIL FROM: the server cannot take this message.
void ClientSession::refuse_unsendable(Instant now, Unsendable why, const Reply& reply) {
  decide_all(Outcome::permanent, Stage::mail, reply, "not sent", false);
  for (RecipientResult& recipient : result_.recipients) recipient.unsendable = why;
  finish_transaction(now);
}

// Marks every undecided recipient (or only the accepted ones) with one outcome.
void ClientSession::decide_all(Outcome outcome, Stage stage, const std::optional<Reply>& reply, std::string detail,
                               bool only_accepted) {
  for (std::size_t i = 0; i < result_.recipients.size(); ++i) {
    if (decided_[i] || (only_accepted && !accepted_[i])) continue;
    decided_[i] = true;
    result_.recipients[i].outcome = outcome;
    result_.recipients[i].stage = stage;
    result_.recipients[i].reply = reply;
    result_.recipients[i].detail = detail;
  }
}

void ClientSession::after_mail(Instant now, const Reply& reply) {
  if (reply.positive()) {
    mail_accepted_ = true;
    if (!pipelined_) write_rcpt(now, 0);
    return;
  }
  // Postfix: 4xx or 5xx at MAIL concerns the whole message.
  transaction_failed_ = true;
  decide_all(reply.transient() ? Outcome::transient : Outcome::permanent, Stage::mail, reply, {}, false);
  if (!pipelined_) {
    write("RSET\r\n");
    expect(now, Expect::rset, config_.mail_timeout);
  }
}

void ClientSession::after_rcpt(Instant now, const Reply& reply, std::size_t index) {
  result_.stopped_at = Stage::rcpt;
  if (!transaction_failed_ && !decided_[index]) {
    result_.recipients[index].reply = reply;
    result_.recipients[index].stage = Stage::rcpt;
    result_.recipients[index].detail.clear();
    if (reply.positive()) {
      accepted_[index] = true;
      recipients_accepted_ += 1;
    } else {
      decided_[index] = true;
      result_.recipients[index].outcome = reply.transient() ? Outcome::transient : Outcome::permanent;
    }
  }
  if (pipelined_) return;
  if (next_recipient_ < message_->recipients.size()) return write_rcpt(now, next_recipient_);
  if (recipients_accepted_ > 0) {
    write("DATA\r\n");
    expect(now, Expect::data, config_.data_init_timeout);
  } else {
    write("RSET\r\n");
    expect(now, Expect::rset, config_.mail_timeout);
  }
}

void ClientSession::after_data(Instant now, const Reply& reply) {
  result_.stopped_at = Stage::data;
  if (reply.code == 354) {
    if (transaction_failed_ || recipients_accepted_ == 0) {
      // Pipelined DATA after every recipient failed: end the empty message, ignore its reply.
      empty_data_ = true;
      write(".\r\n");
    } else {
      content_offset_ = output_.size();
      if (config_.line_length_limit > 0 && longest_line(message_->content) > config_.line_length_limit) {
        append_dot_stuffed(output_, fold_long_lines(message_->content, config_.line_length_limit));
      } else {
        append_dot_stuffed(output_, message_->content);  // straight into the output: no copy between
      }
      content_sent_ = true;
      result_.stopped_at = Stage::content;
    }
    expect(now, Expect::content, config_.data_done_timeout);
    return;
  }
  if (!transaction_failed_) {
    decide_all(reply.transient() ? Outcome::transient : Outcome::permanent, Stage::data, reply, {}, true);
    transaction_failed_ = true;
  }
  write("RSET\r\n");
  expect(now, Expect::rset, config_.mail_timeout);
}

void ClientSession::after_content(Instant now, const Reply& reply) {
  if (!empty_data_) {
    const Outcome outcome = reply.positive()    ? Outcome::delivered
                            : reply.transient() ? Outcome::transient
                                                : Outcome::permanent;
    decide_all(outcome, Stage::content, reply, {}, true);
  }
  content_sent_ = false;
  finish_transaction(now);
}

void ClientSession::finish_transaction(Instant now) {
  (void)now;
  // Anything still undecided (accepted at RCPT but the message never went) stays transient.
  decide_all(Outcome::transient, result_.stopped_at, std::nullopt, "the message was not sent", false);
  events_.push_back(client_event::Finished{std::move(result_)});
  result_ = TransactionResult();
  message_.reset();
  become_ready();
}

void ClientSession::fail_setup(Instant now, Stage stage, std::optional<Reply> reply, std::string reason,
                               bool permanent) {
  events_.push_back(client_event::Failed{stage, std::move(reply), std::move(reason), permanent});
  quit(now);
}

void ClientSession::quit(Instant now) {
  if (state_ == State::closed || state_ == State::quitting) return;
  if (state_ == State::tls_handshake || state_ == State::awaiting_tls) return close("quit during TLS set-up");
  expected_.clear();
  write("QUIT\r\n");
  expect(now, Expect::quit, config_.quit_timeout);
  enter(State::quitting);
}

void ClientSession::abandon(Instant now, std::string reason, bool timed_out) {
  (void)timed_out;
  const Stage stage = current_stage();
  if (state_ == State::transaction && message_) {
    if (content_sent_) {
      // The final dot went out; the reply never came. The server may have the message.
      result_.possible_duplicate = true;
      decide_all(Outcome::transient, Stage::content, std::nullopt,
                 reason + " after the end of data: possible duplicate", true);
    }
    decide_all(Outcome::transient, stage, std::nullopt, reason, false);
    events_.push_back(client_event::Finished{std::move(result_)});
    result_ = TransactionResult();
    message_.reset();
  } else if (state_ != State::ready && state_ != State::quitting) {
    events_.push_back(client_event::Failed{stage, std::nullopt, reason, false});
  }
  (void)now;
  close(reason);
}

void ClientSession::on_deadline(Instant now) {
  if (state_ == State::closed || expected_.empty() || now < deadline_) return;
  abandon(now, "timed out waiting for the " + std::string(to_string(current_stage())) + " reply", true);
}

void ClientSession::connection_lost(Instant now, std::string_view reason) {
  if (state_ == State::closed) return;
  if (state_ == State::quitting) return close("closed after QUIT");
  abandon(now, "connection lost (" + std::string(reason) + ")", false);
}

void ClientSession::close(std::string reason) {
  if (state_ == State::closed) return;
  enter(State::closed);
  expected_.clear();
  deadline_ = Instant::max();
  events_.push_back(client_event::Closed{std::move(reason)});
}

}  // namespace relaysim::smtp
