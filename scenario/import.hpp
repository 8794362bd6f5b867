#pragma once
// `relaysim import`: what an admin has after an incident, turned into a scenario.
// - salesforce: an org's Email Relay and Email Domain Filter records, as `sf data query ...
//   --result-format csv|json` exports them (Salesforce's API field names): the org with its relays
//   and filters, and one probe email per active filter with the path the filters give it as an
//   expectation (scenario/import_salesforce.cpp). Passwords are never imported.
// - postfix-config: a relay's main.cf and the source text of its transport, TLS policy and SASL
//   password maps: the relay node with every parameter relaysim implements, and a warning with the
//   line for each one it does not (scenario/import_postfix.cpp).

#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/time.hpp"

namespace relaysim::scenario::import {

// One exported record: its fields by API name, and where it was in the file ("line 3",
// "records[2]") for messages.
struct Record {
  std::string where;
  std::map<std::string, std::string> fields;
};

// Records from a CSV export (a header row of field names; RFC 4180 quoting) or a JSON one (the
// Salesforce CLI's `{"result": {"records": [...]}}`, `{"records": [...]}` or a bare array; each
// record's "attributes" is ignored). Throws ImportError naming the line or the record.
std::vector<Record> read_records(std::string_view text);

class ImportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Imported {
  nlohmann::ordered_json scenario;
  std::vector<std::string> warnings;  // fields not modelled, unknown columns, values guessed
};

// `relays` and `filters` as read_records gives them; `source` names the files for the scenario's notes.
Imported import_salesforce(const std::vector<Record>& relays, const std::vector<Record>& filters,
                           std::string_view source);

// A map's source text (Postfix's `postmap` input: "key value" lines, # comments) and its name for messages.
struct MapSource {
  std::string name;
  std::string text;
};
struct PostfixFiles {
  std::string main_cf_name;
  std::string main_cf;
  std::optional<MapSource> transport;    // transport_maps
  std::optional<MapSource> tls_policy;   // smtp_tls_policy_maps
  std::optional<MapSource> sasl_passwd;  // smtp_sasl_password_maps
};
Imported import_postfix(const PostfixFiles& files);

// A Postfix relay's log (syslog or maillog_file lines, classic or RFC 3339 timestamps) as the world
// that produced it: an SMTP sender per client with each queue id's message at its arrival, a fake
// MX per destination server with its replies, drops and stalls as rules in time windows, refused,
// timed-out and TLS-failing connections and DNS failures as faults in windows, and each
// recipient's end (delivered, bounced with its status, still deferred) with its number of
// attempts as expectations. `relay`, when given, is the postfix-config import of the relay's
// main.cf: its settings become the relay node's. scenario/import_maillog.cpp.
struct MaillogOptions {
  std::string name;                     // the file, for messages and notes
  unsigned year = 2026;                 // for classic syslog timestamps, which have none
  std::optional<Instant> since, until;  // lines outside are skipped
  std::optional<std::string>
      relay_host;  // the syslog host whose lines to read; default: the one with most Postfix lines
};
Imported import_maillog(std::string_view text, const MaillogOptions& options, const std::optional<Imported>& relay);

// --anonymize: names renamed consistently under a key, so that a scenario can go into a bug report
// and two imports with the same key still fit together. Every email address, domain name and IP
// address in the scenario's texts and keys is renamed: a domain label by label with its top-level
// label kept (acme.example and mail.acme.example stay parent and child), a local part as a whole,
// an IPv4 address into 198.18.0.0/15 and an IPv6 one into 2001:db8::/32. Networks (a prefix length
// follows) are kept: they are what the relay's policy compares client addresses with. Salesforce's
// own domains are kept; users and passwords are replaced. scenario/import_anonymize.cpp.
class Anonymizer {
 public:
  explicit Anonymizer(std::string key);
  void scenario(nlohmann::ordered_json& value) const;
  std::string text(std::string_view input) const;
  std::string domain(std::string_view name) const;
  std::string address(std::string_view ip) const;  // IPv4 into 198.18.0.0/15, IPv6 into 2001:db8::/32

 private:
  std::string token(std::string_view kind, std::string_view text) const;  // six hex digits of HMAC-SHA256
  std::string ipv6(std::string_view text) const;
  std::string key_;
};

}  // namespace relaysim::scenario::import
