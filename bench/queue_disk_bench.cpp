// The relay's queue on a real disk: messages made durable per second (write, fsync of the file,
// fsync of the directory), with N stores in flight at once as N concurrent SMTP sessions would
// have. Figures go to bench/RESULTS.md.
//
//   build/bench/queue_disk_bench [--messages N] [--concurrency N] [--directory DIR]

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "real/runtime.hpp"
#include "relay/queue.hpp"

using namespace relaysim;

int main(int argc, char** argv) {
  int messages = 2000, concurrency = 20;
  std::string directory = (std::filesystem::temp_directory_path() / "relaysim-queue-bench").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--messages") == 0) messages = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--concurrency") == 0) concurrency = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--directory") == 0) directory = argv[i + 1];
  }
  std::filesystem::remove_all(directory);
  real::Runtime runtime;
  auto io = runtime.make_io({"bench", "", directory, 1, std::nullopt, std::chrono::seconds(5), {}, {}, false});
  relay::Queue queue(*io, "queue");
  queue.recover();
  std::string content = "From: <news@acme.example>\r\nSubject: bench\r\n\r\n";
  while (content.size() < 4096)
    content += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
  int started = 0, durable = 0, failed = 0;
  std::function<void()> start_one = [&] {
    if (started >= messages) return;
    ++started;
    relay::QueuedMessage message;
    message.arrival = io->now();
    message.sender = smtp::Mailbox{"news", "acme.example", false, false};
    message.recipients.push_back(
        {{smtp::Mailbox{"ann", "dest.example", false, false}, {}}, relay::RecipientState::queued, 0, io->now(), ""});
    message.content = content;
    queue.store(std::move(message), [&](io::Result<relay::QueueId> id) {
      (id ? durable : failed) += 1;
      start_one();
    });
  };
  const auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < concurrency; ++i) start_one();
  runtime.run_until([&] { return durable + failed == messages; }, std::chrono::minutes(10));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  std::printf("queue on %s: %d durable (%d failed) in %.3f s = %.0f messages/s with %d in flight\n", directory.c_str(),
              durable, failed, elapsed, durable / elapsed, concurrency);
  std::filesystem::remove_all(directory);
  return failed == 0 ? 0 : 1;
}
