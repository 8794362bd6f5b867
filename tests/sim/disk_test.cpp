#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include "sim/file_bytes.hpp"
#include "support/test_world.hpp"

using namespace relaysim;
using namespace relaysim::testing;

namespace {

// Runs `body` on a node "store" of a one-host world, crashes it at +1s (power loss unless told
// otherwise), and returns the world for inspection.
std::unique_ptr<sim::World> run_and_crash(LambdaNode::Body body, sim::DiskConfig disk = {},
                                          sim::CrashKind kind = sim::CrashKind::power_loss, std::uint64_t seed = 1) {
  auto world = std::make_unique<sim::World>(seed, t0());
  world->add_host({"a", {address("10.0.0.1")}});
  add_lambda_node(*world, "store", "a", std::move(body), disk);
  world->crash_at("store", t0() + 1s, kind);
  world->start();
  world->run_until(t0() + 2s);
  return world;
}

sim::DiskConfig lose_unsynced() {
  sim::DiskConfig disk;
  disk.crash_mode = sim::DiskConfig::CrashMode::lose_unsynced;
  return disk;
}

// The crash-safe way: write, fsync the file, then fsync the directory. `done`, when given, is set
// once both syncs completed.
LambdaNode::Body durable_write(std::string path, std::string contents, bool* done) {
  return [path, contents, done](LambdaNode& node) {
    auto file = node.io.create_file(path);
    REQUIRE(file);
    REQUIRE(file.value()->append(contents));
    io::File& handle = *node.files.emplace_back(std::move(file).value());
    node.pending.push_back(handle.sync([&node, done](io::Status status) {
      REQUIRE(status);
      node.pending.push_back(node.io.sync_directory("", [done](io::Status directory_status) {
        REQUIRE(directory_status);
        if (done != nullptr) *done = true;
      }));
    }));
  };
}

}  // namespace

TEST_CASE("a file written, synced and its directory synced survives a power loss", "[sim][disk]") {
  bool done = false;
  auto world = run_and_crash(durable_write("queue-1", "message", &done), lose_unsynced());
  CHECK(done);
  CHECK(world->disk_file("store", "queue-1") == std::optional<std::string>("message"));
}

TEST_CASE("a range of a file reads back, short where the file ends", "[sim][disk]") {
  auto world = run_and_crash([](LambdaNode& node) {
    auto file = node.io.create_file("queue-1");
    REQUIRE(file);
    REQUIRE(file.value()->append("hello world"));
    CHECK(node.io.read_file_range("queue-1", 6, 3).value() == "wor");
    CHECK(node.io.read_file_range("queue-1", 6, 100).value() == "world");
    CHECK(node.io.read_file_range("queue-1", 20, 4).value().empty());
    CHECK(node.io.read_file_range("queue-2", 0, 4).error().code == io::Errc::not_found);
  });
  CHECK(world->disk_operations("store") > 0);
}

TEST_CASE("a synced file whose directory entry was never synced vanishes", "[sim][disk]") {
  auto world = run_and_crash(
      [](LambdaNode& node) {
        auto file = node.io.create_file("queue-1");
        file.value()->append("message");
        node.pending.push_back(file.value()->sync([](io::Status) {}));
        node.files.push_back(std::move(file).value());
      },
      lose_unsynced());
  CHECK_FALSE(world->disk_file("store", "queue-1"));
}

TEST_CASE("bytes appended after the last sync are lost", "[sim][disk]") {
  auto world = run_and_crash(
      [](LambdaNode& node) {
        durable_write("log", "first;", nullptr)(node);
        node.pending.push_back(node.io.after(500ms, [&node] { node.files.back()->append("second;"); }));
      },
      lose_unsynced());
  CHECK(world->disk_file("store", "log") == std::optional<std::string>("first;"));
}

TEST_CASE("a rename is durable only after the directory is synced", "[sim][disk]") {
  const bool sync_after_rename = GENERATE(false, true);
  auto world = run_and_crash(
      [sync_after_rename](LambdaNode& node) {
        durable_write("incoming", "message", nullptr)(node);
        node.pending.push_back(node.io.after(500ms, [&node, sync_after_rename] {
          REQUIRE(node.io.rename_file("incoming", "active"));
          if (sync_after_rename) node.pending.push_back(node.io.sync_directory("", [](io::Status) {}));
        }));
      },
      lose_unsynced());
  CHECK(world->disk_file("store", "active").has_value() == sync_after_rename);
  CHECK(world->disk_file("store", "incoming").has_value() == !sync_after_rename);
}

TEST_CASE("a killed process keeps its unsynced writes: the page cache survives", "[sim][disk]") {
  auto world = run_and_crash(
      [](LambdaNode& node) {
        auto file = node.io.create_file("log");
        file.value()->append("unsynced");
        node.files.push_back(std::move(file).value());
      },
      lose_unsynced(), sim::CrashKind::kill);
  CHECK(world->disk_file("store", "log") == std::optional<std::string>("unsynced"));
}

TEST_CASE("a torn write keeps the synced bytes and a prefix of the rest, maybe zeroed at the end",
          "[sim][disk][property]") {
  rc::prop(
      "after a power loss the file is synced + a possibly zero-tailed prefix of the unsynced bytes",
      [](std::uint64_t seed, const std::string& synced, const std::string& unsynced) {
        auto world = run_and_crash(
            [synced, unsynced](LambdaNode& node) {
              durable_write("log", synced, nullptr)(node);
              node.pending.push_back(node.io.after(500ms, [&node, unsynced] { node.files.back()->append(unsynced); }));
            },
            {}, sim::CrashKind::power_loss, seed);
        const std::string after = world->disk_file("store", "log").value();
        RC_ASSERT(after.size() >= synced.size());
        RC_ASSERT(after.size() <= synced.size() + unsynced.size());
        RC_ASSERT(after.substr(0, synced.size()) == synced);
        const std::string tail = after.substr(synced.size());
        for (std::size_t i = 0; i < tail.size(); ++i) RC_ASSERT(tail[i] == unsynced[i] || tail[i] == '\0');
      });
}

TEST_CASE("a full disk answers ENOSPC and the data written so far stays", "[sim][disk]") {
  sim::DiskConfig disk;
  disk.capacity_bytes = 10;
  std::vector<std::string> results;
  auto world = run_and_crash(
      [&results](LambdaNode& node) {
        auto file = node.io.create_file("log");
        for (const char* chunk : {"12345", "67890", "x"}) {
          const io::Status status = file.value()->append(chunk);
          results.emplace_back(status ? "ok" : io::to_string(status.error().code));
        }
        node.files.push_back(std::move(file).value());
      },
      disk, sim::CrashKind::kill);
  CHECK(results == std::vector<std::string>{"ok", "ok", "no space left on device"});
  CHECK(world->disk_file("store", "log") == std::optional<std::string>("1234567890"));
}

TEST_CASE("the n-th disk operation can be made to fail, for fault sweeps", "[sim][disk]") {
  // Count the operations of a clean run, then fail each one in turn: every failure is reported.
  const auto body = [](std::vector<std::string>* errors) {
    return [errors](LambdaNode& node) {
      auto file = node.io.create_file("log");
      if (!file) {
        errors->emplace_back("create");
        return;
      }
      if (!file.value()->append("data")) errors->emplace_back("append");
      io::File& handle = *node.files.emplace_back(std::move(file).value());
      node.pending.push_back(handle.sync([&node, errors](io::Status status) {
        if (!status) errors->emplace_back("sync");
        node.pending.push_back(node.io.sync_directory("", [errors](io::Status directory_status) {
          if (!directory_status) errors->emplace_back("sync_directory");
        }));
      }));
    };
  };
  std::vector<std::string> clean;
  sim::World counting(1, t0());
  counting.add_host({"a", {address("10.0.0.1")}});
  add_lambda_node(counting, "store", "a", body(&clean));
  counting.start();
  counting.run_until(t0() + 1s);
  REQUIRE(clean.empty());
  const std::uint64_t operations = counting.disk_operations("store");
  CHECK(operations == 4);
  const std::vector<std::string> expected = {"create", "append", "sync", "sync_directory"};
  for (std::uint64_t n = 1; n <= operations; ++n) {
    std::vector<std::string> errors;
    sim::World world(1, t0());
    world.add_host({"a", {address("10.0.0.1")}});
    add_lambda_node(world, "store", "a", body(&errors));
    world.fail_disk_operation("store", n, io::Errc::io_error);
    world.start();
    world.run_until(t0() + 1s);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == expected[n - 1]);
  }
}

TEST_CASE("paths with '..' or absolute paths are refused", "[sim][disk]") {
  std::vector<std::string> results;
  run_and_crash([&results](LambdaNode& node) {
    for (const char* path : {"../etc/passwd", "/etc/passwd", "a//b", "missing-dir/file", "ok"}) {
      auto file = node.io.create_file(path);
      results.emplace_back(file ? "ok" : io::to_string(file.error().code));
      if (file) node.files.push_back(std::move(file).value());
    }
  });
  CHECK(results ==
        std::vector<std::string>{"invalid argument", "invalid argument", "invalid argument", "not found", "ok"});
}

TEST_CASE("directories list their entries in name order", "[sim][disk]") {
  std::vector<std::string> names;
  run_and_crash([&names](LambdaNode& node) {
    REQUIRE(node.io.make_directory("queue/active"));
    for (const char* path : {"queue/active/B", "queue/active/A", "queue/active/C"}) {
      node.files.push_back(node.io.create_file(path).value());
    }
    names = node.io.list_directory("queue/active").value();
  });
  CHECK(names == std::vector<std::string>{"A", "B", "C"});
}

TEST_CASE("a simulated file's chunked bytes behave as one string under appends, tears and reads", "[sim][disk]") {
  rc::prop("FileBytes against std::string", [] {
    sim::FileBytes bytes;
    std::string model;
    const auto steps = *rc::gen::inRange(1, 40);
    for (int step = 0; step < steps; ++step) {
      switch (*rc::gen::inRange(0, 4)) {
        case 0: {  // appends of up to two chunks, so that they cross chunk boundaries
          const auto length = *rc::gen::inRange<std::size_t>(0, 2 * sim::FileBytes::chunk_bytes + 3);
          const std::string piece(length, static_cast<char>('a' + step % 26));
          bytes.append(piece);
          model += piece;
          break;
        }
        case 1: {
          const auto keep = *rc::gen::inRange<std::size_t>(0, model.size() + 2);
          bytes.truncate(keep);
          if (keep < model.size()) model.resize(keep);
          break;
        }
        case 2: {
          const auto offset = *rc::gen::inRange<std::size_t>(0, model.size() + 1);
          const auto count = *rc::gen::inRange<std::size_t>(0, 70'000);
          bytes.zero(offset, count);
          for (std::size_t i = offset; i < std::min(model.size(), offset + count); ++i) model[i] = '\0';
          break;
        }
        default: {
          const auto offset = *rc::gen::inRange<std::size_t>(0, model.size() + 2);
          const auto length = *rc::gen::inRange<std::size_t>(0, 3 * sim::FileBytes::chunk_bytes);
          RC_ASSERT(bytes.read(offset, length) ==
                    (offset >= model.size() ? std::string() : model.substr(offset, length)));
        }
      }
      RC_ASSERT(bytes.size() == model.size());
    }
    RC_ASSERT(bytes.whole() == model);
  });
}
