#include "relay/inbound.hpp"

#include "io/assert.hpp"
#include "io/text.hpp"
#include "mailauth/message.hpp"
#include "relay/broken_variant.hpp"
#include "relay/password.hpp"

namespace relaysim::relay {
namespace {

// The key under which verified passwords are kept: drawn at start, gone with the process.
VerifiedPasswords::Key auth_cache_key(io::Io& io) {
  io::Random random = io.random_stream("auth-cache");
  return {random.next(), random.next(), random.next(), random.next()};
}

// The "all sessions in use" warning at most this often, as a burst fills the last session many times.
constexpr Duration limit_warning_interval = std::chrono::minutes(1);

std::string bracketed(const std::optional<smtp::Mailbox>& mailbox) {
  return "<" + (mailbox ? mailbox->to_string() : std::string()) + ">";
}

// How Postfix names a client in its logs: "unknown[13.108.0.1]" without reverse DNS.
std::string client_name(const io::Endpoint& client) { return "unknown[" + client.address.to_string() + "]"; }

smtp::Verdict refuse(int code, std::string_view enhanced, std::string text) {
  return smtp::Verdict::reject(smtp::Reply::make(code, enhanced, text));
}

}  // namespace

int count_received_headers(std::string_view content) {
  int count = 0;
  std::size_t at = 0;
  while (at < content.size()) {
    const std::size_t end = content.find('\n', at);
    const std::string_view line = content.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    if (line.empty() || line == "\r") break;  // the blank line ends the header section
    if (line.size() >= 9 && equals_ignoring_case(line.substr(0, 9), "received:")) ++count;
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return count;
}

std::string sanitize_helo(std::string_view helo) {
  std::string out;
  for (char c : helo.substr(0, 255)) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
    out += plain ? c : '?';
  }
  return out;
}

int RateCounter::record(const io::Address& client, Instant now, Duration window) {
  if (++since_sweep_ >= 1024) {
    since_sweep_ = 0;
    std::erase_if(events_,
                  [&](const auto& entry) { return entry.second.empty() || entry.second.back() + window <= now; });
  }
  std::deque<Instant>& recent = events_[client];
  while (!recent.empty() && recent.front() + window <= now) recent.pop_front();
  recent.push_back(now);
  return static_cast<int>(recent.size());
}

Inbound::Inbound(io::Io& io, const RelayConfig& config, Queue& queue, const tls::Context* tls)
    : io_(io),
      config_(config),
      queue_(queue),
      tls_(tls),
      verified_passwords_(auth_cache_key(io), config.smtpd_auth_cache_time) {}

Inbound::~Inbound() { *alive_ = false; }

void Inbound::log(std::string_view line) { io_.observe(io::LogLine{line}); }

io::Status Inbound::start() {
  for (const ListenerConfig& listener : config_.listeners) {
    if (listener.implicit_tls && tls_ == nullptr) {
      return io::Error{io::Errc::invalid_argument, "listener " + listener.address.to_string() + " needs a certificate"};
    }
    auto opened = io_.listen(listener.address, [this, listener](std::unique_ptr<io::Connection> connection) {
      accept(std::move(connection), listener);
    });
    if (!opened) return opened.error();
    listeners_.push_back(std::move(opened).value());
  }
  return {};
}

std::vector<io::Endpoint> Inbound::listening() const {
  std::vector<io::Endpoint> out;
  for (const auto& listener : listeners_) out.push_back(listener->local_endpoint());
  return out;
}

bool Inbound::in_mynetworks(const io::Address& client) const {
  for (io::Cidr network : config_.mynetworks) {
    if (config_.broken_variant == BrokenVariant::mynetworks_one_bit_short && network.prefix_length() > 0) {
      network = io::Cidr(network.network(), network.prefix_length() - 1);
    }
    if (network.contains(client)) return true;
  }
  return false;
}

bool Inbound::event_limits_exempt(const io::Address& client) const {
  if (!config_.smtpd_client_event_limit_exceptions) return in_mynetworks(client);
  const auto& networks = *config_.smtpd_client_event_limit_exceptions;
  return std::any_of(networks.begin(), networks.end(),
                     [&](const io::Cidr& network) { return network.contains(client); });
}

int Inbound::sessions_for_strangers() const {
  return config_.smtpd_connection_limit - config_.smtpd_trusted_connection_reserve;
}

Inbound::Refusal Inbound::over_limit(const io::Address& client, bool trusted) {
  // The reserve is for the relay's own senders: mynetworks, and the clients the per-client limits
  // trust (Salesforce's sending ranges, which authenticate rather than sit in mynetworks).
  const bool exempt = event_limits_exempt(client);
  const bool reserved_for = trusted || exempt;
  const std::string who = client_name({client, 0});
  const std::string sessions = std::to_string(sessions_.size());
  const std::string prefix = "421 4.7.0 " + config_.myhostname + " Error: ";
  if (static_cast<int>(sessions_.size()) >= config_.smtpd_connection_limit) {
    return {"Connection limit exceeded: " + sessions + " sessions, refusing " + who,
            prefix + "too many connections: all " + sessions + " sessions in use"};
  }
  if (!reserved_for && static_cast<int>(sessions_.size()) >= sessions_for_strangers()) {
    return {"Connection limit for clients outside mynetworks and smtpd_client_event_limit_exceptions exceeded: " +
                sessions + " sessions, refusing " + who,
            prefix + "too many connections: " + sessions + " sessions in use, the rest kept for trusted networks"};
  }
  if (exempt) return {};
  const auto open = sessions_per_client_.find(client);
  if (open != sessions_per_client_.end() && open->second >= config_.smtpd_client_connection_count_limit) {
    return {"Connection concurrency limit exceeded: " + std::to_string(open->second) + " from " + who,
            prefix + "too many connections from " + client.to_string()};
  }
  if (config_.smtpd_client_connection_rate_limit > 0) {
    const int count = connection_rate_.record(client, io_.now(), config_.anvil_rate_time_unit);
    if (count > config_.smtpd_client_connection_rate_limit) {
      return {"Connection rate limit exceeded: " + std::to_string(count) + " from " + who + " for " +
                  format_duration(config_.anvil_rate_time_unit),
              prefix + "too many connections from " + client.to_string() + " in " +
                  format_duration(config_.anvil_rate_time_unit)};
    }
  }
  return {};
}

smtp::SessionLimits Inbound::stress_limits() const {
  return {config_.stress_smtpd_timeout, config_.stress_smtpd_hard_error_limit, config_.stress_smtpd_junk_command_limit,
          true};
}

// Stress begins when the sessions open to strangers are all in use, and ends when one is free.
// Beginning, it tightens the limits of every session whose client is neither in mynetworks nor
// authenticated, so idle and trickling strangers give their sessions back within seconds.
// Tightens, once, the session of a client neither in mynetworks nor authenticated; true if it did.
bool Inbound::stress(Session& session) {
  if (session.trusted_network || session.stressed || !session.connection->session().authenticated_user().empty()) {
    return false;
  }
  session.stressed = true;
  session.connection->tighten(stress_limits());
  return true;
}

void Inbound::update_stress() {
  const bool full = static_cast<int>(sessions_.size()) >= sessions_for_strangers();
  if (full == stressed_) return;
  stressed_ = full;
  if (!full) return log("stress mode off: " + std::to_string(sessions_.size()) + " sessions");
  int tightened = 0;
  for (auto& [id, session] : sessions_) tightened += stress(session) ? 1 : 0;
  log("warning: stress mode on: " + std::to_string(sessions_.size()) + " of " +
      std::to_string(config_.smtpd_connection_limit) + " sessions in use: " + std::to_string(tightened) +
      " sessions of clients outside mynetworks and not authenticated now have smtpd_timeout " +
      format_duration(config_.stress_smtpd_timeout) + ", smtpd_hard_error_limit " +
      std::to_string(config_.stress_smtpd_hard_error_limit) + ", smtpd_junk_command_limit " +
      std::to_string(config_.stress_smtpd_junk_command_limit) + ", per-record deadlines");
}

void Inbound::accept(std::unique_ptr<io::Connection> connection, const ListenerConfig& listener) {
  const io::Endpoint client = connection->peer_endpoint();
  const bool trusted = in_mynetworks(client.address);
  if (const Refusal refusal = over_limit(client.address, trusted); !refusal.log.empty()) {
    // Instead of the greeting, as Postfix does: 421 and close.
    log("warning: " + refusal.log);
    connection->send(refusal.reply + "\r\n");
    connection->close();
    return;
  }
  const std::uint64_t id = connection->id();
  Session& session = sessions_[id];
  session.client = client;
  session.trusted_network = trusted;
  sessions_per_client_[client.address] += 1;
  log("connect from " + client_name(session.client));
  smtp::ServerConfig server;
  server.hostname = config_.myhostname;
  server.implicit_tls = listener.implicit_tls;
  server.starttls = tls_ != nullptr && !listener.implicit_tls;
  if (!config_.users.empty()) server.auth_mechanisms = config_.auth_mechanisms;
  server.auth_requires_tls = config_.smtpd_tls_auth_only;
  server.smtputf8 = config_.smtputf8_enable;
  server.message_size_max = config_.message_size_limit;
  server.recipients_max = config_.smtpd_recipient_limit;
  server.soft_error_limit = config_.smtpd_soft_error_limit;
  server.error_sleep_time = config_.smtpd_error_sleep_time;
  server.hard_error_limit = config_.smtpd_hard_error_limit;
  server.junk_command_limit = config_.smtpd_junk_command_limit;
  server.command_timeout = config_.smtpd_timeout;
  server.per_record_deadline = config_.smtpd_per_record_deadline;
  session.connection = std::make_unique<endpoint::ServerConnection>(
      io_, std::move(connection), server, tls_,
      [this, id](endpoint::ServerConnection&, const smtp::ServerEvent& event) { on_event(id, event); });
  session.connection->keep_transcript(false);  // the relay logs and traces; it never reads transcripts
  session.time_limit = io_.after(config_.smtpd_session_time_limit, [this, id] {
    const auto found = sessions_.find(id);
    if (found == sessions_.end()) return;
    log("warning: " + client_name(found->second.client) + ": session time limit exceeded");
    found->second.connection->terminate(
        smtp::Reply::make(421, "4.4.2", config_.myhostname + " Error: session time limit exceeded"),
        "session time limit");
  });
  if (stressed_) stress(session);
  update_stress();
  update_accepting();
}

// With all smtpd_connection_limit sessions in use the listeners stop accepting: a newcomer waits
// in the listen backlog, as a client of a Postfix whose smtpd processes are all busy waits for
// master, and is served when a session ends, instead of being told 421 to come back in minutes.
void Inbound::update_accepting() {
  const bool full = static_cast<int>(sessions_.size()) >= config_.smtpd_connection_limit;
  if (full == accepting_paused_) return;
  accepting_paused_ = full;
  for (const auto& listener : listeners_) listener->pause_accepting(full);
  if (!full || (limit_warned_ && io_.now() - *limit_warned_ < limit_warning_interval)) return;
  limit_warned_ = io_.now();
  log("warning: all " + std::to_string(sessions_.size()) +
      " sessions in use (smtpd_connection_limit): new clients wait in the listen backlog and may experience "
      "noticeable delays");
}

void Inbound::on_event(std::uint64_t id, const smtp::ServerEvent& event) {
  const auto found = sessions_.find(id);
  if (found == sessions_.end()) return;
  Session& session = found->second;
  endpoint::ServerConnection& connection = *session.connection;
  if (const auto* auth = std::get_if<smtp::server_event::Auth>(&event)) {
    const auto user = config_.users.find(auth->user);
    const bool good = user != config_.users.end() &&
                      verified_passwords_.verify(auth->user, auth->password, user->second, io_.now()) &&
                      (auth->authorization_id.empty() || auth->authorization_id == auth->user);
    if (good) {
      log(client_name(session.client) + ": sasl_method=" + auth->mechanism + ", sasl_username=" + auth->user);
      return connection.decide(smtp::Verdict::accept());
    }
    session.auth_failures += 1;
    log("warning: " + client_name(session.client) + ": SASL " + auth->mechanism + " authentication failed");
    if (session.auth_failures >= config_.smtpd_auth_failure_limit) {
      return connection.decide(refuse(421, "4.7.0", config_.myhostname + " Error: too many failed authentications"));
    }
    return connection.decide(refuse(535, "5.7.8", "Error: authentication failed"));
  }
  if (const auto* mail = std::get_if<smtp::server_event::Mail>(&event))
    return connection.decide(check_sender(session, *mail));
  if (const auto* rcpt = std::get_if<smtp::server_event::Rcpt>(&event))
    return connection.decide(check_recipient(session, *rcpt));
  if (const auto* message = std::get_if<smtp::server_event::Message>(&event)) return on_message(id, *message);
  if (const auto* violation = std::get_if<smtp::server_event::Violation>(&event)) {
    log("warning: " + client_name(session.client) + ": " + violation->what);
    return;
  }
  if (std::holds_alternative<smtp::server_event::Closed>(event)) {
    log("disconnect from " + client_name(session.client));
    if (--sessions_per_client_[session.client.address] <= 0) sessions_per_client_.erase(session.client.address);
    sessions_.erase(found);  // allowed from inside the Closed event
    update_stress();
    update_accepting();
  }
}

smtp::Verdict Inbound::check_sender(Session& session, const smtp::server_event::Mail& mail) {
  session.sender_text = bracketed(mail.sender);
  if (config_.smtpd_client_message_rate_limit > 0 && !event_limits_exempt(session.client.address)) {
    const int count = message_rate_.record(session.client.address, io_.now(), config_.anvil_rate_time_unit);
    if (count > config_.smtpd_client_message_rate_limit) {
      log("warning: Message delivery request rate limit exceeded: " + std::to_string(count) + " from " +
          client_name(session.client) + " for " + format_duration(config_.anvil_rate_time_unit));
      return refuse(421, "4.7.0",
                    config_.myhostname + " Error: too many messages from " + session.client.address.to_string());
    }
  }
  const bool authorised = session.trusted_network || !session.connection->session().authenticated_user().empty();
  if (!authorised) return smtp::Verdict::accept();  // refused per recipient, with the reason people search for
  if (mail.sender && !config_.sender_domains.empty() &&
      !any_domain_matches(config_.sender_domains, mail.sender->domain)) {
    const std::string text = session.sender_text + ": Sender address rejected: not permitted through this relay";
    log("NOQUEUE: reject: MAIL from " + client_name(session.client) + ": 553 5.7.1 " + text);
    return refuse(553, "5.7.1", text);
  }
  return smtp::Verdict::accept();
}

smtp::Verdict Inbound::check_recipient(Session& session, const smtp::server_event::Rcpt& rcpt) {
  const smtp::Mailbox& mailbox = rcpt.recipient.mailbox;
  const std::string address = "<" + mailbox.to_string() + ">";
  const auto reject = [&](int code, std::string_view enhanced, const std::string& text) {
    log("NOQUEUE: reject: RCPT from " + client_name(session.client) + ": " + std::to_string(code) + " " +
        std::string(enhanced) + " " + text + "; from=" + session.sender_text + " to=" + address + " helo=<" +
        sanitize_helo(session.connection->session().helo_name()) + ">");
    return refuse(code, enhanced, text);
  };
  const bool authorised = session.trusted_network || !session.connection->session().authenticated_user().empty();
  if (!authorised) return reject(554, "5.7.1", address + ": Relay access denied");
  // Routing tricks that open relays were abused through, refused even for authorised clients.
  if (rcpt.source_route) return reject(550, "5.7.1", address + ": Source routing is not supported");
  if (mailbox.address_literal) return reject(550, "5.7.1", address + ": Address literals are not relayed");
  if (mailbox.local.find('%') != std::string::npos)
    return reject(550, "5.7.1", address + ": Percent-hack addresses are not relayed");
  if (mailbox.local.find('!') != std::string::npos)
    return reject(550, "5.7.1", address + ": Bang paths are not relayed");
  if (mailbox.local.find('@') != std::string::npos)
    return reject(550, "5.7.1", address + ": Quoted addresses holding @ are not relayed");
  if (mailbox.domain.empty()) return reject(550, "5.1.3", address + ": A domain is required");
  if (!any_domain_matches(config_.recipient_domains, mailbox.domain)) {
    return reject(554, "5.7.1", address + ": Recipient domain not served by this relay");
  }
  return smtp::Verdict::accept();
}

void Inbound::append_received_header(std::string& out, const Session& session, const QueueId& queue_id,
                                     const smtp::server_event::Message& message) const {
  const smtp::ServerSession& smtp = session.connection->session();
  const bool tls = smtp.tls().active;
  const bool authenticated = !smtp.authenticated_user().empty();
  out.append("Received: from ").append(sanitize_helo(smtp.helo_name()));
  out.append(" (unknown [").append(session.client.address.to_string()).append("])\r\n");
  if (tls)
    out.append("\t(using ")
        .append(smtp.tls().version)
        .append(" with cipher ")
        .append(smtp.tls().cipher)
        .append(")\r\n");
  if (authenticated)
    out.append("\t(Authenticated sender: ").append(sanitize_helo(smtp.authenticated_user())).append(")\r\n");
  // RFC 3848 protocol names: ESMTP, ESMTPS, ESMTPA, ESMTPSA; with SMTPUTF8, RFC 6531 §3.7.3's
  // UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA.
  out.append("\tby ").append(config_.myhostname).append(" (relaysim) with ");
  out.append(message.envelope.parameters.smtputf8 ? "UTF8SMTP" : "ESMTP");
  if (tls) out += 'S';
  if (authenticated) out += 'A';
  out.append(" id ").append(queue_id.text().view()).append("\r\n");
  if (message.envelope.recipients.size() == 1) {
    out.append("\tfor <").append(message.envelope.recipients.front().mailbox.to_string()).append(">");
  }
  out.append("; ").append(format_rfc5322(io_.now())).append("\r\n");
}

void Inbound::on_message(std::uint64_t id, const smtp::server_event::Message& message) {
  Session& session = sessions_.at(id);
  endpoint::ServerConnection& connection = *session.connection;
  const int hops = count_received_headers(message.content);
  if (hops >= config_.hopcount_limit) {  // RFC 5321 §6.3: a loop
    log("NOQUEUE: reject: DATA from " + client_name(session.client) + ": 554 5.4.6 Too many hops (" +
        std::to_string(hops) + " Received: headers); from=" + session.sender_text);
    return connection.decide(refuse(554, "5.4.6", "Error: too many hops"));
  }
  QueuedMessage queued;
  queued.id = queue_.allocate_id();
  queued.arrival = io_.now();
  queued.sender = message.envelope.sender;
  queued.parameters = message.envelope.parameters;
  for (const smtp::Recipient& recipient : message.envelope.recipients) {
    queued.recipients.push_back({recipient, RecipientState::queued, 0, io_.now(), ""});
  }
  // One header on top - two when the relay signs - and the rest, body included, byte for byte as
  // received: a signature already on the message stays valid.
  std::string signed_content;
  if (!config_.dkim_signing.empty()) {
    const std::string from = mailauth::from_domain(mailauth::parse_message(message.content));
    if (const mailauth::DkimSigning* signing = mailauth::signing_for(config_.dkim_signing, from)) {
      signed_content = mailauth::sign_with(*signing, message.content, io_.now());
      log(queued.id.to_string() + ": DKIM-Signature field added (s=" + signing->selector + ", d=" + signing->domain +
          ")");
      io_.trace("relay.dkim_signed",
                {{"id", queued.id.text().view()}, {"d", signing->domain}, {"s", signing->selector}, {"from", from}});
    }
  }
  const std::string_view content = signed_content.empty() ? std::string_view(message.content) : signed_content;
  queued.content.reserve(content.size() + 512);  // the header's room, usually
  append_received_header(queued.content, session, queued.id, message);
  queued.content += content;
  queued.client_address = session.client.address.to_string();
  queued.helo = connection.session().helo_name();
  queued.authenticated_user = connection.session().authenticated_user();
  const std::string summary = ": from=" + bracketed(queued.sender) + ", size=" + std::to_string(queued.content.size()) +
                              ", nrcpt=" + std::to_string(queued.recipients.size());
  const auto alive = alive_;
  const bool acknowledged_early = config_.broken_variant == BrokenVariant::ack_before_fsync;
  if (acknowledged_early)
    connection.decide(
        smtp::Verdict::accept_with(smtp::Reply::make(250, "2.0.0", "Ok: queued as " + queued.id.to_string())));
  queue_.store(std::move(queued), [this, alive, id, summary, acknowledged_early](io::Result<QueueId> stored) {
    if (!*alive) return;
    const auto found = acknowledged_early ? sessions_.end() : sessions_.find(id);
    if (!stored) {
      log("warning: queue file write error: " + stored.error().detail);
      if (found != sessions_.end())
        found->second.connection->decide(refuse(451, "4.3.0", "Error: queue file write error"));
      return;
    }
    accepted_ += 1;
    log(stored.value().to_string() + summary + " (queue active)");
    if (on_stored_) on_stored_(stored.value());
    if (found == sessions_.end()) return;  // the client left; the message is queued all the same
    found->second.connection->decide(
        smtp::Verdict::accept_with(smtp::Reply::make(250, "2.0.0", "Ok: queued as " + stored.value().to_string())));
  });
}

}  // namespace relaysim::relay
