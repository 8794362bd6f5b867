#pragma once
// SPF (RFC 7208): may this client send mail from this domain? check_host() with every mechanism
// (all, include, a, mx, ptr, ip4, ip6, exists), both modifiers (redirect, exp), macros (§7), the
// limit of 10 DNS-querying terms and of 2 void lookups (§4.6.4), and every result.
//
// DNS comes through Lookups (mailauth/lookups.hpp), PTR records included: the ptr mechanism and
// the %{p} macro use the client's validated names (§5.5: a PTR name whose A or AAAA records hold
// the client's address; at most 10 names are tried).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/address.hpp"
#include "io/time.hpp"
#include "mailauth/lookups.hpp"

namespace relaysim::mailauth {

enum class SpfResult : std::uint8_t { none, neutral, pass, fail, softfail, temperror, permerror };
std::string_view to_string(SpfResult result);

struct SpfRequest {
  io::Address client;
  std::string sender;                // the MAIL FROM address; empty for <>, when the HELO identity is checked
  std::string helo;                  // the HELO/EHLO name
  std::string receiver = "unknown";  // %{r}: the checking host's name
  Instant now;                       // %{t}
};

struct SpfOutcome {
  SpfResult result = SpfResult::none;
  std::string identity;     // "mailfrom" or "helo"
  std::string domain;       // the domain whose policy was checked
  std::string mechanism;    // the term that decided ("ip4:198.51.100.0/24", "-all", "default")
  std::string reason;       // for errors and for people: what happened
  std::string explanation;  // the exp= text, for a fail
  int dns_lookups = 0;      // terms that queried DNS (at most 10)
  int void_lookups = 0;     // lookups with no answer (at most 2)
};

// The SPF verdict for the request's MAIL FROM identity (or its HELO identity for <>).
SpfOutcome check_spf(const SpfRequest& request, const Lookups& lookups);
// check_host(ip, domain, sender) itself (RFC 7208 §4).
SpfOutcome check_host(const io::Address& client, std::string_view domain, std::string_view sender,
                      const SpfRequest& request, const Lookups& lookups);

// Macro expansion (RFC 7208 §7) of `text` for `domain`; `explanation` allows c, r and t. nullopt
// for a syntax error. %{p} needs DNS: without `lookups` it is "unknown".
std::optional<std::string> expand_spf_macros(std::string_view text, std::string_view domain, std::string_view sender,
                                             const SpfRequest& request, bool explanation,
                                             const Lookups* lookups = nullptr);
// The client's validated names (§5.5), at most 10, in the order of its PTR records.
std::vector<std::string> validated_names(const io::Address& client, const Lookups& lookups);

}  // namespace relaysim::mailauth
