#pragma once
// What a fake MX does, as data: greylisting with postgrey's semantics, mailboxes with quotas,
// connection and rate limits, and rules that answer any reply (or drop the connection, or wait)
// at a stage of the session, for matching recipients, senders, clients, TLS states, message
// numbers or time windows - every Nth time, a given number of times, or with a probability drawn
// from the node's seeded stream. scenario/fake_mx_config.cpp reads it from JSON;
// docs/fake-mx.md documents every key; presets() gives receivers that answer like well-known
// providers.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/address.hpp"
#include "io/time.hpp"
#include "smtp/reply.hpp"
#include "smtp/server_session.hpp"

namespace relaysim::fake_mx {

struct Greylisting {
  bool enabled = false;
  Duration delay = std::chrono::seconds(300);      // a retry sooner is deferred again
  Duration retry_window = std::chrono::hours(48);  // a retry later starts over
  Duration max_age = std::chrono::hours(24 * 35);  // a passed triplet unseen this long is forgotten
  int auto_whitelist_clients = 5;  // passes (one an hour at most) after which a client skips greylisting; 0: never
  int ipv4_prefix = 24;            // client addresses reduced to their /24 ...
  int ipv6_prefix = 64;            // ... or /64
  // "<rcpt>: " is put in front of the text, as Postfix does for recipient rejections.
  smtp::Reply reply = smtp::Reply::make(
      450, "4.7.1", "Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/");
  bool operator==(const Greylisting&) const = default;
};

struct Mailboxes {
  std::vector<std::string> users;  // known addresses, lower case; empty: every address is known
  smtp::Reply unknown_user =
      smtp::Reply::make(550, "5.1.1", "Recipient address rejected: User unknown in virtual mailbox table");
  std::uint64_t quota_messages = 0;                                          // messages a mailbox holds; 0: no quota
  smtp::Reply over_quota = smtp::Reply::make(452, "4.2.2", "Mailbox full");  // or 552 5.2.2 for a permanent refusal
  bool name_recipient = true;  // put "<rcpt>: " in front of these replies, as Postfix does
};

struct Limits {
  int connections_per_client = 0;   // concurrent sessions per client address; 0: no limit
  int messages_per_connection = 0;  // MAIL commands per session; 0: no limit
  int messages_per_client = 0;      // MAIL commands per client address within `window`; 0: no limit
  Duration window = std::chrono::hours(1);
  smtp::Reply too_many_connections =
      smtp::Reply::make(421, "4.7.0", "Too many concurrent SMTP connections; please try again later");
  smtp::Reply rate_limited = smtp::Reply::make(
      421, "4.7.28", "Our system has detected an unusual rate of mail from your IP address; try again later");
};

// Email authentication at end of data (mailauth/): SPF for MAIL FROM (or HELO for <>), every
// DKIM signature, and DMARC for the From domain. What is kept gets an Authentication-Results
// header on top and lands in the inbox or the spam folder; DMARC's reject can refuse it.
struct Authentication {
  enum class Action : std::uint8_t { inbox, spam, reject };
  bool enabled = false;
  std::string authserv_id;                 // in Authentication-Results; empty: the hostname
  Action dmarc_reject = Action::reject;    // a DMARC fail under p=reject (after pct)
  Action dmarc_quarantine = Action::spam;  // a DMARC fail under p=quarantine (after pct)
  Action spf_fail = Action::inbox;         // an SPF fail that DMARC leaves undecided (no policy, p=none, or a pass)
  // "{domain}" stands for the From domain.
  smtp::Reply dmarc_reply = smtp::Reply::make(
      550, "5.7.26", "Unauthenticated email from {domain} is not accepted due to domain's DMARC policy");
  smtp::Reply spf_reply =
      smtp::Reply::make(550, "5.7.23", "The message was rejected because of Sender Policy Framework violation");
  bool operator==(const Authentication&) const = default;
};
std::string_view to_string(Authentication::Action action);

enum class Stage : std::uint8_t { connect, ehlo, starttls, mail, rcpt, data, end_of_data };
std::string_view to_string(Stage stage);

struct Match {
  std::string recipient;         // an address, lower case; empty: any
  std::string recipient_domain;  // a domain pattern ("*", "example.com", "*.example.com"); empty: any
  std::string sender;            // an address, or "<>" for the null sender; empty: any
  std::optional<io::Cidr> client;
  std::optional<bool> tls;         // whether the session is encrypted
  std::uint64_t message_from = 0;  // the message's number at this MX (1-based), inclusive; 0: any
  std::uint64_t message_to = 0;    // inclusive; 0: no upper bound
  std::optional<Instant> from;     // a time window
  std::optional<Instant> until;
};

enum class Action : std::uint8_t {
  reply,         // answer `reply` (2xx accepts - at EHLO, STARTTLS and DATA with the usual reply; 4xx and 5xx
                 // refuse; at connect a refusal replaces the greeting and ends the session)
  drop,          // reset the connection without a reply (at end of data: after the final dot)
  delay,         // answer normally, `delay` later (a tarpit)
  bounce_later,  // at end of data: accept with 250, then send a bounce to the sender `bounce.after` later
};

// A bounce sent after the message was accepted, as receivers that queue before checking do. It
// goes to the envelope sender's MX like any mail (never to <>), retried a few times if needed.
struct LateBounce {
  Duration after = std::chrono::minutes(10);
  std::string status = "5.1.1";
  std::string diagnostic = "550 5.1.1 The email account that you tried to reach does not exist";
  bool rfc3464 = true;  // false: a plain-text notice with no machine-readable report, as some receivers send
};

struct Rule {
  std::string name;  // for the trace
  Stage stage = Stage::rcpt;
  Match match;
  Action action = Action::reply;
  smtp::Reply reply;
  Duration delay{0};
  LateBounce bounce;
  int times = 0;                     // applies this many times, then never again; 0: no limit
  int every = 1;                     // applies to every Nth match (1: each)
  int probability_per_mille = 1000;  // drawn from the node's seeded stream
  bool drop_before_storing = false;  // a drop at end of data loses the message too (default: kept, the reply lost)
};

struct Behaviour {
  std::string hostname = "mx.localdomain";
  std::uint16_t port = 25;
  io::Address address = io::Address::any_v4();  // where it listens (real mode binds one address)
  bool starttls = false;                        // offered when the node has a TLS context too
  bool smtputf8 = true;                         // SMTPUTF8 offered (RFC 6531), as Gmail, Outlook and Postfix >= 3.0 do
  // A bare CR or LF in a message: refused with 521 (as Postfix's smtpd_forbid_bare_newline), or
  // taken as CRLF and noted on the stored message (a receiver that judges what its client sent).
  smtp::BareLineEndings bare_line_endings = smtp::BareLineEndings::reject;
  Greylisting greylisting;
  Mailboxes mailboxes;
  Limits limits;
  Authentication authentication;
  std::vector<Rule> rules;  // at each stage, the first rule that applies wins
};

// Receivers that answer like well-known providers: "gmail", "outlook", "postgrey" (Postfix with
// postgrey). Their replies are the real texts, multi-line where the provider's are.
std::optional<Behaviour> preset(std::string_view name);

}  // namespace relaysim::fake_mx
