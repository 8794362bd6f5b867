#pragma once
// Reading user-written JSON with errors that name the place: every value carries its JSON path,
// and every accessor says what it expected and what it found. Used for scenarios and configuration.

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "io/address.hpp"
#include "io/time.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::scenario {

// A mistake in the input: where (a JSON path such as `$.hosts["mx1"].addresses[0]`), what was
// expected, and what was found.
class InputError : public std::runtime_error {
 public:
  InputError(std::string path, std::string expected, std::string found);
  const std::string& path() const { return path_; }
  const std::string& expected() const { return expected_; }
  const std::string& found() const { return found_; }

  // The mistakes found after this one in the same input, each with its own path: a file with
  // three mistakes reports three. what() is this one's alone.
  const std::vector<InputError>& further() const { return further_; }
  void add_further(InputError mistake) { further_.push_back(std::move(mistake)); }

 private:
  std::string path_;
  std::string expected_;
  std::string found_;
  std::vector<InputError> further_;
};

// Every mistake of `error`, one line each: "PATH: expected ..., found ...".
std::vector<std::string> describe_mistakes(const InputError& error);

// Collects mistakes instead of stopping at the first; throws them as one InputError at the end.
class Mistakes {
 public:
  // Runs `read`; a mistake it throws is kept, and reading goes on.
  template <typename Read>
  bool collect(const Read& read) {
    try {
      read();
      return true;
    } catch (const InputError& error) {
      add(error);
      return false;
    }
  }
  void add(const InputError& error);
  bool empty() const { return all_.empty(); }
  void throw_if_any() const;  // the first, with the rest as further()

 private:
  std::vector<InputError> all_;
};

// Parses text as JSON; a syntax error becomes an InputError at its line and column ("line 4,
// column 1"), and a key given twice one at its JSON path.
nlohmann::json parse_json_text(std::string_view text, std::string_view source_name);
// Reads and parses a JSON file. A missing file, a directory, an unreadable or empty file is an
// InputError at `$` that expects `what` ("a scenario file") and says which it was.
nlohmann::json read_json_file(const std::string& path, std::string_view what);

class JsonValue {
 public:
  JsonValue(const nlohmann::json& value, std::string path) : value_(&value), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  const nlohmann::json& raw() const { return *value_; }
  bool is_null() const;
  bool is_object() const;
  bool is_array() const;
  bool is_string() const;

  // Objects. `keys` rejects any member not listed, naming it and the allowed ones.
  void allow_keys(std::initializer_list<std::string_view> keys) const;
  bool has(std::string_view key) const;
  JsonValue at(std::string_view key) const;  // required member
  std::optional<JsonValue> find(std::string_view key) const;
  std::vector<std::pair<std::string, JsonValue>> members() const;  // sorted by key, as nlohmann::json keeps them

  // Arrays.
  std::vector<JsonValue> items() const;

  // Scalars.
  std::string string() const;
  std::int64_t integer(std::int64_t minimum = INT64_MIN, std::int64_t maximum = INT64_MAX) const;
  std::uint64_t unsigned_integer() const;
  bool boolean() const;
  Duration duration() const;  // "5m", "250ms", or a number of seconds
  // An ISO-8601 instant, or "+5m" (or "-1d") relative to `origin`.
  Instant instant(Instant origin) const;
  io::Address address() const;
  io::Cidr cidr() const;
  std::uint16_t port() const;
  // One of `choices`, returned as its index.
  std::size_t choice(std::initializer_list<std::string_view> choices) const;

  [[noreturn]] void fail(std::string expected) const;

 private:
  const nlohmann::json* value_;
  std::string path_;
};

std::string describe_json(const nlohmann::json& value);  // for "found ..." in messages

// A mail address with a domain, such as "ann@example.com" (no angle brackets).
smtp::Mailbox read_mailbox(const JsonValue& value);

}  // namespace relaysim::scenario
