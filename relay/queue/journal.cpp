// Journal segments: records appended to the current segment, fsynced together (group commit),
// and segments retired once nothing in them is still needed.

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

void Queue::store_in_journal(QueuedMessage message, StoreHandler on_durable) {
  if (const io::Status opened = open_current_segment(); !opened) return on_durable(opened.error());
  const std::uint32_t number = current_;
  Segment& segment = segments_.at(number);
  // The record is built in the last one's memory: warm in the cache, and no allocation.
  Writer writer = Writer::for_record(encoded_size_estimate(message), std::move(spent_record_));
  write_message(writer, message);
  spent_record_ = std::move(writer).seal(kind_message);
  const std::size_t bytes = spent_record_.size();
  const std::uint64_t offset = segment.file->size();
  if (const io::Status appended = segment.file->append(spent_record_); !appended) {
    segment.failed = true;  // part of the record may be there: the segment takes no more
    return on_durable(appended.error());
  }
  if (spent_record_.capacity() > spent_record_bytes_max) spent_record_ = std::string();  // a large message's goes
  commit_after_append(number, [this, number, offset, bytes, message = std::move(message),
                               on_durable = std::move(on_durable)](io::Status committed) mutable {
    const QueueId key = message.id;
    if (!committed) {
      // The caller answers 4xx; should the record have reached the disk anyway, this keeps it
      // from coming back after a restart (best effort: the disk is failing).
      append_removal(key, number, [](io::Status) {});
      return on_durable(committed.error());
    }
    announce_stored(message);
    auto entry = std::make_unique<QueueEntry>(summarize(message));
    entry->has_file = false;
    entry->depends = true;
    entry->segment = number;
    entry->record_offset = offset;
    entry->record_bytes = static_cast<std::uint32_t>(bytes);
    entries_[key] = std::move(entry);
    Segment& committed_segment = segments_.at(number);
    committed_segment.live += 1;
    committed_segment.live_bytes += bytes;
    committed_segment.stored.push_back(key);
    keep_fresh(key, std::move(message));
    on_durable(key);
  });
}

io::Result<std::string> Queue::journal_record(const QueueEntry& entry) const {
  auto bytes = io_.read_file_range(segment_path(entry.segment), entry.record_offset, entry.record_bytes);
  if (!bytes) return bytes.error();
  if (bytes.value().size() != entry.record_bytes)
    return io::Error{io::Errc::io_error, "journal segment " + segment_path(entry.segment) + " is short"};
  return bytes;
}

std::size_t Queue::journal_resident() const {
  std::size_t count = 0;
  entries_.for_each(
      [&count](const QueueId&, const std::unique_ptr<QueueEntry>& entry) { count += entry->has_file ? 0 : 1; });
  return count;
}

std::string Queue::segment_path(std::uint32_t number) const {
  char name[24];
  std::snprintf(name, sizeof name, "%016llX", static_cast<unsigned long long>(number));
  return journal_directory() + "/" + name;
}

io::Status Queue::open_current_segment() {
  if (current_ != 0) {
    const Segment& open = segments_.at(current_);
    if (!open.failed && open.file->size() < journal_.segment_bytes) return {};
    const std::uint32_t retired = current_;
    current_ = 0;
    segments_.at(retired).size = open.file->size();
    if (!open.commit && open.next_waiters.empty()) segments_.at(retired).file.reset();
    io_.trace("queue.journal_segment", {{"segment", segment_path(retired)}, {"event", "full"}});
    retire_segments();
  }
  if (const io::Status made = io_.make_directory(journal_directory()); !made) return made;
  const std::uint32_t number = next_segment_;
  auto file = io_.create_file(segment_path(number));
  if (!file) return file.error();
  next_segment_ += 1;
  current_ = number;
  segments_[number].file = std::move(file).value();
  io_.trace("queue.journal_segment", {{"segment", segment_path(number)}, {"event", "opened"}});
  return {};
}

void Queue::commit_after_append(std::uint32_t number, SyncHandler handler) {
  Segment& segment = segments_.at(number);
  if (segment.commit && segment.commit->covers >= segment.file->size()) {
    segment.commit->waiters.push_back(std::move(handler));  // appended before that fsync began
    return;
  }
  segment.next_waiters.push_back(std::move(handler));
  if (!segment.commit) start_commit(number);
}

void Queue::start_commit(std::uint32_t number) {
  Segment& segment = segments_.at(number);
  segment.commit = std::make_unique<Commit>();
  segment.commit->covers = segment.file->size();
  segment.commit->waiters = std::move(segment.next_waiters);
  segment.next_waiters.clear();
  const auto finish = [this, number](io::Status status) {
    Segment& synced = segments_.at(number);
    std::vector<SyncHandler> finished = std::move(synced.commit->waiters);
    synced.commit.reset();
    if (!status) {
      // What was appended after a failed fsync is in doubt too: those stores fail as well.
      synced.failed = true;
      for (SyncHandler& waiter : synced.next_waiters) finished.push_back(std::move(waiter));
      synced.next_waiters.clear();
    }
    if (!synced.next_waiters.empty()) {
      start_commit(number);
    } else if (number != current_) {
      synced.file.reset();
    }
    for (SyncHandler& handler : finished) handler(status);
    retire_segments();
  };
  segment.commit->pending = segment.file->sync([this, number, finish](io::Status synced) {
    Segment& written = segments_.at(number);
    if (!synced || written.listed) return finish(synced);
    // A new segment: its name must be durable as well before anything in it counts - and the
    // journal directory's own name, which the first segment's creation may just have made.
    written.commit->pending = io_.sync_directory(journal_directory(), [this, number, finish](io::Status listed) {
      if (!listed) return finish(listed);
      segments_.at(number).commit->pending = io_.sync_directory(directory_, [this, number, finish](io::Status parent) {
        if (parent) segments_.at(number).listed = true;
        finish(parent);
      });
    });
  });
}

void Queue::append_removal(const QueueId& key, std::uint32_t number, SyncHandler then) {
  // In the message's own segment, so that every segment is whole by itself: it can be deleted as
  // soon as none of its messages is left, whatever the other segments hold.
  Segment& segment = segments_.at(number);
  if (segment.failed) return then(io::Error{io::Errc::io_error, "journal segment " + segment_path(number) + " failed"});
  if (!segment.file) {
    auto file = io_.open_for_append(segment_path(number));
    if (!file) return then(file.error());
    segment.file = std::move(file).value();
  }
  Writer payload;
  payload.text(key.text().view());
  if (const io::Status appended = segment.file->append(frame_record(kind_removed, payload.bytes())); !appended) {
    segment.failed = true;
    return then(appended);
  }
  commit_after_append(number, std::move(then));
}

void Queue::depends_no_more(std::uint32_t number, std::uint32_t record_bytes) {
  Segment& segment = segments_.at(number);
  RELAYSIM_ASSERT(segment.live > 0 && segment.live_bytes >= record_bytes);
  segment.live -= 1;
  segment.live_bytes -= record_bytes;
  retire_segments();
}

// Deletes each retired segment that no message depends on any more, once what was appended to it
// is durable (its removal records: should the deletion be lost in a crash, the segment comes back
// ending all of its messages). A retired segment whose remaining records are a quarter of its
// bytes or less gives them files of their own, so that a few long-lived messages do not keep
// whole segments on disk.
void Queue::retire_segments() {
  std::vector<std::uint32_t> numbers;
  for (const auto& [number, segment] : segments_) {
    if (number != current_ && !segment.commit && segment.next_waiters.empty()) numbers.push_back(number);
  }
  for (const std::uint32_t number : numbers) {
    const auto found = segments_.find(number);
    if (found == segments_.end()) continue;
    Segment& segment = found->second;
    if (segment.live == 0) {
      const std::string path = segment_path(number);
      if (const io::Status removed = io_.remove_file(path); !removed && removed.error().code != io::Errc::not_found)
        continue;
      for (const QueueId& key : segment.stored) {
        if (std::unique_ptr<QueueEntry>* entry = entries_.find(key); entry != nullptr && (*entry)->segment == number)
          (*entry)->segment = 0;
      }
      segments_.erase(found);
      io_.trace("queue.journal_segment", {{"segment", path}, {"event", "removed"}});
      continue;
    }
    if (segment.draining || segment.live_bytes * 4 > segment.size) continue;
    segment.draining = true;
    io_.trace("queue.journal_segment",
              {{"segment", segment_path(number)}, {"event", "compacted"}, {"messages", segment.live}});
    const std::vector<QueueId> stored = segment.stored;
    for (const QueueId& key : stored) {
      const std::unique_ptr<QueueEntry>* entry = entries_.find(key);
      if (entry == nullptr || !(*entry)->depends || (*entry)->segment != number) continue;
      const auto done = [this, number](io::Status status) {
        if (status) return;
        // Tried again at the next chance; the journal keeps the message meanwhile.
        if (const auto again = segments_.find(number); again != segments_.end()) again->second.draining = false;
      };
      // A message whose file is being made, or failed to be, waits for that file to be durable.
      if ((*entry)->has_file) {
        append_durably(key, {}, done);
      } else {
        give_file(key, {}, done);
      }
    }
  }
}

}  // namespace relaysim::relay
