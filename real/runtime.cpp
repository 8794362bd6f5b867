// The real backend: event loop, time, timers, randomness, trace, and the network on Asio.

#include <fcntl.h>
#include <ifaddrs.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>

#include "io/assert.hpp"
#include "real/internal.hpp"

namespace relaysim::real {

io::Address to_address(const asio::ip::address& address) {
  if (address.is_v4()) return io::Address::v4(address.to_v4().to_uint());
  const auto bytes = address.to_v6().to_bytes();
  std::array<std::uint8_t, 16> copy{};
  std::copy(bytes.begin(), bytes.end(), copy.begin());
  return io::Address::v6(copy);
}

asio::ip::address to_asio(const io::Address& address) {
  if (address.is_v4()) return asio::ip::address_v4(address.v4_host_order());
  asio::ip::address_v6::bytes_type bytes;
  std::copy(address.bytes().begin(), address.bytes().end(), bytes.begin());
  return asio::ip::address_v6(bytes);
}

namespace {

asio::ip::tcp::endpoint to_asio(const io::Endpoint& endpoint) {
  return {real::to_asio(endpoint.address), endpoint.port};
}
io::Endpoint to_endpoint(const asio::ip::tcp::endpoint& endpoint) {
  return {to_address(endpoint.address()), endpoint.port()};
}

std::uint64_t entropy_seed() {
  std::uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
    seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return seed;
}

std::string os_host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "localhost";
  return buffer;
}

// The shared state of one TCP connection. Asio handlers hold it alive until they complete, so
// the Connection handle can be destroyed at any time, including inside its own callbacks.
struct ConnectionState : std::enable_shared_from_this<ConnectionState> {
  ConnectionState(asio::ip::tcp::socket connected, std::uint64_t connection_id)
      : socket(std::move(connected)), id(connection_id) {}

  asio::ip::tcp::socket socket;
  std::uint64_t id;
  io::Connection::ReceiveHandler on_receive;
  io::Connection::CloseHandler on_close;
  std::string inbox;
  std::deque<std::string> outgoing;
  std::size_t outgoing_bytes = 0;
  bool writing = false;
  bool reading = false;
  bool paused = false;               // reads nothing until resumed
  std::function<void()> on_drained;  // once outgoing_bytes <= drained_at
  std::size_t drained_at = 0;
  bool open = true;      // callbacks may still run and sends are accepted
  bool closing = false;  // graceful close requested: shut down once the queue drains
  std::array<char, 16 * 1024> buffer{};
  io::Endpoint local, peer;

  void start_reading() {
    if (reading || !open || paused) return;
    reading = true;
    socket.async_read_some(
        asio::buffer(buffer), [self = shared_from_this()](boost::system::error_code error, std::size_t length) {
          self->reading = false;
          if (!self->open) return;
          if (error) {
            self->end(error == asio::error::eof ? io::CloseReason::closed_by_peer : io::CloseReason::reset);
            return;
          }
          const std::string_view bytes(self->buffer.data(), length);
          if (self->on_receive && self->inbox.empty() && !self->paused) {
            auto handler = self->on_receive;  // the handler may replace itself or destroy the handle
            handler(bytes);
          } else {
            self->inbox.append(bytes);
          }
          self->start_reading();
        });
  }

  void deliver_inbox() {
    asio::post(socket.get_executor(), [self = shared_from_this()] {
      if (!self->open || !self->on_receive || self->inbox.empty() || self->paused) return;
      std::string bytes = std::move(self->inbox);
      self->inbox.clear();
      auto handler = self->on_receive;
      handler(bytes);
    });
  }

  void end(io::CloseReason reason) {
    if (!open) return;
    open = false;
    auto handler = std::move(on_close);
    on_receive = nullptr;
    on_close = nullptr;
    on_drained = nullptr;
    boost::system::error_code ignored;
    socket.close(ignored);
    if (handler) handler(reason);
  }

  void write_next() {
    if (writing || outgoing.empty()) {
      if (!writing && closing) {
        boost::system::error_code ignored;
        socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
      }
      return;
    }
    writing = true;
    asio::async_write(socket, asio::buffer(outgoing.front()),
                      [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                        self->writing = false;
                        self->outgoing_bytes -= self->outgoing.front().size();
                        self->outgoing.pop_front();
                        if (error) {
                          self->outgoing.clear();
                          self->outgoing_bytes = 0;
                          self->end(io::CloseReason::reset);
                          return;
                        }
                        self->check_drained();
                        self->write_next();
                      });
  }

  void check_drained() {
    if (!on_drained || outgoing_bytes > drained_at) return;
    auto handler = std::move(on_drained);
    on_drained = nullptr;
    handler();
  }
};

class RealConnection final : public io::Connection {
 public:
  explicit RealConnection(std::shared_ptr<ConnectionState> state) : state_(std::move(state)) {
    boost::system::error_code ignored;
    state_->local = to_endpoint(state_->socket.local_endpoint(ignored));
    state_->peer = to_endpoint(state_->socket.remote_endpoint(ignored));
    state_->start_reading();
  }
  ~RealConnection() override { close(); }

  void on_receive(ReceiveHandler handler) override {
    if (!state_->open) return;
    state_->on_receive = std::move(handler);
    if (state_->on_receive && !state_->inbox.empty()) state_->deliver_inbox();
  }
  void on_close(CloseHandler handler) override {
    if (state_->open) state_->on_close = std::move(handler);
  }
  io::Status send(std::string_view bytes) override {
    if (!state_->open || state_->closing) return io::Error{io::Errc::closed, "connection closed"};
    if (state_->outgoing_bytes + bytes.size() > send_buffer_bytes_max) {
      return io::Error{io::Errc::buffer_full, "send buffer full"};
    }
    if (bytes.empty()) return {};
    state_->outgoing.emplace_back(bytes);
    state_->outgoing_bytes += bytes.size();
    state_->write_next();
    return {};
  }
  void close() override {
    if (!state_->open) return;
    state_->open = false;
    state_->on_receive = nullptr;
    state_->on_close = nullptr;
    state_->on_drained = nullptr;
    state_->closing = true;
    state_->write_next();  // closes once what was queued has been written
  }
  void abort() override {
    if (!state_->open) return;
    state_->open = false;
    state_->on_receive = nullptr;
    state_->on_close = nullptr;
    state_->on_drained = nullptr;
    boost::system::error_code ignored;
    state_->socket.set_option(asio::socket_base::linger(true, 0), ignored);  // close sends a reset
    state_->socket.close(ignored);
  }
  bool is_open() const override { return state_->open; }
  std::size_t unsent_bytes() const override { return state_->outgoing_bytes; }
  void when_unsent_at_most(std::size_t bytes, std::function<void()> handler) override {
    if (!state_->open) return;
    state_->on_drained = std::move(handler);
    state_->drained_at = bytes;
    if (state_->outgoing_bytes <= bytes) {
      asio::post(state_->socket.get_executor(), [state = state_] {
        if (state->open) state->check_drained();
      });
    }
  }
  void pause_receiving(bool paused) override {
    if (!state_->open || state_->paused == paused) return;
    state_->paused = paused;
    if (paused) return;
    if (state_->on_receive && !state_->inbox.empty()) state_->deliver_inbox();
    state_->start_reading();
  }
  io::Endpoint local_endpoint() const override { return state_->local; }
  io::Endpoint peer_endpoint() const override { return state_->peer; }
  std::uint64_t id() const override { return state_->id; }

 private:
  std::shared_ptr<ConnectionState> state_;
};

// Accepting, and what to do when the process has no descriptors left (EMFILE, ENFILE, ENOBUFS,
// ENOMEM): a descriptor kept in reserve is given up to accept one waiting client, tell it 421 and
// close it, so that clients hear why instead of hanging; with nothing to accept or no reserve,
// accepting waits 100 ms, doubling to 1 s. Open sessions are served all along. One log line when
// it starts and one when accepting works again.
struct ListenerState : std::enable_shared_from_this<ListenerState> {
  ListenerState(asio::io_context& context, Runtime::Impl& owner, RealIo& node_io)
      : acceptor(context), retry(context), runtime(owner), io(node_io) {}
  ~ListenerState() {
    if (reserve >= 0) ::close(reserve);
  }
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer retry;
  Runtime::Impl& runtime;
  RealIo& io;  // outlives the listener, whose destruction closes this state for good
  io::Listener::AcceptHandler on_accept;
  bool open = true;
  int reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  Duration backoff{0};
  int refused = 0;  // clients told 421 since descriptors ran out
  // Paused, no accept is started: clients wait in the kernel's backlog. One accepted just before
  // the pause is held here, as if it were still in the backlog, until the listener resumes.
  bool paused = false;
  bool accepting = false;  // an async_accept is outstanding
  std::deque<std::unique_ptr<io::Connection>> held;

  static constexpr Duration backoff_first = std::chrono::milliseconds(100);
  static constexpr Duration backoff_most = std::chrono::seconds(1);

  // By errno value: comparing with an errc goes through the category's virtual `equivalent`,
  // which UBSan's vptr check rejects for Boost 1.74's header-only categories.
  static bool out_of_descriptors(const boost::system::error_code& error) {
    const int code = error.value();
    return code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM;
  }

  void accept_next() {
    if (paused || accepting) return;
    accepting = true;
    acceptor.async_accept([self = shared_from_this()](boost::system::error_code error, asio::ip::tcp::socket socket) {
      self->accepting = false;
      if (!self->open) return;
      if (error && out_of_descriptors(error)) return self->starved(error);
      if (!error) {
        self->recovered();
        socket.set_option(asio::ip::tcp::no_delay(true), error);
        auto state = std::make_shared<ConnectionState>(std::move(socket), self->runtime.next_connection_id++);
        const std::uint64_t id = state->id;
        auto connection = std::make_unique<RealConnection>(std::move(state));
        // As the simulated network reports it: the daemons' logs say who connected.
        self->io.trace("net.accept", {{"conn", id},
                                      {"from", connection->peer_endpoint().to_string()},
                                      {"on", connection->local_endpoint().to_string()}});
        if (self->paused) {
          self->held.push_back(std::move(connection));
          return;
        }
        auto handler = self->on_accept;
        handler(std::move(connection));
      }
      if (self->open) self->accept_next();  // other errors (a client gone before accept): the next one
    });
  }

  void pause(bool pause_now) {
    if (paused == pause_now) return;
    paused = pause_now;
    if (paused) return;
    // Resumed: from the event loop, as every callback runs.
    asio::post(acceptor.get_executor(), [self = shared_from_this()] {
      while (self->open && !self->paused && !self->held.empty()) {
        auto connection = std::move(self->held.front());
        self->held.pop_front();
        auto handler = self->on_accept;
        handler(std::move(connection));
      }
      if (self->open) self->accept_next();
    });
  }

  void starved(const boost::system::error_code& error) {
    if (backoff == Duration(0) && refused == 0) {
      io.observe(io::LogLine{"warning: accept on " + where() + ": " + std::strerror(error.value()) +
                             ": answering 421 and retrying"});
    }
    if (refuse_one()) {
      refused += 1;
      return accept_next();  // one client fewer waiting; there may be more
    }
    backoff = std::clamp(backoff * 2, backoff_first, backoff_most);
    retry.expires_after(backoff);
    retry.async_wait([self = shared_from_this()](boost::system::error_code cancelled) {
      if (!cancelled && self->open) self->accept_next();
    });
  }

  // With the reserve descriptor: accept one waiting client, tell it 421, close it. False when
  // there is no reserve or nobody waiting.
  bool refuse_one() {
    if (reserve < 0) reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (reserve < 0) return false;
    ::close(reserve);
    reserve = -1;
    const int client = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client >= 0) {
      const std::string reply =
          "421 4.3.2 " + std::string(io.host_name()) + " Error: out of file descriptors, try again later\r\n";
      [[maybe_unused]] const auto sent = ::send(client, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(client);
    }
    reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return client >= 0;
  }

  std::string where() const {
    boost::system::error_code ignored;
    return to_endpoint(acceptor.local_endpoint(ignored)).to_string();
  }

  void recovered() {
    if (backoff == Duration(0) && refused == 0) return;
    io.observe(io::LogLine{"accept on " + where() + ": descriptors available again after " + std::to_string(refused) +
                           " clients were told 421"});
    backoff = Duration(0);
    refused = 0;
  }
};

class RealListener final : public io::Listener {
 public:
  explicit RealListener(std::shared_ptr<ListenerState> state) : state_(std::move(state)) {}
  ~RealListener() override {
    state_->open = false;
    state_->retry.cancel();
    for (auto& connection : state_->held) connection->abort();  // as the kernel resets its backlog
    state_->held.clear();
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
  }
  io::Endpoint local_endpoint() const override {
    boost::system::error_code ignored;
    return to_endpoint(state_->acceptor.local_endpoint(ignored));
  }
  void pause_accepting(bool paused) override { state_->pause(paused); }

 private:
  std::shared_ptr<ListenerState> state_;
};

}  // namespace

// --- Runtime

Runtime::Runtime() : impl_(std::make_unique<Impl>()) {}
Runtime::~Runtime() { impl_->workers.join(); }

std::unique_ptr<io::Io> Runtime::make_io(NodeOptions options) {
  return std::make_unique<RealIo>(*impl_, std::move(options));
}

void Runtime::run() {
  impl_->context.restart();
  impl_->context.run();
}

bool Runtime::run_until(const std::function<bool()>& done, Duration bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  impl_->context.restart();
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    impl_->context.run_one_until(deadline);
    if (impl_->context.stopped()) impl_->context.restart();
  }
  return true;
}

void Runtime::post(std::function<void()> handler) { asio::post(impl_->context, std::move(handler)); }

void Runtime::stop() { impl_->context.stop(); }

void Runtime::on_signal(int signal, std::function<void()> handler) {
  auto& set = impl_->signals.emplace_back(std::make_unique<asio::signal_set>(impl_->context, signal));
  auto wait = std::make_shared<std::function<void()>>();
  *wait = [set = set.get(), handler = std::move(handler), wait_weak = std::weak_ptr(wait)] {
    set->async_wait([handler, wait_weak](boost::system::error_code error, int) {
      if (error) return;  // the runtime is going away
      handler();
      if (auto again = wait_weak.lock()) (*again)();
    });
  };
  (*wait)();
  impl_->signal_waits.push_back(wait);
}

// --- RealIo: identity, time, timers, randomness, trace

RealIo::RealIo(Runtime::Impl& runtime, NodeOptions options)
    : runtime_(runtime),
      options_(std::move(options)),
      seed_(options_.seed ? *options_.seed : entropy_seed()),
      live_(std::make_shared<std::map<std::uint64_t, bool>>()) {
  if (options_.host_name.empty()) options_.host_name = os_host_name();
  if (options_.data_directory.empty()) options_.data_directory = ".";
  make_directories(options_.data_directory);
}

RealIo::~RealIo() {
  live_->clear();  // offloaded work that completes later finds nobody waiting
  for (auto& [id, timer] : timers_) timer->cancel();
  for (auto& [id, canceller] : cancellers_) canceller();
}

std::vector<io::Address> RealIo::host_addresses() const {
  std::vector<io::Address> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    if (entry->ifa_addr->sa_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      out.push_back(io::Address::v4(ntohl(v4->sin_addr.s_addr)));
    } else if (entry->ifa_addr->sa_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
      std::array<std::uint8_t, 16> bytes{};
      std::memcpy(bytes.data(), &v6->sin6_addr, 16);
      out.push_back(io::Address::v6(bytes));
    }
  }
  freeifaddrs(list);
  return out;
}

Instant RealIo::now() const {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return Instant::from_unix_microseconds(std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count());
}

io::Pending RealIo::at(Instant when, TimerHandler handler) {
  const std::uint64_t id = new_operation_id();
  auto timer = std::make_unique<asio::steady_timer>(runtime_.context);
  const Duration delay = std::max(Duration(0), when - now());
  timer->expires_after(delay);
  timer->async_wait([this, id, handler = std::move(handler)](boost::system::error_code error) {
    if (error) return;  // cancelled
    const auto found = timers_.find(id);
    if (found == timers_.end()) return;
    auto keep = std::move(found->second);  // the handler may cancel other timers
    timers_.erase(found);
    handler();
  });
  timers_.emplace(id, std::move(timer));
  return {this, id};
}

void RealIo::cancel(std::uint64_t id) {
  if (const auto timer = timers_.find(id); timer != timers_.end()) {
    timer->second->cancel();
    timers_.erase(timer);
  }
  if (const auto canceller = cancellers_.find(id); canceller != cancellers_.end()) {
    auto run = std::move(canceller->second);
    cancellers_.erase(canceller);
    run();
  }
  live_->erase(id);
}

io::Random RealIo::random_stream(std::string_view purpose) {
  return io::Random::stream(seed_, options_.node_name + "/" + std::string(purpose));
}

void RealIo::record(std::string_view kind, std::span<const io::TraceField> fields, const io::Observation* observation) {
  if (!options_.on_trace) return;
  io::TraceFieldList written;
  if (observation != nullptr) {
    observation->write(written);
    fields = written.fields();
  }
  const io::TraceEvent event{++trace_sequence_, now(), options_.node_name, kind, fields, observation};
  line_buffer_.clear();
  io::append_json_line(line_buffer_, event);
  options_.on_trace(event, line_buffer_);
}

// --- network

io::Result<std::unique_ptr<io::Listener>> RealIo::listen(io::Endpoint local, io::Listener::AcceptHandler handler) {
  auto state = std::make_shared<ListenerState>(runtime_.context, runtime_, *this);
  state->on_accept = std::move(handler);
  boost::system::error_code error;
  const auto endpoint = to_asio(local);
  state->acceptor.open(endpoint.protocol(), error);
  if (!error) state->acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) state->acceptor.bind(endpoint, error);
  if (!error) state->acceptor.listen(static_cast<int>(io::Listener::backlog_max), error);
  if (!error) state->acceptor.native_non_blocking(true, error);  // accept4 for a refusal never blocks
  if (error) {
    const io::Errc code = error == asio::error::address_in_use                  ? io::Errc::address_in_use
                          : error == boost::system::errc::address_not_available ? io::Errc::address_not_local
                                                                                : io::Errc::invalid_argument;
    return io::Error{code, "listen on " + local.to_string() + ": " + error.message()};
  }
  state->accept_next();
  trace("net.listen", {{"on", to_endpoint(state->acceptor.local_endpoint(error)).to_string()}});
  return std::unique_ptr<io::Listener>(std::make_unique<RealListener>(std::move(state)));
}

io::Pending RealIo::connect(io::Endpoint remote, io::ConnectOptions options, ConnectHandler handler) {
  const std::uint64_t id = new_operation_id();
  struct Attempt {
    Attempt(asio::io_context& context) : socket(context), timer(context) {}
    asio::ip::tcp::socket socket;
    asio::steady_timer timer;
    ConnectHandler handler;
    bool finished = false;
  };
  auto attempt = std::make_shared<Attempt>(runtime_.context);
  attempt->handler = std::move(handler);
  const auto target = to_asio(remote);
  boost::system::error_code error;
  attempt->socket.open(target.protocol(), error);
  if (!error && options.source) attempt->socket.bind({to_asio(*options.source), 0}, error);
  const auto finish = [this, id, attempt, remote](io::Result<std::unique_ptr<io::Connection>> result) {
    if (attempt->finished) return;
    attempt->finished = true;
    attempt->timer.cancel();
    cancellers_.erase(id);
    if (!result) {
      trace("net.connect_failed", {{"to", remote.to_string()}, {"error", io::to_string(result.error().code)}});
    }
    auto on_connect = std::move(attempt->handler);
    on_connect(std::move(result));
  };
  if (error) {
    asio::post(runtime_.context, [finish, remote, error] {
      finish(io::Error{io::Errc::address_not_local, "connect to " + remote.to_string() + ": " + error.message()});
    });
    return {this, id};
  }
  cancellers_[id] = [attempt] {
    attempt->finished = true;
    boost::system::error_code ignored;
    attempt->timer.cancel();
    attempt->socket.close(ignored);
  };
  trace("net.connect", {{"to", remote.to_string()}});
  attempt->timer.expires_after(options.timeout);
  attempt->timer.async_wait([attempt, finish, remote](boost::system::error_code timer_error) {
    if (timer_error || attempt->finished) return;
    boost::system::error_code ignored;
    attempt->socket.close(ignored);
    finish(io::Error{io::Errc::timed_out, "connect to " + remote.to_string() + " timed out"});
  });
  attempt->socket.async_connect(target, [this, attempt, finish, remote](boost::system::error_code connect_error) {
    if (attempt->finished) return;
    if (connect_error) {
      const io::Errc code =
          connect_error == asio::error::connection_refused ? io::Errc::refused
          : connect_error == asio::error::timed_out        ? io::Errc::timed_out
          : connect_error == asio::error::network_unreachable || connect_error == asio::error::host_unreachable
              ? io::Errc::unreachable
              : io::Errc::reset;
      finish(io::Error{code, "connect to " + remote.to_string() + ": " + connect_error.message()});
      return;
    }
    boost::system::error_code ignored;
    attempt->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    auto state = std::make_shared<ConnectionState>(std::move(attempt->socket), runtime_.next_connection_id++);
    finish(std::unique_ptr<io::Connection>(std::make_unique<RealConnection>(std::move(state))));
  });
  return {this, id};
}

}  // namespace relaysim::real
