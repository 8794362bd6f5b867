#include "scenario/import.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::scenario::import {
namespace {

// --- reading exports

std::vector<Record> read_csv(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);         // a spreadsheet's byte order mark
  std::vector<std::pair<std::size_t, std::vector<std::string>>> rows;  // (first line, fields)
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  bool field_started = false;
  std::size_t line = 1;
  std::size_t row_line = 1;
  const auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  const auto end_row = [&] {
    end_field();
    const bool blank = row.size() == 1 && row.front().empty();
    if (!blank) rows.emplace_back(row_line, std::move(row));
    row.clear();
    row_line = line;
  };
  for (std::size_t at = 0; at < text.size(); ++at) {
    const char c = text[at];
    if (quoted) {
      if (c == '"' && at + 1 < text.size() && text[at + 1] == '"') {
        field += '"';
        ++at;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && at + 1 < text.size() && text[at + 1] == '\n') ++at;
      ++line;
      end_row();
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) throw ImportError("line " + std::to_string(row_line) + ": a quoted field never ends");
  if (field_started || !row.empty()) end_row();
  if (rows.empty()) throw ImportError("no header row: the file is empty");
  const std::vector<std::string>& header = rows.front().second;
  std::vector<Record> records;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& [first_line, fields] = rows[i];
    if (fields.size() != header.size()) {
      throw ImportError("line " + std::to_string(first_line) + ": " + counted(fields.size(), "field") +
                        ", the header has " + std::to_string(header.size()));
    }
    Record record{"line " + std::to_string(first_line), {}};
    for (std::size_t column = 0; column < header.size(); ++column) {
      if (!fields[column].empty()) record.fields[header[column]] = fields[column];
    }
    records.push_back(std::move(record));
  }
  return records;
}

std::vector<Record> read_json(std::string_view text) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    throw ImportError(std::string("not JSON: ") + error.what());
  }
  const nlohmann::json* list = &document;
  std::string path = "";
  if (document.is_object() && document.contains("result") && document["result"].is_object() &&
      document["result"].contains("records")) {
    list = &document["result"]["records"];
    path = "result.";
  } else if (document.is_object() && document.contains("records")) {
    list = &document["records"];
  }
  path += list == &document ? "" : "records";
  if (!list->is_array())
    throw ImportError("no records: expected an array, or an object with \"records\" or \"result\": {\"records\"}");
  std::vector<Record> records;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const nlohmann::json& item = (*list)[i];
    const std::string where = (path.empty() ? "" : path) + "[" + std::to_string(i) + "]";
    if (!item.is_object()) throw ImportError(where + ": expected an object, found " + item.type_name());
    Record record{where, {}};
    for (const auto& [key, value] : item.items()) {
      if (key == "attributes" || value.is_null() || value.is_object() || value.is_array()) continue;
      record.fields[key] = value.is_string() ? value.get<std::string>() : value.dump();
    }
    records.push_back(std::move(record));
  }
  return records;
}

// --- the org

// Fields every Salesforce object has: read past without a word.
const std::set<std::string, std::less<>> system_fields = {
    "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "IsDeleted", "Name"};
// EmailRelay fields relaysim reads, and those it knows but does not model.
const std::set<std::string, std::less<>> relay_fields = {
    "Id", "Host", "Port", "TlsSetting", "IsRequireAuth", "AuthType", "Username", "Password"};
const std::map<std::string, std::string, std::less<>> relay_fields_not_modelled = {
    {"IsHostMxLookupAllowed", "relaysim always looks the host up as MX first, then A"},
    {"PlatformType", "informational"},
    {"RelayHealth", "Salesforce's health check is not modelled"},
    {"Reason", "informational"},
    {"SpfUpdateElement", "informational"}};
const std::set<std::string, std::less<>> filter_fields = {"Id",       "EmailRelayId",   "FromDomain",
                                                          "ToDomain", "PriorityNumber", "IsActive"};

std::optional<std::string> field(const Record& record, std::string_view name) {
  const auto found = record.fields.find(std::string(name));
  if (found == record.fields.end() || found->second.empty()) return std::nullopt;
  return found->second;
}

bool truthy(const std::string& value) { return value == "true" || value == "TRUE" || value == "True" || value == "1"; }

std::optional<long long> integer(const std::string& value) {
  long long number = 0;
  const std::string_view text =
      value.ends_with(".0") ? std::string_view(value).substr(0, value.size() - 2) : std::string_view(value);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return number;
}

void check_columns(const std::vector<Record>& records, const std::set<std::string, std::less<>>& read,
                   std::string_view what, std::vector<std::string>& warnings,
                   const std::map<std::string, std::string, std::less<>>& not_modelled = {}) {
  std::set<std::string> reported;
  for (const Record& record : records) {
    for (const auto& [name, value] : record.fields) {
      if (read.contains(name) || system_fields.contains(name) || !reported.insert(name).second) continue;
      const auto known = not_modelled.find(name);
      warnings.push_back(std::string(what) + ": " + name +
                         (known != not_modelled.end() ? " is not modelled (" + known->second + ")"
                                                      : " is not a field relaysim knows: ignored"));
    }
  }
}

std::vector<std::string> patterns(const std::optional<std::string>& list) {
  std::vector<std::string> out;
  if (list) {
    std::size_t start = 0;
    while (start <= list->size()) {
      std::size_t end = list->find(',', start);
      if (end == std::string::npos) end = list->size();
      std::string item = list->substr(start, end - start);
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) out.push_back(to_lower(item));
      start = end + 1;
    }
  }
  if (out.empty()) out.push_back("*");
  return out;
}

// A domain the pattern matches, for a probe: "*" gives `fallback`, "*.acme.example" "probe.acme.example".
std::string probe_domain(const std::string& pattern, const std::string& fallback) {
  if (pattern == "*") return fallback;
  if (pattern.starts_with("*.")) return "probe" + pattern.substr(1);
  return pattern;
}

struct Filter {
  std::string where;
  std::string relay;
  std::vector<std::string> senders;
  std::vector<std::string> recipients;
  long long priority = 0;
  bool active = true;
};

}  // namespace

std::vector<Record> read_records(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) return read_json(text);
  return read_csv(text);
}

Imported import_salesforce(const std::vector<Record>& relays, const std::vector<Record>& filters,
                           std::string_view source) {
  Imported out;
  std::vector<std::string>& warnings = out.warnings;
  check_columns(relays, relay_fields, "EmailRelay", warnings, relay_fields_not_modelled);
  check_columns(filters, filter_fields, "EmailDomainFilter", warnings);

  // The relays, each named after its host (and port, when two share a host).
  nlohmann::ordered_json relay_list = nlohmann::ordered_json::array();
  std::map<std::string, std::string> name_by_id;
  std::set<std::string> names;
  std::map<std::string, int> hosts;
  for (const Record& record : relays) hosts[to_lower(field(record, "Host").value_or(""))] += 1;
  for (const Record& record : relays) {
    const std::optional<std::string> host = field(record, "Host");
    if (!host) {
      warnings.push_back("EmailRelay " + record.where + ": no Host: left out");
      continue;
    }
    nlohmann::ordered_json relay;
    const long long port = field(record, "Port") ? integer(*field(record, "Port")).value_or(-1) : 25;
    if (port != 25 && port != 587 && port != 10025 && port != 11025) {
      warnings.push_back("EmailRelay " + record.where + ": Port " + field(record, "Port").value_or("") +
                         " is not one Salesforce dials (25, 587, 10025, 11025): left out");
      continue;
    }
    std::string name = hosts[to_lower(*host)] > 1 ? *host + ":" + std::to_string(port) : *host;
    for (int n = 2; names.contains(name); ++n) name = *host + "#" + std::to_string(n);
    names.insert(name);
    if (const auto id = field(record, "Id")) name_by_id[*id] = name;
    if (const auto id = field(record, "Id"); id && id->size() == 18)
      name_by_id[id->substr(0, 15)] = name;  // 15- or 18-character ids
    relay["name"] = name;
    relay["host"] = *host;
    relay["port"] = port;
    std::string tls = field(record, "TlsSetting").value_or("");
    if (tls.empty()) {
      tls = "Preferred";
      relay["//"] = "TlsSetting was not exported: Preferred is assumed";
      warnings.push_back("EmailRelay " + record.where + ": no TlsSetting: Preferred assumed");
    }
    relay["tls"] = tls;
    if (truthy(field(record, "IsRequireAuth").value_or("false"))) {
      relay["auth"] = {{"user", field(record, "Username").value_or("")},
                       {"password", "FILL-IN: the relay password (Salesforce never exports it)"},
                       {"mechanism", field(record, "AuthType").value_or("PLAIN")}};
      warnings.push_back("EmailRelay " + record.where + " (" + name + "): SMTP auth: fill in the password");
    }
    relay_list.push_back(std::move(relay));
  }

  // The filters, with what Salesforce does with a blank priority: evaluated last, in file order.
  std::vector<Filter> list;
  long long highest = 0;
  for (const Record& record : filters) {
    if (const auto number = field(record, "PriorityNumber")) highest = std::max(highest, integer(*number).value_or(0));
  }
  for (const Record& record : filters) {
    Filter filter{record.where,
                  "",
                  patterns(field(record, "FromDomain")),
                  patterns(field(record, "ToDomain")),
                  0,
                  truthy(field(record, "IsActive").value_or("true"))};
    const std::optional<std::string> relay_id = field(record, "EmailRelayId");
    if (relay_id && name_by_id.contains(*relay_id)) {
      filter.relay = name_by_id[*relay_id];
    } else if (relay_list.size() == 1) {
      filter.relay = relay_list[0]["name"];
      warnings.push_back("EmailDomainFilter " + record.where + ": EmailRelayId " + relay_id.value_or("(none)") +
                         " names no exported relay: the only relay, " + filter.relay + ", assumed");
    } else {
      warnings.push_back("EmailDomainFilter " + record.where + ": EmailRelayId " + relay_id.value_or("(none)") +
                         " names no exported relay: left out");
      continue;
    }
    const std::optional<long long> priority =
        field(record, "PriorityNumber") ? integer(*field(record, "PriorityNumber")) : std::nullopt;
    if (!priority)
      warnings.push_back("EmailDomainFilter " + record.where + ": no PriorityNumber: evaluated after the others");
    filter.priority = priority ? *priority : ++highest;
    list.push_back(std::move(filter));
  }
  std::stable_sort(list.begin(), list.end(), [](const Filter& a, const Filter& b) { return a.priority < b.priority; });
  std::set<long long> priorities;
  for (const Filter& filter : list) {
    if (!priorities.insert(filter.priority).second) {
      throw ImportError("EmailDomainFilter " + filter.where + ": PriorityNumber " + std::to_string(filter.priority) +
                        " is used twice (Salesforce keeps it unique)");
    }
  }
  if (relay_list.empty() && list.empty()) throw ImportError("nothing to import: no usable relay and no usable filter");

  const auto joined = [](const std::vector<std::string>& items) {
    std::string text;
    for (const std::string& item : items) text += (text.empty() ? "" : ", ") + item;
    return text;
  };
  nlohmann::ordered_json filter_list = nlohmann::ordered_json::array();
  for (const Filter& filter : list) {
    filter_list.push_back({{"sender", joined(filter.senders)},
                           {"recipient", joined(filter.recipients)},
                           {"relay", filter.relay},
                           {"priority", filter.priority},
                           {"active", filter.active}});
  }

  // A probe per active filter, from a domain its sender patterns match to one its recipient
  // patterns match, expected on the path the first matching active filter gives it.
  nlohmann::ordered_json traffic = nlohmann::ordered_json::array();
  nlohmann::ordered_json expect = nlohmann::ordered_json::array();
  int probe = 0;
  for (const Filter& filter : list) {
    if (!filter.active) continue;
    probe += 1;
    const std::string sender = probe_domain(filter.senders.front(), "sender.example");
    const std::string recipient =
        "probe" + std::to_string(probe) + "@" + probe_domain(filter.recipients.front(), "recipient.example");
    std::string via = "Salesforce";
    for (const Filter& first : list) {
      const std::string domain = recipient.substr(recipient.find('@') + 1);
      if (first.active && checks::filter_patterns_match(first.senders, sender) &&
          checks::filter_patterns_match(first.recipients, domain)) {
        via = first.relay;
        break;
      }
    }
    traffic.push_back({{"at", "+" + std::to_string(probe) + "m"},
                       {"category", "single"},
                       {"from", "probe@" + sender},
                       {"to", {recipient}},
                       {"subject", "probe for the filter of priority " + std::to_string(filter.priority)}});
    expect.push_back({{"name", recipient + " from " + sender + ": via " + via + " (the filter of priority " +
                                   std::to_string(filter.priority) +
                                   (via == filter.relay ? ")" : ", which an earlier filter overrides)")},
                      {"to", recipient},
                      {"via", via}});
  }

  nlohmann::ordered_json& scenario = out.scenario;
  scenario["name"] = "Imported Salesforce email relay setup";
  scenario["description"] = "The org's Email Relay records and Email Domain Filters, imported from " +
                            std::string(source) +
                            ", with one probe email per active filter: each must go the way the filters send it.";
  scenario["//"] =
      "Written by relaysim import salesforce. The relays' hosts are not in this world yet: add them (hosts, dns, a "
      "relay node) "
      "to follow the mail past the hand-over.";
  scenario["seed"] = 1;
  scenario["start"] = "2026-03-02T09:00:00Z";
  scenario["until"] = "+" + std::to_string(probe + 10) + "m";
  scenario["hosts"] = {{"sfdc-mta", {{"addresses", {"13.108.0.10"}}}}};
  // The authority Salesforce trusts for the Verify settings: the relays' certificates are to be
  // issued by it when their hosts are added.
  scenario["tls"] = {{"public-ca", {{"authority", true}}}};
  scenario["nodes"] = {{"salesforce",
                        {{"host", "sfdc-mta"},
                         {"type", "salesforce"},
                         {"tls", {{"trust", {"public-ca"}}}},
                         {"org",
                          {{"name", "Imported org"},
                           {"relays", relay_list},
                           {"filters", filter_list},
                           {"sending_ranges", {"13.108.0.0/14"}}}},
                         {"traffic", traffic}}}};
  scenario["expect"] = expect;
  return out;
}

}  // namespace relaysim::scenario::import
