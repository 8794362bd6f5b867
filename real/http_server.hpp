#pragma once
// A small HTTP/1.1 server on the real runtime's event loop, for the JSON APIs of real-mode
// servers (the fake MX's mailboxes and behaviour). Requests are parsed by Boost.Beast; the
// handler runs on the event-loop thread, beside the nodes, so it may read and change them freely.
//
// Limits: request bodies up to 1 MiB, headers up to 16 KiB, 30 s to send a request, keep-alive.

#include <functional>
#include <memory>
#include <string>

#include "io/address.hpp"
#include "io/result.hpp"
#include "real/runtime.hpp"

namespace relaysim::real {

struct HttpRequest {
  std::string method;  // "GET", "POST", "PUT", "DELETE"
  std::string path;    // without the query: "/api/messages"
  std::string query;   // after '?', undecoded: "mailbox=ann%40dest.example"
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest& request)>;
  ~HttpServer();
  // Listens on `endpoint` (port 0: one the system picks).
  static io::Result<std::unique_ptr<HttpServer>> start(Runtime& runtime, io::Endpoint endpoint, Handler handler);
  io::Endpoint local_endpoint() const;

  struct State;

 private:
  explicit HttpServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// Decodes %XX and '+' in a query value.
std::string url_decode(std::string_view text);
// The value of `name` in a query string, decoded; empty when absent.
std::string query_parameter(std::string_view query, std::string_view name);

}  // namespace relaysim::real
