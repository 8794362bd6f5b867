#pragma once
// What the relay reports of itself: typed events (io/trace.hpp). Each is one step a check, a
// report or a person may want to see; its trace line is what `write` gives, and in-process
// observers (scenario/, explore/, cli/) read its members. docs/scenario-format.md ("Trace") lists
// the trace lines.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/address.hpp"
#include "io/time.hpp"
#include "io/trace.hpp"
#include "relay/delivery.hpp"
#include "relay/queue.hpp"
#include "relay/routing.hpp"
#include "smtp/client_session.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::relay::events {

// A message is durable in the queue: a client's message at its 250, or the relay's own notice.
struct Stored {
  static constexpr std::string_view kind = "queue.stored";
  const QueuedMessage& message;  // client_address empty: the relay's own notification

  void write(io::TraceFieldList& fields) const;
};

// The queue was read back at start: what it holds, what was torn and dropped.
struct Recovered {
  static constexpr std::string_view kind = "queue.recovered";
  std::size_t messages = 0;
  std::size_t discarded = 0;
  std::size_t finished = 0;
  // The queue ids read back (for typed observers; not in the trace line). A crash between a
  // group commit and the 250s it releases leaves messages here that no client was told of.
  const std::vector<QueueId>& ids;

  void write(io::TraceFieldList& fields) const;
};

// A message's destination was looked up: deliver to hops, defer or bounce.
struct Routed {
  static constexpr std::string_view kind = "relay.route";
  QueueId id;
  std::string_view domain;
  Route::Kind route = Route::Kind::deliver;
  std::string_view why;
  std::string_view status;   // defer or bounce: the enhanced status code
  bool implicit_mx = false;  // not in the trace line: its `why` says so
  bool static_route =
      false;  // transport_maps or relayhost, not the domain's MX records; not in the trace line: its `why` says so

  void write(io::TraceFieldList& fields) const;
};

// A destination's MTA-STS policy was looked up for a job (smtp_tls_mta_sts).
struct MtaStsApplied {
  static constexpr std::string_view kind = "relay.mta_sts";
  QueueId id;
  std::string_view domain;
  std::string_view mode;       // "enforce", "testing", "none", or "absent" (no policy)
  std::string_view policy_id;  // empty without a policy
  std::string_view how;        // "fetched", "cached", "cached; policy fetch failed: ...", "no v=STSv1 record"

  void write(io::TraceFieldList& fields) const;
};

// A connection to a hop is opened (for the job `id`, empty when it was opened for none).
struct Connecting {
  static constexpr std::string_view kind = "relay.connect";
  std::optional<QueueId> id;  // none: a connection opened for no job
  std::string_view hop;       // "mx.example.com[192.0.2.1]:25"
  int preference = 0;
  TlsLevel tls = TlsLevel::may;
  bool plaintext_fallback = false;

  void write(io::TraceFieldList& fields) const;
};

// A session with a hop failed as a whole; the delivery moves on to the next hop or retries in plaintext.
struct HopFailed {
  static constexpr std::string_view kind = "relay.hop_failed";
  std::optional<QueueId> id;  // none: a connection opened for no job
  std::string_view hop;
  smtp::Stage stage = smtp::Stage::connect;
  std::string_view status;
  std::string_view reason;
  bool next_hop = true;  // false: the same hop again, in plaintext
  // Not in the trace line (its reason says so): the host was not tried at all, its TLS requirements
  // being out of reach (DANE, MTA-STS), and its MX preference - for checks that follow the order.
  bool skipped = false;
  int preference = 0;

  void write(io::TraceFieldList& fields) const;
};

// No server of a destination answered: it is deferred without trying until `until`.
struct DestinationDead {
  static constexpr std::string_view kind = "relay.destination_dead";
  std::string_view destination;
  Instant until;
  std::string_view reason;

  void write(io::TraceFieldList& fields) const;
};

// A message with a deferred recipient is planned for another attempt at `next`.
struct RetryPlanned {
  static constexpr std::string_view kind = "relay.retry";
  QueueId id;
  Instant next;
  std::string_view why;

  void write(io::TraceFieldList& fields) const;
};

// What an attempt came to for one recipient, and the state it leaves the recipient in.
struct RecipientSettled {
  static constexpr std::string_view kind = "relay.outcome";
  QueueId id;
  std::string_view rcpt;
  const RecipientOutcome& outcome;
  RecipientState state = RecipientState::queued;
  std::string_view status;  // the outcome's, or 4.4.7 when the queue lifetime ran out
  bool attempted = true;    // false: settled without a delivery attempt (a route, a dead destination)

  void write(io::TraceFieldList& fields) const;
};

// The final states of these recipients of message `id` (their positions in the message, from 0)
// are durable: a crash from here on does not make the relay deliver or bounce them again. A
// message whose last recipients are delivered is removed instead, without this record (as
// Postfix removes a finished queue file): a crash may bring it back, delivered twice.
struct OutcomesRecorded {
  static constexpr std::string_view kind = "queue.recorded";
  QueueId id;
  std::vector<std::size_t> recipients;

  void write(io::TraceFieldList& fields) const;
};

// A notification (bounce, delay notice, relayed notice) about message `id` is queued as `dsn`.
struct NoticeQueued {
  static constexpr std::string_view kind = "relay.dsn";
  QueueId id;
  QueueId dsn;
  smtp::DsnAction action = smtp::DsnAction::failed;
  const smtp::Mailbox& to;           // the notice's recipient: the message's envelope sender
  std::vector<std::string> about{};  // the recipients it reports on (for typed observers; not in the trace line)

  void write(io::TraceFieldList& fields) const;
};

}  // namespace relaysim::relay::events
