#pragma once
// Salted password hashes for the relay's AUTH users: PBKDF2-HMAC-SHA256, stored as
//   pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>
// so that a configuration file never holds a password.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "io/time.hpp"

namespace relaysim::relay {

inline constexpr unsigned password_iterations_default = 20'000;

std::string hash_password(std::string_view password, std::string_view salt,
                          unsigned iterations = password_iterations_default);
// False for a wrong password and for a malformed hash; the comparison takes constant time.
bool verify_password(std::string_view password, std::string_view encoded);
// True when `encoded` has the form above (for configuration checks).
bool is_password_hash(std::string_view encoded);

// Passwords verified recently, as Dovecot's auth_cache keeps them: a burst of hand-overs with the
// same credentials pays PBKDF2's iterations (milliseconds each, on the relay's one thread) once,
// then an HMAC-SHA256 under a key drawn at start. Per user, the last password that verified
// against that user's stored hash, for `lifetime`; a wrong password always pays the full PBKDF2,
// and a changed hash (a reload) misses. Held in memory only.
class VerifiedPasswords {
 public:
  using Key = std::array<std::uint64_t, 4>;
  VerifiedPasswords(const Key& key, Duration lifetime) : key_(key), lifetime_(lifetime) {}
  // verify_password(password, encoded), from the cache when it can be.
  bool verify(std::string_view user, std::string_view password, std::string_view encoded, Instant now);
  // How many verifications the cache answered (for tests and the log).
  std::uint64_t hits() const { return hits_; }

 private:
  struct Entry {
    std::array<unsigned char, 32> mac{};  // HMAC(key, encoded, password)
    Instant verified;
  };
  std::array<unsigned char, 32> mac(std::string_view password, std::string_view encoded) const;

  Key key_;
  Duration lifetime_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::uint64_t hits_ = 0;
};

}  // namespace relaysim::relay
