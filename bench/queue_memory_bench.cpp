// Memory of a large deferred queue in the simulation: N messages of one recipient each are stored,
// tried once (their only route is refused: the destination is dead, so most are deferred without
// a connection) and left deferred in the schedule. Prints the heap in use.
//
//   build/bench/queue_memory_bench [--messages N]                 the relay's queue and scheduler
//   build/bench/queue_memory_bench --baseline B [--messages N]    N files of B bytes on the same
//                                                                 simulated disk, nothing else
//
// The relay's overhead per queued recipient is the difference of the two heaps, divided by N,
// with B the average queue file size the first run prints.

#if RELAYSIM_JEMALLOC
#include <jemalloc/jemalloc.h>
#else
#include <malloc.h>
#endif

#include <chrono>
#include <cstdio>
#include <cstring>

#include "relay/outbound.hpp"
#include "sim/world.hpp"

using namespace relaysim;

namespace {

// Bytes the program has allocated and not freed, as the allocator it links counts them: with
// glibc, heap blocks and mmapped blocks alike (a journal segment's bytes, megabytes, are the latter).
std::size_t heap_in_use() {
#if RELAYSIM_JEMALLOC
  std::uint64_t epoch = 1;
  std::size_t size = sizeof epoch;
  mallctl("epoch", &epoch, &size, &epoch, size);  // refreshes the statistics
  std::size_t allocated = 0;
  size = sizeof allocated;
  if (mallctl("stats.allocated", &allocated, &size, nullptr, 0) != 0) return 0;
  return allocated;
#else
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

class Load final : public io::Node {
 public:
  Load(io::Io& io, const relay::RelayConfig& config, int messages, std::size_t baseline_bytes)
      : io_(io), config_(config), messages_(messages), baseline_bytes_(baseline_bytes) {}

  void start() override {
    if (baseline_bytes_ > 0) {
      // The same files as the queue's: a message record, then a directory sync. (A deferral that
      // was never attempted appends nothing, so nearly every file of the relay's run is just that.)
      (void)io_.make_directory("queue");
      const std::string record(baseline_bytes_, 'x');
      for (int i = 0; i < messages_; ++i) {
        auto file = io_.create_file("queue/" + std::to_string(1'000'000'000 + i) + "abcdefghijkl");
        (void)file.value()->append(record);
      }
      pending_ = io_.sync_directory("queue", [this](io::Status) { done = true; });
      return;
    }
    queue_ = std::make_unique<relay::Queue>(io_, config_.queue_directory);
    (void)queue_->recover();
    outbound_ = std::make_unique<relay::Outbound>(io_, config_, *queue_, relay::DeliveryTls{});
    outbound_->start();
    content_ = "From: <news@acme.example>\r\nSubject: queued\r\n\r\n";
    while (content_.size() < 1024)
      content_ += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
    // At most stores_in_flight_max at once, as a relay's bounded number of SMTP sessions would have.
    for (int i = 0; i < stores_in_flight_max; ++i) store_next();
  }

  void store_next() {
    if (stored_ >= messages_) return;
    const int i = stored_++;
    relay::QueuedMessage message;
    message.arrival = io_.now();
    message.sender = smtp::Mailbox{"news", "acme.example", false, false};
    message.recipients.push_back({{smtp::Mailbox{"user" + std::to_string(i), "dest.example", false, false}, {}},
                                  relay::RecipientState::queued,
                                  0,
                                  io_.now(),
                                  "",
                                  false});
    message.content = content_;
    message.client_address = "10.1.2.3";
    message.helo = "na1.salesforce.example";
    queue_->store(std::move(message), [this](io::Result<relay::QueueId> id) {
      if (id) outbound_->enqueue(id.value());
      store_next();
    });
  }
  std::string status() const override { return ""; }
  bool settled() const {
    if (baseline_bytes_ > 0) return done;
    return outbound_ && outbound_->counters().deferred == static_cast<std::uint64_t>(messages_) &&
           outbound_->jobs_in_flight() == 0;
  }
  std::size_t scheduled() const { return outbound_ ? outbound_->scheduled() : 0; }
  // The queue's bytes on disk: message files and journal segments.
  std::size_t file_bytes() {
    std::size_t total = 0;
    for (const std::string directory : {"queue", "queue/journal"}) {
      const auto names = io_.list_directory(directory);
      if (!names) continue;
      for (const std::string& name : names.value()) {
        const auto contents = io_.read_file(directory + "/" + name);
        if (contents) total += contents.value().size();
      }
    }
    return total;
  }

  bool done = false;

 private:
  io::Io& io_;
  const relay::RelayConfig& config_;
  int messages_;
  std::size_t baseline_bytes_;
  std::unique_ptr<relay::Queue> queue_;
  std::unique_ptr<relay::Outbound> outbound_;
  std::string content_;
  io::Pending pending_;
  int stored_ = 0;
  static constexpr int stores_in_flight_max = 100;
};

}  // namespace

int main(int argc, char** argv) {
  int messages = 1'000'000;
  std::size_t baseline = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--messages") == 0) messages = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--baseline") == 0) baseline = static_cast<std::size_t>(std::atoll(argv[i + 1]));
  }
  const Instant start = *parse_iso8601("2026-03-02T09:00:00Z");
  sim::World world(1, start);
  world.add_host({"relay", {*io::Address::parse("203.0.113.10")}});
  world.add_host({"mx", {*io::Address::parse("192.0.2.25")}});  // up, nothing listening: connections refused
  io::DnsRecords mx, address;
  mx.mx = {{10, "mx.dest.example"}};
  address.addresses = {*io::Address::parse("192.0.2.25")};
  mx.ttl_seconds = address.ttl_seconds = 86400;
  world.set_dns("dest.example", mx);
  world.set_dns("mx.dest.example", address);
  relay::RelayConfig config;
  Load* load = nullptr;
  world.add_process(
      {"relay", "relay",
       [&](io::Io& io) {
         auto node = std::make_unique<Load>(io, config, messages, baseline);
         load = node.get();
         return std::unique_ptr<io::Node>(std::move(node));
       },
       sim::DiskConfig{std::uint64_t{1} << 40, std::chrono::microseconds(10), sim::DiskConfig::CrashMode::torn}});
  const std::size_t heap_before = heap_in_use();
  world.start();
  const auto wall = std::chrono::steady_clock::now();
  while ((load == nullptr || !load->settled()) && world.now() < start + std::chrono::hours(1)) {
    world.run_until(world.now() + std::chrono::seconds(1));
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
#if !RELAYSIM_JEMALLOC
  malloc_trim(0);
#endif
  const std::size_t heap = heap_in_use() - heap_before;
  if (baseline > 0) {
    std::printf("baseline: %d files of %zu bytes: heap %.1f MiB = %.0f bytes per file (%.1f s)\n", messages, baseline,
                static_cast<double>(heap) / 1048576.0, static_cast<double>(heap) / messages, elapsed);
    return 0;
  }
  const std::size_t bytes = load->file_bytes();
  std::printf(
      "relay queue: %d messages deferred (%zu scheduled, settled %s): heap %.1f MiB = %.0f bytes per message; "
      "queue files %.1f MiB, %zu bytes on average (%.1f s)\n",
      messages, load->scheduled(), load->settled() ? "yes" : "NO", static_cast<double>(heap) / 1048576.0,
      static_cast<double>(heap) / messages, static_cast<double>(bytes) / 1048576.0,
      bytes / static_cast<std::size_t>(messages), elapsed);
  return load->settled() ? 0 : 1;
}
