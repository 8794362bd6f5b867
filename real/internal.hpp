#pragma once
// The real backend's internals. The only headers in the project that include Asio.

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs it under GCC 12

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <map>

#include "real/runtime.hpp"

namespace relaysim::real {

namespace asio = boost::asio;

struct Runtime::Impl {
  asio::io_context context;
  // fsync and DNS block; they run here and post their results back to `context`.
  asio::thread_pool workers{2};
  std::uint64_t next_connection_id = 1;
  std::vector<std::unique_ptr<asio::signal_set>> signals;
  std::vector<std::shared_ptr<std::function<void()>>> signal_waits;  // re-arms each signal_set
};

io::Address to_address(const asio::ip::address& address);
void make_directories(const std::string& path);  // mkdir -p
asio::ip::address to_asio(const io::Address& address);

class RealIo final : public io::Io, public io::Pending::Owner {
 public:
  RealIo(Runtime::Impl& runtime, NodeOptions options);
  ~RealIo() override;

  std::string_view node_name() const override { return options_.node_name; }
  std::string_view host_name() const override { return options_.host_name; }
  std::vector<io::Address> host_addresses() const override;

  Instant now() const override;
  io::Pending at(Instant when, TimerHandler handler) override;

  io::Result<std::unique_ptr<io::Listener>> listen(io::Endpoint local, io::Listener::AcceptHandler handler) override;
  io::Pending connect(io::Endpoint remote, io::ConnectOptions options, ConnectHandler handler) override;

  io::Pending resolve(std::string_view name, io::DnsType type, DnsHandler handler) override;

  io::Result<std::unique_ptr<io::File>> create_file(std::string_view path) override;
  io::Result<std::unique_ptr<io::File>> open_for_append(std::string_view path) override;
  io::Result<std::string> read_file(std::string_view path) override;
  io::Result<std::string> read_file_range(std::string_view path, std::uint64_t offset, std::size_t length) override;
  io::Result<std::vector<std::string>> list_directory(std::string_view path) override;
  io::Status make_directory(std::string_view path) override;
  io::Status rename_file(std::string_view from, std::string_view to) override;
  io::Status remove_file(std::string_view path) override;
  io::Pending sync_directory(std::string_view path, SyncHandler handler) override;

  io::Random random_stream(std::string_view purpose) override;

 protected:
  void record(std::string_view kind, std::span<const io::TraceField> fields,
              const io::Observation* observation) override;

 public:
  void cancel(std::uint64_t id) override;

  // --- for the backend's own parts
  Runtime::Impl& runtime() { return runtime_; }
  std::uint64_t new_operation_id() { return next_operation_++; }
  // Runs `work` on a worker thread, then `done(result)` on the loop, unless cancelled meanwhile.
  template <typename Result>
  io::Pending offload(std::function<Result()> work, std::function<void(Result)> done);
  io::Pending fsync_descriptor(std::shared_ptr<int> descriptor, SyncHandler handler);
  // Blocking: runs on a worker thread.
  static io::DnsAnswer query(const std::string& name, io::DnsType type, const NodeOptions& options);
  std::string full_path(std::string_view path) const;

 private:
  Runtime::Impl& runtime_;
  NodeOptions options_;
  std::uint64_t seed_;
  std::uint64_t next_operation_ = 1;
  std::uint64_t trace_sequence_ = 0;
  std::map<std::uint64_t, std::unique_ptr<asio::steady_timer>> timers_;
  std::map<std::uint64_t, std::function<void()>> cancellers_;  // connects: close the socket
  std::shared_ptr<std::map<std::uint64_t, bool>> live_;        // offloaded work still wanted
  std::string line_buffer_;
};

template <typename Result>
io::Pending RealIo::offload(std::function<Result()> work, std::function<void(Result)> done) {
  const std::uint64_t id = new_operation_id();
  auto live = live_;
  (*live)[id] = true;
  asio::io_context& context = runtime_.context;
  asio::post(runtime_.workers, [&context, id, live, work = std::move(work), done = std::move(done)]() mutable {
    auto result = std::make_shared<Result>(work());
    asio::post(context, [id, live, result, done = std::move(done)] {
      const auto found = live->find(id);
      if (found == live->end()) return;  // cancelled, or the Io is gone
      live->erase(found);
      done(std::move(*result));
    });
  });
  return {this, id};
}

}  // namespace relaysim::real
