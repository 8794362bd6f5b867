#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "relay/password.hpp"
#include "scenario/json_reader.hpp"
#include "scenario/relay_config.hpp"

using namespace relaysim;

namespace {
std::string error_of(const char* text) {
  const auto document = nlohmann::json::parse(text);
  try {
    scenario::read_relay_config(scenario::JsonValue(document, "$"));
  } catch (const scenario::InputError& error) {
    return error.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("a relay configuration reads every key, with Postfix's names", "[relay][config]") {
  const std::string hash = relay::hash_password("s3cret", "salt", 1000);
  const auto document = nlohmann::json::parse(R"({
    "myhostname": "relay.acme.example",
    "listeners": [{ "port": 587 }, { "address": "203.0.113.10", "port": 465, "tls": "implicit" }],
    "mynetworks": ["10.1.0.0/16"],
    "users": { "sfdc": ")" + hash + R"(" },
    "sender_domains": ["acme.example", "*.acme.example"],
    "message_size_limit": 20000000,
    "hopcount_limit": 30
  })");
  const relay::RelayConfig config = scenario::read_relay_config(scenario::JsonValue(document, "$"));
  CHECK(config.myhostname == "relay.acme.example");
  REQUIRE(config.listeners.size() == 2);
  CHECK(config.listeners[0].address.port == 587);
  CHECK(config.listeners[1].implicit_tls);
  CHECK(config.mynetworks.front().to_string() == "10.1.0.0/16");
  CHECK(config.users.at("sfdc") == hash);
  CHECK(config.sender_domains.size() == 2);
  CHECK(config.recipient_domains == std::vector<std::string>{"*"});
  CHECK(config.message_size_limit == 20000000u);
  CHECK(config.hopcount_limit == 30);
  CHECK(config.smtpd_tls_auth_only);  // the secure default
}

TEST_CASE("relay configuration mistakes name the key", "[relay][config]") {
  CHECK(error_of(R"({ "mynetwork": [] })") ==
        "$.mynetwork: expected one of the keys myhostname, listeners, mynetworks, users, auth_mechanisms, "
        "smtpd_tls_auth_only, smtputf8_enable, sender_domains, recipient_domains, message_size_limit, "
        "smtpd_recipient_limit, "
        "smtpd_hard_error_limit, smtpd_junk_command_limit, smtpd_timeout, smtpd_per_record_deadline, "
        "smtpd_trusted_connection_reserve, stress_smtpd_timeout, stress_smtpd_hard_error_limit, "
        "stress_smtpd_junk_command_limit, smtpd_auth_failure_limit, smtpd_auth_cache_time, hopcount_limit, "
        "queue_directory, "
        "queue_journal, "
        "smtpd_client_connection_count_limit, smtpd_client_event_limit_exceptions, smtpd_connection_limit, "
        "smtpd_client_connection_rate_limit, "
        "smtpd_client_message_rate_limit, anvil_rate_time_unit, smtpd_session_time_limit, smtpd_soft_error_limit, "
        "smtpd_error_sleep_time, minimal_backoff_time, maximal_backoff_time, maximal_queue_lifetime, "
        "bounce_queue_lifetime, delay_warning_time, retry_jitter_percent, qmgr_message_active_limit, "
        "default_destination_concurrency_limit, "
        "default_destination_recipient_limit, smtp_mx_address_limit, smtp_mx_session_limit, "
        "smtp_connection_reuse_time_limit, smtp_connection_reuse_count_limit, smtp_connection_cache_on_demand, "
        "smtp_connection_cache_time_limit, smtp_connect_timeout, smtp_port, "
        "smtp_tls_security_level, smtp_dns_support_level, smtp_tls_loglevel, smtp_tls_mta_sts, mta_sts_fetch_timeout, "
        "mta_sts_port, smtp_tlsrpt_enable, tlsrpt_organization_name, tlsrpt_contact_info, tlsrpt_sender_address, "
        "tlsrpt_submitter, tlsrpt_report_delay, smtp_tls_policy_maps, transport_maps, "
        "relayhost, smtp_sasl_password_maps, "
        "dkim_signing, "
        "found unknown key \"mynetwork\"");
  CHECK(error_of(R"({ "users": { "sfdc": "s3cret" } })") ==
        "$.users.sfdc: expected a salted hash \"pbkdf2-sha256$<iterations>$<salt>$<hash>\" (never a plain password), "
        "found \"s3cret\"");
  CHECK(error_of(R"({ "listeners": [{ "port": 70000 }] })") ==
        "$.listeners[0].port: expected an integer from 1 to 65535, found 70000");
  CHECK(error_of(R"({ "mynetworks": ["10.1.0.0/33"] })") ==
        "$.mynetworks[0]: expected a network such as \"203.0.113.0/24\" or an address, found \"10.1.0.0/33\"");
  CHECK(error_of(R"({ "sender_domains": ["a@b.example"] })") ==
        "$.sender_domains[0]: expected a domain pattern: \"*\", \"example.com\" or \"*.example.com\", found "
        "\"a@b.example\"");
  CHECK(error_of(R"({ "smtpd_tls_auth_only": "yes" })") ==
        "$.smtpd_tls_auth_only: expected true or false, found \"yes\"");
  CHECK(error_of(R"({ "queue_journal": 1 })") == "$.queue_journal: expected true or false, found 1");
  CHECK(error_of(R"({ "queue_directory": "../etc" })") ==
        "$.queue_directory: expected a relative path inside the relay's data directory, found \"../etc\"");
  CHECK(error_of(R"({ "recipient_domains": [] })") ==
        "$.recipient_domains: expected at least one domain pattern, found an array");
}

TEST_CASE("delivery settings: backoff, lifetimes, limits, TLS levels per destination, static routes",
          "[relay][config]") {
  const auto document = nlohmann::json::parse(R"({
    "minimal_backoff_time": "1m",
    "maximal_backoff_time": "1h",
    "maximal_queue_lifetime": "2d",
    "bounce_queue_lifetime": "1d",
    "delay_warning_time": "4h",
    "default_destination_concurrency_limit": 5,
    "smtp_mx_session_limit": 3,
    "smtp_tls_security_level": "encrypt",
    "smtp_tls_policy_maps": { "bank.example": "verify", "*.example": "may", "legacy.example": "none" },
    "transport_maps": [
      { "recipient_domain": "partner.example", "nexthop": "[192.0.2.50]:2525" },
      { "sender_domain": "*.bnc.salesforce.com", "nexthop": "bounces.acme.example" }
    ],
    "relayhost": "[smarthost.acme.example]:587",
    "smtp_sasl_password_maps": { "smarthost.acme.example": { "user": "relay", "password": "pw", "mechanism": "LOGIN" } }
  })");
  const relay::RelayConfig config = scenario::read_relay_config(scenario::JsonValue(document, "$"));
  CHECK(config.minimal_backoff_time == std::chrono::minutes(1));
  CHECK(config.maximal_backoff_time == std::chrono::hours(1));
  CHECK(config.maximal_queue_lifetime == std::chrono::hours(48));
  CHECK(config.bounce_queue_lifetime == std::chrono::hours(24));
  CHECK(config.delay_warning_time == std::chrono::hours(4));
  CHECK(config.default_destination_concurrency_limit == 5);
  CHECK(config.smtp_mx_session_limit == 3);
  CHECK(relay::tls_level_for(config, "bank.example") == relay::TlsLevel::verify);  // exact beats "*.example"
  CHECK(relay::tls_level_for(config, "shop.example") == relay::TlsLevel::may);
  CHECK(relay::tls_level_for(config, "legacy.example") == relay::TlsLevel::none);
  CHECK(relay::tls_level_for(config, "gmail.com") == relay::TlsLevel::encrypt);  // the default level
  REQUIRE(config.transport_maps.size() == 3);
  CHECK(config.transport_maps[0].recipient_domain == "partner.example");
  CHECK(config.transport_maps[0].nexthop == "192.0.2.50");
  CHECK(config.transport_maps[0].port == 2525);
  CHECK(!config.transport_maps[0].mx_lookup);
  CHECK(config.transport_maps[1].sender_domain == "*.bnc.salesforce.com");
  CHECK(config.transport_maps[1].mx_lookup);
  CHECK(config.transport_maps[1].port == 25);
  CHECK(config.transport_maps[2].recipient_domain == "*");  // relayhost: last, catches the rest
  CHECK(config.transport_maps[2].nexthop == "smarthost.acme.example");
  CHECK(config.transport_maps[2].port == 587);
  CHECK(config.smtp_sasl_password_maps.at("smarthost.acme.example").user == "relay");
  CHECK(config.smtp_sasl_password_maps.at("smarthost.acme.example").mechanism == "LOGIN");
}

TEST_CASE("delivery setting mistakes name the key", "[relay][config]") {
  CHECK(error_of(R"({ "minimal_backoff_time": "2h" })") ==
        "$.minimal_backoff_time: expected minimal_backoff_time at most maximal_backoff_time, found \"2h\"");
  CHECK(
      error_of(R"({ "smtp_tls_security_level": "secure" })") ==
      "$.smtp_tls_security_level: expected one of \"none\", \"may\", \"encrypt\", \"verify\", \"dane\", \"dane-only\", "
      "found \"secure\"");
  CHECK(error_of(R"({ "relayhost": "[smarthost:99999" })") ==
        "$.relayhost: expected a next hop \"host\", \"[host]\" or either with \":port\", found \"[smarthost:99999\"");
  CHECK(error_of(R"({ "transport_maps": [{ "recipient_domain": "partner.example" }] })") ==
        "$.transport_maps[0].nexthop: expected a value, found nothing (the key is required)");
  CHECK(error_of(R"({ "smtp_tls_policy_maps": { "bad domain": "verify" } })")
            .starts_with("$.smtp_tls_policy_maps[\"bad domain\"]"));
}

TEST_CASE("a key given twice is refused at its path, not silently replaced", "[scenario][config]") {
  const auto error_of_text = [](std::string_view text) -> std::string {
    try {
      scenario::parse_json_text(text, "relay.json");
    } catch (const scenario::InputError& error) {
      return error.what();
    }
    return "(accepted)";
  };
  CHECK(error_of_text(R"({ "config": { "mynetworks": ["10.0.0.0/8"], "mynetworks": [] } })") ==
        R"($.config.mynetworks: expected each key once, found "mynetworks" a second time in the same object)");
  CHECK(error_of_text(R"({ "hosts": [ {"a": 1}, {"b": 2, "c": [1, {"d": 1, "d": 2}]} ] })") ==
        R"($.hosts[1].c[1].d: expected each key once, found "d" a second time in the same object)");
  CHECK(error_of_text(R"({ "a": {"x": 1}, "b": {"x": 1}, "list": [{"x": 1}, {"x": 2}] })") == "(accepted)");
}
