#include "relay/broken_variant.hpp"

namespace relaysim::relay {

std::string_view to_string(BrokenVariant variant) {
  switch (variant) {
    case BrokenVariant::none: return "none";
    case BrokenVariant::no_backoff: return "no_backoff";
    case BrokenVariant::ack_before_fsync: return "ack_before_fsync";
    case BrokenVariant::ignore_mx_preference: return "ignore_mx_preference";
    case BrokenVariant::rcpt_5xx_as_4xx: return "rcpt_5xx_as_4xx";
    case BrokenVariant::never_expire: return "never_expire";
    case BrokenVariant::bounce_loop: return "bounce_loop";
    case BrokenVariant::drop_last_recipient: return "drop_last_recipient";
    case BrokenVariant::notice_to_header_from: return "notice_to_header_from";
    case BrokenVariant::early_expiry: return "early_expiry";
    case BrokenVariant::delay_notice_every_deferral: return "delay_notice_every_deferral";
    case BrokenVariant::null_mx_as_implicit: return "null_mx_as_implicit";
    case BrokenVariant::mynetworks_one_bit_short: return "mynetworks_one_bit_short";
    case BrokenVariant::filter_priority_reversed: return "filter_priority_reversed";
    case BrokenVariant::notify_ignored: return "notify_ignored";
    case BrokenVariant::recovery_drops_last_change: return "recovery_drops_last_change";
    case BrokenVariant::dead_destination_forever: return "dead_destination_forever";
    case BrokenVariant::tlsa_ignored: return "tlsa_ignored";
    case BrokenVariant::mta_sts_ignored: return "mta_sts_ignored";
  }
  return "?";
}

}  // namespace relaysim::relay
