#pragma once
// One delivery slot of a destination: it routes a job (one message's recipients for one domain),
// walks the route's hops with the SMTP client engine, and reports a typed outcome per recipient -
// delivered, transient or permanent - with the status, the reply and the host that gave it.
//
// Per stage, as Postfix's SMTP client (../docs/relay.md has the table): a connection failure, a
// TLS failure, any 4xx or 5xx before MAIL, or a timeout moves on to the next hop; on the final
// hop (or once smtp_mx_session_limit sessions were used) whatever is left is deferred. 4xx at
// MAIL, DATA or end of data moves on with every recipient; 5xx there bounces them all. At RCPT a
// 5xx bounces that recipient and a 4xx keeps it for the next hop. A connection lost after the
// final dot defers without trying another hop: the message may already be delivered.
//
// After a job, the slot keeps its connection open and asks its owner for another job for the
// same destination (connection reuse), within smtp_connection_reuse_time_limit and
// smtp_connection_reuse_count_limit. With none waiting and the destination busy, the connection
// waits for the next one up to smtp_connection_cache_time_limit (Postfix's on-demand cache).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "endpoint/client_connection.hpp"
#include "io/io.hpp"
#include "relay/config.hpp"
#include "relay/mta_sts.hpp"
#include "relay/queue.hpp"
#include "relay/routing.hpp"
#include "relay/tls_report.hpp"

namespace relaysim::relay {

struct DeliveryJob {
  QueueId message_id;
  std::string destination;  // the recipient domain
  std::string sender_domain;
  std::vector<std::size_t> recipients;          // indices into the queued message, in the order of message.recipients
  smtp::OutgoingMessage message;                // the envelope with just these recipients (no content: see `queued`)
  std::shared_ptr<const QueuedMessage> queued;  // the whole message as loaded from the queue, content included
};

struct RecipientOutcome {
  std::size_t index = 0;  // into the queued message
  smtp::Outcome outcome = smtp::Outcome::transient;
  std::string status;                          // enhanced status code: "2.0.0", "4.4.1", "5.1.1"
  std::string reason;                          // for logs and DSNs: "250 2.0.0 Ok" or "connect to mx[...]:25: refused"
  std::string diagnostic;                      // the remote reply on one line, when a server gave one
  std::string relay = "none";                  // the hop that answered: "mx.example.com[192.0.2.1]:25"
  std::optional<io::Endpoint> relay_endpoint;  // that hop's address; none when no session began
  std::string remote_host;                     // its name, for Remote-MTA
  bool remote_dsn = false;                     // that server announced DSN: NOTIFY and ORCPT went on with the message
  bool tls = false;                            // the message went over TLS
  bool tls_verified = false;
  bool possible_duplicate = false;
  std::optional<smtp::Stage> stage;  // the command the deciding reply answered; none without a reply
  int code = 0;                      // that reply's code; 0 without a reply
};

struct DeliveryReport {
  std::vector<RecipientOutcome> recipients;  // one per job recipient
  bool reached_server = false;               // some server greeted us: the destination is alive
  bool attempted = true;                     // false: deferred without trying (a dead destination)
  Route::Kind route = Route::Kind::deliver;
  std::string explanation;  // how the route was found and which hops were tried
};

class Delivery;

class DeliveryOwner {
 public:
  virtual ~DeliveryOwner() = default;
  // A job is done. The slot may already be running the next one.
  virtual void job_done(Delivery& slot, const DeliveryJob& job, DeliveryReport report) = 0;
  // Another job for the slot's destination, to send on its open connection; or none.
  virtual std::optional<DeliveryJob> next_job(Delivery& slot) = 0;
  // The slot has no job and no connection. The owner may destroy it, but not from inside this call.
  virtual void slot_idle(Delivery& slot) = 0;
  // Whether the slot's destination is busy enough that its connection should wait for a job.
  virtual bool destination_busy(const Delivery& slot) const = 0;
};

struct DeliveryTls {
  const tls::Context* plain = nullptr;   // for may and encrypt: no certificate checks
  const tls::Context* verify = nullptr;  // for verify: the chain and the MX name
  const tls::Context* dane = nullptr;    // for dane and dane-only: the host's TLSA records (Verification::dane)
  // For an MTA-STS policy in testing mode: the trusted CAs, checked and reported, never enforced.
  const tls::Context* report = nullptr;
};

class Delivery {
 public:
  // `reporter`: where TLS sessions are counted for TLS reports; null when the relay sends none.
  Delivery(io::Io& io, const RelayConfig& config, Router& router, mta_sts::Resolver& mta_sts,
           tlsrpt::Reporter* reporter, DeliveryTls tls, DeliveryOwner& owner, std::string destination);
  ~Delivery();
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  void start(DeliveryJob job);
  bool busy() const { return job_.has_value(); }
  // No job, and an open connection waiting for the next one.
  bool cached() const { return !job_ && cache_timer_.armed(); }
  const std::string& destination() const { return destination_; }

 private:
  void on_route(Route route);
  void on_mta_sts(const mta_sts::Lookup& lookup);
  void try_hop();
  void connect_under_policy(const Hop& hop);
  void check_testing_policy();
  void look_up_tlsa(const Hop& hop);
  void on_tlsa(const io::DnsAnswer& answer);
  // `report`: how the TLS report counts the skip, as a failed session of `policy`.
  void skip_hop(const Hop& hop, std::string status, std::string reason, tlsrpt::ResultType report,
                std::optional<tlsrpt::PolicyDescription> policy = std::nullopt);
  // TLS reporting (relay/tls_report.hpp): the policy the current host is held to, and the current
  // host's one session - after its handshake, or its failure; `connected`: false for a host skipped.
  tlsrpt::PolicyDescription tls_report_policy() const;
  void report_established();
  void report_tls(const tlsrpt::PolicyDescription& policy, std::optional<tlsrpt::ResultType> failure,
                  std::string reason, bool connected);
  void connect(const Hop& hop, bool plaintext_fallback);
  void log_tls_established();
  void on_event(endpoint::ClientConnection& connection, const smtp::ClientEvent& event);
  void on_failed(const smtp::client_event::Failed& failed);
  void on_finished(const smtp::TransactionResult& result);
  void on_closed();
  void send_job();
  // What the last failure said, for the recipients it leaves deferred.
  struct Failure {
    std::string status = "4.4.1";
    std::string reason;
    std::string diagnostic;
    std::string relay = "none";
    std::string remote_host;
    std::optional<smtp::Stage> stage;  // the command the reply answered, when a server replied
    int code = 0;                      // the reply code, when a server replied
    std::optional<io::Endpoint> relay_endpoint;
  };
  std::string unsendable_reason(smtp::Unsendable why) const;
  Failure failure(std::string status, std::string reason, std::string diagnostic) const;
  void settle(std::size_t position, smtp::Outcome outcome, const Failure& what);
  void settle_remaining(smtp::Outcome outcome, const Failure& what);
  void finish_job();
  void after_job();
  const std::string& hop_label() const;

  io::Io& io_;
  const RelayConfig& config_;
  Router& router_;
  mta_sts::Resolver& mta_sts_;
  tlsrpt::Reporter* reporter_;
  DeliveryTls tls_;
  DeliveryOwner& owner_;
  std::string destination_;
  TlsLevel level_;                        // the destination's: smtp_tls_security_level or its policy
  TlsLevel hop_level_;                    // the current hop's: level_, or what DANE made of it for this host
  std::vector<io::TlsaRecord> hop_tlsa_;  // dane: the host's usable, validated TLSA records
  io::Pending tlsa_lookup_;
  std::optional<mta_sts::Lookup> sts_;  // the destination's MTA-STS policy for this job, when it has one
  io::Pending sts_lookup_;
  bool tls_reportable_ = false;  // the route goes to the domain's MX hosts and the relay sends TLS reports
  bool tls_reported_ = false;    // the current connection's session is counted
  bool tls_logged_ = false;
  bool tls_logged_testing_ = false;

  std::optional<DeliveryJob> job_;
  std::vector<std::optional<RecipientOutcome>> outcomes_;  // per job recipient; set once final
  DeliveryReport report_;
  bool sent_ = false;                            // the job's transaction started on the current connection
  std::vector<std::size_t> sent_positions_;      // job positions of the recipients in the transaction
  std::optional<std::size_t> dropped_position_;  // the drop_last_recipient variant's victim
  bool reused_ = false;                          // the job started on a connection kept from an earlier job
  bool session_counted_ = false;
  Hop current_hop_;
  std::string current_hop_label_;  // its label, made once per connection
  std::vector<Hop> hops_;
  std::optional<smtp::Credentials> auth_;  // the route's credentials, if any
  std::size_t hop_ = 0;
  int sessions_ = 0;
  bool plaintext_fallback_ = false;
  bool move_on_ = false;  // when the connection closes, try the next hop (else: stay, retry plaintext)
  Failure last_failure_;  // the last failure of the connection or the transaction as a whole
  std::vector<std::optional<Failure>> recipient_failure_;  // per job recipient: its own last reply, if later than that

  std::unique_ptr<endpoint::ClientConnection> connection_;
  std::unique_ptr<endpoint::ClientConnection> retired_;  // closed, destroyed outside its own callback
  Instant connected_at_;
  int jobs_on_connection_ = 0;
  io::Pending cache_timer_;  // armed while the connection waits for a job
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace relaysim::relay
