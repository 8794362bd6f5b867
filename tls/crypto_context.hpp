#pragma once
// One OpenSSL library context with its own randomness. In the simulation every random byte
// OpenSSL draws - key generation, ECDSA nonces, TLS randoms, key shares - comes from a seeded
// io::Random stream, so certificates and handshakes are byte-identical across runs. In real mode
// the context is OpenSSL's default one, with OS entropy.

#include <cstdint>
#include <memory>

#include "io/random.hpp"

struct ossl_lib_ctx_st;
struct ossl_provider_st;

namespace relaysim::tls {

class CryptoContext {
 public:
  // Deterministic: a private library context whose DRBG is the given seed's stream.
  explicit CryptoContext(std::uint64_t seed);
  // OpenSSL's default context and randomness (real mode).
  static std::unique_ptr<CryptoContext> system();
  ~CryptoContext();
  CryptoContext(const CryptoContext&) = delete;
  CryptoContext& operator=(const CryptoContext&) = delete;

  ossl_lib_ctx_st* library() const { return library_; }
  bool deterministic() const { return deterministic_; }

 private:
  CryptoContext() = default;
  ossl_lib_ctx_st* library_ = nullptr;
  ossl_provider_st* default_provider_ = nullptr;
  ossl_provider_st* random_provider_ = nullptr;
  std::unique_ptr<io::Random> random_;
  bool deterministic_ = false;
};

}  // namespace relaysim::tls
