#pragma once
// A receiving SMTP server for delivery tests whose every reply is scripted: greeting, EHLO, MAIL,
// RCPT per address, DATA, end of data - or silence, or a dropped connection after the final dot.
// It parses commands itself, line by line, sharing no code with the server engine, so the relay's
// client is tested against an independent peer. It models nothing else: no pipelining checks, no
// TLS, no limits.

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/io.hpp"
#include "io/text.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::testing {

struct MxScript {
  std::string greeting = "220 mx ESMTP";  // "" says nothing (the client times out)
  std::string ehlo = "250-mx\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 DSN";
  std::string mail = "250 2.1.0 Ok";
  std::map<std::string, std::string> rcpt;  // by address; others get rcpt_default
  std::string rcpt_default = "250 2.1.5 Ok";
  std::string data = "354 End data with <CR><LF>.<CR><LF>";
  std::string end_of_data = "250 2.0.0 Ok: queued";
  bool drop_after_dot = false;       // reset the connection after the final dot, before any reply
  int refuse_first_connections = 0;  // greet this many connections with 421 and close
  std::uint16_t port = 25;
};

struct MxMessage {
  std::string sender;
  std::vector<std::string> recipients;
  std::vector<std::string> rcpt_lines;  // the RCPT commands as sent, parameters included
  std::string mail_line;
  std::string content;  // unstuffed, CRLF
};

struct MxLog {
  std::vector<MxMessage> messages;
  int connections = 0;
  int concurrent = 0;
  int concurrent_max = 0;
  int transactions = 0;               // MAIL commands
  std::vector<std::string> commands;  // every command line, in order
};

class ScriptedMx final : public io::Node {
 public:
  ScriptedMx(io::Io& io, MxScript script, MxLog& record) : io_(io), script_(std::move(script)), record_(record) {}

  void start() override {
    auto listener = io_.listen({io::Address::any_v4(), script_.port},
                               [this](std::unique_ptr<io::Connection> connection) { accept(std::move(connection)); });
    if (listener) listener_ = std::move(listener).value();
  }
  std::string status() const override { return std::to_string(record_.messages.size()) + " messages"; }

 private:
  struct Session {
    std::unique_ptr<io::Connection> connection;
    std::string buffer;
    bool in_data = false;
    MxMessage message;
    std::string pending_sender;
    std::vector<std::string> accepted;
    std::vector<std::string> rcpt_lines;
    std::string mail_line;
    bool closed = false;
  };

  void accept(std::unique_ptr<io::Connection> connection) {
    record_.connections += 1;
    record_.concurrent_max = std::max(record_.concurrent_max, ++record_.concurrent);
    const std::uint64_t id = next_id_++;
    Session& session = sessions_[id];
    session.connection = std::move(connection);
    session.connection->on_receive([this, id](std::string_view bytes) { receive(id, bytes); });
    session.connection->on_close([this, id](io::CloseReason) { forget(id); });
    if (record_.connections <= script_.refuse_first_connections) {
      reply(session, "421 4.3.2 Service not available, closing transmission channel");
      session.connection->close();
      forget(id);
      return;
    }
    if (!script_.greeting.empty()) reply(session, script_.greeting);
  }

  // The session object stays (a closed connection still delivers what was queued on it).
  void forget(std::uint64_t id) {
    auto found = sessions_.find(id);
    if (found == sessions_.end() || found->second.closed) return;
    found->second.closed = true;
    record_.concurrent -= 1;
  }

  void reply(Session& session, const std::string& text) { (void)session.connection->send(text + "\r\n"); }

  void receive(std::uint64_t id, std::string_view bytes) {
    auto found = sessions_.find(id);
    if (found == sessions_.end() || found->second.closed) return;
    Session& session = found->second;
    session.buffer.append(bytes);
    while (true) {
      if (session.in_data) {
        const std::size_t end = session.buffer.find("\r\n.\r\n");
        const bool empty_body = session.buffer.starts_with(".\r\n");
        if (end == std::string::npos && !empty_body) return;
        std::string data = empty_body ? std::string() : session.buffer.substr(0, end + 2);
        session.buffer.erase(0, empty_body ? 3 : end + 5);
        session.in_data = false;
        // Undo dot-stuffing.
        std::string content;
        std::size_t at = 0;
        while (at < data.size()) {
          std::size_t line_end = data.find("\r\n", at);
          if (line_end == std::string::npos) line_end = data.size();
          std::string_view line = std::string_view(data).substr(at, line_end - at);
          if (line.starts_with('.')) line.remove_prefix(1);
          content.append(line);
          content += "\r\n";
          at = line_end + 2;
        }
        if (script_.drop_after_dot) {
          session.connection->abort();
          forget(id);
          return;
        }
        if (script_.end_of_data.starts_with("2")) {
          record_.messages.push_back(
              {session.pending_sender, session.accepted, session.rcpt_lines, session.mail_line, content});
        }
        reply(session, script_.end_of_data);
        continue;
      }
      const std::size_t end = session.buffer.find("\r\n");
      if (end == std::string::npos) return;
      const std::string line = session.buffer.substr(0, end);
      session.buffer.erase(0, end + 2);
      record_.commands.push_back(line);
      const std::string verb = to_lower(line.substr(0, 4));
      if (verb == "ehlo") {
        reply(session, script_.ehlo);
      } else if (verb == "helo") {
        reply(session, "250 mx");
      } else if (verb == "mail") {
        record_.transactions += 1;
        session.accepted.clear();
        session.rcpt_lines.clear();
        session.mail_line = line;
        const std::size_t open = line.find('<'), close = line.find('>');
        session.pending_sender = line.substr(open + 1, close - open - 1);
        reply(session, script_.mail);
      } else if (verb == "rcpt") {
        const std::size_t open = line.find('<'), close = line.find('>');
        const std::string address = line.substr(open + 1, close - open - 1);
        const auto scripted = script_.rcpt.find(address);
        const std::string& answer = scripted == script_.rcpt.end() ? script_.rcpt_default : scripted->second;
        if (answer.starts_with("2")) {
          session.accepted.push_back(address);
          session.rcpt_lines.push_back(line);
        }
        reply(session, answer);
      } else if (verb == "data") {
        if (session.accepted.empty()) {
          reply(session, "554 5.5.1 Error: no valid recipients");
        } else {
          reply(session, script_.data);
          session.in_data = script_.data.starts_with("354");
        }
      } else if (verb == "rset") {
        session.accepted.clear();
        reply(session, "250 2.0.0 Ok");
      } else if (verb == "quit") {
        reply(session, "221 2.0.0 Bye");
        session.connection->close();
        forget(id);
        return;
      } else {
        reply(session, "502 5.5.2 Error: command not recognized");
      }
    }
  }

  io::Io& io_;
  MxScript script_;
  MxLog& record_;
  std::unique_ptr<io::Listener> listener_;
  std::map<std::uint64_t, Session> sessions_;
  std::uint64_t next_id_ = 1;
};

}  // namespace relaysim::testing
