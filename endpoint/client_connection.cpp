#include "endpoint/client_connection.hpp"

#include "endpoint/transcript.hpp"

namespace relaysim::endpoint {
ClientConnection::ClientConnection(io::Io& io, io::Endpoint remote, std::string server_name, smtp::ClientConfig config,
                                   const tls::Context* tls_context, io::ConnectOptions options, EventHandler on_event)
    : DriverCore(io, true),
      remote_(remote),
      server_name_(std::move(server_name)),
      session_(config, io.now()),
      tls_context_(tls_context),
      implicit_tls_(config.implicit_tls),
      on_event_(std::move(on_event)) {
  session_.take_output();  // nothing is said before the greeting
  connecting_ = io_.connect(remote_, options, [this](io::Result<std::unique_ptr<io::Connection>> result) {
    if (!result) {
      io_.trace("smtp.client.connect_failed", {{"to", remote_.to_string()}, {"error", result.error().detail}});
      const smtp::ClientEvent failed = smtp::client_event::Failed{
          smtp::Stage::connect, std::nullopt,
          "connect to " + remote_.to_string() + ": " + std::string(io::to_string(result.error().code)), false};
      if (!stop_and_deliver([&] { on_event_(*this, failed); })) return;
      on_event_(*this, smtp::client_event::Closed{"not connected"});
      return;
    }
    connected(std::move(result).value());
  });
}

void ClientConnection::connected(std::unique_ptr<io::Connection> connection) {
  connection_ = std::move(connection);
  io_.trace("smtp.client.connected",
            {{"conn", connection_->id()}, {"to", remote_.to_string()}, {"name", server_name_}});
  connection_->on_receive([this](std::string_view bytes) { receive(bytes); });
  connection_->on_close([this](io::CloseReason reason) {
    session_.connection_lost(io_.now(), io::to_string(reason));
    if (!process_events()) return;
    finish("connection closed");
  });
  if (implicit_tls_) {
    if (tls_context_ == nullptr) return finish("implicit TLS without a TLS context");
    tls_ = std::make_unique<tls::Engine>(*tls_context_, io_.now(), server_name_, alternate_names_, tlsa_);
    tls_->start();
    flush();
  }
  arm_deadline();
}

std::string ClientConnection::tls_verify_error() const {
  return tls_ && !tls_->info().peer_verified ? tls_->info().verify_error : std::string();
}

std::optional<io::Endpoint> ClientConnection::local() const {
  if (!connection_) return std::nullopt;
  return connection_->local_endpoint();
}

void ClientConnection::receive(std::string_view bytes) {
  if (finished_) return;
  if (tls_) {
    tls_->receive_ciphertext(bytes);
    if (tls_->state() == tls::Engine::State::failed) {
      io_.trace("smtp.client.tls_failed", {{"to", remote_.to_string()}, {"error", tls_->error()}});
      flush();
      session_.tls_failed(io_.now(), tls_->error());
      if (!process_events()) return;
      return finish("TLS failed");
    }
    if (tls_->state() == tls::Engine::State::established && !session_.tls().active) {
      const tls::SessionInfo& info = tls_->info();
      io_.trace("smtp.client.tls", {{"to", remote_.to_string()},
                                    {"version", info.version},
                                    {"cipher", info.cipher},
                                    {"peer", info.peer_subject},
                                    {"verified", info.peer_verified},
                                    {"verify_error", info.verify_error}});
      transcript_ += "-- TLS " + info.version + " " + info.cipher +
                     (info.peer_verified ? " verified" : " unverified: " + info.verify_error) + "\n";
      session_.tls_started(io_.now(), {true, info.version, info.cipher, info.peer_subject, info.peer_verified});
    }
    const std::string plaintext = tls_->take_plaintext();
    if (!plaintext.empty()) {
      note("S: ", plaintext);
      session_.receive(io_.now(), plaintext);
    }
  } else {
    note("S: ", bytes);
    session_.receive(io_.now(), bytes);
  }
  flush();
  if (!process_events()) return;
  arm_deadline();
}

void ClientConnection::flush() {
  const std::string_view output = session_.output();
  const std::size_t content = std::min(session_.content_offset(), output.size());
  note("C: ", output.substr(0, content));
  if (content < output.size())
    note_content("C: ", output.substr(content), output.size() - content - std::string_view(".\r\n").size());
  send_plaintext(output);
  session_.clear_output();
}

bool ClientConnection::process_events() {
  if (in_events_) return true;
  in_events_ = true;
  const std::shared_ptr<bool> alive = alive_;
  while (true) {
    auto event = session_.poll_event();
    if (!event) break;
    if (std::holds_alternative<smtp::client_event::StartTls>(*event)) {
      flush();
      if (tls_context_ == nullptr) {
        session_.tls_failed(io_.now(), "no TLS context");
      } else {
        transcript_ += "-- TLS handshake with " + server_name_ + "\n";
        tls_ = std::make_unique<tls::Engine>(*tls_context_, io_.now(), server_name_, alternate_names_, tlsa_);
        tls_->start();
        flush();
      }
      continue;
    }
    if (const auto* closed = std::get_if<smtp::client_event::Closed>(&*event)) {
      flush();
      io_.trace("smtp.client.closed", {{"to", remote_.to_string()}, {"reason", closed->reason}});
      return stop_and_deliver([&] { on_event_(*this, *event); });
    }
    on_event_(*this, *event);
    if (!*alive) return false;
  }
  in_events_ = false;
  flush();
  return true;
}

bool ClientConnection::send(smtp::OutgoingMessage message) {
  if (!session_.send(io_.now(), std::move(message))) return false;
  flush();
  if (!process_events()) return true;
  arm_deadline();
  return true;
}

void ClientConnection::quit() {
  session_.quit(io_.now());
  flush();
  if (!process_events()) return;
  arm_deadline();
}

void ClientConnection::arm_deadline() {
  if (finished_ || session_.deadline() == Instant::max()) return stop_deadline_timer();
  if (deadline_timer_covers(session_.deadline())) return;
  set_deadline_timer(session_.deadline(), [this] {
    if (io_.now() < session_.deadline()) return arm_deadline();  // it moved on since
    session_.on_deadline(io_.now());
    flush();
    if (!process_events()) return;
    arm_deadline();
  });
}

void ClientConnection::send_failed(std::string_view error) {
  if (finished_) return;
  session_.connection_lost(io_.now(), error);
  if (!process_events()) return;
  finish("connection cut: " + std::string(error));
}

void ClientConnection::finish(std::string_view reason) {
  if (finished_) return;
  stop_and_deliver([&] { on_event_(*this, smtp::client_event::Closed{std::string(reason)}); });
}

}  // namespace relaysim::endpoint
