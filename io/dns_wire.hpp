#pragma once
// DNS messages on the wire (RFC 1035 §4), as a server answers them: a query's question read, a
// response written from a Zone's answer. Sans-I/O: `relaysim dns` (real/dns_server.cpp) puts it
// on UDP and TCP sockets. Only what a relay's resolver asks is answered with records (A, AAAA,
// MX, TXT, CNAME, PTR, TLSA; AD set for a signed zone's answers); any other type gets NOERROR without records when the name exists.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "io/dns.hpp"
#include "io/zone.hpp"

namespace relaysim::io {

struct DnsQuery {
  std::uint16_t id = 0;
  bool recursion_desired = false;
  std::string name;                   // normalised: lower case, no trailing dot
  std::uint16_t type = 0;             // the numeric QTYPE
  std::optional<DnsType> known_type;  // when it is one the project resolves
  std::string question;               // the question section as received, echoed in the response
};

// Nullopt for anything that is not a standard query with one question of class IN.
std::optional<DnsQuery> parse_dns_query(std::string_view message);

enum class DnsRcode : std::uint8_t { noerror = 0, formerr = 1, servfail = 2, nxdomain = 3, notimp = 4 };

// The response to `query`: `answer`'s records (a CNAME first when the name was an alias) with
// their TTL, or its status as the RCODE. Over UDP a response past 512 bytes is cut to its header
// and question with TC set, so that the client asks again over TCP (RFC 1035 §4.2.1).
std::string dns_response(const DnsQuery& query, const DnsAnswer& answer, bool udp);
// A response with no records and `rcode` (SERVFAIL for a broken name, FORMERR for a bad query).
std::string dns_error_response(std::uint16_t id, std::string_view question, DnsRcode rcode);

// Names a DNS double answers badly on purpose.
struct DnsFaults {
  std::set<std::string> servfail;  // answered SERVFAIL
  std::set<std::string> timeout;   // never answered: the client's query times out
};

// What a DNS double serving `zone` sends back for the message `query`: the response, or nullopt
// for none (a timeout fault, or bytes too short to be a query). A malformed query gets FORMERR.
std::optional<std::string> answer_dns_query(std::string_view query, const Zone& zone, const DnsFaults& faults, bool udp,
                                            std::uint32_t negative_ttl_seconds = 60);

// The numeric QTYPE of a type the project resolves.
std::uint16_t dns_type_code(DnsType type);

}  // namespace relaysim::io
