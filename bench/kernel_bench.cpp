// Benchmarks of the simulation kernel. Figures go to bench/RESULTS.md with the command and machine.
//
//   build/bench/kernel_bench [--events N] [--connections N]
//
// 1. Raw event loop: events scheduled and run per second (a working set of pending timers, each
//    rescheduling itself), no trace.
// 2. Io timers: the same through a node's Io (epoch guard, Pending ids), no trace.
// 3. Connection churn: clients opening, using and closing connections to a server; counts
//    connection events (connect, accept, connected, close, closed), digest on, and samples the
//    resident set size along the way to show that memory stays bounded.

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "sim/event_loop.hpp"
#include "sim/world.hpp"

using namespace relaysim;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A line of /proc/self/status in KiB: "VmRSS:" now, "VmHWM:" the peak.
long status_kib(const char* field) {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  if (status == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, status) != nullptr) {
    if (std::strncmp(line, field, std::strlen(field)) == 0) kib = std::strtol(line + std::strlen(field), nullptr, 10);
  }
  std::fclose(status);
  return kib;
}

void raw_event_loop(std::uint64_t events) {
  sim::EventLoop loop{Instant()};
  constexpr int working_set = 1024;
  std::uint64_t remaining = events;
  for (int i = 0; i < working_set; ++i) {
    loop.schedule(Instant() + Duration(i), [&loop, &remaining, i] {
      struct Rescheduler {
        sim::EventLoop& loop;
        std::uint64_t& remaining;
        std::int64_t step;
        void operator()() const {
          if (remaining == 0) return;
          --remaining;
          loop.schedule(loop.now() + Duration(step), *this);
        }
      };
      Rescheduler{loop, remaining, 1000 + i}();
    });
  }
  const auto start = std::chrono::steady_clock::now();
  while (loop.run_next(Instant::max())) {}
  const double elapsed = seconds_since(start);
  std::printf("raw event loop:   %llu events in %.3f s = %.2f million events/s\n",
              static_cast<unsigned long long>(loop.executed()), elapsed,
              static_cast<double>(loop.executed()) / elapsed / 1e6);
}

class TimerNode final : public io::Node {
 public:
  TimerNode(io::Io& io, std::uint64_t& remaining) : io_(io), remaining_(remaining) {}
  void start() override {
    for (std::size_t i = 0; i < timers_.size(); ++i) arm(i);
  }
  std::string status() const override { return {}; }

 private:
  void arm(std::size_t index) {
    if (remaining_ == 0) return;
    --remaining_;
    timers_[index] = io_.after(Duration(1000 + static_cast<std::int64_t>(index)), [this, index] { arm(index); });
  }
  io::Io& io_;
  std::uint64_t& remaining_;
  std::array<io::Pending, 1024> timers_;
};

void io_timers(std::uint64_t events) {
  sim::World world(1, Instant());
  world.add_host({"host", {*io::Address::parse("10.0.0.1")}});
  std::uint64_t remaining = events;
  world.add_process(
      {"timers", "host", [&remaining](io::Io& io) { return std::make_unique<TimerNode>(io, remaining); }, {}});
  world.start();
  const auto start = std::chrono::steady_clock::now();
  world.run_until(Instant::max() - days(1));
  const double elapsed = seconds_since(start);
  std::printf("Io timers:        %llu events in %.3f s = %.2f million events/s\n",
              static_cast<unsigned long long>(world.events_executed()), elapsed,
              static_cast<double>(world.events_executed()) / elapsed / 1e6);
}

// A client that opens a connection, sends a line, waits for the echo, closes, and repeats.
class ChurnClient final : public io::Node {
 public:
  ChurnClient(io::Io& io, int cycles) : io_(io), cycles_(cycles) {}
  void start() override { next(); }
  std::string status() const override { return std::to_string(done_) + " cycles"; }

 private:
  void next() {
    if (done_ == cycles_) return;
    pending_ = io_.connect({*io::Address::parse("10.0.0.1"), 25}, {}, [this](auto result) {
      connection_ = std::move(result).value();
      connection_->on_receive([this](std::string_view) {
        connection_.reset();  // graceful close
        ++done_;
        next();
      });
      connection_->send("NOOP\r\n");
    });
  }
  io::Io& io_;
  int cycles_;
  int done_ = 0;
  io::Pending pending_;
  std::unique_ptr<io::Connection> connection_;
};

class EchoServer final : public io::Node {
 public:
  explicit EchoServer(io::Io& io) : io_(io) {}
  void start() override {
    listener_ = io_.listen({io::Address::any_v4(), 25},
                           [this](std::unique_ptr<io::Connection> connection) {
                             const std::uint64_t id = connection->id();
                             io::Connection* raw = connection.get();
                             raw->on_receive([raw](std::string_view bytes) { raw->send(bytes); });
                             raw->on_close([this, id](io::CloseReason) { open_.erase(id); });
                             open_.emplace(id, std::move(connection));
                           })
                    .value();
  }
  std::string status() const override { return std::to_string(open_.size()) + " open"; }

 private:
  io::Io& io_;
  std::unique_ptr<io::Listener> listener_;
  std::map<std::uint64_t, std::unique_ptr<io::Connection>> open_;
};

class CountingSink final : public sim::TraceSink {
 public:
  void on_event(const io::TraceEvent& event, std::string_view) override {
    const std::string_view kind = event.kind;
    if (kind == "net.connect" || kind == "net.accept" || kind == "net.connected" || kind == "net.close" ||
        kind == "net.closed") {
      ++connection_events;
    }
  }
  std::uint64_t connection_events = 0;
};

void connection_churn(std::uint64_t target_events) {
  constexpr int clients = 100;
  // Each cycle makes five connection events: connect, accept, connected, close, closed.
  const int cycles = static_cast<int>(target_events / 5 / clients);
  sim::World world(1, Instant());
  world.set_default_link({std::chrono::milliseconds(1), std::chrono::microseconds(500), 0});
  world.add_host({"server", {*io::Address::parse("10.0.0.1")}});
  world.add_process({"server", "server", [](io::Io& io) { return std::make_unique<EchoServer>(io); }, {}});
  for (int i = 0; i < clients; ++i) {
    const std::string name = "client" + std::to_string(i);
    world.add_host({name, {io::Address::v4(0x0A010000u + static_cast<std::uint32_t>(i))}});
    world.add_process({name, name, [cycles](io::Io& io) { return std::make_unique<ChurnClient>(io, cycles); }, {}});
  }
  CountingSink sink;
  world.add_trace_sink(sink);
  world.start();
  const auto start = std::chrono::steady_clock::now();
  std::printf("connection churn: %d clients x %d cycles\n", clients, cycles);
  for (int quarter = 1; quarter <= 4; ++quarter) {
    const std::uint64_t goal = target_events * static_cast<std::uint64_t>(quarter) / 4;
    while (sink.connection_events < goal && world.step()) {}
    std::printf("  %3d%%: %8llu connection events, RSS %ld KiB\n", quarter * 25,
                static_cast<unsigned long long>(sink.connection_events), status_kib("VmRSS:"));
  }
  while (world.step()) {}
  const double elapsed = seconds_since(start);
  std::printf("  %llu connection events, %llu kernel events, %llu trace events in %.3f s; peak RSS %ld KiB\n",
              static_cast<unsigned long long>(sink.connection_events),
              static_cast<unsigned long long>(world.events_executed()),
              static_cast<unsigned long long>(world.trace_events()), elapsed, status_kib("VmHWM:"));
  std::printf("  digest %s\n", world.digest().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t events = 20'000'000;
  std::uint64_t connections = 1'000'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--events") == 0) events = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--connections") == 0) connections = std::strtoull(argv[i + 1], nullptr, 10);
  }
  raw_event_loop(events);
  io_timers(events);
  connection_churn(connections);
  return 0;
}
