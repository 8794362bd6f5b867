#include <catch2/catch.hpp>

#include "support/client_dialogue.hpp"
#include "support/test_world.hpp"
#include "tls/certificate.hpp"
#include "tls/engine.hpp"

using namespace relaysim;
using namespace relaysim::tls;

namespace {

using testing::t0;

// A scenario's certificate material: a CA the client trusts, another it does not, and leaves.
struct Material {
  explicit Material(std::uint64_t seed) : crypto(seed), forge(crypto) {
    trusted_ca = forge.certificate_authority({"Public CA", {}, t0() - days(365), t0() + days(3650)});
    untrusted_ca = forge.certificate_authority({"Shady CA", {}, t0() - days(365), t0() + days(3650)});
  }
  std::unique_ptr<Certificate> leaf(const char* name, Duration from, Duration until, const Certificate* issuer) {
    return forge.issue({name, {name}, t0() + from, t0() + until}, issuer);
  }
  CryptoContext crypto;
  Forge forge;
  std::unique_ptr<Certificate> trusted_ca;
  std::unique_ptr<Certificate> untrusted_ca;
};

struct Handshake {
  std::string transcript;  // every ciphertext byte, both ways, in order
  Engine::State client_state;
  Engine::State server_state;
  SessionInfo client_info;
  std::string client_error;
  std::string server_error;
};

// Runs a handshake between two engines through memory and exchanges one line each way.
Handshake handshake(const Certificate& server_certificate, const std::vector<const Certificate*>& trusted,
                    Verification verification, std::uint64_t client_seed, std::uint64_t server_seed,
                    const char* name = "mx1.dest.example", Version client_max = Version::tls1_3,
                    Version server_min = Version::tls1_2, const std::vector<io::TlsaRecord>& tlsa = {}) {
  CryptoContext client_crypto(client_seed), server_crypto(server_seed);
  ContextConfig server_config;
  server_config.role = Role::server;
  server_config.certificate = &server_certificate;
  server_config.minimum = server_min;
  ContextConfig client_config;
  client_config.role = Role::client;
  client_config.trusted = trusted;
  client_config.verification = verification;
  client_config.maximum = client_max;
  Context server_context(server_crypto, server_config), client_context(client_crypto, client_config);
  Engine server(server_context, t0()), client(client_context, t0(), name, {}, tlsa);
  client.start();
  Handshake result;
  for (int round = 0; round < 20; ++round) {
    const std::string to_server = client.take_ciphertext();
    const std::string to_client = server.take_ciphertext();
    if (to_server.empty() && to_client.empty()) break;
    result.transcript += to_server + to_client;
    if (!to_server.empty()) server.receive_ciphertext(to_server);
    if (!to_client.empty()) client.receive_ciphertext(to_client);
    if (client.state() == Engine::State::established && server.state() == Engine::State::established && round == 3) {
      client.send_plaintext("EHLO relay.acme.example\r\n");
      server.send_plaintext("220 ready\r\n");
    }
  }
  result.client_state = client.state();
  result.server_state = server.state();
  result.client_info = client.info();
  result.client_error = client.error();
  result.server_error = server.error();
  return result;
}

}  // namespace

TEST_CASE("a verified TLS 1.3 handshake between two engines, and data both ways", "[tls]") {
  Material material(1);
  auto certificate = material.leaf("mx1.dest.example", -days(1), days(90), material.trusted_ca.get());
  CryptoContext client_crypto(2), server_crypto(3);
  ContextConfig server_config{Role::server,    certificate.get(), {}, {}, Verification::none,
                              Version::tls1_2, Version::tls1_3};
  ContextConfig client_config{
      Role::client,    nullptr,        {}, {material.trusted_ca.get()}, Verification::chain_and_name,
      Version::tls1_2, Version::tls1_3};
  Context server_context(server_crypto, server_config), client_context(client_crypto, client_config);
  Engine server(server_context, t0()), client(client_context, t0(), "mx1.dest.example");
  client.start();
  client.send_plaintext("EHLO relay.acme.example\r\n");  // queued until the handshake is done
  for (int round = 0; round < 10; ++round) {
    server.receive_ciphertext(client.take_ciphertext());
    client.receive_ciphertext(server.take_ciphertext());
  }
  REQUIRE(client.state() == Engine::State::established);
  REQUIRE(server.state() == Engine::State::established);
  CHECK(client.info().version == "TLSv1.3");
  CHECK(client.info().peer_verified);
  CHECK(client.info().peer_subject == "CN=mx1.dest.example,O=relaysim");
  CHECK(client.info().peer_issuer == "CN=Public CA,O=relaysim");
  CHECK(server.take_plaintext() == "EHLO relay.acme.example\r\n");
  server.send_plaintext("250 mx1.dest.example\r\n");
  client.receive_ciphertext(server.take_ciphertext());
  CHECK(client.take_plaintext() == "250 mx1.dest.example\r\n");
}

TEST_CASE("handshakes are byte-identical for the same seeds, certificates for the same description",
          "[tls][determinism]") {
  const auto run = [](std::uint64_t seed) {
    Material material(seed);
    auto certificate = material.leaf("mx1.dest.example", -days(1), days(90), material.trusted_ca.get());
    const Handshake result =
        handshake(*certificate, {material.trusted_ca.get()}, Verification::chain_and_name, seed + 1, seed + 2);
    return std::make_pair(certificate->certificate_pem() + certificate->key_pem(), result.transcript);
  };
  const auto first = run(10), second = run(10), other = run(11);
  CHECK(first.first == second.first);
  CHECK(first.second == second.second);
  CHECK(first.second.size() > 500);
  // A certificate is a function of its description, not of the world's seed; the handshake's
  // randoms and key shares are the world's.
  CHECK(first.first == other.first);
  CHECK(first.second != other.second);
}

TEST_CASE("a forged certificate kept by the process is the one forged anew, and a look-alike is another",
          "[tls][determinism]") {
  CryptoContext crypto(1);
  Forge forge(crypto);
  CertificateSpec spec{"Public CA", {}, t0() - days(365), t0() + days(3650)};
  spec.label = "ca";
  const auto kept = forge.certificate_authority(spec);
  const auto again = Forge(crypto).certificate_authority(spec);
  CHECK(again->x509() == kept->x509());  // taken from the process's store: no key made
  forget_forged();
  const auto anew = forge.certificate_authority(spec);
  CHECK(anew->x509() != kept->x509());
  CHECK(anew->certificate_pem() == kept->certificate_pem());
  CHECK(anew->key_pem() == kept->key_pem());
  // The same subject and dates under another name: another key (a look-alike CA is not the CA).
  spec.label = "look-alike";
  const auto look_alike = forge.certificate_authority(spec);
  CHECK(look_alike->subject() == kept->subject());
  CHECK(look_alike->key_pem() != kept->key_pem());
  // A leaf's identity includes its issuer: the same leaf under the look-alike is another certificate.
  const auto leaf = forge.issue({"mx1.dest.example", {"mx1.dest.example"}, t0(), t0() + days(90)}, kept.get());
  const auto imitation =
      forge.issue({"mx1.dest.example", {"mx1.dest.example"}, t0(), t0() + days(90)}, look_alike.get());
  CHECK(leaf->certificate_pem() != imitation->certificate_pem());
}

TEST_CASE("certificate problems fail verification with the reason people search for", "[tls]") {
  Material material(4);
  struct Case {
    const char* what;
    std::unique_ptr<Certificate> certificate;
    const char* name;
    const char* error;
  };
  std::vector<Case> cases;
  cases.push_back({"expired", material.leaf("mx1.dest.example", -days(100), -days(1), material.trusted_ca.get()),
                   "mx1.dest.example", "certificate has expired"});
  cases.push_back({"not yet valid", material.leaf("mx1.dest.example", days(1), days(90), material.trusted_ca.get()),
                   "mx1.dest.example", "certificate is not yet valid"});
  cases.push_back({"wrong host", material.leaf("mail.other.example", -days(1), days(90), material.trusted_ca.get()),
                   "mx1.dest.example", "hostname mismatch"});
  cases.push_back({"untrusted CA", material.leaf("mx1.dest.example", -days(1), days(90), material.untrusted_ca.get()),
                   "mx1.dest.example", "unable to get local issuer certificate"});
  cases.push_back({"self-signed", material.leaf("mx1.dest.example", -days(1), days(90), nullptr), "mx1.dest.example",
                   "self-signed certificate"});
  for (const Case& test : cases) {
    CAPTURE(test.what);
    // Verifying: the client refuses the handshake.
    const Handshake verifying =
        handshake(*test.certificate, {material.trusted_ca.get()}, Verification::chain_and_name, 5, 6, test.name);
    CHECK(verifying.client_state == Engine::State::failed);
    CHECK(verifying.client_error == std::string("certificate verification failed: ") + test.error);
    // Encrypt-only: the session is up, and the problem is reported, not enforced.
    const Handshake encrypting =
        handshake(*test.certificate, {material.trusted_ca.get()}, Verification::none, 5, 6, test.name);
    CHECK(encrypting.client_state == Engine::State::established);
    CHECK_FALSE(encrypting.client_info.peer_verified);
    CHECK(encrypting.client_info.verify_error == test.error);
  }
}

TEST_CASE("DANE: a TLSA match authenticates the server, DANE-EE whatever its name and dates, DANE-TA with them",
          "[tls][dane]") {
  Material material(7);
  const auto expired_wrong_name = material.leaf("old-name.example", -days(400), -days(10), nullptr);
  const auto good = material.leaf("mx1.dest.example", -days(1), days(90), material.trusted_ca.get());
  // The same name and dates, another key (a forged certificate's key follows its label).
  const auto other = material.forge.issue({"mx1.dest.example",
                                           {"mx1.dest.example"},
                                           t0() - days(1),
                                           t0() + days(90),
                                           KeyType::ec_p256,
                                           false,
                                           "relaysim",
                                           "after the rotation"},
                                          material.trusted_ca.get());
  const auto dane = [](const Certificate& presented, std::vector<io::TlsaRecord> tlsa) {
    return handshake(presented, {}, Verification::dane, 8, 9, "mx1.dest.example", Version::tls1_3, Version::tls1_2,
                     tlsa);
  };
  const auto ee = [](const Certificate& certificate, std::uint8_t selector, std::uint8_t matching) {
    return io::TlsaRecord{3, selector, matching, certificate.tlsa_data(selector, matching)};
  };

  // DANE-EE(3): the key is the identity; a self-signed, expired certificate for another name passes.
  for (const auto& [selector, matching] : std::vector<std::pair<int, int>>{{1, 1}, {0, 1}, {1, 2}, {0, 0}}) {
    CAPTURE(selector, matching);
    const io::TlsaRecord record =
        ee(*expired_wrong_name, static_cast<std::uint8_t>(selector), static_cast<std::uint8_t>(matching));
    CHECK(record.data.size() == (matching == 1 ? 32u : matching == 2 ? 64u : record.data.size()));
    const Handshake matched = dane(*expired_wrong_name, {record});
    CHECK(matched.client_state == Engine::State::established);
    CHECK(matched.client_info.peer_verified);
    REQUIRE(matched.client_info.dane_match);
    CHECK(matched.client_info.dane_match->usage == 3);
  }
  // A record left behind after the key changed: no match, no session.
  const Handshake rotated = dane(*other, {ee(*good, 1, 1)});
  CHECK(rotated.client_state == Engine::State::failed);
  CHECK(rotated.client_error == "certificate verification failed: no matching DANE TLSA records");
  // Several records: one match is enough (a rollover publishes the old and the new key).
  CHECK(dane(*other, {ee(*good, 1, 1), ee(*other, 1, 1)}).client_info.peer_verified);

  // DANE-TA(2): the named authority anchors the chain; the server's name and dates still count.
  const io::TlsaRecord authority{2, 0, 0, material.trusted_ca->tlsa_data(0, 0)};
  CHECK(dane(*good, {authority}).client_info.peer_verified);
  const auto misnamed = material.leaf("mail.other.example", -days(1), days(90), material.trusted_ca.get());
  const Handshake wrong_name = dane(*misnamed, {authority});
  CHECK(wrong_name.client_state == Engine::State::failed);
  CHECK(wrong_name.client_error == "certificate verification failed: hostname mismatch");
  const auto stale = material.leaf("mx1.dest.example", -days(100), -days(1), material.trusted_ca.get());
  CHECK(dane(*stale, {authority}).client_error == "certificate verification failed: certificate has expired");
  const auto elsewhere = material.leaf("mx1.dest.example", -days(1), days(90), material.untrusted_ca.get());
  CHECK(dane(*elsewhere, {authority}).client_state == Engine::State::failed);
}

TEST_CASE("a version mismatch fails the handshake on both sides", "[tls]") {
  Material material(7);
  auto certificate = material.leaf("mx1.dest.example", -days(1), days(90), material.trusted_ca.get());
  const Handshake result =
      handshake(*certificate, {}, Verification::none, 8, 9, "mx1.dest.example", Version::tls1_2, Version::tls1_3);
  CHECK(result.client_state == Engine::State::failed);
  CHECK(result.server_state == Engine::State::failed);
  CHECK_THAT(result.server_error, Catch::Contains("unsupported protocol"));
}

TEST_CASE("PEM certificates and keys load back, and a mismatched key is refused", "[tls]") {
  Material material(12);
  auto certificate = material.leaf("relay.acme.example", -days(1), days(90), material.trusted_ca.get());
  auto loaded = load_pem(material.crypto, certificate->certificate_pem(), certificate->key_pem());
  REQUIRE(loaded);
  CHECK(loaded.value()->fingerprint_sha256() == certificate->fingerprint_sha256());
  auto mismatched = load_pem(material.crypto, certificate->certificate_pem(), material.trusted_ca->key_pem());
  REQUIRE_FALSE(mismatched);
  CHECK(mismatched.error().detail == "the private key does not match the certificate");
  CHECK_FALSE(load_pem(material.crypto, "junk", "junk"));
}

TEST_CASE("RSA and Ed25519 keys work as well as P-256", "[tls]") {
  Material material(13);
  for (const KeyType key : {KeyType::rsa_2048, KeyType::ed25519}) {
    auto certificate =
        material.forge.issue({"mx1.dest.example", {}, t0() - days(1), t0() + days(9), key}, material.trusted_ca.get());
    const Handshake result = handshake(*certificate, {material.trusted_ca.get()}, Verification::chain_and_name, 14, 15);
    CHECK(result.client_state == Engine::State::established);
    CHECK(result.client_info.peer_verified);
  }
}

TEST_CASE("STARTTLS end to end: our client and server sessions through two TLS engines", "[tls][smtp]") {
  using namespace relaysim::testing;
  Material material(20);
  auto certificate = material.leaf("mx.example", -days(1), days(90), material.trusted_ca.get());
  CryptoContext client_crypto(21), server_crypto(22);
  Context server_context(
      server_crypto, {Role::server, certificate.get(), {}, {}, Verification::none, Version::tls1_2, Version::tls1_3});
  Context client_context(client_crypto, {Role::client,
                                         nullptr,
                                         {},
                                         {material.trusted_ca.get()},
                                         Verification::chain_and_name,
                                         Version::tls1_2,
                                         Version::tls1_3});
  smtp::ServerConfig server_config = mx_config();
  server_config.starttls = true;
  server_config.auth_mechanisms = {"PLAIN"};
  ServerDialogue server(server_config, [](const smtp::ServerEvent& e) {
    if (const auto* auth = std::get_if<smtp::server_event::Auth>(&e)) {
      return auth->password == "s3cret" ? smtp::Verdict::accept()
                                        : smtp::Verdict::reject(smtp::Reply::make(535, "5.7.8", "no"));
    }
    return smtp::Verdict::accept();
  });
  smtp::ClientConfig client_config = relay_client_config(smtp::ClientTls::required);
  client_config.auth = smtp::Credentials{"sfdc", "s3cret", "PLAIN"};
  ClientDialogue client(client_config);

  std::unique_ptr<Engine> client_tls, server_tls;
  // Moves bytes until both sides are quiet, through TLS once each side has started it.
  const auto shuttle = [&] {
    for (int round = 0; round < 200; ++round) {
      std::string to_client = server.take_output();
      std::string to_server = client.take_output();
      if (server_tls) {
        if (!to_client.empty()) server_tls->send_plaintext(to_client);
        to_client = server_tls->take_ciphertext();
      }
      if (client_tls) {
        if (!to_server.empty()) client_tls->send_plaintext(to_server);
        to_server = client_tls->take_ciphertext();
      }
      if (to_client.empty() && to_server.empty()) return;
      if (client_tls) {
        client_tls->receive_ciphertext(to_client);
        if (client_tls->state() == Engine::State::established && !client.session.tls().active) {
          client.session.tls_started(client.now, {true, client_tls->info().version, client_tls->info().cipher,
                                                  client_tls->info().peer_subject, client_tls->info().peer_verified});
        }
        client.feed(client_tls->take_plaintext());
      } else if (!to_client.empty()) {
        client.feed(to_client);
      }
      if (server_tls) {
        server_tls->receive_ciphertext(to_server);
        if (server_tls->state() == Engine::State::established && !server.session.tls().active) {
          server.session.tls_started(server.now,
                                     {true, server_tls->info().version, server_tls->info().cipher, "", false});
        }
        server.feed(server_tls->take_plaintext());
      } else if (!to_server.empty()) {
        server.feed(to_server);
      }
      // Each side starts TLS when its session asks for it - after sending, in plaintext, what the
      // session said up to then (the "220 Ready to start TLS").
      if (!server_tls && !server.events_of<smtp::server_event::StartTls>().empty()) {
        client.feed(server.take_output());
        server_tls = std::make_unique<Engine>(server_context, server.now);
      }
      if (!client_tls && !client.events_of<smtp::client_event::StartTls>().empty()) {
        client_tls = std::make_unique<Engine>(client_context, client.now, "mx.example");
        client_tls->start();
      }
    }
  };
  shuttle();
  REQUIRE(client.session.ready());
  CHECK(client.session.tls().active);
  CHECK(client.session.tls().peer_verified);
  CHECK(server.session.authenticated_user() == "sfdc");
  REQUIRE(client.session.send(client.now,
                              message("news@acme.example", {"ann@dest.example"}, "Subject: secret\r\n\r\nhi\r\n")));
  shuttle();
  const auto messages = server.events_of<smtp::server_event::Message>();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].content == "Subject: secret\r\n\r\nhi\r\n");
  CHECK(client.events_of<smtp::client_event::Finished>().at(0).result.recipients[0].outcome ==
        smtp::Outcome::delivered);
}
