#pragma once
// fake_mx: a programmable receiving SMTP server, as a node. It runs the server engine with a
// behaviour (fake_mx/behaviour.hpp) plugged into the engine's decisions, and keeps every accepted
// message in a mail store that tests and scenarios inspect.
//
// What it models: greylisting (postgrey), known and unknown users, mailbox quotas, concurrent
// connection caps and message rate limits answered with 421, rules answering any reply - or
// dropping the connection, or waiting - at connect, EHLO, STARTTLS, MAIL, RCPT, DATA and end of
// data, sequences ("the next 3", "every 10th"), seeded probabilities, STARTTLS offered or not.
// Asynchronous bounces: accepted with 250, a DSN (or a plain-text notice) goes to the sender's MX
// later. What it does not model (yet): AUTH, TLS version limits; docs/fake-mx.md keeps the list.

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "endpoint/client_connection.hpp"
#include "endpoint/server_connection.hpp"
#include "fake_mx/behaviour.hpp"
#include "fake_mx/greylist.hpp"
#include "io/io.hpp"
#include "mailauth/lookups.hpp"

namespace relaysim::fake_mx {

struct StoredMessage {
  std::uint64_t number = 0;  // 1-based, in the order messages reached end of data at this MX
  Instant received;
  std::string mx;  // the node that took it
  io::Endpoint client;
  std::string helo;
  std::string sender;  // empty for <>
  smtp::MailParameters parameters;
  std::vector<smtp::Recipient> recipients;
  std::string content;  // as received: unstuffed, CRLF
  smtp::TlsState tls;
  std::string transcript;              // the session since the previous message (from the greeting, for the first)
  std::string folder = "inbox";        // "inbox" or "spam" (authentication's verdict)
  std::string authentication_results;  // the field put on top of `content`, when authentication ran
  bool bare_line_endings = false;      // it held a bare CR or LF (behaviour.bare_line_endings = normalize)
  bool long_lines = false;             // it held a line over RFC 5321's 1,000 octets
};

// Every accepted message, and each mailbox's. It lives outside the node, so that it outlives a
// crash of the node (a real receiver's mailboxes are on its disk) and the run itself.
class MailStore {
 public:
  // At most `max_messages` kept (0: no limit); past it the oldest message goes, as in a mail
  // catcher's rolling store. A simulation keeps everything; the real server sets a limit.
  explicit MailStore(std::size_t max_messages = 0) : max_messages_(max_messages) {}
  void add(StoredMessage message);
  // A deque: storing never moves the messages already kept.
  const std::deque<StoredMessage>& messages() const { return messages_; }
  std::vector<const StoredMessage*> mailbox(std::string_view address) const;
  std::size_t count(std::string_view address) const;
  void clear();
  // Forgets message `number`; false when there is none.
  bool remove(std::uint64_t number);
  std::size_t max_messages() const { return max_messages_; }
  std::uint64_t dropped() const { return dropped_; }  // let go to stay within the limit, ever

 private:
  void drop_oldest();

  std::size_t max_messages_;
  std::deque<StoredMessage> messages_;
  // Each mailbox's messages by position: messages_[position - first_position_].
  std::map<std::string, std::deque<std::uint64_t>, std::less<>> by_mailbox_;
  std::uint64_t first_position_ = 0;
  std::uint64_t dropped_ = 0;
};

class FakeMxNode final : public io::Node {
 public:
  FakeMxNode(io::Io& io, Behaviour behaviour, const tls::Context* tls, MailStore& store);
  ~FakeMxNode() override;
  void start() override;
  std::string status() const override;
  // Where it listens; nothing when listening failed.
  std::optional<io::Endpoint> listening() const;
  // New answers from now on (a running server's behaviour changed through its API). Sessions in
  // progress answer their next decisions by it; the listener, and the greylist's memory when the
  // greylisting settings stay the same, are kept; rule counters start again.
  void set_behaviour(Behaviour behaviour);
  const Behaviour& behaviour() const { return behaviour_; }

 private:
  struct Session {
    std::unique_ptr<endpoint::ServerConnection> connection;
    io::Endpoint client;
    int transactions = 0;
    std::string sender;  // of the transaction in progress, lower case; "<>" for the null sender
    io::Pending delayed;
  };
  struct Context {
    Stage stage;
    io::Endpoint client;
    bool tls = false;
    std::string sender;
    std::vector<std::string> recipients;  // the recipient at RCPT; all of them at end of data
    std::uint64_t number = 0;
  };

  void accept(std::unique_ptr<io::Connection> connection);
  void open_session(std::unique_ptr<io::Connection> connection);
  void on_event(std::uint64_t id, smtp::ServerEvent& event);
  void on_mail(std::uint64_t id, Session& session, const smtp::server_event::Mail& mail);
  void on_rcpt(std::uint64_t id, Session& session, const smtp::server_event::Rcpt& rcpt);
  void on_message(std::uint64_t id, Session& session, smtp::server_event::Message& message);

  // A message at end of data, kept while its checks run.
  struct Arrival {
    std::uint64_t number = 0;
    smtp::Envelope envelope;
    std::string content;
    std::optional<std::size_t> rule;  // the end-of-data rule that applies, by index
    bool bare_line_endings = false;
    bool long_lines = false;
  };
  // Stores the message (into `folder`, with `header` on top) and answers with the rule or a 250.
  void keep(std::uint64_t id, Session& session, Arrival arrival, const std::string& folder, const std::string& header);
  // Email authentication, one run per answer it waits for (mailauth/lookups.hpp).
  struct Verification {
    Arrival arrival;
    std::uint32_t sample = 0;  // DMARC's pct draw
    mailauth::Lookups lookups;
    io::Pending query;
  };
  void verify(std::uint64_t id);
  std::map<std::uint64_t, Verification> verifications_;  // by session
  // The first rule for the context that applies now, counting it; null when none does.
  const Rule* rule_for(const Context& context);
  bool matches(const Match& match, const Context& context) const;
  // Answers a decision with a rule's action, or with `otherwise` when no rule applies.
  void answer(std::uint64_t id, Session& session, const Rule* rule, smtp::Verdict otherwise);
  void respond(std::uint64_t id, Session& session, smtp::Verdict verdict, Duration delay);

  // Late bounces: composed at end of data, sent later to the sender's MX (MX, else A record).
  struct Bounce {
    smtp::Mailbox mailbox;  // the original sender
    std::string to;
    std::string content;
    int attempts = 0;
    io::Pending step;  // the timer or lookup in progress
    std::string host;  // the MX host being tried
    std::unique_ptr<endpoint::ClientConnection> connection;
    std::unique_ptr<endpoint::ClientConnection> finished;  // closed, destroyed outside its callback
    bool sent = false;                                     // handed to the current connection
    bool delivered = false;                                // accepted by the sender's MX
  };
  void schedule_bounce(const smtp::server_event::Message& message, const Rule& rule, std::uint64_t number);
  void send_bounce(std::uint64_t id);
  void bounce_to_host(std::uint64_t id, const std::string& host);
  void bounce_failed(std::uint64_t id, const std::string& why);

  io::Io& io_;
  Behaviour behaviour_;
  const tls::Context* tls_;
  MailStore& store_;
  io::Random random_;
  Greylist greylist_;
  std::unique_ptr<io::Listener> listener_;
  std::map<std::uint64_t, Session> sessions_;
  std::map<io::Address, int> sessions_per_client_;
  std::map<io::Address, std::vector<Instant>> transactions_per_client_;
  std::vector<int> matched_;         // per rule
  std::vector<int> applied_;         // per rule
  std::uint64_t messages_seen_ = 0;  // reached end of data
  std::map<std::uint64_t, Bounce> bounces_;
  std::uint64_t next_bounce_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace relaysim::fake_mx
