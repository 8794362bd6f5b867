#pragma once
// One accepted SMTP connection, driven over Io: the connection's bytes, the TLS engine (STARTTLS
// or implicit TLS), the server session, its deadline timer. The owner (the relay, a fake MX)
// answers the session's decisions, possibly later (after a durable write), through decide().
// Its transcript keeps every command and reply; with the dialogue traced (Io::traces_dialogue) each
// line is a trace event too (endpoint/events.hpp).

#include <functional>
#include <memory>
#include <string>

#include "endpoint/driver_core.hpp"
#include "io/io.hpp"
#include "smtp/server_session.hpp"
#include "tls/engine.hpp"

namespace relaysim::endpoint {

class ServerConnection : public DriverCore {
 public:
  // Called for every session event. For a decision (Mail, Rcpt, Message, Auth) the owner must call
  // decide() exactly once, now or later. Closed comes last, once; the owner may destroy this object
  // from inside that call or any time after. The event is the owner's: it may move from it (a
  // message's content).
  using EventHandler = std::function<void(ServerConnection& connection, smtp::ServerEvent& event)>;

  ServerConnection(io::Io& io, std::unique_ptr<io::Connection> connection, smtp::ServerConfig config,
                   const tls::Context* tls_context, EventHandler on_event);

  void decide(smtp::Verdict verdict);
  // Ends the session with a last reply (a 421), then closes.
  void terminate(const smtp::Reply& reply, std::string_view reason);
  // Resets the connection without a word (a receiver that crashes or drops mid-session); the owner
  // gets Closed.
  void abort(std::string_view reason);
  // Tightens the session's limits from now on (a relay under stress); its deadline follows.
  void tighten(const smtp::SessionLimits& limits);
  const io::Endpoint& peer() const { return peer_; }
  std::uint64_t id() const { return id_; }
  const smtp::ServerSession& session() const { return session_; }

 private:
  void receive(std::string_view bytes);
  // Plaintext from the client: to the session, and to the transcript.
  void read(std::string_view bytes);
  // read() a slice at a time while the replies waiting stay under the bound; the rest is held.
  void read_bounded(std::string_view bytes);
  // Replies the session made and the network has not taken.
  std::size_t replies_waiting() const;
  bool process_events();  // false when the owner destroyed this object meanwhile
  void flush();
  void start_tls();
  void arm_deadline();
  void finish(std::string_view reason);
  void send_failed(std::string_view error) override;
  // Backpressure: reads nothing while replies wait unsent or input waits unread past the bounds.
  void regulate();

  smtp::ServerSession session_;
  const tls::Context* tls_context_;
  EventHandler on_event_;
  io::Endpoint peer_;
  std::uint64_t id_;
  // The transcript shows message content as its size; this counts it until the final dot.
  static constexpr std::size_t final_dot_bytes = 3;  // ".\r\n"
  std::uint64_t content_in_transcript_ = 0;
  // The tarpit: output held back, and input that arrived meanwhile, until the delay ends.
  io::Pending tarpit_;
  std::string held_output_;
  std::string held_input_;
  // Backpressure: plaintext held back while replies wait unsent, and its resumption.
  std::string held_plaintext_;
  bool receiving_paused_ = false;
  io::Pending receive_held_;

 public:
  // What a session holds before it stops reading (Postfix writes its replies before it reads the
  // next batch of commands): replies not yet taken by the network, and input not yet acted on.
  static constexpr std::size_t unsent_replies_bytes_max = 64 * 1024;
  static constexpr std::size_t unread_input_bytes_max = 64 * 1024;
  static constexpr std::size_t read_slice_bytes = 16 * 1024;
};

}  // namespace relaysim::endpoint
