#include "scenario/json_reader.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace relaysim::scenario {
namespace {

std::string member_path(const std::string& parent, std::string_view key) {
  bool plain = !key.empty() && !(key.front() >= '0' && key.front() <= '9');
  for (char c : key)
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  if (plain) return parent + "." + std::string(key);
  return parent + "[" + nlohmann::json(std::string(key)).dump() + "]";
}

}  // namespace

InputError::InputError(std::string path, std::string expected, std::string found)
    : std::runtime_error(path + ": expected " + expected + ", found " + found),
      path_(std::move(path)),
      expected_(std::move(expected)),
      found_(std::move(found)) {}

std::vector<std::string> describe_mistakes(const InputError& error) {
  std::vector<std::string> lines{error.what()};
  for (const InputError& further : error.further()) {
    for (std::string& line : describe_mistakes(further)) lines.push_back(std::move(line));
  }
  return lines;
}

void Mistakes::add(const InputError& error) {
  all_.push_back(InputError(error.path(), error.expected(), error.found()));
  for (const InputError& further : error.further()) add(further);
}

void Mistakes::throw_if_any() const {
  if (all_.empty()) return;
  InputError first = all_.front();
  for (std::size_t i = 1; i < all_.size(); ++i) first.add_further(all_[i]);
  throw first;
}

std::string describe_json(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::boolean: return value.get<bool>() ? "true" : "false";
    case nlohmann::json::value_t::discarded: return "nothing";
    default: break;
  }
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

namespace {

// Where the parser is, for the path of a key given twice: one frame per open object or array.
class DuplicateKeyCheck {
 public:
  bool operator()(int /*depth*/, nlohmann::json::parse_event_t event, const nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start: frames_.emplace_back(); break;
      case Event::array_start: frames_.emplace_back().array = true; break;
      case Event::key: {
        Frame& object = frames_.back();
        object.key = parsed.get<std::string>();
        if (!object.keys.insert(object.key).second) {
          throw InputError(member_path(container_path(), object.key), "each key once",
                           parsed.dump() + " a second time in the same object");
        }
        break;
      }
      case Event::object_end:
      case Event::array_end:
        frames_.pop_back();
        element_done();
        break;
      case Event::value: element_done(); break;
    }
    return true;
  }

 private:
  struct Frame {
    bool array = false;
    std::size_t index = 0;
    std::string key;
    std::set<std::string> keys;
  };
  void element_done() {
    if (!frames_.empty() && frames_.back().array) frames_.back().index += 1;
  }
  // The path of the innermost open object or array.
  std::string container_path() const {
    std::string path = "$";
    for (std::size_t i = 0; i + 1 < frames_.size(); ++i) {
      path = frames_[i].array ? path + "[" + std::to_string(frames_[i].index) + "]" : member_path(path, frames_[i].key);
    }
    return path;
  }
  std::vector<Frame> frames_;
};

}  // namespace

nlohmann::json parse_json_text(std::string_view text, std::string_view source_name) {
  try {
    // A key given twice is a mistake the parser would hide (it keeps the last): refused, with its path.
    return nlohmann::json::parse(text.begin(), text.end(), DuplicateKeyCheck());
  } catch (const nlohmann::json::parse_error& error) {
    // "[json.exception.parse_error.101] parse error at line 4, column 1: syntax error while parsing
    // object key - unexpected '}'; expected string literal": the part after the position.
    std::string message = error.what();
    const std::size_t colon = message.find(": ");
    if (colon != std::string::npos) message = message.substr(colon + 2);
    // Where: the line and column of the byte the parser stopped at, as an editor counts them.
    const std::size_t stop = std::min<std::size_t>(error.byte == 0 ? 0 : error.byte - 1, text.size());
    const std::string_view before = text.substr(0, stop);
    const std::size_t line = static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')) + 1;
    const std::size_t line_start = before.rfind('\n');
    const std::size_t column = stop - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
    throw InputError("line " + std::to_string(line) + ", column " + std::to_string(column), "valid JSON",
                     std::string(source_name) + " does not parse: " + message);
  }
}

nlohmann::json read_json_file(const std::string& path, std::string_view what) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) throw InputError("$", std::string(what), "no file at " + path);
  if (std::filesystem::is_directory(status)) throw InputError("$", std::string(what), path + " is a directory");
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw InputError("$", std::string(what), "cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << stream.rdbuf();
  const std::string content = text.str();
  if (content.find_first_not_of(" \t\r\n") == std::string::npos)
    throw InputError("$", std::string(what), path + " is empty");
  return parse_json_text(content, path);
}

bool JsonValue::is_null() const { return value_->is_null(); }
bool JsonValue::is_object() const { return value_->is_object(); }
bool JsonValue::is_array() const { return value_->is_array(); }
bool JsonValue::is_string() const { return value_->is_string(); }

void JsonValue::fail(std::string expected) const {
  throw InputError(path_, std::move(expected), describe_json(*value_));
}

void JsonValue::allow_keys(std::initializer_list<std::string_view> keys) const {
  if (!value_->is_object()) fail("an object");
  for (const auto& [key, value] : value_->items()) {
    // A document may name its JSON Schema ("$schema": "docs/scenario.schema.json"), for editors.
    bool known = (path_ == "$" && key == "$schema") || key == "//";  // "//": a note for people, anywhere
    for (std::string_view allowed : keys) known = known || allowed == key;
    if (!known) {
      std::string list;
      for (std::string_view allowed : keys) list += (list.empty() ? "" : ", ") + std::string(allowed);
      throw InputError(member_path(path_, key), "one of the keys " + list, "unknown key \"" + key + "\"");
    }
  }
}

bool JsonValue::has(std::string_view key) const { return value_->is_object() && value_->contains(std::string(key)); }

JsonValue JsonValue::at(std::string_view key) const {
  if (!value_->is_object()) fail("an object");
  const auto found = value_->find(std::string(key));
  if (found == value_->end()) throw InputError(member_path(path_, key), "a value", "nothing (the key is required)");
  return {*found, member_path(path_, key)};
}

std::optional<JsonValue> JsonValue::find(std::string_view key) const {
  if (!value_->is_object()) fail("an object");
  const auto found = value_->find(std::string(key));
  if (found == value_->end() || found->is_null()) return std::nullopt;
  return JsonValue(*found, member_path(path_, key));
}

std::vector<std::pair<std::string, JsonValue>> JsonValue::members() const {
  if (!value_->is_object()) fail("an object");
  std::vector<std::pair<std::string, JsonValue>> out;
  for (const auto& [key, value] : value_->items()) out.emplace_back(key, JsonValue(value, member_path(path_, key)));
  return out;
}

std::vector<JsonValue> JsonValue::items() const {
  if (!value_->is_array()) fail("an array");
  std::vector<JsonValue> out;
  std::size_t index = 0;
  for (const auto& item : *value_) out.emplace_back(item, path_ + "[" + std::to_string(index++) + "]");
  return out;
}

std::string JsonValue::string() const {
  if (!value_->is_string()) fail("a string");
  return value_->get<std::string>();
}

std::int64_t JsonValue::integer(std::int64_t minimum, std::int64_t maximum) const {
  const std::string range = "an integer from " + std::to_string(minimum) + " to " + std::to_string(maximum);
  if (!value_->is_number_integer()) fail(minimum == INT64_MIN ? std::string("an integer") : range);
  if (value_->is_number_unsigned() && value_->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) fail(range);
  const auto number = value_->get<std::int64_t>();
  if (number < minimum || number > maximum) fail(range);
  return number;
}

std::uint64_t JsonValue::unsigned_integer() const {
  if (!value_->is_number_unsigned() && !(value_->is_number_integer() && value_->get<std::int64_t>() >= 0)) {
    fail("a non-negative integer");
  }
  return value_->get<std::uint64_t>();
}

bool JsonValue::boolean() const {
  if (!value_->is_boolean()) fail("true or false");
  return value_->get<bool>();
}

Duration JsonValue::duration() const {
  if (value_->is_number_integer()) {
    const auto seconds = value_->get<std::int64_t>();
    if (seconds < 0) fail("a duration that is not negative");
    return std::chrono::seconds(seconds);
  }
  if (value_->is_string()) {
    if (const auto parsed = parse_duration(value_->get<std::string>())) return *parsed;
  }
  fail("a duration such as \"250ms\", \"30s\", \"5m\", \"4h\", \"5d\" or \"1h30m\"");
}

Instant JsonValue::instant(Instant origin) const {
  if (value_->is_string()) {
    const std::string text = value_->get<std::string>();
    if (text.starts_with("+")) {
      if (const auto offset = parse_duration(std::string_view(text).substr(1))) return origin + *offset;
    } else if (text.starts_with("-")) {
      if (const auto offset = parse_duration(std::string_view(text).substr(1))) return origin - *offset;
    } else if (const auto parsed = parse_iso8601(text)) {
      return *parsed;
    }
  }
  fail("an instant such as \"2026-03-02T09:00:00Z\" or an offset from the start such as \"+5m\" or \"-1d\"");
}

io::Address JsonValue::address() const {
  if (value_->is_string()) {
    if (const auto parsed = io::Address::parse(value_->get<std::string>())) return *parsed;
  }
  fail("an IPv4 or IPv6 address");
}

io::Cidr JsonValue::cidr() const {
  if (value_->is_string()) {
    if (const auto parsed = io::Cidr::parse(value_->get<std::string>())) return *parsed;
  }
  fail("a network such as \"203.0.113.0/24\" or an address");
}

std::uint16_t JsonValue::port() const { return static_cast<std::uint16_t>(integer(1, 65535)); }

std::size_t JsonValue::choice(std::initializer_list<std::string_view> choices) const {
  std::string list;
  for (std::string_view choice_text : choices)
    list += (list.empty() ? "" : ", ") + std::string("\"") + std::string(choice_text) + "\"";
  if (value_->is_string()) {
    const std::string text = value_->get<std::string>();
    std::size_t index = 0;
    for (std::string_view choice_text : choices) {
      if (choice_text == text) return index;
      ++index;
    }
  }
  fail("one of " + list);
}

smtp::Mailbox read_mailbox(const JsonValue& value) {
  const std::optional<smtp::Mailbox> mailbox = smtp::parse_address(value.string());
  if (!mailbox) value.fail("an address such as \"ann@example.com\"");
  return *mailbox;
}

}  // namespace relaysim::scenario
