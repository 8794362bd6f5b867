// Salesforce's TLS setting and the relay's outbound TLS level are never violated - DANE and
// MTA-STS included, judged from the scenario's own DNS and policy hosts rather than from what the
// relay made of them.

#include <algorithm>
#include <sstream>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"
#include "tls/certificate.hpp"

namespace relaysim::scenario::invariants {
namespace {

// The DNSSEC state of the zone `name` is in: the scenario's longest matching apex, else unsigned.
io::Dnssec zone_state(const LoadedWorld& loaded, std::string name) {
  while (true) {
    const auto found = loaded.dnssec_zones.find(name);
    if (found != loaded.dnssec_zones.end()) return found->second;
    const std::size_t dot = name.find('.');
    if (dot == std::string::npos) return io::Dnssec::insecure;
    name.erase(0, dot + 1);
  }
}

// RFC 7672 2.2 and 3.1: DANE-TA(2) or DANE-EE(3), a certificate or key, whole or as a SHA-2 digest.
bool usable_for_smtp(const io::TlsaRecord& record) {
  const bool usage = record.usage == 2 || record.usage == 3;
  const bool matching = (record.matching == 0 && !record.data.empty()) ||
                        (record.matching == 1 && record.data.size() == 32) ||
                        (record.matching == 2 && record.data.size() == 64);
  return usage && record.selector <= 1 && matching;
}

// Whether DANE binds the server `host` on `port` for mail to `domain` for the whole run: the
// domain's MX records name it, and the MX, the host and its TLSA records are all in signed zones,
// with at least one usable TLSA record. Then a DANE relay may hand it mail only over TLS that
// matched a record.
bool dane_bound(const LoadedWorld& loaded, const std::string& domain, const std::string& host, std::uint16_t port) {
  const auto mx = loaded.mx_records.find(domain);
  if (mx == loaded.mx_records.end()) return false;
  if (std::none_of(mx->second.begin(), mx->second.end(), [&](const io::MxRecord& r) { return r.exchange == host; }))
    return false;
  const std::string name = io::tlsa_name(host, port);
  const auto tlsa = loaded.tlsa_records.find(name);
  if (tlsa == loaded.tlsa_records.end()) return false;
  for (const std::string& signed_name : {domain, host, name}) {
    if (zone_state(loaded, signed_name) != io::Dnssec::secure) return false;
  }
  return std::any_of(tlsa->second.begin(), tlsa->second.end(), usable_for_smtp);
}

// The MX patterns of an enforce policy as a policy host serves it, read apart from the relay's
// parser: a 200 answer of type text/plain, in time, whose body says "version: STSv1", "mode:
// enforce", a max_age and at least one mx. Anything else (testing, none, an error) binds nothing.
std::optional<std::vector<std::string>> enforced_patterns(const fake_mx::PolicyAnswer& answer, Duration timeout) {
  if (answer.status != 200 || answer.content_type != "text/plain" || answer.delay >= timeout) return std::nullopt;
  bool version = false, enforce = false, max_age = false;
  std::vector<std::string> mx;
  std::istringstream lines(answer.body);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    version |= key == "version" && value == "STSv1";
    enforce |= key == "mode" && value == "enforce";
    max_age |= key == "max_age" && !value.empty() && std::all_of(value.begin(), value.end(), is_ascii_digit);
    if (key == "mx" && !value.empty()) mx.push_back(to_lower(value));
  }
  if (!version || !enforce || !max_age || mx.empty()) return std::nullopt;
  return mx;
}

bool named_by(const std::vector<std::string>& patterns, const std::string& host) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    if (pattern == host) return true;
    const std::size_t dot = host.find('.');
    return pattern.starts_with("*.") && dot != std::string::npos && dot > 0 &&
           host.substr(dot + 1) == pattern.substr(2);
  });
}

// Whether an enforce MTA-STS policy binds the relay `relay` for mail to `domain` for the whole run,
// and if so its MX patterns: the relay applies MTA-STS to the domain (on, no policy table entry, no
// static route); the domain's "_mta-sts" TXT holds exactly one STSv1 record throughout; its policy
// host "mta-sts.<domain>" presents a certificate the relay trusts (issued by one of its anchors,
// naming the host, valid from start to end) and only ever serves enforce policies; and nothing in
// the world fails (no faults), so every lookup and fetch succeeds.
std::optional<std::vector<std::string>> mta_sts_bound(const LoadedWorld& loaded, const std::string& relay,
                                                      const relay::RelayConfig& config, const std::string& domain) {
  if (!config.smtp_tls_mta_sts || loaded.faults || relay::has_tls_policy(config, domain)) return std::nullopt;
  for (const relay::Transport& transport : config.transport_maps) {
    if (relay::domain_matches(transport.recipient_domain, domain)) return std::nullopt;
  }
  const auto record = loaded.mta_sts_records.find("_mta-sts." + domain);
  if (record == loaded.mta_sts_records.end()) return std::nullopt;
  const auto is_sts = [](const std::string& text) { return text.starts_with("v=STSv1;"); };
  if (std::count_if(record->second.begin(), record->second.end(), is_sts) != 1) return std::nullopt;
  const std::string host = "mta-sts." + domain;
  const auto setup = std::find_if(loaded.policy_hosts.begin(), loaded.policy_hosts.end(),
                                  [&](const auto& entry) { return entry.second.host == host; });
  const auto trust = loaded.relay_trust.find(relay);
  if (setup == loaded.policy_hosts.end() || trust == loaded.relay_trust.end()) return std::nullopt;
  const tls::Certificate& certificate = *setup->second.certificate;
  const bool trusted = std::any_of(trust->second.begin(), trust->second.end(), [&](const tls::Certificate* anchor) {
    return anchor == &certificate || anchor->subject() == certificate.issuer();
  });
  const std::string subject = certificate.subject();
  const bool names_host = subject == "CN=" + host || subject.starts_with("CN=" + host + ",");
  const auto validity = certificate.validity();
  if (!trusted || !names_host || !validity || validity->first > loaded.start || validity->second < loaded.until)
    return std::nullopt;
  std::vector<std::string> patterns;
  for (const fake_mx::PolicyAnswer& answer : setup->second.answers) {
    const auto enforced = enforced_patterns(answer, config.mta_sts_fetch_timeout);
    if (!enforced) return std::nullopt;
    patterns.insert(patterns.end(), enforced->begin(), enforced->end());
  }
  return patterns;
}

}  // namespace

Verdict tls_settings(const LoadedWorld& loaded, const RunObserver& observer) {
  checks::Violations violations;
  std::size_t checked = 0;
  for (const auto& [name, org] : loaded.orgs) {
    const salesforce::Org& setup = loaded.org_setups.at(name);
    for (const salesforce::LogEntry& entry : org->log) {
      if (entry.event != salesforce::EmailLogEvent::delivered) continue;
      const auto relay =
          std::find_if(setup.relays.begin(), setup.relays.end(), [&](const auto& r) { return r.name == entry.path; });
      if (relay == setup.relays.end()) continue;
      checked += 1;
      const bool required =
          relay->tls == salesforce::TlsSetting::required || relay->tls == salesforce::TlsSetting::required_verify;
      if (required && !entry.tls) {
        violations.add(name + " handed " + entry.email + " for " + entry.recipient + " to " + relay->name +
                           " without TLS under " + std::string(to_string(relay->tls)),
                       entry.at);
      }
      if (salesforce::verifies(relay->tls) && entry.tls && !entry.tls_verified) {
        violations.add(name + " handed " + entry.email + " for " + entry.recipient + " to " + relay->name +
                           " over TLS with an unverified certificate under " + std::string(to_string(relay->tls)),
                       entry.at);
      }
    }
  }
  for (const RunObserver::RelayOutcome& outcome : observer.outcomes) {
    if (outcome.state != relay::RecipientState::delivered) continue;
    const auto config = loaded.relay_configs.find(outcome.node);
    if (config == loaded.relay_configs.end()) continue;
    checked += 1;
    const relay::TlsLevel level = relay::tls_level_for(config->second, checks::domain_of(outcome.rcpt));
    if ((level == relay::TlsLevel::encrypt || level == relay::TlsLevel::verify) && !outcome.tls) {
      violations.add(outcome.node + " delivered " + outcome.id + " to " + outcome.rcpt + " without TLS at level " +
                         std::string(relay::to_string(level)),
                     outcome.at);
    }
    if (level == relay::TlsLevel::verify && !outcome.tls_verified) {
      violations.add(outcome.node + " delivered " + outcome.id + " to " + outcome.rcpt +
                         " to an unverified server at level verify",
                     outcome.at);
    }
    if ((level == relay::TlsLevel::dane || level == relay::TlsLevel::dane_only) &&
        !(outcome.tls && outcome.tls_verified)) {
      const std::string host = outcome.relay.substr(0, outcome.relay.find('['));
      const std::uint16_t port = outcome.relay_endpoint ? outcome.relay_endpoint->port : 25;
      if (level == relay::TlsLevel::dane_only) {
        violations.add(outcome.node + " delivered " + outcome.id + " to " + outcome.rcpt + " at " + outcome.relay +
                           " without a session authenticated by TLSA records, at level dane-only",
                       outcome.at);
      } else if (config->second.smtp_dns_support_dnssec &&
                 dane_bound(loaded, checks::domain_of(outcome.rcpt), host, port)) {
        violations.add(outcome.node + " delivered " + outcome.id + " to " + outcome.rcpt + " at " + outcome.relay +
                           (outcome.tls ? " over TLS that matched none of" : " in plaintext despite") +
                           " its DNSSEC-validated TLSA records, at level dane",
                       outcome.at);
      }
    }
    const std::string domain = checks::domain_of(outcome.rcpt);
    if (const auto patterns = mta_sts_bound(loaded, outcome.node, config->second, domain)) {
      const std::string host = to_lower(outcome.relay.substr(0, outcome.relay.find('[')));
      if (!named_by(*patterns, host)) {
        violations.add(outcome.node + " delivered " + outcome.id + " to " + outcome.rcpt + " at " + outcome.relay +
                           ", an MX host the enforce MTA-STS policy of " + domain + " does not name",
                       outcome.at);
      } else if (!(outcome.tls && outcome.tls_verified)) {
        violations.add(outcome.node + " delivered " + outcome.id + " to " + outcome.rcpt + " at " + outcome.relay +
                           (outcome.tls ? " over TLS with an unverified certificate" : " in plaintext") +
                           " under the enforce MTA-STS policy of " + domain,
                       outcome.at);
      }
    }
  }
  return violations.verdict("TLS settings are never violated", counted(checked, "hand-over") + " checked");
}

}  // namespace relaysim::scenario::invariants
