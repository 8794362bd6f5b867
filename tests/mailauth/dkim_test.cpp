// DKIM: RFC 6376's canonicalisation example, signatures that verify and the ways they fail.

#include <openssl/evp.h>

#include <catch2/catch.hpp>

#include "io/zone.hpp"
#include "mailauth/dkim.hpp"
#include "support/dns_records.hpp"

using relaysim::testing::records;

using namespace relaysim;
using mailauth::Canonicalization;
using mailauth::DkimResult;

namespace {

const Instant now = Instant::from_unix_seconds(1'790'000'000);

std::unique_ptr<mailauth::DkimKey> new_key(bool ed25519) {
  EVP_PKEY* key = ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                          : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  REQUIRE(key != nullptr);
  return std::make_unique<mailauth::DkimKey>(key);
}

mailauth::DkimSignerConfig signer(Canonicalization mode = Canonicalization::relaxed) {
  mailauth::DkimSignerConfig config;
  config.domain = "acme.example";
  config.selector = "sel1";
  config.header_canonicalization = mode;
  config.body_canonicalization = mode;
  return config;
}

std::vector<mailauth::DkimSignatureCheck> verify(const std::string& message, const io::Zone& zone) {
  mailauth::Lookups lookups;
  return mailauth::run_with(
      lookups, [&](const mailauth::Lookups& answers) { return mailauth::verify_dkim(message, answers, now); },
      [&](const std::string& name, io::DnsType type) { return zone.answer(name, type, 300); });
}

const std::string message =
    "From: Acme News <news@acme.example>\r\n"
    "To: ann@dest.example\r\n"
    "Subject: March\r\n"
    "\tnewsletter, folded\r\n"
    "Date: Fri, 27 Nov 2026 17:00:00 +0000\r\n"
    "Message-ID: <1@acme.example>\r\n"
    "\r\n"
    "Hello Ann,  \r\n"
    "a line with trailing spaces and\ttabs \t\r\n"
    "\r\n"
    "\r\n";

}  // namespace

TEST_CASE("DKIM canonicalises RFC 6376 section 3.4.6's example", "[dkim]") {
  using mailauth::canonical_body;
  using mailauth::canonical_header;
  CHECK(canonical_header("A: X\r\n", Canonicalization::relaxed) == "a:X\r\n");
  CHECK(canonical_header("B : Y\t\r\n\tZ  \r\n", Canonicalization::relaxed) == "b:Y Z\r\n");
  CHECK(canonical_header("B : Y\t\r\n\tZ  \r\n", Canonicalization::simple) == "B : Y\t\r\n\tZ  \r\n");
  const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
  CHECK(canonical_body(body, Canonicalization::relaxed) == " C\r\nD E\r\n");
  CHECK(canonical_body(body, Canonicalization::simple) == " C \r\nD \t E\r\n");
  // Empty bodies: simple is one CRLF, relaxed is nothing (RFC 6376 §3.4.3, §3.4.4 and erratum 3133).
  CHECK(canonical_body("", Canonicalization::simple) == "\r\n");
  CHECK(canonical_body("\r\n\r\n", Canonicalization::simple) == "\r\n");
  CHECK(canonical_body("", Canonicalization::relaxed).empty());
  CHECK(canonical_body("no final line break", Canonicalization::simple) == "no final line break\r\n");
}

TEST_CASE("DKIM signatures verify for RSA and Ed25519, relaxed and simple", "[dkim]") {
  for (const bool ed25519 : {false, true}) {
    for (const auto mode : {Canonicalization::relaxed, Canonicalization::simple}) {
      auto key = new_key(ed25519);
      io::Zone zone;
      zone.set("sel1._domainkey.acme.example", records().txt(key->txt_record()));
      const mailauth::DkimSignerConfig config = signer(mode);
      const std::string signed_message = mailauth::sign_dkim(message, *key, config, now) + message;
      const auto checks = verify(signed_message, zone);
      REQUIRE(checks.size() == 1);
      INFO((ed25519 ? "ed25519 " : "rsa ")
           << (mode == Canonicalization::relaxed ? "relaxed" : "simple") << ": " << checks[0].reason);
      CHECK(checks[0].result == DkimResult::pass);
      CHECK(checks[0].domain == "acme.example");
      CHECK(checks[0].selector == "sel1");
      CHECK(checks[0].algorithm == (ed25519 ? "ed25519-sha256" : "rsa-sha256"));
      CHECK(checks[0].b_prefix.size() == 8);
    }
  }
}

TEST_CASE("DKIM tells each way a signature breaks", "[dkim]") {
  auto key = new_key(false);
  io::Zone zone;
  zone.set("sel1._domainkey.acme.example", records().txt(key->txt_record()));
  const mailauth::DkimSignerConfig relaxed = signer();
  const std::string signature = mailauth::sign_dkim(message, *key, relaxed, now);
  const auto result_of = [&](const std::string& text) {
    const auto checks = verify(text, zone);
    REQUIRE(checks.size() == 1);
    return std::pair(checks[0].result, checks[0].reason);
  };
  // Relaxed survives refolding and whitespace changes; simple does not.
  std::string refolded = signature + message;
  refolded.replace(refolded.find("Subject: March\r\n\tnewsletter"), 27, "Subject:   March newsletter");
  CHECK(result_of(refolded).first == DkimResult::pass);
  std::string body_changed = signature + message;
  body_changed.replace(body_changed.find("Hello Ann"), 9, "Hello Bob");
  CHECK(result_of(body_changed) == std::pair(DkimResult::fail, std::string("body hash did not verify")));
  std::string subject_changed = signature + message;
  subject_changed.replace(subject_changed.find("March"), 5, "April");
  CHECK(result_of(subject_changed) == std::pair(DkimResult::fail, std::string("signature did not verify")));
  // From is oversigned: a second From added on top breaks the signature.
  CHECK(result_of("From: attacker@evil.example\r\n" + signature + message).first == DkimResult::fail);
  // A field not signed may be added freely.
  CHECK(result_of("X-Added: by a relay\r\n" + signature + message).first == DkimResult::pass);
  // Keys: revoked, missing, of the wrong kind; the record's problems are permerrors.
  zone.set("sel1._domainkey.acme.example", records().txt("v=DKIM1; k=rsa; p="));
  CHECK(result_of(signature + message) == std::pair(DkimResult::permerror, std::string("key revoked")));
  zone.remove("sel1._domainkey.acme.example");
  CHECK(result_of(signature + message).first == DkimResult::permerror);
  zone.set("sel1._domainkey.acme.example", records().txt(new_key(true)->txt_record()));
  CHECK(result_of(signature + message).first == DkimResult::permerror);
  // rsa-sha1 is refused (RFC 8301), as are missing tags and an unsigned From.
  std::string sha1 = signature;
  sha1.replace(sha1.find("rsa-sha256"), 10, "rsa-sha1");
  CHECK(result_of(sha1 + message) ==
        std::pair(DkimResult::permerror, std::string("rsa-sha1 is not allowed (RFC 8301)")));
  CHECK(result_of("DKIM-Signature: v=1; a=rsa-sha256; d=acme.example; s=sel1; h=to; bh=AAAA; b=AAAA\r\n" + message)
            .second == "From is not signed");
  CHECK(result_of("DKIM-Signature: v=1; a=rsa-sha256\r\n" + message).first == DkimResult::permerror);
  // A message without signatures has no results.
  CHECK(verify(message, zone).empty());
}

TEST_CASE("DKIM reports a temporary key lookup failure as temperror", "[dkim]") {
  auto key = new_key(true);
  const std::string signed_message = mailauth::sign_dkim(message, *key, signer(), now) + message;
  mailauth::Lookups lookups;
  const auto checks = mailauth::run_with(
      lookups, [&](const mailauth::Lookups& answers) { return mailauth::verify_dkim(signed_message, answers, now); },
      [](const std::string& name, io::DnsType) {
        return io::DnsAnswer::without_records(io::DnsStatus::timeout, name);
      });
  REQUIRE(checks.size() == 1);
  CHECK(checks[0].result == DkimResult::temperror);
}

TEST_CASE("DKIM refuses an expired signature and an RSA key under 1024 bits", "[dkim]") {
  auto key = new_key(true);
  io::Zone zone;
  zone.set("sel1._domainkey.acme.example", records().txt(key->txt_record()));
  mailauth::DkimSignerConfig config = signer();
  config.expire_after = std::chrono::hours(1);
  const std::string signed_message = mailauth::sign_dkim(message, *key, config, now - std::chrono::hours(2)) + message;
  CHECK(signed_message.find("; x=") != std::string::npos);
  auto checks = verify(signed_message, zone);
  REQUIRE(checks.size() == 1);
  CHECK(checks[0].result == DkimResult::fail);
  CHECK(checks[0].reason == "signature expired");
  const std::string fresh = mailauth::sign_dkim(message, *key, config, now) + message;
  CHECK(verify(fresh, zone)[0].result == DkimResult::pass);

  EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{768});
  REQUIRE(small != nullptr);
  const mailauth::DkimKey weak(small);
  zone.set("sel1._domainkey.acme.example", records().txt(weak.txt_record()));
  checks = verify(mailauth::sign_dkim(message, weak, signer(), now) + message, zone);
  REQUIRE(checks.size() == 1);
  CHECK(checks[0].result == DkimResult::permerror);
  CHECK(checks[0].reason == "RSA key shorter than 1024 bits (RFC 8301)");
  std::string error;
  CHECK(mailauth::DkimKey::from_pem(weak.private_key_pem(), &error) == nullptr);
  CHECK(error == "an RSA DKIM key has at least 1024 bits (RFC 8301)");
}
