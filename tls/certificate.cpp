#include "tls/certificate.hpp"

#include <ctime>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "io/assert.hpp"
#include "tls/process_cache.hpp"

namespace relaysim::tls {
namespace {

std::string from_bio(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  return out;
}

std::string name_text(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  return from_bio(bio);
}

EVP_PKEY* generate_key(CryptoContext& context, KeyType type) {
  switch (type) {
    case KeyType::ec_p256: return EVP_PKEY_Q_keygen(context.library(), nullptr, "EC", "P-256");
    case KeyType::rsa_2048: return EVP_PKEY_Q_keygen(context.library(), nullptr, "RSA", static_cast<std::size_t>(2048));
    case KeyType::ed25519: return EVP_PKEY_Q_keygen(context.library(), nullptr, "ED25519");
  }
  return nullptr;
}

void add_extension(X509* certificate, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  RELAYSIM_ASSERT(extension != nullptr);
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

// What makes a certificate what it is, as text: two specs with the same identity forge the same
// certificate.
std::string identity_of(const CertificateSpec& spec, const Certificate* issuer) {
  std::string out = spec.label + '\n' + spec.organization + '\n' + spec.common_name + '\n';
  for (const std::string& name : spec.dns_names) out += name + ',';
  out += '\n' + std::to_string(spec.not_before.unix_seconds()) + '\n' + std::to_string(spec.not_after.unix_seconds()) +
         '\n' + std::to_string(static_cast<int>(spec.key)) + (spec.certificate_authority ? " ca\n" : " leaf\n") +
         (issuer != nullptr ? issuer->fingerprint_sha256() : std::string("self-signed"));
  return out;
}

// FNV-1a: a stable 64-bit digest of the identity, the seed of its stream.
std::uint64_t seed_of(std::string_view identity) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : identity) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::unique_ptr<Certificate> shared_copy(const Certificate& kept) {
  X509_up_ref(kept.x509());
  EVP_PKEY_up_ref(kept.key());
  return std::make_unique<Certificate>(kept.x509(), kept.key());
}

}  // namespace

ProcessCache<Certificate>& forged_certificates() {
  static ProcessCache<Certificate> cache;
  return cache;
}

ProcessCache<ssl_ctx_st>& made_contexts() {
  static ProcessCache<ssl_ctx_st> cache;
  return cache;
}

Certificate::Certificate(x509_st* certificate, evp_pkey_st* key) : certificate_(certificate), key_(key) {}
Certificate::~Certificate() {
  X509_free(certificate_);
  EVP_PKEY_free(key_);
}

std::string Certificate::subject() const { return name_text(X509_get_subject_name(certificate_)); }
std::string Certificate::issuer() const { return name_text(X509_get_issuer_name(certificate_)); }

std::string Certificate::certificate_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, certificate_);
  return from_bio(bio);
}

std::string Certificate::key_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_, nullptr, nullptr, 0, nullptr, nullptr);
  return from_bio(bio);
}

std::string Certificate::tlsa_data(std::uint8_t selector, std::uint8_t matching) const {
  unsigned char* der = nullptr;
  const int length =
      selector == 0 ? i2d_X509(certificate_, &der) : i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate_), &der);
  RELAYSIM_ASSERT(length > 0);
  std::string data(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  if (matching == 0) return data;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  EVP_Digest(data.data(), data.size(), digest, &digest_length, matching == 1 ? EVP_sha256() : EVP_sha512(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), digest_length);
}

std::optional<std::pair<Instant, Instant>> Certificate::validity() const {
  struct tm from {};
  struct tm until {};
  if (ASN1_TIME_to_tm(X509_get0_notBefore(certificate_), &from) != 1 ||
      ASN1_TIME_to_tm(X509_get0_notAfter(certificate_), &until) != 1)
    return std::nullopt;
  return std::pair{Instant::from_unix_seconds(static_cast<std::int64_t>(timegm(&from))),
                   Instant::from_unix_seconds(static_cast<std::int64_t>(timegm(&until)))};
}

std::string Certificate::fingerprint_sha256() const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  X509_digest(certificate_, EVP_sha256(), digest, &length);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::unique_ptr<Certificate> Forge::certificate_authority(const CertificateSpec& spec) {
  CertificateSpec ca = spec;
  ca.certificate_authority = true;
  return issue(ca, nullptr);
}

std::unique_ptr<Certificate> Forge::issue(const CertificateSpec& spec, const Certificate* issuer) {
  if (!context_.deterministic()) return make(spec, issuer, serial_++);
  const std::string identity = identity_of(spec, issuer);
  if (const std::shared_ptr<Certificate> kept = forged_certificates().find(identity)) return shared_copy(*kept);
  const std::uint64_t seed = seed_of(identity);
  io::Random stream = io::Random::stream(seed, "certificate");
  const CryptoContext::Scope scope(&stream);
  std::shared_ptr<Certificate> made = make(spec, issuer, seed >> 1);  // a positive serial, unique with its identity
  forged_certificates().keep(identity, made);
  return shared_copy(*made);
}

void forget_forged() {
  forged_certificates().clear();
  made_contexts().clear();
}

std::unique_ptr<Certificate> Forge::make(const CertificateSpec& spec, const Certificate* issuer, std::uint64_t serial) {
  EVP_PKEY* key = generate_key(context_, spec.key);
  RELAYSIM_ASSERT(key != nullptr);
  X509* certificate = X509_new_ex(context_.library(), nullptr);
  RELAYSIM_ASSERT(certificate != nullptr);
  X509_set_version(certificate, 2);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(certificate), serial);
  ASN1_TIME_set(X509_getm_notBefore(certificate), static_cast<time_t>(spec.not_before.unix_seconds()));
  ASN1_TIME_set(X509_getm_notAfter(certificate), static_cast<time_t>(spec.not_after.unix_seconds()));
  X509_set_pubkey(certificate, key);
  X509_NAME* name = X509_get_subject_name(certificate);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.organization.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer->x509() : certificate;
  X509_set_issuer_name(certificate, X509_get_subject_name(signer));
  if (spec.certificate_authority) {
    add_extension(certificate, signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(certificate, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(certificate, signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(certificate, signer, NID_ext_key_usage, "serverAuth,clientAuth");
    std::string names;
    const std::vector<std::string> dns_names =
        spec.dns_names.empty() ? std::vector<std::string>{spec.common_name} : spec.dns_names;
    for (const std::string& dns : dns_names) names += (names.empty() ? "DNS:" : ",DNS:") + dns;
    add_extension(certificate, signer, NID_subject_alt_name, names.c_str());
  }
  add_extension(certificate, signer, NID_subject_key_identifier, "hash");
  EVP_PKEY* signing_key = issuer != nullptr ? issuer->key() : key;
  // Ed25519 signs without a separate digest.
  const char* digest = EVP_PKEY_is_a(signing_key, "ED25519") ? nullptr : "SHA256";
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  RELAYSIM_ASSERT(EVP_DigestSignInit_ex(md, nullptr, digest, context_.library(), nullptr, signing_key, nullptr) == 1);
  RELAYSIM_ASSERT(X509_sign_ctx(certificate, md) > 0);
  EVP_MD_CTX_free(md);
  return std::make_unique<Certificate>(certificate, key);
}

io::Result<std::unique_ptr<Certificate>> load_pem(CryptoContext& context, std::string_view certificate_pem,
                                                  std::string_view key_pem) {
  BIO* bio = BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size()));
  X509* certificate = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (certificate == nullptr) return io::Error{io::Errc::invalid_argument, "no PEM certificate found"};
  if (key_pem.empty()) return std::make_unique<Certificate>(certificate, nullptr);
  bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey_ex(bio, nullptr, nullptr, nullptr, context.library(), nullptr);
  BIO_free(bio);
  if (key == nullptr) {
    X509_free(certificate);
    return io::Error{io::Errc::invalid_argument, "no PEM private key found"};
  }
  if (X509_check_private_key(certificate, key) != 1) {
    X509_free(certificate);
    EVP_PKEY_free(key);
    return io::Error{io::Errc::invalid_argument, "the private key does not match the certificate"};
  }
  return std::make_unique<Certificate>(certificate, key);
}

}  // namespace relaysim::tls
