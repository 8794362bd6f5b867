#pragma once
// Two small SMTP nodes over Io for tests: a sink that accepts everything (checking AUTH against a
// table) and keeps what it received, and a sender that delivers messages and keeps the outcomes.
// They run in the simulation and on the real backend alike.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "endpoint/client_connection.hpp"
#include "endpoint/server_connection.hpp"
#include "io/io.hpp"

namespace relaysim::testing {

struct SinkRecord {
  std::vector<smtp::server_event::Message> messages;
  // Off, a message's content is counted and checked, then released: `messages` keep envelopes
  // with empty contents. For long benchmark runs, whose mailbox would otherwise hold every body
  // in memory (Postfix's smtp-sink keeps none either).
  bool keep_content = true;
  std::uint64_t content_bytes = 0;
  // When set, every message's content must end with these bytes (a relay adds headers on top);
  // those that do not are counted.
  std::string expected_content_ending;
  int unexpected_contents = 0;
  // Off, sessions keep no transcript and `transcripts` stays empty.
  bool keep_transcripts = true;
  std::vector<std::string> transcripts;
  std::vector<std::string> authenticated_users;
  std::vector<std::string> tls_versions;
  int connections = 0;
  int violations = 0;
};

class SinkNode final : public io::Node {
 public:
  SinkNode(io::Io& io, io::Endpoint listen_on, smtp::ServerConfig config, const tls::Context* tls,
           std::map<std::string, std::string> users, SinkRecord& record)
      : io_(io),
        listen_on_(listen_on),
        config_(std::move(config)),
        tls_(tls),
        users_(std::move(users)),
        record_(record) {}

  void start() override {
    auto listener = io_.listen(listen_on_, [this](std::unique_ptr<io::Connection> connection) {
      record_.connections += 1;
      const std::uint64_t id = connection->id();
      sessions_[id] = std::make_unique<endpoint::ServerConnection>(
          io_, std::move(connection), config_, tls_,
          [this, id](endpoint::ServerConnection& session, smtp::ServerEvent& event) { on_event(id, session, event); });
      sessions_[id]->keep_transcript(record_.keep_transcripts);
    });
    if (listener) listener_ = std::move(listener).value();
  }
  std::string status() const override { return std::to_string(record_.messages.size()) + " messages"; }
  io::Endpoint listening() const { return listener_ ? listener_->local_endpoint() : io::Endpoint{}; }

 private:
  void on_event(std::uint64_t id, endpoint::ServerConnection& session, smtp::ServerEvent& event) {
    if (const auto* auth = std::get_if<smtp::server_event::Auth>(&event)) {
      const auto user = users_.find(auth->user);
      const bool good = user != users_.end() && user->second == auth->password;
      if (good) record_.authenticated_users.push_back(auth->user);
      return session.decide(
          good ? smtp::Verdict::accept()
               : smtp::Verdict::reject(smtp::Reply::make(535, "5.7.8", "Error: authentication failed")));
    }
    if (auto* message = std::get_if<smtp::server_event::Message>(&event)) {
      record_.content_bytes += message->content.size();
      if (!record_.expected_content_ending.empty() && !message->content.ends_with(record_.expected_content_ending)) {
        record_.unexpected_contents += 1;
      }
      if (!record_.keep_content) std::string().swap(message->content);  // its memory goes now
      record_.messages.push_back(std::move(*message));                  // the session is done with it
      record_.tls_versions.push_back(session.session().tls().version);
      return session.decide(smtp::Verdict::accept_with(
          smtp::Reply::make(250, "2.0.0", "Ok: queued as " + std::to_string(record_.messages.size()))));
    }
    if (std::holds_alternative<smtp::server_event::Mail>(event) ||
        std::holds_alternative<smtp::server_event::Rcpt>(event)) {
      return session.decide(smtp::Verdict::accept());
    }
    if (std::holds_alternative<smtp::server_event::Violation>(event)) record_.violations += 1;
    if (std::holds_alternative<smtp::server_event::Closed>(event)) {
      if (record_.keep_transcripts) record_.transcripts.push_back(session.transcript());
      sessions_.erase(id);  // allowed from inside the Closed event
    }
  }

  io::Io& io_;
  io::Endpoint listen_on_;
  smtp::ServerConfig config_;
  const tls::Context* tls_;
  std::map<std::string, std::string> users_;
  SinkRecord& record_;
  std::unique_ptr<io::Listener> listener_;
  std::map<std::uint64_t, std::unique_ptr<endpoint::ServerConnection>> sessions_;
};

struct SendRecord {
  std::vector<smtp::TransactionResult> results;
  std::vector<smtp::client_event::Failed> failures;
  std::string transcript;
  bool closed = false;
};

class SendNode final : public io::Node {
 public:
  SendNode(io::Io& io, io::Endpoint server, std::string server_name, smtp::ClientConfig config, const tls::Context* tls,
           std::vector<smtp::OutgoingMessage> messages, SendRecord& record)
      : io_(io),
        server_(server),
        server_name_(std::move(server_name)),
        config_(std::move(config)),
        tls_(tls),
        messages_(std::move(messages)),
        record_(record) {}

  void start() override {
    connection_ = std::make_unique<endpoint::ClientConnection>(
        io_, server_, server_name_, config_, tls_, io::ConnectOptions{},
        [this](endpoint::ClientConnection& connection, const smtp::ClientEvent& event) {
          if (std::holds_alternative<smtp::client_event::Ready>(event)) {
            if (next_ < messages_.size() && connection.send(messages_[next_])) {
              next_ += 1;
              return;
            }
            return connection.quit();
          }
          if (const auto* finished = std::get_if<smtp::client_event::Finished>(&event))
            record_.results.push_back(finished->result);
          if (const auto* failed = std::get_if<smtp::client_event::Failed>(&event)) record_.failures.push_back(*failed);
          if (std::holds_alternative<smtp::client_event::Closed>(event)) {
            record_.closed = true;
            record_.transcript = connection.transcript();
          }
        });
  }
  std::string status() const override { return std::to_string(record_.results.size()) + " transactions"; }

 private:
  io::Io& io_;
  io::Endpoint server_;
  std::string server_name_;
  smtp::ClientConfig config_;
  const tls::Context* tls_;
  std::vector<smtp::OutgoingMessage> messages_;
  std::size_t next_ = 0;
  SendRecord& record_;
  std::unique_ptr<endpoint::ClientConnection> connection_;
};

}  // namespace relaysim::testing
