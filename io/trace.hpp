#pragma once
// Trace events: every observable step of a world is one event (instant, node, kind, fields). The
// canonical form is one JSON object per line with keys in the order given, so the same steps always
// give the same bytes; a running SHA-256 over those lines is the world's digest.

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "io/time.hpp"

namespace relaysim::io {

class TraceValue {
 public:
  enum class Type : std::uint8_t { integer, text, boolean };

  TraceValue(std::string_view text) : type_(Type::text), text_(text) {}  // NOLINT: implicit on purpose
  TraceValue(const std::string& text) : type_(Type::text), text_(text) {}  // NOLINT
  TraceValue(const char* text) : type_(Type::text), text_(text) {}  // NOLINT
  TraceValue(bool value) : type_(Type::boolean), integer_(value ? 1 : 0) {}  // NOLINT
  template <typename Integer>
    requires(std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>)
  TraceValue(Integer value) : type_(Type::integer), integer_(static_cast<std::int64_t>(value)) {}  // NOLINT
  TraceValue(Duration value) : type_(Type::integer), integer_(value.count()) {}  // NOLINT: microseconds

  Type type() const { return type_; }
  std::string_view text() const { return text_; }
  std::int64_t integer() const { return integer_; }
  bool boolean() const { return integer_ != 0; }

 private:
  Type type_;
  std::string_view text_;
  std::int64_t integer_ = 0;
};

struct TraceField {
  std::string_view key;  // never "seq", "t", "node" or "kind": the line has those already
  TraceValue value;
};

using TraceFields = std::initializer_list<TraceField>;

struct TraceEvent {
  std::uint64_t sequence = 0;  // position in the world's trace, from 1
  Instant time;
  std::string_view node;
  std::string_view kind;
  std::span<const TraceField> fields;
};

// JSON string with escapes; bytes that are not valid UTF-8 become \u00XX so the line stays JSON.
void append_json_string(std::string& out, std::string_view text);
// {"seq":1,"t":"2026-03-02T09:00:00Z","node":"relay","kind":"net.accept","from":"..."}
void append_json_line(std::string& out, const TraceEvent& event);
// "+00:05:00.000  relay            net.accept  from=198.51.100.10:40000" for people.
void append_timeline_line(std::string& out, const TraceEvent& event, Instant start);

// Incremental SHA-256 (OpenSSL), hex output.
class Digest {
 public:
  Digest();
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void update(std::string_view bytes);
  // The digest of everything so far; updating may continue afterwards.
  std::string hex() const;

 private:
  // Small updates (a trace line each) are gathered and hashed in large blocks: the same digest,
  // at twice the speed of hashing each line on its own.
  static constexpr std::size_t batch_bytes = 16 * 1024;
  void hash_batch();
  void* context_;  // EVP_MD_CTX, kept opaque so this header stays light
  std::string batch_;
};

std::string sha256_hex(std::string_view bytes);

}  // namespace relaysim::io
