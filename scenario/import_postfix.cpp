#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "io/text.hpp"
#include "scenario/import.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::scenario::import {
namespace {

// --- main.cf as Postfix reads it

struct Parameter {
  std::string value;
  std::size_t line = 0;
};

// "name = value" lines; a line that starts with white space continues the one before; a line
// whose first non-blank character is # is a comment. A later definition replaces an earlier one.
std::map<std::string, Parameter> read_main_cf(std::string_view text, std::vector<std::string>& warnings,
                                              const std::string& file) {
  std::map<std::string, Parameter> parameters;
  std::string* continued = nullptr;
  std::size_t number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    start = end + 1;
    number += 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    if (first > 0) {
      if (continued == nullptr)
        throw ImportError(file + ":" + std::to_string(number) + ": a continuation line with nothing to continue");
      *continued += " " + line.substr(first);
      continue;
    }
    const std::size_t equals = line.find('=');
    if (equals == std::string::npos)
      throw ImportError(file + ":" + std::to_string(number) + ": expected \"name = value\", found \"" + line + "\"");
    std::string name = line.substr(0, equals);
    name.erase(name.find_last_not_of(" \t") + 1);
    std::string value = line.substr(equals + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (parameters.contains(name)) {
      warnings.push_back(file + ":" + std::to_string(number) + ": " + name + " is set again (line " +
                         std::to_string(parameters[name].line) + "): the later value counts, as in Postfix");
    }
    parameters[name] = {value, number};
    continued = &parameters[name].value;
  }
  for (auto& [name, parameter] : parameters) parameter.value.erase(parameter.value.find_last_not_of(" \t") + 1);
  return parameters;
}

// $name, ${name} and $(name), and ${name?text} / ${name:text} (text when name is set / unset), as
// Postfix expands them, from the file's own parameters; an unknown name stays and is reported.
std::string expand(const std::string& value, const std::map<std::string, Parameter>& parameters,
                   std::set<std::string>& unknown, int depth = 0) {
  if (depth > 20) throw ImportError("parameter expansion nests more than 20 deep (a loop?) in \"" + value + "\"");
  std::string out;
  for (std::size_t at = 0; at < value.size();) {
    if (value[at] != '$' || at + 1 >= value.size()) {
      out += value[at++];
      continue;
    }
    std::string name, condition, text;
    char kind = 0;
    std::size_t next = at + 1;
    if (value[next] == '{' || value[next] == '(') {
      const char close = value[next] == '{' ? '}' : ')';
      // The closing brace of this reference, skipping nested braces in its text.
      int open = 0;
      std::size_t end = next;
      for (; end < value.size(); ++end) {
        if (value[end] == value[next]) open += 1;
        if (value[end] == close && --open == 0) break;
      }
      if (end >= value.size()) throw ImportError("an unclosed \"" + value.substr(at, 2) + "\" in \"" + value + "\"");
      const std::string inside = value.substr(next + 1, end - next - 1);
      const std::size_t mark = inside.find_first_of("?:");
      name = inside.substr(0, mark);
      if (mark != std::string::npos) {
        kind = inside[mark];
        text = inside.substr(mark + 1);
        if (text.size() >= 2 && text.front() == '{' && text.back() == '}') text = text.substr(1, text.size() - 2);
      }
      next = end + 1;
    } else {
      while (next < value.size() && (std::isalnum(static_cast<unsigned char>(value[next])) != 0 || value[next] == '_'))
        name += value[next++];
      if (name.empty()) {
        out += value[at++];
        continue;
      }
    }
    const auto found = parameters.find(name);
    const bool set = found != parameters.end() && !found->second.value.empty();
    if (kind == '?') {
      if (set) out += expand(text, parameters, unknown, depth + 1);
    } else if (kind == ':') {
      if (!set) out += expand(text, parameters, unknown, depth + 1);
    } else if (found != parameters.end()) {
      out += expand(found->second.value, parameters, unknown, depth + 1);
    } else {
      unknown.insert(name);
      out += value.substr(at, next - at);
    }
    at = next;
  }
  return out;
}

// Postfix list values: separated by commas and/or white space.
std::vector<std::string> list_of(const std::string& value) {
  std::vector<std::string> items;
  std::string item;
  for (const char c : value + " ") {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!item.empty()) items.push_back(std::move(item));
      item.clear();
    } else {
      item += c;
    }
  }
  return items;
}

// A Postfix time value ("5d", "300s", "1w", or a number in the parameter's default unit) as a
// relaysim duration; nullopt when it is not one.
std::optional<std::string> duration(const std::string& value, char default_unit) {
  if (value.empty()) return std::nullopt;
  const char unit = std::isdigit(static_cast<unsigned char>(value.back())) != 0 ? default_unit : value.back();
  const std::string digits =
      std::isdigit(static_cast<unsigned char>(value.back())) != 0 ? value : value.substr(0, value.size() - 1);
  long long number = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (error != std::errc() || end != digits.data() + digits.size() || digits.empty()) return std::nullopt;
  switch (unit) {
    case 's':
    case 'm':
    case 'h':
    case 'd': return std::to_string(number) + unit;
    case 'w': return std::to_string(number * 7) + "d";
    default: return std::nullopt;
  }
}

std::optional<long long> number(const std::string& value) {
  long long out = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (error != std::errc() || end != value.data() + value.size()) return std::nullopt;
  return out;
}

// What each parameter relaysim implements is, in Postfix: its kind, and for a time its default unit.
enum class Kind { text, time, count, yes_no };
struct Known {
  Kind kind;
  char unit = 's';
};
const std::map<std::string, Known, std::less<>> known_parameters = {
    {"myhostname", {Kind::text}},
    {"relayhost", {Kind::text}},
    {"maximal_queue_lifetime", {Kind::time, 'd'}},
    {"bounce_queue_lifetime", {Kind::time, 'd'}},
    {"minimal_backoff_time", {Kind::time, 's'}},
    {"maximal_backoff_time", {Kind::time, 's'}},
    {"delay_warning_time", {Kind::time, 'h'}},
    {"smtp_connect_timeout", {Kind::time, 's'}},
    {"smtp_connection_cache_time_limit", {Kind::time, 's'}},
    {"smtp_connection_reuse_time_limit", {Kind::time, 's'}},
    {"smtpd_timeout", {Kind::time, 's'}},
    {"smtpd_error_sleep_time", {Kind::time, 's'}},
    {"anvil_rate_time_unit", {Kind::time, 's'}},
    {"message_size_limit", {Kind::count}},
    {"default_destination_concurrency_limit", {Kind::count}},
    {"default_destination_recipient_limit", {Kind::count}},
    {"qmgr_message_active_limit", {Kind::count}},
    {"smtp_mx_address_limit", {Kind::count}},
    {"smtp_mx_session_limit", {Kind::count}},
    {"smtp_connection_reuse_count_limit", {Kind::count}},
    {"smtpd_recipient_limit", {Kind::count}},
    {"smtpd_soft_error_limit", {Kind::count}},
    {"smtpd_hard_error_limit", {Kind::count}},
    {"smtpd_junk_command_limit", {Kind::count}},
    {"smtpd_client_connection_count_limit", {Kind::count}},
    {"smtpd_client_connection_rate_limit", {Kind::count}},
    {"smtpd_client_message_rate_limit", {Kind::count}},
    {"hopcount_limit", {Kind::count}},
    {"smtp_connection_cache_on_demand", {Kind::yes_no}},
    {"smtpd_tls_auth_only", {Kind::yes_no}},
    {"smtpd_per_record_deadline", {Kind::yes_no}},
    {"smtputf8_enable", {Kind::yes_no}},
};
// Parameters relaysim does not take from main.cf, and why, for the warnings.
const std::map<std::string, std::string, std::less<>> explained = {
    {"relay_domains", "relaysim relays only for mynetworks and authenticated clients (recipient_domains)"},
    {"smtpd_relay_restrictions",
     "relaysim's policy is fixed: permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"},
    {"smtpd_recipient_restrictions",
     "relaysim's policy is fixed: permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"},
    {"queue_directory", "a simulated relay keeps its queue on its node's disk (real mode: the relay daemon's config)"},
    {"smtpd_tls_cert_file", "TLS material is named in the scenario's tls section"},
    {"smtpd_tls_key_file", "TLS material is named in the scenario's tls section"},
    {"smtpd_sasl_auth_enable", "AUTH is offered when the relay has users (config.users)"},
    {"inet_interfaces", "the relay's listeners are in config.listeners"},
    {"compatibility_level", "relaysim behaves as Postfix 3.7 with compatibility_level 3.6"},
};

// A domain key of a Postfix map: ".example.com" matches the subdomains, "example.com" the domain
// (with the default parent_domain_matches_subdomains, the subdomains too - see the warning).
std::string domain_pattern(const std::string& key) { return key.starts_with('.') ? "*" + key : key; }

std::string strip_transport(const std::string& value, bool& usable) {
  const std::size_t colon = value.find(':');
  const std::string transport = colon == std::string::npos ? value : value.substr(0, colon);
  usable = transport == "smtp" || transport == "relay" || transport.empty();
  return colon == std::string::npos ? std::string() : value.substr(colon + 1);
}

// "key value" lines of a map's source, # comments, continuation lines; or an inline:{ k=v, ... } value.
std::vector<std::pair<std::string, std::string>> map_entries(const std::string& text, const std::string& name) {
  std::vector<std::pair<std::string, std::string>> entries;
  std::size_t start = 0, number = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    number += 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    if (first > 0 && !entries.empty()) {
      entries.back().second += " " + line.substr(first);
      continue;
    }
    const std::size_t gap = line.find_first_of(" \t");
    if (gap == std::string::npos)
      throw ImportError(name + ":" + std::to_string(number) + ": expected \"key value\", found \"" + line + "\"");
    std::string value = line.substr(gap);
    value.erase(0, value.find_first_not_of(" \t"));
    entries.emplace_back(to_lower(line.substr(0, gap)), value);
  }
  return entries;
}

std::vector<std::pair<std::string, std::string>> inline_entries(const std::string& value) {
  std::vector<std::pair<std::string, std::string>> entries;
  const std::size_t open = value.find('{'), close = value.rfind('}');
  if (open == std::string::npos || close == std::string::npos || close < open)
    throw ImportError("an inline map without { }: \"" + value + "\"");
  for (std::string item : [&] {
         std::vector<std::string> parts;
         std::string part;
         for (const char c : value.substr(open + 1, close - open - 1) + ",") {
           if (c == ',') {
             parts.push_back(part);
             part.clear();
           } else {
             part += c;
           }
         }
         return parts;
       }()) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    const std::size_t equals = item.find('=');
    if (equals == std::string::npos) throw ImportError("an inline map entry without '=': \"" + item + "\"");
    std::string key = item.substr(0, equals), entry = item.substr(equals + 1);
    key.erase(key.find_last_not_of(" \t") + 1);
    entry.erase(0, entry.find_first_not_of(" \t"));
    entries.emplace_back(to_lower(key), entry);
  }
  return entries;
}

bool is_tls_level(const std::string& level) {
  return level == "none" || level == "may" || level == "encrypt" || level == "verify" || level == "dane" ||
         level == "dane-only";
}

using Entries = std::vector<std::pair<std::string, std::string>>;

// transport_maps: smtp and relay entries with a next hop become static routes.
nlohmann::ordered_json transport_routes(const Entries& entries, std::vector<std::string>& warnings) {
  nlohmann::ordered_json routes = nlohmann::ordered_json::array();
  for (const auto& [key, target] : entries) {
    bool usable = false;
    const std::string nexthop = strip_transport(target, usable);
    if (!usable || nexthop.empty()) {
      warnings.push_back("transport_maps: " + key + " -> " + target +
                         ": only smtp and relay transports with a next hop are imported");
      continue;
    }
    routes.push_back({{"recipient_domain", domain_pattern(key)}, {"nexthop", nexthop}});
  }
  return routes;
}

// smtp_tls_policy_maps: each entry's level; its options are named, not imported.
nlohmann::ordered_json tls_policies(const Entries& entries, std::vector<std::string>& warnings) {
  nlohmann::ordered_json policies = nlohmann::ordered_json::object();
  for (const auto& [key, policy] : entries) {
    const std::vector<std::string> words = list_of(policy);
    const std::string level = words.empty() ? "" : words.front();
    if (!is_tls_level(level)) {
      warnings.push_back("smtp_tls_policy_maps: " + key + " -> " + policy +
                         ": relaysim implements none, may, encrypt, verify, dane and dane-only");
      continue;
    }
    if (words.size() > 1)
      warnings.push_back("smtp_tls_policy_maps: " + key + ": only the level is imported, not \"" + policy + "\"");
    policies[domain_pattern(key)] = level;
  }
  return policies;
}

// smtp_sasl_password_maps: next hop -> user:password.
nlohmann::ordered_json sasl_credentials(const Entries& entries) {
  nlohmann::ordered_json credentials = nlohmann::ordered_json::object();
  for (const auto& [key, secret] : entries) {
    const std::size_t colon = secret.find(':');
    if (colon == std::string::npos) throw ImportError("smtp_sasl_password_maps: " + key + ": expected user:password");
    credentials[key] = {{"user", secret.substr(0, colon)}, {"password", secret.substr(colon + 1)}};
  }
  return credentials;
}

}  // namespace

Imported import_postfix(const PostfixFiles& files) {
  Imported out;
  std::vector<std::string>& warnings = out.warnings;
  const std::string& file = files.main_cf_name;
  const std::map<std::string, Parameter> parameters = read_main_cf(files.main_cf, warnings, file);
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  const auto at = [&](const std::string& name) {
    return file + ":" + std::to_string(parameters.at(name).line) + ": " + name;
  };

  // A map parameter's entries: inline from main.cf, or the source file given for it.
  const auto entries_of = [&](const std::string& name, const std::string& value, const std::optional<MapSource>& source,
                              const char* option) -> std::optional<Entries> {
    if (value.starts_with("inline:")) return inline_entries(value);
    if (source) return map_entries(source->text, source->name);
    warnings.push_back(at(name) + " = " + value + ": give " + option + " FILE (the map's source text) to import it");
    return std::nullopt;
  };

  // In the file's order; a parameter that only feeds others ($mydomain) needs no word of its own.
  std::vector<std::pair<std::string, const Parameter*>> in_order;
  std::set<std::string> referenced;
  for (const auto& [name, parameter] : parameters) {
    in_order.emplace_back(name, &parameter);
    for (const auto& [other, unused] : parameters) {
      const std::string& text = parameter.value;
      if (text.find("$" + other) != std::string::npos || text.find("${" + other) != std::string::npos ||
          text.find("$(" + other) != std::string::npos) {
        referenced.insert(other);
      }
    }
  }
  std::sort(in_order.begin(), in_order.end(),
            [](const auto& a, const auto& b) { return a.second->line < b.second->line; });
  for (const auto& [name, parameter] : in_order) {
    std::set<std::string> unknown;
    const std::string value = expand(parameter->value, parameters, unknown);
    for (const std::string& missing : unknown)
      warnings.push_back(at(name) + ": $" + missing + " is not set in this file: left as it is");
    if (value.empty())
      continue;  // Postfix's "name =": the parameter's empty value, which relaysim's default matches (relayhost: none)
    if (const auto found = known_parameters.find(name); found != known_parameters.end()) {
      const Known& known = found->second;
      if (known.kind == Kind::text) {
        config[name] = value;
      } else if (known.kind == Kind::time) {
        const auto converted = duration(value, known.unit);
        if (!converted)
          throw ImportError(at(name) + ": \"" + value + "\" is not a time (a number, with s, m, h, d or w)");
        config[name] = *converted;
      } else if (known.kind == Kind::count) {
        const auto converted = number(value);
        if (!converted) throw ImportError(at(name) + ": \"" + value + "\" is not a number");
        config[name] = *converted;
      } else {
        if (value != "yes" && value != "no") throw ImportError(at(name) + ": \"" + value + "\" is not yes or no");
        config[name] = value == "yes";
      }
    } else if (name == "mynetworks" || name == "smtpd_client_event_limit_exceptions") {
      nlohmann::ordered_json networks = nlohmann::ordered_json::array();
      for (std::string item : list_of(value)) {
        if (item.find(':') != std::string::npos && !item.starts_with('[')) {
          warnings.push_back(at(name) + ": " + item + " is a lookup table: not imported");
          continue;
        }
        item.erase(std::remove(item.begin(), item.end(), '['), item.end());  // [::1]/128 -> ::1/128
        item.erase(std::remove(item.begin(), item.end(), ']'), item.end());
        networks.push_back(item);
      }
      config[name] = networks;
    } else if (name == "smtp_tls_security_level") {
      if (!is_tls_level(value)) {
        warnings.push_back(at(name) + " = " + value +
                           ": relaysim implements none, may, encrypt, verify, dane and dane-only: left at its default "
                           "(may)");
      } else {
        config[name] = value;
      }
    } else if (name == "smtp_dns_support_level") {
      if (value == "enabled" || value == "dnssec") {
        config[name] = value;
      } else if (!value.empty()) {
        warnings.push_back(at(name) + " = " + value +
                           ": relaysim always uses DNS (enabled or dnssec): left at enabled");
      }
    } else if (name == "smtp_tls_loglevel") {
      if (value.size() == 1 && value[0] >= '0' && value[0] <= '4') config[name] = value[0] - '0';
    } else if (name == "transport_maps") {
      if (const auto entries = entries_of(name, value, files.transport, "--transport"))
        config[name] = transport_routes(*entries, warnings);
    } else if (name == "smtp_tls_policy_maps") {
      // postfix-mta-sts-resolver answers as a socketmap named "postfix": MTA-STS, which relaysim
      // implements itself. The other maps of the list are the policy table.
      std::string tables = value.find("socketmap:") == std::string::npos ? value : "";
      for (const std::string& table : tables.empty() ? list_of(value) : std::vector<std::string>{}) {
        if (table.starts_with("socketmap:") && table.ends_with(":postfix")) {
          config["smtp_tls_mta_sts"] = true;
          warnings.push_back(at(name) + ": " + table +
                             " is read as postfix-mta-sts-resolver: imported as smtp_tls_mta_sts = true");
        } else {
          tables += (tables.empty() ? "" : ", ") + table;
        }
      }
      if (tables.empty()) continue;
      if (const auto entries = entries_of(name, tables, files.tls_policy, "--tls-policy"))
        config[name] = tls_policies(*entries, warnings);
    } else if (name == "smtp_sasl_password_maps") {
      if (const auto entries = entries_of(name, value, files.sasl_passwd, "--sasl-passwd"))
        config[name] = sasl_credentials(*entries);
    } else if (const auto why = explained.find(name); why != explained.end()) {
      warnings.push_back(at(name) + " is not imported: " + why->second);
    } else if (!referenced.contains(name)) {
      warnings.push_back(at(name) + " is not a parameter relaysim implements: not imported");
    }
  }
  if (config.empty()) throw ImportError(file + ": no parameter relaysim implements");
  if (config.contains("transport_maps") || config.contains("smtp_tls_policy_maps")) {
    warnings.push_back(
        "map keys \"example.com\" are imported as the domain alone; Postfix's parent_domain_matches_subdomains also "
        "matches "
        "its subdomains in transport maps: add \"*.example.com\" where that is meant");
  }

  const std::string host = config.contains("myhostname") ? config["myhostname"].get<std::string>() : "relay.example";
  nlohmann::ordered_json& scenario = out.scenario;
  scenario["name"] = "Imported Postfix relay";
  scenario["description"] = "The relay's settings imported from " + file +
                            ": every parameter relaysim implements. Add senders and MX servers.";
  scenario["//"] = "Written by relaysim import postfix-config. The relay's address is a placeholder.";
  scenario["seed"] = 1;
  scenario["start"] = "2026-03-02T09:00:00Z";
  scenario["hosts"] = {{host, {{"addresses", {"198.51.100.10"}}}}};
  scenario["nodes"] = {{"relay", {{"host", host}, {"type", "relay"}, {"config", config}}}};
  return out;
}

}  // namespace relaysim::scenario::import
