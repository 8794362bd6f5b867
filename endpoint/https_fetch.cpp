#include "endpoint/https_fetch.hpp"

#include <charconv>

#include "io/text.hpp"

namespace relaysim::endpoint {
namespace {

constexpr std::size_t header_bytes_max = 16 * 1024;

std::optional<std::size_t> parse_size(std::string_view text, int base) {
  std::size_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value, base);
  if (error != std::errc() || stop != end || text.empty()) return std::nullopt;
  return value;
}

// A chunked body (RFC 9112 7.1), as far as it has come: done when the last chunk and the
// trailer's end are in. Chunk extensions and trailer fields are read past.
HttpParse decode_chunked(std::string_view bytes, std::size_t body_bytes_max, HttpParse parse) {
  std::size_t at = 0;
  while (true) {
    const std::size_t line_end = bytes.find("\r\n", at);
    if (line_end == std::string_view::npos) return parse;
    std::string_view size_text = bytes.substr(at, line_end - at);
    size_text = size_text.substr(0, size_text.find(';'));
    const std::optional<std::size_t> size = parse_size(trim(size_text), 16);
    if (!size) return {HttpParse::State::bad, {}, "bad chunk size"};
    at = line_end + 2;
    if (*size == 0) {
      const std::size_t trailer_end = bytes.find("\r\n\r\n", line_end);
      if (trailer_end == std::string_view::npos) return parse;
      parse.state = HttpParse::State::done;
      return parse;
    }
    if (parse.response.body.size() + *size > body_bytes_max)
      return {HttpParse::State::bad, {}, "body over " + std::to_string(body_bytes_max) + " bytes"};
    if (bytes.size() < at + *size + 2) return parse;
    parse.response.body.append(bytes.substr(at, *size));
    at += *size + 2;
  }
}

}  // namespace

HttpParse parse_http_response(std::string_view bytes, bool complete, std::size_t body_bytes_max) {
  const std::size_t header_end = bytes.find("\r\n\r\n");
  if (header_end == std::string_view::npos) {
    if (bytes.size() > header_bytes_max) return {HttpParse::State::bad, {}, "header over 16 KiB"};
    if (complete) return {HttpParse::State::bad, {}, "the response ended inside its header"};
    return {};
  }
  HttpParse parse;
  std::string_view header = bytes.substr(0, header_end);
  const std::size_t status_end = header.find("\r\n");
  const std::string_view status_line = header.substr(0, status_end);
  // "HTTP/1.1 200 OK"
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ')
    return {HttpParse::State::bad, {}, "not an HTTP/1.x status line"};
  const std::optional<std::size_t> status = parse_size(status_line.substr(9, 3), 10);
  if (!status || *status < 100) return {HttpParse::State::bad, {}, "bad status code"};
  parse.response.status = static_cast<int>(*status);

  std::optional<std::size_t> length;
  bool chunked = false;
  std::string_view rest = status_end == std::string_view::npos ? std::string_view() : header.substr(status_end + 2);
  while (!rest.empty()) {
    const std::size_t line_end = rest.find("\r\n");
    const std::string_view line = rest.substr(0, line_end);
    rest = line_end == std::string_view::npos ? std::string_view() : rest.substr(line_end + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return {HttpParse::State::bad, {}, "a header line without a colon"};
    const std::string name = to_lower(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      length = parse_size(value, 10);
      if (!length) return {HttpParse::State::bad, {}, "bad Content-Length"};
    } else if (name == "transfer-encoding") {
      chunked = to_lower(value).find("chunked") != std::string::npos;
    } else if (name == "content-type") {
      parse.response.content_type = to_lower(trim(std::string_view(value).substr(0, value.find(';'))));
    }
  }

  const std::string_view body = bytes.substr(header_end + 4);
  if (chunked) {
    parse = decode_chunked(body, body_bytes_max, std::move(parse));
    if (parse.state == HttpParse::State::incomplete && complete)
      return {HttpParse::State::bad, {}, "the response ended inside its body"};
    return parse;
  }
  if (length) {
    if (*length > body_bytes_max)
      return {HttpParse::State::bad, {}, "body over " + std::to_string(body_bytes_max) + " bytes"};
    if (body.size() < *length) {
      if (complete) return {HttpParse::State::bad, {}, "the response ended inside its body"};
      return parse;
    }
    parse.response.body = std::string(body.substr(0, *length));
    parse.state = HttpParse::State::done;
    return parse;
  }
  if (body.size() > body_bytes_max)
    return {HttpParse::State::bad, {}, "body over " + std::to_string(body_bytes_max) + " bytes"};
  if (!complete) return parse;  // the body runs to the end of the stream
  parse.response.body = std::string(body);
  parse.state = HttpParse::State::done;
  return parse;
}

HttpsFetch::HttpsFetch(io::Io& io, HttpsRequest request, const tls::Context& context, Handler handler)
    : io_(io), request_(std::move(request)), context_(context), handler_(std::move(handler)) {
  deadline_ = io_.after(request_.timeout, [this] {
    io::Pending fired = std::move(deadline_);
    fail("no answer from " + request_.host + " within " + format_duration(request_.timeout));
  });
  if (const std::optional<io::Address> literal = io::Address::parse(request_.host)) {
    // An address literal needs no lookup; it still goes through the event loop.
    finishing_ = io_.after(Duration(0), [this, address = *literal] {
      io::DnsAnswer answer = io::DnsAnswer::without_records(io::DnsStatus::ok, request_.host);
      answer.addresses.push_back(address);
      on_address(answer, io::DnsType::a);
    });
    return;
  }
  lookup_ = io_.resolve(request_.host, io::DnsType::a,
                        [this](const io::DnsAnswer& answer) { on_address(answer, io::DnsType::a); });
}

HttpsFetch::~HttpsFetch() {
  if (connection_) connection_->abort();
}

void HttpsFetch::on_address(const io::DnsAnswer& answer, io::DnsType type) {
  io::Pending done = std::move(lookup_);
  if (answer.addresses.empty()) {
    if (type == io::DnsType::a && !answer.temporary_failure()) {
      lookup_ = io_.resolve(request_.host, io::DnsType::aaaa,
                            [this](const io::DnsAnswer& next) { on_address(next, io::DnsType::aaaa); });
      return;
    }
    return fail("no address for " + request_.host + " (" + std::string(io::to_string(answer.status)) + ")");
  }
  const io::Endpoint remote{answer.addresses.front(), request_.port};
  connecting_ = io_.connect(remote, io::ConnectOptions{request_.timeout, std::nullopt},
                            [this, remote](io::Result<std::unique_ptr<io::Connection>> result) {
                              io::Pending connected = std::move(connecting_);
                              if (!result) {
                                return fail("connect to " + request_.host + "[" + remote.address.to_string() +
                                            "]:" + std::to_string(remote.port) + ": " +
                                            std::string(io::to_string(result.error().code)));
                              }
                              on_connected(std::move(result).value());
                            });
}

void HttpsFetch::on_connected(std::unique_ptr<io::Connection> connection) {
  connection_ = std::move(connection);
  connection_->on_receive([this](std::string_view bytes) { receive(bytes); });
  connection_->on_close([this](io::CloseReason reason) {
    if (reason == io::CloseReason::reset) return fail("connection to " + request_.host + " reset");
    stream_ended();
  });
  tls_ = std::make_unique<tls::Engine>(context_, io_.now(), request_.host);
  tls_->start();
  std::string head = request_.method + " " + request_.path + " HTTP/1.1\r\nHost: " + request_.host +
                     "\r\nUser-Agent: relaysim\r\nAccept: text/plain\r\nConnection: close\r\n";
  if (request_.method != "GET")
    head += "Content-Type: " + request_.content_type + "\r\nContent-Length: " + std::to_string(request_.body.size()) +
            "\r\n";
  tls_->send_plaintext(head + "\r\n" + request_.body);
  send_pending();
}

void HttpsFetch::send_pending() {
  const std::string ciphertext = tls_->take_ciphertext();
  if (!ciphertext.empty() && connection_->is_open()) (void)connection_->send(ciphertext);
}

void HttpsFetch::receive(std::string_view bytes) {
  if (done_) return;
  tls_->receive_ciphertext(bytes);
  send_pending();
  if (tls_->state() == tls::Engine::State::failed) return fail("TLS with " + request_.host + ": " + tls_->error());
  received_ += tls_->take_plaintext();
  const HttpParse parse = parse_http_response(received_, tls_->peer_closed(), request_.body_bytes_max);
  if (parse.state == HttpParse::State::bad) return fail("bad HTTP response from " + request_.host + ": " + parse.error);
  if (parse.state == HttpParse::State::done) return finish({parse.response, ""});
}

void HttpsFetch::stream_ended() {
  if (done_) return;
  if (tls_->state() != tls::Engine::State::established && tls_->state() != tls::Engine::State::closed)
    return fail("connection to " + request_.host + " closed during the TLS handshake");
  const HttpParse parse = parse_http_response(received_, true, request_.body_bytes_max);
  if (parse.state != HttpParse::State::done)
    return fail("bad HTTP response from " + request_.host + ": " + parse.error);
  finish({parse.response, ""});
}

void HttpsFetch::finish(HttpsResult result) {
  if (done_) return;
  done_ = true;
  lookup_.cancel();
  connecting_.cancel();
  deadline_.cancel();
  finishing_.cancel();
  if (connection_) connection_->close();
  Handler handler = std::move(handler_);
  handler(result);  // may destroy this object
}

}  // namespace relaysim::endpoint
