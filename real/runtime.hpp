#pragma once
// The real backend of the Io interface: Boost.Asio sockets and steady timers on one event-loop
// thread, POSIX files with real fsync, the system resolver (libresolv), and OS entropy. Blocking
// calls (fsync, DNS) run on a small worker pool and complete back on the event-loop thread, so
// node logic sees the same single-threaded, callback-from-the-loop world as in the simulation.
//
// This header stays free of Asio so that the command line and tests compile fast.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "io/io.hpp"
#include "io/zone.hpp"

namespace relaysim::real {

struct NodeOptions {
  std::string node_name;
  std::string host_name;                   // what the node calls itself (SMTP greetings); default: the OS host name
  std::string data_directory;              // the root of the node's files; created if missing
  std::optional<std::uint64_t> seed;       // default: from the OS's entropy
  std::optional<io::Endpoint> nameserver;  // default: the servers of /etc/resolv.conf
  Duration dns_timeout = std::chrono::seconds(5);
  // Every trace event; the default drops them.
  std::function<void(const io::TraceEvent& event, std::string_view json_line)> on_trace;
  // Static records answered before the system resolver is asked (a hosts and MX override for
  // tests and air-gapped labs). A name the zone does not know goes to the resolver, unless
  // `static_dns_only`: then it does not exist.
  std::shared_ptr<const io::Zone> static_dns;
  bool static_dns_only = false;
};

class Runtime {
 public:
  Runtime();
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // An Io for one node. It must be destroyed before the runtime, and after the node that uses it.
  std::unique_ptr<io::Io> make_io(NodeOptions options);

  // Runs the event loop until stop() or until nothing is left to wait for.
  void run();
  // Runs until `done()` holds or `bound` of real time has passed; true when done. The bound is a
  // safety net for tools and tests, never a measurement.
  bool run_until(const std::function<bool()>& done, Duration bound);
  // Runs `handler` on the event loop once the handlers ready now have run: work that may wait
  // until the current burst of events is handled (the daemon's log flushes its lines there).
  void post(std::function<void()> handler);
  // Safe to call from a signal-handling thread.
  void stop();
  // Runs `handler` on the event loop each time the process receives `signal` (SIGTERM, SIGHUP...).
  void on_signal(int signal, std::function<void()> handler);

  struct Impl;
  Impl& internals() { return *impl_; }  // for the backend's own parts (real/)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace relaysim::real
