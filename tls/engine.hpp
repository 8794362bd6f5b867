#pragma once
// The TLS engine: OpenSSL over memory BIOs, sans-I/O. The owner feeds it the ciphertext that
// arrived and sends what it produces; plaintext goes in and out on the other side. The same engine
// runs in the simulation and on real sockets, so a certificate problem, a version mismatch or an
// aborted handshake behaves the same in both worlds.
//
// Deterministic in the simulation: randomness from the CryptoContext, TLS 1.3 session tickets and
// the session cache off, certificate verification at the virtual instant given.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/dns.hpp"
#include "io/time.hpp"
#include "tls/certificate.hpp"
#include "tls/crypto_context.hpp"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace relaysim::tls {

enum class Role : std::uint8_t { client, server };

enum class Verification : std::uint8_t {
  none,            // encrypt only: the peer's certificate is checked and reported, never enforced
  chain_and_name,  // the chain must lead to a trusted CA and the name must match, else the handshake fails
  // DANE (RFC 7672): the peer must match one of the engine's TLSA records, else the handshake
  // fails. DANE-EE(3) ignores names and dates; DANE-TA(2) checks the chain to the named anchor,
  // its dates and the peer name. An engine given no usable record accepts no peer.
  dane,
};

enum class Version : std::uint8_t { tls1_2, tls1_3 };

struct ContextConfig {
  Role role = Role::server;
  const Certificate* certificate = nullptr;  // the server's (or a client's) own
  std::vector<const Certificate*> chain;     // intermediates sent after it
  std::vector<const Certificate*> trusted;   // trust anchors for verifying the peer
  Verification verification = Verification::none;
  Version minimum = Version::tls1_2;
  Version maximum = Version::tls1_3;
  bool system_trust = false;  // also trust the operating system's CA store (real mode only)
};

// An SSL_CTX: made once per node configuration, shared by its engines. With a deterministic
// crypto context the SSL_CTX itself is shared by every world whose configuration names the same
// certificates (see process_cache.hpp); nothing in it changes after it is made.
class Context {
 public:
  Context(CryptoContext& crypto, const ContextConfig& config);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ssl_ctx_st* native() const { return native_; }
  const ContextConfig& config() const { return config_; }
  const CryptoContext& crypto() const { return crypto_; }

 private:
  const CryptoContext& crypto_;
  ssl_ctx_st* native_;
  ContextConfig config_;
};

struct SessionInfo {
  std::string version;       // "TLSv1.3"
  std::string cipher;        // "TLS_AES_256_GCM_SHA384"
  std::string peer_subject;  // "CN=mx1.dest.example,O=relaysim"; empty without a peer certificate
  std::string peer_issuer;
  bool peer_verified = false;                // chain to a trusted CA, valid now, name matches (when a name was given)
  std::string verify_error;                  // "certificate has expired", "hostname mismatch", ... when not verified
  std::optional<Instant> peer_not_after;     // when the peer's certificate expires, when it sent one
  bool peer_name_matches = false;            // the certificate names the peer name (or an alternate), chain aside
  std::optional<io::TlsaRecord> dane_match;  // DANE: the TLSA record the peer matched (its data left out)
};

class Engine {
 public:
  enum class State { handshaking, established, failed, closed };

  // `peer_name`: the client's expected server name (SNI and the name check); unused by servers.
  // `alternate_names`: further names a client accepts in the certificate (Salesforce accepts the
  // relay's domain or the MX it dialled).
  // `tlsa`: a DANE client's records for the server (with Verification::dane).
  Engine(const Context& context, Instant now, std::string_view peer_name = {},
         const std::vector<std::string>& alternate_names = {}, const std::vector<io::TlsaRecord>& tlsa = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts the handshake (a client's ClientHello becomes available in take_ciphertext()).
  void start();
  void receive_ciphertext(std::string_view bytes);
  std::string take_ciphertext();
  // Plaintext to protect; queued until the handshake is done.
  void send_plaintext(std::string_view bytes);
  std::string take_plaintext();
  // Sends close_notify.
  void close();

  State state() const { return state_; }
  const SessionInfo& info() const { return info_; }
  const std::string& error() const { return error_; }  // why the handshake or the session failed
  bool peer_closed() const { return peer_closed_; }

 private:
  void drive();
  void fail(std::string reason);
  void record_session();

  const CryptoContext& crypto_;
  ssl_st* ssl_;
  bio_st* incoming_;  // owned by ssl_
  bio_st* outgoing_;  // owned by ssl_
  Role role_;
  State state_ = State::handshaking;
  bool started_ = false;
  bool peer_closed_ = false;
  std::vector<std::string> peer_names_;  // a client's: the server name and its alternates
  std::string pending_plaintext_;
  std::string plaintext_;
  SessionInfo info_;
  std::string error_;
};

}  // namespace relaysim::tls
