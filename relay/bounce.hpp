#pragma once
// What the relay tells a sender about its message (RFC 3461, RFC 3464): which notices an outcome
// calls for, what a notice says, and to whom it goes.
//
// - A failure (a 5xx, or a temporary failure past the queue lifetime: 4.4.7) is reported unless
//   the recipient asked NOTIFY=NEVER or named other kinds only; a delay once, after
//   delay_warning_time, unless NOTIFY leaves DELAY out; a success only with NOTIFY=SUCCESS, and
//   only when the next server did not take the DSN request on itself ("relayed").
// - A notice goes to the message's envelope sender, never to <>: the caller drops (and logs)
//   notices about a notification. It returns the headers alone unless the failure's RET asked for
//   the full message; a delay or success notice always returns the headers alone.

#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "io/time.hpp"
#include "relay/config.hpp"
#include "relay/delivery.hpp"
#include "relay/queue.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::relay {

// One notice to send: its kind and the recipients it reports (indices into the queued message).
struct Notice {
  smtp::DsnAction action = smtp::DsnAction::failed;
  std::vector<std::size_t> recipients;
};

// The notices one delivery's outcomes call for, by kind.
struct Notices {
  Notice failed{smtp::DsnAction::failed, {}};
  Notice delayed{smtp::DsnAction::delayed, {}};
  Notice relayed{smtp::DsnAction::relayed, {}};

  std::array<Notice*, 3> all() { return {&failed, &delayed, &relayed}; }
};

// Whether a recipient with these DSN parameters is to be told of this kind of outcome.
bool wants_notice(const RelayConfig& config, const smtp::RecipientParameters& dsn, smtp::DsnAction action);

// The notice as a message to queue from <>: addressed to the envelope sender of `about`, with the
// report of each of `notice.recipients` (their outcomes in `outcomes`, 4.4.7 already set for those
// that expired). `until`: when the relay gives up, for a delay notice's Will-Retry-Until.
QueuedMessage notice_message(const RelayConfig& config, const QueuedMessage& about, const Notice& notice,
                             const std::map<std::size_t, RecipientOutcome>& outcomes, Instant now, Instant until,
                             const QueueId& id);

}  // namespace relaysim::relay
