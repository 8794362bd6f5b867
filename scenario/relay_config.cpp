#include "scenario/relay_config.hpp"

#include <nlohmann/json.hpp>

#include "io/text.hpp"
#include "relay/password.hpp"

namespace relaysim::scenario {
namespace {

bool valid_domain_pattern(const std::string& pattern) {
  const std::string_view rest = std::string_view(pattern).substr(pattern.starts_with("*.") ? 2 : 0);
  return pattern == "*" || (!rest.empty() && rest.find('*') == std::string_view::npos &&
                            rest.find_first_of(" @,") == std::string_view::npos);
}

std::string domain_patterns_one(const JsonValue& value);

std::vector<std::string> domain_patterns(const JsonValue& value) {
  std::vector<std::string> out;
  for (const JsonValue& item : value.items()) out.push_back(domain_patterns_one(item));
  return out;
}

Duration positive_duration(const JsonValue& value) {
  const Duration duration = value.duration();
  if (duration.count() <= 0) value.fail("a duration longer than zero");
  return duration;
}

Duration positive_duration(const JsonValue& value, Duration maximum) {
  const Duration duration = value.duration();
  if (duration.count() <= 0 || duration > maximum)
    value.fail("a duration longer than zero and at most " + format_duration(maximum));
  return duration;
}

relay::TlsLevel tls_level(const JsonValue& value) {
  return static_cast<relay::TlsLevel>(value.choice({"none", "may", "encrypt", "verify", "dane", "dane-only"}));
}

std::string domain_patterns_one(const JsonValue& value) {
  const std::string pattern = value.string();
  if (!valid_domain_pattern(pattern)) value.fail("a domain pattern: \"*\", \"example.com\" or \"*.example.com\"");
  return pattern;
}

// "[host]:port", "host:port", "[host]" or "host": the brackets turn the MX lookup off (Postfix's
// notation); the port defaults to 25.
relay::Transport parse_nexthop(const JsonValue& value) {
  const std::string text = value.string();
  const auto bad = [&value] { value.fail("a next hop \"host\", \"[host]\" or either with \":port\""); };
  relay::Transport transport;
  std::string host, rest;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string::npos) bad();
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    transport.mx_lookup = false;
  } else {
    const std::size_t colon = text.find(':');
    host = text.substr(0, colon);
    rest = colon == std::string::npos ? std::string() : text.substr(colon);
    transport.mx_lookup = true;
    if (host.find(':') != std::string::npos) bad();
  }
  if (!rest.empty()) {
    const std::string digits = rest.substr(1);
    if (!rest.starts_with(':') || digits.empty() || digits.size() > 5 ||
        digits.find_first_not_of("0123456789") != std::string::npos || std::stoi(digits) < 1 ||
        std::stoi(digits) > 65535) {
      bad();
    }
    transport.port = static_cast<std::uint16_t>(std::stoi(digits));
  }
  if (host.empty() || host.find_first_of(" @,/[]") != std::string::npos) bad();
  transport.nexthop = host;
  return transport;
}

void read_delivery_settings(const JsonValue& value, relay::RelayConfig& config) {
  const Duration year = std::chrono::hours(24 * 365);
  if (auto item = value.find("minimal_backoff_time")) config.minimal_backoff_time = positive_duration(*item, year);
  if (auto item = value.find("maximal_backoff_time")) config.maximal_backoff_time = positive_duration(*item, year);
  if (config.minimal_backoff_time > config.maximal_backoff_time) {
    value.at(value.has("maximal_backoff_time") ? "maximal_backoff_time" : "minimal_backoff_time")
        .fail("minimal_backoff_time at most maximal_backoff_time");
  }
  if (auto item = value.find("maximal_queue_lifetime")) config.maximal_queue_lifetime = positive_duration(*item, year);
  if (auto item = value.find("bounce_queue_lifetime")) config.bounce_queue_lifetime = positive_duration(*item, year);
  if (auto item = value.find("delay_warning_time")) {
    config.delay_warning_time = item->duration();
    if (config.delay_warning_time.count() < 0) item->fail("a duration, or 0 for no delay notices");
  }
  if (auto item = value.find("retry_jitter_percent"))
    config.retry_jitter_percent = static_cast<int>(item->integer(0, 50));
  if (auto item = value.find("qmgr_message_active_limit")) {
    config.qmgr_message_active_limit = static_cast<int>(item->integer(1, 10'000'000));
  }
  if (auto item = value.find("default_destination_concurrency_limit")) {
    config.default_destination_concurrency_limit = static_cast<int>(item->integer(1, 1000));
  }
  if (auto item = value.find("default_destination_recipient_limit")) {
    config.default_destination_recipient_limit = static_cast<int>(item->integer(1, 100'000));
  }
  if (auto item = value.find("smtp_mx_address_limit"))
    config.smtp_mx_address_limit = static_cast<int>(item->integer(1, 100));
  if (auto item = value.find("smtp_mx_session_limit"))
    config.smtp_mx_session_limit = static_cast<int>(item->integer(1, 100));
  if (auto item = value.find("smtp_connection_reuse_time_limit"))
    config.smtp_connection_reuse_time_limit = positive_duration(*item, year);
  if (auto item = value.find("smtp_connection_cache_on_demand"))
    config.smtp_connection_cache_on_demand = item->boolean();
  if (auto item = value.find("smtp_connection_cache_time_limit"))
    config.smtp_connection_cache_time_limit = positive_duration(*item, year);
  if (auto item = value.find("smtp_connection_reuse_count_limit")) {
    config.smtp_connection_reuse_count_limit = static_cast<int>(item->integer(1, 1'000'000));
  }
  if (auto item = value.find("smtp_connect_timeout"))
    config.smtp_connect_timeout = positive_duration(*item, std::chrono::hours(1));
  if (auto item = value.find("smtp_port")) config.smtp_port = item->port();
  if (auto item = value.find("smtp_tls_security_level")) config.smtp_tls_security_level = tls_level(*item);
  if (auto item = value.find("smtp_dns_support_level"))
    config.smtp_dns_support_dnssec = item->choice({"enabled", "dnssec"}) == 1;
  if (auto item = value.find("smtp_tls_loglevel")) config.smtp_tls_loglevel = static_cast<int>(item->integer(0, 4));
  if (auto item = value.find("smtp_tls_mta_sts")) config.smtp_tls_mta_sts = item->boolean();
  if (auto item = value.find("mta_sts_fetch_timeout"))
    config.mta_sts_fetch_timeout = positive_duration(*item, std::chrono::minutes(10));
  if (auto item = value.find("mta_sts_port")) config.mta_sts_port = item->port();
  if (auto item = value.find("smtp_tlsrpt_enable")) config.smtp_tlsrpt_enable = item->boolean();
  if (auto item = value.find("tlsrpt_organization_name")) config.tlsrpt_organization_name = item->string();
  if (auto item = value.find("tlsrpt_contact_info")) config.tlsrpt_contact_info = item->string();
  if (auto item = value.find("tlsrpt_sender_address")) config.tlsrpt_sender_address = read_mailbox(*item).to_string();
  if (auto item = value.find("tlsrpt_submitter")) config.tlsrpt_submitter = item->string();
  if (auto item = value.find("tlsrpt_report_delay"))
    config.tlsrpt_report_delay = positive_duration(*item, std::chrono::hours(23));
  if (auto item = value.find("smtp_tls_policy_maps")) {
    for (const auto& [domain, level] : item->members()) {
      if (!valid_domain_pattern(domain))
        level.fail("a member named by a domain pattern: \"*\", \"example.com\" or \"*.example.com\"");
      config.smtp_tls_policy_maps.push_back({domain, tls_level(level)});
    }
  }
  if (auto item = value.find("transport_maps")) {
    for (const JsonValue& entry : item->items()) {
      entry.allow_keys({"recipient_domain", "sender_domain", "nexthop"});
      relay::Transport transport = parse_nexthop(entry.at("nexthop"));
      if (auto domain = entry.find("recipient_domain")) transport.recipient_domain = domain_patterns_one(*domain);
      if (auto domain = entry.find("sender_domain")) transport.sender_domain = domain_patterns_one(*domain);
      config.transport_maps.push_back(transport);
    }
  }
  if (auto item = value.find("smtp_sasl_password_maps")) {
    for (const auto& [nexthop, entry] : item->members()) {
      entry.allow_keys({"user", "password", "mechanism"});
      smtp::Credentials credentials;
      credentials.user = entry.at("user").string();
      credentials.password = entry.at("password").string();
      if (credentials.user.empty()) entry.at("user").fail("a user name");
      if (auto mechanism = entry.find("mechanism"))
        credentials.mechanism = mechanism->choice({"PLAIN", "LOGIN"}) == 0 ? "PLAIN" : "LOGIN";
      config.smtp_sasl_password_maps[to_lower(nexthop)] = credentials;
    }
  }
  if (auto item = value.find("relayhost")) {
    relay::Transport transport = parse_nexthop(*item);
    transport.recipient_domain = "*";
    config.transport_maps.push_back(transport);  // after transport_maps: it catches what they do not
  }
}

}  // namespace

mailauth::DkimSigning read_dkim_signing(const JsonValue& value) {
  value.allow_keys({"domain", "selector", "key"});
  mailauth::DkimSigning signing;
  signing.domain = to_lower(value.at("domain").string());
  if (signing.domain.empty() || signing.domain.find_first_of(" @*") != std::string::npos)
    value.at("domain").fail("a domain, such as \"acme.example\"");
  signing.selector = value.at("selector").string();
  if (signing.selector.empty() || signing.selector.find_first_of(" ;=") != std::string::npos)
    value.at("selector").fail("a selector, such as \"s2026\"");
  signing.key_name = value.at("key").string();
  return signing;
}

relay::RelayConfig read_relay_config(const JsonValue& value) {
  value.allow_keys({"myhostname",
                    "listeners",
                    "mynetworks",
                    "users",
                    "auth_mechanisms",
                    "smtpd_tls_auth_only",
                    "smtputf8_enable",
                    "sender_domains",
                    "recipient_domains",
                    "message_size_limit",
                    "smtpd_recipient_limit",
                    "smtpd_hard_error_limit",
                    "smtpd_junk_command_limit",
                    "smtpd_timeout",
                    "smtpd_per_record_deadline",
                    "smtpd_trusted_connection_reserve",
                    "stress_smtpd_timeout",
                    "stress_smtpd_hard_error_limit",
                    "stress_smtpd_junk_command_limit",
                    "smtpd_auth_failure_limit",
                    "smtpd_auth_cache_time",
                    "hopcount_limit",
                    "queue_directory",
                    "queue_journal",
                    "smtpd_client_connection_count_limit",
                    "smtpd_client_event_limit_exceptions",
                    "smtpd_connection_limit",
                    "smtpd_client_connection_rate_limit",
                    "smtpd_client_message_rate_limit",
                    "anvil_rate_time_unit",
                    "smtpd_session_time_limit",
                    "smtpd_soft_error_limit",
                    "smtpd_error_sleep_time",
                    "minimal_backoff_time",
                    "maximal_backoff_time",
                    "maximal_queue_lifetime",
                    "bounce_queue_lifetime",
                    "delay_warning_time",
                    "retry_jitter_percent",
                    "qmgr_message_active_limit",
                    "default_destination_concurrency_limit",
                    "default_destination_recipient_limit",
                    "smtp_mx_address_limit",
                    "smtp_mx_session_limit",
                    "smtp_connection_reuse_time_limit",
                    "smtp_connection_reuse_count_limit",
                    "smtp_connection_cache_on_demand",
                    "smtp_connection_cache_time_limit",
                    "smtp_connect_timeout",
                    "smtp_port",
                    "smtp_tls_security_level",
                    "smtp_dns_support_level",
                    "smtp_tls_loglevel",
                    "smtp_tls_mta_sts",
                    "mta_sts_fetch_timeout",
                    "mta_sts_port",
                    "smtp_tlsrpt_enable",
                    "tlsrpt_organization_name",
                    "tlsrpt_contact_info",
                    "tlsrpt_sender_address",
                    "tlsrpt_submitter",
                    "tlsrpt_report_delay",
                    "smtp_tls_policy_maps",
                    "transport_maps",
                    "relayhost",
                    "smtp_sasl_password_maps",
                    "dkim_signing"});
  relay::RelayConfig config;
  if (auto name = value.find("myhostname")) config.myhostname = name->string();
  if (auto signing = value.find("dkim_signing")) {
    for (const JsonValue& item : signing->items()) config.dkim_signing.push_back(read_dkim_signing(item));
  }
  if (auto listeners = value.find("listeners")) {
    config.listeners.clear();
    for (const JsonValue& listener : listeners->items()) {
      listener.allow_keys({"address", "port", "tls"});
      relay::ListenerConfig entry;
      if (auto address = listener.find("address")) entry.address.address = address->address();
      entry.address.port = listener.at("port").port();
      if (auto tls = listener.find("tls")) entry.implicit_tls = tls->choice({"starttls", "implicit"}) == 1;
      config.listeners.push_back(entry);
    }
    if (config.listeners.empty()) listeners->fail("at least one listener");
  }
  if (auto networks = value.find("smtpd_client_event_limit_exceptions")) {
    config.smtpd_client_event_limit_exceptions.emplace();
    for (const JsonValue& network : networks->items())
      config.smtpd_client_event_limit_exceptions->push_back(network.cidr());
  }
  if (auto networks = value.find("mynetworks")) {
    for (const JsonValue& network : networks->items()) config.mynetworks.push_back(network.cidr());
  }
  if (auto users = value.find("users")) {
    for (const auto& [name, hash] : users->members()) {
      const std::string text = hash.string();
      if (!relay::is_password_hash(text)) {
        hash.fail("a salted hash \"pbkdf2-sha256$<iterations>$<salt>$<hash>\" (never a plain password)");
      }
      config.users[name] = text;
    }
  }
  if (auto mechanisms = value.find("auth_mechanisms")) {
    config.auth_mechanisms.clear();
    for (const JsonValue& mechanism : mechanisms->items()) {
      config.auth_mechanisms.emplace_back(mechanism.choice({"PLAIN", "LOGIN"}) == 0 ? "PLAIN" : "LOGIN");
    }
  }
  if (auto auth_only = value.find("smtpd_tls_auth_only")) config.smtpd_tls_auth_only = auth_only->boolean();
  if (auto utf8 = value.find("smtputf8_enable")) config.smtputf8_enable = utf8->boolean();
  if (auto senders = value.find("sender_domains")) config.sender_domains = domain_patterns(*senders);
  if (auto recipients = value.find("recipient_domains")) config.recipient_domains = domain_patterns(*recipients);
  if (auto size = value.find("message_size_limit"))
    config.message_size_limit = static_cast<std::size_t>(size->integer(1, 1'000'000'000));
  if (auto limit = value.find("smtpd_recipient_limit")) {
    config.smtpd_recipient_limit = static_cast<std::size_t>(limit->integer(smtp::recipients_minimum_buffer, 100'000));
  }
  if (auto limit = value.find("smtpd_hard_error_limit"))
    config.smtpd_hard_error_limit = static_cast<int>(limit->integer(1, 1000));
  if (auto limit = value.find("smtpd_soft_error_limit"))
    config.smtpd_soft_error_limit = static_cast<int>(limit->integer(0, 1000));
  if (auto sleep = value.find("smtpd_error_sleep_time")) {
    config.smtpd_error_sleep_time = sleep->duration();
    if (config.smtpd_error_sleep_time > std::chrono::minutes(5)) sleep->fail("at most 5m");
  }
  if (auto limit = value.find("smtpd_junk_command_limit")) {
    config.smtpd_junk_command_limit = static_cast<int>(limit->integer(1, 1'000'000'000));
  }
  if (auto timeout = value.find("smtpd_timeout")) config.smtpd_timeout = positive_duration(*timeout);
  if (auto per_record = value.find("smtpd_per_record_deadline"))
    config.smtpd_per_record_deadline = per_record->boolean();
  if (auto timeout = value.find("stress_smtpd_timeout")) config.stress_smtpd_timeout = positive_duration(*timeout);
  if (auto limit = value.find("stress_smtpd_hard_error_limit")) {
    config.stress_smtpd_hard_error_limit = static_cast<int>(limit->integer(1, 1000));
  }
  if (auto limit = value.find("stress_smtpd_junk_command_limit")) {
    config.stress_smtpd_junk_command_limit = static_cast<int>(limit->integer(1, 1'000'000'000));
  }
  if (auto limit = value.find("smtpd_auth_failure_limit"))
    config.smtpd_auth_failure_limit = static_cast<int>(limit->integer(1, 100));
  if (auto item = value.find("smtpd_auth_cache_time")) {
    config.smtpd_auth_cache_time = item->duration();
    if (config.smtpd_auth_cache_time.count() < 0) item->fail("a duration, or 0 to verify every AUTH in full");
  }
  if (auto limit = value.find("hopcount_limit")) config.hopcount_limit = static_cast<int>(limit->integer(1, 1000));
  if (auto limit = value.find("smtpd_client_connection_count_limit")) {
    config.smtpd_client_connection_count_limit = static_cast<int>(limit->integer(1, 100'000));
  }
  if (auto limit = value.find("smtpd_connection_limit"))
    config.smtpd_connection_limit = static_cast<int>(limit->integer(1, 100'000));
  if (auto reserve = value.find("smtpd_trusted_connection_reserve")) {
    config.smtpd_trusted_connection_reserve = static_cast<int>(reserve->integer(0, 100'000));
    if (config.smtpd_trusted_connection_reserve >= config.smtpd_connection_limit) {
      reserve->fail("fewer than smtpd_connection_limit (" + std::to_string(config.smtpd_connection_limit) + ")");
    }
  } else {
    config.smtpd_trusted_connection_reserve = config.smtpd_connection_limit / 10;  // the default share
  }
  if (auto limit = value.find("smtpd_client_connection_rate_limit")) {
    config.smtpd_client_connection_rate_limit = static_cast<int>(limit->integer(0, 1'000'000));
  }
  if (auto limit = value.find("smtpd_client_message_rate_limit")) {
    config.smtpd_client_message_rate_limit = static_cast<int>(limit->integer(0, 1'000'000));
  }
  if (auto unit = value.find("anvil_rate_time_unit")) config.anvil_rate_time_unit = positive_duration(*unit);
  if (auto limit = value.find("smtpd_session_time_limit")) config.smtpd_session_time_limit = positive_duration(*limit);
  if (auto directory = value.find("queue_directory")) {
    config.queue_directory = directory->string();
    if (config.queue_directory.empty() || config.queue_directory.front() == '/' ||
        config.queue_directory.find("..") != std::string::npos) {
      directory->fail("a relative path inside the relay's data directory");
    }
  }
  if (auto journal = value.find("queue_journal")) config.queue_journal = journal->boolean();
  read_delivery_settings(value, config);
  if (config.recipient_domains.empty()) value.at("recipient_domains").fail("at least one domain pattern");
  return config;
}

}  // namespace relaysim::scenario
