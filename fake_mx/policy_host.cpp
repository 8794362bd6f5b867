#include "fake_mx/policy_host.hpp"

#include <algorithm>

namespace relaysim::fake_mx {
namespace {

constexpr std::size_t request_bytes_max = 16 * 1024;
constexpr std::size_t exchanges_max = 64;

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace

std::string policy_text(std::string_view mode, const std::vector<std::string>& mx, std::uint64_t max_age_seconds) {
  std::string text = "version: STSv1\r\nmode: " + std::string(mode) + "\r\n";
  for (const std::string& pattern : mx) text += "mx: " + pattern + "\r\n";
  return text + "max_age: " + std::to_string(max_age_seconds) + "\r\n";
}

const PolicyAnswer& PolicyHostConfig::answer_at(Instant now) const {
  const PolicyAnswer* current = &answer;
  for (const auto& [from, changed] : changes) {
    if (from <= now) current = &changed;
  }
  return *current;
}

struct PolicyHostNode::Exchange {
  std::unique_ptr<io::Connection> connection;
  tls::Engine tls;
  std::string request;
  io::Pending answer_later;
  bool answered = false;

  Exchange(std::unique_ptr<io::Connection> stream, const tls::Context& context, Instant now)
      : connection(std::move(stream)), tls(context, now) {}
  void flush() {
    const std::string ciphertext = tls.take_ciphertext();
    if (!ciphertext.empty() && connection->is_open()) (void)connection->send(ciphertext);
  }
};

PolicyHostNode::PolicyHostNode(io::Io& io, PolicyHostConfig config, const tls::Context& tls)
    : io_(io), config_(std::move(config)), tls_(tls) {}

PolicyHostNode::~PolicyHostNode() = default;

void PolicyHostNode::start() {
  auto listener = io_.listen({config_.address, config_.port},
                             [this](std::unique_ptr<io::Connection> connection) { accept(std::move(connection)); });
  if (!listener) {
    io_.observe(
        io::LogLine{"fatal: cannot listen on port " + std::to_string(config_.port) + ": " + listener.error().detail});
    return;
  }
  listener_ = std::move(listener).value();
}

std::string PolicyHostNode::status() const {
  return "serving the MTA-STS policy (" + std::to_string(config_.answer_at(io_.now()).status) + "), " +
         std::to_string(requests_) + " requests, " + std::to_string(exchanges_.size()) + " open";
}

void PolicyHostNode::accept(std::unique_ptr<io::Connection> connection) {
  if (exchanges_.size() >= exchanges_max) return connection->abort();
  auto exchange = std::make_unique<Exchange>(std::move(connection), tls_, io_.now());
  Exchange& added = *exchange;
  const std::uint64_t id = added.connection->id();
  exchanges_.push_back(std::move(exchange));
  added.connection->on_receive([this, &added](std::string_view bytes) { receive(added, bytes); });
  added.connection->on_close([this, id](io::CloseReason) { forget(id); });
  added.tls.start();
}

void PolicyHostNode::receive(Exchange& exchange, std::string_view bytes) {
  exchange.tls.receive_ciphertext(bytes);
  exchange.flush();
  if (exchange.tls.state() == tls::Engine::State::failed) {
    io_.trace("https.tls_failed", {{"conn", exchange.connection->id()}, {"error", exchange.tls.error()}});
    return forget(exchange.connection->id());
  }
  if (exchange.answered) return;
  exchange.request += exchange.tls.take_plaintext();
  if (exchange.request.size() > request_bytes_max) return forget(exchange.connection->id());
  if (exchange.request.find("\r\n\r\n") == std::string::npos) return;
  exchange.answered = true;
  const Duration delay = config_.answer_at(io_.now()).delay;
  if (delay <= Duration(0)) return answer(exchange);
  exchange.answer_later = io_.after(delay, [this, &exchange] { answer(exchange); });
}

// "GET /.well-known/mta-sts.txt HTTP/1.1": the configured answer; anything else 404 (or 405).
void PolicyHostNode::answer(Exchange& exchange) {
  requests_ += 1;
  const std::string_view line = std::string_view(exchange.request).substr(0, exchange.request.find("\r\n"));
  const std::size_t first_space = line.find(' ');
  const std::size_t second_space = line.find(' ', first_space + 1);
  const std::string_view method = line.substr(0, first_space);
  const std::string_view path = first_space == std::string_view::npos
                                    ? std::string_view()
                                    : line.substr(first_space + 1, second_space - first_space - 1);
  const PolicyAnswer& configured = config_.answer_at(io_.now());
  int status = configured.status;
  std::string body = configured.body;
  std::string content_type = configured.content_type;
  if (method != "GET") {
    status = 405;
    body.clear();
  } else if (path != config_.path) {
    status = 404;
    body = "not found\r\n";
    content_type = "text/plain";
  }
  io_.trace("https.request", {{"conn", exchange.connection->id()},
                              {"method", method},
                              {"path", path},
                              {"status", static_cast<std::int64_t>(status)}});
  exchange.tls.send_plaintext("HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) +
                              "\r\nContent-Type: " + content_type + "\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  exchange.tls.close();
  exchange.flush();
  exchange.connection->close();
  forget(exchange.connection->id());
}

void PolicyHostNode::forget(std::uint64_t id) {
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
