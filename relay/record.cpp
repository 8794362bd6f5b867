#include "relay/record.hpp"

#include <array>
#include <cstring>

#include "io/assert.hpp"

namespace relaysim::relay {
namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? 0x82F63B78u : 0);  // Castagnoli, reflected
    table[i] = crc;
  }
  return table;
}
constexpr auto crc_table = make_crc_table();

std::uint32_t load_u32(std::string_view bytes) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[0])) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[1])) << 8) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[2])) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[3])) << 24);
}

void store_u32(std::string& out, std::uint32_t value) {
  const char bytes[4] = {static_cast<char>(value & 0xFF), static_cast<char>((value >> 8) & 0xFF),
                         static_cast<char>((value >> 16) & 0xFF), static_cast<char>(value >> 24)};
  out.append(bytes, 4);
}

#if defined(__x86_64__)
// SSE 4.2 computes CRC-32C itself, eight bytes an instruction; the same values as the table.
// Each instruction waits for the one before (three cycles), so a long input runs as three
// independent lanes of lane_bytes each, joined afterwards: the CRC register after a run of data is
// the register before it, carried through that many zero bytes, XOR the run's CRC from zero - and
// carrying a register through lane_bytes zeros is linear, so four tables of 256 do it.
constexpr std::size_t lane_bytes = 256;

__attribute__((target("sse4.2"))) std::uint64_t crc32c_words(std::uint64_t state, const char* at, std::size_t words) {
  for (std::size_t i = 0; i < words; ++i, at += 8) {
    std::uint64_t word;
    std::memcpy(&word, at, 8);
    state = __builtin_ia32_crc32di(state, word);
  }
  return state;
}

using LaneShift = std::array<std::array<std::uint32_t, 256>, 4>;

__attribute__((target("sse4.2"))) LaneShift make_lane_shift() {
  LaneShift shift{};
  const std::array<char, lane_bytes> zeros{};
  for (std::size_t k = 0; k < 4; ++k) {
    for (std::uint32_t v = 0; v < 256; ++v) {
      shift[k][v] = static_cast<std::uint32_t>(crc32c_words(std::uint64_t{v} << (8 * k), zeros.data(), lane_bytes / 8));
    }
  }
  return shift;
}

std::uint32_t carry_through_lane(const LaneShift& shift, std::uint64_t state) {
  const auto x = static_cast<std::uint32_t>(state);
  return shift[0][x & 0xFF] ^ shift[1][(x >> 8) & 0xFF] ^ shift[2][(x >> 16) & 0xFF] ^ shift[3][x >> 24];
}

__attribute__((target("sse4.2"))) std::uint32_t crc32c_hardware(std::string_view bytes, std::uint32_t crc) {
  std::uint64_t state = ~crc;
  const char* at = bytes.data();
  std::size_t left = bytes.size();
  if (left >= 3 * lane_bytes) {
    static const LaneShift shift = make_lane_shift();
    for (; left >= 3 * lane_bytes; left -= 3 * lane_bytes, at += 3 * lane_bytes) {
      std::uint64_t a = state, b = 0, c = 0;
      for (std::size_t i = 0; i < lane_bytes; i += 8) {
        std::uint64_t word_a, word_b, word_c;
        std::memcpy(&word_a, at + i, 8);
        std::memcpy(&word_b, at + lane_bytes + i, 8);
        std::memcpy(&word_c, at + 2 * lane_bytes + i, 8);
        a = __builtin_ia32_crc32di(a, word_a);
        b = __builtin_ia32_crc32di(b, word_b);
        c = __builtin_ia32_crc32di(c, word_c);
      }
      state = carry_through_lane(shift, carry_through_lane(shift, a) ^ b) ^ c;
    }
  }
  state = crc32c_words(state, at, left / 8);
  at += left / 8 * 8;
  left %= 8;
  auto narrow = static_cast<std::uint32_t>(state);
  for (; left > 0; --left, ++at) narrow = __builtin_ia32_crc32qi(narrow, static_cast<unsigned char>(*at));
  return ~narrow;
}
#endif

}  // namespace

std::uint32_t crc32c_portable(std::string_view bytes, std::uint32_t crc) {
  crc = ~crc;
  for (const char c : bytes) crc = (crc >> 8) ^ crc_table[(crc ^ static_cast<unsigned char>(c)) & 0xFF];
  return ~crc;
}

std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc) {
#if defined(__x86_64__)
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return crc32c_hardware(bytes, crc);
#endif
  return crc32c_portable(bytes, crc);
}

void Writer::u32(std::uint32_t value) { store_u32(out_, value); }
void Writer::u64(std::uint64_t value) {
  u32(static_cast<std::uint32_t>(value));
  u32(static_cast<std::uint32_t>(value >> 32));
}
void Writer::text(std::string_view value) {
  u32(static_cast<std::uint32_t>(value.size()));
  out_.append(value);
}

std::string_view Reader::take(std::size_t length) {
  if (failed_ || in_.size() < length) {
    failed_ = true;
    return {};
  }
  const std::string_view out = in_.substr(0, length);
  in_.remove_prefix(length);
  return out;
}
std::uint8_t Reader::u8() {
  const std::string_view bytes = take(1);
  return bytes.empty() ? 0 : static_cast<std::uint8_t>(bytes[0]);
}
std::uint32_t Reader::u32() {
  const std::string_view bytes = take(4);
  return bytes.empty() ? 0 : load_u32(bytes);
}
std::uint64_t Reader::u64() {
  const std::uint64_t low = u32();
  const std::uint64_t high = u32();
  return low | (high << 32);
}
std::string Reader::text() {
  const std::uint32_t length = u32();
  return std::string(take(length));
}

Writer Writer::for_record(std::size_t payload_bytes, std::string reuse) {
  Writer writer;
  writer.out_ = std::move(reuse);
  writer.out_.clear();
  writer.out_.reserve(record_overhead_bytes + payload_bytes);
  writer.out_.append(record_overhead_bytes - 4, '\0');  // magic, kind, length: filled by seal()
  return writer;
}

std::string Writer::seal(std::uint8_t kind) && {
  constexpr std::size_t head = record_overhead_bytes - 4;
  RELAYSIM_ASSERT(out_.size() >= head);
  const std::size_t payload = out_.size() - head;
  std::string covered;
  covered += static_cast<char>(kind);
  store_u32(covered, static_cast<std::uint32_t>(payload));
  out_.replace(0, record_magic.size(), record_magic);
  out_.replace(record_magic.size(), covered.size(), covered);
  const std::uint32_t crc = crc32c(std::string_view(out_).substr(head), crc32c(covered));
  store_u32(out_, crc);
  return std::move(out_);
}

std::string frame_record(std::uint8_t kind, std::string_view payload) {
  std::string covered;
  covered += static_cast<char>(kind);
  store_u32(covered, static_cast<std::uint32_t>(payload.size()));
  std::string out;
  out.reserve(record_overhead_bytes + payload.size());
  out += record_magic;
  out += covered;
  out.append(payload);
  store_u32(out, crc32c(payload, crc32c(covered)));
  return out;
}

std::optional<RecordView> read_record(std::string_view bytes, std::size_t& consumed) {
  if (bytes.size() < record_overhead_bytes || bytes.substr(0, 4) != record_magic) return std::nullopt;
  const std::uint32_t length = load_u32(bytes.substr(5, 4));
  if (length > record_payload_bytes_max || bytes.size() < record_overhead_bytes + length) return std::nullopt;
  const std::string_view covered = bytes.substr(4, 5);
  const std::string_view payload = bytes.substr(9, length);
  if (load_u32(bytes.substr(9 + length, 4)) != crc32c(payload, crc32c(covered))) return std::nullopt;
  consumed = record_overhead_bytes + length;
  return RecordView{static_cast<std::uint8_t>(bytes[4]), payload};
}

void for_each_record(std::string_view bytes, std::size_t from,
                     const std::function<void(const RecordView& record, std::size_t offset, std::size_t size)>& visit) {
  std::size_t at = from;
  while (at < bytes.size()) {
    std::size_t consumed = 0;
    const auto record = read_record(bytes.substr(at), consumed);
    if (!record) {
      at = bytes.find(record_magic, at + 1);
      if (at == std::string_view::npos) return;
      continue;
    }
    visit(*record, at, consumed);
    at += consumed;
  }
}

}  // namespace relaysim::relay
