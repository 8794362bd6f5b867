// The HTTP server: one acceptor, one small state machine per connection (read a request, answer
// it, read the next), all on the runtime's io_context.

#include "real/http_server.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <deque>
#include <optional>

#include "real/internal.hpp"

namespace relaysim::real {

namespace beast = boost::beast;
namespace http = beast::http;

// Named, not anonymous: HttpServer::State, which has external linkage, holds these types.
namespace http_exchange {

constexpr std::size_t body_bytes_max = 1024 * 1024;
constexpr std::size_t header_bytes_max = 16 * 1024;
constexpr auto request_time_limit = std::chrono::seconds(30);
constexpr std::size_t event_streams_max = 32;
constexpr std::size_t events_waiting_max = 256;

struct Exchange;

// The open event streams, shared by the server and its exchanges.
struct Streams {
  std::vector<std::weak_ptr<Exchange>> open;
};

struct Exchange : std::enable_shared_from_this<Exchange> {
  Exchange(asio::ip::tcp::socket socket, std::shared_ptr<HttpServer::Handler> on_request,
           std::shared_ptr<Streams> event_streams)
      : stream(std::move(socket)), handler(std::move(on_request)), streams(std::move(event_streams)) {}

  beast::tcp_stream stream;
  std::shared_ptr<HttpServer::Handler> handler;
  std::shared_ptr<Streams> streams;
  std::deque<std::string> events;  // an event stream's events not yet written
  bool writing = false;
  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  http::response<http::string_body> response;

  void read() {
    parser.emplace();
    parser->body_limit(body_bytes_max);
    parser->header_limit(header_bytes_max);
    stream.expires_after(request_time_limit);
    http::async_read(stream, buffer, *parser, [self = shared_from_this()](beast::error_code error, std::size_t) {
      if (error) {
        if (error == http::error::body_limit || error == http::error::header_limit)
          self->refuse(413, "request too large");
        return;  // the peer closed, timed out or sent garbage: the connection ends
      }
      self->answer();
    });
  }

  void answer() {
    const auto& request = parser->get();
    HttpRequest in;
    in.method = std::string(request.method_string());
    const std::string target(request.target());
    const std::size_t question = target.find('?');
    in.path = target.substr(0, question);
    if (question != std::string::npos) in.query = target.substr(question + 1);
    in.body = request.body();
    HttpResponse out;
    try {
      out = (*handler)(in);
    } catch (const std::exception& error) {
      out = {500, "application/json", std::string("{\"error\":\"internal error\"}")};
    }
    if (out.event_stream && out.status == 200) return open_event_stream();
    send(out.status, out.content_type, std::move(out.body), request.keep_alive());
  }

  // The response's head, then events as they come, for as long as the client stays.
  void open_event_stream() {
    std::erase_if(streams->open, [](const std::weak_ptr<Exchange>& exchange) { return exchange.expired(); });
    if (streams->open.size() >= event_streams_max) return refuse(503, "too many event streams");
    streams->open.push_back(weak_from_this());
    stream.expires_never();
    // Reading nothing more, the exchange would not notice a client that closed until a write
    // failed; waiting for it to be readable notices at once.
    stream.socket().async_wait(asio::ip::tcp::socket::wait_read, [self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      self->stream.socket().close(ignored);
    });
    push(
        "HTTP/1.1 200 OK\r\nServer: relaysim\r\nContent-Type: text/event-stream\r\nCache-Control: "
        "no-cache\r\nConnection: close\r\n\r\n"
        ": connected\n\n");
  }

  void push(std::string text) {
    if (events.size() >= events_waiting_max) return;  // a reader this far behind misses events, not memory
    events.push_back(std::move(text));
    if (!writing) write_next();
  }

  void write_next() {
    if (events.empty()) {
      writing = false;
      return;
    }
    writing = true;
    asio::async_write(stream.socket(), asio::buffer(events.front()),
                      [self = shared_from_this()](beast::error_code error, std::size_t) {
                        if (error) {
                          std::erase_if(self->streams->open, [&](const std::weak_ptr<Exchange>& exchange) {
                            return exchange.lock() == self;
                          });
                          return;  // the client went away
                        }
                        self->events.pop_front();
                        self->write_next();
                      });
  }

  void refuse(int status, const std::string& why) {
    send(status, "application/json", "{\"error\":\"" + why + "\"}", false);
  }

  void send(int status, const std::string& content_type, std::string body, bool keep_alive) {
    response = {};
    response.version(11);
    response.result(static_cast<http::status>(status));
    response.set(http::field::server, "relaysim");
    response.set(http::field::content_type, content_type);
    response.keep_alive(keep_alive);
    response.body() = std::move(body);
    response.prepare_payload();
    http::async_write(stream, response, [self = shared_from_this(), keep_alive](beast::error_code error, std::size_t) {
      if (error || !keep_alive) {
        beast::error_code ignored;
        self->stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        return;
      }
      self->read();
    });
  }
};

}  // namespace http_exchange

using http_exchange::Exchange;
using http_exchange::Streams;

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  explicit State(asio::io_context& context) : acceptor(context) {}
  asio::ip::tcp::acceptor acceptor;
  std::shared_ptr<Handler> handler;
  std::shared_ptr<Streams> streams = std::make_shared<Streams>();
  bool open = true;

  void accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code error, asio::ip::tcp::socket socket) {
      if (!self->open) return;
      if (!error) std::make_shared<Exchange>(std::move(socket), self->handler, self->streams)->read();
      self->accept();
    });
  }
};

HttpServer::~HttpServer() {
  state_->open = false;
  beast::error_code ignored;
  state_->acceptor.close(ignored);
  for (const std::weak_ptr<Exchange>& open : state_->streams->open) {
    if (const auto exchange = open.lock()) exchange->stream.socket().close(ignored);
  }
}

void HttpServer::broadcast(std::string_view event, std::string_view data) {
  const std::string text = "event: " + std::string(event) + "\ndata: " + std::string(data) + "\n\n";
  for (const std::weak_ptr<Exchange>& open : state_->streams->open) {
    if (const auto exchange = open.lock()) exchange->push(text);
  }
}

io::Result<std::unique_ptr<HttpServer>> HttpServer::start(Runtime& runtime, io::Endpoint endpoint, Handler handler) {
  auto state = std::make_shared<State>(runtime.internals().context);
  state->handler = std::make_shared<Handler>(std::move(handler));
  const asio::ip::tcp::endpoint local(to_asio(endpoint.address), endpoint.port);
  beast::error_code error;
  state->acceptor.open(local.protocol(), error);
  if (!error) state->acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) state->acceptor.bind(local, error);
  if (!error) state->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) return io::Error{io::Errc::address_in_use, "HTTP on " + endpoint.to_string() + ": " + error.message()};
  state->accept();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

io::Endpoint HttpServer::local_endpoint() const {
  const auto local = state_->acceptor.local_endpoint();
  return {to_address(local.address()), local.port()};
}

std::string url_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string query_parameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t equals = pair.find('=');
    if (pair.substr(0, equals) == name)
      return equals == std::string_view::npos ? "" : url_decode(pair.substr(equals + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

}  // namespace relaysim::real
