#pragma once
// The relay's configuration. Names follow Postfix where Postfix has the concept (mynetworks,
// message_size_limit, smtpd_recipient_limit, hopcount_limit, smtpd_tls_auth_only, ...).
// docs/relay.md documents every key of its JSON form; scenario/relay_config.cpp reads it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/address.hpp"
#include "io/time.hpp"
#include "mailauth/dkim.hpp"
#include "relay/broken_variant.hpp"
#include "smtp/client_session.hpp"
#include "smtp/limits.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::relay {

struct ListenerConfig {
  io::Endpoint address{io::Address::any_v4(), 25};
  bool implicit_tls = false;  // RFC 8314 submission over TLS (465); otherwise STARTTLS when a certificate is set
};

// Outbound TLS, per destination (Postfix's smtp_tls_security_level and its policy table).
enum class TlsLevel : std::uint8_t {
  none,     // never STARTTLS
  may,      // STARTTLS when offered; plaintext when not offered, refused, or the handshake fails
  encrypt,  // STARTTLS required, certificate not checked
  verify,   // STARTTLS required, certificate chain and the MX host name checked
  // DANE (RFC 7672), with Postfix's semantics: an MX host whose DNSSEC-validated TLSA records
  // are usable gets STARTTLS required and the certificate checked against them; one with
  // unusable records gets encrypt; one without (or outside DNSSEC) gets may. A TLSA lookup that
  // fails defers. Needs smtp_dns_support_level = dnssec, else it is may.
  dane,
  dane_only,  // DANE or nothing: a host without usable, validated TLSA records is not used
};
std::string_view to_string(TlsLevel level);

struct TlsPolicy {
  std::string domain;  // a domain pattern, as in recipient_domains
  TlsLevel level = TlsLevel::may;
};

// A static route (Postfix's transport_maps, and relayhost for "*"): mail for matching recipient
// domains - or, when `sender_domain` is set, from matching sender domains - goes to `nexthop`
// instead of the recipient domain's MX. With `mx_lookup` false (Postfix's "[host]" form) the
// host's addresses are used directly.
struct Transport {
  std::string recipient_domain = "*";
  std::string sender_domain;  // empty: any sender
  std::string nexthop;
  std::uint16_t port = 25;
  bool mx_lookup = false;
};

struct RelayConfig {
  std::string myhostname = "relay.localdomain";
  std::vector<ListenerConfig> listeners{ListenerConfig{}};
  // Clients allowed to relay without authenticating (Postfix's mynetworks). Empty: nobody.
  std::vector<io::Cidr> mynetworks;
  // AUTH users: name -> salted hash (relay/password.hpp). Empty: no AUTH offered.
  std::map<std::string, std::string> users;
  std::vector<std::string> auth_mechanisms{"PLAIN", "LOGIN"};
  bool smtpd_tls_auth_only = true;  // AUTH only after STARTTLS (or on an implicit-TLS listener)
  bool smtputf8_enable = true;      // SMTPUTF8 offered (RFC 6531), as Postfix >= 3.0 does
  // Domain patterns ("acme.example", "*.acme.example", "*"): envelope senders the relay accepts
  // from authorised clients, and recipient domains it relays to. Empty sender list: any sender.
  std::vector<std::string> sender_domains;
  std::vector<std::string> recipient_domains{"*"};
  std::size_t message_size_limit = smtp::message_size_bytes_default;
  std::size_t smtpd_recipient_limit = smtp::recipients_default_max;
  int smtpd_soft_error_limit = smtp::soft_error_limit_default;       // past it, each error reply waits...
  Duration smtpd_error_sleep_time = smtp::error_sleep_time_default;  // ...this long
  int smtpd_hard_error_limit = smtp::hard_error_limit_default;
  int smtpd_junk_command_limit = smtp::junk_command_limit_default;  // NOOP, RSET, VRFY; past it each is an error
  Duration smtpd_timeout = smtp::server_command_timeout;            // a silent client is told 421 after this long
  bool smtpd_per_record_deadline = false;  // smtpd_timeout restarts per line received, not per read
  int smtpd_auth_failure_limit = 3;        // failed AUTH attempts per session, then 421 and close
  // How long a password that verified is answered from memory (relay/password.hpp's
  // VerifiedPasswords, Dovecot's auth_cache_ttl); 0: every AUTH pays PBKDF2 in full.
  Duration smtpd_auth_cache_time = std::chrono::hours(1);
  int hopcount_limit = 50;  // Received: headers (RFC 5321 §6.3)
  // Connection and rate limits (Postfix's anvil). 0 turns a rate limit off.
  int smtpd_client_connection_count_limit = 50;  // concurrent sessions per client address
  // Clients the per-client count and rate limits never apply to; unset, mynetworks (Postfix's
  // default ${smtpd_client_connection_limit_exceptions:$mynetworks}): a trusted sender's burst -
  // Salesforce's ranges - is bounded only by smtpd_connection_limit.
  std::optional<std::vector<io::Cidr>> smtpd_client_event_limit_exceptions;
  // Concurrent sessions in all. Postfix's process limit is 100 because each session is a process;
  // here a session is a few hundred KiB at most outside DATA (docs/relay.md, "Under load and
  // attack"), so a trusted sender's burst of a thousand fits. At the limit, newcomers wait in the
  // listen backlog.
  int smtpd_connection_limit = 1000;
  // Of smtpd_connection_limit, sessions only clients in mynetworks or in
  // smtpd_client_event_limit_exceptions may take: the others are refused once the rest are in use,
  // so strangers cannot lock out the relay's own senders.
  int smtpd_trusted_connection_reserve = 100;
  // Stress: once the sessions open to strangers are all in use, sessions of clients neither in
  // mynetworks nor authenticated get these limits (Postfix's ${stress?...} defaults).
  Duration stress_smtpd_timeout = std::chrono::seconds(10);
  int stress_smtpd_hard_error_limit = 1;
  int stress_smtpd_junk_command_limit = 1;
  int smtpd_client_connection_rate_limit = 0;  // new sessions per client per anvil_rate_time_unit
  int smtpd_client_message_rate_limit = 0;     // messages per client per anvil_rate_time_unit
  Duration anvil_rate_time_unit = std::chrono::seconds(60);
  Duration smtpd_session_time_limit = std::chrono::minutes(30);  // longest session, then 421
  std::string queue_directory = "queue";
  // New messages are committed through a shared journal (relay/queue.hpp); false: each is written
  // and fsynced as a file of its own before its 250.
  bool queue_journal = true;

  // Delivery (the relay's second part). Defaults are Postfix's.
  Duration minimal_backoff_time = std::chrono::seconds(300);
  Duration maximal_backoff_time = std::chrono::seconds(4000);
  Duration maximal_queue_lifetime = std::chrono::hours(5 * 24);
  Duration bounce_queue_lifetime = std::chrono::hours(5 * 24);  // for notifications (sender <>)
  Duration delay_warning_time = Duration(0);                    // 0: no "delayed" notices
  int retry_jitter_percent = 10;           // each backoff delay moves by up to this much, within the bounds above
  int qmgr_message_active_limit = 20'000;  // messages being delivered at once (read, in jobs)
  int default_destination_concurrency_limit = 20;  // parallel deliveries per destination
  int default_destination_recipient_limit = 50;    // recipients per delivery
  int smtp_mx_address_limit = 5;                   // addresses tried per delivery
  int smtp_mx_session_limit = 2;                   // SMTP sessions per delivery
  Duration smtp_connection_reuse_time_limit = std::chrono::seconds(300);
  int smtp_connection_reuse_count_limit = 100;  // deliveries per connection
  // Postfix's on-demand connection cache: a connection whose job is done while its destination
  // is busy (other deliveries to it in flight, or jobs waiting) waits this long for the next job.
  bool smtp_connection_cache_on_demand = true;
  Duration smtp_connection_cache_time_limit = std::chrono::seconds(2);
  Duration smtp_connect_timeout = std::chrono::seconds(30);
  std::uint16_t smtp_port = 25;
  TlsLevel smtp_tls_security_level = TlsLevel::may;
  // Postfix's smtp_dns_support_level = dnssec: believe the resolver's AD bit (DNSSEC-validated
  // answers). Without it nothing is validated and dane is may (dane-only defers).
  bool smtp_dns_support_dnssec = false;
  int smtp_tls_loglevel = 0;  // 1: a log line for each TLS session, "Verified" or "Untrusted" (Postfix's)
  std::vector<TlsPolicy> smtp_tls_policy_maps;  // the most specific match wins over smtp_tls_security_level
  // MTA-STS (RFC 8461; Postfix applies it through postfix-mta-sts-resolver in smtp_tls_policy_maps):
  // a destination without an entry in smtp_tls_policy_maps, reached through its MX records, follows
  // the policy it publishes (relay/mta_sts.hpp). Policies are fetched with the trusted CAs.
  bool smtp_tls_mta_sts = false;
  Duration mta_sts_fetch_timeout = std::chrono::seconds(10);  // the policy's lookup, connection and answer
  std::uint16_t mta_sts_port = 443;                           // where policy hosts are dialled (443 but in tests)
  // TLS reporting (RFC 8460, relay/tls_report.hpp): Postfix's smtp_tlsrpt_enable; the rest are the
  // settings of sys4's tlsrpt-reportd, which sends Postfix's reports. Empty names default to myhostname.
  bool smtp_tlsrpt_enable = false;
  std::string tlsrpt_organization_name;  // organization-name
  std::string tlsrpt_contact_info;       // contact-info; empty: postmaster@<myhostname>
  std::string tlsrpt_sender_address;     // the From: of report mail; empty: noreply-smtp-tls-reporting@<myhostname>
  std::string tlsrpt_submitter;          // the Submitter in the subject and TLS-Report-Submitter
  Duration tlsrpt_report_delay = std::chrono::hours(1);  // reports leave this long after the UTC day ends
  std::vector<Transport> transport_maps;                 // first match wins over MX
  // Credentials for next hops of static routes, by next-hop name (Postfix's
  // smtp_sasl_password_maps). Sent only over TLS: a route with credentials requires STARTTLS.
  std::map<std::string, smtp::Credentials> smtp_sasl_password_maps;
  // DKIM signing of accepted mail by its From domain (OpenDKIM's SigningTable), before it is
  // queued; the first matching entry signs. Empty: the relay signs nothing.
  std::vector<mailauth::DkimSigning> dkim_signing;
  // A deliberately broken relay, for proving that exploration catches it (relay/broken_variant.hpp).
  // Never read from a configuration file: only test code sets it, through scenario::load_world.
  BrokenVariant broken_variant = BrokenVariant::none;
};

// The TLS level for a destination domain.
TlsLevel tls_level_for(const RelayConfig& config, std::string_view domain);
// Whether smtp_tls_policy_maps names the domain (an entry there overrides what the domain publishes).
bool has_tls_policy(const RelayConfig& config, std::string_view domain);

// Domain patterns (smtp/syntax.hpp): "*", "example.com", "*.example.com".
using smtp::any_domain_matches;
using smtp::domain_matches;

}  // namespace relaysim::relay
