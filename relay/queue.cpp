#include "relay/events.hpp"
#include "relay/queue.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "io/assert.hpp"
#include "relay/broken_variant.hpp"
#include "relay/record.hpp"

namespace relaysim::relay {
namespace {

constexpr std::uint8_t kind_message = 1;
constexpr std::uint8_t kind_recipient_state = 2;
constexpr std::uint8_t kind_hold = 3;
constexpr std::uint8_t kind_removed = 4;  // journal only: the message left the queue

void write_mailbox(Writer& out, const smtp::Mailbox& mailbox) {
  out.text(mailbox.local);
  out.text(mailbox.domain);
  out.flag(mailbox.quoted_local);
  out.flag(mailbox.address_literal);
}

smtp::Mailbox read_mailbox(Reader& in) {
  smtp::Mailbox mailbox;
  mailbox.local = in.text();
  mailbox.domain = in.text();
  mailbox.quoted_local = in.flag();
  mailbox.address_literal = in.flag();
  return mailbox;
}

void write_state(Writer& out, const QueuedRecipient& recipient) {
  out.u8(static_cast<std::uint8_t>(recipient.state));
  out.u32(static_cast<std::uint32_t>(recipient.attempts));
  out.i64(recipient.next_attempt.unix_microseconds());
  out.text(recipient.last_reply);
  out.flag(recipient.delay_warned);
}

bool read_state(Reader& in, QueuedRecipient& recipient) {
  const std::uint8_t state = in.u8();
  if (state > static_cast<std::uint8_t>(RecipientState::bounced)) return false;
  recipient.state = static_cast<RecipientState>(state);
  recipient.attempts = static_cast<int>(in.u32());
  recipient.next_attempt = Instant::from_unix_microseconds(in.i64());
  recipient.last_reply = in.text();
  recipient.delay_warned = in.flag();
  return !in.failed();
}

}  // namespace

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

std::string_view to_string(RecipientState state) {
  switch (state) {
    case RecipientState::queued: return "queued";
    case RecipientState::deferred: return "deferred";
    case RecipientState::delivered: return "delivered";
    case RecipientState::bounced: return "bounced";
  }
  return "?";
}

bool QueuedMessage::finished() const {
  for (const QueuedRecipient& recipient : recipients) {
    if (recipient.state != RecipientState::delivered && recipient.state != RecipientState::bounced) return false;
  }
  return true;
}

bool QueueEntry::finished() const {
  for (const RecipientStatus& recipient : recipients) {
    if (!recipient.final()) return false;
  }
  return true;
}

std::optional<QueueId> QueueId::parse(std::string_view text) {
  if (text.size() != 22) return std::nullopt;
  // Uppercase hex digits only: ids are written in uppercase, so lowercase is not an id.
  static constexpr std::array<std::int8_t, 256> digits = [] {
    std::array<std::int8_t, 256> table{};
    table.fill(-1);
    for (int c = '0'; c <= '9'; ++c) table[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - '0');
    for (int c = 'A'; c <= 'F'; ++c) table[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'A' + 10);
    return table;
  }();
  std::uint64_t time = 0;
  std::uint32_t rest = 0;
  int invalid = 0;
  for (std::size_t i = 0; i < 14; ++i) {
    const std::int8_t value = digits[static_cast<unsigned char>(text[i])];
    invalid |= value;
    time = time << 4 | static_cast<std::uint64_t>(value & 0xF);
  }
  for (std::size_t i = 14; i < 22; ++i) {
    const std::int8_t value = digits[static_cast<unsigned char>(text[i])];
    invalid |= value;
    rest = rest << 4 | static_cast<std::uint32_t>(value & 0xF);
  }
  if (invalid < 0) return std::nullopt;
  return QueueId{time, rest};
}

std::string QueueId::to_string() const {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string text(22, '0');  // 14 hex digits of time, 8 of the rest
  for (int i = 13; i >= 0; --i) text[static_cast<std::size_t>(i)] = digits[(time >> (4 * (13 - i))) & 0xF];
  for (int i = 7; i >= 0; --i) text[static_cast<std::size_t>(14 + i)] = digits[(rest >> (4 * (7 - i))) & 0xF];
  return text;
}

namespace {
constexpr std::uint8_t packed_quoted_local = 1, packed_address_literal = 2, packed_orcpt = 4;
}  // namespace

std::string pack_recipients(const std::vector<QueuedRecipient>& recipients) {
  std::string out;
  for (const QueuedRecipient& queued : recipients) {
    const smtp::Mailbox& mailbox = queued.recipient.mailbox;
    if (mailbox.local.size() > 255 || mailbox.domain.size() > 255) return {};
    std::uint8_t flags = 0;
    if (mailbox.quoted_local) flags |= packed_quoted_local;
    if (mailbox.address_literal) flags |= packed_address_literal;
    if (!queued.recipient.dsn.orcpt.empty()) flags |= packed_orcpt;
    out += static_cast<char>(flags);
    out += static_cast<char>(mailbox.local.size());
    out += mailbox.local;
    out += static_cast<char>(mailbox.domain.size());
    out += mailbox.domain;
  }
  return out;
}

std::optional<std::vector<SummaryRecipient>> QueueEntry::recipient_addresses() const {
  if (packed_recipients.empty()) return std::nullopt;
  std::vector<SummaryRecipient> out;
  out.reserve(recipients.size());
  std::string_view rest = packed_recipients;
  const auto part = [&rest]() -> std::optional<std::string> {  // a length byte, then the bytes
    if (rest.empty()) return std::nullopt;
    const std::size_t length = static_cast<std::uint8_t>(rest.front());
    if (rest.size() < 1 + length) return std::nullopt;
    std::string bytes(rest.substr(1, length));
    rest.remove_prefix(1 + length);
    return bytes;
  };
  while (!rest.empty()) {
    const auto flags = static_cast<std::uint8_t>(rest.front());
    rest.remove_prefix(1);
    std::optional<std::string> local = part();
    std::optional<std::string> domain = part();
    if (!local || !domain) return std::nullopt;
    SummaryRecipient recipient;
    recipient.mailbox.local = std::move(*local);
    recipient.mailbox.domain = std::move(*domain);
    recipient.mailbox.quoted_local = (flags & packed_quoted_local) != 0;
    recipient.mailbox.address_literal = (flags & packed_address_literal) != 0;
    recipient.has_orcpt = (flags & packed_orcpt) != 0;
    out.push_back(std::move(recipient));
  }
  if (out.size() != recipients.size()) return std::nullopt;
  return out;
}

QueueEntry summarize(const QueuedMessage& message) {
  QueueEntry entry;
  entry.arrival = message.arrival;
  entry.size = message.content.empty() ? message.size : message.content.size();
  entry.held = message.held;
  entry.null_sender = !message.sender.has_value();
  entry.recipients.reserve(message.recipients.size());
  for (const QueuedRecipient& recipient : message.recipients) {
    entry.recipients.push_back({recipient.next_attempt, recipient.state, recipient.delay_warned});
  }
  entry.packed_recipients = pack_recipients(message.recipients);
  return entry;
}

std::optional<QueuedMessage> replay_queue_file(std::string_view bytes, std::string_view id) {
  std::size_t consumed = 0;
  const auto first = read_record(bytes, consumed);
  std::optional<QueuedMessage> message;
  if (first && first->kind == kind_message) message = decode_message(first->payload);
  if (!message || message->id != id) return std::nullopt;
  message->size = message->content.size();
  std::vector<std::string_view> latest(message->recipients.size());
  // A torn record is a change that never completed; changes appended after a restart follow it.
  for_each_record(bytes, consumed, [&](const RecordView& record, std::size_t, std::size_t) {
    Reader in(record.payload);
    if (record.kind == kind_recipient_state) {
      // Only each recipient's last state counts: decode that one alone (a long outage leaves a
      // hundred state records per recipient).
      const std::uint32_t index = in.u32();
      if (index < latest.size()) latest[index] = record.payload;
    } else if (record.kind == kind_hold) {
      message->held = in.flag();
    }
  });
  for (std::size_t index = 0; index < latest.size(); ++index) {
    if (latest[index].empty()) continue;
    Reader in(latest[index]);
    (void)in.u32();
    QueuedRecipient state;
    if (read_state(in, state)) {
      state.recipient = std::move(message->recipients[index].recipient);
      message->recipients[index] = std::move(state);
    }
  }
  return message;
}

namespace {

// The recovery_drops_last_change variant: a queue file as if its last recipient state were not there.
std::string_view without_last_state(std::string_view bytes) {
  std::size_t consumed = 0;
  if (!read_record(bytes, consumed)) return bytes;
  std::size_t last = bytes.size();
  for_each_record(bytes, consumed, [&](const RecordView& record, std::size_t offset, std::size_t) {
    if (record.kind == kind_recipient_state) last = offset;
  });
  return bytes.substr(0, last);
}

std::size_t encoded_size_estimate(const QueuedMessage& message) {
  return message.content.size() + 256 + 128 * message.recipients.size();
}

void write_message(Writer& out, const QueuedMessage& message) {
  out.text(message.id);
  out.i64(message.arrival.unix_microseconds());
  out.flag(message.sender.has_value());
  if (message.sender) write_mailbox(out, *message.sender);
  const smtp::MailParameters& parameters = message.parameters;
  out.flag(parameters.size.has_value());
  out.u64(parameters.size.value_or(0));
  out.text(parameters.body);
  out.text(parameters.ret);
  out.text(parameters.envid);
  out.flag(parameters.smtputf8);
  out.text(parameters.auth);
  out.text(message.client_address);
  out.text(message.helo);
  out.text(message.authenticated_user);
  out.u32(static_cast<std::uint32_t>(message.recipients.size()));
  for (const QueuedRecipient& queued : message.recipients) {
    write_mailbox(out, queued.recipient.mailbox);
    const smtp::RecipientParameters& dsn = queued.recipient.dsn;
    out.flag(dsn.notify_given);
    out.flag(dsn.notify_never);
    out.flag(dsn.notify_success);
    out.flag(dsn.notify_failure);
    out.flag(dsn.notify_delay);
    out.text(dsn.orcpt_type);
    out.text(dsn.orcpt);
    write_state(out, queued);
  }
  out.text(message.content);
}

}  // namespace

std::string encode_message(const QueuedMessage& message) {
  Writer out;
  out.reserve(encoded_size_estimate(message));
  write_message(out, message);
  return out.take();
}

std::optional<QueuedMessage> decode_message(std::string_view payload) {
  Reader in(payload);
  QueuedMessage message;
  message.id = in.text();
  message.arrival = Instant::from_unix_microseconds(in.i64());
  if (in.flag()) message.sender = read_mailbox(in);
  const bool has_size = in.flag();
  const std::uint64_t size = in.u64();
  if (has_size) message.parameters.size = size;
  message.parameters.body = in.text();
  message.parameters.ret = in.text();
  message.parameters.envid = in.text();
  message.parameters.smtputf8 = in.flag();
  message.parameters.auth = in.text();
  message.client_address = in.text();
  message.helo = in.text();
  message.authenticated_user = in.text();
  const std::uint32_t count = in.u32();
  if (in.failed() || count > 100'000) return std::nullopt;
  for (std::uint32_t i = 0; i < count; ++i) {
    QueuedRecipient queued;
    queued.recipient.mailbox = read_mailbox(in);
    smtp::RecipientParameters& dsn = queued.recipient.dsn;
    dsn.notify_given = in.flag();
    dsn.notify_never = in.flag();
    dsn.notify_success = in.flag();
    dsn.notify_failure = in.flag();
    dsn.notify_delay = in.flag();
    dsn.orcpt_type = in.text();
    dsn.orcpt = in.text();
    if (!read_state(in, queued)) return std::nullopt;
    message.recipients.push_back(std::move(queued));
  }
  message.content = in.text();
  if (in.failed() || !in.at_end()) return std::nullopt;
  return message;
}

Queue::Queue(io::Io& io, std::string directory, JournalOptions journal)
    : io_(io), directory_(std::move(directory)), random_(io.random_stream("queue-id")), journal_(journal) {}

QueueEntry* Queue::find_mutable(const std::string& id) {
  const auto key = QueueId::parse(id);
  if (!key) return nullptr;
  std::unique_ptr<QueueEntry>* found = entries_.find(*key);
  return found == nullptr ? nullptr : found->get();
}

const QueueEntry* Queue::find(const std::string& id) const {
  return const_cast<Queue*>(this)->find_mutable(id);
}

std::vector<std::string> Queue::ids() const {
  std::vector<std::string> out;
  std::vector<QueueId> sorted;
  sorted.reserve(entries_.size());
  entries_.for_each([&sorted](const QueueId& id, const auto&) { sorted.push_back(id); });
  std::sort(sorted.begin(), sorted.end());
  out.reserve(sorted.size());
  for (const QueueId& id : sorted) out.push_back(id.to_string());
  return out;
}

io::Result<QueuedMessage> Queue::load(const std::string& id) {
  if (const auto key = QueueId::parse(id)) {
    if (const auto found = fresh_.find(*key); found != fresh_.end()) {
      QueuedMessage message = std::move(found->second);
      fresh_bytes_ -= message.content.size();
      fresh_.erase(found);
      return message;
    }
  }
  if (const QueueEntry* entry = find(id); entry != nullptr && !entry->has_file) {
    auto record = journal_record(*entry);
    if (!record) return record.error();
    std::size_t consumed = 0;
    const auto view = read_record(record.value(), consumed);
    std::optional<QueuedMessage> message;
    if (view && view->kind == kind_message) message = decode_message(view->payload);
    if (!message || message->id != id) return io::Error{io::Errc::io_error, "the journal's record of " + id + " is damaged"};
    message->size = message->content.size();
    return std::move(*message);
  }
  auto bytes = io_.read_file(path(id));
  if (!bytes) return bytes.error();
  auto message = replay_queue_file(bytes.value(), id);
  if (!message) return io::Error{io::Errc::io_error, "queue file " + id + " is damaged"};
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

void Queue::forget_fresh(const std::string& id) {
  const auto key = QueueId::parse(id);
  if (!key) return;
  if (const auto found = fresh_.find(*key); found != fresh_.end()) {
    fresh_bytes_ -= found->second.content.size();
    fresh_.erase(found);
  }
}

std::string Queue::allocate_id() {
  // Arrival time in microseconds, then a sequence and random bits: sortable, unique across restarts.
  const auto sequence = static_cast<std::uint32_t>(sequence_++ & 0xFFFF);
  const auto random = static_cast<std::uint32_t>(random_.below(0x10000));
  return QueueId{static_cast<std::uint64_t>(io_.now().unix_microseconds()), sequence << 16 | random}.to_string();
}

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
  std::vector<std::string> unreadable;
  std::vector<std::string> torn;
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
    auto contents = io_.read_file(path(name));
    if (!contents) {
      report.problems.push_back(name + ": " + contents.error().detail);
      report.complete = false;
      unreadable.push_back(name);
      continue;
    }
    std::string_view bytes = contents.value();
    if (journal_.broken_variant == BrokenVariant::recovery_drops_last_change) bytes = without_last_state(bytes);
    std::optional<QueuedMessage> message = replay_queue_file(bytes, name);
    if (!message) {
      torn.push_back(name);
      continue;
    }
    if (message->finished()) {
      report.finished += 1;
      finished.push_back(*named);
      continue;
    }
    report.recovered += 1;
    report.recovered_ids.push_back(name);
    entries_[*named] = std::make_unique<QueueEntry>(summarize(*message));
  }
  recover_journal(repair, report, unreadable, finished);
  for (const QueueId& key : finished) {
    if (repair) (void)io_.remove_file(path(key.to_string()));  // not in the journal: the file was its only copy
  }
  for (const std::string& name : torn) {
    const std::optional<QueueId> key = QueueId::parse(name);
    if (key && entries_.contains(*key)) {
      // The journal has this message: the file was torn while it was being given one.
      if (repair) (void)io_.remove_file(path(name));
      continue;
    }
    // Torn or corrupt, and not in the journal: this message was never acknowledged.
    report.discarded += 1;
    io_.trace("queue.discarded", {{"file", name}});
    if (repair) (void)io_.remove_file(path(name));
  }
  io_.observe(events::Recovered{.messages = report.recovered, .discarded = report.discarded, .finished = report.finished, .ids = report.recovered_ids});
  if (repair) retire_segments();
  return report;
}

void Queue::recover_journal(bool repair, RecoveryReport& report, const std::vector<std::string>& unreadable, std::vector<QueueId>& finished) {
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
  for (const std::string& name : unreadable) {
    // Its file may hold newer state than the journal: leave it for a later pass.
    if (const std::optional<QueueId> key = QueueId::parse(name)) found.erase(*key);
  }
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
        if (status) (void)io_.remove_file(path(key.to_string()));
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
    report.recovered_ids.push_back(key.to_string());
  }
}

void Queue::store(QueuedMessage message, StoreHandler on_durable) {
  if (message.id.empty()) message.id = allocate_id();
  if (!QueueId::parse(message.id)) return on_durable(io::Error{io::Errc::invalid_argument, "not a queue id: " + message.id});
  if (journal_.enabled) return store_in_journal(std::move(message), std::move(on_durable));
  store_in_file(std::move(message), std::move(on_durable));
}

void Queue::announce_stored(const QueuedMessage& message) { io_.observe(events::Stored{message}); }

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
    const QueueId key = *QueueId::parse(message.id);
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
    const std::string id = message.id;
    keep_fresh(key, std::move(message));
    on_durable(id);
  });
}

void Queue::store_in_file(QueuedMessage message, StoreHandler on_durable) {
  const std::string id = message.id;
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
          const QueueId key = *QueueId::parse(id);
          entries_[key] = std::make_unique<QueueEntry>(summarize(message));
          keep_fresh(key, std::move(message));
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

void Queue::append_durably(const std::string& id, std::string record, UpdateHandler on_durable) {
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
void Queue::give_file(const std::string& id, std::string records, UpdateHandler on_durable) {
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

io::Result<std::string> Queue::journal_record(const QueueEntry& entry) const {
  auto bytes = io_.read_file_range(segment_path(entry.segment), entry.record_offset, entry.record_bytes);
  if (!bytes) return bytes.error();
  if (bytes.value().size() != entry.record_bytes) return io::Error{io::Errc::io_error, "journal segment " + segment_path(entry.segment) + " is short"};
  return bytes;
}

void Queue::forget(const QueueId& key) {
  std::unique_ptr<QueueEntry>* found = entries_.find(key);
  if (found == nullptr) return;
  const QueueEntry entry = std::move(**found);
  entries_.erase(key);
  const bool in_journal = entry.segment != 0 && segments_.contains(entry.segment);
  if (!in_journal) {
    if (entry.has_file) (void)io_.remove_file(path(key.to_string()));
    return;
  }
  // Its file may hold states newer than its journal record - a bounce already reported: were the
  // file's removal durable and the removal record not, a crash would bring the message back as
  // the journal has it. So the removal record is made durable first.
  append_removal(key, entry.segment, [this, key, has_file = entry.has_file](io::Status status) {
    if (status && has_file) (void)io_.remove_file(path(key.to_string()));
  });
  if (entry.depends) depends_no_more(entry.segment, entry.record_bytes);
}

std::size_t Queue::journal_resident() const {
  std::size_t count = 0;
  entries_.for_each([&count](const QueueId&, const std::unique_ptr<QueueEntry>& entry) { count += entry->has_file ? 0 : 1; });
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
  payload.text(key.to_string());
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
      if (const io::Status removed = io_.remove_file(path); !removed && removed.error().code != io::Errc::not_found) continue;
      for (const QueueId& key : segment.stored) {
        if (std::unique_ptr<QueueEntry>* entry = entries_.find(key); entry != nullptr && (*entry)->segment == number) (*entry)->segment = 0;
      }
      segments_.erase(found);
      io_.trace("queue.journal_segment", {{"segment", path}, {"event", "removed"}});
      continue;
    }
    if (segment.draining || segment.live_bytes * 4 > segment.size) continue;
    segment.draining = true;
    io_.trace("queue.journal_segment", {{"segment", segment_path(number)}, {"event", "compacted"}, {"messages", segment.live}});
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
        append_durably(key.to_string(), {}, done);
      } else {
        give_file(key.to_string(), {}, done);
      }
    }
  }
}

io::Result<std::string> Queue::content(const std::string& id) {
  auto message = load(id);
  if (!message) return message.error();
  return std::move(message.value().content);
}

void Queue::update(const std::string& id, std::size_t recipient, const QueuedRecipient& state, UpdateHandler on_durable) {
  update(id, std::vector<StateChange>{{recipient, state}}, std::move(on_durable));
}

void Queue::update(const std::string& id, std::vector<StateChange> changes, UpdateHandler on_durable) {
  forget_fresh(id);
  QueueEntry* found = find_mutable(id);
  if (found == nullptr) return on_durable(io::Error{io::Errc::not_found, "no queued message " + id});
  std::string records;
  for (const auto& [recipient, state] : changes) {
    if (recipient >= found->recipients.size()) {
      return on_durable(io::Error{io::Errc::not_found, "no recipient " + std::to_string(recipient) + " in " + id});
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
    forget(*QueueId::parse(id));
    return on_durable({});
  }
  append_durably(id, std::move(records), [this, id, changes = std::move(changes), on_durable](io::Status status) {
    if (status) {
      std::vector<std::size_t> finals;
      for (const auto& [recipient, state] : changes) {
        if (state.state == RecipientState::delivered || state.state == RecipientState::bounced) finals.push_back(recipient);
      }
      if (!finals.empty()) io_.observe(events::OutcomesRecorded{.id = id, .recipients = std::move(finals)});
      if (QueueEntry* entry = find_mutable(id)) {
        for (const auto& [recipient, state] : changes) {
          entry->recipients[recipient] = {state.next_attempt, state.state, state.delay_warned};
        }
        if (entry->finished()) forget(*QueueId::parse(id));
      }
    }
    on_durable(status);
  });
}

void Queue::defer_in_memory(const std::string& id, const std::vector<StateChange>& changes) {
  forget_fresh(id);
  QueueEntry* entry = find_mutable(id);
  if (entry == nullptr) return;
  for (const auto& [recipient, state] : changes) {
    RELAYSIM_ASSERT(state.state == RecipientState::deferred);
    if (recipient < entry->recipients.size()) entry->recipients[recipient] = {state.next_attempt, state.state, state.delay_warned};
  }
}

void Queue::set_held(const std::string& id, bool held, UpdateHandler on_durable) {
  forget_fresh(id);
  Writer payload;
  payload.flag(held);
  append_durably(id, frame_record(kind_hold, payload.bytes()), [this, id, held, on_durable](io::Status status) {
    if (status) {
      if (QueueEntry* entry = find_mutable(id)) entry->held = held;
    }
    on_durable(status);
  });
}

io::Status Queue::remove(const std::string& id) {
  if (find(id) == nullptr) return io::Error{io::Errc::not_found, "no queued message " + id};
  forget_fresh(id);
  forget(*QueueId::parse(id));
  return {};
}

}  // namespace relaysim::relay
