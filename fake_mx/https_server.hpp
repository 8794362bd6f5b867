#pragma once
// The HTTPS side of the web doubles (an MTA-STS policy host, a TLS report collector): a listener,
// TLS with the node's certificate, one request per connection - its head, and a body of the
// Content-Length it announces - and one answer, perhaps late, then "Connection: close". Requests
// past a size bound, and connections past a count, are dropped.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/io.hpp"
#include "tls/engine.hpp"

namespace relaysim::fake_mx {

struct HttpRequest {
  std::string method;        // "GET", "POST"
  std::string path;          // "/.well-known/mta-sts.txt"
  std::string content_type;  // the Content-Type header, as sent
  std::string body;
};

struct HttpAnswer {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  Duration delay = Duration(0);  // before the answer goes out
};

class HttpsServer {
 public:
  using Handler = std::function<HttpAnswer(const HttpRequest& request)>;

  HttpsServer(io::Io& io, io::Endpoint local, const tls::Context& tls, std::size_t body_bytes_max, Handler handler);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  void start();  // listens; a port it cannot have is logged as fatal
  std::uint64_t requests() const { return requests_; }
  std::size_t connections() const { return exchanges_.size(); }

 private:
  struct Exchange;
  void accept(std::unique_ptr<io::Connection> connection);
  void receive(Exchange& exchange, std::string_view bytes);
  void answer(Exchange& exchange, const HttpRequest& request, HttpAnswer reply);
  void forget(std::uint64_t id);

  io::Io& io_;
  io::Endpoint local_;
  const tls::Context& tls_;
  std::size_t body_bytes_max_;
  Handler handler_;
  std::unique_ptr<io::Listener> listener_;
  std::vector<std::unique_ptr<Exchange>> exchanges_;
  std::vector<std::unique_ptr<Exchange>> retired_;  // closed, destroyed from the event loop
  io::Pending sweep_;
  std::uint64_t requests_ = 0;
};

}  // namespace relaysim::fake_mx
