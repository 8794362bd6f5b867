#pragma once
// The Io interface: everything node logic (relay, fake MX, fake Salesforce) may use of the outside
// world. There are two implementations, sim/ (virtual time, simulated network, DNS and disk) and
// real/ (Boost.Asio, POSIX files, system DNS). Node logic is written once against this header and
// never knows which one it runs on.
//
// Rules every implementation keeps, and node logic may rely on:
// - Callbacks run only from the event loop, never from inside the call that registered them, so
//   a handler may freely call back into Io and into the node.
// - Everything asynchronous returns a Pending; destroying it cancels the operation, and a
//   cancelled operation's callback never runs. Owning the Pending in the object whose `this` the
//   callback captures makes lifetimes safe.
// - One thread: callbacks never run concurrently.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/address.hpp"
#include "io/dns.hpp"
#include "io/random.hpp"
#include "io/result.hpp"
#include "io/time.hpp"
#include "io/trace.hpp"

namespace relaysim::io {

// A handle to an operation in flight. Movable, not copyable; cancels on destruction.
class Pending {
 public:
  class Owner {
   public:
    // Must be a no-op for an id that has already completed or was never issued.
    virtual void cancel(std::uint64_t id) = 0;

   protected:
    ~Owner() = default;
  };

  Pending() = default;
  Pending(Owner* owner, std::uint64_t id) : owner_(owner), id_(id) {}
  Pending(Pending&& other) noexcept : owner_(other.owner_), id_(other.id_) { other.owner_ = nullptr; }
  Pending& operator=(Pending&& other) noexcept {
    if (this != &other) {
      cancel();
      owner_ = other.owner_;
      id_ = other.id_;
      other.owner_ = nullptr;
    }
    return *this;
  }
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  ~Pending() { cancel(); }

  void cancel() {
    if (owner_ != nullptr) owner_->cancel(id_);
    owner_ = nullptr;
  }
  // True until cancelled or moved from (it does not know whether the operation completed).
  bool armed() const { return owner_ != nullptr; }

 private:
  Owner* owner_ = nullptr;
  std::uint64_t id_ = 0;
};

enum class CloseReason : std::uint8_t {
  closed_by_peer,  // the peer closed gracefully, after everything it sent was received
  reset,           // the stream was aborted (peer reset, fault, peer process crashed)
};
std::string_view to_string(CloseReason reason);

// A bidirectional byte stream (TCP in the real backend).
class Connection {
 public:
  using ReceiveHandler = std::function<void(std::string_view bytes)>;
  using CloseHandler = std::function<void(CloseReason reason)>;

  // Destroying an open connection closes it gracefully.
  virtual ~Connection() = default;

  // Bytes that arrived before the handler was set are delivered once it is.
  virtual void on_receive(ReceiveHandler handler) = 0;
  virtual void on_close(CloseHandler handler) = 0;
  // Queues bytes; they arrive in order. Errc::buffer_full past the bounded send buffer,
  // Errc::closed after close, abort or a reset.
  virtual Status send(std::string_view bytes) = 0;
  // Graceful: queued bytes still arrive, then the peer sees the end. No callback runs afterwards.
  virtual void close() = 0;
  // Reset: the peer sees CloseReason::reset. No callback runs afterwards.
  virtual void abort() = 0;
  virtual bool is_open() const = 0;

  // Flow control, as TCP gives it.
  // Bytes given to send() that the peer has not read yet, as far as this side can tell (real: not
  // yet written to the socket; simulation: in flight, or arrived and not yet read).
  virtual std::size_t unsent_bytes() const = 0;
  // Runs once, from the event loop, when unsent_bytes() is at most `bytes` (soon, if it is now).
  // Replaces an earlier handler; none runs after close or abort.
  virtual void when_unsent_at_most(std::size_t bytes, std::function<void()> handler) = 0;
  // Paused, the connection reads nothing more and no receive handler runs: the peer's bytes wait
  // in the network, as they do for a process that stops reading. Resumed, what waited arrives.
  virtual void pause_receiving(bool paused) = 0;

  virtual Endpoint local_endpoint() const = 0;
  virtual Endpoint peer_endpoint() const = 0;
  // Unique within a world (simulation) or a process (real): for traces and logs.
  virtual std::uint64_t id() const = 0;

  // Bound on bytes queued and not yet delivered in one direction.
  static constexpr std::size_t send_buffer_bytes_max = 64 * 1024 * 1024;
};

class Listener {
 public:
  using AcceptHandler = std::function<void(std::unique_ptr<Connection> connection)>;
  // Destroying a listener stops accepting; established connections are unaffected, and those
  // waiting in its backlog are reset.
  virtual ~Listener() = default;
  virtual Endpoint local_endpoint() const = 0;
  // Paused, nothing more is accepted: a connecting client's handshake still completes, and it
  // waits in the listen backlog (the kernel's in real mode; `backlog_max` in the simulation)
  // until the listener resumes; past the backlog, its connect gets no answer and times out. Resumed,
  // those waiting are accepted in the order they came, from the event loop. A new listener accepts.
  virtual void pause_accepting(bool paused) = 0;

  // Linux's net.core.somaxconn default (and the backlog the real backend asks for).
  static constexpr std::size_t backlog_max = 4096;
};

struct ConnectOptions {
  Duration timeout = std::chrono::seconds(30);  // Postfix's smtp_connect_timeout
  // Source address; unset means the host's first address of the destination's family.
  std::optional<Address> source;
};

// A file opened for appending. Durability only through sync(): data appended and not yet synced
// may be lost, or torn (a prefix of it kept), when the process or machine crashes.
class File {
 public:
  using SyncHandler = std::function<void(Status status)>;
  virtual ~File() = default;
  virtual Status append(std::string_view bytes) = 0;
  virtual std::uint64_t size() const = 0;
  // fsync: the handler gets ok once everything appended before the call is durable.
  virtual Pending sync(SyncHandler handler) = 0;
};

class Io {
 public:
  using TimerHandler = std::function<void()>;
  using ConnectHandler = std::function<void(Result<std::unique_ptr<Connection>> connection)>;
  using DnsHandler = std::function<void(const DnsAnswer& answer)>;
  using SyncHandler = File::SyncHandler;

  virtual ~Io() = default;

  // --- identity
  virtual std::string_view node_name() const = 0;
  virtual std::string_view host_name() const = 0;
  virtual std::vector<Address> host_addresses() const = 0;

  // --- time
  virtual Instant now() const = 0;
  virtual Pending at(Instant when, TimerHandler handler) = 0;
  Pending after(Duration delay, TimerHandler handler) { return at(now() + delay, std::move(handler)); }

  // --- network
  virtual Result<std::unique_ptr<Listener>> listen(Endpoint local, Listener::AcceptHandler handler) = 0;
  virtual Pending connect(Endpoint remote, ConnectOptions options, ConnectHandler handler) = 0;

  // --- DNS
  virtual Pending resolve(std::string_view name, DnsType type, DnsHandler handler) = 0;

  // --- disk: paths are relative to the node's data directory, '/'-separated, without "..".
  virtual Result<std::unique_ptr<File>> create_file(std::string_view path) = 0;      // must not exist
  virtual Result<std::unique_ptr<File>> open_for_append(std::string_view path) = 0;  // must exist
  virtual Result<std::string> read_file(std::string_view path) = 0;
  // `length` bytes from `offset`, fewer where the file ends before.
  virtual Result<std::string> read_file_range(std::string_view path, std::uint64_t offset, std::size_t length) = 0;
  virtual Result<std::vector<std::string>> list_directory(std::string_view path) = 0;  // sorted names
  virtual Status make_directory(std::string_view path) = 0;                            // ok if it exists
  virtual Status rename_file(std::string_view from, std::string_view to) = 0;          // atomic, replaces `to`
  virtual Status remove_file(std::string_view path) = 0;
  // Makes the directory's entries (creations, renames, removals) durable.
  virtual Pending sync_directory(std::string_view path, SyncHandler handler) = 0;

  // --- randomness: an independent stream per (node, purpose)
  virtual Random random_stream(std::string_view purpose) = 0;

  // --- trace: one observable step; the implementation adds the instant and the node name.
  // A typed event (io/trace.hpp's Observation) is what checks read; plain fields are for steps
  // only people and the digest look at.
  template <typename Event>
  void observe(const Event& event) {
    const Observed<Event> observed(event);
    record(Event::kind, {}, &observed);
  }
  void trace(std::string_view kind, TraceFields fields) { record(kind, {fields.begin(), fields.size()}, nullptr); }
  // Whether SMTP commands and replies are traced too, a line each (endpoint/events.hpp's
  // DialogueLine). Off unless asked for: they multiply a run's trace several times.
  virtual bool traces_dialogue() const { return false; }

 protected:
  // `observation` set: the step's fields are what it writes, and `fields` is empty.
  virtual void record(std::string_view kind, std::span<const TraceField> fields, const Observation* observation) = 0;
};

// A program that runs on a host: the relay, a fake MX, a fake Salesforce org. It is constructed
// with its Io, started once from the event loop, and destroyed when its process stops or crashes
// (everything it kept in memory is then gone; its disk keeps what was synced).
class Node {
 public:
  virtual ~Node() = default;
  virtual void start() = 0;
  // One short line for people: what it is doing now.
  virtual std::string status() const = 0;
};

using NodeFactory = std::function<std::unique_ptr<Node>(Io& io)>;

}  // namespace relaysim::io
