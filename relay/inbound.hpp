#pragma once
// The relay's inbound side: listeners, SMTP sessions, and the policy that decides what it takes.
//
// Never an open relay. A client may relay only when its address is in mynetworks or it has
// authenticated; everything else gets "554 5.7.1 <rcpt>: Relay access denied". Even authorised
// clients cannot route through the relay by address tricks: source routes, the percent hack,
// bang paths, quoted local parts holding "@" and address literals are refused. A message with
// more Received: headers than hopcount_limit is refused (5.4.6). An accepted message gets one
// Received: header on top and is otherwise untouched, so DKIM signatures survive; the 250 goes
// out only once the queue says the message is durable.

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "endpoint/server_connection.hpp"
#include "io/io.hpp"
#include "relay/config.hpp"
#include "relay/password.hpp"
#include "relay/queue.hpp"
#include "tls/engine.hpp"

namespace relaysim::relay {

// Recent events per client address within a time window: Postfix's anvil. Memory stays bounded:
// events older than the window are dropped, and idle clients are forgotten.
class RateCounter {
 public:
  // Records one event at `now`; the number of events within `window` before it, this one included.
  int record(const io::Address& client, Instant now, Duration window);

 private:
  std::map<io::Address, std::deque<Instant>> events_;
  std::size_t since_sweep_ = 0;
};

class Inbound {
 public:
  Inbound(io::Io& io, const RelayConfig& config, Queue& queue, const tls::Context* tls);
  ~Inbound();
  // Opens the listeners; the error names the listener that failed.
  io::Status start();
  // Closes the listeners; sessions in progress go on to their end.
  void stop_listening() { listeners_.clear(); }
  // Where the listeners listen (the port the system chose, for port 0).
  std::vector<io::Endpoint> listening() const;
  std::size_t connections() const { return sessions_.size(); }
  std::uint64_t accepted_messages() const { return accepted_; }
  // Called with each message's id once it is durable (the relay hands it to delivery).
  void on_stored(std::function<void(const QueueId& id)> handler) { on_stored_ = std::move(handler); }

 private:
  struct Session {
    std::unique_ptr<endpoint::ServerConnection> connection;
    io::Endpoint client;
    bool trusted_network = false;
    bool stressed = false;  // its limits were tightened
    int auth_failures = 0;
    std::string sender_text;  // for "NOQUEUE: reject" log lines
    io::Pending time_limit;
  };

  void accept(std::unique_ptr<io::Connection> connection, const ListenerConfig& listener);
  struct Refusal {
    std::string log;    // for the log line, empty when the client may have a session
    std::string reply;  // the 421 that says which limit it was
  };
  // Why a new session from `client` must be turned away now.
  Refusal over_limit(const io::Address& client, bool trusted);
  bool in_mynetworks(const io::Address& client) const;
  // Postfix's smtpd_client_event_limit_exceptions: the per-client count and rate limits do not apply.
  bool event_limits_exempt(const io::Address& client) const;
  int sessions_for_strangers() const;
  smtp::SessionLimits stress_limits() const;
  bool stress(Session& session);
  void update_stress();
  void update_accepting();
  void on_event(std::uint64_t id, const smtp::ServerEvent& event);
  void on_message(std::uint64_t id, const smtp::server_event::Message& message);
  smtp::Verdict check_recipient(Session& session, const smtp::server_event::Rcpt& rcpt);
  smtp::Verdict check_sender(Session& session, const smtp::server_event::Mail& mail);
  // Appends the Received: header the relay puts on top of a message to `out`.
  void append_received_header(std::string& out, const Session& session, const QueueId& queue_id,
                              const smtp::server_event::Message& message) const;
  void log(std::string_view line);

  io::Io& io_;
  const RelayConfig& config_;
  Queue& queue_;
  const tls::Context* tls_;
  std::vector<std::unique_ptr<io::Listener>> listeners_;
  std::map<std::uint64_t, Session> sessions_;
  std::map<io::Address, int> sessions_per_client_;
  VerifiedPasswords verified_passwords_;
  bool stressed_ = false;                // Postfix's stress mode
  bool accepting_paused_ = false;        // all smtpd_connection_limit sessions in use
  std::optional<Instant> limit_warned_;  // when the relay last logged that it reached the limit
  RateCounter connection_rate_;
  RateCounter message_rate_;
  std::uint64_t accepted_ = 0;
  std::function<void(const QueueId& id)> on_stored_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The number of Received: header fields in a message's header section.
int count_received_headers(std::string_view content);
// A HELO name as it may appear in a header: printable, no spaces or parentheses, at most 255 bytes.
std::string sanitize_helo(std::string_view helo);

}  // namespace relaysim::relay
