// Salesforce's TLS setting and the relay's outbound TLS level are never violated - DANE included,
// judged from the scenario's own DNS rather than from what the relay made of it.

#include <algorithm>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

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
  const std::string name = "_" + std::to_string(port) + "._tcp." + host;
  const auto tlsa = loaded.tlsa_records.find(name);
  if (tlsa == loaded.tlsa_records.end()) return false;
  for (const std::string& signed_name : {domain, host, name}) {
    if (zone_state(loaded, signed_name) != io::Dnssec::secure) return false;
  }
  return std::any_of(tlsa->second.begin(), tlsa->second.end(), usable_for_smtp);
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
  }
  return violations.verdict("TLS settings are never violated", counted(checked, "hand-over") + " checked");
}

}  // namespace relaysim::scenario::invariants
