// The DNS server: a UDP socket answering datagram by datagram, and a TCP acceptor whose
// connections carry length-prefixed messages (RFC 1035 §4.2.2), all on the runtime's io_context.

#include "real/dns_server.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs it under GCC 12

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

#include "real/internal.hpp"

namespace relaysim::real {
namespace {

constexpr std::size_t datagram_bytes_max = 65535;
constexpr std::size_t tcp_connections_max = 64;
constexpr auto tcp_idle_limit = std::chrono::seconds(10);

using udp = asio::ip::udp;
using tcp = asio::ip::tcp;

struct TcpExchange : std::enable_shared_from_this<TcpExchange> {
  TcpExchange(tcp::socket connected, std::shared_ptr<DnsServer::Handler> on_query, std::shared_ptr<std::size_t> open)
      : socket(std::move(connected)),
        timer(socket.get_executor()),
        handler(std::move(on_query)),
        count(std::move(open)) {
    *count += 1;
  }
  ~TcpExchange() { *count -= 1; }

  tcp::socket socket;
  asio::steady_timer timer;
  std::shared_ptr<DnsServer::Handler> handler;
  std::shared_ptr<std::size_t> count;
  std::array<unsigned char, 2> length{};
  std::string query;
  std::string response;

  void read() {
    timer.expires_after(tcp_idle_limit);
    timer.async_wait([self = shared_from_this()](boost::system::error_code error) {
      if (!error) self->socket.close();
    });
    asio::async_read(
        socket, asio::buffer(length), [self = shared_from_this()](boost::system::error_code error, std::size_t) {
          if (error) return;
          self->query.resize(static_cast<std::size_t>(self->length[0] << 8 | self->length[1]));
          asio::async_read(self->socket, asio::buffer(self->query),
                           [self](boost::system::error_code read_error, std::size_t) {
                             if (read_error) return;
                             self->timer.cancel();
                             const std::optional<std::string> answer = (*self->handler)(self->query, false);
                             if (!answer) return self->read();  // no answer: the client waits, then gives up
                             self->response.clear();
                             self->response += static_cast<char>(answer->size() >> 8);
                             self->response += static_cast<char>(answer->size() & 0xff);
                             self->response += *answer;
                             asio::async_write(self->socket, asio::buffer(self->response),
                                               [self](boost::system::error_code write_error, std::size_t) {
                                                 if (!write_error) self->read();
                                               });
                           });
        });
  }
};

}  // namespace

struct DnsServer::State : std::enable_shared_from_this<DnsServer::State> {
  explicit State(asio::io_context& context) : datagrams(context), acceptor(context) {}
  udp::socket datagrams;
  tcp::acceptor acceptor;
  std::shared_ptr<Handler> handler;
  std::shared_ptr<std::size_t> tcp_open = std::make_shared<std::size_t>(0);
  std::string datagram = std::string(datagram_bytes_max, '\0');
  udp::endpoint sender;

  void receive() {
    datagrams.async_receive_from(asio::buffer(datagram), sender,
                                 [self = shared_from_this()](boost::system::error_code error, std::size_t bytes) {
                                   if (error == asio::error::operation_aborted) return;
                                   if (!error) {
                                     const std::optional<std::string> answer =
                                         (*self->handler)(std::string_view(self->datagram).substr(0, bytes), true);
                                     if (answer) {
                                       boost::system::error_code ignored;
                                       self->datagrams.send_to(asio::buffer(*answer), self->sender, 0, ignored);
                                     }
                                   }
                                   self->receive();
                                 });
  }

  void accept() {
    acceptor.async_accept([self = shared_from_this()](boost::system::error_code error, tcp::socket socket) {
      if (error == asio::error::operation_aborted) return;
      if (!error && *self->tcp_open < tcp_connections_max) {
        std::make_shared<TcpExchange>(std::move(socket), self->handler, self->tcp_open)->read();
      }
      self->accept();
    });
  }
};

DnsServer::~DnsServer() {
  boost::system::error_code ignored;
  state_->datagrams.close(ignored);
  state_->acceptor.close(ignored);
}

io::Result<std::unique_ptr<DnsServer>> DnsServer::start(Runtime& runtime, io::Endpoint endpoint, Handler handler) {
  auto state = std::make_shared<State>(runtime.internals().context);
  state->handler = std::make_shared<Handler>(std::move(handler));
  boost::system::error_code error;
  const udp::endpoint local_udp(to_asio(endpoint.address), endpoint.port);
  state->datagrams.open(local_udp.protocol(), error);
  if (!error) state->datagrams.bind(local_udp, error);
  const auto failed = [&](std::string_view what) {
    return io::Error{
        io::Errc::address_in_use,
        "DNS (" + std::string(what) + ") on " + endpoint.to_string() + ": " + error.message() +
            (error == asio::error::access_denied ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" : "")};
  };
  if (error) return failed("UDP");
  const tcp::endpoint local_tcp(to_asio(endpoint.address), state->datagrams.local_endpoint().port());
  state->acceptor.open(local_tcp.protocol(), error);
  if (!error) state->acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) state->acceptor.bind(local_tcp, error);
  if (!error) state->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) return failed("TCP");
  state->receive();
  state->accept();
  return std::unique_ptr<DnsServer>(new DnsServer(std::move(state)));
}

io::Endpoint DnsServer::local_endpoint() const {
  const auto local = state_->datagrams.local_endpoint();
  return {to_address(local.address()), local.port()};
}

}  // namespace relaysim::real
