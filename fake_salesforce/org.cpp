#include "fake_salesforce/org.hpp"
#include "io/text.hpp"

#include <algorithm>
#include <set>

#include "relay/broken_variant.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::salesforce {
namespace {

constexpr std::array<std::string_view, 5> tls_names{"Off", "Preferred", "Required", "PreferredVerify",
                                                    "RequiredVerify"};
constexpr std::array<std::string_view, 6> category_names{"single", "mass", "workflow", "flow", "apex", "system"};
constexpr std::array<std::string_view, 6> edition_names{"developer",  "trial",     "professional",
                                                        "enterprise", "unlimited", "performance"};

template <std::size_t N>
std::optional<std::size_t> index_of(const std::array<std::string_view, N>& names, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == name) return i;
  }
  return std::nullopt;
}

std::string domain_of(std::string_view address) {
  const std::size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : to_lower(address.substr(at + 1));
}

}  // namespace

std::string_view to_string(TlsSetting setting) { return tls_names[static_cast<std::size_t>(setting)]; }

std::optional<TlsSetting> tls_setting_named(std::string_view name) {
  if (const auto index = index_of(tls_names, name)) return static_cast<TlsSetting>(*index);
  return std::nullopt;
}

bool verifies(TlsSetting setting) {
  return setting == TlsSetting::preferred_verify || setting == TlsSetting::required_verify;
}

std::string_view to_string(Category category) { return category_names[static_cast<std::size_t>(category)]; }

std::optional<Category> category_named(std::string_view name) {
  if (const auto index = index_of(category_names, name)) return static_cast<Category>(*index);
  return std::nullopt;
}

// Single email, mass email, workflow and Flow alerts and Apex go through the relay; system
// notifications (password resets, login alerts) do not. Salesforce documents no full table.
bool uses_relay_default(Category category) { return category != Category::system; }

std::string_view to_string(Edition edition) { return edition_names[static_cast<std::size_t>(edition)]; }

std::optional<Edition> edition_named(std::string_view name) {
  if (const auto index = index_of(edition_names, name)) return static_cast<Edition>(*index);
  return std::nullopt;
}

std::string_view to_string(AccessLevel level) {
  switch (level) {
    case AccessLevel::no_access: return "No access";
    case AccessLevel::system_email_only: return "System email only";
    case AccessLevel::all_email: return "All email";
  }
  return "?";
}

std::optional<Instant> RetrySchedule::next_attempt(Instant first, int attempts, Instant began) const {
  if (attempts < 1 || static_cast<std::size_t>(attempts) > intervals.size()) return std::nullopt;
  const Instant next = began + intervals[static_cast<std::size_t>(attempts) - 1];
  if (next - first > give_up_after) return std::nullopt;
  return next;
}

std::vector<SetupError> check_setup(const Org& org) {
  std::vector<SetupError> errors;
  std::set<std::string> relay_names;
  for (std::size_t i = 0; i < org.relays.size(); ++i) {
    const EmailRelay& relay = org.relays[i];
    const std::string field = "relays[" + std::to_string(i) + "]";
    if (relay.host.empty()) errors.push_back({field + ".host", "Host: You must enter a value"});
    if (std::find(relay_ports.begin(), relay_ports.end(), relay.port) == relay_ports.end()) {
      errors.push_back({field + ".port", "Port: bad value for restricted picklist field: " +
                                             std::to_string(relay.port) + " (choose 25, 587, 10025 or 11025)"});
    }
    if (relay.auth && relay.tls != TlsSetting::required_verify) {
      errors.push_back(
          {field + ".auth", "When Enable SMTP Auth is selected, the TLS Setting must be set to RequiredVerify"});
    }
    if (relay.auth && relay.auth->password.empty()) {
      errors.push_back(
          {field + ".auth.password", "Password: When Enable SMTP Auth is selected, this field is required"});
    }
    if (relay.auth && relay.auth->mechanism != "PLAIN" && relay.auth->mechanism != "LOGIN") {
      errors.push_back(
          {field + ".auth.mechanism", "AuthType: bad value for restricted picklist field: " + relay.auth->mechanism});
    }
    if (verifies(relay.tls) && io::Address::parse(relay.host)) {
      errors.push_back(
          {field + ".host",
           "Host: TLS requires the hostname for verifying certificates; enter a host name, not an IP address"});
    }
    if (!relay_names.insert(relay.name).second)
      errors.push_back({field + ".name", "Duplicate value found: an email relay with this name exists"});
  }
  std::set<int> priorities;
  for (std::size_t i = 0; i < org.filters.size(); ++i) {
    const DomainFilter& filter = org.filters[i];
    const std::string field = "filters[" + std::to_string(i) + "]";
    if (!relay_names.contains(filter.relay))
      errors.push_back({field + ".relay", "Email Relay: select a valid email relay"});
    if (!priorities.insert(filter.priority).second) {
      errors.push_back({field + ".priority",
                        "Duplicate value found: PriorityNumber duplicates value on another email domain filter"});
    }
    if (filter.sender_domains.empty()) errors.push_back({field + ".sender", "Sender Domain: You must enter a value"});
    if (filter.recipient_domains.empty())
      errors.push_back({field + ".recipient", "Recipient Domain: You must enter a value"});
  }
  return errors;
}

std::uint64_t daily_limit_default(Category category, Edition edition) {
  switch (category) {
    case Category::mass: return edition == Edition::developer || edition == Edition::trial ? 10 : 5'000;
    case Category::single:
    case Category::apex: return 5'000;
    case Category::workflow:
    case Category::flow:
    case Category::system: return 0;
  }
  return 0;
}

Category limit_bucket(Category category) { return category == Category::apex ? Category::single : category; }

std::uint64_t daily_limit(const Org& org, Category category) {
  const Category bucket = limit_bucket(category);
  const auto set = org.daily_limits.find(bucket);
  return set != org.daily_limits.end() ? set->second : daily_limit_default(bucket, org.edition);
}

std::int64_t gmt_day(Instant instant) {
  const std::int64_t seconds = instant.unix_seconds();
  return seconds >= 0 ? seconds / 86'400 : (seconds - 86'399) / 86'400;
}

std::string access_refusal(const Org& org, Category category) {
  if (org.access == AccessLevel::all_email) return "";
  if (org.access == AccessLevel::system_email_only && category == Category::system) return "";
  return "NO_MASS_MAIL_PERMISSION, Single email is not enabled for your organization or profile. (Deliverability: " +
         std::string(to_string(org.access)) + ")";
}

const DomainFilter* filter_for(const Org& org, std::string_view sender_domain, std::string_view recipient_domain) {
  const DomainFilter* best = nullptr;
  const bool reversed = org.broken_variant == relay::BrokenVariant::filter_priority_reversed;
  for (const DomainFilter& filter : org.filters) {
    if (!filter.active) continue;
    if (best != nullptr && (reversed ? best->priority >= filter.priority : best->priority <= filter.priority)) continue;
    if (smtp::any_domain_matches(filter.sender_domains, sender_domain) &&
        smtp::any_domain_matches(filter.recipient_domains, recipient_domain)) {
      best = &filter;
    }
  }
  return best;
}

const EmailRelay* relay_for(const Org& org, Category category, std::string_view sender_domain,
                            std::string_view recipient_domain) {
  const auto set = org.uses_relay.find(category);
  if (!(set != org.uses_relay.end() ? set->second : uses_relay_default(category))) return nullptr;
  const DomainFilter* filter = filter_for(org, sender_domain, recipient_domain);
  if (filter == nullptr) return nullptr;
  for (const EmailRelay& relay : org.relays) {
    if (relay.name == filter->relay) return &relay;
  }
  return nullptr;
}

std::string verp_address(const BounceManagement& bounce, std::string_view contact, std::string_view token) {
  const std::size_t at = contact.rfind('@');
  const std::string local(contact.substr(0, at));
  return local + "=" + domain_of(contact) + "__" + std::string(token) + "@" + bounce.instance + "." + bounce.domain;
}

std::optional<VerpParts> parse_verp(const BounceManagement& bounce, std::string_view address) {
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  const std::string domain = to_lower(address.substr(at + 1));
  if (!smtp::domain_matches("*." + to_lower(bounce.domain), domain)) return std::nullopt;
  const std::string_view local = address.substr(0, at);
  const std::size_t separator = local.rfind("__");
  if (separator == std::string_view::npos) return std::nullopt;
  const std::string_view mailbox = local.substr(0, separator);
  const std::size_t equals = mailbox.rfind('=');
  if (equals == std::string_view::npos || equals == 0 || equals + 1 == mailbox.size()) return std::nullopt;
  VerpParts parts;
  parts.contact = std::string(mailbox.substr(0, equals)) + "@" + std::string(mailbox.substr(equals + 1));
  parts.token = std::string(local.substr(separator + 2));
  if (parts.token.empty()) return std::nullopt;
  return parts;
}

}  // namespace relaysim::salesforce
