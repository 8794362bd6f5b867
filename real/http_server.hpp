#pragma once
// A small HTTP/1.1 server on the real runtime's event loop, for the JSON APIs of real-mode
// servers (the fake MX's mailboxes and behaviour). Requests are parsed by Boost.Beast; the
// handler runs on the event-loop thread, beside the nodes, so it may read and change them freely.
//
// Limits: request bodies up to 1 MiB, headers up to 16 KiB, 30 s to send a request, keep-alive;
// at most 32 event streams open, each with at most 256 events waiting to be sent.

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
  // A server-sent event stream (text/event-stream): the headers go out, the connection stays
  // open, and every HttpServer::broadcast reaches it until the client goes away.
  bool event_stream = false;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest& request)>;
  ~HttpServer();
  // Listens on `endpoint` (port 0: one the system picks).
  static io::Result<std::unique_ptr<HttpServer>> start(Runtime& runtime, io::Endpoint endpoint, Handler handler);
  io::Endpoint local_endpoint() const;
  // Sends "event: NAME\ndata: DATA\n\n" to every open event stream. DATA is one line.
  void broadcast(std::string_view event, std::string_view data);

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
