#pragma once
// Authoritative DNS data: records by name, answered the way an authoritative server and a
// recursive resolver together answer a question (CNAME chains followed, NXDOMAIN for names that
// do not exist, NODATA for names that exist only as ancestors of others). The simulated world
// serves its scenario's DNS from a zone; the real backend can answer from one before asking the
// system resolver (static hosts and MX overrides for tests and air-gapped labs).

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "io/dns.hpp"

namespace relaysim::io {

struct DnsRecords {
  std::vector<Address> addresses;  // A and AAAA
  std::vector<MxRecord> mx;
  std::vector<std::string> texts;
  std::string cname;
  std::uint32_t ttl_seconds = 300;
  std::vector<std::string> ptr;  // PTR: names, for a reverse name ("10.2.0.192.in-addr.arpa")
  std::vector<TlsaRecord> tlsa;  // TLSA, at "_25._tcp.<host>"
};

// A zone's DNSSEC state as a validating resolver sees it (RFC 4035, 4.3): secure answers carry
// the AD bit, insecure ones do not, bogus ones (signatures that fail) become SERVFAIL.
enum class Dnssec : std::uint8_t { insecure, secure, bogus };
std::string_view to_string(Dnssec state);  // "unsigned", "signed", "bogus": the scenario's words
std::optional<Dnssec> parse_dnssec(std::string_view text);

class Zone {
 public:
  // Replaces the records of `name` (normalised; MX exchanges and the CNAME target too).
  void set(std::string_view name, DnsRecords records);
  void remove(std::string_view name);
  // True when `name` has records, or names below it do.
  bool exists(std::string_view name) const;
  bool empty() const { return records_.empty(); }
  // Names at and below `apex` are in a zone of that state (the longest apex wins); unsigned is the default.
  void set_dnssec(std::string_view apex, Dnssec state);
  Dnssec dnssec_of(std::string_view name) const;
  // The answer to a question; NXDOMAIN and NODATA carry `negative_ttl_seconds`.
  DnsAnswer answer(std::string_view name, DnsType type, std::uint32_t negative_ttl_seconds) const;

 private:
  DnsAnswer lookup(std::string_view name, DnsType type, std::uint32_t negative_ttl_seconds,
                   std::vector<std::string>& visited) const;
  void rebuild_existing_names();
  std::map<std::string, DnsRecords, std::less<>> records_;
  std::set<std::string, std::less<>> existing_names_;  // names with records, and their ancestors
  std::map<std::string, Dnssec, std::less<>> dnssec_;  // zone apex -> state, for signed and bogus zones
};

}  // namespace relaysim::io
