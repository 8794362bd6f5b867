#include "scenario/relay_config.hpp"

#include <nlohmann/json.hpp>

#include "relay/password.hpp"

namespace relaysim::scenario {
namespace {

std::vector<std::string> domain_patterns(const JsonValue& value) {
  std::vector<std::string> out;
  for (const JsonValue& item : value.items()) {
    const std::string pattern = item.string();
    const std::string_view rest = std::string_view(pattern).substr(pattern.starts_with("*.") ? 2 : 0);
    const bool valid = pattern == "*" || (!rest.empty() && rest.find('*') == std::string_view::npos &&
                                          rest.find_first_of(" @,") == std::string_view::npos);
    if (!valid) item.fail("a domain pattern: \"*\", \"example.com\" or \"*.example.com\"");
    out.push_back(pattern);
  }
  return out;
}

}  // namespace

relay::RelayConfig read_relay_config(const JsonValue& value) {
  value.allow_keys({"myhostname", "listeners", "mynetworks", "users", "auth_mechanisms", "smtpd_tls_auth_only",
                    "sender_domains", "recipient_domains", "message_size_limit", "smtpd_recipient_limit",
                    "smtpd_hard_error_limit", "smtpd_auth_failure_limit", "hopcount_limit", "queue_directory",
                    "smtpd_client_connection_count_limit", "smtpd_connection_limit", "smtpd_client_connection_rate_limit",
                    "smtpd_client_message_rate_limit", "anvil_rate_time_unit", "smtpd_session_time_limit",
                    "smtpd_soft_error_limit", "smtpd_error_sleep_time"});
  relay::RelayConfig config;
  if (auto name = value.find("myhostname")) config.myhostname = name->string();
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
  if (auto senders = value.find("sender_domains")) config.sender_domains = domain_patterns(*senders);
  if (auto recipients = value.find("recipient_domains")) config.recipient_domains = domain_patterns(*recipients);
  if (auto size = value.find("message_size_limit")) config.message_size_limit = static_cast<std::size_t>(size->integer(1, 1'000'000'000));
  if (auto limit = value.find("smtpd_recipient_limit")) {
    config.smtpd_recipient_limit = static_cast<std::size_t>(limit->integer(smtp::recipients_minimum_buffer, 100'000));
  }
  if (auto limit = value.find("smtpd_hard_error_limit")) config.smtpd_hard_error_limit = static_cast<int>(limit->integer(1, 1000));
  if (auto limit = value.find("smtpd_soft_error_limit")) config.smtpd_soft_error_limit = static_cast<int>(limit->integer(0, 1000));
  if (auto sleep = value.find("smtpd_error_sleep_time")) {
    config.smtpd_error_sleep_time = sleep->duration();
    if (config.smtpd_error_sleep_time > std::chrono::minutes(5)) sleep->fail("at most 5m");
  }
  if (auto limit = value.find("smtpd_auth_failure_limit")) config.smtpd_auth_failure_limit = static_cast<int>(limit->integer(1, 100));
  if (auto limit = value.find("hopcount_limit")) config.hopcount_limit = static_cast<int>(limit->integer(1, 1000));
  if (auto limit = value.find("smtpd_client_connection_count_limit")) {
    config.smtpd_client_connection_count_limit = static_cast<int>(limit->integer(1, 100'000));
  }
  if (auto limit = value.find("smtpd_connection_limit")) config.smtpd_connection_limit = static_cast<int>(limit->integer(1, 100'000));
  if (auto limit = value.find("smtpd_client_connection_rate_limit")) {
    config.smtpd_client_connection_rate_limit = static_cast<int>(limit->integer(0, 1'000'000));
  }
  if (auto limit = value.find("smtpd_client_message_rate_limit")) {
    config.smtpd_client_message_rate_limit = static_cast<int>(limit->integer(0, 1'000'000));
  }
  if (auto unit = value.find("anvil_rate_time_unit")) {
    config.anvil_rate_time_unit = unit->duration();
    if (config.anvil_rate_time_unit.count() <= 0) unit->fail("a duration longer than zero");
  }
  if (auto limit = value.find("smtpd_session_time_limit")) {
    config.smtpd_session_time_limit = limit->duration();
    if (config.smtpd_session_time_limit.count() <= 0) limit->fail("a duration longer than zero");
  }
  if (auto directory = value.find("queue_directory")) {
    config.queue_directory = directory->string();
    if (config.queue_directory.empty() || config.queue_directory.front() == '/' ||
        config.queue_directory.find("..") != std::string::npos) {
      directory->fail("a relative path inside the relay's data directory");
    }
  }
  if (config.recipient_domains.empty()) value.at("recipient_domains").fail("at least one domain pattern");
  return config;
}

}  // namespace relaysim::scenario
