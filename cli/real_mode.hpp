#pragma once
// What the real-mode commands (`relaysim relay`, `mx`, `salesforce`) share: their log, their TLS
// material from PEM files, the options of their Io, and the file that says they are ready.

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <cxxopts.hpp>
#include <nlohmann/json_fwd.hpp>

#include "real/runtime.hpp"
#include "relay/delivery.hpp"
#include "scenario/real_config.hpp"
#include "tls/certificate.hpp"
#include "tls/engine.hpp"

namespace relaysim::cli {

// A process's log: the nodes' `log` events as lines a Postfix administrator reads without help
// ("Nov 27 17:30:01 relay.example relaysim/relay[4242]: connect from ..."), or, in JSON form,
// every trace event as one JSON line. Times are UTC. Lines are flushed as they are written until
// the log is attached to a runtime; from then on, once per burst of events the event loop handles
// (one write(2) for all the lines a burst produced, instead of one per line).
class DaemonLog {
 public:
  // `path` empty: standard error. Null when the file cannot be opened (the reason on stderr).
  static std::unique_ptr<DaemonLog> open(const std::string& path, bool json, std::string host_name);
  ~DaemonLog();
  // The runtime must outlive the log's use from its event loop.
  void flush_per_burst(real::Runtime& runtime) { runtime_ = &runtime; }
  void on_trace(const io::TraceEvent& event, std::string_view json_line);
  // The process's own messages ("starting", "reloading", "stopped").
  void note(std::string_view node, std::string_view line);
  // A line of the text log at `when` (a no-op in JSON mode, where every event is logged whole).
  void write_line(Instant when, std::string_view node, std::string_view line) {
    if (!json_) write(when, node, line);
  }
  bool json() const { return json_; }

 private:
  DaemonLog(std::FILE* out, bool owned, bool json, std::string host_name);
  void write(Instant when, std::string_view node, std::string_view line);
  void flush();
  std::FILE* out_;
  real::Runtime* runtime_ = nullptr;
  bool flush_posted_ = false;
  bool owned_;
  bool json_;
  std::string host_name_;
  int pid_;
  std::string buffer_;
};

// TLS contexts made from PEM files; they live as long as this does.
struct RealTls {
  std::unique_ptr<tls::CryptoContext> crypto;
  std::vector<std::unique_ptr<tls::Certificate>> certificates;
  std::unique_ptr<tls::Context> server;         // null without a certificate
  std::unique_ptr<tls::Context> client_plain;   // encrypt only
  std::unique_ptr<tls::Context> client_verify;  // chain and name; null without trust anchors
  std::unique_ptr<tls::Context> client_dane;    // against the host's TLSA records (dane, dane-only)
  std::unique_ptr<tls::Context> client_report;  // chain and name checked and reported, not enforced; null without trust
  // The relay's client side: plain, verify, dane and report.
  relay::DeliveryTls delivery() const {
    return {client_plain.get(), client_verify.get(), client_dane.get(), client_report.get()};
  }
};
// Fails with a message naming the file's problem (a key that does not match its certificate...).
// With a seed the contexts are deterministic, for a simulated world built from real-mode files.
io::Result<RealTls> make_real_tls(const scenario::TlsFiles& files, std::optional<std::uint64_t> seed = std::nullopt);

real::NodeOptions node_options(std::string node_name, std::string host_name, std::string data_directory,
                               const scenario::DnsSetup& dns, DaemonLog* log);

// The options every real-mode server takes: --config, --check-config, --log, --log-format,
// --ready-file (and --help).
struct ServerOptions {
  std::string config_path;
  std::string log_path;
  bool json_log = false;
  std::string ready_file;
  bool check_only = false;
};
void add_server_options(cxxopts::Options& parser, const char* what_config, const char* ready_contents);
// Throws cxxopts::exceptions::exception for a missing --config or a bad --log-format.
ServerOptions read_server_options(const cxxopts::ParseResult& parsed);

// Loads a configuration with `load` and its TLS files; on a mistake prints
// "relaysim COMMAND: FILE: ..." and returns nullopt (exit status 2).
template <typename Config, typename Load>
std::optional<std::pair<Config, RealTls>> load_server_config(const char* command, const std::string& path, Load load) {
  try {
    Config config = load(path);
    auto tls = make_real_tls(config.tls);
    if (!tls) {
      std::fprintf(stderr, "relaysim %s: %s: tls: %s\n", command, path.c_str(), tls.error().detail.c_str());
      return std::nullopt;
    }
    return std::pair<Config, RealTls>(std::move(config), std::move(tls).value());
  } catch (const scenario::InputError& error) {
    std::fprintf(stderr, "relaysim %s: %s: %s\n", command, path.c_str(), error.what());
    return std::nullopt;
  }
}

// Writes `content` to `path` atomically (a temporary file renamed over it); false on failure.
bool write_ready_file(const std::string& path, const nlohmann::json& content);

}  // namespace relaysim::cli
