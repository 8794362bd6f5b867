// A file per message: for messages the journal does not hold, and for those that outgrew it;
// directory syncs batched so that many new files cost one.

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

void Queue::store_in_file(QueuedMessage message, StoreHandler on_durable) {
  const QueueId id = message.id;
  auto file = io_.create_file(path(id));
  if (!file) return on_durable(file.error());  // nothing written: the caller answers 4xx
  Writer writer = Writer::for_record(encoded_size_estimate(message));
  write_message(writer, message);
  const std::string record = std::move(writer).seal(kind_message);
  if (const io::Status appended = file.value()->append(record); !appended) {
    (void)io_.remove_file(path(id));
    return on_durable(appended.error());
  }
  const std::uint64_t created = ++files_created_;
  const std::uint64_t operation = next_operation_++;
  Operation& entry = operations_[operation];
  entry.file = std::move(file).value();
  const auto abandon = [this, id, operation](const io::Status& status, const StoreHandler& handler) {
    operations_.erase(operation);
    (void)io_.remove_file(path(id));
    handler(status.error());
  };
  // fsync the file, then the directory entry: then, and only then, the message is durable.
  entry.pending = entry.file->sync([this, id, operation, created, abandon, message = std::move(message),
                                    on_durable = std::move(on_durable)](io::Status synced) mutable {
    if (!synced) return abandon(synced, on_durable);
    operations_[operation].file.reset();  // the file's bytes are durable; only its name waits
    sync_directory_after(
        created, [this, id, operation, abandon, message = std::move(message), on_durable](io::Status listed) mutable {
          if (!listed) return abandon(listed, on_durable);
          operations_.erase(operation);
          announce_stored(message);
          // Only the summary stays in memory for long: a large queue must not hold every message.
          entries_[id] = std::make_unique<QueueEntry>(summarize(message));
          keep_fresh(id, std::move(message));
          on_durable(id);
        });
  });
}

void Queue::sync_directory_after(std::uint64_t created, SyncHandler handler) {
  if (directory_sync_ && directory_sync_->covers >= created) {
    directory_sync_->waiters.push_back(std::move(handler));
    return;
  }
  next_directory_waiters_.push_back(std::move(handler));
  if (!directory_sync_) start_directory_sync();
}

void Queue::start_directory_sync() {
  directory_sync_ = std::make_unique<DirectorySync>();
  directory_sync_->covers = files_created_;
  directory_sync_->waiters = std::move(next_directory_waiters_);
  next_directory_waiters_.clear();
  directory_sync_->pending = io_.sync_directory(directory_, [this](io::Status status) {
    if (status) directory_synced_ = std::max(directory_synced_, directory_sync_->covers);
    std::vector<SyncHandler> finished = std::move(directory_sync_->waiters);
    directory_sync_.reset();
    if (!next_directory_waiters_.empty()) start_directory_sync();
    for (SyncHandler& handler : finished) handler(status);
  });
}

void Queue::append_durably(const QueueId& id, std::string record, UpdateHandler on_durable) {
  const QueueEntry* found = find(id);
  if (found != nullptr && !found->has_file) return give_file(id, std::move(record), std::move(on_durable));
  // A file just made from the journal: its name may not be durable yet, and the change is not
  // durable without it.
  const std::uint64_t created = found != nullptr && found->file_created > directory_synced_ ? found->file_created : 0;
  // Files are opened per change, so a million queued messages need no million open files.
  auto file = io_.open_for_append(path(id));
  if (!file) return on_durable(file.error());
  if (const io::Status appended = file.value()->append(record); !appended) return on_durable(appended);
  const std::uint64_t operation = next_operation_++;
  Operation& entry = operations_[operation];
  entry.file = std::move(file).value();
  // Once the file is durable, name included, a message made from the journal no longer depends
  // on its segment (the change that first gave it the file may have failed).
  const auto durable = [this, id, on_durable](io::Status status) {
    if (status) {
      if (QueueEntry* now = find_mutable(id); now != nullptr && now->depends) {
        now->depends = false;
        depends_no_more(now->segment, now->record_bytes);
      }
    }
    on_durable(status);
  };
  entry.pending = entry.file->sync([this, operation, created, durable](io::Status status) {
    operations_.erase(operation);
    if (!status || created == 0) return durable(status);
    sync_directory_after(created, durable);
  });
}

// The message's record, copied from the journal into a file of its own with `records` after it;
// fsynced, then its name. From then on the message no longer depends on its segment.
void Queue::give_file(const QueueId& id, std::string records, UpdateHandler on_durable) {
  QueueEntry* entry = find_mutable(id);
  RELAYSIM_ASSERT(entry != nullptr && !entry->has_file);
  auto record = journal_record(*entry);
  if (!record) return on_durable(record.error());
  auto file = io_.create_file(path(id));
  if (!file) return on_durable(file.error());
  if (const io::Status appended = file.value()->append(record.value() + records); !appended) {
    (void)io_.remove_file(path(id));
    return on_durable(appended);
  }
  entry->has_file = true;
  entry->file_created = ++files_created_;
  const std::uint64_t created = entry->file_created;
  const std::uint32_t number = entry->segment;
  const std::uint64_t operation = next_operation_++;
  Operation& operation_entry = operations_[operation];
  operation_entry.file = std::move(file).value();
  const auto done = [this, id, operation, number, on_durable](io::Status status) {
    operations_.erase(operation);
    QueueEntry* now = find_mutable(id);
    // On failure the file stays, and so does the message's dependence on its segment: a change
    // appended meanwhile by another update is in that file, and the next durable change to it
    // (or the segment's retirement) ends the dependence.
    if (!status) return on_durable(status);
    if (now != nullptr && now->depends) {
      now->depends = false;
      depends_no_more(number, now->record_bytes);
    }
    on_durable(status);
  };
  operation_entry.pending = operation_entry.file->sync([this, operation, created, done](io::Status synced) {
    operations_[operation].file.reset();
    if (!synced) return done(synced);
    sync_directory_after(created, done);
  });
}

}  // namespace relaysim::relay
