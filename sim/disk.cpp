// The simulated disk of one process (its data directory). Appends land in the page cache; sync()
// makes a file's bytes durable and sync_directory() makes a directory's entries durable (creations,
// renames and removals), as POSIX promises and no more. On a power loss the namespace reverts to
// its durable state and each file keeps its synced bytes plus, in `torn` mode, a random prefix of
// the unsynced ones whose tail may read as zeros. Directories themselves are durable at once.
// Faults: ENOSPC past the capacity, ENOSPC or EIO during time windows, or on the n-th operation.

#include <algorithm>
#include <unordered_set>

#include "io/assert.hpp"
#include "io/path.hpp"
#include "sim/internal.hpp"
#include "sim/process_io.hpp"

namespace relaysim::sim {
namespace {

constexpr std::size_t torn_zero_bytes_max = 512;  // a sector's worth of garbage at the torn end

using io::leaf_name;
using io::parent_directory;

class SimFile final : public io::File {
 public:
  SimFile(World::Impl& world, Process& process, std::shared_ptr<Inode> inode)
      : world_(world), process_(process), epoch_(process.epoch), inode_(std::move(inode)) {}

  io::Status append(std::string_view bytes) override {
    if (process_.epoch != epoch_) return make_error(io::Errc::io_error, "process restarted");
    DiskState& disk = process_.disk;
    if (const io::Errc error = world_.disk_fault(process_); error != io::Errc::cancelled) {
      return make_error(error, "append");
    }
    if (disk.used_bytes + bytes.size() > disk.config.capacity_bytes) {
      return make_error(io::Errc::no_space, "disk full");
    }
    inode_->data.append(bytes);
    disk.used_bytes += bytes.size();
    return {};
  }

  std::uint64_t size() const override { return inode_->data.size(); }

  io::Pending sync(SyncHandler handler) override { return process_.io->sync_file(inode_, std::move(handler)); }

 private:
  World::Impl& world_;
  Process& process_;
  std::uint32_t epoch_;
  std::shared_ptr<Inode> inode_;
};

}  // namespace

io::Errc World::Impl::disk_fault(Process& process) {
  DiskState& disk = process.disk;
  disk.operations += 1;
  const auto numbered = disk.failing_operations.find(disk.operations);
  if (numbered != disk.failing_operations.end()) {
    emit(process.name, "disk.fault", {{"operation", disk.operations}, {"error", io::to_string(numbered->second)}});
    return numbered->second;
  }
  const Instant now = loop.now();
  for (const DiskFault& fault : disk.faults) {
    if (fault.from <= now && now < fault.until) return fault.error;
  }
  return io::Errc::cancelled;
}

void World::Impl::power_loss(Process& process) {
  DiskState& disk = process.disk;
  disk.entries = disk.durable_entries;
  disk.changed_names.clear();
  std::uint64_t bytes_lost = 0;
  std::uint64_t files_torn = 0;
  std::unordered_set<const Inode*> seen;
  disk.used_bytes = 0;
  for (const auto& [name, inode] : disk.entries) {  // name order: the random draws are stable
    if (!seen.insert(inode.get()).second) continue;
    const std::size_t unsynced = inode->data.size() - inode->durable_size;
    std::size_t keep = 0;
    if (unsynced > 0 && disk.config.crash_mode == DiskConfig::CrashMode::torn) {
      keep = static_cast<std::size_t>(process.disk_random.below(unsynced + 1));
      if (keep > 0 && process.disk_random.chance(1, 4)) {
        const std::size_t zeros = std::min(keep, torn_zero_bytes_max);
        inode->data.zero(inode->durable_size + keep - zeros, zeros);
      }
      files_torn += keep > 0 ? 1 : 0;
    }
    bytes_lost += unsynced - keep;
    inode->data.truncate(inode->durable_size + keep);
    inode->durable_size = inode->data.size();
    disk.used_bytes += inode->data.size();
  }
  emit(process.name, "disk.power_loss",
       {{"files", disk.entries.size()}, {"bytes_lost", bytes_lost}, {"files_torn", files_torn}});
}

io::Status ProcessIo::check_path(std::string_view path) const {
  if (!io::is_valid_relative_path(path)) {
    return make_error(io::Errc::invalid_argument, "bad path '" + std::string(path) + "'");
  }
  if (!process_.disk.directories.contains(parent_directory(path))) {
    return make_error(io::Errc::not_found, "no directory '" + std::string(parent_directory(path)) + "'");
  }
  return {};
}

io::Result<std::unique_ptr<io::File>> ProcessIo::create_file(std::string_view path) {
  if (const io::Status status = check_path(path); !status) return status.error();
  if (const io::Errc error = world_.disk_fault(process_); error != io::Errc::cancelled) {
    return io::Error{error, "create " + std::string(path)};
  }
  DiskState& disk = process_.disk;
  if (disk.entries.contains(path) || disk.directories.contains(path)) {
    return io::Error{io::Errc::already_exists, std::string(path)};
  }
  auto inode = std::make_shared<Inode>();
  disk.entries.emplace(std::string(path), inode);
  disk.changed_names[std::string(parent_directory(path))][std::string(path)] = ++disk.changes;
  return std::unique_ptr<io::File>(std::make_unique<SimFile>(world_, process_, std::move(inode)));
}

io::Result<std::unique_ptr<io::File>> ProcessIo::open_for_append(std::string_view path) {
  if (const io::Status status = check_path(path); !status) return status.error();
  if (const io::Errc error = world_.disk_fault(process_); error != io::Errc::cancelled) {
    return io::Error{error, "open " + std::string(path)};
  }
  const auto found = process_.disk.entries.find(path);
  if (found == process_.disk.entries.end()) return io::Error{io::Errc::not_found, std::string(path)};
  return std::unique_ptr<io::File>(std::make_unique<SimFile>(world_, process_, found->second));
}

io::Result<std::string> ProcessIo::read_file(std::string_view path) {
  if (const io::Status status = check_path(path); !status) return status.error();
  if (const io::Errc error = world_.disk_fault(process_); error != io::Errc::cancelled) {
    return io::Error{error, "read " + std::string(path)};
  }
  const auto found = process_.disk.entries.find(path);
  if (found == process_.disk.entries.end()) return io::Error{io::Errc::not_found, std::string(path)};
  return found->second->data.whole();
}

io::Result<std::string> ProcessIo::read_file_range(std::string_view path, std::uint64_t offset, std::size_t length) {
  if (const io::Status status = check_path(path); !status) return status.error();
  if (const io::Errc error = world_.disk_fault(process_); error != io::Errc::cancelled) {
    return io::Error{error, "read " + std::string(path)};
  }
  const auto found = process_.disk.entries.find(path);
  if (found == process_.disk.entries.end()) return io::Error{io::Errc::not_found, std::string(path)};
  const FileBytes& data = found->second->data;
  if (offset >= data.size()) return std::string();
  return data.read(static_cast<std::size_t>(offset), length);
}

io::Result<std::vector<std::string>> ProcessIo::list_directory(std::string_view path) {
  const DiskState& disk = process_.disk;
  if (!disk.directories.contains(path))
    return io::Error{io::Errc::not_found, "no directory '" + std::string(path) + "'"};
  if (const io::Errc error = world_.disk_fault(process_); error != io::Errc::cancelled) {
    return io::Error{error, "list " + std::string(path)};
  }
  std::vector<std::string> names;
  for (const auto& [name, inode] : disk.entries) {
    if (parent_directory(name) == path) names.emplace_back(leaf_name(name));
  }
  for (const std::string& directory : disk.directories) {
    if (!directory.empty() && parent_directory(directory) == path) names.emplace_back(leaf_name(directory));
  }
  std::sort(names.begin(), names.end());
  return names;
}

io::Status ProcessIo::make_directory(std::string_view path) {
  if (path.empty()) return {};
  DiskState& disk = process_.disk;
  if (disk.directories.contains(path)) return {};
  if (disk.entries.contains(path)) return make_error(io::Errc::not_a_directory, std::string(path));
  if (const io::Status parent = make_directory(parent_directory(path)); !parent) return parent;
  if (const io::Status status = check_path(path); !status) return status;
  if (const io::Errc error = world_.disk_fault(process_); error != io::Errc::cancelled) {
    return make_error(error, "mkdir " + std::string(path));
  }
  disk.directories.emplace(path);
  return {};
}

io::Status ProcessIo::rename_file(std::string_view from, std::string_view to) {
  if (const io::Status status = check_path(from); !status) return status;
  if (const io::Status status = check_path(to); !status) return status;
  if (const io::Errc error = world_.disk_fault(process_); error != io::Errc::cancelled) {
    return make_error(error, "rename " + std::string(from));
  }
  DiskState& disk = process_.disk;
  const auto source = disk.entries.find(from);
  if (source == disk.entries.end()) return make_error(io::Errc::not_found, std::string(from));
  if (from == to) return {};
  std::shared_ptr<Inode> inode = source->second;
  disk.entries.erase(source);
  disk.changed_names[std::string(parent_directory(from))][std::string(from)] = ++disk.changes;
  disk.changed_names[std::string(parent_directory(to))][std::string(to)] = ++disk.changes;
  const auto target = disk.entries.find(to);
  if (target != disk.entries.end()) {
    if (target->second.use_count() == 1 + (disk.durable_entries.contains(to) ? 1 : 0)) {
      disk.used_bytes -= target->second->data.size();
    }
    target->second = std::move(inode);
  } else {
    disk.entries.emplace(std::string(to), std::move(inode));
  }
  return {};
}

io::Status ProcessIo::remove_file(std::string_view path) {
  if (const io::Status status = check_path(path); !status) return status;
  if (const io::Errc error = world_.disk_fault(process_); error != io::Errc::cancelled) {
    return make_error(error, "unlink " + std::string(path));
  }
  DiskState& disk = process_.disk;
  const auto found = disk.entries.find(path);
  if (found == disk.entries.end()) return make_error(io::Errc::not_found, std::string(path));
  disk.used_bytes -= std::min<std::uint64_t>(disk.used_bytes, found->second->data.size());
  disk.entries.erase(found);
  disk.changed_names[std::string(parent_directory(path))][std::string(path)] = ++disk.changes;
  return {};
}

io::Pending ProcessIo::sync_file(const std::shared_ptr<Inode>& inode, SyncHandler handler) {
  const std::uint64_t operation = new_operation_id();
  if (!alive()) return {this, operation};
  syncs.emplace(operation, std::move(handler));
  const io::Errc error = world_.disk_fault(process_);
  const std::size_t size = inode->data.size();
  schedule(now() + process_.disk.config.sync_latency, [this, operation, error, inode, size] {
    const auto found = syncs.find(operation);
    if (found == syncs.end()) return;
    auto on_synced = std::move(found->second);
    syncs.erase(found);
    if (error != io::Errc::cancelled) {
      on_synced(make_error(error, "fsync"));
      return;
    }
    inode->durable_size = std::max(inode->durable_size, std::min(size, inode->data.size()));
    on_synced({});
  });
  return {this, operation};
}

io::Pending ProcessIo::sync_directory(std::string_view path, SyncHandler handler) {
  const std::uint64_t operation = new_operation_id();
  if (!alive()) return {this, operation};
  syncs.emplace(operation, std::move(handler));
  io::Errc error = world_.disk_fault(process_);
  if (error == io::Errc::cancelled && !process_.disk.directories.contains(path)) error = io::Errc::not_found;
  // The directory's changes as they are now become durable when the sync completes: each changed
  // name takes its entry as of now, or goes.
  struct Change {
    std::string name;
    std::uint64_t number;
    std::shared_ptr<Inode> inode;  // null: removed
  };
  std::vector<Change> snapshot;
  if (const auto changed = process_.disk.changed_names.find(path); changed != process_.disk.changed_names.end()) {
    for (const auto& [name, number] : changed->second) {
      const auto entry = process_.disk.entries.find(name);
      snapshot.push_back({name, number, entry == process_.disk.entries.end() ? nullptr : entry->second});
    }
  }
  schedule(now() + process_.disk.config.sync_latency,
           [this, operation, error, directory = std::string(path), snapshot = std::move(snapshot)] {
             const auto found = syncs.find(operation);
             if (found == syncs.end()) return;
             auto on_synced = std::move(found->second);
             syncs.erase(found);
             if (error != io::Errc::cancelled) {
               on_synced(make_error(error, "fsync " + directory));  // the changes stay pending
               return;
             }
             DiskState& disk = process_.disk;
             auto& pending = disk.changed_names[directory];
             for (const Change& change : snapshot) {
               if (change.inode) {
                 disk.durable_entries[change.name] = change.inode;
               } else {
                 disk.durable_entries.erase(change.name);
               }
               const auto still = pending.find(change.name);
               if (still != pending.end() && still->second == change.number) pending.erase(still);
             }
             if (pending.empty()) disk.changed_names.erase(directory);
             on_synced({});
           });
  return {this, operation};
}

}  // namespace relaysim::sim
