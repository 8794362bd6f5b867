// The simulated network: reliable ordered byte streams between hosts, with latency, jitter and
// bandwidth per link, firewall rules on destination hosts, and fault windows.
//
// Modelled: connection set-up (refused, timed out, accepted), in-order delivery per direction
// (jitter never reorders), graceful close and reset, data held during stalls and partitions and
// delivered when they end, resets after N bytes or after a byte pattern. Not modelled: packet
// loss and retransmission timing, TCP windows (the send buffer is bounded instead; a side's unsent
// bytes are those in flight plus those its peer has not read), half-close (close ends both
// directions for the closing side).

#include <algorithm>

#include "io/assert.hpp"
#include "sim/events.hpp"
#include "sim/internal.hpp"
#include "sim/process_io.hpp"

namespace relaysim::sim {
namespace {

// Long enough for any pattern a fault may name.
constexpr std::size_t pattern_tail_bytes_max = 64;

bool matches_direction(const NetworkFault& fault, const io::Address& from, const io::Address& to, std::uint16_t port) {
  if (fault.port && *fault.port != port) return false;
  const auto listed = [](const std::vector<io::Cidr>& networks, const io::Address& address) {
    if (networks.empty()) return true;
    return std::any_of(networks.begin(), networks.end(), [&](const io::Cidr& cidr) { return cidr.contains(address); });
  };
  const auto one_way = [&](const io::Address& a, const io::Address& b) {
    return listed(fault.sources, a) && listed(fault.destinations, b);
  };
  return one_way(from, to) || (fault.both_directions && one_way(to, from));
}

class SimConnection final : public io::Connection {
 public:
  SimConnection(World::Impl& world, std::uint64_t stream, int side) : world_(world), stream_(stream), side_(side) {}
  ~SimConnection() override { world_.close_side(stream_, side_, false); }

  void on_receive(ReceiveHandler handler) override { world_.set_receive_handler(stream_, side_, std::move(handler)); }
  void on_close(CloseHandler handler) override { world_.set_close_handler(stream_, side_, std::move(handler)); }
  io::Status send(std::string_view bytes) override { return world_.send(stream_, side_, bytes); }
  void close() override { world_.close_side(stream_, side_, false); }
  void abort() override { world_.close_side(stream_, side_, true); }
  bool is_open() const override {
    const auto found = world_.streams.find(stream_);
    return found != world_.streams.end() && found->second.sides[side_].open;
  }
  std::size_t unsent_bytes() const override { return world_.unsent_bytes(stream_, side_); }
  void when_unsent_at_most(std::size_t bytes, std::function<void()> handler) override {
    world_.when_unsent_at_most(stream_, side_, bytes, std::move(handler));
  }
  void pause_receiving(bool paused) override { world_.pause_receiving(stream_, side_, paused); }
  io::Endpoint local_endpoint() const override { return endpoints().first; }
  io::Endpoint peer_endpoint() const override { return endpoints().second; }
  std::uint64_t id() const override { return stream_; }

 private:
  std::pair<io::Endpoint, io::Endpoint> endpoints() const {
    const auto found = world_.streams.find(stream_);
    if (found == world_.streams.end()) return {};
    return {found->second.sides[side_].local, found->second.sides[side_].peer};
  }
  World::Impl& world_;
  std::uint64_t stream_;
  int side_;
};

class SimListener final : public io::Listener {
 public:
  SimListener(World::Impl& world, Process& process, std::pair<std::string, io::Endpoint> key)
      : world_(world), process_(process), epoch_(process.epoch), key_(std::move(key)) {}
  ~SimListener() override {
    if (process_.epoch != epoch_) return;  // already gone with a crash
    if (const auto found = world_.listeners.find(key_); found != world_.listeners.end()) {
      for (const std::uint64_t stream : found->second.backlog) world_.close_side(stream, 1, true);
    }
    world_.listeners.erase(key_);
    process_.listeners.erase(key_);
  }
  io::Endpoint local_endpoint() const override { return key_.second; }
  void pause_accepting(bool paused) override {
    if (process_.epoch == epoch_) world_.pause_accepting(key_, paused);
  }

 private:
  World::Impl& world_;
  Process& process_;
  std::uint32_t epoch_;
  std::pair<std::string, io::Endpoint> key_;
};

}  // namespace

Host* World::Impl::host_of(const io::Address& address) {
  const auto found = hosts_by_address.find(address);
  return found == hosts_by_address.end() ? nullptr : found->second;
}

const LinkConfig& World::Impl::link(const Host& a, const Host& b) const {
  const auto found = links.find({a.name, b.name});
  return found == links.end() ? default_link : found->second;
}

Duration World::Impl::one_way_delay(const Host& from, const Host& to, std::size_t bytes) {
  const LinkConfig& config = link(from, to);
  Duration delay = config.latency;
  if (config.jitter.count() > 0) delay += network_random.duration_between(Duration(0), config.jitter);
  if (config.bytes_per_second > 0) {
    delay += Duration(static_cast<std::int64_t>(bytes * 1'000'000 / config.bytes_per_second));
  }
  return delay;
}

const NetworkFault* World::Impl::find_fault(NetworkFault::Kind kind, const io::Address& from, const io::Address& to,
                                            std::uint16_t port, Instant when) const {
  for (const NetworkFault& fault : network_faults) {
    if (fault.kind == kind && fault.from <= when && when < fault.until && matches_direction(fault, from, to, port)) {
      return &fault;
    }
  }
  return nullptr;
}

Instant World::Impl::held_until(const io::Address& from, const io::Address& to, std::uint16_t port,
                                Instant when) const {
  Instant until = when;
  for (const NetworkFault& fault : network_faults) {
    const bool holds = fault.kind == NetworkFault::Kind::stall || fault.kind == NetworkFault::Kind::partition;
    if (holds && fault.from <= until && until < fault.until && matches_direction(fault, from, to, port)) {
      until = fault.until;  // windows that chain extend the hold
    }
  }
  return until;
}

// --- connection set-up

io::Result<std::unique_ptr<io::Listener>> ProcessIo::listen(io::Endpoint local, io::Listener::AcceptHandler handler) {
  if (!alive()) return io::Error{io::Errc::cancelled, "process is not running"};
  if (!local.address.is_unspecified()) {
    const auto& own = process_.host->addresses;
    if (std::find(own.begin(), own.end(), local.address) == own.end()) {
      return io::Error{io::Errc::address_not_local,
                       local.address.to_string() + " is not an address of host " + process_.host->name};
    }
  }
  const std::string& host = process_.host->name;
  for (const auto& [key, state] : world_.listeners) {
    if (key.first != host || key.second.port != local.port) continue;
    // An unspecified address covers its own family only (0.0.0.0 and [::] side by side, as with
    // IPV6_V6ONLY).
    const bool same_family = key.second.address.is_v4() == local.address.is_v4();
    const bool overlaps = same_family && (key.second.address == local.address || key.second.address.is_unspecified() ||
                                          local.address.is_unspecified());
    if (overlaps) return io::Error{io::Errc::address_in_use, "port " + std::to_string(local.port) + " on " + host};
  }
  auto key = std::make_pair(host, local);
  world_.listeners[key] = ListenerState{&process_, process_.epoch, std::move(handler), false, {}};
  process_.listeners.insert(key);
  world_.emit(process_.name, "net.listen", {{"on", local.to_string()}});
  return std::unique_ptr<io::Listener>(std::make_unique<SimListener>(world_, process_, std::move(key)));
}

io::Pending ProcessIo::connect(io::Endpoint remote, io::ConnectOptions options, ConnectHandler handler) {
  const std::uint64_t operation = new_operation_id();
  if (alive()) {
    connects.emplace(operation, PendingConnect{std::move(handler), 0});
    world_.connect(process_, operation, remote, options);
  }
  return {this, operation};
}

void World::Impl::connect(Process& process, std::uint64_t operation, io::Endpoint remote, io::ConnectOptions options) {
  ProcessIo& process_io = *process.io;
  const Instant now = loop.now();
  const std::uint32_t epoch = process.epoch;

  // Completes the attempt with an error at `when`, unless it was cancelled or completed meanwhile.
  const auto fail = [&](io::Errc code, Instant when, std::string detail) {
    return process_io.schedule(when, [this, &process, operation, code, remote, detail = std::move(detail)] {
      auto on_connect = process.io->take_connect(operation);
      if (!on_connect) return;
      emit(process.name, "net.connect_failed",
           {{"to", remote.to_string()}, {"error", io::to_string(code)}, {"detail", detail}});
      on_connect(io::Error{code, detail});
    });
  };

  std::optional<io::Address> source = options.source;
  if (source) {
    const auto& own = process.host->addresses;
    if (std::find(own.begin(), own.end(), *source) == own.end()) {
      fail(io::Errc::address_not_local, now, source->to_string() + " is not an address of " + process.host->name);
      return;
    }
  } else {
    for (const io::Address& address : process.host->addresses) {
      if (address.family() == remote.address.family()) {
        source = address;
        break;
      }
    }
    if (!source) {
      fail(io::Errc::unreachable, now, "host " + process.host->name + " has no address of that family");
      return;
    }
  }
  Host& client_host = *process.host;
  const std::uint16_t local_port = client_host.next_ephemeral_port;
  client_host.next_ephemeral_port =
      local_port == 65535 ? Host::ephemeral_port_first : static_cast<std::uint16_t>(local_port + 1);
  const io::Endpoint local{*source, local_port};
  emit(process.name, "net.connect", {{"from", local.to_string()}, {"to", remote.to_string()}});

  const Instant deadline = now + options.timeout;
  Host* server_host = host_of(remote.address);
  if (server_host == nullptr) {
    fail(io::Errc::timed_out, deadline, "no host has address " + remote.address.to_string());
    return;
  }
  // The firewall on the destination host.
  bool allowed = true;
  FirewallRule::Action action = FirewallRule::Action::drop;
  for (const FirewallRule& rule : server_host->firewall) {
    if (rule.port && *rule.port != remote.port) continue;
    const bool listed =
        std::any_of(rule.allow.begin(), rule.allow.end(), [&](const io::Cidr& cidr) { return cidr.contains(*source); });
    if (listed) {
      allowed = true;
      break;
    }
    if (allowed) action = rule.action;
    allowed = false;
  }
  const Duration there = one_way_delay(client_host, *server_host, 64);
  const Duration back = one_way_delay(*server_host, client_host, 64);
  if (!allowed) {
    if (action == FirewallRule::Action::reject) {
      fail(io::Errc::refused, std::min(deadline, now + there + back),
           "rejected by the firewall of " + server_host->name);
    } else {
      fail(io::Errc::timed_out, deadline, "dropped by the firewall of " + server_host->name);
    }
    return;
  }
  if (const NetworkFault* fault = find_fault(NetworkFault::Kind::refuse, *source, remote.address, remote.port, now)) {
    fail(io::Errc::refused, std::min(deadline, now + there + back), "fault " + fault->name);
    return;
  }
  for (const auto kind : {NetworkFault::Kind::black_hole, NetworkFault::Kind::partition}) {
    const NetworkFault* fault = find_fault(kind, *source, remote.address, remote.port, now);
    if (fault == nullptr && kind == NetworkFault::Kind::partition) {
      fault = find_fault(kind, remote.address, *source, remote.port, now);  // the answer cannot come back
    }
    if (fault != nullptr) {
      fail(io::Errc::timed_out, deadline, "fault " + fault->name);
      return;
    }
  }
  if (there + back > options.timeout) {
    fail(io::Errc::timed_out, deadline, "the round trip is longer than the connect timeout");
    return;
  }
  // The deadline; cancelled when the attempt completes first.
  process_io.connects[operation].timeout_event = fail(io::Errc::timed_out, deadline, "no answer");

  // The SYN arrives: a listener accepts, or the host answers with a reset.
  loop.schedule(now + there, [this, &process, epoch, operation, local, remote, server_host, back] {
    const Instant arrival = loop.now();
    auto found = listeners.find({server_host->name, remote});
    if (found == listeners.end()) {
      io::Endpoint any{remote.address.is_v4() ? io::Address::any_v4() : io::Address::v6({}), remote.port};
      found = listeners.find({server_host->name, any});
    }
    if (found == listeners.end() || found->second.process->epoch != found->second.epoch) {
      if (process.epoch != epoch) return;
      process.io->schedule(arrival + back, [this, &process, operation, remote] {
        auto on_connect = process.io->take_connect(operation);
        if (!on_connect) return;
        emit(process.name, "net.connect_failed",
             {{"to", remote.to_string()}, {"error", "connection refused"}, {"detail", "nothing listens there"}});
        on_connect(io::Error{io::Errc::refused, "nothing listens on " + remote.to_string()});
      });
      return;
    }
    ListenerState& listener = found->second;
    if (listener.paused && listener.backlog.size() >= io::Listener::backlog_max) {
      return;  // a full accept queue drops the SYN: the connect times out
    }
    const std::uint64_t stream_id = next_stream_id++;
    Stream& stream = streams[stream_id];
    stream.id = stream_id;
    stream.server_port = remote.port;
    StreamSide& client = stream.sides[0];
    StreamSide& server = stream.sides[1];
    client.process = &process;
    client.local = local;
    client.peer = remote;
    server.process = listener.process;
    server.local = remote;
    server.peer = local;
    const Instant established = arrival + back;
    client.arrival_horizon = arrival;
    server.arrival_horizon = established;  // nothing the server sends overtakes the SYN-ACK
    process.streams.insert(stream_id);
    listener.process->streams.insert(stream_id);

    // The client learns of the connection one way-delay later.
    loop.schedule(established, [this, &process, epoch, operation, stream_id, remote] {
      auto on_connect = process.epoch == epoch ? process.io->take_connect(operation) : ProcessIo::ConnectHandler();
      if (!on_connect) {
        close_side(stream_id, 0, true);  // the SYN-ACK finds nobody waiting: reset
        maybe_erase(stream_id);
        return;
      }
      emit(process.name, "net.connected", {{"conn", stream_id}, {"to", remote.to_string()}});
      on_connect(std::unique_ptr<io::Connection>(std::make_unique<SimConnection>(*this, stream_id, 0)));
    });

    if (listener.paused) {
      listener.backlog.push_back(stream_id);
      emit(listener.process->name, "net.backlog",
           {{"conn", stream_id},
            {"from", local.to_string()},
            {"on", remote.to_string()},
            {"waiting", static_cast<std::uint64_t>(listener.backlog.size())}});
      return;
    }
    hand_to_listener(listener, stream_id);
  });
}

void World::Impl::hand_to_listener(ListenerState& listener, std::uint64_t stream_id) {
  const StreamSide& server = streams.at(stream_id).sides[1];
  emit(listener.process->name, "net.accept",
       {{"conn", stream_id}, {"from", server.peer.to_string()}, {"on", server.local.to_string()}});
  auto on_accept = listener.on_accept;  // the handler may destroy the listener
  on_accept(std::make_unique<SimConnection>(*this, stream_id, 1));
}

void World::Impl::pause_accepting(const ListenerKey& key, bool paused) {
  const auto found = listeners.find(key);
  if (found == listeners.end() || found->second.paused == paused) return;
  ListenerState& listener = found->second;
  listener.paused = paused;
  if (!paused && !listener.backlog.empty()) {
    listener.process->io->schedule(loop.now(), [this, key] { accept_backlog(key); });
  }
}

// Resumed: the waiting streams, oldest first, until the listener pauses again or is gone. A
// stream its client already closed or reset is skipped, as its SYN had never come.
void World::Impl::accept_backlog(const ListenerKey& key) {
  for (;;) {
    const auto found = listeners.find(key);
    if (found == listeners.end() || found->second.paused || found->second.backlog.empty()) return;
    ListenerState& listener = found->second;
    const std::uint64_t stream_id = listener.backlog.front();
    listener.backlog.pop_front();
    const auto stream = streams.find(stream_id);
    if (stream == streams.end() || !stream->second.sides[1].open) continue;
    hand_to_listener(listener, stream_id);
  }
}

// --- data

io::Status World::Impl::send(std::uint64_t stream_id, int side, std::string_view bytes) {
  const auto found = streams.find(stream_id);
  if (found == streams.end() || !found->second.sides[side].open)
    return make_error(io::Errc::closed, "connection closed");
  Stream& stream = found->second;
  StreamSide& me = stream.sides[side];
  StreamSide& peer = stream.sides[1 - side];
  if (me.reset_scheduled || bytes.empty()) return {};
  if (me.bytes_in_flight + bytes.size() > io::Connection::send_buffer_bytes_max) {
    return make_error(io::Errc::buffer_full, "send buffer full");
  }
  const Instant now = loop.now();
  const Host& from = *me.process->host;
  const Host& to = *peer.process->host;

  // A reset fault cuts the stream after a byte count or a pattern.
  std::size_t keep = bytes.size();
  bool cut = false;
  if (const NetworkFault* fault =
          find_fault(NetworkFault::Kind::reset, me.local.address, me.peer.address, stream.server_port, now)) {
    if (!fault->after_pattern.empty()) {
      const std::string window = me.pattern_tail + std::string(bytes);
      const std::size_t at = window.find(fault->after_pattern);
      if (at != std::string::npos) {
        const std::size_t end = at + fault->after_pattern.size();
        keep = end > me.pattern_tail.size() ? end - me.pattern_tail.size() : 0;
        cut = true;
      }
    } else if (me.bytes_sent + bytes.size() > fault->after_bytes) {
      keep = fault->after_bytes > me.bytes_sent ? static_cast<std::size_t>(fault->after_bytes - me.bytes_sent) : 0;
      cut = true;
    }
    if (cut) {
      emit(me.process->name,
           events::FaultReset{.fault = fault->name, .conn = stream_id, .after_bytes = me.bytes_sent + keep});
    }
  }
  const std::string_view kept = bytes.substr(0, keep);
  me.pattern_tail.append(kept.substr(kept.size() > pattern_tail_bytes_max ? kept.size() - pattern_tail_bytes_max : 0));
  if (me.pattern_tail.size() > pattern_tail_bytes_max) {
    me.pattern_tail.erase(0, me.pattern_tail.size() - pattern_tail_bytes_max);
  }

  Instant arrival = now + one_way_delay(from, to, keep);
  const Instant held = held_until(me.local.address, me.peer.address, stream.server_port, now);
  if (held > now) arrival = std::max(arrival, held + link(from, to).latency);
  arrival = std::max(arrival, me.arrival_horizon);
  me.arrival_horizon = arrival;
  if (keep > 0) {
    me.bytes_sent += keep;
    me.bytes_in_flight += keep;
    peer.arriving.emplace_back(bytes.substr(0, keep));
    // Two words of capture: the event needs no allocation of its own.
    loop.schedule(arrival, [this, key = stream_id * 2 + static_cast<std::uint64_t>(1 - side)] {
      deliver(key / 2, static_cast<int>(key % 2));
    });
  }
  if (cut) {
    me.reset_scheduled = true;
    loop.schedule(arrival,
                  [this, stream_id, to_side = 1 - side] { deliver_end(stream_id, to_side, io::CloseReason::reset); });
    const Instant back = arrival + one_way_delay(to, from, 64);
    loop.schedule(back, [this, stream_id, side] { deliver_end(stream_id, side, io::CloseReason::reset); });
  }
  return {};
}

void World::Impl::deliver(std::uint64_t stream_id, int to_side) {
  const auto found = streams.find(stream_id);
  if (found == streams.end()) return;
  StreamSide& receiver = found->second.sides[to_side];
  RELAYSIM_ASSERT(!receiver.arriving.empty());
  std::string bytes = std::move(receiver.arriving.front());
  receiver.arriving.pop_front();
  found->second.sides[1 - to_side].bytes_in_flight -= bytes.size();
  if (!receiver.open) {
    maybe_erase(stream_id);
    return;
  }
  if (!receiver.on_receive || !receiver.inbox.empty() || receiver.paused) {
    if (receiver.inbox.size() + bytes.size() > io::Connection::send_buffer_bytes_max) {
      // A node that never reads: the receive buffer is bounded like the send buffer.
      close_side(stream_id, to_side, true);
      maybe_erase(stream_id);
      return;
    }
    receiver.inbox += bytes;
    if (receiver.on_receive && !receiver.paused) deliver_inbox(stream_id, to_side);
    return;
  }
  auto handler = std::move(receiver.on_receive);
  receiver.on_receive = nullptr;
  handler(bytes);
  // Element references in an unordered_map survive insertions; streams are only erased here below.
  if (receiver.open && !receiver.on_receive) receiver.on_receive = std::move(handler);
  check_drained(stream_id, 1 - to_side);
  maybe_erase(stream_id);
}

void World::Impl::deliver_inbox(std::uint64_t stream_id, int side) {
  const auto found = streams.find(stream_id);
  if (found == streams.end()) return;
  StreamSide& receiver = found->second.sides[side];
  receiver.inbox_delivery_scheduled = false;
  if (!receiver.open || !receiver.on_receive || receiver.inbox.empty() || receiver.paused) return;
  std::string bytes = std::move(receiver.inbox);
  receiver.inbox.clear();
  auto handler = std::move(receiver.on_receive);
  receiver.on_receive = nullptr;
  handler(bytes);
  const auto still = streams.find(stream_id);
  if (still == streams.end()) return;
  StreamSide& after = still->second.sides[side];
  if (after.open && !after.on_receive) after.on_receive = std::move(handler);
  check_drained(stream_id, 1 - side);
  if (after.open && after.end_waiting && after.inbox.empty()) deliver_end(stream_id, side, *after.end_waiting);
}

void World::Impl::pause_receiving(std::uint64_t stream_id, int side, bool paused) {
  const auto found = streams.find(stream_id);
  if (found == streams.end()) return;
  StreamSide& receiver = found->second.sides[side];
  if (!receiver.open || receiver.paused == paused) return;
  receiver.paused = paused;
  if (!paused) schedule_inbox_delivery(stream_id, side);
}

// What waits in a reading side's inbox goes to its handler from an event of its own.
void World::Impl::schedule_inbox_delivery(std::uint64_t stream_id, int side) {
  StreamSide& receiver = streams.at(stream_id).sides[side];
  if (!receiver.on_receive || receiver.inbox.empty() || receiver.inbox_delivery_scheduled || receiver.paused) return;
  receiver.inbox_delivery_scheduled = true;
  loop.schedule(loop.now(), [this, stream_id, side] { deliver_inbox(stream_id, side); });
}

std::size_t World::Impl::unsent_bytes(std::uint64_t stream_id, int side) const {
  const auto found = streams.find(stream_id);
  if (found == streams.end()) return 0;
  const Stream& stream = found->second;
  return static_cast<std::size_t>(stream.sides[side].bytes_in_flight) + stream.sides[1 - side].inbox.size();
}

void World::Impl::when_unsent_at_most(std::uint64_t stream_id, int side, std::size_t bytes,
                                      std::function<void()> handler) {
  const auto found = streams.find(stream_id);
  if (found == streams.end() || !found->second.sides[side].open) return;
  StreamSide& sender = found->second.sides[side];
  sender.on_drained = std::move(handler);
  sender.drained_at = bytes;
  check_drained(stream_id, side);
}

// The sender's drain handler, if its unsent bytes fell far enough: run from an event of its own.
void World::Impl::check_drained(std::uint64_t stream_id, int side) {
  const auto found = streams.find(stream_id);
  if (found == streams.end()) return;
  StreamSide& sender = found->second.sides[side];
  if (!sender.on_drained || sender.drain_check_scheduled || unsent_bytes(stream_id, side) > sender.drained_at) return;
  sender.drain_check_scheduled = true;
  loop.schedule(loop.now(), [this, stream_id, side] {
    const auto still = streams.find(stream_id);
    if (still == streams.end()) return;
    StreamSide& me = still->second.sides[side];
    me.drain_check_scheduled = false;
    if (!me.open || !me.on_drained || unsent_bytes(stream_id, side) > me.drained_at) return;
    auto handler = std::move(me.on_drained);
    me.on_drained = nullptr;
    handler();
  });
}

void World::Impl::set_receive_handler(std::uint64_t stream_id, int side, io::Connection::ReceiveHandler handler) {
  const auto found = streams.find(stream_id);
  if (found == streams.end()) return;
  StreamSide& receiver = found->second.sides[side];
  if (!receiver.open) return;
  receiver.on_receive = std::move(handler);
  schedule_inbox_delivery(stream_id, side);
}

void World::Impl::set_close_handler(std::uint64_t stream_id, int side, io::Connection::CloseHandler handler) {
  const auto found = streams.find(stream_id);
  if (found == streams.end() || !found->second.sides[side].open) return;
  found->second.sides[side].on_close = std::move(handler);
}

// --- ends

void World::Impl::close_side(std::uint64_t stream_id, int side, bool reset) {
  const auto found = streams.find(stream_id);
  if (found == streams.end()) return;
  Stream& stream = found->second;
  StreamSide& me = stream.sides[side];
  if (!me.open) return;
  me.open = false;
  me.on_receive = nullptr;
  me.on_close = nullptr;
  me.on_drained = nullptr;
  me.inbox.clear();
  if (me.process->running) {
    emit(me.process->name, reset ? "net.abort" : "net.close", {{"conn", stream_id}});
  }
  if (me.reset_scheduled) return;  // the peer already hears of the reset
  const Host& from = *me.process->host;
  const Host& to = *stream.sides[1 - side].process->host;
  const Instant arrival = std::max(loop.now() + one_way_delay(from, to, 64), me.arrival_horizon);
  me.arrival_horizon = arrival;
  const io::CloseReason reason = reset ? io::CloseReason::reset : io::CloseReason::closed_by_peer;
  loop.schedule(arrival, [this, stream_id, to_side = 1 - side, reason] { deliver_end(stream_id, to_side, reason); });
}

void World::Impl::deliver_end(std::uint64_t stream_id, int to_side, io::CloseReason reason) {
  const auto found = streams.find(stream_id);
  if (found == streams.end()) return;
  StreamSide& receiver = found->second.sides[to_side];
  if (!receiver.open) {
    maybe_erase(stream_id);
    return;
  }
  if (receiver.paused && receiver.on_receive && !receiver.inbox.empty()) {
    receiver.end_waiting = reason;  // what arrived before the end is read first, as from a socket
    return;
  }
  // Bytes still waiting for a handler are lost with the stream.
  receiver.open = false;
  receiver.inbox.clear();
  receiver.on_receive = nullptr;
  receiver.on_drained = nullptr;
  auto handler = std::move(receiver.on_close);
  receiver.on_close = nullptr;
  emit(receiver.process->name, reason == io::CloseReason::reset ? "net.reset" : "net.closed",
       {{"conn", stream_id}, {"peer", receiver.peer.to_string()}});
  if (handler) handler(reason);
  maybe_erase(stream_id);
}

void World::Impl::maybe_erase(std::uint64_t stream_id) {
  const auto found = streams.find(stream_id);
  if (found == streams.end()) return;
  const Stream& stream = found->second;
  for (const StreamSide& side : stream.sides) {
    if (side.open || side.bytes_in_flight > 0) return;
  }
  for (const StreamSide& side : stream.sides) side.process->streams.erase(stream_id);
  streams.erase(found);
}

}  // namespace relaysim::sim
