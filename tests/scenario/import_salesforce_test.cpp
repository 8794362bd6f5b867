// relaysim import salesforce: exports read as Salesforce's tools write them, records mapped with
// Salesforce's rules, and every mistake named by its line or record.

#include <string>

#include <catch2/catch.hpp>

#include "scenario/import.hpp"
#include "support/import_warnings.hpp"

using namespace relaysim::scenario::import;

namespace {

std::string error_of(std::string_view text) {
  try {
    read_records(text);
  } catch (const ImportError& error) {
    return error.what();
  }
  return "(no error)";
}

const nlohmann::ordered_json& org_of(const Imported& imported) {
  return imported.scenario["nodes"]["salesforce"]["org"];
}

using relaysim::testing::warned;

}  // namespace

TEST_CASE(
    "CSV exports: quoted fields with commas and quotes and line breaks - CRLF - a byte order mark - blank fields "
    "absent",
    "[scenario][import]") {
  const auto records = read_records(
      "\xEF\xBB\xBF\"Id\",\"FromDomain\",\"ToDomain\"\r\n"
      "\"a1\",\"acme.example, *.acme.example\",\"say \"\"hi\"\"\"\r\n"
      "\r\n"
      "a2,,\"two\nlines\"\r\n");
  REQUIRE(records.size() == 2);
  CHECK(records[0].where == "line 2");
  CHECK(records[0].fields.at("Id") == "a1");
  CHECK(records[0].fields.at("FromDomain") == "acme.example, *.acme.example");
  CHECK(records[0].fields.at("ToDomain") == "say \"hi\"");
  CHECK(records[1].where == "line 4");
  CHECK_FALSE(records[1].fields.contains("FromDomain"));
  CHECK(records[1].fields.at("ToDomain") == "two\nlines");
}

TEST_CASE(
    "JSON exports: the Salesforce CLI's result - a records object or a bare array - with attributes and nulls left out",
    "[scenario][import]") {
  const auto cli =
      read_records(R"({"status":0,"result":{"records":[{"attributes":{"type":"EmailRelay"},"Host":"relay.acme.example",
                                    "Port":587,"IsRequireAuth":true,"AuthType":null}],"totalSize":1,"done":true}})");
  REQUIRE(cli.size() == 1);
  CHECK(cli[0].where == "result.records[0]");
  CHECK(cli[0].fields.at("Port") == "587");
  CHECK(cli[0].fields.at("IsRequireAuth") == "true");
  CHECK_FALSE(cli[0].fields.contains("AuthType"));
  CHECK_FALSE(cli[0].fields.contains("attributes"));
  CHECK(read_records(R"({"records": [{"Host": "a"}, {"Host": "b"}]})").size() == 2);
  CHECK(read_records(R"([{"Host": "a"}])")[0].where == "[0]");
}

TEST_CASE("a malformed export is named by its line or record", "[scenario][import]") {
  CHECK(error_of("Host,Port\n\"relay.acme.example,587\n") == "line 2: a quoted field never ends");
  CHECK(error_of("Host,Port\nrelay.acme.example,587\nlonely\n") == "line 3: 1 field, the header has 2");
  CHECK(error_of("") == "no header row: the file is empty");
  CHECK(error_of(R"({"records": [{"Host": "a"}, 7]})") == "records[1]: expected an object, found number");
  CHECK(error_of(R"({"totalSize": 0})").starts_with("no records"));
  CHECK(error_of("{\"records\": [").starts_with("not JSON"));
}

TEST_CASE(
    "relays and filters map with Salesforce's rules: ids link them - blank priorities go last - passwords are never "
    "imported",
    "[scenario][import]") {
  const auto relays = read_records(
      "Id,Host,Port,TlsSetting,IsRequireAuth,AuthType,Username,Password,RelayHealth,Colour\n"
      "0Kz000000000001AAA,relay.acme.example,587,RequiredVerify,true,LOGIN,sfdc,secret,Healthy,blue\n"
      "0Kz000000000002AAA,relay.acme.example,25,Preferred,false,,,,,\n");
  const auto filters = read_records(
      "EmailRelayId,FromDomain,ToDomain,PriorityNumber,IsActive\n"
      "0Kz000000000001,acme.example,*,2,true\n"       // a 15-character id
      "0Kz000000000002AAA,*,partner.example,,true\n"  // no priority: after the others
      "0Kz000000000002AAA,acme.example,partner.example,1,true\n"
      "0Kz000000000001AAA,*,*,7,false\n");
  const Imported imported = import_salesforce(relays, filters, "relays.csv");
  const auto& org = org_of(imported);
  REQUIRE(org["relays"].size() == 2);
  CHECK(org["relays"][0]["name"] == "relay.acme.example:587");  // two records share a host
  CHECK(org["relays"][1]["name"] == "relay.acme.example:25");
  CHECK(org["relays"][0]["auth"]["user"] == "sfdc");
  CHECK(org["relays"][0]["auth"]["mechanism"] == "LOGIN");
  CHECK(imported.scenario.dump().find("secret") == std::string::npos);
  CHECK(org["relays"][1].contains("auth") == false);
  REQUIRE(org["filters"].size() == 4);
  CHECK(org["filters"][0]["priority"] == 1);
  CHECK(org["filters"][1]["priority"] == 2);
  CHECK(org["filters"][1]["relay"] == "relay.acme.example:587");
  CHECK(org["filters"][2]["priority"] == 7);
  CHECK(org["filters"][3]["priority"] == 8);  // the blank one, after the highest
  CHECK(org["filters"][3]["sender"] == "*");
  CHECK(warned(imported, "RelayHealth is not modelled"));
  CHECK(warned(imported, "Colour is not a field relaysim knows"));
  CHECK(warned(imported, "no PriorityNumber"));
  CHECK(warned(imported, "fill in the password"));
  CHECK_FALSE(warned(imported, "Password"));  // read, and dropped on purpose
}

TEST_CASE("each active filter gets a probe expected on the path the first matching filter gives it",
          "[scenario][import]") {
  const auto relays =
      read_records("Id,Host,Port,TlsSetting\nr1,corp.acme.example,587,Required\nr2,partner-gw.example,25,Off\n");
  const auto filters = read_records(
      "EmailRelayId,FromDomain,ToDomain,PriorityNumber,IsActive\n"
      "r1,*.acme.example,*,1,true\n"
      "r2,*.acme.example,partner.example,2,true\n"  // shadowed by the first
      "r2,*,*,3,false\n");
  const Imported imported = import_salesforce(relays, filters, "x");
  const auto& expect = imported.scenario["expect"];
  const auto& traffic = imported.scenario["nodes"]["salesforce"]["traffic"];
  REQUIRE(expect.size() == 2);  // the inactive filter has none
  CHECK(traffic[0]["from"] == "probe@probe.acme.example");
  CHECK(expect[0]["to"] == "probe1@recipient.example");
  CHECK(expect[0]["via"] == "corp.acme.example");
  CHECK(traffic[1]["to"][0] == "probe2@partner.example");
  CHECK(expect[1]["via"] == "corp.acme.example");  // the earlier filter wins
  CHECK(expect[1]["name"].get<std::string>().find("which an earlier filter overrides") != std::string::npos);
}

TEST_CASE(
    "import mistakes: a priority used twice - a filter for no relay - a port Salesforce cannot dial - nothing usable",
    "[scenario][import]") {
  const auto relays = read_records("Id,Host,Port\nr1,a.example,587\nr2,b.example,2525\nr3,c.example,25\n");
  const Imported imported = import_salesforce(relays, read_records("EmailRelayId,PriorityNumber\nr9,1\n"), "x");
  CHECK(org_of(imported)["relays"].size() == 2);
  CHECK(warned(imported, "Port 2525 is not one Salesforce dials"));
  CHECK(warned(imported, "EmailRelayId r9 names no exported relay: left out"));
  CHECK(org_of(imported)["filters"].empty());
  CHECK_THROWS_WITH(import_salesforce(relays, read_records("EmailRelayId,PriorityNumber\nr1,1\nr3,1\n"), "x"),
                    "EmailDomainFilter line 3: PriorityNumber 1 is used twice (Salesforce keeps it unique)");
  CHECK_THROWS_WITH(import_salesforce(read_records("Host,Port\n,25\n"), {}, "x"),
                    "nothing to import: no usable relay and no usable filter");
}

TEST_CASE(
    "anonymizing renames consistently under a key: related domains stay related - networks and Salesforce's domains "
    "stay",
    "[scenario][import]") {
  const Anonymizer anonymizer(std::string(64, 'a'));
  const Anonymizer other(std::string(64, 'b'));
  const std::string domain = anonymizer.domain("acme.example");
  CHECK(domain.ends_with(".example"));
  CHECK(domain != "acme.example");
  CHECK(anonymizer.domain("ACME.example") == domain);                     // case does not matter
  CHECK(anonymizer.domain("mail.acme.example").ends_with("." + domain));  // a subdomain stays one
  CHECK(other.domain("acme.example") != domain);                          // another key, other names
  CHECK(anonymizer.domain("na1.bnc.salesforce.com") == "na1.bnc.salesforce.com");
  const std::string address = anonymizer.address("203.0.113.7");
  CHECK(address.starts_with("198.1"));
  CHECK(anonymizer.address("203.0.113.7") == address);
  const std::string text =
      anonymizer.text("ann@acme.example via [203.0.113.7]:25 from *.acme.example, 13.108.0.0/14, relays.csv");
  CHECK(text == anonymizer.text("ann@acme.example") + " via [" + address + "]:25 from *." + domain +
                    ", 13.108.0.0/14, relays.csv");
  CHECK(text.find("ann") == std::string::npos);
  // IPv6: into the documentation range, the same address however it is written; networks, clock
  // times and instants stay.
  const std::string six = anonymizer.address("2001:DB8:0:0::25");
  CHECK(six.starts_with("2001:db8::"));
  CHECK(six != "2001:db8::25");
  CHECK(anonymizer.text("client=mx[2001:db8::25]:25 at 2026-03-02T09:00:04Z, 09:00:04, 2001:db8::/32") ==
        "client=mx[" + six + "]:25 at 2026-03-02T09:00:04Z, 09:00:04, 2001:db8::/32");

  nlohmann::ordered_json scenario = {{"hosts", {{"relay.acme.example", {{"addresses", {"203.0.113.7"}}}}}},
                                     {"auth", {{"user", "sfdc"}, {"password", "s3cret"}}}};
  anonymizer.scenario(scenario);
  CHECK(scenario["hosts"].contains(anonymizer.domain("relay.acme.example")));  // keys too
  CHECK(scenario["hosts"][anonymizer.domain("relay.acme.example")]["addresses"][0] == address);
  CHECK(scenario.dump().find("sfdc") == std::string::npos);
  CHECK(scenario.dump().find("s3cret") == std::string::npos);
}
