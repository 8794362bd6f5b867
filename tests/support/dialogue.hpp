#pragma once
// Server dialogues written as dialogues:
//
//   S: 220 mx.example ESMTP
//   C: EHLO client.example
//   S: 250-mx.example
//   ...
//
// "C: text" sends text + CRLF; consecutive C lines go out as one packet (pipelining). "C! text"
// sends text raw, with \r, \n and \\ escapes and no CRLF added. "S: text" is one expected reply
// line (CRLF added). Decisions the session asks for are answered by a policy function.

#include <catch2/catch.hpp>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "smtp/server_session.hpp"

namespace relaysim::testing {

inline std::string unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      const char next = text[++i];
      out += next == 'r' ? '\r' : next == 'n' ? '\n' : next == 't' ? '\t' : next;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The events of one type among those a dialogue collected.
template <typename Event, typename Variant>
std::vector<Event> select_events(const std::vector<Variant>& events) {
  std::vector<Event> out;
  for (const auto& event : events) {
    if (const auto* match = std::get_if<Event>(&event)) out.push_back(*match);
  }
  return out;
}

class ServerDialogue {
 public:
  using Policy = std::function<smtp::Verdict(const smtp::ServerEvent& event)>;

  explicit ServerDialogue(smtp::ServerConfig config, Policy policy = {})
      : session(std::move(config), now), policy_(std::move(policy)) {}

  // Runs a script; CHECKs the server's output against every S block.
  void run(std::string_view script) {
    std::istringstream lines{std::string(script)};
    std::string line, expected, packet;
    bool sending = false;
    const auto flush_packet = [&] {
      if (!packet.empty()) feed(packet);
      packet.clear();
    };
    const auto check_expected = [&] {
      drain();
      CHECK(output_ == expected);
      output_.clear();
      expected.clear();
    };
    while (std::getline(lines, line)) {
      const auto first = line.find_first_not_of(' ');
      if (first == std::string::npos) continue;
      line = line.substr(first);
      if (line.starts_with("C: ") || line.starts_with("C! ") || line == "C:") {
        if (!sending) check_expected();
        sending = true;
        packet += line.starts_with("C! ") ? unescape(line.substr(3))
                                          : line.substr(std::min<std::size_t>(3, line.size())) + "\r\n";
      } else if (line.starts_with("S: ") || line == "S:") {
        if (sending) flush_packet();
        sending = false;
        expected += line.substr(std::min<std::size_t>(3, line.size())) + "\r\n";
      } else {
        FAIL("dialogue line must start with C:, C! or S: - " << line);
      }
    }
    if (sending) flush_packet();
    check_expected();
  }

  // Setting the scene: feeds bytes and discards what the server answers.
  void send(const std::string& bytes) {
    feed(bytes);
    output_.clear();
  }

  void feed(const std::string& bytes) {
    session.receive(now, bytes);
    drain();
  }

  // Collects output and events, answering decisions with the policy (accept by default).
  void drain() {
    while (true) {
      output_ += session.take_output();
      auto event = session.poll_event();
      if (!event) break;
      events.push_back(*event);
      const bool decision = std::holds_alternative<smtp::server_event::Mail>(*event) ||
                            std::holds_alternative<smtp::server_event::Rcpt>(*event) ||
                            std::holds_alternative<smtp::server_event::Message>(*event) ||
                            std::holds_alternative<smtp::server_event::Auth>(*event);
      if (decision) session.decide(now, policy_ ? policy_(*event) : smtp::Verdict::accept());
    }
  }

  // What the server sent since the last check, for shuttling bytes to a client.
  std::string take_output() {
    drain();
    return std::exchange(output_, std::string());
  }

  template <typename Event>
  std::vector<Event> events_of() const {
    return select_events<Event>(events);
  }

  Instant now = *parse_iso8601("2026-03-02T09:00:00Z");
  smtp::ServerSession session;
  std::vector<smtp::ServerEvent> events;

 private:
  Policy policy_;
  std::string output_;
};

inline smtp::ServerConfig mx_config() {
  smtp::ServerConfig config;
  config.hostname = "mx.example";
  return config;
}

}  // namespace relaysim::testing
