#pragma once
// OpenSSL with randomness a world owns. In the simulation every random byte OpenSSL draws - key
// generation, ECDSA nonces, TLS randoms, key shares - comes from a seeded io::Random stream, so
// certificates and handshakes are byte-identical across runs. In real mode the context is
// OpenSSL's default one, with OS entropy.
//
// All deterministic contexts share one OpenSSL library context: loading providers and fetching
// algorithms once per process, not once per world, is most of what a small world costs. Which
// stream a draw comes from is decided by the Scope open on the calling thread: the TLS engine, the
// forge and key generation each open one around their calls into OpenSSL.

#include <cstdint>
#include <memory>

#include "io/random.hpp"

struct ossl_lib_ctx_st;

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

  // While a Scope lives, what OpenSSL draws on this thread in the deterministic library comes from
  // `stream`; scopes nest, and a null stream leaves the current one in place. A draw outside any
  // scope comes from a fixed per-thread stream: only RSA blinding does that (a DKIM signature in a
  // world), and nothing it produces depends on those bytes.
  class Scope {
   public:
    explicit Scope(io::Random* stream);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    io::Random* previous_;
    bool active_;
  };
  // This context's stream for the calling thread; in real mode, nothing changes.
  Scope scope() const { return Scope(random_.get()); }

 private:
  CryptoContext() = default;
  ossl_lib_ctx_st* library_ = nullptr;
  std::unique_ptr<io::Random> random_;
  bool deterministic_ = false;
};

}  // namespace relaysim::tls
