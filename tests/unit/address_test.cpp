#include <arpa/inet.h>

#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include "io/address.hpp"

using relaysim::io::Address;
using relaysim::io::Cidr;
using relaysim::io::Endpoint;

TEST_CASE("addresses parse and print in their canonical forms", "[address]") {
  CHECK(Address::parse("203.0.113.5")->to_string() == "203.0.113.5");
  CHECK(Address::parse("203.0.113.5")->is_v4());
  CHECK(Address::parse("2001:DB8:0:0:0:0:0:1")->to_string() == "2001:db8::1");
  CHECK_FALSE(Address::parse("2001:db8::1")->is_v4());
  CHECK_FALSE(Address::parse("203.0.113"));
  CHECK_FALSE(Address::parse("203.0.113.256"));
  CHECK_FALSE(Address::parse("mx.example.com"));
  CHECK_FALSE(Address::parse(""));
  CHECK(Address::v4(0xCB007105).to_string() == "203.0.113.5");
  CHECK(Address::v4(0).to_string() == "0.0.0.0");
  CHECK(Address::v4(0xFFFFFFFF).to_string() == "255.255.255.255");
}

TEST_CASE("an IPv4 address prints as inet_ntop prints it", "[address]") {
  rc::prop("dotted quad", [](std::uint32_t host_order) {
    const std::uint32_t network_order = htonl(host_order);
    char expected[INET_ADDRSTRLEN];
    RC_ASSERT(inet_ntop(AF_INET, &network_order, expected, sizeof expected) != nullptr);
    RC_ASSERT(Address::v4(host_order).to_string() == std::string(expected));
  });
}

TEST_CASE("networks contain exactly the addresses under their prefix", "[address]") {
  const Cidr salesforce = *Cidr::parse("13.108.0.0/14");
  CHECK(salesforce.contains(*Address::parse("13.108.0.1")));
  CHECK(salesforce.contains(*Address::parse("13.111.255.255")));
  CHECK_FALSE(salesforce.contains(*Address::parse("13.112.0.0")));
  CHECK_FALSE(salesforce.contains(*Address::parse("2001:db8::1")));
  CHECK(Cidr::parse("10.1.2.3/8")->to_string() == "10.0.0.0/8");  // host bits cleared
  CHECK(Cidr::parse("10.1.2.3")->prefix_length() == 32);
  CHECK(Cidr::parse("0.0.0.0/0")->contains(*Address::parse("198.51.100.1")));
  CHECK(Cidr::parse("2001:db8::/32")->contains(*Address::parse("2001:db8:ffff::1")));
  CHECK_FALSE(Cidr::parse("2001:db8::/32")->contains(*Address::parse("2001:db9::1")));
  CHECK_FALSE(Cidr::parse("10.0.0.0/33"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/x"));
}

TEST_CASE("endpoints bracket IPv6 addresses", "[address]") {
  CHECK((Endpoint{*Address::parse("198.51.100.10"), 25}).to_string() == "198.51.100.10:25");
  CHECK((Endpoint{*Address::parse("2001:db8::1"), 587}).to_string() == "[2001:db8::1]:587");
}
