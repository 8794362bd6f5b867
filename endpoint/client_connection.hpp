#pragma once
// One outgoing SMTP connection, driven over Io: connect with a timeout, the client session, the TLS
// engine on STARTTLS (or implicit TLS) verifying the name it was given, and the stage deadlines.
// The owner gets the session's events: Ready (send a message or quit), Finished (per-recipient
// outcomes), Failed (try the next server), Closed (last; the owner may destroy this object).

#include <functional>
#include <memory>
#include <string>

#include "endpoint/driver_core.hpp"
#include "io/io.hpp"
#include "smtp/client_session.hpp"
#include "tls/engine.hpp"

namespace relaysim::endpoint {

class ClientConnection : public DriverCore {
 public:
  using EventHandler = std::function<void(ClientConnection& connection, const smtp::ClientEvent& event)>;

  // `server_name`: the name dialled (the MX host or the relay host), for SNI and certificate checks.
  ClientConnection(io::Io& io, io::Endpoint remote, std::string server_name, smtp::ClientConfig config,
                   const tls::Context* tls_context, io::ConnectOptions options, EventHandler on_event);

  // False when the session is not ready (see ClientSession::send).
  bool send(smtp::OutgoingMessage message);
  void quit();
  bool ready() const { return session_.ready(); }
  const io::Endpoint& remote() const { return remote_; }
  const std::string& server_name() const { return server_name_; }
  // Another name the server's certificate may carry instead of server_name (set before STARTTLS).
  void also_accept_name(std::string name) { alternate_names_.push_back(std::move(name)); }
  // DANE (RFC 7672): the server's certificate must match one of these TLSA records; needs a context
  // made with Verification::dane. Set before STARTTLS.
  void authenticate_with(std::vector<io::TlsaRecord> tlsa) { tlsa_ = std::move(tlsa); }
  const smtp::ClientSession& session() const { return session_; }
  // Why the server's certificate was not verified ("certificate has expired"); empty when it was, or without TLS.
  std::string tls_verify_error() const;
  // The address this side of the connection has; none before it is made.
  std::optional<io::Endpoint> local() const;

 private:
  void connected(std::unique_ptr<io::Connection> connection);
  void receive(std::string_view bytes);
  bool process_events();
  void flush();
  void arm_deadline();
  void finish(std::string_view reason);
  void send_failed(std::string_view error) override;

  io::Endpoint remote_;
  std::string server_name_;
  std::vector<std::string> alternate_names_;
  std::vector<io::TlsaRecord> tlsa_;
  smtp::ClientSession session_;
  const tls::Context* tls_context_;
  bool implicit_tls_;
  EventHandler on_event_;
  io::Pending connecting_;
};

}  // namespace relaysim::endpoint
