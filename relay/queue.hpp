#pragma once
// The relay's durable queue. One file per message in the queue directory, append-only: a message
// record (envelope, recipients, content) followed by recipient state records. Recovery replays
// each file: a file whose message record is torn or corrupt was never acknowledged and is
// discarded; a torn state record was never completed and is skipped. A message leaves the queue
// when every recipient is final (delivered or bounced). In memory the queue keeps a compact
// summary per message (QueueEntry); load() reads the whole message back.
//
// A new message is made durable in one of two ways, and only then may the relay answer 250:
// - With the journal (the default): its record is appended to the current segment of a shared
//   journal (`<queue>/journal/`), and one fsync of the segment commits every message appended
//   since the last - group commit across sessions. A message delivered at once never gets a file
//   of its own: a "removal record" in its segment ends it. One that changes (a deferral, a
//   bounce, a hold) is written to its own file, fsynced, at its first change. A segment is
//   deleted once no message depends on it; a retired one that is mostly dead gives the few left
//   files of their own.
// - Without it: the message's own file is written, fsynced, then the directory is fsynced.
// State changes are appended to the message's file and fsynced.
//
// Why this layout (docs/relay.md has the longer version): every message that outlives its first
// moments is exactly one self-checking file, so recovery needs no index and an operator can list,
// show, hold, release and delete messages by file; the journal keeps file creation and its
// fsyncs off the path of the many messages that are delivered at once.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/io.hpp"
#include "relay/broken_variant.hpp"
#include "relay/id_table.hpp"
#include "relay/queue_id.hpp"
#include "smtp/server_session.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::relay {

enum class RecipientState : std::uint8_t { queued, deferred, delivered, bounced };
std::string_view to_string(RecipientState state);

struct QueuedRecipient {
  smtp::Recipient recipient;
  RecipientState state = RecipientState::queued;
  int attempts = 0;
  Instant next_attempt;       // for queued and deferred
  std::string last_reply;     // the last reply or reason, for logs and DSNs
  bool delay_warned = false;  // a "delayed" notice went to the sender
};

struct QueuedMessage {
  QueueId id;  // none yet (QueueId{}): store() assigns one
  Instant arrival;
  std::optional<smtp::Mailbox> sender;  // empty: the null sender <>
  smtp::MailParameters parameters;
  std::vector<QueuedRecipient> recipients;
  std::string content;
  std::uint64_t size = 0;  // the content's bytes
  std::string client_address;
  std::string helo;
  std::string authenticated_user;
  bool held = false;

  bool finished() const;  // every recipient delivered or bounced
};

// What the queue keeps in memory of a message: what scheduling needs. Everything else - envelope,
// addresses, DSN parameters, last replies, content - stays in the file, and load() reads it.
struct RecipientStatus {
  Instant next_attempt;
  RecipientState state = RecipientState::queued;
  bool delay_warned = false;
  bool final() const { return state == RecipientState::delivered || state == RecipientState::bounced; }
};

// A recipient as the summary knows it: the address, and whether the file holds more of it that
// a log line shows (an ORCPT).
struct SummaryRecipient {
  smtp::Mailbox mailbox;
  bool has_orcpt = false;
};

struct QueueEntry {
  Instant arrival;
  std::uint64_t size = 0;  // content bytes
  bool held = false;
  bool null_sender = false;  // a notification: the envelope sender is <>
  std::vector<RecipientStatus> recipients;
  // The recipients' addresses, packed (pack_recipients): with them the relay routes a message and
  // defers it for a destination it knows is dead without reading the file - during an outage,
  // most of its work. Empty when an address is too long to pack; then only the file has them.
  std::string packed_recipients;
  // The message's record in the journal: the segment's number (0: none, or the segment is gone),
  // the record's offset and size there.
  std::uint32_t segment = 0;
  std::uint32_t record_bytes = 0;
  std::uint64_t record_offset = 0;
  bool has_file = true;  // false while the journal holds its only copy
  bool depends = false;  // the segment must stay for it (counted in the segment's `live`)
  // The number the queue gave its file when it made it from the journal, while that file's
  // directory entry may not yet be durable (0 once it is, and for files made otherwise).
  std::uint64_t file_created = 0;
  // The addresses in recipient order; nullopt when the summary has none.
  std::optional<std::vector<SummaryRecipient>> recipient_addresses() const;
  bool finished() const;  // every recipient delivered or bounced
};

// Per recipient: a flags byte, the local part's length and bytes, the domain's length and bytes
// (RFC 5321 limits both below 256). Empty if a part is longer.
std::string pack_recipients(const std::vector<QueuedRecipient>& recipients);

struct RecoveryReport {
  std::size_t recovered = 0;
  std::size_t discarded = 0;  // torn or corrupt message records: never acknowledged
  std::size_t finished = 0;   // complete messages whose recipients were all final: removed
  std::vector<std::string> problems;
  // False when the directory or a file could not be read: some messages may still be on disk,
  // unknown; a later pass (recover again) finds them.
  bool complete = true;
  std::vector<QueueId> recovered_ids;  // the messages this pass added
};

struct JournalOptions {
  bool enabled = true;
  // A segment is retired, and a new one begun, once it holds this many bytes.
  std::uint64_t segment_bytes = 16 * 1024 * 1024;
  BrokenVariant broken_variant = BrokenVariant::none;  // the relay's (recovery_drops_last_change)
};

class Queue {
 public:
  using StoreHandler = std::function<void(io::Result<QueueId> id)>;
  using UpdateHandler = std::function<void(io::Status status)>;

  Queue(io::Io& io, std::string directory, JournalOptions journal = {});

  // Reads back everything durable. Call once, before storing. With `repair` (the relay's own
  // start), torn files and finished messages are removed; without it (an operator looking at a
  // live queue), nothing is touched.
  RecoveryReport recover(bool repair = true);

  // Handlers run from the event loop, or at once for an immediate error. The queue owns the
  // operations in flight (they end with it); a handler must check that what it captured still
  // lives.

  // Stores a new message; `on_durable` gets its id once it is on disk for good, or the error.
  // The message's id, if it has none, is assigned here.
  void store(QueuedMessage message, StoreHandler on_durable);
  // Records one recipient's new state; durable when the handler gets ok.
  void update(const QueueId& id, std::size_t recipient, const QueuedRecipient& state, UpdateHandler on_durable);
  // Records several recipients' new states with one append and one fsync.
  using StateChange = std::pair<std::size_t, QueuedRecipient>;
  void update(const QueueId& id, std::vector<StateChange> changes, UpdateHandler on_durable);
  // Changes the summary only, not the file: for deferrals that were never attempted, which a crash
  // may lose (the recipient is then tried sooner, never lost).
  void defer_in_memory(const QueueId& id, const std::vector<StateChange>& changes);
  // Operator actions; durable like updates.
  void set_held(const QueueId& id, bool held, UpdateHandler on_durable);
  io::Status remove(const QueueId& id);

  // A fresh id (the store assigns one when the message has none): sortable by arrival, unique
  // across restarts.
  QueueId allocate_id();

  // The messages in the queue, in no particular order; ids() sorts them (by arrival).
  using Entries = IdTable<std::unique_ptr<QueueEntry>>;  // pointers to entries stay valid
  const Entries& entries() const { return entries_; }
  std::vector<QueueId> ids() const;
  std::size_t size() const { return entries_.size(); }
  const QueueEntry* find(const QueueId& id) const;
  // The whole message: envelope, recipients with their current states, content. From its file,
  // or - the first time a message just stored is loaded, as its first delivery does - from memory.
  io::Result<QueuedMessage> load(const QueueId& id);
  // How many bytes of just-stored messages are kept whole until their first load.
  static constexpr std::size_t fresh_bytes_max = 16 * 1024 * 1024;
  std::size_t fresh_bytes() const { return fresh_bytes_; }
  io::Result<std::string> content(const QueueId& id);
  std::size_t operations_in_flight() const { return operations_.size(); }
  // Journal segments on disk (the current one included), and messages that have no file yet.
  std::size_t journal_segments() const { return segments_.size(); }
  std::size_t journal_resident() const;

 private:
  std::string path(const QueueId& id) const { return directory_ + "/" + id.to_string(); }
  void keep_fresh(const QueueId& key, QueuedMessage message);
  void forget_fresh(const QueueId& id);
  void append_durably(const QueueId& id, std::string record, UpdateHandler on_durable);
  QueueEntry* find_mutable(const QueueId& id);
  void store_in_file(QueuedMessage message, StoreHandler on_durable);
  void store_in_journal(QueuedMessage message, StoreHandler on_durable);

  io::Io& io_;
  std::string directory_;
  io::Random random_;
  Entries entries_;  // the durable state's summary
  // Messages just stored, whole, until their first load (so that the delivery that follows at
  // once does not read back the file just written), any change to them, or - oldest first, as ids
  // sort by arrival - until they pass fresh_bytes_max. Exactly what the file holds at that time.
  std::map<QueueId, QueuedMessage> fresh_;
  std::size_t fresh_bytes_ = 0;
  // The last journal record written, whose memory the next one reuses, up to this size.
  std::string spent_record_;
  static constexpr std::size_t spent_record_bytes_max = 1024 * 1024;
  std::uint64_t sequence_ = 0;
  struct Operation {
    std::unique_ptr<io::File> file;  // open until its sync completes
    io::Pending pending;
  };
  std::map<std::uint64_t, Operation> operations_;  // fsyncs in flight
  std::uint64_t next_operation_ = 1;

  // Group commit of directory entries: one directory fsync makes durable every file created
  // before it began, so stores whose files exist when a sync starts share it, and the others
  // wait for the next one. `created` numbers the files this queue created.
  using SyncHandler = std::function<void(io::Status)>;
  void sync_directory_after(std::uint64_t created, SyncHandler handler);
  void start_directory_sync();
  std::uint64_t files_created_ = 0;
  struct DirectorySync {
    std::uint64_t covers = 0;  // files created up to this number
    std::vector<SyncHandler> waiters;
    io::Pending pending;
  };
  std::unique_ptr<DirectorySync> directory_sync_;  // in flight
  std::vector<SyncHandler> next_directory_waiters_;
  std::uint64_t directory_synced_ = 0;  // files created up to this number have durable entries

  // The journal (see the top of this file).
  struct Commit {
    std::uint64_t covers = 0;  // the segment's bytes appended when the fsync began
    std::vector<SyncHandler> waiters;
    io::Pending pending;
  };
  struct Segment {
    std::unique_ptr<io::File> file;  // open while it is current or an append to it is not yet fsynced
    std::uint64_t size = 0;          // its bytes when it stopped being current (or was found)
    std::uint64_t live = 0;          // messages whose only durable copy is here
    std::uint64_t live_bytes = 0;    // their records' bytes
    std::vector<QueueId> stored;     // messages stored here (some since gone)
    bool listed = false;             // its directory entry is durable
    bool failed = false;             // an append or fsync failed: no more appends
    bool draining = false;           // its messages are being given files of their own
    std::unique_ptr<Commit> commit;  // in flight
    std::vector<SyncHandler> next_waiters;
  };
  std::string journal_directory() const { return directory_ + "/journal"; }
  std::string segment_path(std::uint32_t number) const;
  io::Status open_current_segment();  // when none is open, or the open one is full or failed
  void commit_after_append(std::uint32_t number, SyncHandler handler);
  void start_commit(std::uint32_t number);
  // Appends a removal record to the segment that holds the message's record, and fsyncs it
  // (group commit); `then` gets the result. Nothing happens for a failed segment.
  void append_removal(const QueueId& key, std::uint32_t number, SyncHandler then);
  void depends_no_more(std::uint32_t number, std::uint32_t record_bytes);
  void retire_segments();
  io::Result<std::string> journal_record(const QueueEntry& entry) const;
  void give_file(const QueueId& id, std::string records, UpdateHandler on_durable);
  // The message leaves the queue: its file goes, and a removal record ends its journal record.
  void forget(const QueueId& key);
  void announce_stored(const QueuedMessage& message);
  // `finished`: messages whose files say they are done; those the journal still holds are taken
  // off the list (and, repairing, their removal recorded there before the file goes).
  void recover_journal(bool repair, RecoveryReport& report, const std::vector<QueueId>& unreadable,
                       std::vector<QueueId>& finished);
  JournalOptions journal_;
  std::map<std::uint32_t, Segment> segments_;  // by number: oldest first
  std::uint32_t current_ = 0;                  // 0: none open
  std::uint32_t next_segment_ = 1;
};

// The summary the queue keeps of a message.
QueueEntry summarize(const QueuedMessage& message);
// Reads a queue file: the message record, then each state record in order, past torn ones.
// nullopt when the message record itself is torn or corrupt, or names another id.
std::optional<QueuedMessage> replay_queue_file(std::string_view bytes, const QueueId& id);

// Serialisation, exposed for the operator tools and tests.
std::string encode_message(const QueuedMessage& message);
std::optional<QueuedMessage> decode_message(std::string_view payload);

}  // namespace relaysim::relay
