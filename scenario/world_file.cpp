#include "scenario/world_file.hpp"

#include <openssl/evp.h>

#include <array>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "demo/line_nodes.hpp"
#include "fake_mx/events.hpp"
#include "fake_mx/fake_mx_node.hpp"
#include "fake_mx/policy_host.hpp"
#include "fake_salesforce/events.hpp"
#include "io/text.hpp"
#include "relay/events.hpp"
#include "relay/relay_node.hpp"
#include "scenario/fake_mx_config.hpp"
#include "scenario/references.hpp"
#include "scenario/relay_config.hpp"
#include "scenario/salesforce_config.hpp"
#include "sender/events.hpp"
#include "sender/smtp_sender.hpp"
#include "sim/events.hpp"
#include "smtp/dsn.hpp"
#include "tls/certificate.hpp"
#include "tls/engine.hpp"

namespace relaysim::scenario {

struct TlsMaterial {
  explicit TlsMaterial(std::uint64_t seed) : crypto(seed), forge(crypto) {}
  tls::CryptoContext crypto;
  tls::Forge forge;
  std::map<std::string, std::unique_ptr<tls::Certificate>> certificates;
  std::vector<std::unique_ptr<tls::Context>> contexts;

  const tls::Context* context(const tls::ContextConfig& config) {
    contexts.push_back(std::make_unique<tls::Context>(crypto, config));
    return contexts.back().get();
  }
};

namespace {

using sim::World;

// Everything that names a host or a network in a fault or a rule: a host's name stands for all
// of its addresses.
std::vector<io::Cidr> networks(const JsonValue& value, const std::map<std::string, std::vector<io::Address>>& hosts) {
  std::vector<JsonValue> items;
  if (value.is_array()) {
    items = value.items();
  } else {
    items.push_back(value);
  }
  std::vector<io::Cidr> out;
  for (const JsonValue& item : items) {
    if (!item.is_string()) item.fail("a host name or a network");
    const std::string text = item.string();
    const auto host = hosts.find(text);
    if (host != hosts.end()) {
      for (const io::Address& address : host->second) out.emplace_back(address, address.is_v4() ? 32 : 128);
      continue;
    }
    if (const auto cidr = io::Cidr::parse(text)) {
      out.push_back(*cidr);
      continue;
    }
    item.fail("a host name of this world or a network such as \"13.108.0.0/14\"");
  }
  return out;
}

sim::LinkConfig read_link(const JsonValue& value, sim::LinkConfig link) {
  if (auto latency = value.find("latency")) link.latency = latency->duration();
  if (auto jitter = value.find("jitter")) link.jitter = jitter->duration();
  if (auto bandwidth = value.find("bandwidth")) link.bytes_per_second = bandwidth->unsigned_integer();
  return link;
}

}  // namespace

namespace {

// A TLSA record: [usage, selector, matching, "hex"], or {"usage", "selector", "matching",
// "certificate"} with the data computed from one of the world's certificates.
io::TlsaRecord read_tlsa(const JsonValue& item, const CertificateLookup& certificate) {
  io::TlsaRecord record;
  if (item.is_object()) {
    item.allow_keys({"usage", "selector", "matching", "certificate"});
    if (auto usage = item.find("usage")) record.usage = static_cast<std::uint8_t>(usage->integer(0, 255));
    if (auto selector = item.find("selector")) record.selector = static_cast<std::uint8_t>(selector->integer(0, 1));
    if (auto matching = item.find("matching")) record.matching = static_cast<std::uint8_t>(matching->integer(0, 2));
    const JsonValue name = item.at("certificate");
    if (!certificate)
      name.fail("TLSA data in hex ([3, 1, 1, \"...\"]): certificates are named only in a simulated world");
    record.data = certificate(name)->tlsa_data(record.selector, record.matching);
    return record;
  }
  const auto fields = item.items();
  if (fields.size() != 4)
    item.fail("[usage, selector, matching, \"hex\"], such as [3, 1, 1, \"8f2e...\"], or {\"certificate\": name}");
  record.usage = static_cast<std::uint8_t>(fields[0].integer(0, 255));
  record.selector = static_cast<std::uint8_t>(fields[1].integer(0, 255));
  record.matching = static_cast<std::uint8_t>(fields[2].integer(0, 255));
  const std::optional<std::string> data = from_hex(fields[3].string());
  if (!data || data->empty()) fields[3].fail("the record's data as hex digits");
  record.data = *data;
  return record;
}

}  // namespace

std::map<std::string, io::Dnssec> read_dnssec_zones(const JsonValue& value) {
  std::map<std::string, io::Dnssec> zones;
  for (const auto& [apex, state] : value.members()) {
    const std::optional<io::Dnssec> parsed = io::parse_dnssec(state.string());
    if (!parsed) state.fail("\"signed\", \"unsigned\" or \"bogus\"");
    zones[io::normalize_dns_name(apex)] = *parsed;
  }
  return zones;
}

io::DnsRecords read_dns_records(const JsonValue& value, const CertificateLookup& certificate) {
  value.allow_keys({"A", "AAAA", "MX", "TXT", "CNAME", "PTR", "TLSA", "ttl"});
  sim::DnsRecords records;
  for (const char* type : {"A", "AAAA"}) {
    if (auto list = value.find(type)) {
      for (const JsonValue& item : list->items()) {
        const io::Address address = item.address();
        if (address.is_v4() != (std::string_view(type) == "A")) {
          item.fail(std::string_view(type) == "A" ? "an IPv4 address" : "an IPv6 address");
        }
        records.addresses.push_back(address);
      }
    }
  }
  if (auto list = value.find("MX")) {
    for (const JsonValue& item : list->items()) {
      const auto pair = item.items();
      if (pair.size() != 2) item.fail("[preference, exchange], such as [10, \"mx1.example.com\"]");
      records.mx.push_back({static_cast<std::uint16_t>(pair[0].integer(0, 65535)), pair[1].string()});
    }
  }
  if (auto list = value.find("TXT")) {
    for (const JsonValue& item : list->items()) records.texts.push_back(item.string());
  }
  if (auto cname = value.find("CNAME")) records.cname = cname->string();
  if (auto list = value.find("PTR")) {
    for (const JsonValue& item : list->items()) records.ptr.push_back(item.string());
  }
  if (auto list = value.find("TLSA")) {
    for (const JsonValue& item : list->items()) records.tlsa.push_back(read_tlsa(item, certificate));
  }
  if (auto ttl = value.find("ttl")) {
    const Duration duration = ttl->duration();
    if (duration > days(7)) ttl->fail("a TTL of at most 7 days");
    records.ttl_seconds = static_cast<std::uint32_t>(duration.count() / 1'000'000);
  }
  return records;
}

namespace {

TlsMaterial& tls_material(LoadedWorld& loaded) {
  if (!loaded.tls) loaded.tls = std::make_shared<TlsMaterial>(loaded.seed);
  return *loaded.tls;
}

// "dkim_keys": {name: {"key": "rsa_2048" | "rsa_1024" | "ed25519" | "key_pem"/"key_file",
// "publish": [{"domain", "selector", "revoked"}]}}. Generated keys come from the world's seeded
// crypto context, so a seed gives the same keys. Returns the TXT records to publish, by name.
std::map<std::string, std::vector<std::string>> read_dkim_keys(const JsonValue& all, LoadedWorld& loaded);

// PEM text inline, or a file relative to the scenario's directory.
std::string pem_text(const JsonValue& value, std::string_view inline_key, std::string_view file_key,
                     const std::string& directory) {
  if (value.has(inline_key) && value.has(file_key))
    value.at(file_key).fail(std::string("either \"") + std::string(inline_key) + "\" or this, not both");
  if (auto text = value.find(inline_key)) return text->string();
  const auto file = value.find(file_key);
  if (!file) return "";
  const std::string name = file->string();
  const std::string path = name.starts_with('/') || directory.empty() ? name : directory + "/" + name;
  std::ifstream stream(path, std::ios::binary);
  if (!stream) file->fail("a readable PEM file (looked for " + path + ")");
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

std::map<std::string, std::vector<std::string>> read_dkim_keys(const JsonValue& all, LoadedWorld& loaded) {
  std::map<std::string, std::vector<std::string>> published;
  for (const auto& [name, value] : all.members()) {
    value.allow_keys({"key", "key_pem", "key_file", "publish"});
    std::shared_ptr<const mailauth::DkimKey> key;
    if (value.has("key_pem") || value.has("key_file")) {
      if (value.has("key")) value.at("key").fail("either \"key\" (generated) or \"key_pem\"/\"key_file\", not both");
      std::string error;
      key = mailauth::DkimKey::from_pem(pem_text(value, "key_pem", "key_file", loaded.directory), &error);
      if (!key) value.fail("a DKIM private key: " + error);
    } else {
      const std::size_t type = value.find("key") ? value.at("key").choice({"rsa_2048", "rsa_1024", "ed25519"}) : 0;
      tls::CryptoContext& crypto = tls_material(loaded).crypto;
      const tls::CryptoContext::Scope scope = crypto.scope();
      EVP_PKEY* made = type == 2 ? EVP_PKEY_Q_keygen(crypto.library(), nullptr, "ED25519")
                                 : EVP_PKEY_Q_keygen(crypto.library(), nullptr, "RSA",
                                                     static_cast<std::size_t>(type == 0 ? 2048 : 1024));
      if (made == nullptr) value.fail("a key OpenSSL can make");
      key = std::make_shared<mailauth::DkimKey>(made);
    }
    if (auto publish = value.find("publish")) {
      for (const JsonValue& item : publish->items()) {
        item.allow_keys({"domain", "selector", "revoked"});
        const std::string where =
            item.at("selector").string() + "._domainkey." + io::normalize_dns_name(item.at("domain").string());
        const bool revoked = item.find("revoked") && item.at("revoked").boolean();
        std::string record = key->txt_record();
        if (revoked) record = record.substr(0, record.find("p=") + 2);  // an empty p=: revoked (RFC 6376 §3.6.1)
        published[where].push_back(record);
      }
    }
    loaded.dkim_keys[name] = std::move(key);
  }
  return published;
}

// A signing entry's key, by its name in "dkim_keys".
void resolve_dkim_key(mailauth::DkimSigning& signing, const JsonValue& at, const LoadedWorld& loaded) {
  const auto found = loaded.dkim_keys.find(signing.key_name);
  if (found == loaded.dkim_keys.end()) at.fail("the name of a key under $.dkim_keys");
  signing.key = found->second;
}

// A certificate given as PEM (the administrator's real files) instead of a forge description.
void load_certificate(const JsonValue& value, const std::string& name, LoadedWorld& loaded) {
  value.allow_keys({"certificate_pem", "key_pem", "certificate_file", "key_file"});
  const std::string certificate = pem_text(value, "certificate_pem", "certificate_file", loaded.directory);
  const std::string key = pem_text(value, "key_pem", "key_file", loaded.directory);
  TlsMaterial& material = tls_material(loaded);
  auto parsed = tls::load_pem(material.crypto, certificate, key);
  if (!parsed) value.fail("a PEM certificate (and its private key, when it is presented): " + parsed.error().detail);
  material.certificates[name] = std::move(parsed).value();
}

// Certificates are forged in dependency order (an issuer before what it signs), each name once.
void forge_certificate(const JsonValue& all, const std::string& name, LoadedWorld& loaded,
                       std::vector<std::string>& in_progress) {
  TlsMaterial& material = tls_material(loaded);
  if (material.certificates.contains(name)) return;
  const JsonValue value = all.at(name);
  if (value.has("certificate_pem") || value.has("certificate_file")) return load_certificate(value, name, loaded);
  value.allow_keys({"authority", "issuer", "names", "not_before", "not_after", "key"});
  if (std::find(in_progress.begin(), in_progress.end(), name) != in_progress.end())
    value.fail("a certificate that does not issue itself in a loop");
  in_progress.push_back(name);
  tls::CertificateSpec spec;
  spec.certificate_authority = value.find("authority") && value.at("authority").boolean();
  spec.common_name = name;
  spec.label = name;
  if (auto names = value.find("names")) {
    for (const JsonValue& item : names->items()) spec.dns_names.push_back(item.string());
    if (spec.dns_names.empty()) names->fail("at least one name");
    spec.common_name = spec.dns_names.front();
  }
  spec.not_before = value.find("not_before") ? value.at("not_before").instant(loaded.start) : loaded.start - days(1);
  spec.not_after = value.find("not_after") ? value.at("not_after").instant(loaded.start)
                                           : loaded.start + (spec.certificate_authority ? days(3650) : days(90));
  if (spec.not_after <= spec.not_before) value.at("not_after").fail("an instant after not_before");
  if (auto key = value.find("key"))
    spec.key = static_cast<tls::KeyType>(key->choice({"ec_p256", "rsa_2048", "ed25519"}));
  const tls::Certificate* issuer = nullptr;
  if (auto issuer_name = value.find("issuer")) {
    const std::string issuer_text = issuer_name->string();
    if (!all.has(issuer_text)) issuer_name->fail("the name of a certificate under $.tls");
    if (!all.at(issuer_text).find("authority") || !all.at(issuer_text).at("authority").boolean()) {
      issuer_name->fail("a certificate with \"authority\": true");
    }
    forge_certificate(all, issuer_text, loaded, in_progress);
    issuer = material.certificates.at(issuer_text).get();
  }
  material.certificates[name] = spec.certificate_authority && issuer == nullptr
                                    ? material.forge.certificate_authority(spec)
                                    : material.forge.issue(spec, issuer);
  in_progress.pop_back();
}

const tls::Certificate* certificate_named(const JsonValue& value, LoadedWorld& loaded) {
  const std::string name = value.string();
  if (!loaded.tls || !loaded.tls->certificates.contains(name)) value.fail("the name of a certificate under $.tls");
  return loaded.tls->certificates.at(name).get();
}

// A certificate a server presents: it needs its private key.
const tls::Certificate* presented_certificate(const JsonValue& value, LoadedWorld& loaded) {
  const tls::Certificate* certificate = certificate_named(value, loaded);
  if (certificate->key() == nullptr) value.fail("a certificate with its private key (\"key_pem\" or \"key_file\")");
  return certificate;
}

std::vector<const tls::Certificate*> trusted(const std::optional<JsonValue>& value, LoadedWorld& loaded) {
  std::vector<const tls::Certificate*> out;
  if (!value) return out;
  for (const JsonValue& item : value->items()) out.push_back(certificate_named(item, loaded));
  return out;
}

tls::Version tls_version(const JsonValue& value) {
  return value.choice({"1.2", "1.3"}) == 0 ? tls::Version::tls1_2 : tls::Version::tls1_3;
}

sender::SmtpSenderConfig read_smtp_sender(const JsonValue& value, Instant start, LoadedWorld& loaded,
                                          const tls::Context*& context) {
  value.allow_keys({"type", "host", "disk", "server", "port", "helo", "tls", "trust", "verify", "auth", "messages"});
  sender::SmtpSenderConfig config;
  config.server = value.at("server").string();
  if (auto port = value.find("port")) config.port = port->port();
  config.client.helo_name = value.find("helo") ? value.at("helo").string() : "client.localdomain";
  config.client.tls = smtp::ClientTls::none;
  if (auto tls = value.find("tls"))
    config.client.tls = static_cast<smtp::ClientTls>(tls->choice({"none", "opportunistic", "required"}));
  const bool verify = value.find("verify") && value.at("verify").boolean();
  if (verify && !value.has("trust"))
    value.at("verify").fail("false, or \"trust\" naming the authorities to verify against");
  if (config.client.tls != smtp::ClientTls::none) {
    context = tls_material(loaded).context({tls::Role::client,
                                            nullptr,
                                            {},
                                            trusted(value.find("trust"), loaded),
                                            verify ? tls::Verification::chain_and_name : tls::Verification::none,
                                            tls::Version::tls1_2,
                                            tls::Version::tls1_3});
  }
  if (auto auth = value.find("auth")) {
    auth->allow_keys({"user", "password", "mechanism"});
    smtp::Credentials credentials;
    credentials.user = auth->at("user").string();
    credentials.password = auth->at("password").string();
    if (auto mechanism = auth->find("mechanism"))
      credentials.mechanism = mechanism->choice({"PLAIN", "LOGIN"}) == 0 ? "PLAIN" : "LOGIN";
    config.client.auth = credentials;
  }
  for (const JsonValue& item : value.at("messages").items()) {
    item.allow_keys({"at", "from", "to", "subject", "body", "count", "interval", "notify", "ret"});
    sender::SmtpSenderMessage message;
    smtp::RecipientParameters dsn;
    if (auto notify = item.find("notify")) {
      dsn.notify_given = true;
      for (const JsonValue& each : notify->items()) {
        switch (each.choice({"NEVER", "SUCCESS", "FAILURE", "DELAY"})) {
          case 0: dsn.notify_never = true; break;
          case 1: dsn.notify_success = true; break;
          case 2: dsn.notify_failure = true; break;
          default: dsn.notify_delay = true; break;
        }
      }
      const bool others = dsn.notify_success || dsn.notify_failure || dsn.notify_delay;
      if ((dsn.notify_never && others) || (!dsn.notify_never && !others))
        notify->fail("[\"NEVER\"], or some of \"SUCCESS\", \"FAILURE\", \"DELAY\" (RFC 3461)");
    }
    if (auto ret = item.find("ret")) message.parameters.ret = ret->choice({"FULL", "HDRS"}) == 0 ? "FULL" : "HDRS";
    message.at = item.find("at") ? item.at("at").instant(start) : start;
    const JsonValue from = item.at("from");
    if (from.string() != "<>") message.sender = read_mailbox(from);
    std::string to_header;
    for (const JsonValue& to : item.at("to").items()) {
      message.recipients.push_back({read_mailbox(to), dsn});
      to_header += (to_header.empty() ? "<" : ", <") + message.recipients.back().mailbox.to_string() + ">";
    }
    if (message.recipients.empty()) item.at("to").fail("at least one address");
    const std::string subject = item.find("subject") ? item.at("subject").string() : "Test message";
    const std::string body = item.find("body") ? item.at("body").string() : "This is a test message.";
    if (subject.find_first_of("\r\n") != std::string::npos) item.at("subject").fail("one line of text");
    const int count = item.find("count") ? static_cast<int>(item.at("count").integer(1, 100'000)) : 1;
    const Duration interval = item.find("interval") ? item.at("interval").duration() : Duration(0);
    for (int i = 0; i < count; ++i) {
      sender::SmtpSenderMessage copy = message;
      copy.at = message.at + interval * i;
      const std::string number = std::to_string(config.messages.size() + 1);
      copy.content = "From: <" + (message.sender ? message.sender->to_string() : std::string("MAILER-DAEMON")) +
                     ">\r\nTo: " + to_header + "\r\nSubject: " + subject +
                     (count > 1 ? " (" + std::to_string(i + 1) + ")" : "") + "\r\nDate: " + format_rfc5322(copy.at) +
                     "\r\nMessage-ID: <" + number + "." + config.client.helo_name + ">\r\n\r\n" + body + "\r\n";
      config.messages.push_back(std::move(copy));
    }
  }
  return config;
}

// One reader per node type: the node's keys into its configuration, and the factory that makes
// the node in the world. What checks need later (mail stores, org state, planned messages, the
// configurations) goes into `loaded`.
io::NodeFactory read_line_server(const std::string&, const JsonValue& value, Instant, LoadedWorld&) {
  value.allow_keys({"type", "host", "disk", "port", "journal"});
  demo::LineServerConfig config;
  if (auto port = value.find("port")) config.port = port->port();
  if (auto journal = value.find("journal")) config.journal = journal->string();
  return [config](io::Io& io) { return demo::make_line_server(io, config); };
}

io::NodeFactory read_line_client(const std::string&, const JsonValue& value, Instant, LoadedWorld&) {
  value.allow_keys({"type", "host", "disk", "server", "port", "lines", "interval", "reply_timeout", "connect_timeout"});
  demo::LineClientConfig config;
  config.server = value.at("server").string();
  if (auto port = value.find("port")) config.port = port->port();
  if (auto lines = value.find("lines")) config.lines = static_cast<int>(lines->integer(0, 1'000'000));
  if (auto interval = value.find("interval")) config.interval = interval->duration();
  if (auto timeout = value.find("reply_timeout")) config.reply_timeout = timeout->duration();
  if (auto timeout = value.find("connect_timeout")) config.connect_timeout = timeout->duration();
  return [config](io::Io& io) { return demo::make_line_client(io, config); };
}

io::NodeFactory read_relay_node(const std::string& name, const JsonValue& value, Instant, LoadedWorld& loaded) {
  value.allow_keys({"type", "host", "disk", "config", "tls"});
  relay::RelayConfig config = value.find("config") ? read_relay_config(value.at("config")) : relay::RelayConfig{};
  config.broken_variant = loaded.broken_variant;
  for (std::size_t i = 0; i < config.dkim_signing.size(); ++i) {
    resolve_dkim_key(config.dkim_signing[i], value.at("config").at("dkim_signing").items()[i].at("key"), loaded);
  }
  relay::RelayTls tls;
  TlsMaterial& material = tls_material(loaded);
  std::vector<const tls::Certificate*> trust;
  if (auto settings = value.find("tls")) {
    settings->allow_keys({"certificate", "trust"});
    if (auto certificate = settings->find("certificate")) {
      tls.server = material.context({tls::Role::server,
                                     presented_certificate(*certificate, loaded),
                                     {},
                                     {},
                                     tls::Verification::none,
                                     tls::Version::tls1_2,
                                     tls::Version::tls1_3});
    }
    trust = trusted(settings->find("trust"), loaded);
  }
  // Outbound TLS needs no certificate of its own: "may" and "encrypt" work without one;
  // "verify" checks against `trust`.
  tls.client.plain = material.context(
      {tls::Role::client, nullptr, {}, {}, tls::Verification::none, tls::Version::tls1_2, tls::Version::tls1_3});
  tls.client.dane = material.context(
      {tls::Role::client, nullptr, {}, {}, tls::Verification::dane, tls::Version::tls1_2, tls::Version::tls1_3});
  if (!trust.empty()) {
    tls.client.verify = material.context({tls::Role::client,
                                          nullptr,
                                          {},
                                          trust,
                                          tls::Verification::chain_and_name,
                                          tls::Version::tls1_2,
                                          tls::Version::tls1_3});
    tls.client.report = material.context(
        {tls::Role::client, nullptr, {}, trust, tls::Verification::none, tls::Version::tls1_2, tls::Version::tls1_3});
  }
  loaded.relay_configs[name] = config;
  loaded.relay_trust[name] = trust;
  const auto keep = loaded.tls;
  return [config, tls, keep](io::Io& io) { return std::make_unique<relay::RelayNode>(io, config, tls); };
}

io::NodeFactory read_fake_mx_node(const std::string& name, const JsonValue& value, Instant start, LoadedWorld& loaded) {
  value.allow_keys({"type", "host", "disk", "behaviour", "tls"});
  fake_mx::Behaviour behaviour =
      value.find("behaviour") ? read_fake_mx_behaviour(value.at("behaviour"), start) : fake_mx::Behaviour{};
  const tls::Context* context = nullptr;
  if (auto settings = value.find("tls")) {
    settings->allow_keys({"certificate", "min_version", "max_version"});
    const tls::Version minimum =
        settings->find("min_version") ? tls_version(settings->at("min_version")) : tls::Version::tls1_2;
    const tls::Version maximum =
        settings->find("max_version") ? tls_version(settings->at("max_version")) : tls::Version::tls1_3;
    if (maximum < minimum) settings->at("max_version").fail("a version at least min_version");
    context = tls_material(loaded).context({tls::Role::server,
                                            presented_certificate(settings->at("certificate"), loaded),
                                            {},
                                            {},
                                            tls::Verification::none,
                                            minimum,
                                            maximum});
  }
  if (behaviour.starttls && context == nullptr)
    value.at("behaviour").at("starttls").fail("false, or a \"tls\" certificate for the node");
  auto store = std::make_shared<fake_mx::MailStore>();
  loaded.mail_stores[name] = store;
  const auto keep = loaded.tls;
  return [behaviour, store, context, keep](io::Io& io) {
    return std::make_unique<fake_mx::FakeMxNode>(io, behaviour, context, *store);
  };
}

// One answer of an MTA-STS policy host: "policy": {"mode", "mx", "max_age"} (or "body": the text
// as served), "status", "content_type", "delay"; what a change leaves out stays as it was.
void read_policy_answer(const JsonValue& value, fake_mx::PolicyAnswer& answer) {
  if (value.has("policy") && value.has("body")) value.at("body").fail("\"policy\" or \"body\", not both");
  if (auto policy = value.find("policy")) {
    policy->allow_keys({"mode", "mx", "max_age"});
    const std::size_t mode = policy->at("mode").choice({"enforce", "testing", "none"});
    std::vector<std::string> mx;
    if (auto patterns = policy->find("mx")) {
      for (const JsonValue& pattern : patterns->items()) mx.push_back(pattern.string());
    }
    if (mx.empty() && mode != 2)
      (policy->has("mx") ? policy->at("mx") : *policy)
          .fail("at least one MX host pattern (\"mx\") for enforce or testing");
    const Duration max_age = policy->find("max_age") ? policy->at("max_age").duration() : days(7);
    answer.body = fake_mx::policy_text(
        std::array{"enforce", "testing", "none"}[mode], mx,
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(max_age).count()));
  } else if (auto body = value.find("body")) {
    answer.body = body->string();
  }
  if (auto status = value.find("status")) answer.status = static_cast<int>(status->integer(100, 599));
  if (auto type = value.find("content_type")) answer.content_type = type->string();
  if (auto delay = value.find("delay")) answer.delay = delay->duration();
}

// The server context of an HTTPS node (a policy host, a report collector): its "tls": {"certificate"},
// required, for HTTPS only. `certificate`: the one it presents.
const tls::Context* https_server_context(const JsonValue& value, LoadedWorld& loaded,
                                         const tls::Certificate*& certificate) {
  const JsonValue settings = value.at("tls");
  settings.allow_keys({"certificate"});
  certificate = presented_certificate(settings.at("certificate"), loaded);
  return tls_material(loaded).context(
      {tls::Role::server, certificate, {}, {}, tls::Verification::none, tls::Version::tls1_2, tls::Version::tls1_3});
}

// An MTA-STS policy host (fake_mx/policy_host.hpp): its first answer, "changes" over time, and the
// certificate it presents.
io::NodeFactory read_mta_sts_host_node(const std::string& name, const JsonValue& value, Instant start,
                                       LoadedWorld& loaded) {
  value.allow_keys(
      {"type", "host", "disk", "tls", "port", "policy", "body", "status", "content_type", "delay", "changes"});
  fake_mx::PolicyHostConfig config;
  if (auto port = value.find("port")) config.port = port->port();
  if (!value.has("policy") && !value.has("body")) value.fail("a \"policy\" (or a \"body\")");
  read_policy_answer(value, config.answer);
  if (auto changes = value.find("changes")) {
    Instant previous = start;
    for (const JsonValue& change : changes->items()) {
      change.allow_keys({"at", "policy", "body", "status", "content_type", "delay"});
      const Instant at = change.at("at").instant(start);
      if (at < previous) change.at("at").fail("an instant no earlier than the change before");
      previous = at;
      fake_mx::PolicyAnswer answer = config.changes.empty() ? config.answer : config.changes.back().second;
      read_policy_answer(change, answer);
      config.changes.emplace_back(at, std::move(answer));
    }
  }
  const tls::Certificate* certificate = nullptr;
  const tls::Context* context = https_server_context(value, loaded, certificate);
  LoadedWorld::PolicyHostSetup& setup = loaded.policy_hosts[name];
  setup.host = value.at("host").string();
  setup.certificate = certificate;
  setup.answers.push_back(config.answer);
  for (const auto& change : config.changes) setup.answers.push_back(change.second);
  const auto keep = loaded.tls;
  return
      [config, context, keep](io::Io& io) { return std::make_unique<fake_mx::PolicyHostNode>(io, config, *context); };
}

// A TLS report collector (fake_mx/tls_report_collector.hpp): HTTPS POSTs to `path`, answered `status`.
io::NodeFactory read_tls_report_collector_node(const std::string& name, const JsonValue& value, Instant,
                                               LoadedWorld& loaded) {
  value.allow_keys({"type", "host", "disk", "tls", "port", "path", "status"});
  fake_mx::TlsReportCollectorConfig config;
  if (auto port = value.find("port")) config.port = port->port();
  if (auto path = value.find("path")) {
    config.path = path->string();
    if (!config.path.starts_with('/')) path->fail("a path that starts with \"/\"");
  }
  if (auto status = value.find("status")) config.status = static_cast<int>(status->integer(200, 599));
  const tls::Certificate* certificate = nullptr;
  const tls::Context* context = https_server_context(value, loaded, certificate);
  auto store = std::make_shared<fake_mx::TlsReportStore>();
  loaded.tls_report_stores[name] = store;
  const auto keep = loaded.tls;
  return [config, context, store, keep](io::Io& io) {
    return std::make_unique<fake_mx::TlsReportCollectorNode>(io, config, *context, *store);
  };
}

io::NodeFactory read_salesforce_org_node(const std::string& name, const JsonValue& value, Instant start,
                                         LoadedWorld& loaded) {
  value.allow_keys({"type", "host", "disk", "org", "tls", "traffic", "test_deliverability"});
  salesforce::OrgConfig config = read_salesforce_node(value, start);
  config.org.broken_variant = loaded.broken_variant;
  if (config.org.dkim) resolve_dkim_key(*config.org.dkim, value.at("org").at("dkim").at("key"), loaded);
  TlsMaterial& material = tls_material(loaded);
  salesforce::OrgTls tls;
  tls.plain = material.context(
      {tls::Role::client, nullptr, {}, {}, tls::Verification::none, tls::Version::tls1_2, tls::Version::tls1_3});
  std::vector<const tls::Certificate*> trust;
  if (auto settings = value.find("tls")) {
    settings->allow_keys({"trust"});
    trust = trusted(settings->find("trust"), loaded);
  }
  if (!trust.empty()) {
    tls.verify = material.context({tls::Role::client,
                                   nullptr,
                                   {},
                                   trust,
                                   tls::Verification::chain_and_name,
                                   tls::Version::tls1_2,
                                   tls::Version::tls1_3});
  }
  for (std::size_t i = 0; i < config.org.relays.size(); ++i) {
    if (salesforce::verifies(config.org.relays[i].tls) && tls.verify == nullptr) {
      value.at("org").at("relays").items()[i].at("tls").fail(
          "a setting without Verify, or \"tls\": {\"trust\": [...]} on the node naming the authorities Salesforce "
          "trusts");
    }
  }
  for (const salesforce::Send& send : config.traffic) {
    PlannedMessage planned{name, send.label, send.subject, {}};
    for (const smtp::Mailbox& to : send.to) planned.to.push_back(to.to_string());
    loaded.planned.push_back(std::move(planned));
  }
  for (const salesforce::DeliverabilityTest& test : config.deliverability_tests) {
    loaded.planned.push_back({name, "", std::nullopt, {test.to.to_string()}});
  }
  auto state = std::make_shared<salesforce::OrgState>();
  loaded.orgs[name] = state;
  loaded.org_setups[name] = config.org;
  const auto keep = loaded.tls;
  return [config, tls, state, keep](io::Io& io) { return salesforce::make_org_node(io, config, tls, *state); };
}

io::NodeFactory read_smtp_sender_node(const std::string& name, const JsonValue& value, Instant start,
                                      LoadedWorld& loaded) {
  const tls::Context* context = nullptr;
  const sender::SmtpSenderConfig config = read_smtp_sender(value, start, loaded, context);
  for (const sender::SmtpSenderMessage& message : config.messages) {
    PlannedMessage planned{name, "", std::string(smtp::header_value(message.content, "Subject")), {}};
    for (const auto& recipient : message.recipients) planned.to.push_back(recipient.mailbox.to_string());
    loaded.planned.push_back(std::move(planned));
  }
  const auto keep = loaded.tls;
  return [config, context, keep](io::Io& io) { return sender::make_smtp_sender(io, config, context); };
}

io::NodeFactory read_node(const std::string& name, const JsonValue& value, Instant start, LoadedWorld& loaded) {
  struct NodeType {
    std::string_view name;
    io::NodeFactory (*read)(const std::string&, const JsonValue&, Instant, LoadedWorld&);
  };
  static constexpr std::array<NodeType, 8> node_types{{
      {"line_server", read_line_server},
      {"line_client", read_line_client},
      {"relay", read_relay_node},
      {"fake_mx", read_fake_mx_node},
      {"mta_sts_host", read_mta_sts_host_node},
      {"tls_report_collector", read_tls_report_collector_node},
      {"smtp_sender", read_smtp_sender_node},
      {"salesforce", read_salesforce_org_node},
  }};
  const JsonValue type = value.at("type");
  if (type.is_string()) {
    const std::string wanted = type.string();
    for (const NodeType& known : node_types) {
      if (known.name == wanted) return known.read(name, value, start, loaded);
    }
  }
  std::string list;
  for (const NodeType& known : node_types) list += (list.empty() ? "\"" : ", \"") + std::string(known.name) + "\"";
  type.fail("one of " + list);
}

sim::DiskConfig read_disk(const JsonValue& value) {
  value.allow_keys({"capacity", "sync_latency", "crash"});
  sim::DiskConfig disk;
  if (auto capacity = value.find("capacity")) disk.capacity_bytes = capacity->unsigned_integer();
  if (auto latency = value.find("sync_latency")) disk.sync_latency = latency->duration();
  if (auto crash = value.find("crash")) {
    disk.crash_mode = crash->choice({"torn", "lose_unsynced"}) == 0 ? sim::DiskConfig::CrashMode::torn
                                                                    : sim::DiskConfig::CrashMode::lose_unsynced;
  }
  return disk;
}

void read_fault(World& world, const JsonValue& value, Instant start,
                const std::map<std::string, std::vector<io::Address>>& hosts) {
  const std::size_t kind = value.at("kind").choice(
      {"refuse", "black_hole", "partition", "stall", "reset", "dns", "disk", "crash", "restart", "tls"});
  const auto window = [&](Instant& from, Instant& until) {
    from = value.find("from") ? value.at("from").instant(start) : start;
    until = value.find("until") ? value.at("until").instant(start) : Instant::max();
    if (until <= from) value.at("until").fail("an instant after \"from\"");
  };
  if (kind <= 4 || kind == 9) {
    if (kind == 9) {
      value.allow_keys({"kind", "name", "from", "until", "source", "destination", "between", "port"});
    } else {
      value.allow_keys({"kind", "name", "from", "until", "source", "destination", "between", "port", "after_bytes",
                        "after_pattern"});
    }
    sim::NetworkFault fault;
    fault.kind = kind == 9 ? sim::NetworkFault::Kind::reset : static_cast<sim::NetworkFault::Kind>(kind);
    window(fault.from, fault.until);
    fault.name = value.find("name") ? value.at("name").string()
                 : kind == 9        ? std::string("tls")
                                    : std::string(sim::to_string(fault.kind));
    // A middlebox that kills TLS: the connection is reset as a ClientHello (a handshake record,
    // 0x16 0x03 0x01) goes through, so every handshake in the window fails.
    if (kind == 9) fault.after_pattern = std::string("\x16\x03\x01", 3);
    if (auto between = value.find("between")) {
      if (value.has("source") || value.has("destination"))
        between->fail("\"between\" without \"source\"/\"destination\"");
      const auto pair = between->items();
      if (pair.size() != 2) between->fail("two hosts or networks");
      fault.sources = networks(pair[0], hosts);
      fault.destinations = networks(pair[1], hosts);
      fault.both_directions = true;
    }
    if (auto source = value.find("source")) fault.sources = networks(*source, hosts);
    if (auto destination = value.find("destination")) fault.destinations = networks(*destination, hosts);
    if (auto port = value.find("port")) fault.port = port->port();
    if (auto bytes = value.find("after_bytes")) fault.after_bytes = bytes->unsigned_integer();
    if (auto pattern = value.find("after_pattern")) {
      fault.after_pattern = pattern->string();
      if (fault.after_pattern.empty() || fault.after_pattern.size() > 64) pattern->fail("1 to 64 bytes");
    }
    world.add_network_fault(std::move(fault));
    return;
  }
  if (kind == 5) {
    value.allow_keys({"kind", "name", "type", "error", "from", "until"});
    sim::DnsFault fault;
    fault.name = value.at("name").string();
    if (auto type = value.find("type")) {
      fault.type = static_cast<io::DnsType>(type->choice({"A", "AAAA", "MX", "TXT", "CNAME", "PTR"}));
    }
    fault.kind =
        static_cast<sim::DnsFault::Kind>(value.at("error").choice({"servfail", "nxdomain", "timeout", "empty"}));
    window(fault.from, fault.until);
    world.add_dns_fault(std::move(fault));
    return;
  }
  const std::string node = value.at("node").string();
  if (kind == 6) {
    value.allow_keys({"kind", "node", "error", "from", "until", "operation"});
    const io::Errc error = value.at("error").choice({"EIO", "ENOSPC"}) == 0 ? io::Errc::io_error : io::Errc::no_space;
    if (auto operation = value.find("operation")) {
      if (value.has("from") || value.has("until")) operation->fail("either \"operation\" or a time window");
      world.fail_disk_operation(node, operation->unsigned_integer(), error);
      return;
    }
    sim::DiskFault fault;
    fault.error = error;
    window(fault.from, fault.until);
    world.add_disk_fault(node, fault);
    return;
  }
  if (kind == 7) {
    value.allow_keys({"kind", "node", "at", "after", "power_loss", "restart_after"});
    const sim::CrashKind crash = value.find("power_loss") && !value.at("power_loss").boolean()
                                     ? sim::CrashKind::kill
                                     : sim::CrashKind::power_loss;
    std::optional<Duration> restart_after;
    if (auto delay = value.find("restart_after")) {
      restart_after = delay->duration();
      if (*restart_after <= Duration::zero()) delay->fail("a duration after the crash, such as \"5m\"");
    }
    if (value.has("at") == value.has("after"))
      value.fail("a crash with either \"at\" (an instant) or \"after\" (an event), not both");
    if (auto trigger = value.find("after")) {
      trigger->allow_keys({"event", "node", "count", "delay"});
      // The typed events a crash can wait for (docs/scenario-format.md, "Trace").
      const std::initializer_list<std::string_view> kinds = {
          relay::events::Stored::kind,           relay::events::OutcomesRecorded::kind,
          relay::events::RecipientSettled::kind, relay::events::Routed::kind,
          relay::events::Connecting::kind,       relay::events::HopFailed::kind,
          relay::events::RetryPlanned::kind,     relay::events::NoticeQueued::kind,
          relay::events::Recovered::kind,        fake_mx::events::MessageStored::kind,
          fake_mx::events::Greylisted::kind,     salesforce::events::EmailLogged::kind,
          sender::events::SenderResult::kind,    sim::events::ProcessStarted::kind};
      const std::string event(kinds.begin()[trigger->at("event").choice(kinds)]);
      const std::string from = trigger->find("node") ? trigger->at("node").string() : node;
      const std::uint64_t count = trigger->find("count") ? trigger->at("count").unsigned_integer() : 1;
      if (count == 0) trigger->at("count").fail("a count from 1: the first such event is 1");
      const Duration delay = trigger->find("delay") ? trigger->at("delay").duration() : Duration::zero();
      if (delay < Duration::zero()) trigger->at("delay").fail("a delay of zero or more");
      world.crash_after(node, event, from, count, delay, crash, restart_after);
      return;
    }
    const Instant at = value.at("at").instant(start);
    world.crash_at(node, at, crash);
    if (restart_after) world.restart_at(node, at + *restart_after);
    return;
  }
  value.allow_keys({"kind", "node", "at"});
  world.restart_at(node, value.at("at").instant(start));
}

}  // namespace

LoadedWorld load_world(const nlohmann::json& document, std::optional<std::uint64_t> seed_override,
                       const std::string& directory, relay::BrokenVariant broken_variant) {
  const JsonValue root(document, "$");
  root.allow_keys({"name", "description", "seed", "start", "until", "network", "resolver", "hosts", "dns", "dnssec",
                   "dns_changes", "tls", "dkim_keys", "nodes", "faults", "expect"});
  LoadedWorld loaded;
  loaded.broken_variant = broken_variant;
  loaded.directory = directory;
  loaded.name = root.find("name") ? root.at("name").string() : std::string("unnamed");
  if (auto description = root.find("description")) loaded.description = description->string();
  loaded.seed = seed_override ? *seed_override : root.find("seed") ? root.at("seed").unsigned_integer() : 1;
  loaded.start = root.find("start") ? root.at("start").instant(Instant()) : *parse_iso8601("2026-01-01T00:00:00Z");
  loaded.until = root.find("until") ? root.at("until").instant(loaded.start) : loaded.start + run_length_default_max;
  if (loaded.until <= loaded.start) root.at("until").fail("an instant after \"start\"");
  loaded.world = std::make_unique<World>(loaded.seed, loaded.start);
  World& world = *loaded.world;

  // Every refusal from the world is reported at the path being read.
  const auto guarded = [](const JsonValue& at, const auto& action) {
    try {
      action();
    } catch (const sim::ConfigError& error) {
      throw InputError(at.path(), "a possible world", error.what());
    }
  };

  std::map<std::string, std::vector<io::Address>> host_addresses;
  for (const auto& [name, host] : root.at("hosts").members()) {
    host.allow_keys({"addresses", "firewall"});
    sim::HostConfig config{name, {}};
    for (const JsonValue& address : host.at("addresses").items()) config.addresses.push_back(address.address());
    host_addresses[name] = config.addresses;
    guarded(host, [&] { world.add_host(config); });
  }
  for (const auto& [name, host] : root.at("hosts").members()) {
    const auto rules = host.find("firewall");
    if (!rules) continue;
    for (const JsonValue& rule : rules->items()) {
      rule.allow_keys({"port", "allow", "action"});
      sim::FirewallRule config;
      if (auto port = rule.find("port")) config.port = port->port();
      config.allow = networks(rule.at("allow"), host_addresses);
      if (auto action = rule.find("action")) {
        config.action = action->choice({"drop", "reject"}) == 0 ? sim::FirewallRule::Action::drop
                                                                : sim::FirewallRule::Action::reject;
      }
      world.add_firewall_rule(name, std::move(config));
    }
  }
  if (auto network = root.find("network")) {
    network->allow_keys({"latency", "jitter", "bandwidth", "links"});
    const sim::LinkConfig base = read_link(*network, {});
    guarded(*network, [&] { world.set_default_link(base); });
    if (auto links = network->find("links")) {
      for (const JsonValue& link : links->items()) {
        link.allow_keys({"between", "latency", "jitter", "bandwidth"});
        const auto pair = link.at("between").items();
        if (pair.size() != 2) link.at("between").fail("two host names");
        guarded(link, [&] { world.set_link(pair[0].string(), pair[1].string(), read_link(link, base)); });
      }
    }
  }
  if (auto resolver = root.find("resolver")) {
    resolver->allow_keys({"latency", "timeout", "negative_ttl", "cache"});
    sim::DnsSettings settings;
    if (auto latency = resolver->find("latency")) settings.latency = latency->duration();
    if (auto timeout = resolver->find("timeout")) settings.timeout = timeout->duration();
    if (auto ttl = resolver->find("negative_ttl")) {
      settings.negative_ttl_seconds = static_cast<std::uint32_t>(ttl->duration().count() / 1'000'000);
    }
    if (auto cache = resolver->find("cache")) settings.cache = cache->boolean();
    guarded(*resolver, [&] { world.set_dns_settings(settings); });
  }
  // Certificates come before DNS, whose TLSA records may name them. A certificate is a function of
  // its identity, not of the order it is made in.
  if (auto certificates = root.find("tls")) {
    std::vector<std::string> in_progress;
    for (const auto& [name, certificate] : certificates->members())
      forge_certificate(*certificates, name, loaded, in_progress);
  }
  const CertificateLookup certificate_lookup = [&loaded](const JsonValue& name) {
    return certificate_named(name, loaded);
  };
  if (auto dnssec = root.find("dnssec")) {
    loaded.dnssec_zones = read_dnssec_zones(*dnssec);
    for (const auto& [apex, state] : loaded.dnssec_zones) world.set_dnssec(apex, state);
  }
  std::set<std::string> dns_names;
  // DKIM keys publish TXT records, beside whatever the scenario's "dns" gives the same names.
  std::map<std::string, std::vector<std::string>> dkim_records;
  if (auto keys = root.find("dkim_keys")) dkim_records = read_dkim_keys(*keys, loaded);
  if (auto dns = root.find("dns")) {
    for (const auto& [name, records] : dns->members()) {
      sim::DnsRecords read = read_dns_records(records, certificate_lookup);
      if (const auto published = dkim_records.find(io::normalize_dns_name(name)); published != dkim_records.end()) {
        read.texts.insert(read.texts.end(), published->second.begin(), published->second.end());
        dkim_records.erase(published);
      }
      guarded(records, [&] { world.set_dns(name, read); });
      dns_names.insert(io::normalize_dns_name(name));
      std::vector<io::MxRecord> usable;
      for (const io::MxRecord& record : read.mx) {
        if (record.exchange != "." && !record.exchange.empty()) usable.push_back(record);
      }
      if (!usable.empty()) loaded.mx_records[io::normalize_dns_name(name)] = usable;
      if (read.mx.size() == 1 && usable.empty()) loaded.null_mx_domains.insert(io::normalize_dns_name(name));
      if (!read.tlsa.empty()) loaded.tlsa_records[io::normalize_dns_name(name)] = read.tlsa;
      if (!read.texts.empty() && io::normalize_dns_name(name).starts_with("_mta-sts."))
        loaded.mta_sts_records[io::normalize_dns_name(name)] = read.texts;
    }
  }
  for (const auto& [name, texts] : dkim_records) {
    sim::DnsRecords records;
    records.texts = texts;
    guarded(root.at("dkim_keys"), [&] { world.set_dns(name, records); });
    dns_names.insert(name);
  }
  if (auto changes = root.find("dns_changes")) {
    for (const JsonValue& change : changes->items()) {
      change.allow_keys({"at", "name", "records"});
      const JsonValue records = change.at("records");
      std::optional<sim::DnsRecords> replacement;
      if (!records.is_null()) replacement = read_dns_records(records, certificate_lookup);
      guarded(change, [&] {
        world.change_dns_at(change.at("at").instant(loaded.start), change.at("name").string(), replacement);
      });
      loaded.mx_records.erase(io::normalize_dns_name(change.at("name").string()));
      loaded.null_mx_domains.erase(io::normalize_dns_name(change.at("name").string()));
      loaded.tlsa_records.erase(io::normalize_dns_name(change.at("name").string()));
      loaded.mta_sts_records.erase(io::normalize_dns_name(change.at("name").string()));
    }
  }
  Mistakes mistakes;  // from here on, each node, fault and expectation is read even after a mistake
  for (const auto& [name, node] : root.at("nodes").members()) {
    mistakes.collect([&] {
      sim::ProcessConfig process;
      process.name = name;
      process.host = node.at("host").string();
      if (!host_addresses.contains(process.host)) node.at("host").fail("the name of a host of this world");
      loaded.node_hosts[name] = process.host;
      process.factory = read_node(name, node, loaded.start, loaded);
      if (auto disk = node.find("disk")) process.disk = read_disk(*disk);
      guarded(node, [&] { world.add_process(std::move(process)); });
    });
  }
  if (auto faults = root.find("faults")) {
    loaded.faults = !faults->items().empty();
    for (const JsonValue& fault : faults->items()) {
      mistakes.collect([&] { guarded(fault, [&] { read_fault(world, fault, loaded.start, host_addresses); }); });
    }
  }
  loaded.host_addresses = host_addresses;
  // Defaults that keep scenarios short: a host's name resolves to its addresses, and a Salesforce
  // org's bounce domain has its MX at the org's host - unless "dns" says otherwise.
  for (const auto& [name, addresses] : host_addresses) {
    if (dns_names.contains(io::normalize_dns_name(name))) continue;
    sim::DnsRecords records;
    records.addresses = addresses;
    world.set_dns(name, records);
  }
  for (const auto& [name, setup] : loaded.org_setups) {
    const salesforce::BounceManagement& bounce = setup.bounce_management;
    const std::string domain = io::normalize_dns_name(bounce.instance + "." + bounce.domain);
    if (!bounce.enabled || dns_names.contains(domain)) continue;
    sim::DnsRecords records;
    records.mx.push_back({10, loaded.node_hosts.at(name)});
    world.set_dns(domain, records);
  }
  // What refers to the world is checked against a world read whole: a node with a mistake would
  // make every expectation naming it look wrong too.
  const bool world_whole = mistakes.empty();
  if (auto expect = root.find("expect")) loaded.expectations = read_expectations(*expect, loaded.start, &mistakes);
  if (world_whole) check_references(root, loaded, mistakes);
  mistakes.throw_if_any();
  return loaded;
}

nlohmann::json read_world_document(const std::string& path) { return read_json_file(path, "a scenario file"); }

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

LoadedWorld load_world_file(const std::string& path, std::optional<std::uint64_t> seed_override) {
  return load_world(read_world_document(path), seed_override, directory_of(path));
}

}  // namespace relaysim::scenario
