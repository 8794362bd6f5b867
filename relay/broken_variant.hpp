#pragma once
// Deliberately broken relays (and one broken Salesforce org), to prove that exploration
// (docs/explore.md) finds real bugs. Each variant breaks one rule the node keeps. A variant is a
// setting of one relay (RelayConfig::broken_variant) or org (Org::broken_variant), per world: no
// configuration file or scenario can name one; scenario::load_world sets it when test code asks
// (tests/explore/broken_variants_test.cpp, through explore::explore).

#include <cstdint>
#include <string_view>

namespace relaysim::relay {

enum class BrokenVariant : std::uint8_t {
  none,
  no_backoff,             // retries 30 seconds after any failure
  ack_before_fsync,       // answers 250 before the message is durable
  ignore_mx_preference,   // tries MX hosts from the highest preference value down
  rcpt_5xx_as_4xx,        // keeps a recipient refused with 5xx at RCPT for another try
  never_expire,           // retries past maximal_queue_lifetime and never returns the mail
  bounce_loop,            // returns an undeliverable notification to its own recipient: a bounce of a bounce
  drop_last_recipient,    // leaves the last recipient of a multi-recipient transaction out, and calls it delivered
  notice_to_header_from,  // sends notifications to the message's From: header instead of its envelope sender
  early_expiry,           // compares the age against half the queue lifetime: 4.4.7 bounces come early
  delay_notice_every_deferral,  // sends a delay notice on every deferral after delay_warning_time, not once
  null_mx_as_implicit,          // reads a null MX as no MX records, and delivers to the domain's own address
  mynetworks_one_bit_short,     // matches mynetworks one prefix bit short: the neighbouring network is trusted too
  notify_ignored,  // sends notices as if no recipient had given NOTIFY, and returns full bodies whatever RET says
  recovery_drops_last_change,  // reads a queue file back at start without its last recipient state: recorded outcomes come undone
  dead_destination_forever,  // a destination no server answered for stays dead: its mail waits, untried, until it expires
  tlsa_ignored,              // never looks up TLSA records: dane and dane-only deliver as may does
  mta_sts_ignored,           // never looks up MTA-STS policies: an enforce policy's domain gets the default level
  // The Salesforce org's (fake_salesforce includes this header for its own variant, and links nothing of the relay):
  filter_priority_reversed,  // the org's Email Domain Filters evaluated from the highest priority number down
};
std::string_view to_string(BrokenVariant variant);

}  // namespace relaysim::relay
