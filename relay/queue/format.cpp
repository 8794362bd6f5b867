// The queue's records: a message, a recipient's state, a hold and a removal, as they are written to
// queue files and journal segments (framing in relay/record.cpp); queue ids; the summary the queue
// keeps in memory of each message.

#include "relay/queue/format.hpp"

#include <algorithm>
#include <array>

#include "relay/queue.hpp"

namespace relaysim::relay {

using namespace queue_records;

namespace {

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

namespace queue_records {

void write_state(Writer& out, const QueuedRecipient& recipient) {
  out.u8(static_cast<std::uint8_t>(recipient.state));
  out.u32(static_cast<std::uint32_t>(recipient.attempts));
  out.i64(recipient.next_attempt.unix_microseconds());
  out.text(recipient.last_reply);
  out.flag(recipient.delay_warned);
}

}  // namespace queue_records

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

QueueId::Text QueueId::text() const {
  static constexpr char digits[] = "0123456789ABCDEF";
  Text text;  // 14 hex digits of time, 8 of the rest
  for (int i = 13; i >= 0; --i) text.digits[static_cast<std::size_t>(i)] = digits[(time >> (4 * (13 - i))) & 0xF];
  for (int i = 7; i >= 0; --i) text.digits[static_cast<std::size_t>(14 + i)] = digits[(rest >> (4 * (7 - i))) & 0xF];
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

std::optional<QueuedMessage> replay_queue_file(std::string_view bytes, const QueueId& id) {
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

namespace queue_records {

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
  out.text(message.id.text().view());
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

}  // namespace queue_records

std::string encode_message(const QueuedMessage& message) {
  Writer out;
  out.reserve(encoded_size_estimate(message));
  write_message(out, message);
  return out.take();
}

std::optional<QueuedMessage> decode_message(std::string_view payload) {
  Reader in(payload);
  QueuedMessage message;
  const std::optional<QueueId> id = QueueId::parse(in.text());
  if (!id) return std::nullopt;
  message.id = *id;
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

}  // namespace relaysim::relay
