#pragma once
// Certificates for scenarios: a forge that makes CAs and leaf certificates from a description
// (names, validity window, issuer, key type) - valid, expired, not yet valid, for the wrong host,
// self-signed or from an untrusted CA - deterministically from the context's seed; and PEM loading
// for real mode.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/result.hpp"
#include "io/time.hpp"
#include "tls/crypto_context.hpp"

struct x509_st;
struct evp_pkey_st;

namespace relaysim::tls {

enum class KeyType : std::uint8_t { ec_p256, rsa_2048, ed25519 };

struct CertificateSpec {
  std::string common_name;
  std::vector<std::string> dns_names;  // subjectAltName; the common name is added when empty
  Instant not_before;
  Instant not_after;
  KeyType key = KeyType::ec_p256;
  bool certificate_authority = false;
  std::string organization = "relaysim";
  // The name the scenario knows it by: two certificates alike in everything else get different
  // keys (a look-alike CA is not the CA it imitates).
  std::string label{};
};

class Certificate {
 public:
  Certificate(x509_st* certificate, evp_pkey_st* key);  // takes ownership of both
  ~Certificate();
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  x509_st* x509() const { return certificate_; }
  evp_pkey_st* key() const { return key_; }  // null for a certificate loaded without its key
  std::string subject() const;               // "CN=relay.acme.example,O=relaysim"
  std::string issuer() const;
  std::string certificate_pem() const;
  std::string key_pem() const;             // empty without a key
  std::string fingerprint_sha256() const;  // hex
  // notBefore and notAfter; nullopt when OpenSSL cannot read them.
  std::optional<std::pair<Instant, Instant>> validity() const;
  // A TLSA record's data for this certificate (RFC 6698 2.1): selector 0 the certificate, 1 its
  // SubjectPublicKeyInfo; matching 0 those octets, 1 their SHA-256, 2 their SHA-512.
  std::string tlsa_data(std::uint8_t selector, std::uint8_t matching) const;

 private:
  x509_st* certificate_;
  evp_pkey_st* key_;
};

// Makes certificates in a context. With a deterministic context a certificate is a function of
// its identity - its spec and its issuer - not of the world that asks for it: its key, serial
// number and signature come from a stream seeded by that identity, and the process keeps what it
// forged, so the next world with the same certificate takes it without paying for a key.
class Forge {
 public:
  explicit Forge(CryptoContext& context) : context_(context) {}
  std::unique_ptr<Certificate> certificate_authority(const CertificateSpec& spec);
  // Signed by `issuer`; self-signed when issuer is null.
  std::unique_ptr<Certificate> issue(const CertificateSpec& spec, const Certificate* issuer);

 private:
  std::unique_ptr<Certificate> make(const CertificateSpec& spec, const Certificate* issuer, std::uint64_t serial);

  CryptoContext& context_;
  std::uint64_t serial_ = 1;  // real mode: certificates numbered in the order they are made
};

// Empties the process's store of forged certificates (and TLS contexts): what comes next is forged
// anew, byte-identical to what was kept.
void forget_forged();

// PEM text of a certificate and its private key (real mode: the files an administrator has).
// Without key text the certificate is only something to trust (an authority), never to present.
io::Result<std::unique_ptr<Certificate>> load_pem(CryptoContext& context, std::string_view certificate_pem,
                                                  std::string_view key_pem);

}  // namespace relaysim::tls
