#pragma once
// What a fake MX reports of itself: typed events (io/trace.hpp) that checks and coverage read.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "fake_mx/greylist.hpp"
#include "io/address.hpp"
#include "io/time.hpp"
#include "io/trace.hpp"
#include "smtp/server_session.hpp"

namespace relaysim::fake_mx::events {

// postgrey's decision for one (client, sender, recipient) triplet.
struct Greylisted {
  static constexpr std::string_view kind = "mx.greylist";
  const io::Address& client;
  std::string_view sender;  // "<>" for the null sender
  std::string_view rcpt;
  GreylistVerdict verdict = GreylistVerdict::first_seen;

  void write(io::TraceFieldList& fields) const;
};

// A message was put in the mail store (the 250 may still be dropped: `dropped_reply`).
struct MessageStored {
  static constexpr std::string_view kind = "mx.stored";
  std::uint64_t number = 0;
  std::string_view from;  // empty: <>
  std::size_t recipients = 0;
  std::size_t bytes = 0;
  bool tls = false;
  bool dropped_reply = false;
  std::string_view folder;

  void write(io::TraceFieldList& fields) const;
};

// A message accepted with 250 is to be bounced later (`scheduled`), or would be but its sender is <>.
struct LateBounce {
  bool scheduled = true;  // false: skipped, the sender is <>
  std::uint64_t number = 0;
  std::span<const smtp::Recipient> recipients;
  std::string_view to{};      // scheduled: the bounce's recipient
  Instant at{};               // scheduled: when it is sent
  std::string_view status{};  // scheduled: the status it reports

  void write(io::TraceFieldList& fields) const;
};
struct LateBounceScheduled : LateBounce {
  static constexpr std::string_view kind = "mx.bounce_scheduled";
};
struct LateBounceSkipped : LateBounce {
  static constexpr std::string_view kind = "mx.bounce_skipped";
};

// A late bounce reached the sender's MX.
struct LateBounceSent {
  static constexpr std::string_view kind = "mx.bounce_sent";
  std::string_view to;
  std::string_view host;
  int attempts = 0;

  void write(io::TraceFieldList& fields) const;
};

}  // namespace relaysim::fake_mx::events
