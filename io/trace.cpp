#include "io/trace.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "io/assert.hpp"
#include "io/text.hpp"

namespace relaysim::io {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 when it is not one.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  std::size_t length = 0;
  std::uint32_t minimum = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    minimum = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    minimum = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    minimum = 0x10000;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  std::uint32_t code_point = lead & (0xFFu >> (length + 1));
  for (std::size_t k = 1; k < length; ++k) {
    const auto continuation = static_cast<unsigned char>(text[i + k]);
    if ((continuation & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (continuation & 0x3Fu);
  }
  if (code_point < minimum || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) return 0;
  return length;
}

void append_hex_escape(std::string& out, unsigned char byte) {
  static constexpr char digits[] = "0123456789abcdef";
  out += "\\u00";
  out += digits[byte >> 4];
  out += digits[byte & 0xF];
}

void append_value(std::string& out, const TraceValue& value) {
  switch (value.type()) {
    case TraceValue::Type::integer: out += std::to_string(value.integer()); return;
    case TraceValue::Type::boolean: out += value.boolean() ? "true" : "false"; return;
    case TraceValue::Type::text: append_json_string(out, value.text()); return;
  }
}

}  // namespace

void TraceFieldList::add(std::string_view key, TraceValue value) {
  RELAYSIM_ASSERT(size_ < fields_max);
  fields_[size_++] = TraceField{key, value};
}

std::string_view TraceFieldList::keep(std::string text) {
  RELAYSIM_ASSERT(kept_size_ < kept_texts_max);
  kept_[kept_size_] = std::move(text);
  return kept_[kept_size_++];
}

namespace {

// Bytes that go into a JSON string as they are: printable ASCII but the quote and the backslash.
constexpr std::array<bool, 256> plain_json_bytes() {
  std::array<bool, 256> plain{};
  for (int byte = 0x20; byte < 0x7F; ++byte) plain[static_cast<std::size_t>(byte)] = byte != '"' && byte != '\\';
  return plain;
}
constexpr std::array<bool, 256> plain_json_byte = plain_json_bytes();

// Whether any of the 8 bytes in `word` needs more than copying: a control byte, the quote, the
// backslash, DEL or a byte above ASCII. (The classic "has a zero byte" test, per byte class.)
constexpr bool word_needs_care(std::uint64_t word) {
  constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  const auto zero_byte = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
  const std::uint64_t below_space = (word - ones * 0x20) & ~word & highs;
  return (below_space | zero_byte(word ^ (ones * '"')) | zero_byte(word ^ (ones * '\\')) |
          zero_byte(word ^ (ones * 0x7F)) | (word & highs)) != 0;
}

std::size_t plain_run_end(std::string_view text, std::size_t i) {
  // Eight bytes at a time while none needs care, then byte by byte.
  while (i + 8 <= text.size()) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    if (word_needs_care(word)) break;
    i += 8;
  }
  while (i < text.size() && plain_json_byte[static_cast<unsigned char>(text[i])]) ++i;
  return i;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    // Plain printable ASCII goes out in runs: most of a trace is made of it.
    const std::size_t run = plain_run_end(text, i);
    if (run > i) {
      out.append(text.substr(i, run - i));
      i = run;
      continue;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7F) {
            append_hex_escape(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      append_hex_escape(out, c);
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  out += '"';
}

void append_json_line(std::string& out, const TraceEvent& event) {
  out += "{\"seq\":";
  out += std::to_string(event.sequence);
  out += ",\"t\":\"";
  append_iso8601(out, event.time);
  out += "\",\"node\":";
  append_json_string(out, event.node);
  out += ",\"kind\":";
  append_json_string(out, event.kind);
  for (const TraceField& field : event.fields) {
    // A field named like the line's own keys would make a duplicate key, which JSON readers
    // resolve by keeping one of the two: the event's kind would read as the field's value.
    RELAYSIM_ASSERT(field.key != "seq" && field.key != "t" && field.key != "node" && field.key != "kind");
    out += ',';
    append_json_string(out, field.key);
    out += ':';
    append_value(out, field.value);
  }
  out += "}\n";
}

void append_timeline_line(std::string& out, const TraceEvent& event, Instant start) {
  const Duration offset = event.time - start;
  const bool negative = offset.count() < 0;
  const std::int64_t total_ms = (negative ? -offset.count() : offset.count()) / 1000;
  const std::int64_t hours = total_ms / 3'600'000;
  char prefix[48];
  std::snprintf(prefix, sizeof prefix, "%c%02lld:%02lld:%02lld.%03lld  ", negative ? '-' : '+',
                static_cast<long long>(hours), static_cast<long long>(total_ms / 60'000 % 60),
                static_cast<long long>(total_ms / 1000 % 60), static_cast<long long>(total_ms % 1000));
  out += prefix;
  const std::size_t node_start = out.size();
  out += event.node;
  while (out.size() < node_start + 16) out += ' ';
  out += ' ';
  const std::size_t kind_start = out.size();
  out += event.kind;
  while (out.size() < kind_start + 20) out += ' ';
  for (const TraceField& field : event.fields) {
    out += ' ';
    out += field.key;
    out += '=';
    if (field.value.type() == TraceValue::Type::text) {
      const std::string_view text = field.value.text();
      const bool needs_quotes = text.empty() || text.find_first_of(" \"=\r\n\t") != std::string_view::npos;
      if (needs_quotes) {
        append_json_string(out, text);
      } else {
        out += text;
      }
    } else {
      append_value(out, field.value);
    }
  }
  out += '\n';
}

Digest::Digest() : context_(EVP_MD_CTX_new()) {
  RELAYSIM_ASSERT(context_ != nullptr);
  RELAYSIM_ASSERT(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(context_), EVP_sha256(), nullptr) == 1);
}

Digest::~Digest() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_)); }

void Digest::update(std::string_view bytes) {
  if (bytes.size() >= batch_bytes) {
    hash_batch();
    RELAYSIM_ASSERT(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context_), bytes.data(), bytes.size()) == 1);
    return;
  }
  if (batch_.size() + bytes.size() > batch_bytes) hash_batch();
  if (batch_.capacity() < batch_bytes) batch_.reserve(batch_bytes);
  batch_.append(bytes);
}

void Digest::hash_batch() {
  if (batch_.empty()) return;
  RELAYSIM_ASSERT(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context_), batch_.data(), batch_.size()) == 1);
  batch_.clear();
}

std::string Digest::hex() const {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  RELAYSIM_ASSERT(copy != nullptr);
  RELAYSIM_ASSERT(EVP_MD_CTX_copy_ex(copy, static_cast<EVP_MD_CTX*>(context_)) == 1);
  RELAYSIM_ASSERT(EVP_DigestUpdate(copy, batch_.data(), batch_.size()) == 1);
  unsigned char bytes[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  RELAYSIM_ASSERT(EVP_DigestFinal_ex(copy, bytes, &length) == 1);
  EVP_MD_CTX_free(copy);
  return to_hex(bytes, length);
}

std::string sha256_hex(std::string_view bytes) {
  Digest digest;
  digest.update(bytes);
  return digest.hex();
}

}  // namespace relaysim::io
