#include "smtp/reply.hpp"

#include <algorithm>

#include "io/text.hpp"
#include "smtp/limits.hpp"

namespace relaysim::smtp {
namespace {

// "x.y.z" per RFC 3463: class 2, 4 or 5; subject 0-999; detail 0-999.
bool is_enhanced_code(std::string_view text) {
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') return false;
  std::size_t at = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (at < text.size() && is_ascii_digit(text[at])) {
      ++at;
      ++digits;
    }
    if (digits == 0 || digits > 3) return false;
    if (part == 0) {
      if (at >= text.size() || text[at] != '.') return false;
      ++at;
    }
  }
  return at == text.size();
}

}  // namespace

std::pair<std::string, std::string> split_enhanced_code(std::string_view text) {
  const std::size_t space = text.find(' ');
  const std::string_view first = text.substr(0, space);
  if (!is_enhanced_code(first)) return {{}, std::string(text)};
  return {std::string(first), space == std::string_view::npos ? std::string() : std::string(text.substr(space + 1))};
}

Reply Reply::make(int code, std::string_view enhanced, std::string_view text) {
  Reply reply;
  reply.code = code;
  reply.enhanced = std::string(enhanced);
  std::size_t start = 0;
  while (true) {
    const std::size_t newline = text.find('\n', start);
    reply.lines.emplace_back(
        text.substr(start, newline == std::string_view::npos ? std::string_view::npos : newline - start));
    if (newline == std::string_view::npos) break;
    start = newline + 1;
  }
  return reply;
}

std::string Reply::text() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) out += " " + enhanced;
  for (const std::string& line : lines) {
    if (!line.empty()) out += " " + line;
  }
  return out;
}

std::string Reply::status() const {
  if (!enhanced.empty()) return enhanced;
  return std::to_string(code / 100) + ".0.0";
}

std::string Reply::queue_id() const {
  static constexpr std::string_view marker = "queued as ";
  if (code != 250) return {};
  for (const std::string& line : lines) {
    const std::size_t found = line.find(marker);
    if (found == std::string::npos) continue;
    const std::size_t start = found + marker.size();
    const std::size_t end = line.find_first_of(" )", start);
    return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  return {};
}

std::string Reply::wire() const {
  std::string out;
  append_wire(out);
  return out;
}

void Reply::append_wire(std::string& out) const {
  const std::string code_text = std::to_string(code);
  const std::size_t count = std::max<std::size_t>(lines.size(), 1);  // no lines: one empty one
  for (std::size_t i = 0; i < count; ++i) {
    const std::string_view line = lines.empty() ? std::string_view() : std::string_view(lines[i]);
    out += code_text;
    out += i + 1 < count ? '-' : ' ';
    if (!enhanced.empty()) {
      out += enhanced;
      if (!line.empty()) out += ' ';
    }
    out += line;
    out += "\r\n";
  }
}

ReplyParser::Status ReplyParser::feed(std::string_view& bytes) {
  if (failed_) return Status::malformed;
  const auto fail = [this](std::string reason) {
    error_ = std::move(reason);
    failed_ = true;
    return Status::malformed;
  };
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, newline == std::string_view::npos ? bytes.size() : newline + 1);
    bytes.remove_prefix(piece.size());
    // A whole line in one piece is parsed in place; only split lines are gathered in line_.
    std::string_view line = piece;
    if (!line_.empty() || newline == std::string_view::npos) {
      line_.append(piece);
      line = line_;
    }
    if (line.size() > reply_line_bytes_max * 2)
      return fail("reply line too long");  // generous: some servers exceed 512
    if (newline == std::string_view::npos) return Status::incomplete;
    line.remove_suffix(1);  // \n
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() < 3 || !is_ascii_digit(line[0]) || !is_ascii_digit(line[1]) || !is_ascii_digit(line[2]) ||
        (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      return fail("malformed reply line: " + std::string(line.substr(0, 80)));
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code < 200 || code > 599) return fail("reply code out of range: " + std::string(line.substr(0, 3)));
    if (!current_.lines.empty() && code != current_.code) return fail("reply code changed inside a multi-line reply");
    if (current_.lines.size() >= reply_lines_max) return fail("too many reply lines");
    current_.code = code;
    const bool last = line.size() == 3 || line[3] == ' ';
    const std::string_view rest = line.size() > 4 ? line.substr(4) : std::string_view();
    const std::size_t space = rest.find(' ');
    const std::string_view first = rest.substr(0, space);
    const bool has_enhanced = is_enhanced_code(first);
    const std::string_view text =
        has_enhanced ? (space == std::string_view::npos ? std::string_view() : rest.substr(space + 1)) : rest;
    if (current_.lines.empty() && has_enhanced) current_.enhanced = std::string(first);
    // Lines keep a different enhanced code than the first line's, so nothing is lost.
    if (has_enhanced && first != current_.enhanced) {
      current_.lines.emplace_back(std::string(first) + " " + std::string(text));
    } else {
      current_.lines.emplace_back(text);
    }
    line_.clear();
    if (last) {
      ready_ = std::move(current_);
      current_ = Reply();
      return Status::complete;
    }
  }
  return Status::incomplete;
}

Reply ReplyParser::take() {
  Reply reply = std::move(*ready_);
  ready_.reset();
  return reply;
}

}  // namespace relaysim::smtp
