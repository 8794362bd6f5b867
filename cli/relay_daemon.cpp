// `relaysim relay --config relay.json`: the relay as a long-running daemon on real sockets, real
// TLS, real DNS and a real disk. The node is the same RelayNode the simulation runs.
//
// SIGTERM or SIGINT: stop accepting, let sessions in progress finish (up to --drain-time), then
// exit. Deliveries in flight are abandoned safely: their recipients stay queued on disk and are
// tried again at the next start. Nothing acknowledged is lost, because the 250 after the final
// dot is only sent once the message is durable.
//
// SIGHUP: read the configuration again. A configuration with a mistake is logged and ignored; a
// good one replaces the running relay: the old one stops accepting and drains, then the new one
// starts, recovers the queue from disk and listens.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/real_mode.hpp"
#include "io/text.hpp"
#include "relay/relay_node.hpp"

namespace relaysim::cli {
namespace {

// Descriptors beyond the sessions: deliveries, queue files, DNS, the log.
constexpr rlim_t descriptors_headroom = 256;

// Each session holds a descriptor: the soft RLIMIT_NOFILE (1024 on a stock Debian shell or
// systemd unit) is raised toward the hard one until smtpd_connection_limit sessions fit, so that
// the limit, not EMFILE's 421, is what a burst meets. Returns the lines to log.
std::vector<std::string> make_room_for_sessions(int connection_limit) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return {};
  const rlim_t needed = static_cast<rlim_t>(connection_limit) + descriptors_headroom;
  std::vector<std::string> lines;
  if (limit.rlim_cur < needed && limit.rlim_cur < limit.rlim_max) {
    const rlim_t before = limit.rlim_cur;
    limit.rlim_cur = std::min(needed, limit.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = before;
    if (limit.rlim_cur != before) {
      lines.push_back("descriptor limit raised from " + std::to_string(before) + " to " +
                      std::to_string(limit.rlim_cur));
    }
  }
  if (limit.rlim_cur < needed) {
    lines.push_back("warning: descriptor limit " + std::to_string(limit.rlim_cur) +
                    " is below smtpd_connection_limit " + std::to_string(connection_limit) + " + " +
                    std::to_string(descriptors_headroom) +
                    ": past it, clients are told 421 4.3.2 (raise the hard limit: ulimit -Hn, systemd's LimitNOFILE)");
  }
  return lines;
}

struct RelayOptions {
  std::string config_path;
  std::string ready_file;
  Duration drain_time = std::chrono::seconds(30);
};

// One configuration running: its TLS material, its Io and its node, destroyed in reverse order.
struct RunningRelay {
  scenario::RelayDaemonConfig config;
  RealTls tls;
  std::unique_ptr<io::Io> io;
  std::unique_ptr<relay::RelayNode> node;
};

class RelayDaemon {
 public:
  RelayDaemon(real::Runtime& runtime, DaemonLog& log, RelayOptions options)
      : runtime_(runtime),
        log_(log),
        options_(std::move(options)),
        control_(runtime.make_io(node_options("control", "", "", {}, nullptr))) {}

  // Loads the configuration and starts the relay; false (with the reason logged) when it cannot.
  bool start() {
    auto loaded = load();
    if (!loaded) return false;
    return launch(std::move(loaded));
  }

  void stop() {
    if (stopping_) return;
    stopping_ = true;
    log_.note("relay", "stopping: no new sessions; waiting up to " + format_duration(options_.drain_time) + " for " +
                           std::to_string(current_->node->inbound().connections()) + " sessions");
    drain(std::move(current_), [this] {
      log_.note("relay", "stopped");
      runtime_.stop();
    });
  }

  void reload() {
    if (stopping_ || reloading_) return;
    log_.note("relay", "reloading " + options_.config_path);
    auto loaded = load();
    if (!loaded) {
      log_.note("relay", "warning: reload refused; the running configuration stays");
      return;
    }
    reloading_ = true;
    drain(std::move(current_), [this, next = std::shared_ptr<RunningRelay>(std::move(loaded))]() mutable {
      reloading_ = false;
      if (stopping_) return;
      auto owned = std::make_unique<RunningRelay>(std::move(*next));
      if (!launch(std::move(owned))) {
        log_.note("relay", "fatal: the reloaded configuration cannot run");
        exit_status_ = 1;
        runtime_.stop();
      }
    });
  }

  int exit_status() const { return exit_status_; }

 private:
  std::unique_ptr<RunningRelay> load() {
    auto running = std::make_unique<RunningRelay>();
    try {
      running->config = scenario::load_relay_daemon_config(options_.config_path);
    } catch (const scenario::InputError& error) {
      log_.note("relay", "error: " + options_.config_path + ": " + error.what());
      return nullptr;
    }
    auto tls = make_real_tls(running->config.tls);
    if (!tls) {
      log_.note("relay", "error: " + options_.config_path + ": tls: " + tls.error().detail);
      return nullptr;
    }
    running->tls = std::move(tls).value();
    return running;
  }

  bool launch(std::unique_ptr<RunningRelay> running) {
    const auto& config = running->config;
    for (const std::string& line : make_room_for_sessions(config.relay.smtpd_connection_limit)) {
      log_.note("relay", line);
    }
    running->io =
        runtime_.make_io(node_options("relay", config.relay.myhostname, config.data_directory, config.dns, &log_));
    relay::RelayTls tls{running->tls.server.get(), running->tls.delivery()};
    running->node = std::make_unique<relay::RelayNode>(*running->io, config.relay, tls);
    running->node->start();
    const std::vector<io::Endpoint> listening = running->node->inbound().listening();
    if (listening.size() != config.relay.listeners.size()) return false;  // the node logged why
    nlohmann::json ready = {{"pid", static_cast<int>(getpid())}, {"smtp", nlohmann::json::array()}};
    std::string where;
    for (const io::Endpoint& endpoint : listening) {
      ready["smtp"].push_back(endpoint.to_string());
      where += (where.empty() ? "" : ", ") + endpoint.to_string();
    }
    log_.note("relay", "ready: listening on " + where + ", queue " + config.data_directory + "/" +
                           config.relay.queue_directory + ", " + std::to_string(running->node->recovery().recovered) +
                           " messages recovered");
    if (!options_.ready_file.empty() && !write_ready_file(options_.ready_file, ready)) {
      log_.note("relay", "fatal: cannot write " + options_.ready_file);
      return false;
    }
    current_ = std::move(running);
    return true;
  }

  // Stops `running` accepting, waits for its sessions to end (at most the drain time), destroys
  // it, then calls `then`.
  void drain(std::unique_ptr<RunningRelay> running, std::function<void()> then) {
    running->node->stop_accepting();
    draining_ = std::move(running);
    drain_deadline_ = control_->now() + options_.drain_time;
    drain_then_ = std::move(then);
    check_drained();
  }

  void check_drained() {
    const std::size_t sessions = draining_->node->inbound().connections();
    if (sessions > 0 && control_->now() < drain_deadline_) {
      drain_poll_ = control_->after(std::chrono::milliseconds(50), [this] { check_drained(); });
      return;
    }
    if (sessions > 0) log_.note("relay", "warning: " + counted(sessions, "session") + " cut off after the drain time");
    // Never from inside a callback of the node's own Io: from the daemon's, on a fresh loop turn.
    drain_poll_ = control_->after(Duration(0), [this] {
      auto finished = std::move(draining_);
      auto then = std::move(drain_then_);
      finished->node.reset();
      finished->io.reset();
      finished.reset();
      then();
    });
  }

  real::Runtime& runtime_;
  DaemonLog& log_;
  RelayOptions options_;
  std::unique_ptr<io::Io> control_;  // the daemon's own timers; outlives every node
  std::unique_ptr<RunningRelay> current_;
  std::unique_ptr<RunningRelay> draining_;
  Instant drain_deadline_;
  std::function<void()> drain_then_;
  io::Pending drain_poll_;
  bool stopping_ = false;
  bool reloading_ = false;
  int exit_status_ = 0;
};

}  // namespace

cxxopts::Options relay_options() {
  cxxopts::Options parser("relaysim relay",
                          "the relay as a daemon: real sockets, TLS, DNS and disk (docs/real-mode.md)");
  add_server_options(parser, "the relay's configuration file (JSON)",
                     "once listening, write {\"pid\", \"smtp\": [addresses]} here");
  parser.add_options()("drain-time", "seconds sessions may take to finish on SIGTERM or SIGHUP",
                       cxxopts::value<int>()->default_value("30"));
  return parser;
}

int relay_command(int argc, char** argv) {
  cxxopts::Options parser = relay_options();
  ServerOptions server;
  RelayOptions options;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    server = read_server_options(parsed);
    options.config_path = server.config_path;
    options.ready_file = server.ready_file;
    options.drain_time = std::chrono::seconds(parsed["drain-time"].as<int>());
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("relay", error, argc, argv);
  }

  if (server.check_only) {
    const auto loaded = load_server_config<scenario::RelayDaemonConfig>("relay", options.config_path,
                                                                        scenario::load_relay_daemon_config);
    if (!loaded) return 2;
    const scenario::RelayDaemonConfig& config = loaded->first;
    std::printf(
        "%s: configuration OK: %zu listeners, queue %s/%s, %zu users, mynetworks %zu entries, %zu DKIM signing "
        "entries\n",
        options.config_path.c_str(), config.relay.listeners.size(), config.data_directory.c_str(),
        config.relay.queue_directory.c_str(), config.relay.users.size(), config.relay.mynetworks.size(),
        config.relay.dkim_signing.size());
    return 0;
  }

  auto log = DaemonLog::open(server.log_path, server.json_log, "");
  if (!log) return 2;
  std::signal(SIGPIPE, SIG_IGN);
  real::Runtime runtime;
  log->flush_per_burst(runtime);
  RelayDaemon daemon(runtime, *log, options);
  if (!daemon.start()) return 2;
  runtime.on_signal(SIGTERM, [&daemon] { daemon.stop(); });
  runtime.on_signal(SIGINT, [&daemon] { daemon.stop(); });
  runtime.on_signal(SIGHUP, [&daemon] { daemon.reload(); });
  runtime.run();
  return daemon.exit_status();
}

}  // namespace relaysim::cli
