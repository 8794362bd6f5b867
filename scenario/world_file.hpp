#pragma once
// World files: a JSON description of a simulated world (hosts, network, DNS, nodes, faults), loaded
// into a sim::World. This is the kernel part of the scenario format; docs/scenario-format.md
// documents every key.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "fake_mx/fake_mx_node.hpp"
#include "fake_mx/policy_host.hpp"
#include "fake_mx/tls_report_collector.hpp"
#include "fake_salesforce/org_node.hpp"
#include "relay/config.hpp"
#include "scenario/expectation.hpp"
#include "scenario/json_reader.hpp"
#include "sim/world.hpp"

namespace relaysim::tls {
class Certificate;
}

namespace relaysim::scenario {

// The world's TLS material: certificates forged from the world's seed, and the contexts nodes use.
// It lives as long as the world (nodes hold pointers into it).
struct TlsMaterial;

// A message the world's senders will send, as the scenario plans it: what expectations' recipients
// and selectors are held to when the file is loaded.
struct PlannedMessage {
  std::string node;
  std::string send;                    // the send's label ("renewals[12]"); empty when it has none
  std::optional<std::string> subject;  // none: decided at run time (Test Deliverability)
  std::vector<std::string> to;
};

// Something in the file that is allowed but probably not meant: an expectation about a recipient
// nothing sends to, a send after the run ends.
struct LoadWarning {
  std::string path;
  std::string message;
};

struct LoadedWorld {
  std::string name;
  std::string description;
  std::uint64_t seed = 0;
  Instant start;
  Instant until;  // the run stops here at the latest
  std::unique_ptr<sim::World> world;
  // The mail stores of the world's fake MX nodes, by node name: what they accepted.
  std::map<std::string, std::shared_ptr<fake_mx::MailStore>> mail_stores;
  // What the world's TLS report collectors received, by node name.
  std::map<std::string, std::shared_ptr<fake_mx::TlsReportStore>> tls_report_stores;
  // The state of the world's Salesforce org nodes, by node name: email log, bounced contacts.
  std::map<std::string, std::shared_ptr<salesforce::OrgState>> orgs;
  // The configurations the checks hold the nodes to, by node name.
  std::map<std::string, relay::RelayConfig> relay_configs;
  std::map<std::string, salesforce::Org> org_setups;
  relay::BrokenVariant broken_variant = relay::BrokenVariant::none;  // of every relay and org (test code only)
  std::shared_ptr<TlsMaterial> tls;
  std::vector<Expectation> expectations;  // "expect"
  std::vector<PlannedMessage> planned;    // every Salesforce send and SMTP sender message, in file order
  std::vector<LoadWarning> warnings;
  std::string directory;                          // the scenario file's directory: relative file names start here
  std::map<std::string, std::string> node_hosts;  // node name -> host name
  std::map<std::string, std::vector<io::Address>> host_addresses;
  // MX records that hold for the whole run (names without dns_changes), for the routing checks.
  std::map<std::string, std::vector<io::MxRecord>> mx_records;
  // Domains whose MX is a null MX (RFC 7505) for the whole run.
  std::set<std::string> null_mx_domains;
  // TLSA records that hold for the whole run, by name ("_25._tcp.mx.dest.example"), and the
  // scenario's DNSSEC zones (apex -> state), for the DANE check.
  std::map<std::string, std::vector<io::TlsaRecord>> tlsa_records;
  std::map<std::string, io::Dnssec> dnssec_zones;
  // MTA-STS, for the TLS check: the TXT records at "_mta-sts.<domain>" that hold for the whole run,
  // each relay's trust anchors (by node name), and each policy host's setup (by node name).
  std::map<std::string, std::vector<std::string>> mta_sts_records;
  std::map<std::string, std::vector<const tls::Certificate*>> relay_trust;
  struct PolicyHostSetup {
    std::string host;
    const tls::Certificate* certificate = nullptr;
    std::vector<fake_mx::PolicyAnswer> answers;  // the first, then each change's
  };
  std::map<std::string, PolicyHostSetup> policy_hosts;
  bool faults = false;  // the scenario has faults (of any kind)
  // DKIM keys by name ("dkim_keys"), for the nodes that sign.
  std::map<std::string, std::shared_ptr<const mailauth::DkimKey>> dkim_keys;
};

// How long a world without `until` may run before it is stopped, so that a node that never goes
// quiet cannot make a run endless.
constexpr Duration run_length_default_max = days(30);

// Throws InputError (with the JSON path) for anything wrong, including what sim::World refuses;
// mistakes in separate nodes, faults and expectations are all reported (InputError::further()),
// and expectations are held to the world (scenario/references.hpp).
// `directory`: where files the document names (PEM files) are looked for. `broken_variant`: every
// relay and org of the world broken that way (test code only: relay/broken_variant.hpp).
LoadedWorld load_world(const nlohmann::json& document, std::optional<std::uint64_t> seed_override,
                       const std::string& directory = "",
                       relay::BrokenVariant broken_variant = relay::BrokenVariant::none);
// Reads and parses a world file; a missing or unreadable file is an InputError at `$`.
nlohmann::json read_world_document(const std::string& path);
// Where a world file's relative file names start: its directory.
std::string directory_of(const std::string& path);

// read_world_document, then load_world.
LoadedWorld load_world_file(const std::string& path, std::optional<std::uint64_t> seed_override);

// One name's records in the scenario's "dns" form: {"A": [...], "MX": [[10, "mx1"]], "ttl": "5m", ...}.
// `certificate` finds a certificate a TLSA record names; without it TLSA data must be given in hex.
using CertificateLookup = std::function<const tls::Certificate*(const JsonValue& name)>;
io::DnsRecords read_dns_records(const JsonValue& value, const CertificateLookup& certificate = {});
// The "dnssec" map: zone apex (normalized) -> "signed", "unsigned" or "bogus".
std::map<std::string, io::Dnssec> read_dnssec_zones(const JsonValue& value);

}  // namespace relaysim::scenario
