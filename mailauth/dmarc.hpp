#pragma once
// DMARC (RFC 7489): the From domain's policy (found at _dmarc.<From domain>, else at
// _dmarc.<organisational domain>), SPF and DKIM alignment (relaxed or strict), the result, and
// the disposition after pct sampling. And the Authentication-Results field (RFC 8601) that
// records all three checks.
//
// The organisational domain comes from a built-in list of public suffixes: every top-level domain
// plus the common second-level registries (co.uk, com.au, ...). The full Public Suffix List is
// not consulted, so that a verdict does not depend on which list a machine has installed.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailauth/dkim.hpp"
#include "mailauth/lookups.hpp"
#include "mailauth/spf.hpp"

namespace relaysim::mailauth {

std::string organizational_domain(std::string_view domain);

enum class DmarcResult : std::uint8_t { none, pass, fail, temperror, permerror };
std::string_view to_string(DmarcResult result);
enum class DmarcPolicy : std::uint8_t { none, quarantine, reject };
std::string_view to_string(DmarcPolicy policy);

struct DmarcInput {
  std::string from_domain;  // the RFC5322.From domain; empty when the message has none usable
  SpfResult spf = SpfResult::none;
  std::string spf_domain;  // the domain SPF checked (MAIL FROM's, or HELO's for <>)
  std::vector<DkimSignatureCheck> dkim;
  std::uint32_t sample = 0;  // 0 to 99, drawn by the caller (a node's seeded stream), against pct
};

struct DmarcOutcome {
  DmarcResult result = DmarcResult::none;
  std::string record_domain;                    // where the policy was found
  DmarcPolicy policy = DmarcPolicy::none;       // p=, or sp= for a subdomain
  DmarcPolicy disposition = DmarcPolicy::none;  // what to do: the policy, after pct sampling
  bool spf_aligned = false;
  bool dkim_aligned = false;
  int pct = 100;
  std::string reason;
};

DmarcOutcome check_dmarc(const DmarcInput& input, const Lookups& lookups);

// "Authentication-Results: <authserv-id>;\r\n\tspf=... ;\r\n\tdkim=... ;\r\n\tdmarc=...\r\n".
std::string authentication_results(std::string_view authserv_id, const SpfOutcome& spf,
                                   std::string_view spf_identity_value, const std::vector<DkimSignatureCheck>& dkim,
                                   const DmarcOutcome& dmarc, std::string_view from_domain);

}  // namespace relaysim::mailauth
