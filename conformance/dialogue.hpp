#pragma once
// A scripted SMTP client for probing a relay: it sends exactly the bytes a step gives - well-formed
// commands, or the malformed input a check needs (bare line endings, smuggled commands, commands
// pipelined after STARTTLS) - and records every reply, the TLS session and how the session ended.
// It runs over io::Io, so the same script probes a relay on a real socket or a simulated one.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/io.hpp"
#include "smtp/reply.hpp"
#include "tls/engine.hpp"

namespace relaysim::conformance {

struct Step {
  enum class Kind : std::uint8_t {
    greeting,  // wait for the greeting
    send,      // send `bytes`, then wait for `replies` replies
    starttls,  // send `bytes` ("STARTTLS\r\n", perhaps with more after it), wait for one reply; on 220, handshake
  };
  Kind kind = Kind::send;
  std::string bytes;
  int replies = 1;
  // The step runs only when the previous step's last reply had this code (354), or this class
  // (2: any 2xx); 0: always. A step that does not run ends the script.
  int needs = 0;
};

// Script building.
Step greeting();
Step command(std::string_view line, int needs = 0);  // CRLF added
Step raw(std::string bytes, int replies, int needs = 0);
Step starttls(std::string pipelined_after = {});

struct Exchange {
  std::string sent;  // as sent, for the transcript
  std::vector<smtp::Reply> replies;
};

struct DialogueResult {
  bool connected = false;
  std::string error;  // why the script stopped early: connect failure, a timeout, the server closing, TLS
  std::vector<Exchange> exchanges;
  std::optional<tls::SessionInfo> tls;  // set once a handshake was tried
  bool tls_established = false;
  bool closed_by_server = false;
  bool completed = false;  // every step ran (a step skipped by `needs` counts as an end, not a failure)

  // The last reply of the exchange whose sent bytes start with `prefix` (case-insensitive); null if none.
  const smtp::Reply* reply_to(std::string_view prefix) const;
  // Every reply received, in order.
  std::vector<const smtp::Reply*> replies() const;
  // "C: EHLO x" / "S: 250-..." lines, long lines and bodies shortened: evidence for a report.
  std::string transcript(std::size_t max_lines = 40) const;
};

struct DialogueOptions {
  io::Endpoint remote;
  std::string server_name;            // SNI and the certificate name check
  const tls::Context* tls = nullptr;  // the client context STARTTLS uses; null: STARTTLS fails
  std::optional<io::Address> source;  // the client's address
  Duration reply_timeout = std::chrono::seconds(30);
};

class Dialogue {
 public:
  using Done = std::function<void(const DialogueResult& result)>;
  Dialogue(io::Io& io, DialogueOptions options, std::vector<Step> steps, Done done);
  ~Dialogue();
  Dialogue(const Dialogue&) = delete;
  Dialogue& operator=(const Dialogue&) = delete;
  void start();

 private:
  void connected(std::unique_ptr<io::Connection> connection);
  void receive(std::string_view bytes);
  void on_plaintext(std::string_view bytes);
  void next_step();
  void wait_for_replies();
  void write(std::string_view bytes);
  void flush_tls();
  void finish(std::string error);

  io::Io& io_;
  DialogueOptions options_;
  std::vector<Step> steps_;
  Done done_;
  DialogueResult result_;
  std::size_t step_ = 0;
  int awaiting_ = 0;  // replies the current step still waits for
  std::size_t replies_received_ = 0;
  bool handshake_pending_ = false;
  smtp::ReplyParser parser_;
  std::unique_ptr<io::Connection> connection_;
  std::unique_ptr<tls::Engine> engine_;
  io::Pending connecting_;
  io::Pending timer_;
  bool finished_ = false;
};

}  // namespace relaysim::conformance
