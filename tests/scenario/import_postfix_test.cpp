// relaysim import postfix-config: main.cf read and expanded as Postfix reads it, each parameter
// relaysim implements carried over in relaysim's form, every other one named with its line.

#include <string>

#include <catch2/catch.hpp>

#include "scenario/import.hpp"
#include "support/import_warnings.hpp"

using namespace relaysim::scenario::import;

namespace {

Imported import_main_cf(std::string main_cf, std::optional<std::string> transport = std::nullopt) {
  PostfixFiles files{"main.cf", std::move(main_cf), std::nullopt, std::nullopt, std::nullopt};
  if (transport) files.transport = MapSource{"transport", *transport};
  return import_postfix(files);
}

const nlohmann::ordered_json& config_of(const Imported& imported) {
  return imported.scenario["nodes"]["relay"]["config"];
}

using relaysim::testing::warned;

std::string main_cf_error(std::string main_cf) {
  try {
    import_main_cf(std::move(main_cf));
  } catch (const ImportError& error) {
    return error.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("main.cf: comments - continuation lines - a later definition wins - $name and conditional expansion",
          "[scenario][import]") {
  const Imported imported = import_main_cf(
      "# a comment\n"
      "mydomain = acme.example\n"
      "myhostname = old\n"
      "mynetworks = 127.0.0.0/8 [::1]/128,\n"
      "    13.108.0.0/14\n"
      "   # an indented comment line is a comment\n"
      "myhostname = ${mydomain?{mail.}}$(mydomain)${nothing:-fallback}\n"
      "relayhost =\n");
  const auto& config = config_of(imported);
  CHECK(config["myhostname"] == "mail.acme.example-fallback");
  CHECK(config["mynetworks"] == nlohmann::ordered_json({"127.0.0.0/8", "::1/128", "13.108.0.0/14"}));
  CHECK_FALSE(config.contains("relayhost"));  // empty: Postfix's "no relayhost", relaysim's default
  CHECK(warned(imported, "main.cf:7: myhostname is set again (line 3)"));
  CHECK_FALSE(warned(imported, "mydomain"));  // it only feeds myhostname
  CHECK(imported.scenario["nodes"]["relay"]["host"] == "mail.acme.example-fallback");
}

TEST_CASE("main.cf: times get the parameter's default unit - weeks become days - counts and yes/no are typed",
          "[scenario][import]") {
  const Imported imported = import_main_cf(
      "minimal_backoff_time = 300\nmaximal_queue_lifetime = 5\ndelay_warning_time = 4\n"
      "bounce_queue_lifetime = 1w\nsmtp_connect_timeout = 30s\nmessage_size_limit = 10240000\n"
      "smtputf8_enable = no\nsmtp_tls_security_level = encrypt\n");
  const auto& config = config_of(imported);
  CHECK(config["minimal_backoff_time"] == "300s");
  CHECK(config["maximal_queue_lifetime"] == "5d");
  CHECK(config["delay_warning_time"] == "4h");
  CHECK(config["bounce_queue_lifetime"] == "7d");
  CHECK(config["smtp_connect_timeout"] == "30s");
  CHECK(config["message_size_limit"] == 10240000);
  CHECK(config["smtputf8_enable"] == false);
  CHECK(config["smtp_tls_security_level"] == "encrypt");
}

TEST_CASE(
    "maps: transport entries become static routes - .domain its subdomains - other transports and tables are named",
    "[scenario][import]") {
  const Imported imported = import_main_cf(
      "myhostname = relay.acme.example\ntransport_maps = hash:/etc/postfix/transport\n"
      "smtp_tls_policy_maps = inline:{ partner.example = encrypt, .bank.example = verify match=hostname }\n"
      "mynetworks = 10.0.0.0/8 hash:/etc/postfix/networks\nsmtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n",
      "# routes\npartner.example  smtp:[192.0.2.50]:2525\n.partner.example relay:[192.0.2.50]:2525\n"
      "old.example error:gone\n");
  const auto& config = config_of(imported);
  REQUIRE(config["transport_maps"].size() == 2);
  CHECK(config["transport_maps"][0] ==
        nlohmann::ordered_json({{"recipient_domain", "partner.example"}, {"nexthop", "[192.0.2.50]:2525"}}));
  CHECK(config["transport_maps"][1]["recipient_domain"] == "*.partner.example");
  CHECK(config["smtp_tls_policy_maps"] ==
        nlohmann::ordered_json({{"partner.example", "encrypt"}, {"*.bank.example", "verify"}}));
  CHECK(config["mynetworks"] == nlohmann::ordered_json({"10.0.0.0/8"}));
  CHECK(warned(imported, "old.example -> error:gone: only smtp and relay transports"));
  CHECK(warned(imported, "only the level is imported, not \"verify match=hostname\""));
  CHECK(warned(imported, "hash:/etc/postfix/networks is a lookup table"));
  CHECK(
      warned(imported, "main.cf:5: smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd: give --sasl-passwd FILE"));
}

TEST_CASE("parameters relaysim does not implement are named with their line - and why where there is a reason",
          "[scenario][import]") {
  const Imported imported =
      import_main_cf("myhostname = r.example\nsmtpd_milters = inet:127.0.0.1:8891\nrelay_domains = partner.example\n");
  CHECK(warned(imported, "main.cf:2: smtpd_milters is not a parameter relaysim implements"));
  CHECK(warned(
      imported,
      "main.cf:3: relay_domains is not imported: relaysim relays only for mynetworks and authenticated clients"));
}

TEST_CASE("main.cf mistakes are named with their line", "[scenario][import]") {
  CHECK(main_cf_error("myhostname = a\n  continued\nnonsense\n") ==
        "main.cf:3: expected \"name = value\", found \"nonsense\"");
  CHECK(main_cf_error("   orphan\n") == "main.cf:1: a continuation line with nothing to continue");
  CHECK(main_cf_error("maximal_queue_lifetime = 5x\n") ==
        "main.cf:1: maximal_queue_lifetime: \"5x\" is not a time (a number, with s, m, h, d or w)");
  CHECK(main_cf_error("message_size_limit = big\n") == "main.cf:1: message_size_limit: \"big\" is not a number");
  CHECK(main_cf_error("smtputf8_enable = maybe\n") == "main.cf:1: smtputf8_enable: \"maybe\" is not yes or no");
  CHECK(main_cf_error("a = $b\nb = $a\nmyhostname = $a\n").starts_with("parameter expansion nests more than 20 deep"));
  CHECK(main_cf_error("biff = no\n") == "main.cf: no parameter relaysim implements");
}

TEST_CASE("postfix-mta-sts-resolver's socketmap in smtp_tls_policy_maps becomes smtp_tls_mta_sts",
          "[scenario][import]") {
  const Imported alone = import_main_cf("smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix\n");
  CHECK(config_of(alone)["smtp_tls_mta_sts"] == true);
  CHECK_FALSE(config_of(alone).contains("smtp_tls_policy_maps"));
  CHECK(warned(alone,
               "main.cf:1: smtp_tls_policy_maps: socketmap:inet:127.0.0.1:8461:postfix is read as "
               "postfix-mta-sts-resolver: imported as smtp_tls_mta_sts = true"));
  // Beside a table: the table is the policy table, as before.
  const Imported both =
      import_main_cf("smtp_tls_policy_maps = hash:/etc/postfix/tls_policy, socketmap:inet:127.0.0.1:8461:postfix\n");
  CHECK(config_of(both)["smtp_tls_mta_sts"] == true);
  CHECK(warned(both, "smtp_tls_policy_maps = hash:/etc/postfix/tls_policy: give --tls-policy FILE"));
  CHECK_FALSE(config_of(import_main_cf("smtp_tls_policy_maps = inline:{ a.example = encrypt }\n"))
                  .contains("smtp_tls_mta_sts"));
}
