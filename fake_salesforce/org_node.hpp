#pragma once
// fake_salesforce: an org that sends the way Salesforce does, as a node.
//
// Each send is checked at the source (deliverability access level, daily limits per GMT day),
// composed with the headers Salesforce adds (Message-ID, Date from the node's clock, X-SFDC-*),
// and split per recipient by the Email Domain Filters: a recipient whose (sender domain,
// recipient domain) matches an active filter goes through that filter's Email Relay, the others
// through Salesforce's own servers, which deliver straight to the recipient's MX. With bounce
// management on, every recipient gets its own envelope with a VERP return path under
// bnc.salesforce.com; otherwise the envelope sender is the From address.
//
// Each envelope is handed over with the relay record's TLS setting and SMTP auth, from an
// address in the org's sending ranges; a 4xx or an unreachable relay is retried on Salesforce's
// schedule, a 5xx fails at once. The email log records every step in words a Salesforce admin
// knows. The bounce inbox receives DSNs for the VERP addresses and marks the contacts bounced.
// Test Deliverability sends one message per sending range.
//
// What Salesforce keeps in its database - the email log, the outbox, bounced contacts - lives in
// an OrgState outside the node, so that it outlives a crash of the node, and tests and scenarios
// can read it.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fake_salesforce/org.hpp"
#include "io/io.hpp"
#include "smtp/syntax.hpp"
#include "tls/engine.hpp"

namespace relaysim::salesforce {

struct Attachment {
  std::string name = "attachment.pdf";
  std::string type = "application/pdf";
  std::size_t bytes = 10'000;
};

// One send: what a user, a workflow or Apex asks Salesforce to send.
struct Send {
  Instant at;
  Category category = Category::single;
  smtp::Mailbox from;
  std::string from_name;
  std::vector<smtp::Mailbox> to;
  std::string subject = "Test message";
  std::string body = "This is a test message.";
  std::size_t body_bytes = 0;  // pad the body to at least this size
  std::vector<Attachment> attachments;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, after Salesforce's
  std::string label;  // the scenario's name for this send: "renewals", or "renewals[12]" for a generator's 12th
};

// Setup -> Test Deliverability: one message per sending range to `to`.
struct DeliverabilityTest {
  Instant at;
  smtp::Mailbox to;
};

struct OrgConfig {
  Org org;
  std::vector<Send> traffic;
  std::vector<DeliverabilityTest> deliverability_tests;
  // Real mode: a machine has no address in Salesforce's ranges, so Test Deliverability sends each
  // range's message from the machine's own address instead of skipping the range.
  bool deliverability_from_own_address = false;
};

// What a row of the email log says happened to a recipient.
enum class EmailLogEvent : std::uint8_t {
  accepted,           // the send was taken and routed (to a relay or Salesforce's own servers)
  refused,            // the send was refused at the source: access level or daily limit
  delivered,          // handed over with a 250
  transient_failure,  // a 4xx or no answer; retried on Salesforce's schedule
  permanent_failure,  // a 5xx
  given_up,           // the retry schedule ran out; nothing bounced
  bounced,            // a bounce reached the bounce inbox and marked the contact
  notice_received,    // a delivery status notification that marks nothing (delayed, relayed)
};
// As Salesforce's email log words it: "Accepted", "Transient failure", "Given up", ...
std::string_view to_string(EmailLogEvent event);
std::optional<EmailLogEvent> email_log_event_named(std::string_view name);
// Delivered, failed for good or given up: nothing more will happen to the recipient.
inline bool is_final(EmailLogEvent event) {
  return event == EmailLogEvent::delivered || event == EmailLogEvent::permanent_failure ||
         event == EmailLogEvent::given_up;
}
// An attempt to hand the recipient over was made.
inline bool is_attempt(EmailLogEvent event) { return is_final(event) || event == EmailLogEvent::transient_failure; }

// A row of the email log, as Salesforce's email log reports it.
struct LogEntry {
  Instant at;
  std::string email;  // the internal message id; refused sends have one too
  std::string recipient;
  EmailLogEvent event = EmailLogEvent::accepted;
  std::string path;    // the relay's name, or "Salesforce" for Salesforce's own servers
  std::string server;  // the server that answered: "relay.acme.example[198.51.100.10]:587"
  std::string detail;  // the reply or the reason
  int attempt = 0;
  bool tls = false;           // the attempt's session was encrypted (whatever became of it afterwards)
  bool tls_verified = false;  // ...and the server's certificate verified
  std::optional<io::Endpoint> server_endpoint{};  // the address of `server`, when a connection was made
  std::string queue_id{};  // delivered: the id the server named in its 250 ("queued as ..."); empty if none
  std::string status{};    // the enhanced status of the deciding reply ("5.1.1"); empty when no server replied
};

struct BouncedContact {
  Instant at;
  std::string contact;
  std::string email;   // the internal message id the bounce was about
  std::string status;  // "5.1.1", or "" when the bounce was not a DSN
  std::string reason;
};

struct DeliverabilityResult {
  Instant at;
  std::string range;   // the sending range, "13.108.0.0/14"
  std::string source;  // the address the message was sent from; empty when the host has none in the range
  std::string email;   // the internal message id of the test message
};

// One envelope of a send: the recipients that go the same way with the same return path.
struct Envelope {
  std::string token;      // for VERP and the log
  std::size_t email = 0;  // index into OrgState::emails
  std::string relay;      // the relay's name; empty: Salesforce's own servers
  std::optional<smtp::Mailbox> sender;
  std::vector<smtp::Mailbox> recipients;  // still open
  std::optional<io::Address> source;
  int attempts = 0;
  Instant first_attempt;
  Instant next_attempt;
  bool done = false;
};

struct Email {
  std::string id;  // the internal message id
  Category category = Category::single;
  Instant created;
  std::string content;  // empty for a refused send
  smtp::Mailbox from;
  std::string subject;
  std::string send;  // the send's label in the scenario; empty when it has none
  bool refused = false;
};

struct OrgCounters {
  std::uint64_t sends = 0;       // sends asked for
  std::uint64_t refused = 0;     // refused at the source (limits, access)
  std::uint64_t recipients = 0;  // recipients accepted for sending
  std::uint64_t delivered = 0;   // recipients handed over with a 250
  std::uint64_t failed = 0;      // recipients that failed permanently (5xx)
  std::uint64_t given_up = 0;    // recipients given up after the retry schedule
  std::uint64_t bounces = 0;     // bounce messages received in the inbox
};

class OrgState {
 public:
  std::vector<Email> emails;
  std::vector<Envelope> envelopes;
  std::vector<LogEntry> log;
  std::map<std::string, BouncedContact> bounced_contacts;  // by lower-case address
  std::vector<DeliverabilityResult> deliverability;
  std::map<std::pair<Category, std::int64_t>, std::uint64_t> sent_per_day;  // (limit bucket, GMT day)
  std::map<std::string, std::size_t> envelope_by_token;
  std::size_t traffic_started = 0;  // sends already taken from the traffic list
  std::size_t tests_started = 0;
  OrgCounters counters;

  bool contact_bounced(std::string_view address) const;
  std::vector<const LogEntry*> log_for(std::string_view recipient) const;
};

struct OrgTls {
  const tls::Context* plain = nullptr;   // Preferred and Required: encrypt, check nothing
  const tls::Context* verify = nullptr;  // the Verify settings: the chain and the name
};

std::unique_ptr<io::Node> make_org_node(io::Io& io, const OrgConfig& config, OrgTls tls, OrgState& state);

}  // namespace relaysim::salesforce
