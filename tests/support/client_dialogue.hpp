#pragma once
// Client dialogues written as dialogues: "S: text" is a reply line the test sends (consecutive S
// lines go out as one packet), "S! text" sends raw bytes with \r \n escapes, and "C: text" is a
// line the client must have sent.

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "smtp/client_session.hpp"
#include "support/dialogue.hpp"

namespace relaysim::testing {

class ClientDialogue {
 public:
  explicit ClientDialogue(smtp::ClientConfig config) : session(std::move(config), now) {}

  void run(std::string_view script) {
    std::istringstream lines{std::string(script)};
    std::string line, expected, packet;
    bool replying = false;
    const auto check_expected = [&] {
      output_ += session.take_output();
      CHECK(output_ == expected);
      output_.clear();
      expected.clear();
    };
    while (std::getline(lines, line)) {
      const auto first = line.find_first_not_of(' ');
      if (first == std::string::npos) continue;
      line = line.substr(first);
      if (line.starts_with("S: ") || line.starts_with("S! ")) {
        if (!replying) check_expected();
        replying = true;
        packet += line.starts_with("S! ") ? unescape(line.substr(3)) : line.substr(3) + "\r\n";
      } else if (line.starts_with("C: ") || line == "C:") {
        if (replying) feed(packet);
        packet.clear();
        replying = false;
        expected += line.substr(std::min<std::size_t>(3, line.size())) + "\r\n";
      } else {
        FAIL("dialogue line must start with S:, S! or C: - " << line);
      }
    }
    if (replying) feed(packet);
    check_expected();
  }

  void feed(const std::string& bytes) {
    session.receive(now, bytes);
    collect();
  }

  void collect() {
    output_ += session.take_output();
    while (auto event = session.poll_event()) events.push_back(*event);
  }

  std::string take_output() {
    collect();
    return std::exchange(output_, std::string());
  }

  template <typename Event>
  std::vector<Event> events_of() const {
    return select_events<Event>(events);
  }

  Instant now = *parse_iso8601("2026-03-02T09:00:00Z");
  smtp::ClientSession session;
  std::vector<smtp::ClientEvent> events;

 private:
  std::string output_;
};

inline smtp::Mailbox mailbox(const char* address) {
  const std::string_view text = address;
  const std::size_t at = text.find('@');
  return {std::string(text.substr(0, at)), std::string(text.substr(at + 1)), false, false};
}

inline smtp::OutgoingMessage message(const char* from, std::vector<const char*> to, std::string content) {
  smtp::OutgoingMessage out;
  if (std::string_view(from) != "") out.sender = mailbox(from);
  for (const char* recipient : to) out.recipients.push_back({mailbox(recipient), {}});
  out.content = std::move(content);
  return out;
}

inline smtp::ClientConfig relay_client_config(smtp::ClientTls tls = smtp::ClientTls::none) {
  smtp::ClientConfig config;
  config.helo_name = "relay.acme.example";
  config.tls = tls;
  return config;
}

}  // namespace relaysim::testing
