#include "demo/line_nodes.hpp"

#include <map>
#include <memory>

namespace relaysim::demo {
namespace {

// Bound on a line and on unprocessed input per connection: a peer that sends more is cut off.
constexpr std::size_t line_bytes_max = 1000;

class LineServer final : public io::Node {
 public:
  LineServer(io::Io& io, LineServerConfig config) : io_(io), config_(std::move(config)) {}

  void start() override {
    recover();
    auto listener = io_.listen({io::Address::any_v4(), config_.port},
                               [this](std::unique_ptr<io::Connection> connection) { accept(std::move(connection)); });
    if (!listener) {
      io_.trace("lines.listen_failed", {{"error", listener.error().detail}});
      return;
    }
    listener_ = std::move(listener).value();
  }

  std::string status() const override {
    return "received " + std::to_string(durable_lines_) + " lines, " + std::to_string(sessions_.size()) +
           " connections open";
  }

 private:
  struct Session {
    std::unique_ptr<io::Connection> connection;
    std::string input;
    io::Pending sync;
    bool syncing = false;
  };

  // Lines that made it to disk before a crash count; a torn last line does not.
  void recover() {
    auto contents = io_.read_file(config_.journal);
    std::size_t complete = 0;
    if (contents) {
      const std::string& text = contents.value();
      for (char c : text) complete += c == '\n' ? 1 : 0;
    }
    durable_lines_ = complete;
    auto file = contents ? io_.open_for_append(config_.journal) : io_.create_file(config_.journal);
    if (!file) {
      io_.trace("lines.journal_failed", {{"error", file.error().detail}});
      return;
    }
    journal_ = std::move(file).value();
    if (!contents) {
      directory_sync_ = io_.sync_directory("", [this](io::Status status) {
        if (!status) io_.trace("lines.journal_failed", {{"error", status.error().detail}});
      });
    }
    io_.trace("lines.recovered", {{"lines", durable_lines_}});
  }

  void accept(std::unique_ptr<io::Connection> connection) {
    const std::uint64_t id = connection->id();
    Session& session = sessions_[id];
    session.connection = std::move(connection);
    session.connection->on_receive([this, id](std::string_view bytes) { receive(id, bytes); });
    session.connection->on_close([this, id](io::CloseReason) { sessions_.erase(id); });
  }

  void receive(std::uint64_t id, std::string_view bytes) {
    Session& session = sessions_.at(id);
    session.input.append(bytes);
    process(id);
  }

  // One line at a time: the next is read only after the previous one is durable and answered.
  void process(std::uint64_t id) {
    Session& session = sessions_.at(id);
    if (session.syncing) return;
    const std::size_t end = session.input.find('\n');
    if (end == std::string::npos) {
      if (session.input.size() > line_bytes_max) sessions_.erase(id);
      return;
    }
    std::string line = session.input.substr(0, end);
    session.input.erase(0, end + 1);
    if (!journal_ || !journal_->append(line + "\n")) {
      session.connection->send("error journal\n");
      return;
    }
    session.syncing = true;
    session.sync = journal_->sync([this, id, line](io::Status status) {
      Session& current = sessions_.at(id);
      current.syncing = false;
      if (!status) {
        current.connection->send("error " + status.error().detail + "\n");
        return;
      }
      durable_lines_ += 1;
      io_.trace("lines.stored", {{"line", line}, {"conn", id}});
      current.connection->send("ok " + line + "\n");
      process(id);
    });
  }

  io::Io& io_;
  LineServerConfig config_;
  std::unique_ptr<io::Listener> listener_;
  std::unique_ptr<io::File> journal_;
  io::Pending directory_sync_;
  std::map<std::uint64_t, Session> sessions_;  // ordered: nothing observable depends on addresses
  std::size_t durable_lines_ = 0;
};

class LineClient final : public io::Node {
 public:
  LineClient(io::Io& io, LineClientConfig config)
      : io_(io), config_(std::move(config)), random_(io.random_stream("backoff")) {}

  void start() override { resolve(); }

  std::string status() const override {
    return "answered " + std::to_string(next_line_ - 1) + "/" + std::to_string(config_.lines) + " lines, " +
           std::to_string(failures_) + " failures";
  }

 private:
  void resolve() {
    pending_ = io_.resolve(config_.server, io::DnsType::a, [this](const io::DnsAnswer& answer) {
      if (answer.status != io::DnsStatus::ok || answer.addresses.empty()) {
        fail("dns " + std::string(io::to_string(answer.status)));
        return;
      }
      connect(answer.addresses.front());
    });
  }

  void connect(io::Address address) {
    io::ConnectOptions options;
    options.timeout = config_.connect_timeout;
    pending_ =
        io_.connect({address, config_.port}, options, [this](io::Result<std::unique_ptr<io::Connection>> result) {
          if (!result) {
            fail(std::string(io::to_string(result.error().code)));
            return;
          }
          connection_ = std::move(result).value();
          connection_->on_receive([this](std::string_view bytes) { receive(bytes); });
          connection_->on_close([this](io::CloseReason reason) {
            connection_.reset();
            fail("connection " + std::string(io::to_string(reason)));
          });
          backoff_ = Duration(0);
          send_line();
        });
  }

  void send_line() {
    if (next_line_ > config_.lines) {
      io_.trace("lines.done", {{"lines", config_.lines}, {"failures", failures_}});
      connection_.reset();
      return;
    }
    const std::string line = "line " + std::to_string(next_line_);
    if (!connection_->send(line + "\n")) {
      fail("send");
      return;
    }
    io_.trace("lines.sent", {{"line", line}});
    pending_ = io_.after(config_.reply_timeout, [this] {
      connection_.reset();
      fail("reply timeout");
    });
  }

  void receive(std::string_view bytes) {
    input_.append(bytes);
    if (input_.size() > line_bytes_max) {
      connection_.reset();
      fail("reply too long");
      return;
    }
    std::size_t end = 0;
    while ((end = input_.find('\n')) != std::string::npos) {
      const std::string reply = input_.substr(0, end);
      input_.erase(0, end + 1);
      if (reply != "ok line " + std::to_string(next_line_)) {
        io_.trace("lines.unexpected", {{"reply", reply}});
        continue;
      }
      io_.trace("lines.answered", {{"line", next_line_}});
      next_line_ += 1;
      pending_ = io_.after(config_.interval, [this] {
        if (connection_) {
          send_line();
        } else {
          resolve();
        }
      });
    }
  }

  void fail(const std::string& reason) {
    connection_.reset();
    input_.clear();
    failures_ += 1;
    backoff_ = backoff_.count() == 0 ? config_.backoff_first : std::min(backoff_ * 2, config_.backoff_max);
    const Duration delay = backoff_ + random_.duration_between(Duration(0), backoff_ / 4);
    io_.trace("lines.retry", {{"reason", reason}, {"line", next_line_}, {"in", format_duration(delay)}});
    pending_ = io_.after(delay, [this] { resolve(); });
  }

  io::Io& io_;
  LineClientConfig config_;
  io::Random random_;
  io::Pending pending_;  // the one thing in flight: a lookup, a connect, a reply timer or a pause
  std::unique_ptr<io::Connection> connection_;
  std::string input_;
  int next_line_ = 1;
  int failures_ = 0;
  Duration backoff_{0};
};

}  // namespace

std::unique_ptr<io::Node> make_line_server(io::Io& io, LineServerConfig config) {
  return std::make_unique<LineServer>(io, std::move(config));
}

std::unique_ptr<io::Node> make_line_client(io::Io& io, LineClientConfig config) {
  return std::make_unique<LineClient>(io, std::move(config));
}

}  // namespace relaysim::demo
