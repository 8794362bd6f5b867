#pragma once
// DKIM (RFC 6376) signing and verification, with RFC 8301's algorithm rules (rsa-sha256 only for
// RSA, keys of at least 1024 bits) and RFC 8463's ed25519-sha256. Both canonicalisations (simple
// and relaxed, for header and body), the l= body length, and every signature on a message
// verified on its own, with a result and a reason each. Keys are published as TXT records at
// <selector>._domainkey.<domain>; DNS comes through Lookups (mailauth/lookups.hpp).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/time.hpp"
#include "mailauth/lookups.hpp"
#include "mailauth/message.hpp"

struct evp_pkey_st;

namespace relaysim::mailauth {

enum class Canonicalization : std::uint8_t { simple, relaxed };

// The canonical forms (RFC 6376 §3.4), exposed for tests against the RFC's examples.
std::string canonical_header(std::string_view raw_field, Canonicalization mode);
std::string canonical_body(std::string_view body, Canonicalization mode);

// RFC 8601's result words for DKIM.
enum class DkimResult : std::uint8_t { none, pass, fail, policy, neutral, temperror, permerror };
std::string_view to_string(DkimResult result);

struct DkimSignatureCheck {
  DkimResult result = DkimResult::none;
  std::string domain;     // d=
  std::string selector;   // s=
  std::string algorithm;  // a=
  std::string identity;   // i=, or "@" + d= when absent
  std::string b_prefix;   // the first 8 characters of b=, to tell signatures apart (RFC 6008)
  std::string reason;     // "body hash did not verify", "key revoked", ...
};

// Every DKIM-Signature of the message, top to bottom; none at all when it has none.
std::vector<DkimSignatureCheck> verify_dkim(std::string_view message, const Lookups& lookups, Instant now);

// A private key for signing, from PEM (RSA of at least 1024 bits, or Ed25519).
class DkimKey {
 public:
  static std::unique_ptr<DkimKey> from_pem(std::string_view private_key_pem, std::string* error = nullptr);
  // Takes ownership of a key made elsewhere (a forge).
  explicit DkimKey(evp_pkey_st* key);
  ~DkimKey();
  DkimKey(const DkimKey&) = delete;
  DkimKey& operator=(const DkimKey&) = delete;
  bool is_ed25519() const;
  std::string algorithm() const { return is_ed25519() ? "ed25519-sha256" : "rsa-sha256"; }
  // The TXT record that publishes the public half: "v=DKIM1; k=rsa; p=MIIBIjAN...".
  std::string txt_record() const;
  std::string private_key_pem() const;
  evp_pkey_st* native() const { return key_; }

 private:
  evp_pkey_st* key_;
};

struct DkimSignerConfig {
  std::string domain;    // d=
  std::string selector;  // s=
  Canonicalization header_canonicalization = Canonicalization::relaxed;
  Canonicalization body_canonicalization = Canonicalization::relaxed;
  // Signed fields, lower case; each present one is signed, and each in `oversigned` once more, so
  // that a field of that name added later breaks the signature (RFC 6376 §8.15).
  std::vector<std::string> headers{
      "from",       "to",       "cc",           "subject",      "date",
      "message-id", "reply-to", "mime-version", "content-type", "content-transfer-encoding"};
  std::vector<std::string> oversigned{"from"};
  std::string identity;                 // i=; empty: none
  Duration expire_after = Duration(0);  // x= this long after t=; 0: no x=
};

// The DKIM-Signature field ("DKIM-Signature: v=1; ...\r\n") to put on top of `message`.
std::string sign_dkim(std::string_view message, const DkimKey& key, const DkimSignerConfig& config, Instant now);

// A signer's key and where it signs, as a configuration names it (OpenDKIM's signing table).
struct DkimSigning {
  std::string domain;    // d=: mail whose From domain is this domain, or below it, is signed
  std::string selector;  // s=
  std::string key_name;  // as configured: a scenario's dkim_keys entry, or a PEM file
  std::shared_ptr<const DkimKey> key;
};
// The entry for a From domain, or null: the first whose domain is that domain or a parent of it.
const DkimSigning* signing_for(const std::vector<DkimSigning>& table, std::string_view from_domain);
// The signed message: the DKIM-Signature field, then `message`.
std::string sign_with(const DkimSigning& signing, std::string_view message, Instant now);

}  // namespace relaysim::mailauth
