#pragma once
// One name's DNS records for a test, by kind rather than by position:
//   zone.set("acme.example", records().mx(10, "mx.acme.example").txt("v=spf1 -all"));
// where an io::DnsRecords written out would name every kind of record by position.

#include <cstdint>
#include <string>
#include <string_view>

#include "io/address.hpp"
#include "io/zone.hpp"

namespace relaysim::testing {

class Records {
 public:
  Records& a(const io::Address& address) {
    records_.addresses.push_back(address);
    return *this;
  }
  Records& a(std::string_view address) { return a(*io::Address::parse(address)); }  // A or AAAA
  Records& mx(int preference, std::string exchange) {
    records_.mx.push_back({static_cast<std::uint16_t>(preference), std::move(exchange)});
    return *this;
  }
  Records& txt(std::string text) {
    records_.texts.push_back(std::move(text));
    return *this;
  }
  Records& cname(std::string target) {
    records_.cname = std::move(target);
    return *this;
  }
  Records& ptr(std::string name) {
    records_.ptr.push_back(std::move(name));
    return *this;
  }
  Records& tlsa(io::TlsaRecord record) {
    records_.tlsa.push_back(std::move(record));
    return *this;
  }
  Records& ttl(std::uint32_t seconds) {
    records_.ttl_seconds = seconds;
    return *this;
  }
  operator io::DnsRecords() const { return records_; }  // NOLINT: converts where records are asked for

 private:
  io::DnsRecords records_;
};

inline Records records() { return {}; }

}  // namespace relaysim::testing
