#include "io/address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace relaysim::io {

Address Address::v4(std::uint32_t host_order) {
  Address address;
  address.family_ = Family::v4;
  address.bytes_[0] = static_cast<std::uint8_t>(host_order >> 24);
  address.bytes_[1] = static_cast<std::uint8_t>(host_order >> 16);
  address.bytes_[2] = static_cast<std::uint8_t>(host_order >> 8);
  address.bytes_[3] = static_cast<std::uint8_t>(host_order);
  return address;
}

Address Address::v6(const std::array<std::uint8_t, 16>& bytes) {
  Address address;
  address.family_ = Family::v6;
  address.bytes_ = bytes;
  return address;
}

std::optional<Address> Address::parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string copy(text);
  if (copy.find(':') == std::string::npos) {
    in_addr parsed{};
    if (inet_pton(AF_INET, copy.c_str(), &parsed) != 1) return std::nullopt;
    return v4(ntohl(parsed.s_addr));
  }
  std::array<std::uint8_t, 16> bytes{};
  if (inet_pton(AF_INET6, copy.c_str(), bytes.data()) != 1) return std::nullopt;
  return v6(bytes);
}

bool Address::is_unspecified() const {
  const std::size_t length = is_v4() ? 4 : 16;
  for (std::size_t i = 0; i < length; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return true;
}

std::uint32_t Address::v4_host_order() const {
  return (std::uint32_t{bytes_[0]} << 24) | (std::uint32_t{bytes_[1]} << 16) | (std::uint32_t{bytes_[2]} << 8) |
         std::uint32_t{bytes_[3]};
}

std::string Address::to_string() const {
  if (is_v4()) {  // dotted quad by hand: inet_ntop formats IPv4 through sprintf
    std::string out;
    out.reserve(15);
    for (std::size_t i = 0; i < 4; ++i) {
      const unsigned octet = bytes_[i];
      if (i > 0) out += '.';
      if (octet >= 100) out += static_cast<char>('0' + octet / 100);
      if (octet >= 10) out += static_cast<char>('0' + octet / 10 % 10);
      out += static_cast<char>('0' + octet % 10);
    }
    return out;
  }
  char buffer[INET6_ADDRSTRLEN];
  const char* written = inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buffer, sizeof buffer);
  return written != nullptr ? std::string(written) : std::string("?");
}

Cidr::Cidr(Address network, unsigned prefix_length) : network_(network), prefix_length_(prefix_length) {
  // Keep only the network bits, so that equal networks compare equal.
  const unsigned bits = network.is_v4() ? 32 : 128;
  if (prefix_length_ > bits) prefix_length_ = bits;
  std::array<std::uint8_t, 16> bytes = network.bytes();
  for (unsigned bit = prefix_length_; bit < bits; ++bit)
    bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  network_ = network.is_v4() ? Address::v4(Address::v6(bytes).v4_host_order()) : Address::v6(bytes);
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const std::size_t slash = text.find('/');
  const auto address = Address::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const unsigned bits = address->is_v4() ? 32 : 128;
  if (slash == std::string_view::npos) return Cidr(*address, bits);
  const std::string_view length_text = text.substr(slash + 1);
  if (length_text.empty() || length_text.size() > 3) return std::nullopt;
  unsigned length = 0;
  for (char c : length_text) {
    if (c < '0' || c > '9') return std::nullopt;
    length = length * 10 + static_cast<unsigned>(c - '0');
  }
  if (length > bits) return std::nullopt;
  return Cidr(*address, length);
}

bool Cidr::contains(const Address& address) const {
  if (address.family() != network_.family()) return false;
  const auto& a = address.bytes();
  const auto& n = network_.bytes();
  unsigned bit = 0;
  for (; bit + 8 <= prefix_length_; bit += 8) {
    if (a[bit / 8] != n[bit / 8]) return false;
  }
  if (bit < prefix_length_) {
    const auto mask = static_cast<std::uint8_t>(0xFFu << (8 - (prefix_length_ - bit)));
    if ((a[bit / 8] & mask) != n[bit / 8]) return false;
  }
  return true;
}

std::string Cidr::to_string() const { return network_.to_string() + "/" + std::to_string(prefix_length_); }

std::string Endpoint::to_string() const {
  if (address.is_v4()) return address.to_string() + ":" + std::to_string(port);
  return "[" + address.to_string() + "]:" + std::to_string(port);
}

}  // namespace relaysim::io
