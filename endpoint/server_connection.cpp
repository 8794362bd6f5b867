#include "endpoint/server_connection.hpp"

#include <algorithm>

#include "endpoint/transcript.hpp"
#include "io/assert.hpp"

namespace relaysim::endpoint {

ServerConnection::ServerConnection(io::Io& io, std::unique_ptr<io::Connection> connection, smtp::ServerConfig config,
                                   const tls::Context* tls_context, EventHandler on_event)
    : DriverCore(io, false),
      session_(config, io.now()),
      tls_context_(tls_context),
      on_event_(std::move(on_event)),
      peer_(connection->peer_endpoint()),
      id_(connection->id()) {
  connection_ = std::move(connection);
  connection_->on_receive([this](std::string_view bytes) { receive(bytes); });
  connection_->on_close([this](io::CloseReason reason) {
    io_.trace("smtp.server.disconnect", {{"conn", id_}, {"reason", io::to_string(reason)}});
    finish(reason == io::CloseReason::reset ? "connection reset" : "client closed the connection");
  });
  if (config.implicit_tls) {
    RELAYSIM_ASSERT(tls_context_ != nullptr);
    tls_ = std::make_unique<tls::Engine>(*tls_context_, io_.now());
  }
  flush();
  arm_deadline();
}

void ServerConnection::receive(std::string_view bytes) {
  if (finished_) return;
  if (tarpit_.armed()) {
    held_input_.append(bytes);  // act on nothing while an error reply is held back
    return regulate();
  }
  if (tls_) {
    tls_->receive_ciphertext(bytes);
    if (tls_->state() == tls::Engine::State::failed) {
      io_.trace("smtp.server.tls_failed", {{"conn", id_}, {"error", tls_->error()}});
      send_wire(tls_->take_ciphertext());  // the alert
      return finish("TLS handshake failed: " + tls_->error());
    }
    if (tls_->state() == tls::Engine::State::established && !session_.tls().active) {
      const tls::SessionInfo& info = tls_->info();
      io_.trace("smtp.server.tls", {{"conn", id_}, {"version", info.version}, {"cipher", info.cipher}});
      transcript_ += "-- TLS " + info.version + " " + info.cipher + "\n";
      session_.tls_started(io_.now(), {true, info.version, info.cipher, info.peer_subject, info.peer_verified});
    }
    const std::string plaintext = tls_->take_plaintext();
    if (!plaintext.empty()) read_bounded(plaintext);
  } else {
    read_bounded(bytes);
  }
  flush();
  if (!process_events()) return;
  arm_deadline();
  regulate();
}

void ServerConnection::read_bounded(std::string_view bytes) {
  // A slice at a time, so that however much arrives at once, the replies it asks for stop
  // accumulating once they pass the bound: the rest waits (and the connection stops reading).
  while (!bytes.empty()) {
    if (!held_plaintext_.empty() || replies_waiting() > unsent_replies_bytes_max) {
      held_plaintext_.append(bytes);  // after what waits already: order is kept
      return;
    }
    const std::string_view slice = bytes.substr(0, read_slice_bytes);
    read(slice);
    bytes.remove_prefix(slice.size());
  }
}

std::size_t ServerConnection::replies_waiting() const {
  return session_.output().size() + (connection_ ? connection_->unsent_bytes() : 0);
}

void ServerConnection::read(std::string_view bytes) {
  if (!session_.receiving_content() || (!keep_transcript_ && !io_.traces_dialogue())) {
    note("C: ", bytes);
    return session_.receive(io_.now(), bytes);
  }
  // Message content goes into the transcript as its size: the owner keeps the content itself.
  // Bytes held back from the last read (a final dot split from its line end) are content too.
  const std::size_t held_back = session_.unread_bytes();
  const std::uint64_t before = session_.content_bytes_read();
  session_.receive(io_.now(), bytes);
  const auto consumed = static_cast<std::size_t>(session_.content_bytes_read() - before);
  const std::size_t content =
      std::min(consumed > held_back ? consumed - held_back : 0, bytes.size());  // of these bytes
  content_in_transcript_ += consumed;
  if (session_.receiving_content()) return;
  if (session_.closed()) {
    note("C: ", "[" + std::to_string(content_in_transcript_) + " bytes of message content, unfinished]");
  } else {
    note("C: ", "[" + std::to_string(content_in_transcript_ - final_dot_bytes) + " bytes of message content]\r\n.\r\n");
    note("C: ", bytes.substr(content));
  }
  content_in_transcript_ = 0;
}

void ServerConnection::flush() {
  if (tarpit_.armed()) {
    held_output_ += session_.take_output();
    return;
  }
  const std::string_view output = session_.output();
  const Duration delay = session_.take_output_delay();
  if (!output.empty() && delay.count() > 0) {
    // Past the soft error limit: the reply waits, and so does everything the client sends.
    held_output_ = output;
    session_.clear_output();
    tarpit_ = io_.after(delay, [this] {
      tarpit_ = io::Pending();
      const std::string held = std::exchange(held_output_, std::string());
      note("S: ", held);
      send_plaintext(held);
      if (session_.closed()) return;  // the Closed event was handed over already
      if (const std::string input = std::exchange(held_input_, std::string()); !input.empty()) return receive(input);
      regulate();
    });
    return;
  }
  if (!output.empty()) note("S: ", output);
  send_plaintext(output);
  session_.clear_output();
}

void ServerConnection::start_tls() {
  flush();  // "220 Ready to start TLS" goes out in plaintext, before the engine exists
  if (tls_context_ == nullptr) return finish("STARTTLS offered without a certificate");
  tls_ = std::make_unique<tls::Engine>(*tls_context_, io_.now());
  transcript_ += "-- TLS handshake\n";
}

bool ServerConnection::process_events() {
  if (in_events_) return true;  // decide() from inside a handler: the outer loop continues
  in_events_ = true;
  const std::shared_ptr<bool> alive = alive_;
  while (!finished_) {
    auto event = session_.poll_event();
    if (!event) break;
    if (std::holds_alternative<smtp::server_event::StartTls>(*event)) start_tls();
    if (const auto* violation = std::get_if<smtp::server_event::Violation>(&*event)) {
      io_.trace("smtp.server.violation", {{"conn", id_}, {"what", violation->what}});
    }
    if (const auto* closed = std::get_if<smtp::server_event::Closed>(&*event)) {
      if (tarpit_.armed()) {  // closing: what was held goes out now
        tarpit_.cancel();
        held_output_ += session_.take_output();
        note("S: ", held_output_);
        send_plaintext(std::exchange(held_output_, std::string()));
      }
      flush();
      io_.trace("smtp.server.closed", {{"conn", id_}, {"reason", closed->reason}});
      return stop_and_deliver([&] { on_event_(*this, *event); });
    }
    on_event_(*this, *event);
    if (!*alive) return false;
  }
  in_events_ = false;
  flush();
  return true;
}

void ServerConnection::decide(smtp::Verdict verdict) {
  if (finished_) return;
  session_.decide(io_.now(), std::move(verdict));
  // Decided from inside an event handler: the replies to a pipelined group go out together when
  // the loop over the session's events ends (RFC 2920 §4), rather than one write each.
  if (in_events_) return;
  flush();
  if (!process_events()) return;
  arm_deadline();
  regulate();
}

void ServerConnection::terminate(const smtp::Reply& reply, std::string_view reason) {
  if (finished_) return;
  session_.terminate(reply, reason);
  flush();
  if (!process_events()) return;
}

void ServerConnection::abort(std::string_view reason) {
  if (finished_) return;
  if (connection_) connection_->abort();
  stop_and_deliver([&] {
    smtp::ServerEvent closed = smtp::server_event::Closed{std::string(reason)};
    on_event_(*this, closed);
  });
}

void ServerConnection::tighten(const smtp::SessionLimits& limits) {
  if (finished_) return;
  session_.tighten(io_.now(), limits);
  arm_deadline();
}

void ServerConnection::arm_deadline() {
  if (finished_) return stop_deadline_timer();
  // While the owner decides, no deadline runs: a timer that fires meanwhile does nothing, and the
  // decision arms the next.
  if (session_.awaiting_decision() || deadline_timer_covers(session_.deadline())) return;
  set_deadline_timer(session_.deadline(), [this] {
    if (session_.awaiting_decision()) return;
    if (io_.now() < session_.deadline()) return arm_deadline();  // it moved on since
    session_.on_deadline(io_.now());
    flush();
    if (!process_events()) return;
    arm_deadline();
  });
}

void ServerConnection::regulate() {
  if (finished_ || !connection_) return;
  const std::size_t replies = replies_waiting();
  const std::size_t input = session_.unread_bytes() + held_input_.size() + held_plaintext_.size();
  const bool replies_wait = replies > unsent_replies_bytes_max;
  const bool pause = replies_wait || input > unread_input_bytes_max || !held_plaintext_.empty();
  if (pause != receiving_paused_) {
    receiving_paused_ = pause;
    connection_->pause_receiving(pause);
    io_.trace("smtp.server.backpressure", {{"conn", id_},
                                           {"reading", !pause},
                                           {"replies_waiting", static_cast<std::uint64_t>(replies)},
                                           {"input_waiting", static_cast<std::uint64_t>(input)}});
  }
  if (replies_wait) {
    connection_->when_unsent_at_most(unsent_replies_bytes_max / 2, [this] { regulate(); });
  } else if (!held_plaintext_.empty() && !tarpit_.armed() && !receive_held_.armed()) {
    // The replies went out: act on the input held back for them, from the event loop.
    receive_held_ = io_.after(Duration(0), [this] {
      receive_held_ = io::Pending();
      read_bounded(std::exchange(held_plaintext_, std::string()));
      flush();
      if (!process_events()) return;
      arm_deadline();
      regulate();
    });
  }
}

void ServerConnection::send_failed(std::string_view error) {
  if (finished_) return;
  // The owner logs it: a reply that could not be sent ends the session, and says so.
  smtp::ServerEvent lost =
      smtp::server_event::Violation{"reply not sent (" + std::string(error) + "): connection reset"};
  const std::shared_ptr<bool> alive = alive_;
  on_event_(*this, lost);
  if (!*alive) return;
  finish("reply not sent: " + std::string(error));
}

void ServerConnection::finish(std::string_view reason) {
  if (finished_) return;
  const bool tell = !session_.closed();  // a session that closed itself already said so
  stop_and_deliver([&] {
    smtp::ServerEvent closed = smtp::server_event::Closed{std::string(reason)};
    if (tell) on_event_(*this, closed);
  });
}

}  // namespace relaysim::endpoint
