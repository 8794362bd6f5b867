#include "scenario/real_config.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "scenario/fake_mx_config.hpp"
#include "scenario/relay_config.hpp"
#include "scenario/salesforce_config.hpp"
#include "scenario/world_file.hpp"

namespace relaysim::scenario {

// "192.0.2.1:25", "[2001:db8::1]:25".
std::optional<io::Endpoint> parse_endpoint(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  const auto address = io::Address::parse(host);
  if (!address || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  const int number = std::stoi(std::string(port));
  if (number > 65535) return std::nullopt;
  return io::Endpoint{*address, static_cast<std::uint16_t>(number)};
}

namespace {

std::string resolve(const std::string& name, const std::string& directory) {
  return name.starts_with('/') ? name : directory + "/" + name;
}

// A file named at `value`, read whole; `what` says what it should be.
std::string read_named_file(const JsonValue& value, const std::string& directory, std::string_view what) {
  const std::string path = resolve(value.string(), directory);
  std::ifstream stream(path, std::ios::binary);
  if (!stream) value.fail(std::string(what) + " (could not read " + path + ")");
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

std::string read_pem(const JsonValue& value, const std::string& directory, std::string_view marker,
                     std::string_view what) {
  std::string text = read_named_file(value, directory, what);
  if (text.find(marker) == std::string::npos)
    value.fail(std::string(what) + " (no \"" + std::string(marker) + "\" in the file)");
  return text;
}

tls::Version tls_version_at(const JsonValue& value) {
  return value.choice({"1.2", "1.3"}) == 0 ? tls::Version::tls1_2 : tls::Version::tls1_3;
}

// "tls": {"cert_file", "key_file", "trust_file", "system_trust", "min_version", "max_version"}.
TlsFiles read_tls_files(const JsonValue& value, const std::string& directory, bool presents, bool trusts) {
  std::vector<std::string_view> keys;
  if (presents) keys.insert(keys.end(), {"cert_file", "key_file", "min_version", "max_version"});
  if (trusts) keys.insert(keys.end(), {"trust_file", "system_trust"});
  for (const auto& [key, member] : value.members()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string allowed;
      for (std::string_view name : keys) allowed += (allowed.empty() ? "" : ", ") + std::string(name);
      member.fail("no such key here (allowed: " + allowed + ")");
    }
  }
  TlsFiles files;
  if (auto certificate = value.find("cert_file")) {
    files.certificate_pem = read_pem(*certificate, directory, "-----BEGIN CERTIFICATE-----", "a PEM certificate file");
    if (!value.has("key_file")) value.fail("\"key_file\" with the certificate's private key");
    files.key_pem = read_pem(value.at("key_file"), directory, "PRIVATE KEY-----", "a PEM private key file");
  } else if (auto key = value.find("key_file")) {
    key->fail("\"cert_file\" beside it: a key alone presents nothing");
  }
  if (auto trust = value.find("trust_file")) {
    files.trust_pem = read_pem(*trust, directory, "-----BEGIN CERTIFICATE-----", "a PEM file of trusted certificates");
  }
  if (auto system = value.find("system_trust")) files.system_trust = system->boolean();
  if (auto minimum = value.find("min_version")) files.minimum = tls_version_at(*minimum);
  if (auto maximum = value.find("max_version")) files.maximum = tls_version_at(*maximum);
  if (files.maximum < files.minimum) value.at("max_version").fail("a version at least min_version");
  return files;
}

io::Endpoint read_endpoint(const JsonValue& value) {
  const auto endpoint = parse_endpoint(value.string());
  if (!endpoint) value.fail("an address and port, such as \"127.0.0.1:2525\" or \"0.0.0.0:25\"");
  return *endpoint;
}

// "dns": {"records": {name: records}, "records_only": bool, "nameserver": "ip[:port]", "timeout": "5s"}.
// {name: records}, each in the scenario's "dns" form.
std::shared_ptr<io::Zone> read_zone(const JsonValue& records) {
  auto zone = std::make_shared<io::Zone>();
  for (const auto& [name, item] : records.members()) {
    io::DnsRecords read = read_dns_records(item);
    if (!read.cname.empty() && (!read.addresses.empty() || !read.mx.empty() || !read.texts.empty())) {
      item.fail("a CNAME alone, or other records without a CNAME (RFC 1034 §3.6.2)");
    }
    zone->set(name, std::move(read));
  }
  return zone;
}

DnsSetup read_dns_setup(const JsonValue& value) {
  value.allow_keys({"records", "records_only", "nameserver", "timeout"});
  DnsSetup dns;
  if (auto records = value.find("records")) dns.records = read_zone(*records);
  if (auto only = value.find("records_only")) {
    dns.records_only = only->boolean();
    if (dns.records_only && !dns.records) only->fail("false, or \"records\" to answer from");
  }
  if (auto server = value.find("nameserver")) {
    const std::string text = server->string();
    const auto endpoint = parse_endpoint(text.find(':') == std::string::npos ? text + ":53" : text);
    if (!endpoint || !endpoint->address.is_v4())
      server->fail("an IPv4 address, optionally with a port: \"127.0.0.1:5353\"");
    dns.nameserver = *endpoint;
  }
  if (auto timeout = value.find("timeout")) {
    dns.timeout = timeout->duration();
    if (dns.timeout < std::chrono::seconds(1)) timeout->fail("at least 1s");
  }
  return dns;
}

// In real mode a signing entry's "key" is a PEM file.
void load_dkim_key(mailauth::DkimSigning& signing, const JsonValue& at, const std::string& directory) {
  std::string error;
  auto key = mailauth::DkimKey::from_pem(read_pem(at, directory, "PRIVATE KEY-----", "a PEM private key file"), &error);
  if (!key) at.fail("a DKIM private key file: " + error);
  signing.key = std::move(key);
}

// The whole file as JSON; its problems are InputErrors at `$`.
nlohmann::json read_document(const std::string& path) { return read_json_file(path, "a configuration file"); }

// The data directory as configured (`data_directory`, else the file's own directory), checked:
// a writable directory, or a path whose nearest existing parent is one (it is created at start).
std::string read_data_directory(const JsonValue& root, const std::string& directory) {
  const auto given = root.find("data_directory");
  const std::string path = given ? resolve(given->string(), directory) : directory;
  const auto refuse = [&](const std::string& found) {
    if (given) throw InputError(given->path(), "a writable directory", found);
    throw InputError("$", "\"data_directory\" naming a writable directory", found);
  };
  std::error_code error;
  std::filesystem::path existing = path.empty() ? "." : path;
  while (!std::filesystem::exists(existing, error) && existing.has_parent_path() &&
         existing != existing.parent_path()) {
    existing = existing.parent_path();
  }
  if (!std::filesystem::is_directory(existing, error)) refuse(existing.string() + ", which is not a directory");
  if (::access(existing.c_str(), W_OK | X_OK) != 0) refuse(existing.string() + ", which this user cannot write to");
  return path;
}

}  // namespace

RelayDaemonConfig load_relay_daemon_config(const std::string& path) {
  const nlohmann::json document = read_document(path);
  const JsonValue root(document, "$");
  if (!root.is_object()) root.fail("an object with \"config\"");
  root.allow_keys({"config", "data_directory", "tls", "dns"});
  const std::string directory = directory_of(path);
  RelayDaemonConfig config;
  config.relay = root.find("config") ? read_relay_config(root.at("config")) : relay::RelayConfig{};
  for (std::size_t i = 0; i < config.relay.dkim_signing.size(); ++i) {
    load_dkim_key(config.relay.dkim_signing[i], root.at("config").at("dkim_signing").items()[i].at("key"), directory);
  }
  config.data_directory = read_data_directory(root, directory);
  if (auto tls = root.find("tls")) config.tls = read_tls_files(*tls, directory, true, true);
  bool needs_certificate = false;
  for (const relay::ListenerConfig& listener : config.relay.listeners)
    needs_certificate = needs_certificate || listener.implicit_tls;
  if (needs_certificate && config.tls.certificate_pem.empty()) {
    (root.find("tls") ? root.at("tls") : root)
        .fail("\"tls\": {\"cert_file\", \"key_file\"}: a listener uses implicit TLS");
  }
  if (auto dns = root.find("dns")) config.dns = read_dns_setup(*dns);
  return config;
}

MxServerConfig load_mx_server_config(const std::string& path, Instant origin) {
  const nlohmann::json document = read_document(path);
  const JsonValue root(document, "$");
  if (!root.is_object()) root.fail("an object with \"listen\" and \"behaviour\"");
  root.allow_keys({"listen", "behaviour", "http", "max_messages", "data_directory", "tls", "dns"});
  const std::string directory = directory_of(path);
  MxServerConfig config;
  if (auto behaviour = root.find("behaviour")) {
    config.behaviour = read_fake_mx_behaviour(*behaviour, origin);
    config.behaviour_json = behaviour->raw().dump();
  }
  config.listen = root.find("listen") ? read_endpoint(root.at("listen"))
                                      : io::Endpoint{io::Address::any_v4(), config.behaviour.port};
  config.behaviour.port = config.listen.port;
  if (auto http = root.find("http")) config.http = read_endpoint(*http);
  if (auto max = root.find("max_messages"))
    config.max_messages = static_cast<std::size_t>(max->integer(0, 100'000'000));
  config.data_directory = read_data_directory(root, directory);
  if (auto tls = root.find("tls")) config.tls = read_tls_files(*tls, directory, true, false);
  if (config.behaviour.starttls && config.tls.certificate_pem.empty()) {
    root.fail("\"tls\": {\"cert_file\", \"key_file\"}: the behaviour offers STARTTLS");
  }
  if (auto dns = root.find("dns")) config.dns = read_dns_setup(*dns);
  return config;
}

OrgClientConfig load_org_client_config(const std::string& path) {
  const nlohmann::json document = read_document(path);
  const JsonValue root(document, "$");
  if (!root.is_object()) root.fail("an object with \"org\"");
  root.allow_keys({"org", "data_directory", "tls", "dns"});
  const std::string directory = directory_of(path);
  OrgClientConfig config;
  config.org = read_salesforce_org(root.at("org"));
  if (config.org.dkim) load_dkim_key(*config.org.dkim, root.at("org").at("dkim").at("key"), directory);
  config.data_directory = read_data_directory(root, directory);
  if (auto tls = root.find("tls")) config.tls = read_tls_files(*tls, directory, false, true);
  for (std::size_t i = 0; i < config.org.relays.size(); ++i) {
    if (salesforce::verifies(config.org.relays[i].tls) && config.tls.trust_pem.empty() && !config.tls.system_trust) {
      root.at("org").at("relays").items()[i].at("tls").fail(
          "a setting without Verify, or \"tls\": {\"trust_file\"} or {\"system_trust\": true} naming the authorities "
          "Salesforce trusts");
    }
  }
  if (auto dns = root.find("dns")) config.dns = read_dns_setup(*dns);
  return config;
}

DnsServerConfig load_dns_server_config(const std::string& path) {
  const nlohmann::json document = read_document(path);
  const JsonValue root(document, "$");
  if (!root.is_object()) root.fail("an object with \"records\"");
  root.allow_keys({"records", "dnssec", "servfail", "timeout"});
  DnsServerConfig config;
  config.zone = read_zone(root.at("records"));
  if (auto dnssec = root.find("dnssec")) {
    for (const auto& [apex, state] : read_dnssec_zones(*dnssec)) config.zone->set_dnssec(apex, state);
  }
  const auto names = [](const JsonValue& list, std::set<std::string>& into) {
    for (const JsonValue& item : list.items()) into.insert(io::normalize_dns_name(item.string()));
  };
  if (auto servfail = root.find("servfail")) names(*servfail, config.faults.servfail);
  if (auto timeout = root.find("timeout")) names(*timeout, config.faults.timeout);
  return config;
}

}  // namespace relaysim::scenario
