#pragma once
// The queue's on-disk records: framed, length-prefixed and checksummed, so that recovery can tell a
// complete record from a torn one. Layout of one record:
//
//   "RSQ1" (4 bytes) | kind (1) | payload length (4, little-endian) | payload | CRC-32C (4)
//
// The CRC covers kind, length and payload. Payload fields are written with Writer and read with
// Reader: integers little-endian, strings length-prefixed.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace relaysim::relay {

inline constexpr std::string_view record_magic = "RSQ1";
inline constexpr std::size_t record_overhead_bytes = 4 + 1 + 4 + 4;
// A record is a message (content included) or a state change: bounded by the largest message.
inline constexpr std::size_t record_payload_bytes_max = 512 * 1024 * 1024;

std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0);
// The same by table, a byte at a time: where the CPU lacks SSE 4.2, and as the tests' reference.
std::uint32_t crc32c_portable(std::string_view bytes, std::uint32_t crc = 0);

class Writer {
 public:
  Writer() = default;
  // A writer whose bytes become one record's payload: room for the record's head comes first, and
  // seal() frames it in place, so a large payload is never copied to be framed.
  // `reuse`, when given, is a spent record whose memory the new one takes over (its bytes go).
  static Writer for_record(std::size_t payload_bytes, std::string reuse = {});
  std::string seal(std::uint8_t kind) &&;
  // Room for `bytes` without growing (a message record knows its content's size up front).
  void reserve(std::size_t bytes) { out_.reserve(bytes); }
  void u8(std::uint8_t value) { out_ += static_cast<char>(value); }
  void u32(std::uint32_t value);
  void u64(std::uint64_t value);
  void i64(std::int64_t value) { u64(static_cast<std::uint64_t>(value)); }
  void text(std::string_view value);
  void flag(bool value) { u8(value ? 1 : 0); }
  const std::string& bytes() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads what Writer wrote; any read past the end sets failed() and returns zero values.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : in_(bytes) {}
  std::uint8_t u8();
  std::uint32_t u32();
  std::uint64_t u64();
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  std::string text();
  bool flag() { return u8() != 0; }
  bool failed() const { return failed_; }
  bool at_end() const { return in_.empty(); }

 private:
  std::string_view take(std::size_t length);
  std::string_view in_;
  bool failed_ = false;
};

// Frames a payload as one record.
std::string frame_record(std::uint8_t kind, std::string_view payload);

struct RecordView {
  std::uint8_t kind = 0;
  std::string_view payload;
};

// Reads the record at the start of `bytes`; nullopt when it is torn, corrupt or absent. `consumed`
// is set to the record's size on success.
std::optional<RecordView> read_record(std::string_view bytes, std::size_t& consumed);

// Calls `visit` with each intact record from `from` on, its offset and its size, skipping torn
// ones: after a torn record, the next intact one starts at a magic number with a valid checksum.
void for_each_record(std::string_view bytes, std::size_t from,
                     const std::function<void(const RecordView& record, std::size_t offset, std::size_t size)>& visit);

}  // namespace relaysim::relay
