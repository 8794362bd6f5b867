#pragma once
// What a server connection and a client connection share: the stream, the TLS engine once there
// is one, the deadline timer, the transcript, and the rule for ending - stop everything, then
// hand the owner its last event, after which the owner may have destroyed the driver.

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "endpoint/events.hpp"
#include "endpoint/transcript.hpp"
#include "io/io.hpp"
#include "io/text.hpp"
#include "smtp/syntax.hpp"
#include "tls/engine.hpp"

namespace relaysim::endpoint {

class DriverCore {
 public:
  // Everything said on this connection, "C: ..." and "S: ..." lines (TLS steps as notes).
  const std::string& transcript() const { return transcript_; }
  // The transcript so far, which then starts afresh (a receiver keeps one per message).
  std::string take_transcript() {
    std::string taken = std::exchange(transcript_, std::string());
    transcript_.reserve(std::min(taken.size(), transcript_bytes_max));  // the next message's will be alike
    return taken;
  }
  // Off, nothing is kept: an owner that never reads the transcript (the relay) saves copying every
  // message it carries. TLS notes stay (they are short).
  void keep_transcript(bool keep) { keep_transcript_ = keep; }
  bool finished() const { return finished_; }

 protected:
  // `client_side`: this end sends the commands (for the dialogue's trace events).
  DriverCore(io::Io& io, bool client_side) : io_(io), client_side_(client_side) {}
  virtual ~DriverCore() {
    *alive_ = false;
    if (connection_) connection_->close();
  }
  DriverCore(const DriverCore&) = delete;
  DriverCore& operator=(const DriverCore&) = delete;

  // What went over the wire, "C: " from the client or "S: " from the server: a line each into the
  // transcript, and a trace event each when the dialogue is traced. Credentials reach neither:
  // AUTH's initial response and the client's answers to the server's 334 challenges are
  // "[credentials hidden]".
  void note(std::string_view direction, std::string_view bytes) {
    note_lines(direction, bytes, keep_transcript_, io_.traces_dialogue());
  }
  // Message content: into the transcript as it is (a client's; a server keeps its size), and into
  // a traced dialogue as its size only, "[N bytes of message content]", then the final ".".
  void note_content(std::string_view direction, std::string_view content, std::uint64_t bytes) {
    if (keep_transcript_) append_transcript(transcript_, direction, content);
    note_lines(direction, "[" + std::to_string(bytes) + " bytes of message content]\r\n.\r\n", false,
               io_.traces_dialogue());
  }
  void note_lines(std::string_view direction, std::string_view bytes, bool transcript, bool dialogue) {
    dialogue = dialogue && connection_;
    if (!transcript && !dialogue) return;
    const bool from_client = direction.starts_with('C');
    for (std::size_t start = 0; start < bytes.size();) {
      std::size_t end = bytes.find('\n', start);
      if (end == std::string_view::npos) end = bytes.size();
      std::string_view line = bytes.substr(start, end - start);
      start = end + 1;
      if (line.ends_with('\r')) line.remove_suffix(1);
      std::string hidden;
      if (from_client) line = without_credentials(line, hidden);
      credentials_next_ = !from_client && line.starts_with("334");
      if (transcript && transcript_.size() <= transcript_bytes_max)
        transcript_.append(direction).append(line).append("\n");
      if (dialogue) {
        io_.observe(events::DialogueLine{.conn = connection_->id(),
                                         .peer = connection_->peer_endpoint(),
                                         .from_client = from_client,
                                         .sent = from_client == client_side_,
                                         .line = line});
      }
    }
  }

  // A client line as it may be kept: an answer to a 334 challenge, or AUTH's initial response
  // ("AUTH PLAIN <base64>", in any case), is "[credentials hidden]". `hidden` holds the text.
  std::string_view without_credentials(std::string_view line, std::string& hidden) const {
    if (credentials_next_) return hidden = "[credentials hidden]";
    if (line.size() <= 5 || to_lower(line.substr(0, 5)) != "auth ") return line;
    const std::size_t mechanism_end = line.find(' ', 5);
    if (mechanism_end == std::string_view::npos) return line;  // no initial response
    return hidden = std::string(line.substr(0, mechanism_end)) + " [credentials hidden]";
  }

  // Bytes to the peer. A send the connection refuses (its buffer is full) is never silently lost:
  // the stream is reset, and from the event loop the driver hears of it (send_failed()).
  void send_wire(std::string_view bytes) {
    if (bytes.empty() || !connection_ || send_failure_.armed()) return;
    const io::Status sent = connection_->send(bytes);
    if (sent || sent.error().code == io::Errc::closed) return;  // closed: the close is reported anyway
    io_.trace("net.send_failed", {{"conn", connection_->id()}, {"error", sent.error().detail}});
    connection_->abort();
    send_failure_ = io_.after(Duration(0), [this, error = sent.error().detail] { send_failed(error); });
  }
  virtual void send_failed(std::string_view error) = 0;
  // Plaintext to the peer: through the TLS engine once it is established, else straight out;
  // then whatever the engine has to send.
  void send_plaintext(std::string_view bytes) {
    if (tls_ && tls_->state() == tls::Engine::State::established) {
      tls_->send_plaintext(bytes);
    } else {
      send_wire(bytes);
    }
    if (tls_) send_wire(tls_->take_ciphertext());
  }
  // Stops the driver and calls `deliver` (which hands the owner its last event). False when the
  // owner destroyed the driver meanwhile: the caller must not touch it then.
  template <typename Deliver>
  bool stop_and_deliver(Deliver&& deliver) {
    finished_ = true;
    in_events_ = false;
    stop_deadline_timer();
    if (connection_) connection_->close();
    const std::shared_ptr<bool> alive = alive_;
    deliver();
    return *alive;
  }

  // The deadline timer. Every read moves a session's deadline, and setting a timer at each would
  // put one event in the loop per read. So a timer set for an earlier instant stays; when it
  // fires, `on_due` looks at the session's deadline again (and sets the timer anew if it moved).
  bool deadline_timer_covers(Instant deadline) const { return deadline_due_ <= deadline; }
  template <typename OnDue>
  void set_deadline_timer(Instant due, OnDue on_due) {
    deadline_due_ = due;
    deadline_timer_ = io_.at(due, [this, on_due = std::move(on_due)]() mutable {
      deadline_due_ = Instant::max();
      on_due();
    });
  }
  void stop_deadline_timer() {
    deadline_timer_.cancel();
    deadline_due_ = Instant::max();
  }

  io::Io& io_;
  const bool client_side_;
  std::unique_ptr<io::Connection> connection_;
  std::unique_ptr<tls::Engine> tls_;
  io::Pending deadline_timer_;
  io::Pending send_failure_;
  Instant deadline_due_ = Instant::max();  // when deadline_timer_ fires; max: not set
  bool finished_ = false;
  bool in_events_ = false;
  std::string transcript_;
  bool keep_transcript_ = true;
  bool credentials_next_ = false;  // the last server line was a 334 challenge: the next client line answers it
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace relaysim::endpoint
