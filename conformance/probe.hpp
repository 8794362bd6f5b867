#pragma once
// The conformance harness: a node that probes a relay it does not control. It opens SMTP sessions
// to the relay as Salesforce and as hostile clients do (conformance/dialogue.hpp), watches what
// the relay hands on to the fake MX it runs beside it (smarthost mode: the relay forwards all its
// mail to the harness), and judges each check of the catalogue (conformance/checks.hpp) from the
// replies, the TLS sessions and the messages that arrive - bounces included.
//
// It runs over io::Io, so the same checks judge a real relay on real sockets and the simulated
// relay in a world.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conformance/checks.hpp"
#include "conformance/dialogue.hpp"
#include "fake_mx/behaviour.hpp"
#include "fake_mx/fake_mx_node.hpp"
#include "fake_salesforce/org_node.hpp"
#include "io/io.hpp"
#include "io/zone.hpp"
#include "smtp/client_session.hpp"
#include "tls/engine.hpp"

namespace relaysim::conformance {

enum class Mode : std::uint8_t {
  smarthost,  // the relay forwards every message to the harness's MX (`listen`)
  dns,        // the relay resolves the test domains through the harness's DNS double to its MX servers
};

struct Options {
  io::Endpoint relay;
  std::string relay_name;                    // the host name Salesforce's relay record gives (certificate name)
  const tls::Context* tls_plain = nullptr;   // STARTTLS without verification (Preferred, Required)
  const tls::Context* tls_verify = nullptr;  // chain and name against the trust given (the Verify settings)
  const tls::Context* tls_1_2 = nullptr;     // TLS 1.2 only, no verification
  std::optional<smtp::Credentials> auth;     // what Salesforce's relay record authenticates with
  std::optional<io::Address> stranger;       // a source address outside the relay's trusted networks
  Mode mode = Mode::smarthost;
  io::Endpoint listen;  // smarthost mode: where the harness's MX takes what the relay forwards
  // dns mode: the MX servers listen on consecutive addresses after this one, on `mx_port`.
  io::Address mx_network = *io::Address::parse("127.0.1.0");
  std::uint16_t mx_port = 25;
  Duration retry_window = std::chrono::seconds(90);  // how long a deferred message may take to come back
  Duration settle = std::chrono::seconds(5);         // how long to wait for mail that must not come
  Duration reply_timeout = std::chrono::seconds(30);
  std::string from = "conformance@example.com";  // the header From; the envelope sender is its VERP form
  std::string domain = "conformance.test";       // recipients are at <behaviour>.<domain>
  std::vector<std::string> only;                 // check ids (or id prefixes ending in '.'); empty: all
};

// The harness's MX servers. Smarthost mode: one, "mx" on `listen`, answering by recipient domain
// (`reject.<domain>` refuses with 550, ...). DNS mode: that one on the first address after
// `mx_network`, and the servers of the mx.* checks on the next ones - "mx-a" and "mx-b" (two
// preferences), "busy" (greets with 421), "refusing" (greets with 554); the address after
// "mx-b" has no server (connections are refused).
struct MxServer {
  std::string node;              // the node's name, which StoredMessage::mx carries
  std::string host;              // its DNS name
  fake_mx::Behaviour behaviour;  // address and port set
};
std::vector<MxServer> mx_servers(const Options& options);
// DNS mode: the records the harness's DNS double serves - the behaviour domains, the VERP domain
// and the mx.* checks' domains, all routed to the servers above - by name.
std::map<std::string, io::DnsRecords> dns_records(const Options& options);

// What the relay said about itself in a first session: EHLO before and after STARTTLS.
struct Discovery {
  DialogueResult session;
  std::string greeting_host;
  std::map<std::string, std::string> extensions;      // keyword (upper case) -> parameters, before TLS
  std::map<std::string, std::string> tls_extensions;  // after STARTTLS (empty when it failed)
  bool reachable = false;
  std::optional<std::uint64_t> size_limit;  // SIZE's parameter, when it gave one above 0
};

// Names the probe resolves for itself: the relay record's host name, which the fake Salesforce org
// dials, at `relay`'s address (none when the relay is known only by its address).
std::map<std::string, io::DnsRecords> probe_dns_records(const Options& options);
// The longest a run may take: a safety net, since every check ends within its own waits.
Duration run_bound(const Options& options);

struct CheckResult {
  const Check* check = nullptr;
  Outcome outcome;
};

class Probe final : public io::Node {
 public:
  using Done = std::function<void(const std::vector<CheckResult>& results)>;
  // `store`: where the harness's fake MX keeps what the relay hands on.
  Probe(io::Io& io, Options options, const fake_mx::MailStore& store, Done done);
  ~Probe() override;
  void start() override;
  std::string status() const override;
  bool finished() const { return finished_; }
  const Discovery& discovery() const { return discovery_; }
  const Options& options() const { return options_; }
  Instant now() const { return io_.now(); }

  // --- for the checks
  // A session to the relay; `tls` and `source` as the check needs them.
  void dialogue(std::vector<Step> steps, const tls::Context* tls, std::optional<io::Address> source,
                Dialogue::Done done);
  // Waits until a message `wanted` picks has arrived at the harness's MX, or `within` has passed (null).
  using Wanted = std::function<bool(const fake_mx::StoredMessage& message)>;
  void await_message(Wanted wanted, Duration within, std::function<void(const fake_mx::StoredMessage*)> done);
  // Every message that arrived that `wanted` picks, now.
  std::vector<const fake_mx::StoredMessage*> arrived(const Wanted& wanted) const;
  void after(Duration delay, std::function<void()> handler);
  // Waits until `ready` holds (true), or `within` has passed (false).
  void await(std::function<bool()> ready, Duration within, std::function<void(bool ready)> done);
  // Hands one message for `rcpt` to the relay as a fake Salesforce org (fake_salesforce/) whose
  // Email Relay record names the relay with `setting` and the --auth credentials, and a filter
  // that sends everything through it; `done` gets the org's email log once its first attempt
  // has an outcome (or the wait ran out).
  void salesforce_send(const Check& check, salesforce::TlsSetting setting, const std::string& rcpt,
                       std::function<void(const salesforce::OrgState& org)> done);
  // The host name the org's relay record gives (resolved to `relay`'s address), or the address.
  std::string relay_host_for_salesforce() const;

  // Names unique to this run and check: "<check id>.<token>@<behaviour>.<domain>".
  std::string address(const Check& check, std::string_view behaviour, std::string_view suffix = {}) const;
  // The envelope sender for a check's message: Salesforce's VERP form of the From address.
  std::string verp_sender(const Check& check) const;
  std::string message_id(const Check& check) const;
  // A message as Salesforce composes one: headers, then `body` (CRLF line endings).
  std::string message(const Check& check, std::string_view to, std::string_view body = {}) const;
  // Greeting, EHLO, STARTTLS when offered (with `tls`), EHLO, AUTH when credentials were given:
  // a session ready for MAIL, as Salesforce's "Preferred" setting opens one.
  std::vector<Step> authorised_session(bool use_tls = true) const;
  std::string auth_plain_command(const smtp::Credentials& credentials) const;

 private:
  void discover();
  void run_checks();
  void poll();
  void check_done(std::size_t index, Outcome outcome);

  io::Io& io_;
  Options options_;
  const fake_mx::MailStore& store_;
  Done done_;
  std::string token_;
  Discovery discovery_;
  std::vector<CheckResult> results_;
  std::size_t running_ = 0;
  std::vector<std::unique_ptr<Dialogue>> dialogues_;
  struct Condition {
    std::function<bool()> ready;
    Instant deadline;
    std::function<void(bool)> done;
  };
  std::vector<std::unique_ptr<Condition>> conditions_;
  std::vector<std::unique_ptr<salesforce::OrgState>> org_states_;
  std::vector<std::unique_ptr<io::Node>> orgs_;
  std::vector<io::Pending> timers_;
  io::Pending poll_timer_;
  bool finished_ = false;
};

// EHLO's keywords (upper case) and their parameters, from its reply.
std::map<std::string, std::string> ehlo_extensions(const smtp::Reply& reply);

}  // namespace relaysim::conformance
