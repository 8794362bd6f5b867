#pragma once
// The Io a simulated process sees: everything goes to the world's event loop, network, DNS and
// disk, and is dropped when the process crashes (its epoch changes).

#include <map>

#include "sim/internal.hpp"

namespace relaysim::sim {

class ProcessIo final : public io::Io, public io::Pending::Owner {
 public:
  ProcessIo(World::Impl& world, Process& process) : world_(world), process_(process) {}

  std::string_view node_name() const override { return process_.name; }
  std::string_view host_name() const override { return process_.host->name; }
  std::vector<io::Address> host_addresses() const override { return process_.host->addresses; }

  Instant now() const override { return world_.loop.now(); }
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
  bool traces_dialogue() const override { return world_.trace_dialogue; }

 protected:
  void record(std::string_view kind, std::span<const io::TraceField> fields,
              const io::Observation* observation) override;

 public:
  void cancel(std::uint64_t id) override;

  // --- used by the world
  // Schedules `action` guarded by this process's current epoch.
  std::uint64_t schedule(Instant when, EventLoop::Action action);
  std::uint64_t new_operation_id() { return operation_flag | next_operation_++; }
  struct PendingConnect {
    ConnectHandler handler;
    std::uint64_t timeout_event = 0;  // cancelled when the attempt completes, so it does not linger
  };
  std::map<std::uint64_t, PendingConnect> connects;
  // Removes a pending connect and returns its handler; empty when it was cancelled or completed.
  ConnectHandler take_connect(std::uint64_t operation) {
    const auto found = connects.find(operation);
    if (found == connects.end()) return {};
    ConnectHandler handler = std::move(found->second.handler);
    world_.loop.cancel(found->second.timeout_event);
    connects.erase(found);
    return handler;
  }
  std::map<std::uint64_t, DnsHandler> queries;
  std::map<std::uint64_t, SyncHandler> syncs;
  void forget_operations() {
    connects.clear();
    queries.clear();
    syncs.clear();
  }
  io::Pending sync_file(const std::shared_ptr<Inode>& inode, SyncHandler handler);

 private:
  // Operation ids have bit 63 set; timer ids are event-loop ids, which never do.
  static constexpr std::uint64_t operation_flag = std::uint64_t{1} << 63;
  bool alive() const { return process_.running; }
  io::Status check_path(std::string_view path) const;

  World::Impl& world_;
  Process& process_;
  std::uint64_t next_operation_ = 1;
};

}  // namespace relaysim::sim
