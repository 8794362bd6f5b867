#pragma once
// The relay's durable queue. One file per message in the queue directory, append-only: a message
// record (envelope, recipients, content) followed by recipient state records. A message is stored
// with write, fsync, then an fsync of the directory - only then is it reported durable, and only
// then may the relay answer 250. State changes are appended and fsynced the same way. Recovery
// replays each file: a file whose message record is torn or corrupt was never acknowledged and is
// discarded; a torn state record at the end was never completed and is ignored. A message leaves
// the queue when every recipient is final (delivered or bounced).
//
// Why this layout (docs/relay.md has the longer version): the only rename-free scheme in which
// every acknowledged message is exactly one self-checking file; recovery needs no index; an
// operator can list, show, hold, release and delete messages by file.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/io.hpp"
#include "smtp/server_session.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::relay {

enum class RecipientState : std::uint8_t { queued, deferred, delivered, bounced };
std::string_view to_string(RecipientState state);

struct QueuedRecipient {
  smtp::Recipient recipient;
  RecipientState state = RecipientState::queued;
  int attempts = 0;
  Instant next_attempt;     // for queued and deferred
  std::string last_reply;   // the last reply or reason, for logs and DSNs
  bool delay_warned = false;  // a "delayed" notice went to the sender
};

struct QueuedMessage {
  std::string id;
  Instant arrival;
  std::optional<smtp::Mailbox> sender;  // empty: the null sender <>
  smtp::MailParameters parameters;
  std::vector<QueuedRecipient> recipients;
  std::string content;  // empty for messages the queue holds: content(id) reads it from disk
  std::uint64_t size = 0;  // the content's bytes
  std::string client_address;
  std::string helo;
  std::string authenticated_user;
  bool held = false;

  bool finished() const;  // every recipient delivered or bounced
};

struct RecoveryReport {
  std::size_t recovered = 0;
  std::size_t discarded = 0;  // torn or corrupt message records: never acknowledged
  std::size_t finished = 0;   // complete messages whose recipients were all final: removed
  std::vector<std::string> problems;
};

class Queue {
 public:
  using StoreHandler = std::function<void(io::Result<std::string> id)>;
  using UpdateHandler = std::function<void(io::Status status)>;

  Queue(io::Io& io, std::string directory);

  // Reads back everything durable. Call once, before storing. With `repair` (the relay's own
  // start), torn files and finished messages are removed; without it (an operator looking at a
  // live queue), nothing is touched.
  RecoveryReport recover(bool repair = true);

  // Handlers run from the event loop, or at once for an immediate error. The queue owns the
  // operations in flight (they end with it); a handler must check that what it captured still
  // lives.

  // Stores a new message; `on_durable` gets its id once it is on disk for good, or the error.
  // The message's id, if empty, is assigned here.
  void store(QueuedMessage message, StoreHandler on_durable);
  // Records one recipient's new state; durable when the handler gets ok.
  void update(const std::string& id, std::size_t recipient, const QueuedRecipient& state, UpdateHandler on_durable);
  // Records several recipients' new states with one append and one fsync.
  using StateChange = std::pair<std::size_t, QueuedRecipient>;
  void update(const std::string& id, std::vector<StateChange> changes, UpdateHandler on_durable);
  // Operator actions; durable like updates.
  void set_held(const std::string& id, bool held, UpdateHandler on_durable);
  io::Status remove(const std::string& id);

  // A fresh id (the store assigns one when the message has none): sortable by arrival, unique
  // across restarts.
  std::string allocate_id();

  // The queue's messages without their content (which stays on disk), by id.
  const std::map<std::string, QueuedMessage>& messages() const { return messages_; }
  // A queued message's content, read from its file.
  io::Result<std::string> content(const std::string& id);
  const QueuedMessage* find(const std::string& id) const;
  std::size_t operations_in_flight() const { return operations_.size(); }

 private:
  std::string path(const std::string& id) const { return directory_ + "/" + id; }
  void append_durably(const std::string& id, std::string record, UpdateHandler on_durable);

  io::Io& io_;
  std::string directory_;
  io::Random random_;
  QueuedMessage* find_mutable(const std::string& id);
  void insert_message(QueuedMessage message);
  void erase_message(const std::string& id);

  std::map<std::string, QueuedMessage> messages_;  // the durable state, by id (ids sort by arrival)
  // Lookups by id: hashed, since ids made close in time share long prefixes that make ordered
  // comparisons slow in a large queue.
  std::unordered_map<std::string, QueuedMessage*> index_;

  std::uint64_t sequence_ = 0;
  struct Operation {
    std::unique_ptr<io::File> file;  // open until its sync completes
    io::Pending pending;
  };
  std::map<std::uint64_t, Operation> operations_;  // fsyncs in flight
  std::uint64_t next_operation_ = 1;
};

// Serialisation, exposed for the operator tools and tests.
std::string encode_message(const QueuedMessage& message);
std::optional<QueuedMessage> decode_message(std::string_view payload);

}  // namespace relaysim::relay
