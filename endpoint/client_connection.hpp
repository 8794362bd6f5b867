#pragma once
// One outgoing SMTP connection, driven over Io: connect with a timeout, the client session, the TLS
// engine on STARTTLS (or implicit TLS) verifying the name it was given, and the stage deadlines.
// The owner gets the session's events: Ready (send a message or quit), Finished (per-recipient
// outcomes), Failed (try the next server), Closed (last; the owner may destroy this object).

#include <functional>
#include <memory>
#include <string>

#include "io/io.hpp"
#include "smtp/client_session.hpp"
#include "tls/engine.hpp"

namespace relaysim::endpoint {

class ClientConnection {
 public:
  using EventHandler = std::function<void(ClientConnection& connection, const smtp::ClientEvent& event)>;

  // `server_name`: the name dialled (the MX host or the relay host), for SNI and certificate checks.
  ClientConnection(io::Io& io, io::Endpoint remote, std::string server_name, smtp::ClientConfig config,
                   const tls::Context* tls_context, io::ConnectOptions options, EventHandler on_event);
  ~ClientConnection();

  // False when the session is not ready (see ClientSession::send).
  bool send(smtp::OutgoingMessage message);
  void quit();
  bool ready() const { return session_.ready(); }
  bool finished() const { return finished_; }
  const io::Endpoint& remote() const { return remote_; }
  const std::string& server_name() const { return server_name_; }
  const smtp::ClientSession& session() const { return session_; }
  const std::string& transcript() const { return transcript_; }

 private:
  void connected(std::unique_ptr<io::Connection> connection);
  void receive(std::string_view bytes);
  bool process_events();
  void flush();
  void arm_deadline();
  void finish(std::string_view reason);
  void note(std::string_view direction, std::string_view bytes);

  io::Io& io_;
  io::Endpoint remote_;
  std::string server_name_;
  smtp::ClientSession session_;
  const tls::Context* tls_context_;
  bool implicit_tls_;
  std::unique_ptr<tls::Engine> tls_;
  std::unique_ptr<io::Connection> connection_;
  EventHandler on_event_;
  io::Pending connecting_;
  io::Pending deadline_timer_;
  bool finished_ = false;
  bool in_events_ = false;
  std::string transcript_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace relaysim::endpoint
