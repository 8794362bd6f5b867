#pragma once
// The relay's log lines about its queue, in Postfix's forms, so that what reads a Postfix maillog
// (an admin's grep, `relaysim import maillog`, a log expectation) reads the relay's:
//
//   4F2A...: to=<ann@dest.example>, relay=mx.dest.example[192.0.2.25]:25, delay=1.20, dsn=2.0.0, status=sent (250 2.0.0 Ok)
//   4F2A...: sender non-delivery notification: 4F2B...
//   4F2A...: removed

#include <string>
#include <string_view>

#include "io/time.hpp"
#include "relay/queue_id.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::relay::maillog {

// Postfix's delay= field: seconds with two decimals.
std::string format_delay(Duration delay);

// One recipient's attempt. `status` is Postfix's word: sent, bounced, deferred, or expired (which
// Postfix writes "expired, returned to sender").
struct Delivery {
  QueueId id;
  std::string_view to;
  std::string_view orig_to;  // ORCPT; empty: none
  std::string_view relay;    // "mx.example.com[192.0.2.1]:25" or "none"
  std::string_view delay;    // format_delay's
  std::string_view dsn;      // the enhanced status
  std::string_view status;
  std::string_view reason;  // the reply or what went wrong
};
// Written into `line` (cleared first), whose capacity a caller logging many reuses.
void delivery(std::string& line, const Delivery& fields);

std::string possible_duplicate(const QueueId& id, std::string_view to);
std::string notice_dropped(const QueueId& id, std::string_view to);
std::string notice_queued(const QueueId& id, smtp::DsnAction action, const QueueId& notice_id);
std::string removed(const QueueId& id);

}  // namespace relaysim::relay::maillog
