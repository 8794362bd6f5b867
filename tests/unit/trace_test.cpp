#include <catch2/catch.hpp>

#include "io/trace.hpp"

using namespace relaysim;
using relaysim::io::TraceField;

TEST_CASE("a trace event has one canonical JSON line", "[trace]") {
  const TraceField fields[] = {{"from", "198.51.100.10:40000"}, {"size", 4096}, {"tls", true}};
  const io::TraceEvent event{3, *parse_iso8601("2026-03-02T09:00:00.250Z"), "relay", "net.accept", fields};
  std::string line;
  io::append_json_line(line, event);
  CHECK(line ==
        "{\"seq\":3,\"t\":\"2026-03-02T09:00:00.250Z\",\"node\":\"relay\",\"kind\":\"net.accept\","
        "\"from\":\"198.51.100.10:40000\",\"size\":4096,\"tls\":true}\n");
}

TEST_CASE("JSON strings escape controls and keep valid UTF-8, escaping invalid bytes", "[trace]") {
  std::string out;
  io::append_json_string(out, "a\"b\\c\r\n\t\x01 é \xff");
  CHECK(out == "\"a\\\"b\\\\c\\r\\n\\t\\u0001 é \\u00ff\"");
  out.clear();
  io::append_json_string(out, "\xC0\x80");  // overlong encoding of NUL: not valid UTF-8
  CHECK(out == "\"\\u00c0\\u0080\"");
  out.clear();
  io::append_json_string(out, "\xED\xA0\x80");  // a surrogate: not valid UTF-8
  CHECK(out == "\"\\u00ed\\u00a0\\u0080\"");
}

TEST_CASE("the timeline line shows the offset from the start, the node and the fields", "[trace]") {
  const TraceField fields[] = {{"reason", "reply timeout"}, {"line", 5}};
  const Instant start = *parse_iso8601("2026-03-02T09:00:00Z");
  const io::TraceEvent event{1, start + 4h + 5min + 6s + 7ms, "client", "lines.retry", fields};
  std::string line;
  io::append_timeline_line(line, event, start);
  CHECK(line == "+04:05:06.007  client           lines.retry          reason=\"reply timeout\" line=5\n");
}

TEST_CASE("the digest is SHA-256 and can be read while it keeps growing", "[trace]") {
  io::Digest digest;
  digest.update("a");
  digest.update("bc");
  CHECK(digest.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  digest.update("d");
  CHECK(digest.hex() == io::sha256_hex("abcd"));
}

TEST_CASE("the digest is the same however the bytes arrive: small and large updates, across batches", "[trace]") {
  io::Digest digest;
  std::string all;
  for (int i = 0; i < 5000; ++i) {  // about 60 KiB of short lines: several batches
    const std::string line = "{\"seq\":" + std::to_string(i) + "}\n";
    digest.update(line);
    all += line;
    if (i == 2500) CHECK(digest.hex() == io::sha256_hex(all));
  }
  const std::string large(40 * 1024, 'x');  // larger than a batch: hashed at once, after what waits
  digest.update(large);
  all += large;
  digest.update("tail");
  all += "tail";
  CHECK(digest.hex() == io::sha256_hex(all));
}

TEST_CASE("a JSON string escapes every byte that needs it, wherever it sits in an 8-byte word", "[trace]") {
  // Plain text is copied eight bytes at a time; each byte value at each offset of two words must
  // still be found and escaped as on its own.
  const auto expected = [](unsigned char byte) -> std::string {
    if (byte == '"') return "\\\"";
    if (byte == '\\') return "\\\\";
    if (byte == '\n') return "\\n";
    if (byte == '\r') return "\\r";
    if (byte == '\t') return "\\t";
    if (byte < 0x20 || byte >= 0x7F) {  // control, DEL, and a lone byte above ASCII (not UTF-8)
      static constexpr char digits[] = "0123456789abcdef";
      return std::string("\\u00") + digits[byte >> 4] + digits[byte & 0xF];
    }
    return std::string(1, static_cast<char>(byte));
  };
  for (int byte = 0; byte < 256; ++byte) {
    for (std::size_t at = 0; at < 20; ++at) {
      std::string text(20, 'a');
      text[at] = static_cast<char>(byte);
      std::string out;
      io::append_json_string(out, text);
      REQUIRE(out == "\"" + std::string(at, 'a') + expected(static_cast<unsigned char>(byte)) +
                         std::string(19 - at, 'a') + "\"");
    }
  }
  std::string out;
  io::append_json_string(out, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\xA7 abcdefgh");  // valid UTF-8 is kept as it is
  CHECK(out == "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\xA7 abcdefgh\"");
}
