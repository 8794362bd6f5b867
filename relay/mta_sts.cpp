#include "relay/mta_sts.hpp"

#include <algorithm>
#include <charconv>

#include "endpoint/https_fetch.hpp"
#include "io/text.hpp"
#include "relay/config.hpp"

namespace relaysim::relay::mta_sts {
namespace {

constexpr std::uint64_t max_age_seconds_max = 31'557'600;  // RFC 8461 3.2: about a year
constexpr std::size_t id_length_max = 32;

}  // namespace

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::enforce: return "enforce";
    case Mode::testing: return "testing";
    case Mode::none: return "none";
  }
  return "none";
}

std::string describe(const Policy& policy) {
  std::string out = "mode " + std::string(to_string(policy.mode)) + ", mx";
  for (const std::string& mx : policy.mx) out += " " + mx;
  if (policy.mx.empty()) out += " (none)";
  return out + ", max_age " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(policy.max_age).count());
}

std::optional<std::string> record_id(const std::vector<std::string>& texts, std::string* why) {
  const auto refuse = [&](std::string reason) -> std::optional<std::string> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  std::optional<std::string> record;
  for (const std::string& text : texts) {
    if (!text.starts_with("v=STSv1;") && text != "v=STSv1") continue;
    if (record) return refuse("more than one v=STSv1 record");
    record = text;
  }
  if (!record) return refuse("no v=STSv1 record");
  // "v=STSv1; id=20160831085700Z;": fields separated by ';', whitespace around them allowed.
  std::optional<std::string> id;
  std::string_view rest = *record;
  while (!rest.empty()) {
    const std::size_t end = rest.find(';');
    const std::string field = trim(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (field.empty()) continue;
    const std::size_t equals = field.find('=');
    if (equals == std::string::npos) return refuse("a field without '=' in the v=STSv1 record");
    if (field.substr(0, equals) != "id") continue;
    const std::string value = field.substr(equals + 1);
    const bool well_formed =
        !value.empty() && value.size() <= id_length_max &&
        std::all_of(value.begin(), value.end(), [](char c) { return is_ascii_alpha(c) || is_ascii_digit(c); });
    if (!well_formed) return refuse("the id is not 1 to 32 letters and digits");
    id = value;
  }
  if (!id) return refuse("the v=STSv1 record has no id");
  return id;
}

std::optional<Policy> parse_policy(std::string_view body, std::string* why) {
  const auto refuse = [&](std::string reason) -> std::optional<Policy> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  Policy policy;
  bool version = false, mode = false, max_age = false;
  while (!body.empty()) {
    const std::size_t end = body.find('\n');
    std::string_view line = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (trim(line).empty()) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return refuse("a line without ':': \"" + std::string(line) + "\"");
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "version") {
      if (value != "STSv1") return refuse("version is \"" + value + "\", not STSv1");
      version = true;
    } else if (key == "mode") {
      if (value == "enforce") {
        policy.mode = Mode::enforce;
      } else if (value == "testing") {
        policy.mode = Mode::testing;
      } else if (value == "none") {
        policy.mode = Mode::none;
      } else {
        return refuse("mode \"" + value + "\" is not enforce, testing or none");
      }
      mode = true;
    } else if (key == "max_age") {
      std::uint64_t seconds = 0;
      const auto [stop, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (error != std::errc() || stop != value.data() + value.size() || value.empty() || value.size() > 10 ||
          seconds > max_age_seconds_max)
        return refuse("max_age \"" + value + "\" is not a number of seconds up to 31557600");
      policy.max_age = std::chrono::seconds(seconds);
      max_age = true;
    } else if (key == "mx") {
      if (value.empty()) return refuse("an empty mx");
      policy.mx.push_back(io::normalize_dns_name(value));
    }
  }
  if (!version) return refuse("no version");
  if (!mode) return refuse("no mode");
  if (!max_age) return refuse("no max_age");
  if (policy.mx.empty() && policy.mode != Mode::none) return refuse("no mx");
  return policy;
}

bool mx_matches(const Policy& policy, std::string_view host) {
  const std::string name = io::normalize_dns_name(host);
  for (const std::string& pattern : policy.mx) {
    if (pattern == name) return true;
    if (!pattern.starts_with("*.")) continue;
    const std::size_t dot = name.find('.');
    if (dot == std::string::npos || dot == 0) continue;
    if (std::string_view(name).substr(dot + 1) == std::string_view(pattern).substr(2)) return true;
  }
  return false;
}

Resolver::Resolver(io::Io& io, const RelayConfig& config, const tls::Context* context)
    : io_(io), config_(config), context_(context) {}

Resolver::~Resolver() = default;

io::Pending Resolver::find(const std::string& domain, Handler handler) {
  const std::uint64_t ticket = next_ticket_++;
  handlers_[ticket] = std::move(handler);
  txt_lookups_[ticket] =
      io_.resolve("_mta-sts." + domain, io::DnsType::txt,
                  [this, domain, ticket](const io::DnsAnswer& answer) { on_record(domain, ticket, answer); });
  return io::Pending(this, ticket);
}

void Resolver::cancel(std::uint64_t ticket) {
  handlers_.erase(ticket);
  txt_lookups_.erase(ticket);  // cancels a lookup in flight
}

void Resolver::answer(std::uint64_t ticket, const Lookup& lookup) {
  const auto found = handlers_.find(ticket);
  if (found == handlers_.end()) return;
  Handler handler = std::move(found->second);
  handlers_.erase(found);
  handler(lookup);
}

std::optional<Lookup> Resolver::cached(const std::string& domain, std::string_view why) const {
  const auto found = cache_.find(domain);
  if (found == cache_.end() || io_.now() >= found->second.fetched_at + found->second.policy.max_age)
    return std::nullopt;
  return Lookup{found->second.policy, found->second.id, std::string(why)};
}

Lookup Resolver::cached_or_none(const std::string& domain, const std::string& why) const {
  return cached(domain, "cached; " + why).value_or(Lookup{std::nullopt, "", why});
}

// RFC 8461 3.3 and 5.1: a record whose id the cache holds needs no fetch; a new id is fetched; no
// record, or a lookup that failed, leaves the cached policy in force until it expires.
void Resolver::on_record(const std::string& domain, std::uint64_t ticket, const io::DnsAnswer& answer) {
  io::Pending done = std::move(txt_lookups_[ticket]);
  txt_lookups_.erase(ticket);
  if (answer.temporary_failure()) {
    const std::string why =
        "TXT lookup of _mta-sts." + domain + " failed (" + std::string(io::to_string(answer.status)) + ")";
    return this->answer(ticket, cached_or_none(domain, why));
  }
  std::string why;
  const std::optional<std::string> id = record_id(answer.texts, &why);
  if (!id) return this->answer(ticket, cached_or_none(domain, why));
  if (const auto found = cache_.find(domain); found != cache_.end() && found->second.id == *id) {
    if (std::optional<Lookup> kept = cached(domain, "cached")) return this->answer(ticket, *kept);
  }
  if (context_ == nullptr) {
    why = "no trusted CAs to fetch the policy with";
    return this->answer(ticket, cached_or_none(domain, why));
  }
  Fetch& fetch = fetches_[domain];
  fetch.waiting.push_back(ticket);
  if (fetch.request && fetch.id == *id) return;  // one fetch serves everyone waiting for it
  fetch.id = *id;
  endpoint::HttpsRequest request;
  request.host = "mta-sts." + domain;
  request.path = "/.well-known/mta-sts.txt";
  request.port = config_.mta_sts_port;
  request.timeout = config_.mta_sts_fetch_timeout;
  fetch.request = std::make_unique<endpoint::HttpsFetch>(
      io_, std::move(request), *context_, [this, domain](const endpoint::HttpsResult& result) {
        std::string error = result.error;
        std::optional<Policy> policy;
        if (result.response) {
          const endpoint::HttpResponse& response = *result.response;
          if (response.status != 200) {
            error = "HTTP status " + std::to_string(response.status) + " from mta-sts." + domain;
          } else if (response.content_type != "text/plain") {
            error = "media type \"" + response.content_type + "\" from mta-sts." + domain + ", not text/plain";
          } else {
            std::string why_not;
            policy = parse_policy(response.body, &why_not);
            if (!policy) error = "bad policy from mta-sts." + domain + ": " + why_not;
          }
        }
        on_fetched(domain, policy, error);
      });
}

void Resolver::on_fetched(const std::string& domain, const std::optional<Policy>& policy, const std::string& error) {
  Fetch fetch = std::move(fetches_[domain]);
  fetches_.erase(domain);
  Lookup lookup;
  if (policy) {
    cache_[domain] = Cached{*policy, fetch.id, io_.now()};
    lookup = Lookup{policy, fetch.id, "fetched"};
    io_.observe(io::LogLine{domain + ": MTA-STS policy " + fetch.id + " fetched: " + describe(*policy)});
  } else {
    io_.observe(io::LogLine{domain + ": MTA-STS policy fetch failed: " + error});
    lookup = cached_or_none(domain, "policy fetch failed: " + error);
  }
  for (const std::uint64_t ticket : fetch.waiting) answer(ticket, lookup);
}

}  // namespace relaysim::relay::mta_sts
