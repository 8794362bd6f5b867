#pragma once
// The configuration files of the real-mode commands: `relaysim relay`, `relaysim mx` and
// `relaysim salesforce`. Each wraps the node's own JSON - the same "config", "behaviour" and "org"
// objects a scenario's nodes take - with what a process on a real machine needs: where its files
// live, PEM files for TLS, where to listen, and how to resolve names. docs/real-mode.md documents
// every key. Errors are InputErrors naming the JSON path, as for scenarios.
//
// Relative file names in a configuration start at the configuration file's directory.

#include <memory>
#include <optional>
#include <string>

#include "fake_mx/behaviour.hpp"
#include "fake_salesforce/org_node.hpp"
#include "io/dns_wire.hpp"
#include "io/zone.hpp"
#include "relay/config.hpp"
#include "scenario/json_reader.hpp"
#include "tls/engine.hpp"

namespace relaysim::scenario {

// PEM text read from files named in the configuration.
struct TlsFiles {
  std::string certificate_pem;  // the certificate, then any intermediates ("fullchain.pem")
  std::string key_pem;
  std::string trust_pem;      // trust anchors: a CA bundle
  bool system_trust = false;  // the operating system's CA store
  tls::Version minimum = tls::Version::tls1_2;
  tls::Version maximum = tls::Version::tls1_3;
};

// How the process resolves names: static records first (a hosts and MX override), then the
// system's resolver (or one nameserver), unless `records_only`.
struct DnsSetup {
  std::shared_ptr<io::Zone> records;  // null: none
  bool records_only = false;
  std::optional<io::Endpoint> nameserver;
  Duration timeout = std::chrono::seconds(5);
};

struct RelayDaemonConfig {
  relay::RelayConfig relay;
  std::string data_directory;  // the queue directory is relative to it
  TlsFiles tls;
  DnsSetup dns;
};

struct MxServerConfig {
  fake_mx::Behaviour behaviour;
  std::string behaviour_json = "{}";  // the "behaviour" object as written, for the API to show
  io::Endpoint listen{io::Address::any_v4(), 25};
  std::optional<io::Endpoint> http;   // the JSON HTTP API; none when unset
  std::size_t max_messages = 10'000;  // kept in the mail store, oldest dropped first; 0: no limit
  std::string data_directory;
  TlsFiles tls;
  DnsSetup dns;
};

struct OrgClientConfig {
  salesforce::Org org;
  std::string data_directory;
  TlsFiles tls;  // trust only: the authorities "Verify" settings check against
  DnsSetup dns;
};

// `relaysim dns --zone FILE`: {"records": {name: records}, "servfail": [names], "timeout": [names]}.
struct DnsServerConfig {
  std::shared_ptr<io::Zone> zone = std::make_shared<io::Zone>();
  io::DnsFaults faults;
};

// "192.0.2.1:25", "[2001:db8::1]:25"; nullopt for anything else.
std::optional<io::Endpoint> parse_endpoint(std::string_view text);

// Each reads and checks one file; throws InputError.
RelayDaemonConfig load_relay_daemon_config(const std::string& path);
MxServerConfig load_mx_server_config(const std::string& path, Instant origin);
OrgClientConfig load_org_client_config(const std::string& path);
DnsServerConfig load_dns_server_config(const std::string& path);

}  // namespace relaysim::scenario
