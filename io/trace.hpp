#pragma once
// Trace events: every observable step of a world is one event (instant, node, kind, fields). The
// canonical form is one JSON object per line with keys in the order given, so the same steps always
// give the same bytes; a running SHA-256 over those lines is the world's digest.

#include <array>
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

  TraceValue() : type_(Type::integer) {}
  TraceValue(std::string_view text) : type_(Type::text), text_(text) {}      // NOLINT: implicit on purpose
  TraceValue(const std::string& text) : type_(Type::text), text_(text) {}    // NOLINT
  TraceValue(const char* text) : type_(Type::text), text_(text) {}           // NOLINT
  TraceValue(bool value) : type_(Type::boolean), integer_(value ? 1 : 0) {}  // NOLINT
  template <typename Integer>
  requires(std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>) TraceValue(Integer value)
      : type_(Type::integer), integer_(static_cast<std::int64_t>(value)) {}      // NOLINT
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

// The fields a typed event writes for its trace line, in order. Text a field needs that the event
// does not hold (a joined list, a formatted instant) is kept here for the line's lifetime.
class TraceFieldList {
 public:
  static constexpr std::size_t fields_max = 24;
  static constexpr std::size_t kept_texts_max = 4;

  TraceFieldList() = default;
  TraceFieldList(const TraceFieldList&) = delete;
  TraceFieldList& operator=(const TraceFieldList&) = delete;

  void add(std::string_view key, TraceValue value);
  // Keeps `text` and returns a view of it that lives as long as this list.
  std::string_view keep(std::string text);
  std::span<const TraceField> fields() const { return {fields_.data(), size_}; }

 private:
  std::array<TraceField, fields_max> fields_{};
  std::size_t size_ = 0;
  std::array<std::string, kept_texts_max> kept_;
  std::size_t kept_size_ = 0;
};

// Typed observable steps. Each producing layer declares its events as plain structs in one header
// (relay/events.hpp, fake_mx/events.hpp, fake_salesforce/events.hpp, sender/events.hpp, sim/events.hpp),
// each with its trace kind and a `write` that gives its trace line's fields:
//
//   struct Retry { static constexpr std::string_view kind = "relay.retry"; std::string_view id; ...
//                  void write(io::TraceFieldList& fields) const; };
//
// The trace line and its digest are the event's on-disk form; in-process observers get the struct
// itself (TraceEvent::as), so checks read members and enums, never field names or free text.
// Texts in an event are views, valid while it is being delivered; an observer that keeps one copies it.
class Observation {
 public:
  virtual std::string_view kind() const = 0;
  virtual void write(TraceFieldList& fields) const = 0;

 protected:
  ~Observation() = default;
};

template <typename Event>
class Observed final : public Observation {
 public:
  explicit Observed(const Event& event) : event_(event) {}
  std::string_view kind() const override { return Event::kind; }
  void write(TraceFieldList& fields) const override { event_.write(fields); }
  const Event& event() const { return event_; }

 private:
  const Event& event_;
};

struct TraceEvent {
  std::uint64_t sequence = 0;  // position in the world's trace, from 1
  Instant time;
  std::string_view node;
  std::string_view kind;
  std::span<const TraceField> fields;
  const Observation* observation = nullptr;  // the typed event, when the step was reported as one

  // The typed event, when it is one of type `Event`; else null.
  template <typename Event>
  const Event* as() const {
    const auto* observed = dynamic_cast<const Observed<Event>*>(observation);
    return observed == nullptr ? nullptr : &observed->event();
  }
};

// A line of a node's log, as a Postfix administrator reads it.
struct LogLine {
  static constexpr std::string_view kind = "log";
  std::string_view line;

  void write(TraceFieldList& fields) const { fields.add("line", line); }
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
