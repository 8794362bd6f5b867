#pragma once
// The world's internals, shared by the sim/ sources only.

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "io/random.hpp"
#include "sim/event_loop.hpp"
#include "sim/file_bytes.hpp"
#include "sim/world.hpp"

namespace relaysim::sim {

struct Host;
struct Process;
class ProcessIo;

struct DnsCacheEntry {
  io::DnsAnswer answer;
  Instant expires;
};

struct Host {
  std::string name;
  std::vector<io::Address> addresses;
  std::vector<FirewallRule> firewall;
  std::map<std::pair<std::string, io::DnsType>, DnsCacheEntry> dns_cache;
  std::uint16_t next_ephemeral_port = ephemeral_port_first;
  static constexpr std::uint16_t ephemeral_port_first = 40000;
};

struct Inode {
  FileBytes data;
  std::size_t durable_size = 0;
};

struct DiskState {
  DiskConfig config;
  // The namespace as the process sees it, and as it would be after a power loss.
  std::map<std::string, std::shared_ptr<Inode>, std::less<>> entries;
  std::map<std::string, std::shared_ptr<Inode>, std::less<>> durable_entries;
  // Names created, renamed or removed and not yet made durable, per directory, with the change's
  // number: a directory sync costs what changed, not the size of the directory. A sync covers
  // every change made before it was called, even one an earlier, still running sync also covers.
  std::map<std::string, std::map<std::string, std::uint64_t>, std::less<>> changed_names;
  std::uint64_t changes = 0;
  std::set<std::string, std::less<>> directories{""};
  std::uint64_t used_bytes = 0;
  std::uint64_t operations = 0;
  std::map<std::uint64_t, io::Errc> failing_operations;
  std::vector<DiskFault> faults;
};

struct Process {
  std::string name;
  Host* host = nullptr;
  io::NodeFactory factory;
  std::uint32_t epoch = 0;  // changes at every crash: events guarded by an older epoch are dropped
  bool running = false;
  std::unique_ptr<ProcessIo> io;
  std::unique_ptr<io::Node> node;
  DiskState disk;
  std::set<std::uint64_t> streams;                           // ordered, so a crash resets them in a stable order
  std::set<std::pair<std::string, io::Endpoint>> listeners;  // (host name, local endpoint)
  io::Random disk_random{0};
};

struct StreamSide {
  Process* process = nullptr;
  io::Endpoint local;
  io::Endpoint peer;
  io::Connection::ReceiveHandler on_receive;
  io::Connection::CloseHandler on_close;
  std::string inbox;  // arrived while no receive handler was set
  // Bytes on their way to this side, in order of arrival: each has one delivery event, which takes
  // the front (arrivals in one direction never overtake each other).
  std::deque<std::string> arriving;
  bool open = true;  // may still send and receive
  bool inbox_delivery_scheduled = false;
  bool paused = false;                         // reads nothing: arrivals wait in the inbox
  std::optional<io::CloseReason> end_waiting;  // the peer's end, after the inbox a paused side has yet to read
  // Flow control of the outgoing direction: runs once unsent bytes (in flight, or in the peer's
  // inbox) fall to `drained_at` or below.
  std::function<void()> on_drained;
  std::size_t drained_at = 0;
  bool drain_check_scheduled = false;
  // Outgoing direction (this side -> peer).
  Instant arrival_horizon;  // arrivals in this direction never overtake each other
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_in_flight = 0;
  std::string pattern_tail;  // the last bytes sent, for `after_pattern` resets
  bool reset_scheduled = false;
};

struct Stream {
  std::uint64_t id = 0;
  std::uint16_t server_port = 0;
  StreamSide sides[2];  // [0] the connecting side, [1] the accepting side
};

struct ListenerState {
  Process* process = nullptr;
  std::uint32_t epoch = 0;
  io::Listener::AcceptHandler on_accept;
  bool paused = false;
  // Established streams not yet accepted, oldest first (at most io::Listener::backlog_max).
  std::deque<std::uint64_t> backlog;
};

struct World::Impl {
  Impl(std::uint64_t seed_value, Instant start);

  std::uint64_t seed;
  Instant start_instant;
  EventLoop loop;
  bool started = false;

  std::deque<Host> hosts;  // deque: stable addresses
  std::map<std::string, Host*, std::less<>> hosts_by_name;
  std::map<io::Address, Host*> hosts_by_address;
  std::deque<Process> processes;
  std::map<std::string, Process*, std::less<>> processes_by_name;

  // network
  LinkConfig default_link;
  std::map<std::pair<std::string, std::string>, LinkConfig> links;
  std::vector<NetworkFault> network_faults;
  std::map<std::pair<std::string, io::Endpoint>, ListenerState> listeners;
  std::unordered_map<std::uint64_t, Stream> streams;
  std::uint64_t next_stream_id = 1;
  io::Random network_random;

  // dns
  DnsSettings dns_settings;
  io::Zone dns_zone;
  std::vector<DnsFault> dns_faults;

  // trace
  io::Digest digest;
  std::uint64_t trace_count = 0;
  std::vector<TraceSink*> sinks;
  bool trace_dialogue = false;  // World::trace_smtp_dialogue
  // Crashes that wait for the count-th event of a kind from a node (World::crash_after).
  struct CrashTrigger {
    std::string kind;
    std::string node;
    std::uint64_t count = 0;
    std::uint64_t seen = 0;
    Duration delay{};
    std::optional<Duration> restart_after{};
    Process* target = nullptr;
    CrashKind crash = CrashKind::power_loss;
  };
  std::vector<CrashTrigger> crash_triggers;
  void fire_triggers(const io::TraceEvent& event);
  std::string line_buffer;

  // helpers
  Host& host(std::string_view name);
  Process& process(std::string_view name);
  const Process& process(std::string_view name) const;
  void emit(std::string_view node, std::string_view kind, io::TraceFields fields);
  void emit(std::string_view node, std::string_view kind, std::span<const io::TraceField> fields,
            const io::Observation* observation = nullptr);
  template <typename Event>
  void emit(std::string_view node, const Event& event) {
    const io::Observed<Event> observed(event);
    emit(node, Event::kind, {}, &observed);
  }
  void start_process(Process& process);
  void crash_process(Process& process, CrashKind kind);

  // network (network.cpp)
  const LinkConfig& link(const Host& a, const Host& b) const;
  Duration one_way_delay(const Host& from, const Host& to, std::size_t bytes);
  const NetworkFault* find_fault(NetworkFault::Kind kind, const io::Address& from, const io::Address& to,
                                 std::uint16_t port, Instant when) const;
  Instant held_until(const io::Address& from, const io::Address& to, std::uint16_t port, Instant when) const;
  void connect(Process& process, std::uint64_t operation, io::Endpoint remote, io::ConnectOptions options);
  io::Status send(std::uint64_t stream, int side, std::string_view bytes);
  void close_side(std::uint64_t stream, int side, bool reset);
  using ListenerKey = std::pair<std::string, io::Endpoint>;  // (host name, local endpoint)
  void pause_accepting(const ListenerKey& key, bool paused);
  void accept_backlog(const ListenerKey& key);
  void hand_to_listener(ListenerState& listener, std::uint64_t stream);
  void set_receive_handler(std::uint64_t stream, int side, io::Connection::ReceiveHandler handler);
  void pause_receiving(std::uint64_t stream, int side, bool paused);
  void schedule_inbox_delivery(std::uint64_t stream, int side);
  std::size_t unsent_bytes(std::uint64_t stream, int side) const;
  void when_unsent_at_most(std::uint64_t stream, int side, std::size_t bytes, std::function<void()> handler);
  void check_drained(std::uint64_t stream, int side);
  void set_close_handler(std::uint64_t stream, int side, io::Connection::CloseHandler handler);
  void schedule_reset_of_peer(Stream& stream, int from_side, Instant earliest);
  void deliver(std::uint64_t stream, int to_side);
  void deliver_end(std::uint64_t stream, int to_side, io::CloseReason reason);
  void deliver_inbox(std::uint64_t stream, int side);
  void maybe_erase(std::uint64_t stream);
  Host* host_of(const io::Address& address);

  // dns (dns.cpp)
  const DnsFault* find_dns_fault(const std::string& name, io::DnsType type, Instant when) const;

  // disk (disk.cpp)
  io::Errc disk_fault(Process& process);  // counts the operation; Errc::cancelled means no fault
  void power_loss(Process& process);
};

io::Status make_error(io::Errc code, std::string detail);

}  // namespace relaysim::sim
