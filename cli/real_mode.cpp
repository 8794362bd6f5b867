#include "cli/real_mode.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

namespace relaysim::cli {
namespace {

// Each "-----BEGIN CERTIFICATE-----" ... "-----END CERTIFICATE-----" block of a PEM text.
std::vector<std::string> certificate_blocks(std::string_view text) {
  constexpr std::string_view begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----";
  std::vector<std::string> blocks;
  std::size_t at = 0;
  while ((at = text.find(begin, at)) != std::string_view::npos) {
    const std::size_t stop = text.find(end, at);
    if (stop == std::string_view::npos) break;
    blocks.emplace_back(text.substr(at, stop + end.size() - at));
    blocks.back() += "\n";
    at = stop + end.size();
  }
  return blocks;
}

}  // namespace

std::unique_ptr<DaemonLog> DaemonLog::open(const std::string& path, bool json, std::string host_name) {
  if (host_name.empty()) {
    char buffer[256] = {};
    host_name = gethostname(buffer, sizeof buffer - 1) == 0 ? buffer : "localhost";
  }
  if (path.empty() || path == "-")
    return std::unique_ptr<DaemonLog>(new DaemonLog(stderr, false, json, std::move(host_name)));
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (file == nullptr) {
    std::fprintf(stderr, "relaysim: cannot open log file %s: %s\n", path.c_str(), std::strerror(errno));
    return nullptr;
  }
  return std::unique_ptr<DaemonLog>(new DaemonLog(file, true, json, std::move(host_name)));
}

DaemonLog::DaemonLog(std::FILE* out, bool owned, bool json, std::string host_name)
    : out_(out), owned_(owned), json_(json), host_name_(std::move(host_name)), pid_(static_cast<int>(getpid())) {
  if (owned_) std::setvbuf(out_, nullptr, _IOFBF, 64 * 1024);  // a file it opened: nothing written yet
}

DaemonLog::~DaemonLog() {
  if (owned_) std::fclose(out_);
}

void DaemonLog::on_trace(const io::TraceEvent& event, std::string_view json_line) {
  if (json_) {
    std::fwrite(json_line.data(), 1, json_line.size(), out_);
    flush();
    return;
  }
  if (event.kind != "log") return;
  for (const io::TraceField& field : event.fields) {
    if (field.key == "line") write(event.time, event.node, field.value.text());
  }
}

void DaemonLog::note(std::string_view node, std::string_view line) {
  const Instant now = Instant::from_unix_microseconds(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  if (json_) {
    buffer_.clear();
    const io::TraceField fields[] = {{"line", line}};
    io::append_json_line(buffer_, {0, now, node, "log", fields});
    std::fwrite(buffer_.data(), 1, buffer_.size(), out_);
    flush();
    return;
  }
  write(now, node, line);
}

void DaemonLog::write(Instant when, std::string_view node, std::string_view line) {
  const std::time_t seconds = static_cast<std::time_t>(when.unix_seconds());
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &parts);
  std::fprintf(out_, "%s %s relaysim/%.*s[%d]: %.*s\n", stamp, host_name_.c_str(), static_cast<int>(node.size()),
               node.data(), pid_, static_cast<int>(line.size()), line.data());
  flush();
}

void DaemonLog::flush() {
  if (runtime_ == nullptr) {
    std::fflush(out_);
    return;
  }
  if (flush_posted_) return;
  flush_posted_ = true;
  runtime_->post([this] {
    flush_posted_ = false;
    std::fflush(out_);
  });
}

io::Result<RealTls> make_real_tls(const scenario::TlsFiles& files, std::optional<std::uint64_t> seed) {
  RealTls out;
  out.crypto = seed ? std::make_unique<tls::CryptoContext>(*seed) : tls::CryptoContext::system();
  std::vector<const tls::Certificate*> chain, trusted;
  if (!files.certificate_pem.empty()) {
    const std::vector<std::string> blocks = certificate_blocks(files.certificate_pem);
    auto leaf = tls::load_pem(*out.crypto, blocks.empty() ? files.certificate_pem : blocks.front(), files.key_pem);
    if (!leaf) return io::Error{leaf.error().code, "cert_file/key_file: " + leaf.error().detail};
    const tls::Certificate* presented = leaf.value().get();
    out.certificates.push_back(std::move(leaf).value());
    for (std::size_t i = 1; i < blocks.size(); ++i) {
      auto intermediate = tls::load_pem(*out.crypto, blocks[i], "");
      if (!intermediate)
        return io::Error{intermediate.error().code,
                         "cert_file, certificate " + std::to_string(i + 1) + ": " + intermediate.error().detail};
      chain.push_back(intermediate.value().get());
      out.certificates.push_back(std::move(intermediate).value());
    }
    out.server = std::make_unique<tls::Context>(
        *out.crypto,
        tls::ContextConfig{
            tls::Role::server, presented, chain, {}, tls::Verification::none, files.minimum, files.maximum});
  }
  for (const std::string& block : certificate_blocks(files.trust_pem)) {
    auto anchor = tls::load_pem(*out.crypto, block, "");
    if (!anchor) return io::Error{anchor.error().code, "trust_file: " + anchor.error().detail};
    trusted.push_back(anchor.value().get());
    out.certificates.push_back(std::move(anchor).value());
  }
  out.client_plain = std::make_unique<tls::Context>(
      *out.crypto,
      tls::ContextConfig{
          tls::Role::client, nullptr, {}, {}, tls::Verification::none, tls::Version::tls1_2, tls::Version::tls1_3});
  out.client_dane = std::make_unique<tls::Context>(
      *out.crypto,
      tls::ContextConfig{
          tls::Role::client, nullptr, {}, {}, tls::Verification::dane, tls::Version::tls1_2, tls::Version::tls1_3});
  if (!trusted.empty() || files.system_trust) {
    out.client_verify =
        std::make_unique<tls::Context>(*out.crypto, tls::ContextConfig{tls::Role::client,
                                                                       nullptr,
                                                                       {},
                                                                       trusted,
                                                                       tls::Verification::chain_and_name,
                                                                       tls::Version::tls1_2,
                                                                       tls::Version::tls1_3,
                                                                       files.system_trust});
    out.client_report = std::make_unique<tls::Context>(*out.crypto, tls::ContextConfig{tls::Role::client,
                                                                                       nullptr,
                                                                                       {},
                                                                                       trusted,
                                                                                       tls::Verification::none,
                                                                                       tls::Version::tls1_2,
                                                                                       tls::Version::tls1_3,
                                                                                       files.system_trust});
  }
  return out;
}

real::NodeOptions node_options(std::string node_name, std::string host_name, std::string data_directory,
                               const scenario::DnsSetup& dns, DaemonLog* log) {
  real::NodeOptions options;
  options.node_name = std::move(node_name);
  options.host_name = std::move(host_name);
  options.data_directory = std::move(data_directory);
  options.nameserver = dns.nameserver;
  options.dns_timeout = dns.timeout;
  options.static_dns = dns.records;
  options.static_dns_only = dns.records_only;
  if (log != nullptr)
    options.on_trace = [log](const io::TraceEvent& event, std::string_view line) { log->on_trace(event, line); };
  return options;
}

void add_server_options(cxxopts::Options& parser, const char* what_config, const char* ready_contents) {
  parser.add_options()("config", what_config, cxxopts::value<std::string>())(
      "check-config", "check the configuration, its PEM files and keys, then exit")(
      "log", "write the log here instead of standard error", cxxopts::value<std::string>()->default_value(""))(
      "log-format", "text (Postfix-like lines) or json (every trace event)",
      cxxopts::value<std::string>()->default_value("text"))(
      "ready-file", ready_contents, cxxopts::value<std::string>()->default_value(""))("h,help", "this help");
}

ServerOptions read_server_options(const cxxopts::ParseResult& parsed) {
  if (!parsed.count("config")) throw cxxopts::exceptions::exception("--config FILE is required");
  ServerOptions options;
  options.config_path = parsed["config"].as<std::string>();
  options.log_path = parsed["log"].as<std::string>();
  const std::string format = parsed["log-format"].as<std::string>();
  if (format != "text" && format != "json") throw cxxopts::exceptions::exception("--log-format is text or json");
  options.json_log = format == "json";
  options.ready_file = parsed["ready-file"].as<std::string>();
  options.check_only = parsed.count("check-config") > 0;
  return options;
}

bool write_ready_file(const std::string& path, const nlohmann::json& content) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << content.dump() << "\n";
    if (!out) return false;
  }
  return std::rename(temporary.c_str(), path.c_str()) == 0;
}

}  // namespace relaysim::cli
