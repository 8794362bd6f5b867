#include "mailauth/dmarc.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <optional>

#include "io/text.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::mailauth {
namespace {

// Second-level public suffixes under which registrations happen (a built-in excerpt of the
// Public Suffix List's ICANN section). Every single label is a public suffix too.
constexpr std::array<std::string_view, 40> second_level_suffixes{
    "ac.uk",  "co.uk",  "gov.uk", "ltd.uk", "me.uk",  "net.uk", "org.uk", "plc.uk", "com.au", "net.au",
    "org.au", "edu.au", "gov.au", "co.nz",  "net.nz", "org.nz", "co.jp",  "ne.jp",  "or.jp",  "ac.jp",
    "com.br", "net.br", "org.br", "com.cn", "net.cn", "org.cn", "co.in",  "net.in", "org.in", "co.za",
    "com.mx", "com.tr", "com.sg", "com.hk", "co.kr",  "com.ar", "com.tw", "co.il",  "com.my", "co.id"};

struct Record {
  DmarcPolicy p = DmarcPolicy::none;
  DmarcPolicy sp = DmarcPolicy::none;
  bool strict_dkim = false;
  bool strict_spf = false;
  int pct = 100;
};

std::optional<DmarcPolicy> policy_named(std::string_view text) {
  const std::string lower = to_lower(text);
  if (lower == "none") return DmarcPolicy::none;
  if (lower == "quarantine") return DmarcPolicy::quarantine;
  if (lower == "reject") return DmarcPolicy::reject;
  return std::nullopt;
}

// A DMARC record (RFC 7489 §6.3); nullopt when it is not one that can be used.
std::optional<Record> parse_dmarc_record(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> tags;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t semicolon = std::min(text.find(';', at), text.size());
    const std::string spec = trim(text.substr(at, semicolon - at));
    at = semicolon + 1;
    if (spec.empty()) continue;
    const std::size_t equals = spec.find('=');
    if (equals == std::string::npos) return std::nullopt;
    tags.emplace_back(to_lower(trim(std::string_view(spec).substr(0, equals))),
                      trim(std::string_view(spec).substr(equals + 1)));
  }
  if (tags.empty() || tags.front().first != "v" || tags.front().second != "DMARC1") return std::nullopt;
  Record record;
  bool has_p = false, has_sp = false, has_rua = false;
  for (const auto& [name, value] : tags) {
    if (name == "p") {
      const auto policy = policy_named(value);
      if (policy) {
        record.p = *policy;
        has_p = true;
      }
    } else if (name == "sp") {
      if (const auto policy = policy_named(value)) {
        record.sp = *policy;
        has_sp = true;
      }
    } else if (name == "adkim") {
      record.strict_dkim = to_lower(value) == "s";
    } else if (name == "aspf") {
      record.strict_spf = to_lower(value) == "s";
    } else if (name == "pct") {
      if (!value.empty() && value.size() <= 3 && value.find_first_not_of("0123456789") == std::string::npos) {
        record.pct = std::min(100, std::stoi(value));
      }
    } else if (name == "rua") {
      has_rua = true;
    }
  }
  // §6.6.3: without a valid p=, a record with rua= is taken as p=none; any other is unusable.
  if (!has_p && !has_rua) return std::nullopt;
  if (!has_sp) record.sp = record.p;
  return record;
}

bool aligned(std::string_view a, std::string_view b, bool strict) {
  const std::string left = to_lower(a), right = to_lower(b);
  if (left.empty() || right.empty()) return false;
  return strict ? left == right : organizational_domain(left) == organizational_domain(right);
}

DmarcPolicy downgraded(DmarcPolicy policy) {
  return policy == DmarcPolicy::reject ? DmarcPolicy::quarantine : DmarcPolicy::none;
}

}  // namespace

std::string organizational_domain(std::string_view domain) {
  std::string name = to_lower(domain);
  while (!name.empty() && name.back() == '.') name.pop_back();
  std::vector<std::string_view> labels;
  std::size_t at = 0;
  while (at <= name.size()) {
    const std::size_t dot = std::min(name.find('.', at), name.size());
    labels.push_back(std::string_view(name).substr(at, dot - at));
    at = dot + 1;
  }
  if (labels.size() <= 2) return name;
  const std::string last_two = std::string(labels[labels.size() - 2]) + "." + std::string(labels.back());
  const bool registry =
      std::find(second_level_suffixes.begin(), second_level_suffixes.end(), last_two) != second_level_suffixes.end();
  const std::size_t keep = registry ? 3 : 2;
  std::string out;
  for (std::size_t i = labels.size() - std::min(keep, labels.size()); i < labels.size(); ++i) {
    out += (out.empty() ? "" : ".") + std::string(labels[i]);
  }
  return out;
}

std::string_view to_string(DmarcResult result) {
  switch (result) {
    case DmarcResult::none: return "none";
    case DmarcResult::pass: return "pass";
    case DmarcResult::fail: return "fail";
    case DmarcResult::temperror: return "temperror";
    case DmarcResult::permerror: return "permerror";
  }
  return "none";
}

std::string_view to_string(DmarcPolicy policy) {
  switch (policy) {
    case DmarcPolicy::none: return "none";
    case DmarcPolicy::quarantine: return "quarantine";
    case DmarcPolicy::reject: return "reject";
  }
  return "none";
}

DmarcOutcome check_dmarc(const DmarcInput& input, const Lookups& lookups) {
  DmarcOutcome outcome;
  if (input.from_domain.empty()) {
    outcome.result = DmarcResult::permerror;
    outcome.reason = "no single From domain";
    return outcome;
  }
  const std::string from = to_lower(input.from_domain);
  const std::string organisation = organizational_domain(from);
  std::optional<Record> record;
  std::vector<std::string> candidates{from};
  if (organisation != from) candidates.push_back(organisation);
  for (const std::string& domain : candidates) {
    const io::DnsAnswer& answer = lookups.get("_dmarc." + domain, io::DnsType::txt);
    outcome.record_domain = domain;
    if (answer.temporary_failure()) {
      outcome.result = DmarcResult::temperror;
      outcome.reason = "_dmarc." + domain + ": " + std::string(io::to_string(answer.status));
      return outcome;
    }
    std::vector<Record> found;
    for (const std::string& text : answer.texts) {
      if (auto parsed = parse_dmarc_record(text)) found.push_back(*parsed);
    }
    if (found.size() == 1) {
      record = found.front();
      break;
    }
  }
  if (!record) {
    outcome.result = DmarcResult::none;
    outcome.record_domain.clear();
    outcome.reason = "no DMARC record for " + from;
    return outcome;
  }
  const bool subdomain = outcome.record_domain != from;
  outcome.policy = subdomain ? record->sp : record->p;
  outcome.pct = record->pct;
  outcome.spf_aligned = input.spf == SpfResult::pass && aligned(input.spf_domain, from, record->strict_spf);
  for (const DkimSignatureCheck& signature : input.dkim) {
    if (signature.result == DkimResult::pass && aligned(signature.domain, from, record->strict_dkim))
      outcome.dkim_aligned = true;
  }
  if (outcome.spf_aligned || outcome.dkim_aligned) {
    outcome.result = DmarcResult::pass;
    outcome.disposition = DmarcPolicy::none;
    outcome.reason = outcome.dkim_aligned ? "DKIM aligned" : "SPF aligned";
    return outcome;
  }
  outcome.result = DmarcResult::fail;
  outcome.disposition =
      input.sample < static_cast<std::uint32_t>(record->pct) ? outcome.policy : downgraded(outcome.policy);
  outcome.reason = "neither SPF (" + std::string(to_string(input.spf)) + " for " +
                   (input.spf_domain.empty() ? "-" : input.spf_domain) + ") nor DKIM aligns with " + from;
  return outcome;
}

std::string authentication_results(std::string_view authserv_id, const SpfOutcome& spf,
                                   std::string_view spf_identity_value, const std::vector<DkimSignatureCheck>& dkim,
                                   const DmarcOutcome& dmarc, std::string_view from_domain) {
  std::string out = "Authentication-Results: " + std::string(authserv_id);
  out += ";\r\n\tspf=" + std::string(to_string(spf.result)) + " " +
         (spf.identity == "helo" ? "smtp.helo=" : "smtp.mailfrom=") + std::string(spf_identity_value);
  if (dkim.empty()) out += ";\r\n\tdkim=none";
  for (const DkimSignatureCheck& signature : dkim) {
    out += ";\r\n\tdkim=" + std::string(to_string(signature.result));
    if (!signature.reason.empty()) out += " (" + signature.reason + ")";
    out += " header.d=" + (signature.domain.empty() ? std::string("unknown") : signature.domain);
    if (!signature.selector.empty()) out += " header.s=" + signature.selector;
    if (!signature.b_prefix.empty()) out += " header.b=" + signature.b_prefix;
  }
  out += ";\r\n\tdmarc=" + std::string(to_string(dmarc.result));
  if (dmarc.result == DmarcResult::pass || dmarc.result == DmarcResult::fail) {
    out += " (p=" + std::string(to_string(dmarc.policy)) + " dis=" + std::string(to_string(dmarc.disposition)) + ")";
  }
  out += " header.from=" + (from_domain.empty() ? std::string("unknown") : std::string(from_domain)) + "\r\n";
  return out;
}

}  // namespace relaysim::mailauth
