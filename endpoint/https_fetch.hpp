#pragma once
// One HTTPS request over Io, as an MTA-STS policy fetch (RFC 8461 3.3) and a TLS report's POST
// (RFC 8460 3) need it: look the host up, connect to port 443, TLS with the chain and the host name
// checked, "GET path HTTP/1.1" (or a POST with its body) with "Connection: close", and the
// response read to its end - within a deadline and a size bound.
// Redirects are answers like any other (the caller decides; MTA-STS follows none).

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "io/io.hpp"
#include "tls/engine.hpp"

namespace relaysim::endpoint {

struct HttpResponse {
  int status = 0;            // 200, 404, ...
  std::string content_type;  // the Content-Type header's media type, lower case, parameters left out
  std::string body;
};

// A response read off the wire, as far as it has come. `complete`: the stream ended, so a body
// without a length runs to here.
struct HttpParse {
  enum class State { incomplete, done, bad };
  State state = State::incomplete;
  HttpResponse response;
  std::string error;  // bad: what was wrong
};
HttpParse parse_http_response(std::string_view bytes, bool complete, std::size_t body_bytes_max);

struct HttpsRequest {
  std::string host;  // dialled, sent as SNI and Host, and the name the certificate must carry
  std::string path = "/";
  std::string method = "GET";  // or "POST", with `body` of `content_type`
  std::string content_type;
  std::string body;
  std::uint16_t port = 443;
  Duration timeout = std::chrono::seconds(10);  // for the whole exchange, the lookup included
  std::size_t body_bytes_max = 64 * 1024;
};

struct HttpsResult {
  std::optional<HttpResponse> response;  // none: no response came
  std::string error;                     // why not: "connect to ...: refused", "TLS: certificate has expired", ...
};

class HttpsFetch {
 public:
  using Handler = std::function<void(const HttpsResult& result)>;

  // Starts at once; the handler runs once, from the event loop, unless this object is destroyed first.
  // `context`: a client context that checks the chain and the name (Verification::chain_and_name).
  HttpsFetch(io::Io& io, HttpsRequest request, const tls::Context& context, Handler handler);
  ~HttpsFetch();
  HttpsFetch(const HttpsFetch&) = delete;
  HttpsFetch& operator=(const HttpsFetch&) = delete;

 private:
  void on_address(const io::DnsAnswer& answer, io::DnsType type);
  void on_connected(std::unique_ptr<io::Connection> connection);
  void receive(std::string_view bytes);
  void stream_ended();
  void send_pending();
  void finish(HttpsResult result);
  void fail(std::string error) { finish({std::nullopt, std::move(error)}); }

  io::Io& io_;
  HttpsRequest request_;
  const tls::Context& context_;
  Handler handler_;
  io::Pending lookup_;
  io::Pending connecting_;
  io::Pending deadline_;
  io::Pending finishing_;
  std::unique_ptr<io::Connection> connection_;
  std::unique_ptr<tls::Engine> tls_;
  std::string received_;
  bool done_ = false;
};

}  // namespace relaysim::endpoint
