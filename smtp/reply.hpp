#pragma once
// SMTP replies: a three-digit code, an optional enhanced status code (RFC 3463, RFC 2034) and one
// or more lines of text; and an incremental parser for replies as a client receives them.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relaysim::smtp {

struct Reply {
  int code = 0;                    // 200..599
  std::string enhanced;            // "2.1.0"; empty when absent
  std::vector<std::string> lines;  // text after the code (and the enhanced code), one per line

  static Reply make(int code, std::string_view enhanced, std::string_view text);

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  // The whole reply on one line, for logs: "550 5.1.1 <x@y>: Recipient address rejected".
  std::string text() const;
  // The queue id a server named when it took a message ("250 2.0.0 Ok: queued as 4F2A1C", as
  // Postfix, relaysim and most MTAs word it); empty when it named none.
  std::string queue_id() const;
  // The enhanced status code, or the code's class as one ("4.0.0") when the server gave none.
  std::string status() const;
  // The reply on the wire: "250-first\r\n250 last\r\n", with the enhanced code on every line when set.
  std::string wire() const;
  void append_wire(std::string& out) const;  // the same, onto `out`
  bool operator==(const Reply&) const = default;
};

// Parses replies from a byte stream. Lines end with CRLF; bare LF is tolerated from servers, as
// real clients do. A reply that breaks the grammar is reported as malformed, never guessed at.
class ReplyParser {
 public:
  enum class Status { incomplete, complete, malformed };
  // Consumes bytes; returns complete when a whole reply is ready (take it with take()).
  Status feed(std::string_view& bytes);
  Reply take();
  const std::string& error() const { return error_; }

 private:
  std::string line_;
  Reply current_;
  std::optional<Reply> ready_;
  std::string error_;
  bool failed_ = false;
};

// Splits "5.1.1 text" into the enhanced code and the text, when the text starts with one.
std::pair<std::string, std::string> split_enhanced_code(std::string_view text);

}  // namespace relaysim::smtp
