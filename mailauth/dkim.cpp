#include "mailauth/dkim.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <map>
#include <optional>

#include "io/text.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::mailauth {
namespace {

constexpr int rsa_bits_min = 1024;  // RFC 8301 §3.2
constexpr std::size_t b_prefix_length = 8;

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string without_whitespace(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (!is_wsp(c) && c != '\r' && c != '\n') out += c;
  }
  return out;
}

// Folding white space (RFC 5322 §3.2.2), which tag lists and header names are trimmed of.
constexpr std::string_view folding_whitespace = " \t\r\n";

// "tag=value; tag=value" (RFC 6376 §3.2); nullopt for a syntax error or a repeated tag.
std::optional<std::map<std::string, std::string>> parse_tags(std::string_view text) {
  std::map<std::string, std::string> tags;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t semicolon = std::min(text.find(';', at), text.size());
    const std::string_view spec = text.substr(at, semicolon - at);
    at = semicolon + 1;
    if (trim(spec, folding_whitespace).empty()) {
      if (semicolon >= text.size()) break;
      continue;  // a trailing ";" or an empty spec
    }
    const std::size_t equals = spec.find('=');
    if (equals == std::string_view::npos) return std::nullopt;
    const std::string name = trim(spec.substr(0, equals), folding_whitespace);
    if (name.empty() || !std::all_of(name.begin(), name.end(),
                                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; })) {
      return std::nullopt;
    }
    if (!tags.emplace(name, trim(spec.substr(equals + 1), folding_whitespace)).second) return std::nullopt;
    if (semicolon >= text.size()) break;
  }
  return tags;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// The DKIM-Signature field with the value of its b= tag removed (RFC 6376 §3.7).
std::string without_b_value(std::string_view raw) {
  const std::size_t colon = raw.find(':');
  std::string out(raw.substr(0, colon + 1));
  std::size_t at = colon + 1;
  while (at < raw.size()) {
    std::size_t semicolon = raw.find(';', at);
    if (semicolon == std::string_view::npos) semicolon = raw.size();
    std::string_view spec = raw.substr(at, semicolon - at);
    const std::size_t equals = spec.find('=');
    if (equals != std::string_view::npos && trim(spec.substr(0, equals), folding_whitespace) == "b") {
      out += spec.substr(0, equals + 1);
      // Keep a final CRLF that ended the field, drop the value and the space folded into it.
      if (semicolon == raw.size() && spec.ends_with("\r\n")) out += "\r\n";
    } else {
      out += spec;
    }
    if (semicolon < raw.size()) out += ';';
    at = semicolon + 1;
  }
  return out;
}

bool verify_signature(EVP_PKEY* key, bool ed25519, std::string_view data, std::string_view signature) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  bool good = false;
  if (ed25519) {
    const std::string digest = sha256(data);  // RFC 8463 §3: Ed25519 over the SHA-256 hash
    good = EVP_DigestVerifyInit(context, nullptr, nullptr, nullptr, key) == 1 &&
           EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) == 1;
  } else {
    good = EVP_DigestVerifyInit(context, nullptr, EVP_sha256(), nullptr, key) == 1 &&
           EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  }
  EVP_MD_CTX_free(context);
  return good;
}

std::string make_signature(EVP_PKEY* key, bool ed25519, std::string_view data) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  std::string digest;
  std::string_view input = data;
  if (ed25519) {
    digest = sha256(data);
    input = digest;
  }
  std::size_t length = 0;
  std::string signature;
  if (EVP_DigestSignInit(context, nullptr, ed25519 ? nullptr : EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestSign(context, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()), input.size()) ==
          1) {
    signature.resize(length);
    if (EVP_DigestSign(context, reinterpret_cast<unsigned char*>(signature.data()), &length,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1) {
      signature.resize(length);
    } else {
      signature.clear();
    }
  }
  EVP_MD_CTX_free(context);
  return signature;
}

// The canonicalised header fields named in `names`, each taken bottom-up (RFC 6376 §5.4.2).
std::string signed_headers(const ParsedMessage& message, const std::vector<std::string>& names, Canonicalization mode) {
  std::string out;
  std::map<std::string, std::size_t> used;  // per name: instances taken from the bottom so far
  for (const std::string& name : names) {
    std::size_t skip = used[name]++;
    for (auto field = message.fields.rbegin(); field != message.fields.rend(); ++field) {
      if (!equals_ignoring_case(field->name, name)) continue;
      if (skip-- > 0) continue;
      out += canonical_header(field->raw, mode);
      break;
    }
  }
  return out;
}

DkimSignatureCheck verify_one(const HeaderField& field, const ParsedMessage& message, const Lookups& lookups,
                              Instant now) {
  DkimSignatureCheck check;
  const auto fail = [&check](DkimResult result, std::string reason) {
    check.result = result;
    check.reason = std::move(reason);
    return check;
  };
  const auto tags = parse_tags(field.value());
  if (!tags) return fail(DkimResult::permerror, "malformed tag list");
  const auto tag = [&](const char* name) -> std::optional<std::string> {
    const auto found = tags->find(name);
    if (found == tags->end()) return std::nullopt;
    return found->second;
  };
  check.domain = to_lower(tag("d").value_or(""));
  check.selector = tag("s").value_or("");
  check.algorithm = tag("a").value_or("");
  check.b_prefix = without_whitespace(tag("b").value_or("")).substr(0, b_prefix_length);
  for (const char* required : {"v", "a", "b", "bh", "d", "h", "s"}) {
    if (!tag(required)) return fail(DkimResult::permerror, std::string("missing ") + required + "= tag");
  }
  if (*tag("v") != "1") return fail(DkimResult::permerror, "unknown version v=" + *tag("v"));
  const std::string algorithm = to_lower(check.algorithm);
  if (algorithm == "rsa-sha1") return fail(DkimResult::permerror, "rsa-sha1 is not allowed (RFC 8301)");
  if (algorithm != "rsa-sha256" && algorithm != "ed25519-sha256")
    return fail(DkimResult::permerror, "unknown algorithm a=" + algorithm);
  const bool ed25519 = algorithm == "ed25519-sha256";
  Canonicalization header_mode = Canonicalization::simple, body_mode = Canonicalization::simple;
  if (auto c = tag("c")) {
    const std::string value = to_lower(*c);
    const std::size_t slash = value.find('/');
    const auto mode = [](std::string_view text) -> std::optional<Canonicalization> {
      if (text == "simple") return Canonicalization::simple;
      if (text == "relaxed") return Canonicalization::relaxed;
      return std::nullopt;
    };
    const auto header = mode(value.substr(0, slash));
    const auto body =
        slash == std::string::npos ? std::optional(Canonicalization::simple) : mode(value.substr(slash + 1));
    if (!header || !body) return fail(DkimResult::permerror, "unknown canonicalization c=" + value);
    header_mode = *header;
    body_mode = *body;
  }
  std::vector<std::string> names;
  {
    const std::string h = *tag("h");
    std::size_t at = 0;
    while (at <= h.size()) {
      const std::size_t colon = std::min(h.find(':', at), h.size());
      const std::string name = to_lower(trim(std::string_view(h).substr(at, colon - at), folding_whitespace));
      if (name.empty()) return fail(DkimResult::permerror, "malformed h= tag");
      names.push_back(name);
      at = colon + 1;
    }
    if (std::find(names.begin(), names.end(), "from") == names.end())
      return fail(DkimResult::permerror, "From is not signed");
  }
  check.identity = tag("i").value_or("@" + check.domain);
  {
    const std::string identity_domain = to_lower(check.identity.substr(check.identity.rfind('@') + 1));
    if (identity_domain != check.domain && !identity_domain.ends_with("." + check.domain)) {
      return fail(DkimResult::permerror, "i= is not in the d= domain");
    }
  }
  std::optional<std::uint64_t> length;
  if (auto l = tag("l")) {
    if (l->empty() || l->size() > 76 || l->find_first_not_of("0123456789") != std::string::npos)
      return fail(DkimResult::permerror, "malformed l= tag");
    length = std::stoull(*l);
  }
  if (auto x = tag("x")) {
    if (x->empty() || x->size() > 12 || x->find_first_not_of("0123456789") != std::string::npos)
      return fail(DkimResult::permerror, "malformed x= tag");
    if (static_cast<std::int64_t>(std::stoll(*x)) < now.unix_seconds())
      return fail(DkimResult::fail, "signature expired");
  }

  // The key (RFC 6376 §3.6.2).
  const io::DnsAnswer& answer = lookups.get(check.selector + "._domainkey." + check.domain, io::DnsType::txt);
  if (answer.temporary_failure())
    return fail(DkimResult::temperror, "key lookup: " + std::string(io::to_string(answer.status)));
  if (answer.status == io::DnsStatus::nxdomain || answer.texts.empty())
    return fail(DkimResult::permerror, "no key for selector " + check.selector);
  if (answer.texts.size() > 1)
    return fail(DkimResult::permerror, "more than one key record for selector " + check.selector);
  const auto key_tags = parse_tags(answer.texts.front());
  if (!key_tags) return fail(DkimResult::permerror, "malformed key record");
  const auto key_tag = [&](const char* name) -> std::optional<std::string> {
    const auto found = key_tags->find(name);
    if (found == key_tags->end()) return std::nullopt;
    return found->second;
  };
  if (auto v = key_tag("v"); v && *v != "DKIM1") return fail(DkimResult::permerror, "key record is not v=DKIM1");
  const std::string key_type = to_lower(key_tag("k").value_or("rsa"));
  if (key_type != (ed25519 ? "ed25519" : "rsa"))
    return fail(DkimResult::permerror, "key type k=" + key_type + " does not match a=" + algorithm);
  if (auto hashes = key_tag("h"); hashes && to_lower(*hashes).find("sha256") == std::string::npos) {
    return fail(DkimResult::permerror, "key does not allow sha256");
  }
  if (auto service = key_tag("s");
      service && *service != "*" && to_lower(*service).find("email") == std::string::npos) {
    return fail(DkimResult::permerror, "key is not for email");
  }
  const std::string p = without_whitespace(key_tag("p").value_or(""));
  if (p.empty()) return fail(DkimResult::permerror, "key revoked");
  const auto key_bytes = smtp::decode_base64(p);
  if (!key_bytes) return fail(DkimResult::permerror, "malformed p= in key record");
  Pkey key;
  if (ed25519) {
    if (key_bytes->size() != 32) return fail(DkimResult::permerror, "Ed25519 key is not 32 bytes");
    key.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char*>(key_bytes->data()), 32));
  } else {
    const unsigned char* bytes = reinterpret_cast<const unsigned char*>(key_bytes->data());
    key.reset(d2i_PUBKEY(nullptr, &bytes, static_cast<long>(key_bytes->size())));
    if (key && EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
      return fail(DkimResult::permerror, "k=rsa record holds another kind of key");
    if (key && EVP_PKEY_get_bits(key.get()) < rsa_bits_min)
      return fail(DkimResult::permerror, "RSA key shorter than 1024 bits (RFC 8301)");
  }
  if (!key) return fail(DkimResult::permerror, "unusable public key");

  // The body hash (RFC 6376 §3.7).
  std::string body = canonical_body(message.body, body_mode);
  if (length) {
    if (*length > body.size()) return fail(DkimResult::fail, "l= is longer than the body");
    body.resize(*length);
  }
  const auto expected_body_hash = smtp::decode_base64_lines(*tag("bh"));
  if (!expected_body_hash) return fail(DkimResult::permerror, "malformed bh= tag");
  if (sha256(body) != *expected_body_hash) return fail(DkimResult::fail, "body hash did not verify");

  // The header hash, then the signature.
  std::string data = signed_headers(message, names, header_mode);
  std::string own = canonical_header(without_b_value(field.raw), header_mode);
  if (own.ends_with("\r\n")) own.resize(own.size() - 2);
  data += own;
  const auto signature = smtp::decode_base64_lines(*tag("b"));
  if (!signature) return fail(DkimResult::permerror, "malformed b= tag");
  if (!verify_signature(key.get(), ed25519, data, *signature))
    return fail(DkimResult::fail, "signature did not verify");
  check.result = DkimResult::pass;
  return check;
}

std::string fold_base64(std::string_view text) {
  std::string out;
  for (std::size_t at = 0; at < text.size(); at += 64) {
    if (at > 0) out += "\r\n\t ";
    out += text.substr(at, 64);
  }
  return out;
}

}  // namespace

std::string canonical_header(std::string_view raw_field, Canonicalization mode) {
  if (mode == Canonicalization::simple) {
    std::string out(raw_field);
    if (!out.ends_with("\r\n")) out += "\r\n";
    return out;
  }
  const std::size_t colon = raw_field.find(':');
  std::string out = to_lower(trim(raw_field.substr(0, colon), folding_whitespace));
  out += ':';
  std::string value;
  bool space = false;
  for (char c : raw_field.substr(colon + 1)) {
    if (c == '\r' || c == '\n') continue;  // unfold
    if (is_wsp(c)) {
      space = true;
      continue;
    }
    if (space && !value.empty()) value += ' ';
    space = false;
    value += c;
  }
  out += value;
  out += "\r\n";
  return out;
}

std::string canonical_body(std::string_view body, Canonicalization mode) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < body.size()) {
    const std::size_t crlf = body.find("\r\n", at);
    const std::size_t end = crlf == std::string_view::npos ? body.size() : crlf;
    std::string line(body.substr(at, end - at));
    if (mode == Canonicalization::relaxed) {
      std::string reduced;
      bool space = false;
      for (char c : line) {
        if (is_wsp(c)) {
          space = true;
          continue;
        }
        if (space) reduced += ' ';
        space = false;
        reduced += c;
      }
      line = std::move(reduced);  // whitespace at the end of the line is gone
    }
    lines.push_back(std::move(line));
    at = crlf == std::string_view::npos ? body.size() : crlf + 2;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::string out;
  for (const std::string& line : lines) out += line + "\r\n";
  if (out.empty() && mode == Canonicalization::simple) out = "\r\n";
  return out;
}

std::string_view to_string(DkimResult result) {
  switch (result) {
    case DkimResult::none: return "none";
    case DkimResult::pass: return "pass";
    case DkimResult::fail: return "fail";
    case DkimResult::policy: return "policy";
    case DkimResult::neutral: return "neutral";
    case DkimResult::temperror: return "temperror";
    case DkimResult::permerror: return "permerror";
  }
  return "none";
}

std::vector<DkimSignatureCheck> verify_dkim(std::string_view message, const Lookups& lookups, Instant now) {
  const ParsedMessage parsed = parse_message(message);
  std::vector<DkimSignatureCheck> checks;
  for (const HeaderField& field : parsed.fields) {
    if (equals_ignoring_case(field.name, "DKIM-Signature")) checks.push_back(verify_one(field, parsed, lookups, now));
  }
  return checks;
}

std::unique_ptr<DkimKey> DkimKey::from_pem(std::string_view private_key_pem, std::string* error) {
  BIO* bio = BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  const auto refuse = [&](const char* why) -> std::unique_ptr<DkimKey> {
    if (error != nullptr) *error = why;
    EVP_PKEY_free(key);
    return nullptr;
  };
  if (key == nullptr) return refuse("no PEM private key found");
  const int type = EVP_PKEY_get_base_id(key);
  if (type != EVP_PKEY_RSA && type != EVP_PKEY_ED25519) return refuse("a DKIM key is RSA or Ed25519");
  if (type == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) < rsa_bits_min)
    return refuse("an RSA DKIM key has at least 1024 bits (RFC 8301)");
  return std::make_unique<DkimKey>(key);
}

DkimKey::DkimKey(evp_pkey_st* key) : key_(key) {}
DkimKey::~DkimKey() { EVP_PKEY_free(key_); }
bool DkimKey::is_ed25519() const { return EVP_PKEY_get_base_id(key_) == EVP_PKEY_ED25519; }

std::string DkimKey::txt_record() const {
  std::string bytes;
  if (is_ed25519()) {
    std::size_t length = 32;
    bytes.resize(length);
    EVP_PKEY_get_raw_public_key(key_, reinterpret_cast<unsigned char*>(bytes.data()), &length);
    bytes.resize(length);
    return "v=DKIM1; k=ed25519; p=" + smtp::encode_base64(bytes);
  }
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key_, &der);
  bytes.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(std::max(length, 0)));
  OPENSSL_free(der);
  return "v=DKIM1; k=rsa; p=" + smtp::encode_base64(bytes);
}

std::string DkimKey::private_key_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  return out;
}

std::string sign_dkim(std::string_view message, const DkimKey& key, const DkimSignerConfig& config, Instant now) {
  const ParsedMessage parsed = parse_message(message);
  std::vector<std::string> names;
  for (const std::string& name : config.headers) {
    for (const HeaderField& field : parsed.fields) {
      if (equals_ignoring_case(field.name, name)) names.push_back(name);
    }
  }
  for (const std::string& name : config.oversigned) names.push_back(name);
  if (std::find(names.begin(), names.end(), "from") == names.end()) names.push_back("from");
  std::string h;
  for (const std::string& name : names) h += (h.empty() ? "" : ":") + name;
  const auto mode = [](Canonicalization c) { return c == Canonicalization::relaxed ? "relaxed" : "simple"; };
  const std::string body_hash = smtp::encode_base64(sha256(canonical_body(parsed.body, config.body_canonicalization)));
  std::string field =
      "DKIM-Signature: v=1; a=" + key.algorithm() + "; c=" + mode(config.header_canonicalization) + "/" +
      mode(config.body_canonicalization) + "; d=" + config.domain + "; s=" + config.selector +
      ";\r\n\tt=" + std::to_string(now.unix_seconds()) +
      (config.expire_after.count() > 0 ? "; x=" + std::to_string((now + config.expire_after).unix_seconds()) : "") +
      (config.identity.empty() ? "" : "; i=" + config.identity) + "; h=" + h + ";\r\n\tbh=" + body_hash + ";\r\n\tb=";
  std::string data = signed_headers(parsed, names, config.header_canonicalization);
  std::string own = canonical_header(field + "\r\n", config.header_canonicalization);
  own.resize(own.size() - 2);
  data += own;
  const std::string signature = make_signature(key.native(), key.is_ed25519(), data);
  return field + fold_base64(smtp::encode_base64(signature)) + "\r\n";
}

const DkimSigning* signing_for(const std::vector<DkimSigning>& table, std::string_view from_domain) {
  const std::string from = to_lower(from_domain);
  for (const DkimSigning& signing : table) {
    const std::string domain = to_lower(signing.domain);
    if (from == domain || from.ends_with("." + domain)) return &signing;
  }
  return nullptr;
}

std::string sign_with(const DkimSigning& signing, std::string_view message, Instant now) {
  DkimSignerConfig config;
  config.domain = signing.domain;
  config.selector = signing.selector;
  return sign_dkim(message, *signing.key, config, now) + std::string(message);
}

}  // namespace relaysim::mailauth
