#pragma once
// The deterministic world: hosts with addresses, processes running nodes, a network with latency,
// jitter, bandwidth, firewalls and fault windows, authoritative DNS with caching resolvers and
// faults, a disk per process that loses or tears unsynced writes on a crash, seeded randomness,
// and a trace with a running digest.
//
// Same seed + same configuration + same binary => same trace, byte for byte. One thread; events
// are ordered by (virtual time, sequence); the kernel never reads the OS clock, OS randomness,
// sockets, files or DNS.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/address.hpp"
#include "io/dns.hpp"
#include "io/io.hpp"
#include "io/time.hpp"
#include "io/trace.hpp"
#include "io/zone.hpp"

namespace relaysim::sim {

// Impossible configuration: unknown host, duplicate address, negative latency, ...
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HostConfig {
  std::string name;
  std::vector<io::Address> addresses;
};

// Applied on the destination host to incoming connections.
struct FirewallRule {
  enum class Action : std::uint8_t {
    drop,    // the connection attempt times out
    reject,  // the connection attempt is refused
  };
  std::optional<std::uint16_t> port;  // unset: every port
  std::vector<io::Cidr> allow;        // sources let through; everyone else gets `action`
  Action action = Action::drop;
};

struct LinkConfig {
  Duration latency = std::chrono::milliseconds(1);  // one way
  Duration jitter = Duration(0);                    // added per send, uniform in [0, jitter]
  std::uint64_t bytes_per_second = 0;               // 0: unlimited
};

// A network fault applies during [from, until) to traffic from any of `sources` to any of
// `destinations` (empty matches everything) on connections to `port` (the listening port; unset
// matches all).
struct NetworkFault {
  enum class Kind : std::uint8_t {
    refuse,      // new connections are refused
    black_hole,  // new connections get no answer and time out
    partition,   // new connections time out; data on established ones waits until the end
    stall,       // data on established connections waits until the end of the window
    reset,       // established connections are reset once `after_bytes` bytes (or `after_pattern`)
                 // have passed from source to destination inside the window
  };
  Kind kind = Kind::refuse;
  Instant from;
  Instant until = Instant::max();
  std::vector<io::Cidr> sources;
  std::vector<io::Cidr> destinations;
  std::optional<std::uint16_t> port;
  bool both_directions = false;  // also match destination -> source (a two-way partition)
  std::uint64_t after_bytes = 0;
  std::string after_pattern;  // e.g. "\r\n.\r\n": reset right after the final dot of DATA
  std::string name;           // shown in the trace
};
std::string_view to_string(NetworkFault::Kind kind);

using DnsRecords = io::DnsRecords;

struct DnsFault {
  enum class Kind : std::uint8_t { servfail, nxdomain, timeout, empty };
  Kind kind = Kind::servfail;
  std::string name;  // exact, or "*.example.com" for every name below example.com
  std::optional<io::DnsType> type;
  Instant from;
  Instant until = Instant::max();
};
std::string_view to_string(DnsFault::Kind kind);

struct DnsSettings {
  Duration latency = std::chrono::milliseconds(1);
  Duration timeout = std::chrono::seconds(5);  // how long a query with no answer takes to fail
  std::uint32_t negative_ttl_seconds = 300;    // how long NXDOMAIN and NODATA are cached
  bool cache = true;                           // each host caches answers for their TTL
};

struct DiskConfig {
  enum class CrashMode : std::uint8_t {
    lose_unsynced,  // every byte not synced is gone
    torn,           // a random prefix of the unsynced bytes survives, its tail sometimes zeroed
  };
  std::uint64_t capacity_bytes = std::uint64_t{1} << 40;
  Duration sync_latency = std::chrono::milliseconds(1);
  CrashMode crash_mode = CrashMode::torn;
};

struct DiskFault {
  io::Errc error = io::Errc::io_error;  // io_error or no_space
  Instant from;
  Instant until = Instant::max();
};

struct ProcessConfig {
  std::string name;  // the node's name: unique in the world, shown in the trace
  std::string host;
  io::NodeFactory factory;
  DiskConfig disk;
};

enum class CrashKind : std::uint8_t {
  power_loss,  // the node's storage loses what was not synced
  kill,        // the process dies; the page cache survives, so the disk keeps everything
};
constexpr std::string_view to_string(CrashKind kind) { return kind == CrashKind::power_loss ? "power_loss" : "kill"; }

// Receives every trace event as it happens, with its canonical JSON line.
class TraceSink {
 public:
  virtual void on_event(const io::TraceEvent& event, std::string_view json_line) = 0;

 protected:
  ~TraceSink() = default;
};

class World {
 public:
  World(std::uint64_t seed, Instant start);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // --- configuration; each throws ConfigError for what cannot be.
  void add_host(HostConfig host);
  void add_firewall_rule(std::string_view host, FirewallRule rule);
  void set_default_link(LinkConfig link);
  void set_link(std::string_view host_a, std::string_view host_b, LinkConfig link);
  void add_network_fault(NetworkFault fault);
  void set_dns_settings(DnsSettings settings);
  void set_dns(std::string_view name, DnsRecords records);
  void remove_dns(std::string_view name);
  // Names at and below `apex` are in a signed (or bogus) zone; the resolver validates (io/zone.hpp).
  void set_dnssec(std::string_view apex, io::Dnssec state);
  void change_dns_at(Instant when, std::string_view name, std::optional<DnsRecords> records);
  void add_dns_fault(DnsFault fault);
  void add_process(ProcessConfig process);
  void add_disk_fault(std::string_view process, DiskFault fault);
  // Fails the process's n-th fallible disk operation (counting from 1 since the world began).
  void fail_disk_operation(std::string_view process, std::uint64_t operation, io::Errc error);
  void crash_at(std::string_view process, Instant when, CrashKind kind = CrashKind::power_loss);
  void restart_at(std::string_view process, Instant when);
  // Crashes `process` `delay` after the `count`-th trace event of `kind` from `node` (counting
  // from 1), and starts it again `restart_after` later when given: a crash in the millisecond
  // after the third message was stored, or while an outcome is being recorded. Never, if the
  // event never comes.
  void crash_after(std::string_view process, std::string_view kind, std::string_view node, std::uint64_t count,
                   Duration delay, CrashKind crash_kind, std::optional<Duration> restart_after);
  // Runs `action` at `when` in the event loop (scenario traffic, checks, ...).
  void at(Instant when, std::function<void()> action);

  // --- running
  // Starts every process at the start instant and arms the fault windows. Call once.
  void start();
  enum class RunOutcome : std::uint8_t { quiescent, reached_limit };
  // Runs until nothing is scheduled (quiescent) or the next event lies after `limit`; time then
  // stands at `limit`.
  RunOutcome run_until(Instant limit);
  bool step();  // one event, however far ahead; false when quiescent
  Instant now() const;
  Instant start_instant() const;
  std::uint64_t seed() const;

  // --- observation
  void add_trace_sink(TraceSink& sink);
  // Every SMTP command and reply of every session as a trace event of its own (smtp.dialogue),
  // message content as its size. Off by default: it changes the trace, and so the digest.
  void trace_smtp_dialogue(bool on);
  // A trace event from the world itself (scenario engine, checks), node "sim" unless given.
  void trace(std::string_view kind, io::TraceFields fields, std::string_view node = "sim");
  std::string digest() const;
  std::uint64_t trace_events() const;
  std::uint64_t events_executed() const;
  struct NodeState {
    std::string name;
    bool running = false;
    std::string status;  // the node's own one-line status; "(not running)" while down
  };
  std::vector<NodeState> node_states() const;     // in the order the nodes were added
  std::vector<std::string> status_lines() const;  // the same, one padded line each
  io::Node* node(std::string_view process);       // null while crashed
  bool running(std::string_view process) const;
  std::uint64_t disk_operations(std::string_view process) const;
  // The file as it stands now (not as a crash would leave it); nullopt when absent.
  std::optional<std::string> disk_file(std::string_view process, std::string_view path) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace relaysim::sim
