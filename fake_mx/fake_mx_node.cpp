#include "fake_mx/fake_mx_node.hpp"

#include <algorithm>
#include <cstdio>

#include "fake_mx/events.hpp"
#include "io/assert.hpp"
#include "io/text.hpp"
#include "mailauth/dmarc.hpp"
#include "smtp/dsn.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::fake_mx {
namespace {

constexpr int bounce_attempts_max = 5;
constexpr Duration bounce_retry_delay = std::chrono::minutes(5);

std::string address_of(const std::optional<smtp::Mailbox>& mailbox) {
  return mailbox ? to_lower(mailbox->to_string()) : std::string("<>");
}

// Postfix puts the recipient in front of a recipient rejection: "<ann@dest.example>: ...".
smtp::Reply for_recipient(smtp::Reply reply, const std::string& recipient) {
  if (!reply.lines.empty()) reply.lines.front() = "<" + recipient + ">: " + reply.lines.front();
  return reply;
}

}  // namespace

std::string_view to_string(Authentication::Action action) {
  switch (action) {
    case Authentication::Action::inbox: return "inbox";
    case Authentication::Action::spam: return "spam";
    case Authentication::Action::reject: return "reject";
  }
  return "inbox";
}

std::string_view to_string(Stage stage) {
  switch (stage) {
    case Stage::connect: return "connect";
    case Stage::ehlo: return "EHLO";
    case Stage::starttls: return "STARTTLS";
    case Stage::data: return "DATA";
    case Stage::mail: return "MAIL";
    case Stage::rcpt: return "RCPT";
    case Stage::end_of_data: return "end of data";
  }
  return "?";
}

void MailStore::add(StoredMessage message) {
  const std::uint64_t position = first_position_ + messages_.size();
  for (const smtp::Recipient& recipient : message.recipients) {
    std::deque<std::uint64_t>& positions = by_mailbox_[to_lower(recipient.mailbox.to_string())];
    if (positions.empty() || positions.back() != position) positions.push_back(position);  // once per message
  }
  messages_.push_back(std::move(message));
  while (max_messages_ > 0 && messages_.size() > max_messages_) drop_oldest();
}

void MailStore::drop_oldest() {
  for (const smtp::Recipient& recipient : messages_.front().recipients) {
    const auto found = by_mailbox_.find(to_lower(recipient.mailbox.to_string()));
    if (found == by_mailbox_.end()) continue;
    std::deque<std::uint64_t>& positions = found->second;
    if (!positions.empty() && positions.front() == first_position_) positions.pop_front();
    if (positions.empty()) by_mailbox_.erase(found);
  }
  messages_.pop_front();
  first_position_ += 1;
  dropped_ += 1;
}

bool MailStore::remove(std::uint64_t number) {
  const auto found = std::find_if(messages_.begin(), messages_.end(),
                                  [&](const StoredMessage& message) { return message.number == number; });
  if (found == messages_.end()) return false;
  messages_.erase(found);
  by_mailbox_.clear();  // positions after it moved: index again
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    for (const smtp::Recipient& recipient : messages_[i].recipients) {
      std::deque<std::uint64_t>& positions = by_mailbox_[to_lower(recipient.mailbox.to_string())];
      if (positions.empty() || positions.back() != first_position_ + i) positions.push_back(first_position_ + i);
    }
  }
  return true;
}

void MailStore::clear() {
  messages_.clear();
  by_mailbox_.clear();
  first_position_ = 0;
}

std::vector<const StoredMessage*> MailStore::mailbox(std::string_view address) const {
  std::vector<const StoredMessage*> out;
  const auto found = by_mailbox_.find(to_lower(address));
  if (found == by_mailbox_.end()) return out;
  for (const std::uint64_t position : found->second) out.push_back(&messages_[position - first_position_]);
  return out;
}

std::size_t MailStore::count(std::string_view address) const {
  const auto found = by_mailbox_.find(to_lower(address));
  return found == by_mailbox_.end() ? 0 : found->second.size();
}

FakeMxNode::FakeMxNode(io::Io& io, Behaviour behaviour, const tls::Context* tls, MailStore& store)
    : io_(io),
      behaviour_(std::move(behaviour)),
      tls_(tls),
      store_(store),
      random_(io.random_stream("fake-mx-rules")),
      greylist_(behaviour_.greylisting),
      matched_(behaviour_.rules.size(), 0),
      applied_(behaviour_.rules.size(), 0) {}

FakeMxNode::~FakeMxNode() { *alive_ = false; }

void FakeMxNode::start() {
  auto listener = io_.listen({behaviour_.address, behaviour_.port},
                             [this](std::unique_ptr<io::Connection> connection) { accept(std::move(connection)); });
  if (!listener) {
    io_.observe(io::LogLine{"fatal: cannot listen on port " + std::to_string(behaviour_.port) + ": " +
                            listener.error().detail});
    return;
  }
  listener_ = std::move(listener).value();
}

std::optional<io::Endpoint> FakeMxNode::listening() const {
  if (!listener_) return std::nullopt;
  return listener_->local_endpoint();
}

void FakeMxNode::set_behaviour(Behaviour behaviour) {
  const bool same_greylisting = behaviour.greylisting == behaviour_.greylisting;
  behaviour.address = behaviour_.address;
  behaviour.port = behaviour_.port;
  behaviour_ = std::move(behaviour);
  if (!same_greylisting) greylist_ = Greylist(behaviour_.greylisting);
  matched_.assign(behaviour_.rules.size(), 0);
  applied_.assign(behaviour_.rules.size(), 0);
  io_.observe(io::LogLine{"behaviour changed: " + std::to_string(behaviour_.rules.size()) + " rules"});
}

std::string FakeMxNode::status() const {
  return counted(messages_seen_, "message") + " seen, " + counted(sessions_.size(), "session");
}

bool FakeMxNode::matches(const Match& match, const Context& context) const {
  if (match.client && !match.client->contains(context.client.address)) return false;
  if (match.tls && *match.tls != context.tls) return false;
  if (!match.sender.empty() && to_lower(match.sender) != context.sender) return false;
  if (match.message_from > 0 && context.number < match.message_from) return false;
  if (match.message_to > 0 && context.number > match.message_to) return false;
  const Instant now = io_.now();
  if (match.from && now < *match.from) return false;
  if (match.until && now >= *match.until) return false;
  if (!match.recipient.empty() || !match.recipient_domain.empty()) {
    const bool any =
        std::any_of(context.recipients.begin(), context.recipients.end(), [&](const std::string& recipient) {
          if (!match.recipient.empty() && recipient != match.recipient) return false;
          const std::size_t at = recipient.rfind('@');
          const std::string domain = at == std::string::npos ? std::string() : recipient.substr(at + 1);
          return match.recipient_domain.empty() || smtp::domain_matches(match.recipient_domain, domain);
        });
    if (!any) return false;
  }
  return true;
}

const Rule* FakeMxNode::rule_for(const Context& context) {
  for (std::size_t i = 0; i < behaviour_.rules.size(); ++i) {
    const Rule& rule = behaviour_.rules[i];
    if (rule.stage != context.stage || !matches(rule.match, context)) continue;
    matched_[i] += 1;
    if (rule.every > 1 && matched_[i] % rule.every != 0) continue;
    if (rule.times > 0 && applied_[i] >= rule.times) continue;
    // Drawn only for rules with a probability, so adding a certain rule shifts no other draw.
    if (rule.probability_per_mille < 1000 &&
        !random_.chance(static_cast<std::uint64_t>(rule.probability_per_mille), 1000))
      continue;
    applied_[i] += 1;
    io_.trace("mx.rule", {{"rule", rule.name.empty() ? "#" + std::to_string(i + 1) : rule.name},
                          {"stage", to_string(rule.stage)},
                          {"client", context.client.address.to_string()},
                          {"action", rule.action == Action::reply   ? "reply"
                                     : rule.action == Action::drop  ? "drop"
                                     : rule.action == Action::delay ? "delay"
                                                                    : "bounce later"},
                          {"reply", rule.action == Action::reply ? rule.reply.text() : std::string()}});
    return &rule;
  }
  return nullptr;
}

void FakeMxNode::accept(std::unique_ptr<io::Connection> connection) {
  const io::Endpoint client = connection->peer_endpoint();
  const Limits& limits = behaviour_.limits;
  if (limits.connections_per_client > 0 && sessions_per_client_[client.address] >= limits.connections_per_client) {
    io_.trace("mx.refused", {{"client", client.address.to_string()}, {"why", "too many connections"}});
    (void)connection->send(limits.too_many_connections.wire());
    connection->close();
    return;
  }
  Context context{Stage::connect, client, false, "", {}, messages_seen_ + 1};
  const Rule* rule = rule_for(context);
  if (rule == nullptr) return open_session(std::move(connection));
  switch (rule->action) {
    case Action::reply:
      if (rule->reply.positive()) return open_session(std::move(connection));
      (void)connection->send(rule->reply.wire());  // instead of the greeting; then the session ends
      connection->close();
      return;
    case Action::drop: connection->abort(); return;
    case Action::bounce_later: return open_session(std::move(connection));
    case Action::delay: {
      // A slow greeting: the connection waits, then the session starts.
      auto held = std::make_shared<std::unique_ptr<io::Connection>>(std::move(connection));
      const std::uint64_t key = (*held)->id();
      sessions_[key].delayed = io_.at(io_.now() + rule->delay, [this, held, key] {
        sessions_.erase(key);
        open_session(std::move(*held));
      });
      return;
    }
  }
}

void FakeMxNode::open_session(std::unique_ptr<io::Connection> connection) {
  smtp::ServerConfig config;
  config.hostname = behaviour_.hostname;
  config.starttls = behaviour_.starttls && tls_ != nullptr;
  config.smtputf8 = behaviour_.smtputf8;
  config.bare_line_endings = behaviour_.bare_line_endings;
  config.recipients_max = 1000;
  // The engine asks before EHLO, STARTTLS and DATA only when a rule needs it.
  config.ask_at_commands = std::any_of(behaviour_.rules.begin(), behaviour_.rules.end(), [](const Rule& rule) {
    return rule.stage == Stage::ehlo || rule.stage == Stage::starttls || rule.stage == Stage::data;
  });
  const std::uint64_t id = connection->id();
  Session& session = sessions_[id];
  session.client = connection->peer_endpoint();
  sessions_per_client_[session.client.address] += 1;
  session.connection = std::make_unique<endpoint::ServerConnection>(
      io_, std::move(connection), config, tls_,
      [this, id](endpoint::ServerConnection&, smtp::ServerEvent& event) { on_event(id, event); });
}

void FakeMxNode::on_event(std::uint64_t id, smtp::ServerEvent& event) {
  const auto found = sessions_.find(id);
  if (found == sessions_.end()) return;
  Session& session = found->second;
  if (const auto* mail = std::get_if<smtp::server_event::Mail>(&event)) return on_mail(id, session, *mail);
  if (const auto* rcpt = std::get_if<smtp::server_event::Rcpt>(&event)) return on_rcpt(id, session, *rcpt);
  if (auto* message = std::get_if<smtp::server_event::Message>(&event)) return on_message(id, session, *message);
  if (const auto* command = std::get_if<smtp::server_event::Command>(&event)) {
    const Stage stage = command->verb == "DATA"       ? Stage::data
                        : command->verb == "STARTTLS" ? Stage::starttls
                                                      : Stage::ehlo;
    const Context context{stage, session.client,    session.connection->session().tls().active, session.sender,
                          {},    messages_seen_ + 1};
    return answer(id, session, rule_for(context), smtp::Verdict::accept());
  }
  if (std::holds_alternative<smtp::server_event::Auth>(event)) {
    return session.connection->decide(
        smtp::Verdict::reject(smtp::Reply::make(502, "5.5.1", "Error: authentication not enabled")));
  }
  if (std::holds_alternative<smtp::server_event::Closed>(event)) {
    if (--sessions_per_client_[session.client.address] <= 0) sessions_per_client_.erase(session.client.address);
    verifications_.erase(id);  // a message whose checks were running is not kept: it was never answered
    sessions_.erase(found);    // allowed from inside the Closed event
  }
}

void FakeMxNode::on_mail(std::uint64_t id, Session& session, const smtp::server_event::Mail& mail) {
  const Limits& limits = behaviour_.limits;
  const Instant now = io_.now();
  if (limits.messages_per_connection > 0 && session.transactions >= limits.messages_per_connection) {
    io_.trace("mx.refused", {{"client", session.client.address.to_string()}, {"why", "messages per connection"}});
    return session.connection->terminate(limits.rate_limited, "messages per connection");
  }
  if (limits.messages_per_client > 0) {
    std::vector<Instant>& recent = transactions_per_client_[session.client.address];
    std::erase_if(recent, [&](Instant when) { return when + limits.window <= now; });
    if (static_cast<int>(recent.size()) >= limits.messages_per_client) {
      io_.trace("mx.refused", {{"client", session.client.address.to_string()}, {"why", "messages per client"}});
      return session.connection->terminate(limits.rate_limited, "messages per client");
    }
    recent.push_back(now);
  }
  session.transactions += 1;
  session.sender = address_of(mail.sender);
  const Context context{Stage::mail, session.client,    session.connection->session().tls().active, session.sender,
                        {},          messages_seen_ + 1};
  answer(id, session, rule_for(context), smtp::Verdict::accept());
}

void FakeMxNode::on_rcpt(std::uint64_t id, Session& session, const smtp::server_event::Rcpt& rcpt) {
  const std::string recipient = to_lower(rcpt.recipient.mailbox.to_string());
  const Context context{Stage::rcpt,    session.client, session.connection->session().tls().active,
                        session.sender, {recipient},    messages_seen_ + 1};
  if (const Rule* rule = rule_for(context)) return answer(id, session, rule, smtp::Verdict::accept());
  const Mailboxes& mailboxes = behaviour_.mailboxes;
  if (!mailboxes.users.empty() &&
      std::find(mailboxes.users.begin(), mailboxes.users.end(), recipient) == mailboxes.users.end()) {
    return session.connection->decide(smtp::Verdict::reject(
        mailboxes.name_recipient ? for_recipient(mailboxes.unknown_user, recipient) : mailboxes.unknown_user));
  }
  if (mailboxes.quota_messages > 0 && store_.count(recipient) >= mailboxes.quota_messages) {
    return session.connection->decide(smtp::Verdict::reject(
        mailboxes.name_recipient ? for_recipient(mailboxes.over_quota, recipient) : mailboxes.over_quota));
  }
  if (behaviour_.greylisting.enabled) {
    const std::string sender = session.sender == "<>" ? std::string() : session.sender;
    const GreylistVerdict verdict = greylist_.check(io_.now(), session.client.address, sender, recipient);
    io_.observe(events::Greylisted{
        .client = session.client.address, .sender = session.sender, .rcpt = recipient, .verdict = verdict});
    if (!accepted(verdict)) {
      return session.connection->decide(smtp::Verdict::reject(for_recipient(behaviour_.greylisting.reply, recipient)));
    }
  }
  session.connection->decide(smtp::Verdict::accept());
}

void FakeMxNode::on_message(std::uint64_t id, Session& session, smtp::server_event::Message& message) {
  const std::uint64_t number = ++messages_seen_;
  Context context{
      Stage::end_of_data, session.client, session.connection->session().tls().active, session.sender, {}, number};
  for (const smtp::Recipient& recipient : message.envelope.recipients) {
    context.recipients.push_back(to_lower(recipient.mailbox.to_string()));
  }
  const Rule* rule = rule_for(context);
  if (rule != nullptr && rule->action == Action::bounce_later) {
    schedule_bounce(message, *rule, number);
    return respond(id, session, smtp::Verdict::accept_with(smtp::Reply::make(250, "2.0.0", "Ok: queued")), Duration(0));
  }
  const bool refused = rule != nullptr && rule->action == Action::reply && !rule->reply.positive();
  const bool dropped = rule != nullptr && rule->action == Action::drop;
  Arrival arrival{number,       std::move(message.envelope),          std::move(message.content),
                  std::nullopt, message.normalized_bare_line_endings, message.long_lines};
  if (rule != nullptr) arrival.rule = static_cast<std::size_t>(rule - behaviour_.rules.data());
  if (refused || dropped || !behaviour_.authentication.enabled)
    return keep(id, session, std::move(arrival), "inbox", "");
  Verification& verification = verifications_[id];
  verification = Verification{};
  verification.arrival = std::move(arrival);
  verification.sample = static_cast<std::uint32_t>(random_.below(100));
  verify(id);
}

void FakeMxNode::keep(std::uint64_t id, Session& session, Arrival arrival, const std::string& folder,
                      const std::string& header) {
  const Rule* rule =
      arrival.rule && *arrival.rule < behaviour_.rules.size() ? &behaviour_.rules[*arrival.rule] : nullptr;
  const bool refused = rule != nullptr && rule->action == Action::reply && !rule->reply.positive();
  const bool dropped = rule != nullptr && rule->action == Action::drop;
  const std::uint64_t number = arrival.number;
  char queue_id[32];
  std::snprintf(queue_id, sizeof queue_id, "%08llX", static_cast<unsigned long long>(number));
  if (!refused && !(dropped && rule->drop_before_storing)) {
    // A drop after the final dot still keeps the message: the classic cause of duplicates.
    StoredMessage stored;
    stored.number = number;
    stored.received = io_.now();
    stored.mx = std::string(io_.node_name());
    stored.client = session.client;
    stored.helo = session.connection->session().helo_name();
    stored.sender = arrival.envelope.sender ? arrival.envelope.sender->to_string() : std::string();
    stored.parameters = std::move(arrival.envelope.parameters);
    stored.recipients = std::move(arrival.envelope.recipients);
    stored.content = header.empty() ? std::move(arrival.content) : header + arrival.content;
    stored.tls = session.connection->session().tls();
    stored.transcript = session.connection->take_transcript();
    stored.folder = folder;
    stored.authentication_results = header;
    stored.bare_line_endings = arrival.bare_line_endings;
    stored.long_lines = arrival.long_lines;
    io_.observe(events::MessageStored{.number = number,
                                      .from = stored.sender,
                                      .recipients = stored.recipients.size(),
                                      .bytes = stored.content.size(),
                                      .tls = stored.tls.active,
                                      .dropped_reply = dropped,
                                      .folder = folder});
    store_.add(std::move(stored));
  }
  answer(id, session, rule,
         smtp::Verdict::accept_with(smtp::Reply::make(250, "2.0.0", std::string("Ok: queued as ") + queue_id)));
}

void FakeMxNode::verify(std::uint64_t id) {
  const auto found = verifications_.find(id);
  const auto session = sessions_.find(id);
  if (found == verifications_.end() || session == sessions_.end() || !session->second.connection) return;
  Verification& verification = found->second;
  const Authentication& settings = behaviour_.authentication;
  const Arrival& arrival = verification.arrival;
  const std::string authserv_id = settings.authserv_id.empty() ? behaviour_.hostname : settings.authserv_id;
  const std::string helo = session->second.connection->session().helo_name();
  const std::string sender = arrival.envelope.sender ? arrival.envelope.sender->to_string() : std::string();
  const mailauth::SpfRequest request{session->second.client.address, sender, helo, authserv_id, io_.now()};
  mailauth::SpfOutcome spf;
  std::vector<mailauth::DkimSignatureCheck> dkim;
  mailauth::DmarcOutcome dmarc;
  std::string from;
  try {
    spf = mailauth::check_spf(request, verification.lookups);
    dkim = mailauth::verify_dkim(arrival.content, verification.lookups, io_.now());
    from = mailauth::from_domain(mailauth::parse_message(arrival.content));
    dmarc = mailauth::check_dmarc({from, spf.result, spf.domain, dkim, verification.sample}, verification.lookups);
  } catch (const mailauth::NeedsAnswer& question) {
    verification.query = io_.resolve(question.name, question.type, [this, id, question](const io::DnsAnswer& answer) {
      const auto waiting = verifications_.find(id);
      if (waiting == verifications_.end()) return;
      waiting->second.lookups.add(question.name, question.type, answer);
      verify(id);
    });
    return;
  }
  using Verdict = Authentication::Action;
  Verdict action = Verdict::inbox;
  std::string why = "authenticated or no policy";
  if (dmarc.result == mailauth::DmarcResult::fail && dmarc.disposition == mailauth::DmarcPolicy::reject) {
    action = settings.dmarc_reject;
    why = "DMARC fail, p=reject: " + dmarc.reason;
  } else if (dmarc.result == mailauth::DmarcResult::fail && dmarc.disposition == mailauth::DmarcPolicy::quarantine) {
    action = settings.dmarc_quarantine;
    why = "DMARC fail, p=quarantine: " + dmarc.reason;
  } else if (spf.result == mailauth::SpfResult::fail && dmarc.result != mailauth::DmarcResult::pass) {
    action = settings.spf_fail;
    why = "SPF fail: " + spf.reason;
  }
  std::string dkim_summary;
  for (const auto& signature : dkim) {
    dkim_summary +=
        (dkim_summary.empty() ? "" : ",") + std::string(mailauth::to_string(signature.result)) + ":" + signature.domain;
  }
  io_.trace("mx.auth", {{"number", arrival.number},
                        {"spf", mailauth::to_string(spf.result)},
                        {"spf_domain", spf.domain},
                        {"dkim", dkim_summary.empty() ? std::string("none") : dkim_summary},
                        {"dmarc", mailauth::to_string(dmarc.result)},
                        {"policy", mailauth::to_string(dmarc.policy)},
                        {"disposition", mailauth::to_string(dmarc.disposition)},
                        {"action", to_string(action)},
                        {"why", why}});
  Verification finished = std::move(found->second);
  verifications_.erase(found);
  Session& open = session->second;
  if (action == Verdict::reject) {
    smtp::Reply reply = why.starts_with("SPF") ? settings.spf_reply : settings.dmarc_reply;
    for (std::string& line : reply.lines) {
      for (std::size_t at = line.find("{domain}"); at != std::string::npos; at = line.find("{domain}", at))
        line.replace(at, 8, from);
    }
    return respond(id, open, smtp::Verdict::reject(reply), Duration(0));
  }
  const std::string header =
      mailauth::authentication_results(authserv_id, spf, sender.empty() ? helo : sender, dkim, dmarc, from);
  keep(id, open, std::move(finished.arrival), action == Verdict::spam ? "spam" : "inbox", header);
}

void FakeMxNode::answer(std::uint64_t id, Session& session, const Rule* rule, smtp::Verdict otherwise) {
  if (rule == nullptr) return respond(id, session, std::move(otherwise), Duration(0));
  switch (rule->action) {
    case Action::reply:
      return respond(
          id, session,
          rule->reply.positive() ? smtp::Verdict::accept_with(rule->reply) : smtp::Verdict::reject(rule->reply),
          Duration(0));
    case Action::drop: return session.connection->abort("dropped by rule " + rule->name);
    case Action::delay: return respond(id, session, std::move(otherwise), rule->delay);
    case Action::bounce_later:  // only at end of data, handled there; elsewhere it accepts
      return respond(id, session, std::move(otherwise), Duration(0));
  }
}

void FakeMxNode::respond(std::uint64_t id, Session& session, smtp::Verdict verdict, Duration delay) {
  if (delay.count() <= 0) return session.connection->decide(std::move(verdict));
  session.delayed = io_.at(io_.now() + delay, [this, id, verdict = std::move(verdict)]() mutable {
    const auto found = sessions_.find(id);
    if (found != sessions_.end() && found->second.connection) found->second.connection->decide(std::move(verdict));
  });
}

void FakeMxNode::schedule_bounce(const smtp::server_event::Message& message, const Rule& rule, std::uint64_t number) {
  if (!message.envelope.sender) {
    io_.observe(
        events::LateBounceSkipped{{.scheduled = false, .number = number, .recipients = message.envelope.recipients}});
    return;
  }
  const std::uint64_t id = next_bounce_++;
  Bounce& bounce = bounces_[id];
  bounce.mailbox = *message.envelope.sender;
  bounce.to = bounce.mailbox.to_string();
  const Instant now = io_.now();
  char message_id[64];
  std::snprintf(message_id, sizeof message_id, "bounce-%llu-%llu@", static_cast<unsigned long long>(number),
                static_cast<unsigned long long>(id));
  if (rule.bounce.rfc3464) {
    smtp::DsnMessage dsn;
    dsn.report.reporting_mta = behaviour_.hostname;
    dsn.report.queue_id = std::to_string(number);
    dsn.report.envelope_id = message.envelope.parameters.envid;
    dsn.report.arrival_date = format_rfc5322(now);
    for (const smtp::Recipient& recipient : message.envelope.recipients) {
      smtp::DsnRecipient entry;
      entry.final_recipient = recipient.mailbox.to_string();
      entry.original_recipient = recipient.dsn.orcpt;
      entry.action = smtp::DsnAction::failed;
      entry.status = rule.bounce.status;
      entry.diagnostic = rule.bounce.diagnostic;
      entry.last_attempt_date = format_rfc5322(now + rule.bounce.after);
      dsn.report.recipients.push_back(std::move(entry));
    }
    dsn.to = bounce.to;
    dsn.date = now + rule.bounce.after;
    dsn.message_id = message_id + behaviour_.hostname;
    dsn.original = message.content;
    dsn.headers_only = true;
    bounce.content = smtp::compose_dsn(dsn);
  } else {
    // What a receiver that predates RFC 3464 sends: readable, not machine-parseable.
    std::string listed;
    for (const smtp::Recipient& recipient : message.envelope.recipients)
      listed += "  " + recipient.mailbox.to_string() + "\r\n";
    bounce.content =
        "From: Mail Delivery Subsystem <MAILER-DAEMON@" + behaviour_.hostname + ">\r\nTo: <" + bounce.to +
        ">\r\nSubject: Returned mail: see transcript for details\r\nDate: " + format_rfc5322(now + rule.bounce.after) +
        "\r\nMessage-ID: <" + message_id + behaviour_.hostname + ">\r\nAuto-Submitted: auto-replied\r\n\r\n" +
        "The original message was received at " + format_rfc5322(now) + "\r\n\r\n" +
        "   ----- The following addresses had permanent fatal errors -----\r\n" + listed + "\r\n" +
        "   ----- Transcript of session follows -----\r\n" + rule.bounce.diagnostic + "\r\n\r\n" +
        "   ----- Original message headers follow -----\r\n" + std::string(smtp::header_section(message.content));
  }
  io_.observe(events::LateBounceScheduled{{.scheduled = true,
                                           .number = number,
                                           .recipients = message.envelope.recipients,
                                           .to = bounce.to,
                                           .at = now + rule.bounce.after,
                                           .status = rule.bounce.status}});
  bounce.step = io_.at(now + rule.bounce.after, [this, id] { send_bounce(id); });
}

void FakeMxNode::send_bounce(std::uint64_t id) {
  Bounce& bounce = bounces_.at(id);
  bounce.attempts += 1;
  const std::string domain = bounce.to.substr(bounce.to.rfind('@') + 1);
  bounce.step = io_.resolve(domain, io::DnsType::mx, [this, id, domain](const io::DnsAnswer& answer) {
    if (answer.temporary_failure()) return bounce_failed(id, "MX lookup for " + domain + " failed");
    if (answer.status == io::DnsStatus::nxdomain) return bounce_failed(id, "no such domain " + domain);
    std::vector<io::MxRecord> records = answer.mx;
    std::stable_sort(records.begin(), records.end(),
                     [](const auto& a, const auto& b) { return a.preference < b.preference; });
    const std::string host = records.empty() ? domain : records.front().exchange;  // implicit MX without MX records
    bounce_to_host(id, host);
  });
}

void FakeMxNode::bounce_to_host(std::uint64_t id, const std::string& host) {
  Bounce& bounce = bounces_.at(id);
  bounce.host = host;
  bounce.step = io_.resolve(host, io::DnsType::a, [this, id, host](const io::DnsAnswer& answer) {
    if (answer.addresses.empty()) return bounce_failed(id, "no address for " + host);
    Bounce& current = bounces_.at(id);
    smtp::ClientConfig config;
    config.helo_name = behaviour_.hostname;
    config.tls = smtp::ClientTls::none;
    current.connection = std::make_unique<endpoint::ClientConnection>(
        io_, io::Endpoint{answer.addresses.front(), 25}, host, config, nullptr, io::ConnectOptions{},
        [this, id](endpoint::ClientConnection& connection, const smtp::ClientEvent& event) {
          Bounce& active = bounces_.at(id);
          if (std::holds_alternative<smtp::client_event::Ready>(event)) {
            if (active.sent) return connection.quit();
            smtp::OutgoingMessage out;
            out.recipients.push_back({active.mailbox, {}});
            out.content = active.content;
            active.sent = connection.send(std::move(out));
            if (!active.sent) connection.quit();
            return;
          }
          if (const auto* finished = std::get_if<smtp::client_event::Finished>(&event)) {
            const auto& result = finished->result.recipients.front();
            active.delivered = result.outcome == smtp::Outcome::delivered;
            if (active.delivered) {
              io_.observe(events::LateBounceSent{.to = active.to, .host = active.host, .attempts = active.attempts});
            } else {
              io_.trace("mx.bounce_refused",
                        {{"to", active.to}, {"reply", result.reply ? result.reply->text() : result.detail}});
            }
            return;
          }
          if (std::holds_alternative<smtp::client_event::Closed>(event)) {
            active.finished = std::move(active.connection);
            active.sent = false;
            if (active.delivered) {
              active.step = io_.at(io_.now(), [this, id] { bounces_.erase(id); });
              return;
            }
            bounce_failed(id, "not accepted by " + active.host);
          }
        });
  });
}

void FakeMxNode::bounce_failed(std::uint64_t id, const std::string& why) {
  Bounce& bounce = bounces_.at(id);
  if (bounce.attempts >= bounce_attempts_max) {
    io_.trace("mx.bounce_dropped", {{"to", bounce.to}, {"why", why}, {"attempts", bounce.attempts}});
    bounce.step = io_.at(io_.now(), [this, id] { bounces_.erase(id); });
    return;
  }
  io_.trace("mx.bounce_deferred", {{"to", bounce.to}, {"why", why}, {"attempts", bounce.attempts}});
  bounce.step = io_.at(io_.now() + bounce_retry_delay, [this, id] { send_bounce(id); });
}

}  // namespace relaysim::fake_mx
