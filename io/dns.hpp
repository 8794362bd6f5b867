#pragma once
// DNS questions and typed answers, as node logic sees them through Io::resolve.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/address.hpp"

namespace relaysim::io {

enum class DnsType : std::uint8_t { a, aaaa, mx, txt, cname, ptr, tlsa };
std::string_view to_string(DnsType type);
std::optional<DnsType> parse_dns_type(std::string_view text);  // "A", "AAAA", "MX", "TXT", "CNAME", "PTR", "TLSA"

enum class DnsStatus : std::uint8_t {
  ok,        // the answer holds the records; empty means NODATA (name exists, no record of that type)
  nxdomain,  // the name does not exist: a permanent answer
  servfail,  // the server failed: temporary
  timeout,   // no answer in time: temporary
};
std::string_view to_string(DnsStatus status);

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  // "." for a null MX (RFC 7505)
  auto operator<=>(const MxRecord&) const = default;
};

// A TLSA record (RFC 6698), at "_25._tcp.<host>": which certificate a TLS server on that port
// presents. SMTP uses DANE-TA(2) and DANE-EE(3) (RFC 7672); usages 0 and 1 are unusable there.
struct TlsaRecord {
  std::uint8_t usage = 3;     // 2 DANE-TA: a trust anchor of the chain; 3 DANE-EE: the server's own
  std::uint8_t selector = 1;  // 0 the whole certificate, 1 its SubjectPublicKeyInfo
  std::uint8_t matching = 1;  // 0 the data itself, 1 SHA-256, 2 SHA-512
  std::string data;           // the octets (a digest for matching 1 and 2)
  auto operator<=>(const TlsaRecord&) const = default;
};
std::string to_string(const TlsaRecord& record);  // "3 1 1 8f2e...": presentation form, data in hex

// The name a TLSA record for a server lives at: "_25._tcp.mx1.example".
std::string tlsa_name(std::string_view host, std::uint16_t port);

struct DnsAnswer {
  DnsStatus status = DnsStatus::ok;
  std::string name;                // the name asked for
  std::string canonical_name;      // after following CNAMEs; equals name when there were none
  std::vector<Address> addresses;  // A or AAAA
  std::vector<MxRecord> mx;        // MX, in the order served
  std::vector<std::string> texts;  // TXT, each record's strings joined
  std::string cname_target;        // CNAME question: the target
  std::uint32_t ttl_seconds = 0;   // the smallest TTL in the answer
  std::vector<std::string> names;  // PTR: the names an address points to
  std::vector<TlsaRecord> tlsa;    // TLSA
  // The resolver validated the answer, or its denial, with DNSSEC (the AD bit). A bogus answer is
  // never seen: a validating resolver answers SERVFAIL.
  bool authenticated = false;

  // An answer with no records for `name`: a failure, or a denial.
  static DnsAnswer without_records(DnsStatus status, std::string_view name) {
    DnsAnswer answer;
    answer.status = status;
    answer.name = std::string(name);
    answer.canonical_name = answer.name;
    return answer;
  }

  bool temporary_failure() const { return status == DnsStatus::servfail || status == DnsStatus::timeout; }
  bool empty() const {
    return addresses.empty() && mx.empty() && texts.empty() && cname_target.empty() && names.empty() && tlsa.empty();
  }
};

// The name of an address's PTR record: "10.2.0.192.in-addr.arpa", or nibbles under "ip6.arpa".
std::string reverse_name(const Address& address);

// Lower case, no trailing dot, A-labels for names outside ASCII: the form names are compared in.
std::string normalize_dns_name(std::string_view name);

}  // namespace relaysim::io
