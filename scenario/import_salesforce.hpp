#pragma once
// `relaysim import salesforce`: an org's Email Relay and Email Domain Filter records, as an admin
// exports them (`sf data query ... --result-format csv|json`, with Salesforce's API field names),
// turned into a scenario: the org with its relays and filters, and one probe email per active
// filter with the path the filters give it as an expectation. Passwords are never imported.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

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
Imported import_salesforce(const std::vector<Record>& relays, const std::vector<Record>& filters, std::string_view source);

}  // namespace relaysim::scenario::import
