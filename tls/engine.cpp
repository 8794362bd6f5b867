#include "tls/engine.hpp"

#include <algorithm>
#include <ctime>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "io/assert.hpp"
#include "tls/process_cache.hpp"

namespace relaysim::tls {
namespace {

constexpr long session_ticket_lifetime_seconds = 3600;

int native_version(Version version) { return version == Version::tls1_2 ? TLS1_2_VERSION : TLS1_3_VERSION; }

// The first error on OpenSSL's queue, as text; clears the queue.
std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "error " + std::to_string(code);
}

SSL_CTX* make_native(const CryptoContext& crypto, const ContextConfig& config) {
  SSL_CTX* native = SSL_CTX_new_ex(crypto.library(), nullptr,
                                   config.role == Role::client ? TLS_client_method() : TLS_server_method());
  RELAYSIM_ASSERT(native != nullptr);
  SSL_CTX_set_min_proto_version(native, native_version(config.minimum));
  SSL_CTX_set_max_proto_version(native, native_version(config.maximum));
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  if (crypto.deterministic() || config.role == Role::client) {
    // No tickets: every handshake is a full one, and nothing depends on wall time.
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(native, 0);
  } else {
    // A real server issues one stateless ticket per handshake (RFC 8446 §4.6.1; RFC 5077 for
    // TLS 1.2), valid for an hour as Postfix's smtpd_tls_session_cache_timeout: a sender that
    // resumes - a burst's later connections - skips the certificate and key exchange. The ticket
    // keys live in the SSL_CTX and change with it (at a restart or reload).
    SSL_CTX_set_num_tickets(native, 1);
    SSL_CTX_set_timeout(native, session_ticket_lifetime_seconds);
  }
  if (config.certificate != nullptr) {
    RELAYSIM_ASSERT(SSL_CTX_use_certificate(native, config.certificate->x509()) == 1);
    RELAYSIM_ASSERT(SSL_CTX_use_PrivateKey(native, config.certificate->key()) == 1);
    for (const Certificate* intermediate : config.chain) {
      X509_up_ref(intermediate->x509());
      SSL_CTX_add_extra_chain_cert(native, intermediate->x509());
    }
  }
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  for (const Certificate* anchor : config.trusted) X509_STORE_add_cert(store, anchor->x509());
  if (config.system_trust) SSL_CTX_set_default_verify_paths(native);
  if (config.verification == Verification::dane) {
    RELAYSIM_ASSERT(SSL_CTX_dane_enable(native) == 1);
    // As Postfix: a DANE-EE(3) match stands for the server's identity; its names are not checked.
    SSL_CTX_dane_set_flags(native, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
  }
  SSL_CTX_set_verify(native, config.verification == Verification::none ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  return native;
}

// A configuration's identity: the certificate objects it names (kept alive by the SSL_CTX that
// holds them, so an address is never reused while its entry lives) and its settings.
std::string identity_of(const ContextConfig& config) {
  std::string out = std::to_string(static_cast<int>(config.role)) + ' ' +
                    std::to_string(static_cast<int>(config.verification)) + ' ' +
                    std::to_string(static_cast<int>(config.minimum)) + ' ' +
                    std::to_string(static_cast<int>(config.maximum)) + (config.system_trust ? " system" : " own");
  const auto add = [&out](const char* what, const void* pointer) {
    out += std::string(" ") + what + std::to_string(reinterpret_cast<std::uintptr_t>(pointer));
  };
  if (config.certificate != nullptr) {
    add("certificate=", config.certificate->x509());
    add("key=", config.certificate->key());
  }
  for (const Certificate* intermediate : config.chain) add("chain=", intermediate->x509());
  for (const Certificate* anchor : config.trusted) add("trust=", anchor->x509());
  return out;
}

}  // namespace

Context::Context(CryptoContext& crypto, const ContextConfig& config) : crypto_(crypto), config_(config) {
  if (!crypto.deterministic()) {
    native_ = make_native(crypto, config);
    return;
  }
  const std::string identity = identity_of(config);
  std::shared_ptr<SSL_CTX> kept = made_contexts().find(identity);
  if (!kept) {
    // Making an SSL_CTX draws its session-ticket keys; tickets are off, and the bytes come from a
    // stream of their own so that no world's stream depends on whether the context was kept.
    io::Random stream = io::Random::stream(0, "ssl-context");
    const CryptoContext::Scope scope(&stream);
    kept = std::shared_ptr<SSL_CTX>(make_native(crypto, config), SSL_CTX_free);
    made_contexts().keep(identity, kept);
  }
  SSL_CTX_up_ref(kept.get());
  native_ = kept.get();
}

Context::~Context() { SSL_CTX_free(native_); }

Engine::Engine(const Context& context, Instant now, std::string_view peer_name,
               const std::vector<std::string>& alternate_names, const std::vector<io::TlsaRecord>& tlsa)
    : crypto_(context.crypto()), role_(context.config().role) {
  const CryptoContext::Scope scope = crypto_.scope();
  ssl_ = SSL_new(context.native());
  RELAYSIM_ASSERT(ssl_ != nullptr);
  incoming_ = BIO_new(BIO_s_mem());
  outgoing_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(incoming_, -1);  // an empty input buffer means "wait", not end of stream
  SSL_set_bio(ssl_, incoming_, outgoing_);
  // Certificates are judged at this instant: virtual time in the simulation.
  X509_VERIFY_PARAM* parameters = SSL_get0_param(ssl_);
  X509_VERIFY_PARAM_set_time(parameters, static_cast<time_t>(now.unix_seconds()));
  if (role_ == Role::client) {
    SSL_set_connect_state(ssl_);
    if (!peer_name.empty()) {
      const std::string name(peer_name);
      peer_names_.push_back(name);
      peer_names_.insert(peer_names_.end(), alternate_names.begin(), alternate_names.end());
      SSL_set_tlsext_host_name(ssl_, name.c_str());
      if (context.config().verification == Verification::dane) {
        // The TLSA base domain is the first reference identity (it sets the host below too).
        RELAYSIM_ASSERT(SSL_dane_enable(ssl_, name.c_str()) > 0);
        for (const io::TlsaRecord& record : tlsa) {
          SSL_dane_tlsa_add(ssl_, record.usage, record.selector, record.matching,
                            reinterpret_cast<const unsigned char*>(record.data.data()), record.data.size());
        }
        ERR_clear_error();  // an unusable record is skipped, as RFC 7672 2.2 says
      }
      X509_VERIFY_PARAM_set1_host(parameters, name.c_str(), name.size());
      X509_VERIFY_PARAM_set_hostflags(parameters, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      for (const std::string& alternate : alternate_names)
        X509_VERIFY_PARAM_add1_host(parameters, alternate.c_str(), alternate.size());
    }
  } else {
    SSL_set_accept_state(ssl_);
  }
}

Engine::~Engine() { SSL_free(ssl_); }

void Engine::start() {
  const CryptoContext::Scope scope = crypto_.scope();
  started_ = true;
  drive();
}

void Engine::receive_ciphertext(std::string_view bytes) {
  if (state_ == State::failed || state_ == State::closed) return;
  const CryptoContext::Scope scope = crypto_.scope();
  BIO_write(incoming_, bytes.data(), static_cast<int>(bytes.size()));
  started_ = true;
  drive();
}

std::string Engine::take_ciphertext() {
  std::string out;
  char buffer[16 * 1024];
  int length = 0;
  while ((length = BIO_read(outgoing_, buffer, sizeof buffer)) > 0)
    out.append(buffer, static_cast<std::size_t>(length));
  return out;
}

void Engine::send_plaintext(std::string_view bytes) {
  pending_plaintext_.append(bytes);
  const CryptoContext::Scope scope = crypto_.scope();
  if (state_ == State::established) drive();
}

std::string Engine::take_plaintext() { return std::exchange(plaintext_, std::string()); }

void Engine::close() {
  const CryptoContext::Scope scope = crypto_.scope();
  if (state_ == State::established) SSL_shutdown(ssl_);
  if (state_ != State::failed) state_ = State::closed;
}

void Engine::fail(std::string reason) {
  state_ = State::failed;
  error_ = std::move(reason);
  record_session();
}

void Engine::record_session() {
  const char* version = SSL_get_version(ssl_);
  info_.version = version != nullptr ? version : "";
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  info_.cipher = cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "";
  X509* peer = SSL_get1_peer_certificate(ssl_);
  if (peer != nullptr) {
    Certificate view(peer, nullptr);  // takes the reference; frees it at scope end
    info_.peer_subject = view.subject();
    info_.peer_issuer = view.issuer();
    if (const auto validity = view.validity()) info_.peer_not_after = validity->second;
    info_.peer_name_matches = std::any_of(peer_names_.begin(), peer_names_.end(), [&](const std::string& name) {
      return X509_check_host(peer, name.c_str(), name.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
    });
    const long result = SSL_get_verify_result(ssl_);
    info_.peer_verified = result == X509_V_OK;
    std::uint8_t usage = 0, selector = 0, matching = 0;
    if (info_.peer_verified && SSL_get0_dane_tlsa(ssl_, &usage, &selector, &matching, nullptr, nullptr) >= 0)
      info_.dane_match = io::TlsaRecord{usage, selector, matching, {}};
    if (!info_.peer_verified) info_.verify_error = X509_verify_cert_error_string(result);
  } else {
    info_.peer_verified = false;
    info_.verify_error = "no peer certificate";
  }
}

void Engine::drive() {
  if (!started_) return;
  if (state_ == State::handshaking) {
    ERR_clear_error();
    const int result = SSL_do_handshake(ssl_);
    if (result == 1) {
      state_ = State::established;
      record_session();
    } else {
      const int error = SSL_get_error(ssl_, result);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK && role_ == Role::client) {
        fail(std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify));
      } else {
        fail("handshake failed: " + openssl_error());
      }
      return;
    }
  }
  if (state_ != State::established) return;
  if (!pending_plaintext_.empty()) {
    ERR_clear_error();
    const int written = SSL_write(ssl_, pending_plaintext_.data(), static_cast<int>(pending_plaintext_.size()));
    if (written > 0) pending_plaintext_.erase(0, static_cast<std::size_t>(written));
  }
  char buffer[16 * 1024];
  while (true) {
    ERR_clear_error();
    const int length = SSL_read(ssl_, buffer, sizeof buffer);
    if (length > 0) {
      plaintext_.append(buffer, static_cast<std::size_t>(length));
      continue;
    }
    const int error = SSL_get_error(ssl_, length);
    if (error == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      state_ = State::closed;
    } else if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      fail("TLS error: " + openssl_error());
    }
    return;
  }
}

}  // namespace relaysim::tls
