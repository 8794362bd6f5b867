// Reading the queue back at start: every queue file and journal segment, replayed into the
// summaries the queue keeps in memory.

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

namespace {

std::optional<std::uint32_t> parse_segment_name(std::string_view name) {
  if (name.size() != 16) return std::nullopt;
  std::uint64_t number = 0;
  for (const char c : name) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) return std::nullopt;
    number = number << 4 | static_cast<std::uint64_t>(digit);
  }
  if (number == 0 || number > 0xFFFFFFFF) return std::nullopt;
  return static_cast<std::uint32_t>(number);
}

}  // namespace

RecoveryReport Queue::recover(bool repair) {
  RecoveryReport report;
  if (const io::Status made = io_.make_directory(directory_); !made) {
    report.problems.push_back("cannot make " + directory_ + ": " + made.error().detail);
    report.complete = false;
    return report;
  }
  auto names = io_.list_directory(directory_);
  if (!names) {
    report.problems.push_back("cannot list " + directory_ + ": " + names.error().detail);
    report.complete = false;
    return report;
  }
  // Files first: a message with a file of its own has its latest state there. The journal then
  // supplies the messages that have none, or whose file was torn while it was being made.
  std::vector<QueueId> unreadable;
  std::vector<QueueId> torn;
  std::vector<QueueId> finished;
  for (const std::string& name : names.value()) {
    if (name == "journal") continue;
    const std::optional<QueueId> named = QueueId::parse(name);
    if (!named) {
      // Not a name the queue writes (a queue directory pointed at the wrong place, a file an
      // operator left): never read as a message, never removed.
      report.problems.push_back(name + ": not a queue file; left alone");
      continue;
    }
    // Known already (an earlier pass, or stored since): nothing to recover.
    if (entries_.contains(*named)) continue;
    auto contents = io_.read_file(path(*named));
    if (!contents) {
      report.problems.push_back(name + ": " + contents.error().detail);
      report.complete = false;
      unreadable.push_back(*named);
      continue;
    }
    std::string_view bytes = contents.value();
    if (journal_.broken_variant == BrokenVariant::recovery_drops_last_change) bytes = without_last_state(bytes);
    std::optional<QueuedMessage> message = replay_queue_file(bytes, *named);
    if (!message) {
      torn.push_back(*named);
      continue;
    }
    if (message->finished()) {
      report.finished += 1;
      finished.push_back(*named);
      continue;
    }
    report.recovered += 1;
    report.recovered_ids.push_back(*named);
    entries_[*named] = std::make_unique<QueueEntry>(summarize(*message));
  }
  recover_journal(repair, report, unreadable, finished);
  for (const QueueId& key : finished) {
    if (repair) (void)io_.remove_file(path(key));  // not in the journal: the file was its only copy
  }
  for (const QueueId& key : torn) {
    if (entries_.contains(key)) {
      // The journal has this message: the file was torn while it was being given one.
      if (repair) (void)io_.remove_file(path(key));
      continue;
    }
    // Torn or corrupt, and not in the journal: this message was never acknowledged.
    report.discarded += 1;
    io_.trace("queue.discarded", {{"file", key.text().view()}});
    if (repair) (void)io_.remove_file(path(key));
  }
  io_.observe(events::Recovered{.messages = report.recovered,
                                .discarded = report.discarded,
                                .finished = report.finished,
                                .ids = report.recovered_ids});
  if (repair) retire_segments();
  return report;
}

void Queue::recover_journal(bool repair, RecoveryReport& report, const std::vector<QueueId>& unreadable,
                            std::vector<QueueId>& finished) {
  if (journal_.enabled && repair) {
    if (const io::Status made = io_.make_directory(journal_directory()); !made) {
      report.problems.push_back("cannot make " + journal_directory() + ": " + made.error().detail);
      report.complete = false;
      return;
    }
  }
  auto names = io_.list_directory(journal_directory());
  if (!names) {
    if (names.error().code == io::Errc::not_found) return;  // never had a journal
    report.problems.push_back("cannot list " + journal_directory() + ": " + names.error().detail);
    report.complete = false;
    return;
  }
  struct Found {
    std::uint32_t segment = 0;
    std::uint64_t offset = 0;
    std::string_view record;
  };
  std::map<std::uint32_t, std::string> contents;  // alive while `found` points into them
  std::map<QueueId, Found> found;
  for (const std::string& name : names.value()) {
    const std::optional<std::uint32_t> parsed = parse_segment_name(name);
    if (!parsed) continue;  // not a segment
    const std::uint32_t number = *parsed;
    next_segment_ = std::max(next_segment_, number + 1);
    auto bytes = io_.read_file(journal_directory() + "/" + name);
    if (!bytes) {
      report.problems.push_back("journal/" + name + ": " + bytes.error().detail);
      report.complete = false;
      continue;
    }
    const std::string_view segment = contents[number] = std::move(bytes).value();
    if (!segments_.contains(number)) {
      segments_[number].listed = true;
      segments_[number].size = segment.size();
    }
    // A torn record is an append that was never acknowledged.
    for_each_record(segment, 0, [&](const RecordView& record, std::size_t offset, std::size_t size) {
      Reader in(record.payload);
      const std::optional<QueueId> key = QueueId::parse(in.text());
      if (key && record.kind == kind_message) found[*key] = {number, offset, segment.substr(offset, size)};
      if (key && record.kind == kind_removed) found.erase(*key);
    });
  }
  // Their files may hold newer state than the journal: left for a later pass.
  for (const QueueId& key : unreadable) found.erase(key);
  // A finished message's file outranks its journal record, which would bring it back as it
  // arrived - delivered or bounced a second time. The removal goes into the journal, durably,
  // before the file goes (as forget() does).
  std::erase_if(finished, [&](const QueueId& key) {
    const auto where = found.find(key);
    if (where == found.end()) return false;
    const std::uint32_t number = where->second.segment;
    found.erase(where);
    if (repair) {
      append_removal(key, number, [this, key](io::Status status) {
        if (status) (void)io_.remove_file(path(key));
      });
    }
    return true;
  });
  for (const auto& [key, where] : found) {
    if (entries_.contains(key)) continue;  // it has a file, or an earlier pass found it
    std::size_t consumed = 0;
    const auto record = read_record(where.record, consumed);
    std::optional<QueuedMessage> message = record ? decode_message(record->payload) : std::nullopt;
    if (!message) continue;
    auto entry = std::make_unique<QueueEntry>(summarize(*message));
    entry->has_file = false;
    entry->depends = true;
    entry->segment = where.segment;
    entry->record_offset = where.offset;
    entry->record_bytes = static_cast<std::uint32_t>(where.record.size());
    entries_[key] = std::move(entry);
    Segment& segment = segments_[where.segment];
    segment.live += 1;
    segment.live_bytes += where.record.size();
    segment.stored.push_back(key);
    report.recovered += 1;
    report.recovered_ids.push_back(key);
  }
}

}  // namespace relaysim::relay
