// A real SMTP server built from our engines, for interoperability tests with peers nobody here
// wrote (swaks): the server session, the TLS engine and the endpoint driver on the real backend.
//
//   smtp_test_server --port-file F [--starttls] [--auth user:password] [--seconds N]
//
// Listens on a free loopback port (written to F), accepts every message and prints one JSON line
// per message on standard output. Stops on SIGTERM, or after --seconds as a safety net.

#include <csignal>
#include <cstdio>
#include <cxxopts.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "real/runtime.hpp"
#include "support/smtp_nodes.hpp"
#include "tls/certificate.hpp"

using namespace relaysim;

namespace {
volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }
}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options parser("smtp_test_server", "SMTP server from relaysim's engines, for interoperability tests");
  parser.add_options()("port-file", "write the listening port here", cxxopts::value<std::string>())(
      "starttls", "offer STARTTLS with a self-signed certificate")(
      "auth", "user:password to accept (AUTH PLAIN, LOGIN)", cxxopts::value<std::string>())(
      "seconds", "stop after this long at the latest", cxxopts::value<int>()->default_value("120"));
  const auto options = parser.parse(argc, argv);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  auto crypto = tls::CryptoContext::system();
  tls::Forge forge(*crypto);
  real::Runtime runtime;
  auto io = runtime.make_io(
      {"sink", "sink.test", "/tmp", std::nullopt, std::nullopt, std::chrono::seconds(5), {}, {}, false});
  const Instant now = io->now();
  auto certificate = forge.issue({"localhost", {"localhost"}, now - days(1), now + days(30)}, nullptr);
  tls::Context tls_context(*crypto, {tls::Role::server,
                                     certificate.get(),
                                     {},
                                     {},
                                     tls::Verification::none,
                                     tls::Version::tls1_2,
                                     tls::Version::tls1_3});

  smtp::ServerConfig config;
  config.hostname = "sink.test";
  config.starttls = options.count("starttls") > 0;
  std::map<std::string, std::string> users;
  if (options.count("auth")) {
    const std::string pair = options["auth"].as<std::string>();
    users[pair.substr(0, pair.find(':'))] = pair.substr(pair.find(':') + 1);
    config.auth_mechanisms = {"PLAIN", "LOGIN"};
  }
  testing::SinkRecord record;
  testing::SinkNode node(*io, {*io::Address::parse("127.0.0.1"), 0}, config, config.starttls ? &tls_context : nullptr,
                         users, record);
  node.start();
  std::ofstream(options["port-file"].as<std::string>()) << node.listening().port << "\n";

  std::size_t printed = 0;
  // Wake up regularly to notice signals and print what arrived.
  std::function<void()> tick;
  io::Pending ticker;
  tick = [&] {
    for (; printed < record.messages.size(); ++printed) {
      const auto& message = record.messages[printed];
      nlohmann::json line = {{"from", message.envelope.sender ? message.envelope.sender->to_string() : ""},
                             {"bytes", message.content.size()},
                             {"tls", record.tls_versions[printed]},
                             {"users", record.authenticated_users},
                             {"content", message.content}};
      for (const auto& recipient : message.envelope.recipients) line["to"].push_back(recipient.mailbox.to_string());
      std::printf("%s\n", line.dump().c_str());
      std::fflush(stdout);
    }
    ticker = io->after(std::chrono::milliseconds(50), tick);
  };
  tick();
  runtime.run_until([] { return stop_requested != 0; }, std::chrono::seconds(options["seconds"].as<int>()));
  tick();
  std::fprintf(stderr, "smtp_test_server: %zu messages, %d connections, %d violations\n", record.messages.size(),
               record.connections, record.violations);
  return 0;
}
