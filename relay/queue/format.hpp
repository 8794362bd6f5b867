#pragma once
// The queue's record kinds and the writers the queue's files share (relay/queue/format.cpp).
// Internal to the queue: relay/queue.hpp is its interface.

#include <cstdint>
#include <string_view>

#include "relay/queue.hpp"
#include "relay/record.hpp"

namespace relaysim::relay::queue_records {

constexpr std::uint8_t kind_message = 1;
constexpr std::uint8_t kind_recipient_state = 2;
constexpr std::uint8_t kind_hold = 3;
constexpr std::uint8_t kind_removed = 4;  // journal only: the message left the queue

void write_state(Writer& out, const QueuedRecipient& recipient);
void write_message(Writer& out, const QueuedMessage& message);
// A generous guess at a message record's size, to reserve it at once.
std::size_t encoded_size_estimate(const QueuedMessage& message);
// The recovery_drops_last_change variant: a queue file as if its last recipient state were not there.
std::string_view without_last_state(std::string_view bytes);

}  // namespace relaysim::relay::queue_records
