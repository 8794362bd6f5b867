#include "smtp/reply.hpp"

#include "smtp/limits.hpp"

namespace relaysim::smtp {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "x.y.z" per RFC 3463: class 2, 4 or 5; subject 0-999; detail 0-999.
bool is_enhanced_code(std::string_view text) {
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') return false;
  std::size_t at = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (at < text.size() && is_digit(text[at])) {
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
    reply.lines.emplace_back(text.substr(start, newline == std::string_view::npos ? std::string_view::npos : newline - start));
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

std::string Reply::wire() const {
  std::string out;
  const std::string code_text = std::to_string(code);
  const std::vector<std::string> text = lines.empty() ? std::vector<std::string>{""} : lines;
  for (std::size_t i = 0; i < text.size(); ++i) {
    out += code_text;
    out += i + 1 < text.size() ? '-' : ' ';
    if (!enhanced.empty()) out += enhanced + (text[i].empty() ? "" : " ");
    out += text[i];
    out += "\r\n";
  }
  return out;
}

ReplyParser::Status ReplyParser::feed(std::string_view& bytes) {
  if (failed_) return Status::malformed;
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, newline == std::string_view::npos ? bytes.size() : newline + 1);
    line_.append(piece);
    bytes.remove_prefix(piece.size());
    if (line_.size() > reply_line_bytes_max * 2) {  // generous: some servers exceed 512
      error_ = "reply line too long";
      failed_ = true;
      return Status::malformed;
    }
    if (newline == std::string_view::npos) return Status::incomplete;
    std::string line = line_;
    line_.clear();
    line.pop_back();                                   // \n
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
        (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      error_ = "malformed reply line: " + line.substr(0, 80);
      failed_ = true;
      return Status::malformed;
    }
    const int code = std::stoi(line.substr(0, 3));
    if (code < 200 || code > 599) {
      error_ = "reply code out of range: " + line.substr(0, 3);
      failed_ = true;
      return Status::malformed;
    }
    if (!current_.lines.empty() && code != current_.code) {
      error_ = "reply code changed inside a multi-line reply";
      failed_ = true;
      return Status::malformed;
    }
    if (current_.lines.size() >= reply_lines_max) {
      error_ = "too many reply lines";
      failed_ = true;
      return Status::malformed;
    }
    current_.code = code;
    const bool last = line.size() == 3 || line[3] == ' ';
    auto [enhanced, text] = split_enhanced_code(line.size() > 4 ? std::string_view(line).substr(4) : std::string_view());
    if (current_.lines.empty()) current_.enhanced = enhanced;
    current_.lines.push_back(current_.enhanced.empty() || enhanced != current_.enhanced ? (enhanced.empty() ? text : enhanced + " " + text) : text);
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
