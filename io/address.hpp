#pragma once
// IP addresses, networks in CIDR notation and transport endpoints: value types shared by the
// simulated and the real network.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relaysim::io {

class Address {
 public:
  enum class Family : std::uint8_t { v4, v6 };

  constexpr Address() = default;  // 0.0.0.0
  static Address v4(std::uint32_t host_order);
  static Address v6(const std::array<std::uint8_t, 16>& bytes);
  static std::optional<Address> parse(std::string_view text);
  static Address any_v4() { return {}; }

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::v4; }
  bool is_unspecified() const;
  // IPv4 addresses use the first four bytes.
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }
  std::uint32_t v4_host_order() const;
  std::string to_string() const;  // dotted quad, or RFC 5952 form for IPv6

  auto operator<=>(const Address&) const = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

// A network: an address and a prefix length ("203.0.113.0/24", "2001:db8::/32"). A bare address
// parses as a single-host network.
class Cidr {
 public:
  Cidr() = default;
  Cidr(Address network, unsigned prefix_length);
  static std::optional<Cidr> parse(std::string_view text);

  bool contains(const Address& address) const;
  const Address& network() const { return network_; }
  unsigned prefix_length() const { return prefix_length_; }
  std::string to_string() const;

  auto operator<=>(const Cidr&) const = default;

 private:
  Address network_;
  unsigned prefix_length_ = 0;
};

struct Endpoint {
  Address address;
  std::uint16_t port = 0;

  std::string to_string() const;  // "198.51.100.10:25", "[2001:db8::1]:25"
  auto operator<=>(const Endpoint&) const = default;
};

}  // namespace relaysim::io
