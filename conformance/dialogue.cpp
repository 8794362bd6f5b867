#include "conformance/dialogue.hpp"

#include "io/text.hpp"

namespace relaysim::conformance {
namespace {

// Replies kept per session: a script waits for a few dozen at most; a server that sends more is
// flooding, and the session ends rather than the harness's memory.
constexpr std::size_t replies_max = 1000;

bool reply_meets(const smtp::Reply& reply, int needs) {
  if (needs == 0) return true;
  if (needs < 10) return reply.code / 100 == needs;
  return reply.code == needs;
}

// One line of evidence: printable, and not longer than a report line should be.
std::string shown(std::string_view line) {
  constexpr std::size_t shown_max = 160;
  std::string out;
  for (const char c : line.substr(0, shown_max)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\0') {
      out += "\\0";
    } else {
      out += c;
    }
  }
  if (line.size() > shown_max) out += "...";
  return out;
}

}  // namespace

Step greeting() { return Step{Step::Kind::greeting, {}, 1, 0}; }
Step command(std::string_view line, int needs) { return Step{Step::Kind::send, std::string(line) + "\r\n", 1, needs}; }
Step raw(std::string bytes, int replies, int needs) { return Step{Step::Kind::send, std::move(bytes), replies, needs}; }
Step starttls(std::string pipelined_after) {
  return Step{Step::Kind::starttls, "STARTTLS\r\n" + std::move(pipelined_after), 1, 0};
}

const smtp::Reply* DialogueResult::reply_to(std::string_view prefix) const {
  const smtp::Reply* found = nullptr;
  for (const Exchange& exchange : exchanges) {
    if (exchange.replies.empty() || exchange.sent.size() < prefix.size()) continue;
    if (to_lower(std::string_view(exchange.sent).substr(0, prefix.size())) == to_lower(prefix)) {
      found = &exchange.replies.back();
    }
  }
  return found;
}

std::vector<const smtp::Reply*> DialogueResult::replies() const {
  std::vector<const smtp::Reply*> all;
  for (const Exchange& exchange : exchanges) {
    for (const smtp::Reply& reply : exchange.replies) all.push_back(&reply);
  }
  return all;
}

std::string DialogueResult::transcript(std::size_t max_lines) const {
  std::vector<std::string> lines;
  for (const Exchange& exchange : exchanges) {
    if (!exchange.sent.empty()) {
      // A command is one line; a message body is shown by its first line only.
      const std::string_view sent = exchange.sent;
      const std::size_t end = sent.find("\r\n");
      const bool one_line = end == std::string_view::npos || end + 2 == sent.size();
      lines.push_back("C: " + shown(one_line ? sent.substr(0, end) : sent) +
                      (one_line ? "" : " (" + std::to_string(sent.size()) + " bytes)"));
    }
    for (const smtp::Reply& reply : exchange.replies) lines.push_back("S: " + shown(reply.text()));
  }
  if (tls) {
    lines.push_back("   TLS " + (tls_established ? tls->version + " " + tls->cipher : "failed") +
                    (tls->peer_subject.empty() ? "" : ", certificate " + tls->peer_subject) +
                    (tls->peer_verified          ? ", verified"
                     : tls->verify_error.empty() ? ""
                                                 : ", " + tls->verify_error));
  }
  if (!error.empty()) lines.push_back("   (" + error + ")");
  std::string out;
  const std::size_t first = lines.size() > max_lines ? lines.size() - max_lines : 0;
  if (first > 0) out += "   ... " + std::to_string(first) + " lines before\n";
  for (std::size_t i = first; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

Dialogue::Dialogue(io::Io& io, DialogueOptions options, std::vector<Step> steps, Done done)
    : io_(io), options_(std::move(options)), steps_(std::move(steps)), done_(std::move(done)) {}

Dialogue::~Dialogue() {
  if (connection_) connection_->abort();
}

void Dialogue::start() {
  io::ConnectOptions connect;
  connect.timeout = options_.reply_timeout;
  connect.source = options_.source;
  connecting_ = io_.connect(options_.remote, connect, [this](io::Result<std::unique_ptr<io::Connection>> connection) {
    if (!connection) {
      const io::Error& error = connection.error();
      return finish("cannot connect to " + options_.remote.to_string() + ": " + std::string(io::to_string(error.code)) +
                    (error.detail.empty() ? "" : " (" + error.detail + ")"));
    }
    connected(std::move(connection).value());
  });
}

void Dialogue::connected(std::unique_ptr<io::Connection> connection) {
  result_.connected = true;
  connection_ = std::move(connection);
  connection_->on_receive([this](std::string_view bytes) { receive(bytes); });
  connection_->on_close([this](io::CloseReason reason) {
    result_.closed_by_server = true;
    finish(reason == io::CloseReason::reset ? "the server reset the connection" : "the server closed the connection");
  });
  next_step();
}

void Dialogue::next_step() {
  if (finished_) return;
  if (step_ >= steps_.size()) {
    result_.completed = true;
    return finish({});
  }
  const Step& step = steps_[step_];
  if (step.needs != 0) {
    const smtp::Reply* last = nullptr;
    for (const Exchange& exchange : result_.exchanges) {
      if (!exchange.replies.empty()) last = &exchange.replies.back();
    }
    if (last == nullptr || !reply_meets(*last, step.needs)) {
      result_.completed = true;  // the script ends where the server said no
      return finish({});
    }
  }
  result_.exchanges.push_back(Exchange{step.kind == Step::Kind::greeting ? std::string() : step.bytes, {}});
  if (step.kind != Step::Kind::greeting) write(step.bytes);
  awaiting_ = step.replies;
  wait_for_replies();
}

void Dialogue::wait_for_replies() {
  timer_ = io_.after(options_.reply_timeout, [this] {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(options_.reply_timeout).count();
    finish(handshake_pending_ ? "no TLS handshake within " + std::to_string(seconds) + " s"
                              : "no reply within " + std::to_string(seconds) + " s");
  });
}

void Dialogue::write(std::string_view bytes) {
  if (!connection_) return;
  if (engine_) {
    engine_->send_plaintext(bytes);
    flush_tls();
    return;
  }
  (void)connection_->send(bytes);  // a failure shows as the close that follows
}

void Dialogue::flush_tls() {
  if (!engine_ || !connection_) return;
  const std::string ciphertext = engine_->take_ciphertext();
  if (!ciphertext.empty()) (void)connection_->send(ciphertext);
}

void Dialogue::receive(std::string_view bytes) {
  if (finished_) return;
  if (!engine_) return on_plaintext(bytes);
  engine_->receive_ciphertext(bytes);
  flush_tls();
  if (handshake_pending_) {
    if (engine_->state() == tls::Engine::State::handshaking) return;
    handshake_pending_ = false;
    result_.tls = engine_->info();
    if (engine_->state() != tls::Engine::State::established) {
      return finish("TLS handshake failed: " + engine_->error());
    }
    result_.tls_established = true;
    step_ += 1;
    timer_.cancel();
    next_step();
    if (finished_) return;
  }
  const std::string plaintext = engine_->take_plaintext();
  if (!plaintext.empty()) on_plaintext(plaintext);
}

void Dialogue::on_plaintext(std::string_view bytes) {
  while (!finished_ && !handshake_pending_) {
    const smtp::ReplyParser::Status status = parser_.feed(bytes);
    if (status == smtp::ReplyParser::Status::incomplete) return;
    if (status == smtp::ReplyParser::Status::malformed) return finish("malformed reply: " + parser_.error());
    smtp::Reply reply = parser_.take();
    if (++replies_received_ > replies_max)
      return finish("more than " + std::to_string(replies_max) + " replies: the server floods");
    if (result_.exchanges.empty()) result_.exchanges.push_back(Exchange{});
    result_.exchanges.back().replies.push_back(reply);  // replies nobody asked for land here too
    if (awaiting_ == 0) continue;
    if (--awaiting_ > 0) continue;
    timer_.cancel();
    const Step& step = steps_[step_];
    if (step.kind == Step::Kind::starttls && reply.code == 220) {
      // What follows the 220 in plaintext is not the server's to say: start afresh under TLS.
      parser_ = smtp::ReplyParser();
      if (options_.tls == nullptr) return finish("no TLS client context for STARTTLS");
      engine_ = std::make_unique<tls::Engine>(*options_.tls, io_.now(), options_.server_name);
      handshake_pending_ = true;
      engine_->start();
      flush_tls();
      wait_for_replies();
      return;
    }
    step_ += 1;
    next_step();
  }
}

void Dialogue::finish(std::string error) {
  if (finished_) return;
  finished_ = true;
  timer_.cancel();
  connecting_.cancel();
  if (result_.error.empty()) result_.error = std::move(error);
  if (connection_) {
    if (result_.completed && !result_.closed_by_server) write("QUIT\r\n");
    connection_->close();
  }
  // The owner may destroy this object from the handler: nothing is touched after it.
  Done done = std::move(done_);
  DialogueResult result = std::move(result_);
  done(result);
}

}  // namespace relaysim::conformance
