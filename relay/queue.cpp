// The queue's interface: finding, loading and storing messages, the cache of fresh ones, recording
// recipients' states. Where the bytes go: relay/queue/journal.cpp (segments with group commit) and
// relay/queue/message_files.cpp (a file per message); reading them back at start:
// relay/queue/recovery.cpp; operators' actions: relay/queue/operator.cpp.

#include "relay/queue.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "io/assert.hpp"
#include "relay/broken_variant.hpp"
#include "relay/events.hpp"
#include "relay/queue/format.hpp"
#include "relay/record.hpp"

namespace relaysim::relay {

using namespace queue_records;

Queue::Queue(io::Io& io, std::string directory, JournalOptions journal)
    : io_(io), directory_(std::move(directory)), random_(io.random_stream("queue-id")), journal_(journal) {}

QueueEntry* Queue::find_mutable(const QueueId& id) {
  std::unique_ptr<QueueEntry>* found = entries_.find(id);
  return found == nullptr ? nullptr : found->get();
}

const QueueEntry* Queue::find(const QueueId& id) const { return const_cast<Queue*>(this)->find_mutable(id); }

std::vector<QueueId> Queue::ids() const {
  std::vector<QueueId> sorted;
  sorted.reserve(entries_.size());
  entries_.for_each([&sorted](const QueueId& id, const auto&) { sorted.push_back(id); });
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

io::Result<QueuedMessage> Queue::load(const QueueId& id) {
  if (const auto found = fresh_.find(id); found != fresh_.end()) {
    QueuedMessage message = std::move(found->second);
    fresh_bytes_ -= message.content.size();
    fresh_.erase(found);
    return message;
  }
  if (const QueueEntry* entry = find(id); entry != nullptr && !entry->has_file) {
    auto record = journal_record(*entry);
    if (!record) return record.error();
    std::size_t consumed = 0;
    const auto view = read_record(record.value(), consumed);
    std::optional<QueuedMessage> message;
    if (view && view->kind == kind_message) message = decode_message(view->payload);
    if (!message || message->id != id)
      return io::Error{io::Errc::io_error, "the journal's record of " + id.to_string() + " is damaged"};
    message->size = message->content.size();
    return std::move(*message);
  }
  auto bytes = io_.read_file(path(id));
  if (!bytes) return bytes.error();
  auto message = replay_queue_file(bytes.value(), id);
  if (!message) return io::Error{io::Errc::io_error, "queue file " + id.to_string() + " is damaged"};
  return std::move(*message);
}

void Queue::keep_fresh(const QueueId& key, QueuedMessage message) {
  if (message.content.size() > fresh_bytes_max) return;
  fresh_bytes_ += message.content.size();
  fresh_[key] = std::move(message);
  while (fresh_bytes_ > fresh_bytes_max) {
    fresh_bytes_ -= fresh_.begin()->second.content.size();
    fresh_.erase(fresh_.begin());
  }
}

void Queue::forget_fresh(const QueueId& id) {
  if (const auto found = fresh_.find(id); found != fresh_.end()) {
    fresh_bytes_ -= found->second.content.size();
    fresh_.erase(found);
  }
}

QueueId Queue::allocate_id() {
  // Arrival time in microseconds, then a sequence and random bits: sortable, unique across restarts.
  const auto sequence = static_cast<std::uint32_t>(sequence_++ & 0xFFFF);
  const auto random = static_cast<std::uint32_t>(random_.below(0x10000));
  return QueueId{static_cast<std::uint64_t>(io_.now().unix_microseconds()), sequence << 16 | random};
}

void Queue::store(QueuedMessage message, StoreHandler on_durable) {
  if (message.id.none()) message.id = allocate_id();
  if (journal_.enabled) return store_in_journal(std::move(message), std::move(on_durable));
  store_in_file(std::move(message), std::move(on_durable));
}

void Queue::announce_stored(const QueuedMessage& message) { io_.observe(events::Stored{message}); }

void Queue::forget(const QueueId& key) {
  std::unique_ptr<QueueEntry>* found = entries_.find(key);
  if (found == nullptr) return;
  const QueueEntry entry = std::move(**found);
  entries_.erase(key);
  const bool in_journal = entry.segment != 0 && segments_.contains(entry.segment);
  if (!in_journal) {
    if (entry.has_file) (void)io_.remove_file(path(key));
    return;
  }
  // Its file may hold states newer than its journal record - a bounce already reported: were the
  // file's removal durable and the removal record not, a crash would bring the message back as
  // the journal has it. So the removal record is made durable first.
  append_removal(key, entry.segment, [this, key, has_file = entry.has_file](io::Status status) {
    if (status && has_file) (void)io_.remove_file(path(key));
  });
  if (entry.depends) depends_no_more(entry.segment, entry.record_bytes);
}

io::Result<std::string> Queue::content(const QueueId& id) {
  auto message = load(id);
  if (!message) return message.error();
  return std::move(message.value().content);
}

void Queue::update(const QueueId& id, std::size_t recipient, const QueuedRecipient& state, UpdateHandler on_durable) {
  update(id, std::vector<StateChange>{{recipient, state}}, std::move(on_durable));
}

void Queue::update(const QueueId& id, std::vector<StateChange> changes, UpdateHandler on_durable) {
  forget_fresh(id);
  QueueEntry* found = find_mutable(id);
  if (found == nullptr) return on_durable(io::Error{io::Errc::not_found, "no queued message " + id.to_string()});
  std::string records;
  for (const auto& [recipient, state] : changes) {
    if (recipient >= found->recipients.size()) {
      return on_durable(
          io::Error{io::Errc::not_found, "no recipient " + std::to_string(recipient) + " in " + id.to_string()});
    }
    Writer payload;
    payload.u32(static_cast<std::uint32_t>(recipient));
    write_state(payload, state);
    records += frame_record(kind_recipient_state, payload.bytes());
  }
  // The last recipients delivered: the file is removed without their state written first, as
  // Postfix removes a finished queue file without an fsync. Should a crash lose the removal, the
  // message comes back and is delivered again - at least once, never lost. Bounces are still
  // written first, so a crash cannot make a second notification.
  bool last_delivered = true;
  std::vector<bool> final_after(found->recipients.size());
  for (std::size_t i = 0; i < found->recipients.size(); ++i) {
    const RecipientState state = found->recipients[i].state;
    final_after[i] = state == RecipientState::delivered || state == RecipientState::bounced;
  }
  for (const auto& [recipient, state] : changes) {
    last_delivered = last_delivered && state.state == RecipientState::delivered;
    final_after[recipient] = state.state == RecipientState::delivered || state.state == RecipientState::bounced;
  }
  if (last_delivered && std::all_of(final_after.begin(), final_after.end(), [](bool final) { return final; })) {
    forget(id);
    return on_durable({});
  }
  append_durably(id, std::move(records), [this, id, changes = std::move(changes), on_durable](io::Status status) {
    if (status) {
      std::vector<std::size_t> finals;
      for (const auto& [recipient, state] : changes) {
        if (state.state == RecipientState::delivered || state.state == RecipientState::bounced)
          finals.push_back(recipient);
      }
      if (!finals.empty()) io_.observe(events::OutcomesRecorded{.id = id, .recipients = std::move(finals)});
      if (QueueEntry* entry = find_mutable(id)) {
        for (const auto& [recipient, state] : changes) {
          entry->recipients[recipient] = {state.next_attempt, state.state, state.delay_warned};
        }
        if (entry->finished()) forget(id);
      }
    }
    on_durable(status);
  });
}

void Queue::defer_in_memory(const QueueId& id, const std::vector<StateChange>& changes) {
  forget_fresh(id);
  QueueEntry* entry = find_mutable(id);
  if (entry == nullptr) return;
  for (const auto& [recipient, state] : changes) {
    RELAYSIM_ASSERT(state.state == RecipientState::deferred);
    if (recipient < entry->recipients.size())
      entry->recipients[recipient] = {state.next_attempt, state.state, state.delay_warned};
  }
}

}  // namespace relaysim::relay
