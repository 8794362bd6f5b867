#pragma once
// Salted password hashes for the relay's AUTH users: PBKDF2-HMAC-SHA256, stored as
//   pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>
// so that a configuration file never holds a password.

#include <cstdint>
#include <string>
#include <string_view>

namespace relaysim::relay {

inline constexpr unsigned password_iterations_default = 20'000;

std::string hash_password(std::string_view password, std::string_view salt,
                          unsigned iterations = password_iterations_default);
// False for a wrong password and for a malformed hash; the comparison takes constant time.
bool verify_password(std::string_view password, std::string_view encoded);
// True when `encoded` has the form above (for configuration checks).
bool is_password_hash(std::string_view encoded);

}  // namespace relaysim::relay
