#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <regex>

#include "io/address.hpp"
#include "io/text.hpp"
#include "scenario/import.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::scenario::import {
namespace {

// Names that stay: Salesforce's own (its bounce domain is what relays are configured to accept)
// and the documentation domains that carry no one's identity.
bool kept(const std::string& domain) {
  for (const char* suffix : {"salesforce.com", "force.com"}) {
    const std::string tail = std::string(".") + suffix;
    if (domain == suffix || domain.ends_with(tail)) return true;
  }
  return false;
}

}  // namespace

Anonymizer::Anonymizer(std::string key) : key_(std::move(key)) {}

std::string Anonymizer::token(std::string_view kind, std::string_view text) const {
  const std::string input = std::string(kind) + ":" + to_lower(text);
  std::array<unsigned char, 32> mac{};
  std::size_t length = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key_.data(), key_.size(),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), mac.size(), &length);
  return to_hex(mac.data(), 3);
}

std::string Anonymizer::domain(std::string_view name) const {
  std::string lower = to_lower(name);
  if (kept(lower)) return lower;
  // Label by label, the top-level label kept: acme.example and mail.acme.example stay related.
  std::string out;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = lower.find('.', start);
    if (dot == std::string::npos) return out + lower.substr(start);
    // Each label is renamed with what follows it, so "mail" under two domains differs.
    out += "d" + token("domain", lower.substr(start)) + ".";
    start = dot + 1;
  }
}

std::string Anonymizer::address(std::string_view ip) const {
  const auto parsed = io::Address::parse(ip);
  const std::string canonical = parsed ? parsed->to_string() : std::string(ip);  // 2001:DB8:0::1 and 2001:db8::1 alike
  const std::string mac = token("address", canonical);
  if (canonical.find(':') != std::string::npos)
    return "2001:db8::" + mac.substr(0, 4) + ":" + mac.substr(4, 2);  // RFC 3849
  const int value = std::stoi(mac, nullptr, 16);                      // 24 bits: 198.18.0.0/15 holds 17 of them
  return "198." + std::to_string(18 + ((value >> 16) & 1)) + "." + std::to_string((value >> 8) & 255) + "." +
         std::to_string(value & 255);
}

// IPv6 addresses standing alone in `text` (a run of hex digits and colons with two colons or more,
// not inside a word, not followed by a prefix length, that parses as an address): renamed.
std::string Anonymizer::ipv6(std::string_view text) const {
  const auto hex_or_colon = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == ':'; };
  const auto joins = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '/' || c == '_' || c == '-';
  };
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    if (!hex_or_colon(text[at]) || (at > 0 && (joins(text[at - 1]) || text[at - 1] == ':'))) {
      out += text[at++];
      continue;
    }
    std::size_t end = at;
    while (end < text.size() && hex_or_colon(text[end])) ++end;
    const std::string_view run = text.substr(at, end - at);
    const bool alone = end == text.size() || !joins(text[end]);
    if (alone && std::count(run.begin(), run.end(), ':') >= 2 && io::Address::parse(run)) {
      out += address(run);
    } else {
      out += run;
    }
    at = end;
  }
  return out;
}

// Addresses, domains (with a "*." in front or not) and IPv4 addresses not followed by a prefix
// length, wherever they stand in the text.
std::string Anonymizer::text(std::string_view input) const {
  static const std::regex pattern(
      R"(([A-Za-z0-9._%+=-]+)@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})|((?:[A-Za-z0-9-]+\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z])|(\b\d{1,3}(?:\.\d{1,3}){3}\b)(?!/|\.\d))");
  std::string out;
  const std::string source(input);
  auto last = source.cbegin();
  for (std::sregex_iterator match(source.begin(), source.end(), pattern), end; match != end; ++match) {
    const std::smatch& m = *match;
    out.append(last, m[0].first);
    if (m[1].matched) {
      const std::string domain_part = m[2].str();
      out += (kept(to_lower(domain_part)) ? m[1].str() : "u" + token("local", m[1].str() + "@" + domain_part)) + "@" +
             domain(domain_part);
    } else if (m[3].matched) {
      const std::string name = m[3].str();
      // File names ("main.cf", "relays.csv") are not domains.
      const bool file =
          name.ends_with(".cf") || name.ends_with(".csv") || name.ends_with(".json") || name.ends_with(".txt");
      out += file ? name : domain(name);
    } else {
      out += address(m[4].str());
    }
    last = m[0].second;
  }
  out.append(last, source.cend());
  return ipv6(out);
}

void Anonymizer::scenario(nlohmann::ordered_json& value) const {
  if (value.is_string()) {
    value = text(value.get<std::string>());
  } else if (value.is_array()) {
    for (auto& item : value) scenario(item);
  } else if (value.is_object()) {
    nlohmann::ordered_json renamed = nlohmann::ordered_json::object();
    for (auto& [key, item] : value.items()) {
      if (key == "password") {
        renamed[key] = "FILL-IN: a password (not imported with --anonymize)";
        continue;
      }
      if (key == "user") {
        renamed[key] = "u" + token("user", item.is_string() ? item.get<std::string>() : item.dump());
        continue;
      }
      scenario(item);
      renamed[text(key)] = std::move(item);
    }
    value = std::move(renamed);
  }
}

}  // namespace relaysim::scenario::import
