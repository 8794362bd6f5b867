#include "relay/delivery.hpp"
#include "relay/events.hpp"

#include "io/assert.hpp"
#include "relay/broken_variant.hpp"

namespace relaysim::relay {
namespace {

bool dane_level(TlsLevel level) { return level == TlsLevel::dane || level == TlsLevel::dane_only; }

// Postfix names the command a reply answered: "(in reply to RCPT TO command)".
std::string in_reply_to(smtp::Stage stage) {
  if (stage == smtp::Stage::greeting) return "";
  return " (in reply to " + std::string(to_string(stage)) + " command)";
}

}  // namespace

Delivery::Delivery(io::Io& io, const RelayConfig& config, Router& router, mta_sts::Resolver& mta_sts,
                   tlsrpt::Reporter* reporter, DeliveryTls tls, DeliveryOwner& owner, std::string destination)
    : io_(io),
      config_(config),
      router_(router),
      mta_sts_(mta_sts),
      reporter_(reporter),
      tls_(tls),
      owner_(owner),
      destination_(std::move(destination)),
      level_(tls_level_for(config, destination_)),
      hop_level_(level_) {}

Delivery::~Delivery() { *alive_ = false; }

const std::string& Delivery::hop_label() const { return current_hop_label_; }

void Delivery::start(DeliveryJob job) {
  RELAYSIM_ASSERT(!job_);
  cache_timer_.cancel();
  RELAYSIM_ASSERT(!job.recipients.empty() && job.recipients.size() == job.message.recipients.size());
  job_ = std::move(job);
  outcomes_.assign(job_->recipients.size(), std::nullopt);
  recipient_failure_.assign(job_->recipients.size(), std::nullopt);
  report_ = DeliveryReport();
  sent_ = false;
  sessions_ = 0;
  last_failure_ = Failure();
  reused_ = false;
  if (connection_ && connection_->ready()) {
    reused_ = true;
    report_.reached_server = true;
    report_.explanation = "reusing the connection to " + hop_label();
    send_job();
    return;
  }
  router_.route(job_->destination, job_->sender_domain, [this, alive = alive_](Route route) {
    if (*alive) on_route(std::move(route));
  });
}

void Delivery::on_route(Route route) {
  RELAYSIM_ASSERT(job_);
  report_.route = route.kind;
  report_.explanation += (report_.explanation.empty() ? "" : "; ") + route.explanation;
  io_.observe(events::Routed{.id = job_->message_id,
                             .domain = job_->destination,
                             .route = route.kind,
                             .why = route.explanation,
                             .status = route.status,
                             .implicit_mx = route.implicit_mx,
                             .static_route = route.static_route});
  if (route.kind != Route::Kind::deliver) {
    settle_remaining(route.kind == Route::Kind::bounce ? smtp::Outcome::permanent : smtp::Outcome::transient,
                     Failure{route.status, route.reason, "", "none", "", std::nullopt, 0, std::nullopt});
    return finish_job();
  }
  hops_ = std::move(route.hops);
  auth_ = std::move(route.auth);
  tls_reportable_ = reporter_ != nullptr && !route.static_route;
  hop_ = 0;
  sts_.reset();
  // MTA-STS governs delivery to a domain's own MX hosts, unless the admin's policy table names it.
  const bool sts_applies = config_.smtp_tls_mta_sts && !route.static_route && !has_tls_policy(config_, destination_) &&
                           config_.broken_variant != BrokenVariant::mta_sts_ignored;
  if (!sts_applies) return try_hop();
  sts_lookup_ = mta_sts_.find(destination_, [this](const mta_sts::Lookup& lookup) { on_mta_sts(lookup); });
}

void Delivery::on_mta_sts(const mta_sts::Lookup& lookup) {
  io::Pending done = std::move(sts_lookup_);
  io_.observe(events::MtaStsApplied{.id = job_->message_id,
                                    .domain = destination_,
                                    .mode = lookup.policy ? mta_sts::to_string(lookup.policy->mode) : "absent",
                                    .policy_id = lookup.id,
                                    .how = lookup.explanation});
  if (lookup.policy && lookup.policy->mode != mta_sts::Mode::none) sts_ = lookup;
  try_hop();
}

void Delivery::try_hop() {
  if (hop_ >= hops_.size() || sessions_ >= config_.smtp_mx_session_limit) {
    if (last_failure_.reason.empty()) last_failure_.reason = "no server left to try";
    settle_remaining(smtp::Outcome::transient, last_failure_);
    return finish_job();
  }
  hop_level_ = level_;
  if (dane_level(level_)) {
    if (config_.broken_variant != BrokenVariant::tlsa_ignored) return look_up_tlsa(hops_[hop_]);
    hop_level_ = TlsLevel::may;
  }
  connect_under_policy(hops_[hop_]);
}

// A host not tried (its TLS requirements cannot be met): the next one is, as after a failed connection.
void Delivery::skip_hop(const Hop& hop, std::string status, std::string reason, tlsrpt::ResultType report,
                        std::optional<tlsrpt::PolicyDescription> policy) {
  current_hop_ = hop;
  current_hop_label_ = hop.label();
  tls_reported_ = false;
  report_tls(policy ? *policy : tls_report_policy(), report, reason, false);
  last_failure_ = Failure{std::move(status), std::move(reason), "", "none", "", std::nullopt, 0, std::nullopt};
  const bool another_server = hop_ + 1 < hops_.size() && sessions_ < config_.smtp_mx_session_limit;
  io_.observe(events::HopFailed{.id = job_ ? std::optional<QueueId>(job_->message_id) : std::nullopt,
                                .hop = current_hop_label_,
                                .stage = smtp::Stage::starttls,
                                .status = last_failure_.status,
                                .reason = last_failure_.reason,
                                .next_hop = true,
                                .skipped = true,
                                .preference = hop.preference});
  if (job_ && another_server) io_.observe(io::LogLine{job_->message_id.to_string() + ": " + last_failure_.reason});
  hop_ += 1;
  try_hop();
}

void Delivery::connect(const Hop& hop, bool plaintext_fallback) {
  current_hop_ = hop;
  current_hop_label_ = hop.label();
  plaintext_fallback_ = plaintext_fallback;
  move_on_ = true;
  sent_ = false;
  session_counted_ = false;
  smtp::ClientConfig client;
  client.helo_name = config_.myhostname;
  tls_logged_ = false;
  tls_logged_testing_ = false;
  tls_reported_ = false;
  const bool testing = sts_ && sts_->policy->mode == mta_sts::Mode::testing && tls_.report != nullptr;
  const tls::Context* context = hop_level_ == TlsLevel::verify ? tls_.verify
                                : hop_level_ == TlsLevel::dane ? tls_.dane
                                : testing                      ? tls_.report
                                                               : tls_.plain;
  switch (hop_level_) {
    case TlsLevel::none: client.tls = smtp::ClientTls::none; break;
    case TlsLevel::may: client.tls = context == nullptr ? smtp::ClientTls::none : smtp::ClientTls::opportunistic; break;
    case TlsLevel::encrypt:
    case TlsLevel::verify:
    case TlsLevel::dane:
    case TlsLevel::dane_only: client.tls = smtp::ClientTls::required; break;
  }
  RELAYSIM_ASSERT(hop_level_ != TlsLevel::dane || context != nullptr);
  if (plaintext_fallback) client.tls = smtp::ClientTls::none;
  if (auth_) {
    // Secure by default: a password goes only over TLS, whatever the destination's level.
    client.auth = auth_;
    client.tls = smtp::ClientTls::required;
  }
  if (connection_) retired_ = std::move(connection_);
  connected_at_ = io_.now();
  jobs_on_connection_ = 0;
  io_.observe(events::Connecting{.id = job_ ? std::optional<QueueId>(job_->message_id) : std::nullopt,
                                 .hop = current_hop_label_,
                                 .preference = hop.preference,
                                 .tls = hop_level_,
                                 .plaintext_fallback = plaintext_fallback});
  connection_ = std::make_unique<endpoint::ClientConnection>(
      io_, hop.endpoint, hop.host, client, context, io::ConnectOptions{config_.smtp_connect_timeout, std::nullopt},
      [this](endpoint::ClientConnection& connection, const smtp::ClientEvent& event) { on_event(connection, event); });
  connection_->keep_transcript(false);
  if (hop_level_ == TlsLevel::dane) connection_->authenticate_with(hop_tlsa_);
}

void Delivery::on_event(endpoint::ClientConnection& connection, const smtp::ClientEvent& event) {
  if (!session_counted_ && connection.session().greeting()) {
    session_counted_ = true;
    sessions_ += 1;
    report_.reached_server = true;
  }
  if (std::holds_alternative<smtp::client_event::Ready>(event)) {
    log_tls_established();
    check_testing_policy();
    report_established();
    if (job_ && !sent_) return send_job();
    if (!job_) return after_job();
    return;
  }
  if (const auto* failed = std::get_if<smtp::client_event::Failed>(&event)) return on_failed(*failed);
  if (const auto* finished = std::get_if<smtp::client_event::Finished>(&event)) return on_finished(finished->result);
  if (const auto* violation = std::get_if<smtp::client_event::Violation>(&event)) {
    io_.trace("relay.protocol_violation", {{"hop", hop_label()}, {"what", violation->what}});
    return;
  }
  if (std::holds_alternative<smtp::client_event::Closed>(event)) return on_closed();
}

void Delivery::on_failed(const smtp::client_event::Failed& failed) {
  const std::string& label = hop_label();
  std::string status, reason;
  if (failed.reply) {
    status = failed.reply->status();
    reason = failed.stage == smtp::Stage::greeting
                 ? "host " + label + " refused to talk to me: " + failed.reply->text()
                 : "host " + label + " said: " + failed.reply->text() + in_reply_to(failed.stage);
  } else if (failed.stage == smtp::Stage::connect) {
    const std::size_t colon = failed.reason.rfind(": ");
    status = "4.4.1";
    reason =
        "connect to " + label + ": " + (colon == std::string::npos ? failed.reason : failed.reason.substr(colon + 2));
  } else if (failed.stage == smtp::Stage::starttls) {
    status = failed.reason.find("handshake") != std::string::npos ? "4.7.5" : "4.7.4";
    reason = "TLS with " + label + ": " + failed.reason;
    const tlsrpt::PolicyDescription policy = tls_report_policy();
    const tlsrpt::ResultType otherwise = policy.type == tlsrpt::PolicyType::tlsa ? tlsrpt::ResultType::tlsa_invalid
                                         : policy.type == tlsrpt::PolicyType::sts
                                             ? tlsrpt::ResultType::sts_webpki_invalid
                                             : tlsrpt::ResultType::validation_failure;
    // The reason code is the server's reply when it gave one; the result type reads both.
    const std::string why = failed.reply ? failed.reply->text() : failed.reason;
    const std::string said = failed.reply ? why + " " + failed.reason : why;
    report_tls(policy, tlsrpt::classify_failure(said, otherwise), why, true);
  } else {
    status = "4.4.2";
    reason = "conversation with " + label + ": " + failed.reason;
  }
  // Nothing before MAIL bounces mail: a 5xx greeting or EHLO only sends it to the next server
  // (Postfix's smtp_skip_5xx_greeting), so on the last one it is deferred.
  if (status.starts_with('5')) status[0] = '4';
  last_failure_ = failure(status, reason, failed.reply ? failed.reply->text() : "");
  if (failed.reply) {
    last_failure_.stage = failed.stage;
    last_failure_.code = failed.reply->code;
  }
  // A failure of the whole session is the latest news for every recipient still open.
  std::fill(recipient_failure_.begin(), recipient_failure_.end(), std::nullopt);
  move_on_ = !(failed.stage == smtp::Stage::starttls && hop_level_ == TlsLevel::may && !plaintext_fallback_);
  io_.observe(events::HopFailed{.id = job_ ? std::optional<QueueId>(job_->message_id) : std::nullopt,
                                .hop = label,
                                .stage = failed.stage,
                                .status = status,
                                .reason = reason,
                                .next_hop = move_on_});
  // As Postfix's smtp client does, a server that fails while another is left to try gets a log
  // line of its own now ("connect to ...: Connection refused" without a queue id, as Postfix
  // writes it; anything later with it); the last server's failure is in the status=deferred line.
  const bool another_server =
      move_on_ && !reused_ && hop_ + 1 < hops_.size() && sessions_ < config_.smtp_mx_session_limit;
  if (job_ && another_server)
    io_.observe(
        io::LogLine{failed.stage == smtp::Stage::connect ? reason : job_->message_id.to_string() + ": " + reason});
}

void Delivery::send_job() {
  RELAYSIM_ASSERT(job_ && connection_);
  smtp::OutgoingMessage message;
  message.sender = job_->message.sender;
  message.parameters = job_->message.parameters;
  message.content = job_->queued->content;
  sent_positions_.clear();
  for (std::size_t position = 0; position < outcomes_.size(); ++position) {
    if (outcomes_[position]) continue;
    sent_positions_.push_back(position);
    message.recipients.push_back(job_->message.recipients[position]);
  }
  RELAYSIM_ASSERT(!message.recipients.empty());
  dropped_position_.reset();
  if (config_.broken_variant == BrokenVariant::drop_last_recipient && message.recipients.size() > 1) {
    dropped_position_ = sent_positions_.back();
    sent_positions_.pop_back();
    message.recipients.pop_back();
  }
  sent_ = true;
  jobs_on_connection_ += 1;
  if (!connection_->send(std::move(message))) {
    // The session stopped being ready (the server closed it): move on when it is gone.
    sent_ = false;
    move_on_ = true;
    connection_->quit();
  }
}

void Delivery::on_finished(const smtp::TransactionResult& result) {
  if (!job_) return;
  RELAYSIM_ASSERT(result.recipients.size() == sent_positions_.size());
  const std::string& label = hop_label();
  if (dropped_position_)
    settle(*dropped_position_, smtp::Outcome::delivered, failure("2.0.0", "250 2.0.0 Ok", "250 2.0.0 Ok"));
  for (std::size_t i = 0; i < result.recipients.size(); ++i) {
    const smtp::RecipientResult& recipient = result.recipients[i];
    const std::size_t position = sent_positions_[i];
    if (recipient.unsendable != smtp::Unsendable::no) {
      settle(position, recipient.outcome,
             failure(recipient.reply->status(), unsendable_reason(recipient.unsendable), ""));
      continue;
    }
    std::string status, reason, diagnostic;
    if (recipient.reply) {
      status = recipient.reply->status();
      diagnostic = recipient.reply->text();
      reason = recipient.outcome == smtp::Outcome::delivered
                   ? diagnostic
                   : "host " + label + " said: " + diagnostic + in_reply_to(recipient.stage);
    } else {
      status = recipient.outcome == smtp::Outcome::delivered ? "2.0.0" : "4.4.2";
      reason = "conversation with " + label + ": " + recipient.detail;
    }
    if (result.possible_duplicate && recipient.outcome == smtp::Outcome::transient) {
      reason = "lost connection with " + label + " while sending end of data -- message may be sent more than once";
      settle(position, smtp::Outcome::transient, failure("4.4.2", reason, diagnostic));  // no reply: no stage, no code
      outcomes_[position]->possible_duplicate = true;
      continue;
    }
    const bool kept = config_.broken_variant == BrokenVariant::rcpt_5xx_as_4xx &&
                      recipient.outcome == smtp::Outcome::permanent && recipient.stage == smtp::Stage::rcpt;
    Failure what = failure(kept ? "4" + status.substr(1) : status, reason, diagnostic);
    if (recipient.reply) {
      what.stage = recipient.stage;
      what.code = recipient.reply->code;
    }
    if (recipient.outcome == smtp::Outcome::transient || kept) {
      recipient_failure_[position] = what;  // its own reply, not another's
      continue;                             // kept for the next server
    }
    settle(position, recipient.outcome, what);
  }
  for (const auto& outcome : outcomes_) {
    if (!outcome) {
      move_on_ = true;
      connection_->quit();  // the rest go to the next server
      return;
    }
  }
  finish_job();
}

// The client's own refusal, in Postfix's words: no server said it.
std::string Delivery::unsendable_reason(smtp::Unsendable why) const {
  if (why == smtp::Unsendable::needs_smtputf8)
    return "SMTPUTF8 is required, but was not offered by host " + hop_label();
  const auto limit = connection_->session().capabilities().size_max.value_or(0);
  return "message size " + std::to_string(job_->message.content.size()) + " exceeds size limit " +
         std::to_string(limit) + " of server " + hop_label();
}

void Delivery::on_closed() {
  cache_timer_.cancel();
  retired_ = std::move(connection_);  // it is inside its own callback: destroyed later
  if (!job_) return owner_.slot_idle(*this);
  if (!move_on_) return connect(current_hop_, true);
  if (reused_) {
    // A kept connection failed: route afresh, as for a new job.
    reused_ = false;
    router_.route(job_->destination, job_->sender_domain, [this, alive = alive_](Route route) {
      if (*alive) on_route(std::move(route));
    });
    return;
  }
  hop_ += 1;
  try_hop();
}

Delivery::Failure Delivery::failure(std::string status, std::string reason, std::string diagnostic) const {
  // Postfix's relay= names a server only once a session with it began.
  if (!session_counted_ && diagnostic.empty())
    return {std::move(status), std::move(reason), "", "none", "", std::nullopt, 0, std::nullopt};
  return {
      std::move(status),    std::move(reason), std::move(diagnostic), hop_label(), current_hop_.host, std::nullopt, 0,
      current_hop_.endpoint};
}

void Delivery::settle(std::size_t position, smtp::Outcome outcome, const Failure& what) {
  RecipientOutcome settled;
  settled.index = job_->recipients[position];
  settled.outcome = outcome;
  settled.status = what.status;
  settled.reason = what.reason;
  settled.diagnostic = what.diagnostic;
  settled.relay = what.relay;
  settled.remote_host = what.remote_host;
  settled.relay_endpoint = what.relay_endpoint;
  settled.stage = what.stage;
  settled.code = what.code;
  if (connection_ && what.relay == hop_label()) {
    const smtp::ClientSession& session = connection_->session();
    settled.remote_dsn = session.capabilities().dsn;
    settled.tls = session.tls().active;
    settled.tls_verified = session.tls().peer_verified;
  }
  outcomes_[position] = std::move(settled);
}

void Delivery::settle_remaining(smtp::Outcome outcome, const Failure& what) {
  for (std::size_t position = 0; position < outcomes_.size(); ++position) {
    if (outcomes_[position]) continue;
    settle(position, outcome,
           recipient_failure_.size() > position && recipient_failure_[position] ? *recipient_failure_[position] : what);
  }
}

void Delivery::finish_job() {
  RELAYSIM_ASSERT(job_);
  for (auto& outcome : outcomes_) {
    RELAYSIM_ASSERT(outcome);
    report_.recipients.push_back(std::move(*outcome));
  }
  const DeliveryJob job = std::move(*job_);
  job_.reset();
  outcomes_.clear();
  const std::shared_ptr<bool> alive = alive_;
  owner_.job_done(*this, job, std::move(report_));
  if (!*alive) return;
  // With a live connection the next step comes with its Ready (reuse) or Closed event.
  if (!connection_ || connection_->finished()) owner_.slot_idle(*this);
}

void Delivery::after_job() {
  const bool within_limits = io_.now() - connected_at_ < config_.smtp_connection_reuse_time_limit &&
                             jobs_on_connection_ < config_.smtp_connection_reuse_count_limit;
  if (within_limits) {
    if (std::optional<DeliveryJob> next = owner_.next_job(*this)) return start(std::move(*next));
    if (config_.smtp_connection_cache_on_demand && owner_.destination_busy(*this)) {
      const Duration left = config_.smtp_connection_reuse_time_limit - (io_.now() - connected_at_);
      const Duration wait = std::min(config_.smtp_connection_cache_time_limit, left);
      io_.trace("relay.connection_cached", {{"hop", hop_label()}, {"for", format_duration(wait)}});
      cache_timer_ = io_.after(wait, [this] {
        io::Pending fired = std::move(cache_timer_);
        connection_->quit();
      });
      return;
    }
  }
  connection_->quit();
}

}  // namespace relaysim::relay
