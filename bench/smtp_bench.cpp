// Benchmarks of the protocol engines, in memory. Figures go to bench/RESULTS.md.
//
//   build/bench/smtp_bench [--commands N] [--transactions N] [--handshakes N]
//
// 1. Server session: pipelined NOOP commands parsed and answered per second; and a realistic
//    mix (MAIL, RCPT, RSET with decisions answered) per second.
// 2. Whole plaintext transactions, client session <-> server session: EHLO, MAIL, RCPT, DATA with
//    a 4 KiB message, QUIT, per second.
// 3. TLS 1.3 handshakes through two engines (X25519, ECDSA P-256), per second, with our seeded
//    randomness and with OpenSSL's own; compare with `openssl speed ecdhx25519 ecdsap256`.

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "smtp/client_session.hpp"
#include "smtp/server_session.hpp"
#include "tls/certificate.hpp"
#include "tls/engine.hpp"

using namespace relaysim;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

const Instant now = Instant::from_unix_seconds(1'772'442'000);

smtp::ServerConfig server_config() {
  smtp::ServerConfig config;
  config.hostname = "mx.example";
  config.hard_error_limit = 1 << 30;
  config.recipients_max = 1 << 30;
  return config;
}

void answer_all(smtp::ServerSession& session) {
  while (auto event = session.poll_event()) {
    if (session.awaiting_decision()) session.decide(now, smtp::Verdict::accept());
  }
}

void server_commands(std::uint64_t commands) {
  {
    smtp::ServerSession session(server_config(), now);
    session.receive(now, "EHLO bench.example\r\n");
    session.take_output();
    std::string batch;
    for (int i = 0; i < 1000; ++i) batch += "NOOP\r\n";
    const auto start = std::chrono::steady_clock::now();
    std::size_t output = 0;
    for (std::uint64_t done = 0; done < commands; done += 1000) {
      session.receive(now, batch);
      output += session.take_output().size();
    }
    const double elapsed = seconds_since(start);
    std::printf("server, pipelined NOOP:        %.2f million commands/s (%llu in %.3f s, %zu reply bytes)\n",
                static_cast<double>(commands) / elapsed / 1e6, static_cast<unsigned long long>(commands), elapsed,
                output);
  }
  {
    smtp::ServerSession session(server_config(), now);
    session.receive(now, "EHLO bench.example\r\n");
    session.take_output();
    std::string batch;
    for (int i = 0; i < 100; ++i) {
      batch +=
          "MAIL FROM:<news@acme.example> SIZE=4096\r\nRCPT TO:<ann@dest.example>\r\nRCPT TO:<bob@dest.example>\r\n";
      batch += "RSET\r\nNOOP\r\n";
    }
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t done = 0; done < commands; done += 500) {
      session.receive(now, batch);
      answer_all(session);
      session.take_output();
    }
    const double elapsed = seconds_since(start);
    std::printf("server, MAIL/RCPT/RSET mix:    %.2f million commands/s (decisions answered)\n",
                static_cast<double>(commands) / elapsed / 1e6);
  }
}

void transactions(std::uint64_t count) {
  std::string content = "From: <news@acme.example>\r\nTo: <ann@dest.example>\r\nSubject: bench\r\n\r\n";
  while (content.size() < 4096)
    content += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
  content.resize(4094);
  content += "\r\n";
  smtp::OutgoingMessage message;
  message.sender = smtp::Mailbox{"news", "acme.example", false, false};
  message.recipients.push_back({smtp::Mailbox{"ann", "dest.example", false, false}, {}});
  message.content = content;
  smtp::ClientConfig client_config;
  client_config.helo_name = "relay.acme.example";
  client_config.tls = smtp::ClientTls::none;
  const smtp::ServerConfig config = server_config();
  std::size_t delivered = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    smtp::ServerSession server(config, now);
    smtp::ClientSession client(client_config, now);
    bool sent = false;
    for (int round = 0; round < 20; ++round) {
      const std::string to_client = server.take_output();
      if (!to_client.empty()) client.receive(now, to_client);
      while (auto event = client.poll_event()) {
        if (std::holds_alternative<smtp::client_event::Ready>(*event)) {
          if (!sent) {
            sent = client.send(now, message);
          } else {
            client.quit(now);
          }
        } else if (const auto* finished = std::get_if<smtp::client_event::Finished>(&*event)) {
          delivered += finished->result.recipients[0].outcome == smtp::Outcome::delivered ? 1 : 0;
        }
      }
      const std::string to_server = client.take_output();
      if (to_server.empty() && to_client.empty()) break;
      if (!to_server.empty()) server.receive(now, to_server);
      answer_all(server);
    }
  }
  const double elapsed = seconds_since(start);
  std::printf("whole transactions, 4 KiB:     %.0f per second (%zu of %llu delivered, %.3f s)\n",
              static_cast<double>(count) / elapsed, delivered, static_cast<unsigned long long>(count), elapsed);
}

void handshakes(std::uint64_t count, bool seeded) {
  auto material_crypto = seeded ? std::make_unique<tls::CryptoContext>(1) : tls::CryptoContext::system();
  tls::Forge forge(*material_crypto);
  auto ca = forge.certificate_authority({"Bench CA", {}, now - days(1), now + days(365)});
  auto leaf = forge.issue({"mx.example", {}, now - days(1), now + days(90)}, ca.get());
  auto client_crypto = seeded ? std::make_unique<tls::CryptoContext>(2) : tls::CryptoContext::system();
  auto server_crypto = seeded ? std::make_unique<tls::CryptoContext>(3) : tls::CryptoContext::system();
  tls::Context server_context(
      *server_crypto,
      {tls::Role::server, leaf.get(), {}, {}, tls::Verification::none, tls::Version::tls1_3, tls::Version::tls1_3});
  tls::Context client_context(*client_crypto, {tls::Role::client,
                                               nullptr,
                                               {},
                                               {ca.get()},
                                               tls::Verification::chain_and_name,
                                               tls::Version::tls1_3,
                                               tls::Version::tls1_3});
  std::size_t established = 0;
  std::string cipher;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    tls::Engine client(client_context, now, "mx.example"), server(server_context, now);
    client.start();
    for (int round = 0; round < 6; ++round) {
      server.receive_ciphertext(client.take_ciphertext());
      client.receive_ciphertext(server.take_ciphertext());
    }
    if (client.state() == tls::Engine::State::established && client.info().peer_verified) ++established;
    cipher = client.info().cipher;
  }
  const double elapsed = seconds_since(start);
  std::printf("TLS 1.3 handshakes (%s, %s randomness): %.0f per second (%zu of %llu verified)\n", cipher.c_str(),
              seeded ? "seeded" : "OpenSSL's", static_cast<double>(count) / elapsed, established,
              static_cast<unsigned long long>(count));
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t commands = 5'000'000, count = 200'000, handshake_count = 2'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--commands") == 0) commands = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--transactions") == 0) count = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--handshakes") == 0) handshake_count = std::strtoull(argv[i + 1], nullptr, 10);
  }
  server_commands(commands);
  transactions(count);
  handshakes(handshake_count, true);
  handshakes(handshake_count, false);
  return 0;
}
