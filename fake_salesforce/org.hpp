#pragma once
// The Salesforce org model: what an admin sets up in Setup (Email Relays, Email Domain Filters,
// deliverability, bounce management) and the rules Salesforce applies to every outgoing email
// (which path it takes, daily limits, the VERP return path, the retry schedule). Pure values and
// functions; the node (org_node.hpp) runs them. docs/salesforce.md documents every field and says
// where Salesforce's behaviour is undocumented and a usual reading is modelled instead.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/address.hpp"
#include "io/time.hpp"
#include "mailauth/dkim.hpp"
#include "relay/broken_variant.hpp"
#include "smtp/client_session.hpp"

namespace relaysim::salesforce {

// The relay record's "TLS Setting", with Salesforce's semantics:
enum class TlsSetting : std::uint8_t {
  off,               // never STARTTLS
  preferred,         // STARTTLS if offered, else plaintext; the certificate is not checked
  required,          // STARTTLS must be offered and succeed, else no delivery
  preferred_verify,  // if STARTTLS is offered, the certificate must verify (CA and name), else no delivery
  required_verify,   // STARTTLS offered, certificate verified, else no delivery
};
std::string_view to_string(TlsSetting setting);  // Salesforce's names: "Off", "PreferredVerify", ...
std::optional<TlsSetting> tls_setting_named(std::string_view name);
bool verifies(TlsSetting setting);

// An Email Relay record (Setup -> Email Relays).
struct EmailRelay {
  std::string name;
  std::string host;  // a host name (MX looked up first, then A) or an IP address
  std::uint16_t port = 25;
  TlsSetting tls = TlsSetting::preferred;
  std::optional<smtp::Credentials> auth;  // "Enable SMTP Auth": PLAIN (default) or LOGIN
};

// The ports Salesforce can dial for a relay.
inline constexpr std::array<std::uint16_t, 4> relay_ports{25, 587, 10025, 11025};

// An Email Domain Filter: mail from a matching sender domain to a matching recipient domain goes
// through `relay`. Patterns: "*", "example.com" (that domain only), "*.example.com" (subdomains only).
struct DomainFilter {
  std::vector<std::string> sender_domains{"*"};
  std::vector<std::string> recipient_domains{"*"};
  bool active = true;
  int priority = 0;  // unique; ascending order, first match wins
  std::string relay;
};

// What sent the email. Salesforce decides which features use the relay; the model is a per-category
// table with a default (`uses_relay_default`), overridable per org.
enum class Category : std::uint8_t { single, mass, workflow, flow, apex, system };
inline constexpr std::array<Category, 6> categories{Category::single, Category::mass, Category::workflow,
                                                    Category::flow,   Category::apex, Category::system};
std::string_view to_string(Category category);
std::optional<Category> category_named(std::string_view name);
bool uses_relay_default(Category category);

enum class Edition : std::uint8_t { developer, trial, professional, enterprise, unlimited, performance };
std::string_view to_string(Edition edition);
std::optional<Edition> edition_named(std::string_view name);

enum class Environment : std::uint8_t { production, sandbox };

// Setup -> Deliverability -> Access level.
enum class AccessLevel : std::uint8_t { no_access, system_email_only, all_email };
std::string_view to_string(AccessLevel level);

// Salesforce's retry when the next hop answers 4xx or cannot be reached: the wait before each
// retry, counted from the previous attempt, and the age at which the email fails.
struct RetrySchedule {
  std::vector<Duration> intervals{std::chrono::minutes(5),   std::chrono::minutes(10), std::chrono::minutes(20),
                                  std::chrono::minutes(40),  std::chrono::minutes(80), std::chrono::minutes(160),
                                  std::chrono::minutes(320), std::chrono::minutes(640)};
  Duration give_up_after = std::chrono::hours(24);
  // When to try again after the attempt numbered `attempts` (1 = the first), begun at `began`,
  // failed, for an email first tried at `first`; nullopt: give up.
  std::optional<Instant> next_attempt(Instant first, int attempts, Instant began) const;
};

struct BounceManagement {
  bool enabled = false;
  std::string domain = "bnc.salesforce.com";  // the VERP return path's parent domain
  std::string instance = "na1";               // the return path is local=domain__token@<instance>.<domain>
  std::uint16_t inbox_port = 25;              // where the org node receives bounces
};

struct Org {
  std::string name = "org";
  std::string org_id = "00D000000000001";
  Edition edition = Edition::enterprise;
  Environment environment = Environment::production;
  AccessLevel access = AccessLevel::all_email;  // new sandboxes: system_email_only
  std::vector<EmailRelay> relays;
  std::vector<DomainFilter> filters;
  std::vector<io::Cidr> sending_ranges;            // Salesforce's published ranges this org sends from
  std::map<Category, bool> uses_relay;             // overrides of uses_relay_default
  std::map<Category, std::uint64_t> daily_limits;  // overrides of daily_limit_default; 0: no limit
  BounceManagement bounce_management;
  RetrySchedule retry;
  std::string helo_name;  // the name in EHLO; empty: the host's name
  // Setup -> DKIM Keys: an active key signs mail whose From domain is its domain or below it.
  std::optional<mailauth::DkimSigning> dkim;
  // A deliberately broken org (filter_priority_reversed), for proving that exploration catches it.
  // Never read from a scenario: only test code sets it, through scenario::load_world.
  relay::BrokenVariant broken_variant = relay::BrokenVariant::none;
};

// Refusals Salesforce would give when saving the setup, in Salesforce's words, each with the
// field it concerns: {"relays[0].port", "..."}; empty when the org is acceptable.
struct SetupError {
  std::string field;
  std::string message;
};
std::vector<SetupError> check_setup(const Org& org);

// The daily limit for a category: how many external addresses per GMT day; 0 means none.
// Mass email: 5,000 (10 for developer and trial orgs); single email and Apex share 5,000.
std::uint64_t daily_limit_default(Category category, Edition edition);
// Categories that share a daily counter (single email and Apex count against one limit).
Category limit_bucket(Category category);
std::uint64_t daily_limit(const Org& org, Category category);
// The GMT day an instant falls in (days since the epoch), for the daily counters.
std::int64_t gmt_day(Instant instant);

// May this org send an email of this category at all? Empty: yes; else Salesforce's error.
std::string access_refusal(const Org& org, Category category);

// The path an email to one recipient takes: the relay of the first matching active filter in
// priority order, or Salesforce's own servers (nullptr).
const EmailRelay* relay_for(const Org& org, Category category, std::string_view sender_domain,
                            std::string_view recipient_domain);
const DomainFilter* filter_for(const Org& org, std::string_view sender_domain, std::string_view recipient_domain);

// VERP: "ann=dest.example__<token>@<instance>.bnc.salesforce.com" for contact ann@dest.example.
std::string verp_address(const BounceManagement& bounce, std::string_view contact, std::string_view token);
struct VerpParts {
  std::string contact;  // the address the bounce is about
  std::string token;
};
std::optional<VerpParts> parse_verp(const BounceManagement& bounce, std::string_view address);

}  // namespace relaysim::salesforce
