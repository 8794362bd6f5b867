#include "fake_salesforce/org_node.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "endpoint/client_connection.hpp"
#include "endpoint/server_connection.hpp"
#include "fake_salesforce/events.hpp"
#include "fake_salesforce/next_hop.hpp"
#include "io/assert.hpp"
#include "io/text.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::salesforce {
namespace {

constexpr const char* own_path = "Salesforce";
constexpr const char* user_id = "005000000000001AAA";
constexpr std::size_t body_line_length = 72;

std::string format_instant(Instant instant) { return format_rfc5322(instant); }

// A deterministic filler text for bodies of a given size: readable lines, never a dot alone.
std::string filler_line(std::size_t number) {
  static constexpr std::string_view words[] = {"Thank",   "you",   "for",     "your",   "order", "the",
                                               "account", "team",  "will",    "follow", "up",    "with",
                                               "details", "about", "renewal", "today"};
  std::string line;
  for (std::size_t i = number; line.size() < body_line_length - 8; ++i) {
    line += (line.empty() ? "" : " ") + std::string(words[(i * 7 + number) % std::size(words)]);
  }
  return line + ".";
}

// The status code inside a bounce that is not a DSN: the first "5.x.y" that looks like one.
std::string status_in_text(std::string_view text) {
  for (std::size_t i = 0; i + 5 <= text.size(); ++i) {
    if ((text[i] != '5' && text[i] != '4') || text[i + 1] != '.') continue;
    if (i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '.')) continue;
    std::size_t j = i + 2;
    const std::size_t subject_start = j;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j == subject_start || j >= text.size() || text[j] != '.') continue;
    const std::size_t detail_start = ++j;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j == detail_start) continue;
    return std::string(text.substr(i, j - i));
  }
  return "";
}

class OrgNode final : public io::Node {
 public:
  OrgNode(io::Io& io, OrgConfig config, OrgTls tls, OrgState& state)
      : io_(io),
        config_(std::move(config)),
        org_(config_.org),
        tls_(tls),
        state_(state),
        random_(io.random_stream("salesforce-content")) {}

  ~OrgNode() override { *alive_ = false; }

  void start() override {
    if (org_.bounce_management.enabled) listen_for_bounces();
    // After a restart the outbox is still there: pick up every open envelope.
    for (std::size_t i = 0; i < state_.envelopes.size(); ++i) {
      if (!state_.envelopes[i].done) schedule(i);
    }
    next_send();
    next_test();
  }

  std::string status() const override {
    const auto refused =
        std::count_if(state_.emails.begin(), state_.emails.end(), [](const Email& email) { return email.refused; });
    return counted(state_.emails.size() - static_cast<std::size_t>(refused), "email") + ", " +
           counted(state_.counters.delivered, "recipient") + " delivered, " +
           counted(state_.bounced_contacts.size(), "contact") + " bounced";
  }

 private:
  // One handover of an envelope in flight: the route's hops, tried in order while the
  // connection fails; the first server that answers decides the attempt.
  struct Attempt {
    std::size_t envelope = 0;
    std::vector<NextHop> hops;
    std::size_t hop = 0;
    std::unique_ptr<endpoint::ClientConnection> connection;
    bool sent = false;
    bool answered = false;   // a server decided: no other hop
    bool permanent = false;  // ... with a 5xx before the transaction
    std::string status;      // the enhanced status of the reply that decided it, when one did
    std::optional<smtp::TransactionResult> result;
    std::string server = "none";
    std::optional<io::Endpoint> server_endpoint;
    std::string reason;
    bool tls = false;
    bool tls_verified = false;
  };

  // --- traffic

  void next_send() {
    if (state_.traffic_started >= config_.traffic.size()) return;
    const Instant at = std::max(config_.traffic[state_.traffic_started].at, io_.now());
    send_timer_ = io_.at(at, [this] {
      const std::size_t index = state_.traffic_started++;
      submit(config_.traffic[index], false);
      next_send();
    });
  }

  void next_test() {
    if (state_.tests_started >= config_.deliverability_tests.size()) return;
    const Instant at = std::max(config_.deliverability_tests[state_.tests_started].at, io_.now());
    test_timer_ = io_.at(at, [this] { run_test(config_.deliverability_tests[state_.tests_started++]); });
  }

  std::string next_email_id() {
    char id[32];
    std::snprintf(id, sizeof id, "%s%09zu", "0ME", state_.emails.size() + 1);
    return id;
  }

  // The source checks, then the email, its envelopes and their first attempts. Returns the email
  // index, or nothing when Salesforce refused the send.
  std::optional<std::size_t> submit(const Send& send, bool test, std::optional<io::Address> source = std::nullopt) {
    state_.counters.sends += 1;
    const std::string id = next_email_id();
    std::string refusal = access_refusal(org_, send.category);
    const Category bucket = limit_bucket(send.category);
    const std::uint64_t limit = daily_limit(org_, send.category);
    std::uint64_t& used = state_.sent_per_day[{bucket, gmt_day(io_.now())}];
    if (refusal.empty() && limit > 0 && used + send.to.size() > limit) {
      refusal = bucket == Category::mass
                    ? "MASS_MAIL_LIMIT_EXCEEDED, Failed to send email: the daily mass email limit of " +
                          std::to_string(limit) + " was reached"
                : bucket == Category::single
                    ? "SINGLE_EMAIL_LIMIT_EXCEEDED, Email limit exceeded: the daily single email limit of " +
                          std::to_string(limit) + " was reached"
                    : "LIMIT_EXCEEDED, the daily limit of " + std::to_string(limit) + " " +
                          std::string(to_string(bucket)) + " emails was reached";
    }
    if (!refusal.empty()) {
      state_.counters.refused += 1;
      io_.trace("salesforce.refused", {{"category", to_string(send.category)},
                                       {"from", send.from.to_string()},
                                       {"recipients", send.to.size()},
                                       {"error", refusal}});
      state_.emails.push_back({id, send.category, io_.now(), "", send.from, send.subject, send.label, true});
      for (const smtp::Mailbox& to : send.to)
        log({io_.now(), id, to.to_string(), EmailLogEvent::refused, "", "", refusal});
      return std::nullopt;
    }
    used += send.to.size();
    state_.counters.recipients += send.to.size();
    const std::size_t email = state_.emails.size();
    state_.emails.push_back(
        {id, send.category, io_.now(), compose(send, id), send.from, send.subject, send.label, false});
    io_.trace("salesforce.send", {{"email", id},
                                  {"category", to_string(send.category)},
                                  {"from", send.from.to_string()},
                                  {"recipients", send.to.size()},
                                  {"bytes", state_.emails.back().content.size()},
                                  {"test", test}});
    if (!source) source = sending_address();

    // Per recipient: which path. A relay takes every recipient in one envelope; Salesforce's own
    // servers deliver to each recipient domain's MX, so they need one envelope per domain. With
    // bounce management, every recipient has an envelope of its own.
    std::map<std::pair<std::string, std::string>, std::vector<smtp::Mailbox>> groups;  // (path, domain)
    std::vector<std::pair<std::string, std::string>> order;
    for (const smtp::Mailbox& to : send.to) {
      const EmailRelay* relay = relay_for(org_, send.category, send.from.domain, to.domain);
      const std::pair<std::string, std::string> key{relay == nullptr ? std::string() : relay->name,
                                                    relay == nullptr ? to.domain : std::string()};
      if (!groups.contains(key)) order.push_back(key);
      groups[key].push_back(to);
    }
    for (const auto& key : order) {
      if (org_.bounce_management.enabled) {
        for (const smtp::Mailbox& to : groups[key]) add_envelope(email, key.first, {to}, source);
      } else {
        add_envelope(email, key.first, groups[key], source);
      }
    }
    return email;
  }

  void add_envelope(std::size_t email, const std::string& path, std::vector<smtp::Mailbox> recipients,
                    std::optional<io::Address> source) {
    Envelope envelope;
    envelope.token = std::to_string(state_.envelopes.size() + 1) + "-" + state_.emails[email].id;
    envelope.email = email;
    envelope.relay = path;
    envelope.source = source;
    envelope.first_attempt = io_.now();
    envelope.next_attempt = io_.now();
    const smtp::Mailbox& from = state_.emails[email].from;
    if (org_.bounce_management.enabled) {
      const std::string verp = verp_address(org_.bounce_management, recipients.front().to_string(), envelope.token);
      const std::size_t at = verp.rfind('@');
      envelope.sender = smtp::Mailbox{verp.substr(0, at), verp.substr(at + 1)};
    } else {
      envelope.sender = from;
    }
    envelope.recipients = std::move(recipients);
    const std::size_t index = state_.envelopes.size();
    state_.envelope_by_token[envelope.token] = index;
    for (const smtp::Mailbox& to : envelope.recipients) {
      log({io_.now(), state_.emails[email].id, to.to_string(), EmailLogEvent::accepted, path_name(path), "",
           path.empty() ? "no email domain filter matched: Salesforce's own servers send it"
                        : "email domain filter matched relay " + path});
    }
    state_.envelopes.push_back(std::move(envelope));
    schedule(index);
  }

  // The host's first address in a sending range (the address Salesforce's MTAs use), else none.
  std::optional<io::Address> sending_address() const {
    for (const io::Address& address : io_.host_addresses()) {
      for (const io::Cidr& range : org_.sending_ranges) {
        if (range.contains(address)) return address;
      }
    }
    return std::nullopt;
  }

  void run_test(const DeliverabilityTest& test) {
    const std::vector<io::Address> own = io_.host_addresses();
    for (const io::Cidr& range : org_.sending_ranges) {
      const auto address =
          std::find_if(own.begin(), own.end(), [&](const io::Address& a) { return range.contains(a); });
      DeliverabilityResult result{io_.now(), range.to_string(), "", ""};
      if (address == own.end() && !config_.deliverability_from_own_address) {
        io_.trace("salesforce.test_deliverability",
                  {{"range", result.range}, {"result", "no address of this host in the range"}});
        state_.deliverability.push_back(result);
        continue;
      }
      const std::optional<io::Address> source =
          address == own.end() ? std::nullopt : std::optional<io::Address>(*address);
      const std::string from_text = source ? source->to_string() : result.range;
      Send send;
      send.at = io_.now();
      send.category = Category::single;  // it exercises the relay setup: the path the filters choose
      send.from = smtp::Mailbox{"noreply", "salesforce.com"};
      send.from_name = "Salesforce";
      send.to = {test.to};
      send.subject = std::string(org_.environment == Environment::sandbox ? "Sandbox: " : "") +
                     "Test Deliverability from " + from_text;
      send.body = "This is a test message to verify that email sent from Salesforce range " + result.range + " (" +
                  from_text + ") can reach your address.";
      const std::optional<std::size_t> email = submit(send, true, source);
      result.source = source ? source->to_string() : "this host's own address";
      if (email) result.email = state_.emails[*email].id;
      io_.trace("salesforce.test_deliverability",
                {{"range", result.range}, {"source", result.source}, {"email", result.email}});
      state_.deliverability.push_back(result);
    }
    next_test();
  }

  // --- composing

  // The email as Salesforce writes it, DKIM-signed when the org has an active key for the From
  // domain (Setup -> DKIM Keys).
  std::string compose(const Send& send, const std::string& id) {
    std::string content = compose_unsigned(send, id);
    if (org_.dkim && org_.dkim->key) {
      const mailauth::DkimSigning& signing = *org_.dkim;
      const std::string from = to_lower(send.from.domain);
      if (from == signing.domain || from.ends_with("." + signing.domain)) {
        io_.trace("salesforce.dkim_signed", {{"email", id}, {"d", signing.domain}, {"s", signing.selector}});
        return mailauth::sign_with(signing, content, io_.now());
      }
    }
    return content;
  }

  std::string compose_unsigned(const Send& send, const std::string& id) {
    std::string to_header;
    for (const smtp::Mailbox& to : send.to) to_header += (to_header.empty() ? "" : ", ") + to.to_string();
    std::string content;
    content += "Date: " + format_instant(io_.now()) + "\r\n";
    const std::string from_name = smtp::encode_header_text(send.from_name);
    const bool quoted = from_name == send.from_name;  // encoded words are never quoted (RFC 2047 §5)
    content +=
        "From: " +
        (send.from_name.empty() ? send.from.to_string()
                                : (quoted ? "\"" + from_name + "\"" : from_name) + " <" + send.from.to_string() + ">") +
        "\r\n";
    content += "To: " + to_header + "\r\n";
    content += "Message-ID: <" + id + "." + std::to_string(io_.now().unix_seconds()) + "@sfdc.net>\r\n";
    content += "Subject: " + smtp::encode_header_text(send.subject) + "\r\n";
    content += "MIME-Version: 1.0\r\n";
    content += "X-Priority: 3\r\n";
    content += "X-SFDC-LK: " + org_.org_id + "\r\n";
    content += "X-SFDC-User: " + std::string(user_id) + "\r\n";
    content += "X-Sender: postmaster@salesforce.com\r\n";
    content += "X-mail_abuse_inquiries: http://www.salesforce.com/company/abuse.jsp\r\n";
    content += "X-SFDC-EmailCategory: " + std::string(to_string(send.category)) + "\r\n";
    for (const auto& [name, value] : send.headers) content += name + ": " + value + "\r\n";
    std::string body = send.body + "\r\n";
    for (std::size_t line = 0; body.size() < send.body_bytes; ++line) body += filler_line(line) + "\r\n";
    if (send.attachments.empty()) {
      content += "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + body;
      return content;
    }
    const std::string boundary = "----=_Part_" + id + "_" + std::to_string(random_.next() % 1'000'000'000);
    content += "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n";
    content += "--" + boundary +
               "\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + body;
    for (const Attachment& attachment : send.attachments) {
      std::string bytes(attachment.bytes, '\0');
      for (char& byte : bytes) byte = static_cast<char>(random_.next() & 0xff);
      content += "--" + boundary + "\r\nContent-Type: " + attachment.type + "; name=\"" + attachment.name +
                 "\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"" +
                 attachment.name + "\"\r\n\r\n";
      content += smtp::encode_base64_lines(bytes);
    }
    content += "--" + boundary + "--\r\n";
    return content;
  }

  // --- handing over

  void schedule(std::size_t index) {
    Envelope& envelope = state_.envelopes[index];
    timers_[index] = io_.at(std::max(envelope.next_attempt, io_.now()), [this, index] { attempt(index); });
  }

  const EmailRelay* relay_named(const std::string& name) const {
    for (const EmailRelay& relay : org_.relays) {
      if (relay.name == name) return &relay;
    }
    return nullptr;
  }

  static std::string path_name(const std::string& relay) { return relay.empty() ? own_path : relay; }

  void attempt(std::size_t index) {
    timers_.erase(index);
    Envelope& envelope = state_.envelopes[index];
    envelope.attempts += 1;
    envelope.next_attempt = io_.now();  // when this attempt began: the next one counts from here
    auto attempt = std::make_unique<Attempt>();
    attempt->envelope = index;
    attempts_[index] = std::move(attempt);
    io_.trace("salesforce.attempt", {{"email", state_.emails[envelope.email].id},
                                     {"token", envelope.token},
                                     {"path", path_name(envelope.relay)},
                                     {"attempt", envelope.attempts},
                                     {"recipients", envelope.recipients.size()}});
    // The next hop as Salesforce finds it (fake_salesforce/next_hop.hpp): a relay record's host,
    // or for Salesforce's own servers the recipient domain.
    const EmailRelay* relay = relay_named(envelope.relay);
    const std::string name = relay != nullptr ? relay->host : envelope.recipients.front().domain;
    next_hops_.resolve(name, relay != nullptr ? relay->port : std::uint16_t{25},
                       [this, index, alive = alive_](NextHops route) {
                         if (*alive) on_route(index, std::move(route));
                       });
  }

  void on_route(std::size_t index, NextHops route) {
    Attempt& attempt = *attempts_.at(index);
    if (route.kind != NextHops::Kind::deliver) {
      attempt.answered = true;
      attempt.permanent = route.kind == NextHops::Kind::fail;
      attempt.status = route.status;
      attempt.reason = route.status.empty() ? route.reason : route.status + " " + route.reason;
      return conclude(index);
    }
    attempt.hops = std::move(route.hops);
    connect(index);
  }

  void connect(std::size_t index) {
    Attempt& attempt = *attempts_.at(index);
    const Envelope& envelope = state_.envelopes[index];
    const NextHop& hop = attempt.hops[attempt.hop];
    const EmailRelay* relay = relay_named(envelope.relay);
    // Salesforce's own servers use TLS when the receiver offers it.
    const TlsSetting setting = relay == nullptr ? TlsSetting::preferred : relay->tls;
    smtp::ClientConfig client;
    client.helo_name = org_.helo_name.empty() ? std::string(io_.host_name()) : org_.helo_name;
    switch (setting) {
      case TlsSetting::off: client.tls = smtp::ClientTls::none; break;
      case TlsSetting::preferred:
      case TlsSetting::preferred_verify: client.tls = smtp::ClientTls::opportunistic; break;
      case TlsSetting::required:
      case TlsSetting::required_verify: client.tls = smtp::ClientTls::required; break;
    }
    const tls::Context* context = verifies(setting) ? tls_.verify : tls_.plain;
    if (context == nullptr && client.tls == smtp::ClientTls::opportunistic) client.tls = smtp::ClientTls::none;
    if (relay != nullptr) client.auth = relay->auth;
    attempt.server = hop.label();
    attempt.server_endpoint = hop.endpoint;
    attempt.sent = false;
    bury(std::move(attempt.connection));
    io::ConnectOptions options;
    options.source = envelope.source;
    io_.trace("salesforce.connect", {{"token", envelope.token},
                                     {"hop", hop.label()},
                                     {"tls", to_string(setting)},
                                     {"source", envelope.source ? envelope.source->to_string() : std::string()}});
    attempt.connection = std::make_unique<endpoint::ClientConnection>(
        io_, hop.endpoint, hop.host, client, context, options,
        [this, index](endpoint::ClientConnection& connection, const smtp::ClientEvent& event) {
          on_event(index, connection, event);
        });
    // The certificate may name the relay's domain or the mail exchanger dialled.
    if (relay != nullptr && io::normalize_dns_name(relay->host) != hop.host)
      attempt.connection->also_accept_name(io::normalize_dns_name(relay->host));
    attempt.connection->keep_transcript(false);
  }

  void on_event(std::size_t index, endpoint::ClientConnection& connection, const smtp::ClientEvent& event) {
    Attempt& attempt = *attempts_.at(index);
    Envelope& envelope = state_.envelopes[index];
    if (std::holds_alternative<smtp::client_event::Ready>(event)) {
      if (attempt.sent) return connection.quit();
      smtp::OutgoingMessage message;
      message.sender = envelope.sender;
      for (const smtp::Mailbox& to : envelope.recipients) message.recipients.push_back({to, {}});
      message.content = state_.emails[envelope.email].content;
      attempt.sent = connection.send(std::move(message));
      attempt.tls = connection.session().tls().active;
      attempt.tls_verified = connection.session().tls().peer_verified;
      if (!attempt.sent) connection.quit();
      return;
    }
    if (const auto* failed = std::get_if<smtp::client_event::Failed>(&event)) {
      if (failed->stage == smtp::Stage::connect) {
        attempt.reason = "unable to connect to " + attempt.server + ": " + failed->reason;
        return;
      }
      attempt.answered = true;
      // The session's TLS as it stood when it failed: a rejected AUTH still went over TLS.
      attempt.tls = connection.session().tls().active;
      attempt.tls_verified = connection.session().tls().peer_verified;
      attempt.permanent = failed->reply && failed->reply->code >= 500;
      if (failed->reply) attempt.status = failed->reply->status();
      attempt.reason =
          failed->reply ? failed->reply->text() + " (in reply to " + std::string(smtp::to_string(failed->stage)) + ")"
                        : std::string(smtp::to_string(failed->stage)) + ": " + failed->reason;
      return;
    }
    if (const auto* finished = std::get_if<smtp::client_event::Finished>(&event)) {
      attempt.answered = true;
      attempt.result = finished->result;
      return;
    }
    if (std::holds_alternative<smtp::client_event::Closed>(event)) {
      bury(std::move(attempt.connection));
      if (attempt.answered) return conclude(index);
      if (attempt.reason.empty()) attempt.reason = "lost connection with " + attempt.server;
      if (++attempt.hop < attempt.hops.size()) return connect(index);
      return conclude(index);
    }
  }

  // The attempt is over: settle what was decided, and retry or give up on the rest.
  void conclude(std::size_t index) {
    std::unique_ptr<Attempt> attempt = std::move(attempts_.at(index));
    attempts_.erase(index);
    bury(std::move(attempt->connection));
    Envelope& envelope = state_.envelopes[index];
    const std::string& email = state_.emails[envelope.email].id;
    const std::string path = path_name(envelope.relay);
    std::vector<smtp::Mailbox> open;
    std::string transient_reason = attempt->reason;
    for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
      const smtp::Mailbox& to = envelope.recipients[i];
      LogEntry entry{io_.now(),
                     email,
                     to.to_string(),
                     EmailLogEvent::transient_failure,
                     path,
                     attempt->server,
                     attempt->reason,
                     envelope.attempts,
                     attempt->tls,
                     attempt->tls_verified,
                     attempt->server_endpoint,
                     "",
                     attempt->status};
      smtp::Outcome outcome = attempt->permanent ? smtp::Outcome::permanent : smtp::Outcome::transient;
      if (attempt->result && i < attempt->result->recipients.size()) {
        const smtp::RecipientResult& result = attempt->result->recipients[i];
        outcome = result.outcome;
        entry.detail = result.reply ? result.reply->text() : result.detail;
        entry.status = result.reply ? result.reply->status() : std::string();
        if (result.reply && outcome == smtp::Outcome::delivered) entry.queue_id = result.reply->queue_id();
        if (attempt->result->possible_duplicate)
          entry.detail += " (connection lost after the message was sent: it may arrive twice)";
      }
      if (outcome == smtp::Outcome::delivered) {
        state_.counters.delivered += 1;
        entry.event = EmailLogEvent::delivered;
        log(entry);
      } else if (outcome == smtp::Outcome::permanent) {
        state_.counters.failed += 1;
        entry.event = EmailLogEvent::permanent_failure;
        log(entry);
      } else {
        transient_reason = entry.detail;
        open.push_back(to);
      }
    }
    envelope.recipients = open;
    if (open.empty()) {
      envelope.done = true;
      return;
    }
    // The schedule counts from when each attempt began, so round trips never add up.
    const std::optional<Instant> next =
        org_.retry.next_attempt(envelope.first_attempt, envelope.attempts, envelope.next_attempt);
    for (const smtp::Mailbox& to : open) {
      LogEntry entry{io_.now(),
                     email,
                     to.to_string(),
                     next ? EmailLogEvent::transient_failure : EmailLogEvent::given_up,
                     path,
                     attempt->server,
                     transient_reason,
                     envelope.attempts,
                     attempt->tls,
                     attempt->tls_verified,
                     attempt->server_endpoint,
                     "",
                     attempt->status};
      if (next) {
        entry.detail += "; will retry at " + format_instant(*next);
      } else {
        state_.counters.given_up += 1;
        entry.detail = "no delivery after " + std::to_string(envelope.attempts) + " attempts: " + entry.detail;
      }
      log(entry);
    }
    if (!next) {
      envelope.done = true;
      return;
    }
    envelope.next_attempt = *next;
    schedule(index);
  }

  // A connection is destroyed later, never inside its own callback.
  void bury(std::unique_ptr<endpoint::ClientConnection> connection) {
    if (!connection) return;
    graveyard_.push_back(std::move(connection));
    if (!sweep_.armed())
      sweep_ = io_.at(io_.now(), [this] {
        sweep_ = io::Pending();
        graveyard_.clear();
      });
  }

  void log(LogEntry entry) {
    io_.observe(events::EmailLogged{entry});
    state_.log.push_back(std::move(entry));
  }

  // --- the bounce inbox

  void listen_for_bounces() {
    auto listener = io_.listen({io::Address::any_v4(), org_.bounce_management.inbox_port},
                               [this](std::unique_ptr<io::Connection> connection) { accept(std::move(connection)); });
    if (!listener) {
      io_.observe(io::LogLine{"bounce inbox: cannot listen on port " +
                              std::to_string(org_.bounce_management.inbox_port) + ": " + listener.error().detail});
      return;
    }
    listener_ = std::move(listener).value();
  }

  void accept(std::unique_ptr<io::Connection> connection) {
    smtp::ServerConfig config;
    config.hostname = org_.bounce_management.instance + "." + org_.bounce_management.domain;
    config.starttls = false;
    // A VERP return path carries the recipient's address, so an internationalized recipient makes
    // an internationalized return path: its bounce can only arrive over SMTPUTF8.
    config.smtputf8 = true;
    const std::uint64_t id = connection->id();
    inbox_[id] = std::make_unique<endpoint::ServerConnection>(
        io_, std::move(connection), config, nullptr,
        [this, id](endpoint::ServerConnection& session, const smtp::ServerEvent& event) {
          on_inbox_event(id, session, event);
        });
  }

  void on_inbox_event(std::uint64_t id, endpoint::ServerConnection& session, const smtp::ServerEvent& event) {
    if (std::holds_alternative<smtp::server_event::Mail>(event)) return session.decide(smtp::Verdict::accept());
    if (const auto* rcpt = std::get_if<smtp::server_event::Rcpt>(&event)) {
      const auto verp = parse_verp(org_.bounce_management, rcpt->recipient.mailbox.to_string());
      if (!verp || !state_.envelope_by_token.contains(verp->token)) {
        return session.decide(smtp::Verdict::reject(smtp::Reply::make(
            550, "5.1.1",
            "<" + rcpt->recipient.mailbox.to_string() + ">: Recipient address rejected: unknown bounce address")));
      }
      return session.decide(smtp::Verdict::accept());
    }
    if (const auto* message = std::get_if<smtp::server_event::Message>(&event)) {
      for (const smtp::Recipient& recipient : message->envelope.recipients)
        receive_bounce(recipient.mailbox.to_string(), message->content);
      return session.decide(smtp::Verdict::accept_with(smtp::Reply::make(250, "2.0.0", "Ok: bounce processed")));
    }
    if (std::holds_alternative<smtp::server_event::Auth>(event)) {
      return session.decide(
          smtp::Verdict::reject(smtp::Reply::make(502, "5.5.1", "Error: authentication not enabled")));
    }
    if (std::holds_alternative<smtp::server_event::Command>(event)) return session.decide(smtp::Verdict::accept());
    if (std::holds_alternative<smtp::server_event::Closed>(event)) inbox_.erase(id);  // allowed from inside Closed
  }

  void receive_bounce(const std::string& address, const std::string& content) {
    const auto verp = parse_verp(org_.bounce_management, address);
    RELAYSIM_ASSERT(verp);
    state_.counters.bounces += 1;
    const Envelope& envelope = state_.envelopes[state_.envelope_by_token.at(verp->token)];
    const std::string& email = state_.emails[envelope.email].id;
    std::string status, reason;
    bool failed = false;
    if (const std::optional<smtp::DsnReport> report = smtp::parse_dsn(content)) {
      for (const smtp::DsnRecipient& recipient : report->recipients) {
        if (recipient.action != smtp::DsnAction::failed) continue;
        if (failed && to_lower(recipient.final_recipient) != to_lower(verp->contact)) continue;
        failed = true;
        status = recipient.status;
        reason = recipient.diagnostic.empty() ? "delivery failed" : recipient.diagnostic;
      }
      if (!failed) {
        const std::string action =
            report->recipients.empty() ? "empty" : std::string(smtp::to_string(report->recipients.front().action));
        io_.trace("salesforce.bounce",
                  {{"email", email}, {"contact", verp->contact}, {"dsn", action}, {"marked", false}});
        log({io_.now(), email, verp->contact, EmailLogEvent::notice_received, "", "",
             "a delivery status notification (" + action + "); the contact is not marked"});
        return;
      }
    } else {
      // A bounce that is no DSN still came back to the VERP address: Salesforce counts it.
      failed = true;
      status = status_in_text(content);
      reason = "non-standard bounce: " + smtp::header_value(content, "Subject");
    }
    io_.trace("salesforce.bounce",
              {{"email", email}, {"contact", verp->contact}, {"status", status}, {"marked", true}});
    state_.bounced_contacts[to_lower(verp->contact)] = {io_.now(), verp->contact, email, status, reason};
    log({io_.now(), email, verp->contact, EmailLogEvent::bounced, "", "",
         (status.empty() ? std::string() : status + " ") + reason});
  }

  io::Io& io_;
  const OrgConfig config_;
  const Org& org_;
  OrgTls tls_;
  OrgState& state_;
  io::Random random_;
  NextHopResolver next_hops_{io_};
  std::vector<std::unique_ptr<endpoint::ClientConnection>> graveyard_;
  io::Pending sweep_;
  io::Pending send_timer_;
  io::Pending test_timer_;
  std::map<std::size_t, io::Pending> timers_;
  std::map<std::size_t, std::unique_ptr<Attempt>> attempts_;
  std::unique_ptr<io::Listener> listener_;
  std::map<std::uint64_t, std::unique_ptr<endpoint::ServerConnection>> inbox_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

namespace {
constexpr std::array<std::string_view, 8> email_log_event_names{"Accepted",          "Refused",           "Delivered",
                                                                "Transient failure", "Permanent failure", "Given up",
                                                                "Bounced",           "Notice received"};
}  // namespace

std::string_view to_string(EmailLogEvent event) { return email_log_event_names[static_cast<std::size_t>(event)]; }

std::optional<EmailLogEvent> email_log_event_named(std::string_view name) {
  for (std::size_t i = 0; i < email_log_event_names.size(); ++i) {
    if (email_log_event_names[i] == name) return static_cast<EmailLogEvent>(i);
  }
  return std::nullopt;
}

bool OrgState::contact_bounced(std::string_view address) const { return bounced_contacts.contains(to_lower(address)); }

std::vector<const LogEntry*> OrgState::log_for(std::string_view recipient) const {
  std::vector<const LogEntry*> out;
  for (const LogEntry& entry : log) {
    if (to_lower(entry.recipient) == to_lower(recipient)) out.push_back(&entry);
  }
  return out;
}

std::unique_ptr<io::Node> make_org_node(io::Io& io, const OrgConfig& config, OrgTls tls, OrgState& state) {
  return std::make_unique<OrgNode>(io, config, tls, state);
}

}  // namespace relaysim::salesforce
