#include "sim/world.hpp"
#include "sim/events.hpp"

#include "io/assert.hpp"
#include "sim/internal.hpp"
#include "sim/process_io.hpp"

namespace relaysim::sim {

io::Status make_error(io::Errc code, std::string detail) { return io::Error{code, std::move(detail)}; }

std::string_view to_string(NetworkFault::Kind kind) {
  switch (kind) {
    case NetworkFault::Kind::refuse: return "refuse";
    case NetworkFault::Kind::black_hole: return "black_hole";
    case NetworkFault::Kind::partition: return "partition";
    case NetworkFault::Kind::stall: return "stall";
    case NetworkFault::Kind::reset: return "reset";
  }
  return "?";
}

std::string_view to_string(DnsFault::Kind kind) {
  switch (kind) {
    case DnsFault::Kind::servfail: return "servfail";
    case DnsFault::Kind::nxdomain: return "nxdomain";
    case DnsFault::Kind::timeout: return "timeout";
    case DnsFault::Kind::empty: return "empty";
  }
  return "?";
}

World::Impl::Impl(std::uint64_t seed_value, Instant start)
    : seed(seed_value),
      start_instant(start),
      loop(start),
      network_random(io::Random::stream(seed_value, "sim/network")) {}

Host& World::Impl::host(std::string_view name) {
  const auto found = hosts_by_name.find(name);
  if (found == hosts_by_name.end()) throw ConfigError("unknown host '" + std::string(name) + "'");
  return *found->second;
}

Process& World::Impl::process(std::string_view name) {
  const auto found = processes_by_name.find(name);
  if (found == processes_by_name.end()) throw ConfigError("unknown process '" + std::string(name) + "'");
  return *found->second;
}

const Process& World::Impl::process(std::string_view name) const {
  const auto found = processes_by_name.find(name);
  if (found == processes_by_name.end()) throw ConfigError("unknown process '" + std::string(name) + "'");
  return *found->second;
}

void World::Impl::emit(std::string_view node, std::string_view kind, io::TraceFields fields) {
  emit(node, kind, std::span<const io::TraceField>(fields.begin(), fields.size()));
}

void World::Impl::emit(std::string_view node, std::string_view kind, std::span<const io::TraceField> fields,
                       const io::Observation* observation) {
  io::TraceFieldList written;
  if (observation != nullptr) {
    RELAYSIM_ASSERT(fields.empty());
    observation->write(written);
    fields = written.fields();
  }
  const io::TraceEvent event{++trace_count, loop.now(), node, kind, fields, observation};
  line_buffer.clear();
  io::append_json_line(line_buffer, event);
  digest.update(line_buffer);
  for (TraceSink* sink : sinks) sink->on_event(event, line_buffer);
  if (!crash_triggers.empty()) fire_triggers(event);
}

void World::Impl::fire_triggers(const io::TraceEvent& event) {
  for (CrashTrigger& trigger : crash_triggers) {
    if (trigger.seen >= trigger.count || event.kind != trigger.kind || event.node != trigger.node) continue;
    if (++trigger.seen < trigger.count) continue;
    Process& target = *trigger.target;
    const CrashKind crash = trigger.crash;
    const Instant when = loop.now() + trigger.delay;
    loop.schedule(when, [this, &target, crash] { crash_process(target, crash); });
    if (trigger.restart_after) {
      loop.schedule(when + *trigger.restart_after, [this, &target] {
        if (!target.running) start_process(target);
      });
    }
  }
}

void World::Impl::start_process(Process& process) {
  RELAYSIM_ASSERT(!process.running);
  process.running = true;
  emit(process.name, events::ProcessStarted{.host = process.host->name, .epoch = process.epoch});
  process.node = process.factory(*process.io);
  RELAYSIM_ASSERT(process.node != nullptr);
  process.io->schedule(loop.now(), [&process] {
    if (process.node) process.node->start();
  });
}

void World::Impl::crash_process(Process& process, CrashKind kind) {
  if (!process.running) return;
  emit(process.name, events::ProcessCrashed{.crash = kind});
  // From here on nothing the process scheduled runs, and its Io ignores it.
  process.running = false;
  process.epoch += 1;
  process.io->forget_operations();
  // Peers see a reset; the process's own side goes quiet without callbacks.
  for (const std::uint64_t stream_id : std::set<std::uint64_t>(process.streams)) {
    const auto found = streams.find(stream_id);
    if (found == streams.end()) continue;
    for (int side = 0; side < 2; ++side) {
      if (found->second.sides[side].process == &process) close_side(stream_id, side, true);
    }
  }
  for (const auto& key : process.listeners) listeners.erase(key);
  process.listeners.clear();
  process.node.reset();
  if (kind == CrashKind::power_loss) power_loss(process);
}

World::World(std::uint64_t seed, Instant start) : impl_(std::make_unique<Impl>(seed, start)) {}
World::~World() {
  // Nodes go first, while the Io they hold Pendings on still exists.
  for (Process& process : impl_->processes) {
    process.running = false;
    process.node.reset();
  }
}

void World::add_host(HostConfig host) {
  if (host.name.empty()) throw ConfigError("a host needs a name");
  if (impl_->hosts_by_name.contains(host.name)) throw ConfigError("duplicate host '" + host.name + "'");
  if (host.addresses.empty()) throw ConfigError("host '" + host.name + "' has no address");
  for (const io::Address& address : host.addresses) {
    if (address.is_unspecified()) throw ConfigError("host '" + host.name + "' has an unspecified address");
    const auto owner = impl_->hosts_by_address.find(address);
    if (owner != impl_->hosts_by_address.end()) {
      throw ConfigError("address " + address.to_string() + " of host '" + host.name + "' already belongs to host '" +
                        owner->second->name + "'");
    }
  }
  Host& stored = impl_->hosts.emplace_back();
  stored.name = std::move(host.name);
  stored.addresses = std::move(host.addresses);
  impl_->hosts_by_name[stored.name] = &stored;
  for (const io::Address& address : stored.addresses) impl_->hosts_by_address[address] = &stored;
}

void World::add_firewall_rule(std::string_view host, FirewallRule rule) {
  impl_->host(host).firewall.push_back(std::move(rule));
}

namespace {
void check_link(const LinkConfig& link) {
  if (link.latency.count() < 0) throw ConfigError("negative latency " + format_duration(link.latency));
  if (link.jitter.count() < 0) throw ConfigError("negative jitter " + format_duration(link.jitter));
}
}  // namespace

void World::set_default_link(LinkConfig link) {
  check_link(link);
  impl_->default_link = link;
}

void World::set_link(std::string_view host_a, std::string_view host_b, LinkConfig link) {
  check_link(link);
  const std::string a = impl_->host(host_a).name;
  const std::string b = impl_->host(host_b).name;
  impl_->links[{a, b}] = link;
  impl_->links[{b, a}] = link;
}

void World::add_network_fault(NetworkFault fault) {
  if (fault.until <= fault.from) throw ConfigError("network fault '" + fault.name + "' ends before it begins");
  if (impl_->started) throw ConfigError("network faults must be added before the world starts");
  impl_->network_faults.push_back(std::move(fault));
}

void World::set_dns_settings(DnsSettings settings) {
  if (settings.latency.count() < 0) throw ConfigError("negative DNS latency");
  if (settings.timeout.count() <= 0) throw ConfigError("DNS timeout must be positive");
  impl_->dns_settings = settings;
}

namespace {
void check_records(const std::string& key, const DnsRecords& records) {
  if (key.empty()) throw ConfigError("empty DNS name");
  if (!records.cname.empty() && (!records.addresses.empty() || !records.mx.empty() || !records.texts.empty())) {
    throw ConfigError("DNS name '" + key + "' has a CNAME and other records (RFC 1034 §3.6.2)");
  }
}
}  // namespace

void World::set_dns(std::string_view name, DnsRecords records) {
  const std::string key = io::normalize_dns_name(name);
  check_records(key, records);
  impl_->dns_zone.set(key, std::move(records));
}

void World::remove_dns(std::string_view name) { impl_->dns_zone.remove(name); }

void World::set_dnssec(std::string_view apex, io::Dnssec state) { impl_->dns_zone.set_dnssec(apex, state); }

void World::change_dns_at(Instant when, std::string_view name, std::optional<DnsRecords> records) {
  if (when < impl_->loop.now()) throw ConfigError("DNS change for '" + std::string(name) + "' is in the past");
  std::string key = io::normalize_dns_name(name);
  if (records) check_records(key, *records);
  impl_->loop.schedule(when, [this, key, records = std::move(records)] {
    if (records) {
      set_dns(key, *records);
    } else {
      remove_dns(key);
    }
    impl_->emit("sim", "dns.change", {{"name", key}, {"removed", !records.has_value()}});
  });
}

void World::add_dns_fault(DnsFault fault) {
  if (fault.until <= fault.from) throw ConfigError("DNS fault for '" + fault.name + "' ends before it begins");
  fault.name = io::normalize_dns_name(fault.name);
  impl_->dns_faults.push_back(std::move(fault));
}

void World::add_process(ProcessConfig process) {
  if (process.name.empty() || process.name == "sim") throw ConfigError("invalid process name '" + process.name + "'");
  if (impl_->processes_by_name.contains(process.name)) throw ConfigError("duplicate process '" + process.name + "'");
  if (!process.factory) throw ConfigError("process '" + process.name + "' has no node");
  if (process.disk.sync_latency.count() < 0) throw ConfigError("negative sync latency for '" + process.name + "'");
  Process& stored = impl_->processes.emplace_back();
  stored.host = &impl_->host(process.host);
  stored.name = std::move(process.name);
  stored.factory = std::move(process.factory);
  stored.disk.config = process.disk;
  stored.disk_random = io::Random::stream(impl_->seed, "sim/disk/" + stored.name);
  stored.io = std::make_unique<ProcessIo>(*impl_, stored);
  impl_->processes_by_name[stored.name] = &stored;
  if (impl_->started) impl_->loop.schedule(impl_->loop.now(), [this, &stored] { impl_->start_process(stored); });
}

void World::add_disk_fault(std::string_view process, DiskFault fault) {
  if (fault.until <= fault.from) throw ConfigError("disk fault ends before it begins");
  impl_->process(process).disk.faults.push_back(fault);
}

void World::fail_disk_operation(std::string_view process, std::uint64_t operation, io::Errc error) {
  if (operation == 0) throw ConfigError("disk operations are counted from 1");
  impl_->process(process).disk.failing_operations[operation] = error;
}

void World::crash_at(std::string_view process, Instant when, CrashKind kind) {
  Process& target = impl_->process(process);
  if (when < impl_->loop.now()) throw ConfigError("crash of '" + target.name + "' is in the past");
  impl_->loop.schedule(when, [this, &target, kind] { impl_->crash_process(target, kind); });
}

void World::restart_at(std::string_view process, Instant when) {
  Process& target = impl_->process(process);
  if (when < impl_->loop.now()) throw ConfigError("restart of '" + target.name + "' is in the past");
  impl_->loop.schedule(when, [this, &target] {
    if (!target.running) impl_->start_process(target);
  });
}

void World::crash_after(std::string_view process, std::string_view kind, std::string_view node, std::uint64_t count,
                        Duration delay, CrashKind crash_kind, std::optional<Duration> restart_after) {
  Process& target = impl_->process(process);
  if (count == 0) throw ConfigError("a crash after the 0th event");
  if (delay < Duration::zero() || (restart_after && *restart_after <= Duration::zero()))
    throw ConfigError("a negative delay");
  impl_->crash_triggers.push_back(
      {std::string(kind), std::string(node), count, 0, delay, restart_after, &target, crash_kind});
}

void World::at(Instant when, std::function<void()> action) {
  if (when < impl_->loop.now()) throw ConfigError("action scheduled in the past");
  impl_->loop.schedule(when, std::move(action));
}

void World::start() {
  RELAYSIM_ASSERT(!impl_->started);
  impl_->started = true;
  for (const NetworkFault& fault : impl_->network_faults) {
    const auto join = [](const std::vector<io::Cidr>& networks) {
      std::string out;
      for (const io::Cidr& cidr : networks) out += (out.empty() ? "" : ",") + cidr.to_string();
      return out.empty() ? std::string("*") : out;
    };
    const std::string source = join(fault.sources);
    const std::string destination = join(fault.destinations);
    const std::string port = fault.port ? std::to_string(*fault.port) : "*";
    impl_->loop.schedule(std::max(fault.from, impl_->loop.now()), [this, &fault, source, destination, port] {
      const std::string until = fault.until == Instant::max() ? std::string("never") : format_iso8601(fault.until);
      impl_->emit("sim", events::FaultBegan{.fault = fault.name,
                                            .fault_kind = fault.kind,
                                            .source = source,
                                            .destination = destination,
                                            .port = port,
                                            .until = until});
    });
    if (fault.until != Instant::max()) {
      impl_->loop.schedule(fault.until, [this, &fault] {
        impl_->emit("sim", events::FaultEnded{.fault = fault.name, .fault_kind = fault.kind});
      });
    }
  }
  for (Process& process : impl_->processes) {
    impl_->loop.schedule(impl_->start_instant, [this, &process] { impl_->start_process(process); });
  }
}

World::RunOutcome World::run_until(Instant limit) {
  while (impl_->loop.run_next(limit)) {}
  if (impl_->loop.pending() == 0) return RunOutcome::quiescent;
  if (impl_->loop.now() < limit) impl_->loop.advance_to(limit);
  return RunOutcome::reached_limit;
}

bool World::step() { return impl_->loop.run_next(Instant::max()); }
Instant World::now() const { return impl_->loop.now(); }
Instant World::start_instant() const { return impl_->start_instant; }
std::uint64_t World::seed() const { return impl_->seed; }

void World::add_trace_sink(TraceSink& sink) { impl_->sinks.push_back(&sink); }
void World::trace_smtp_dialogue(bool on) { impl_->trace_dialogue = on; }
void World::trace(std::string_view kind, io::TraceFields fields, std::string_view node) {
  impl_->emit(node, kind, fields);
}
std::string World::digest() const { return impl_->digest.hex(); }
std::uint64_t World::trace_events() const { return impl_->trace_count; }
std::uint64_t World::events_executed() const { return impl_->loop.executed(); }

std::vector<World::NodeState> World::node_states() const {
  std::vector<NodeState> states;
  for (const Process& process : impl_->processes) {
    states.push_back(
        {process.name, process.running, process.node ? process.node->status() : std::string("(not running)")});
  }
  return states;
}

std::vector<std::string> World::status_lines() const {
  std::vector<std::string> lines;
  for (const NodeState& state : node_states()) {
    std::string line = state.name;
    line.resize(std::max<std::size_t>(line.size() + 1, 16), ' ');
    line += state.running ? "up    " : "down  ";
    line += state.status;
    lines.push_back(std::move(line));
  }
  return lines;
}

io::Node* World::node(std::string_view process) { return impl_->process(process).node.get(); }
bool World::running(std::string_view process) const { return impl_->process(process).running; }
std::uint64_t World::disk_operations(std::string_view process) const { return impl_->process(process).disk.operations; }

std::optional<std::string> World::disk_file(std::string_view process, std::string_view path) const {
  const DiskState& disk = impl_->process(process).disk;
  const auto found = disk.entries.find(path);
  if (found == disk.entries.end()) return std::nullopt;
  return found->second->data.whole();
}

// --- ProcessIo: time, randomness, trace, cancellation

std::uint64_t ProcessIo::schedule(Instant when, EventLoop::Action action) {
  return world_.loop.schedule(when, std::move(action), &process_.epoch, process_.epoch);
}

io::Pending ProcessIo::at(Instant when, TimerHandler handler) {
  if (when < now()) when = now();
  return {this, schedule(when, std::move(handler))};
}

void ProcessIo::cancel(std::uint64_t id) {
  if ((id & operation_flag) == 0) {
    world_.loop.cancel(id);
    return;
  }
  connects.erase(id);
  queries.erase(id);
  syncs.erase(id);
}

io::Random ProcessIo::random_stream(std::string_view purpose) {
  return io::Random::stream(world_.seed, process_.name + "/" + std::string(purpose));
}

void ProcessIo::record(std::string_view kind, std::span<const io::TraceField> fields,
                       const io::Observation* observation) {
  if (!alive()) return;  // a dying node's destructor has nothing observable to say
  world_.emit(process_.name, kind, fields, observation);
}

}  // namespace relaysim::sim
