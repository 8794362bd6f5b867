#include "relay/password.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <vector>

#include "io/text.hpp"

namespace relaysim::relay {
namespace {

constexpr std::size_t hash_bytes = 32;
constexpr unsigned iterations_max = 10'000'000;

bool from_hex(std::string_view text, std::vector<unsigned char>& out) {
  if (text.size() % 2 != 0) return false;
  const auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int high = value(text[i]), low = value(text[i + 1]);
    if (high < 0 || low < 0) return false;
    out.push_back(static_cast<unsigned char>(high * 16 + low));
  }
  return true;
}

struct Parsed {
  unsigned iterations = 0;
  std::vector<unsigned char> salt;
  std::vector<unsigned char> hash;
};

bool parse(std::string_view encoded, Parsed& parsed) {
  constexpr std::string_view prefix = "pbkdf2-sha256$";
  if (!encoded.starts_with(prefix)) return false;
  encoded.remove_prefix(prefix.size());
  const std::size_t first = encoded.find('$');
  const std::size_t second = first == std::string_view::npos ? first : encoded.find('$', first + 1);
  if (second == std::string_view::npos) return false;
  const std::string_view count = encoded.substr(0, first);
  if (count.empty() || count.size() > 8) return false;
  for (char c : count) {
    if (c < '0' || c > '9') return false;
    parsed.iterations = parsed.iterations * 10 + static_cast<unsigned>(c - '0');
  }
  return parsed.iterations > 0 && parsed.iterations <= iterations_max &&
         from_hex(encoded.substr(first + 1, second - first - 1), parsed.salt) && !parsed.salt.empty() &&
         from_hex(encoded.substr(second + 1), parsed.hash) && parsed.hash.size() == hash_bytes;
}

void derive(std::string_view password, const unsigned char* salt, std::size_t salt_length, unsigned iterations,
            unsigned char* out) {
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt, static_cast<int>(salt_length),
                    static_cast<int>(iterations), EVP_sha256(), static_cast<int>(hash_bytes), out);
}

}  // namespace

std::string hash_password(std::string_view password, std::string_view salt, unsigned iterations) {
  unsigned char hash[hash_bytes];
  derive(password, reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), iterations, hash);
  return "pbkdf2-sha256$" + std::to_string(iterations) + "$" +
         to_hex(reinterpret_cast<const unsigned char*>(salt.data()), salt.size()) + "$" + to_hex(hash, hash_bytes);
}

bool verify_password(std::string_view password, std::string_view encoded) {
  Parsed parsed;
  if (!parse(encoded, parsed)) return false;
  unsigned char hash[hash_bytes];
  derive(password, parsed.salt.data(), parsed.salt.size(), parsed.iterations, hash);
  return CRYPTO_memcmp(hash, parsed.hash.data(), hash_bytes) == 0;
}

bool is_password_hash(std::string_view encoded) {
  Parsed parsed;
  return parse(encoded, parsed);
}

std::array<unsigned char, 32> VerifiedPasswords::mac(std::string_view password, std::string_view encoded) const {
  // The stored hash, a separator no hash holds, then the password: a changed hash changes the MAC.
  std::string input;
  input.reserve(encoded.size() + 1 + password.size());
  input.append(encoded).append(1, '\n').append(password);
  std::array<unsigned char, 32> out{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(sizeof(key_)), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), out.data(), &length);
  OPENSSL_cleanse(input.data(), input.size());
  return out;
}

bool VerifiedPasswords::verify(std::string_view user, std::string_view password, std::string_view encoded,
                               Instant now) {
  const std::array<unsigned char, 32> presented = mac(password, encoded);
  const auto found = entries_.find(user);
  if (found != entries_.end() && now - found->second.verified < lifetime_ &&
      CRYPTO_memcmp(found->second.mac.data(), presented.data(), presented.size()) == 0) {
    hits_ += 1;
    return true;
  }
  if (!verify_password(password, encoded)) return false;
  if (lifetime_ > Duration(0)) entries_.insert_or_assign(std::string(user), Entry{presented, now});
  return true;
}

}  // namespace relaysim::relay
