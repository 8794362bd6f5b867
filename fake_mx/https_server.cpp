#include "fake_mx/https_server.hpp"

#include <algorithm>

#include "smtp/dsn.hpp"

namespace relaysim::fake_mx {
namespace {

constexpr std::size_t head_bytes_max = 16 * 1024;
constexpr std::size_t exchanges_max = 64;

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace

struct HttpsServer::Exchange {
  std::unique_ptr<io::Connection> connection;
  tls::Engine tls;
  std::string received;
  io::Pending answer_later;
  bool answered = false;

  Exchange(std::unique_ptr<io::Connection> stream, const tls::Context& context, Instant now)
      : connection(std::move(stream)), tls(context, now) {}
  void flush() {
    const std::string ciphertext = tls.take_ciphertext();
    if (!ciphertext.empty() && connection->is_open()) (void)connection->send(ciphertext);
  }
};

HttpsServer::HttpsServer(io::Io& io, io::Endpoint local, const tls::Context& tls, std::size_t body_bytes_max,
                         Handler handler)
    : io_(io), local_(local), tls_(tls), body_bytes_max_(body_bytes_max), handler_(std::move(handler)) {}

HttpsServer::~HttpsServer() = default;

void HttpsServer::start() {
  auto listener =
      io_.listen(local_, [this](std::unique_ptr<io::Connection> connection) { accept(std::move(connection)); });
  if (!listener) {
    io_.observe(
        io::LogLine{"fatal: cannot listen on port " + std::to_string(local_.port) + ": " + listener.error().detail});
    return;
  }
  listener_ = std::move(listener).value();
}

void HttpsServer::accept(std::unique_ptr<io::Connection> connection) {
  if (exchanges_.size() >= exchanges_max) return connection->abort();
  auto exchange = std::make_unique<Exchange>(std::move(connection), tls_, io_.now());
  Exchange& added = *exchange;
  const std::uint64_t id = added.connection->id();
  exchanges_.push_back(std::move(exchange));
  added.connection->on_receive([this, &added](std::string_view bytes) { receive(added, bytes); });
  added.connection->on_close([this, id](io::CloseReason) { forget(id); });
  added.tls.start();
}

void HttpsServer::receive(Exchange& exchange, std::string_view bytes) {
  exchange.tls.receive_ciphertext(bytes);
  exchange.flush();
  if (exchange.tls.state() == tls::Engine::State::failed) {
    io_.trace("https.tls_failed", {{"conn", exchange.connection->id()}, {"error", exchange.tls.error()}});
    return forget(exchange.connection->id());
  }
  if (exchange.answered) return;
  exchange.received += exchange.tls.take_plaintext();
  const std::size_t head_end = exchange.received.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    if (exchange.received.size() > head_bytes_max) forget(exchange.connection->id());
    return;
  }
  const std::string_view head = std::string_view(exchange.received).substr(0, head_end + 2);
  HttpRequest request;
  const std::string_view line = head.substr(0, head.find("\r\n"));
  const std::size_t first_space = line.find(' ');
  const std::size_t second_space = line.find(' ', first_space + 1);
  request.method = std::string(line.substr(0, first_space));
  if (first_space != std::string_view::npos)
    request.path = std::string(line.substr(first_space + 1, second_space - first_space - 1));
  request.content_type = smtp::header_value(head, "Content-Type");
  const std::string length_text = smtp::header_value(head, "Content-Length");
  std::size_t length = 0;
  if (!length_text.empty()) {
    if (length_text.size() > 9 || !std::all_of(length_text.begin(), length_text.end(), ::isdigit))
      return forget(exchange.connection->id());
    length = std::stoul(length_text);
  }
  if (length > body_bytes_max_) {
    exchange.answered = true;
    return answer(exchange, request, HttpAnswer{413, "text/plain", "too large\r\n", Duration(0)});
  }
  if (exchange.received.size() < head_end + 4 + length) return;  // the body is still coming
  exchange.answered = true;
  request.body = exchange.received.substr(head_end + 4, length);
  answer(exchange, request, handler_(request));
}

void HttpsServer::answer(Exchange& exchange, const HttpRequest& request, HttpAnswer reply) {
  const auto send = [this, &exchange, method = request.method, path = request.path, reply] {
    requests_ += 1;
    io_.trace("https.request", {{"conn", exchange.connection->id()},
                                {"method", method},
                                {"path", path},
                                {"status", static_cast<std::int64_t>(reply.status)}});
    exchange.tls.send_plaintext("HTTP/1.1 " + std::to_string(reply.status) + " " +
                                std::string(reason_phrase(reply.status)) + "\r\nContent-Type: " + reply.content_type +
                                "\r\nContent-Length: " + std::to_string(reply.body.size()) +
                                "\r\nConnection: close\r\n\r\n" + reply.body);
    exchange.tls.close();
    exchange.flush();
    exchange.connection->close();
    forget(exchange.connection->id());
  };
  if (reply.delay <= Duration(0)) return send();
  exchange.answer_later = io_.after(reply.delay, send);
}

void HttpsServer::forget(std::uint64_t id) {
  const auto found = std::find_if(exchanges_.begin(), exchanges_.end(),
                                  [id](const auto& exchange) { return exchange->connection->id() == id; });
  if (found == exchanges_.end()) return;
  Exchange& gone = **found;
  if (gone.connection->is_open()) gone.connection->abort();
  gone.answer_later.cancel();
  // Perhaps inside its own connection's callback: destroyed later, from the event loop.
  retired_.push_back(std::move(*found));
  exchanges_.erase(found);
  if (!sweep_.armed())
    sweep_ = io_.after(Duration(0), [this] {
      io::Pending fired = std::move(sweep_);
      retired_.clear();
    });
}

}  // namespace relaysim::fake_mx
