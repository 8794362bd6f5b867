#pragma once
// The relay's configuration. Names follow Postfix where Postfix has the concept (mynetworks,
// message_size_limit, smtpd_recipient_limit, hopcount_limit, smtpd_tls_auth_only, ...).
// docs/relay.md documents every key of its JSON form; scenario/relay_config.cpp reads it.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/address.hpp"
#include "io/time.hpp"
#include "smtp/limits.hpp"

namespace relaysim::relay {

struct ListenerConfig {
  io::Endpoint address{io::Address::any_v4(), 25};
  bool implicit_tls = false;  // RFC 8314 submission over TLS (465); otherwise STARTTLS when a certificate is set
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
  // Domain patterns ("acme.example", "*.acme.example", "*"): envelope senders the relay accepts
  // from authorised clients, and recipient domains it relays to. Empty sender list: any sender.
  std::vector<std::string> sender_domains;
  std::vector<std::string> recipient_domains{"*"};
  std::size_t message_size_limit = smtp::message_size_bytes_default;
  std::size_t smtpd_recipient_limit = smtp::recipients_default_max;
  int smtpd_soft_error_limit = smtp::soft_error_limit_default;  // past it, each error reply waits...
  Duration smtpd_error_sleep_time = smtp::error_sleep_time_default;  // ...this long
  int smtpd_hard_error_limit = smtp::hard_error_limit_default;
  int smtpd_auth_failure_limit = 3;  // failed AUTH attempts per session, then 421 and close
  int hopcount_limit = 50;           // Received: headers (RFC 5321 §6.3)
  // Connection and rate limits (Postfix's anvil). 0 turns a rate limit off.
  int smtpd_client_connection_count_limit = 50;  // concurrent sessions per client address
  int smtpd_connection_limit = 100;              // concurrent sessions in all (Postfix: the process limit)
  int smtpd_client_connection_rate_limit = 0;    // new sessions per client per anvil_rate_time_unit
  int smtpd_client_message_rate_limit = 0;       // messages per client per anvil_rate_time_unit
  Duration anvil_rate_time_unit = std::chrono::seconds(60);
  Duration smtpd_session_time_limit = std::chrono::minutes(30);  // longest session, then 421
  std::string queue_directory = "queue";
};

// "*" matches every domain; "example.com" that domain only; "*.example.com" its subdomains only.
// Case-insensitive. (The same rule as Salesforce's Email Domain Filters.)
bool domain_matches(std::string_view pattern, std::string_view domain);
bool any_domain_matches(const std::vector<std::string>& patterns, std::string_view domain);

}  // namespace relaysim::relay
