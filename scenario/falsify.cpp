// The mutants of an expectation: for each thing it claims, the claim the run contradicts if the
// original held. Each mutant changes one claim and keeps the others, so its failure can only come
// from that claim.

#include "scenario/falsify.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include "scenario/references.hpp"

namespace relaysim::scenario {
namespace {

using nlohmann::json;

// The relay nodes a relay record's host leads to: the node on that host, on one of its MX hosts,
// or at that address.
std::set<std::string> nodes_of_record(const salesforce::EmailRelay& record, const LoadedWorld& loaded) {
  std::set<std::string> hosts{io::normalize_dns_name(record.host)};
  if (auto mx = loaded.mx_records.find(io::normalize_dns_name(record.host)); mx != loaded.mx_records.end()) {
    for (const io::MxRecord& exchange : mx->second) hosts.insert(io::normalize_dns_name(exchange.exchange));
  }
  std::set<std::string> nodes;
  for (const auto& [node, host] : loaded.node_hosts) {
    if (!loaded.relay_configs.contains(node)) continue;
    bool at = hosts.contains(io::normalize_dns_name(host));
    if (auto addresses = loaded.host_addresses.find(host); addresses != loaded.host_addresses.end()) {
      for (const io::Address& address : addresses->second) at = at || address.to_string() == record.host;
    }
    if (at) nodes.insert(node);
  }
  return nodes;
}

// The names `via` accepts that name another path than `via`: "Salesforce", the orgs' relay records
// and the relay nodes, less `via` and the names of the same relay (a record and the node it
// leads to).
std::set<std::string> other_vias(const std::string& via, const LoadedWorld& loaded) {
  const std::vector<std::string> all = via_names(loaded);
  std::set<std::string> names(all.begin(), all.end());
  std::set<std::string> same{via};
  for (const auto& [node, org] : loaded.org_setups) {
    for (const salesforce::EmailRelay& record : org.relays) {
      const std::set<std::string> nodes = nodes_of_record(record, loaded);
      if (record.name == via) same.insert(nodes.begin(), nodes.end());
      if (nodes.contains(via)) same.insert(record.name);
    }
  }
  for (const std::string& name : same) names.erase(name);
  return names;
}

class MutantList {
 public:
  MutantList(std::size_t index, const json& item, std::vector<Mutant>& out) : index_(index), item_(item), out_(out) {}

  // The item with `key` set to `value` (and, when given, `removed` taken out).
  void set(const std::string& key, const json& value, const std::string& change, const char* removed = nullptr) {
    json item = item_;
    if (removed) item.erase(removed);
    item.erase("name");  // the mutant's own name says what it claims
    item[key] = value;
    out_.push_back({index_, change, std::move(item)});
  }
  // The item without `key`, claiming `instead` = `value`.
  void replace(const std::string& key, const std::string& instead, const json& value) {
    set(instead, value, "\"" + key + "\" -> \"" + instead + "\": " + value.dump(), key.c_str());
  }
  void flip(const std::string& key) {
    const bool value = item_.at(key).get<bool>();
    set(key, !value, "\"" + key + "\": " + (value ? "true -> false" : "false -> true"));
  }
  void integer(const std::string& key) {
    const std::int64_t value = item_.at(key).get<std::int64_t>();
    set(key, value + 1, "\"" + key + "\": " + std::to_string(value) + " -> " + std::to_string(value + 1));
    if (value > 0)
      set(key, value - 1, "\"" + key + "\": " + std::to_string(value) + " -> " + std::to_string(value - 1));
  }
  // {"min": a, "max": b}: the same width just above it, and just below it when there is room.
  void range(const std::string& key) {
    const std::int64_t least = item_.at(key).at("min").get<std::int64_t>();
    const std::int64_t most = item_.at(key).at("max").get<std::int64_t>();
    const auto described = [](std::int64_t from, std::int64_t to) {
      return std::to_string(from) + ".." + std::to_string(to);
    };
    const std::int64_t width = most - least;
    set(key, json{{"min", most + 1}, {"max", most + 1 + width}},
        "\"" + key + "\": " + described(least, most) + " -> " + described(most + 1, most + 1 + width));
    if (least > 0) {
      const std::int64_t below = std::max<std::int64_t>(0, least - 1 - width);
      set(key, json{{"min", below}, {"max", least - 1}},
          "\"" + key + "\": " + described(least, most) + " -> " + described(below, least - 1));
    }
  }

 private:
  std::size_t index_;
  const json& item_;
  std::vector<Mutant>& out_;
};

std::string other_mailbox(const std::string& address) { return "no-such-recipient." + address; }

void recipient_mutants(const json& item, const LoadedWorld& loaded, MutantList& mutants) {
  mutants.set("to", other_mailbox(item.at("to").get<std::string>()),
              "\"to\": another recipient, whom nothing was sent");
  for (const char* selector : {"subject", "subject_is", "email", "send", "message_id"}) {
    if (!item.contains(selector)) continue;
    mutants.set("subject_is", "no message has this subject",
                std::string("selector \"") + selector + "\" -> a subject no message has", selector);
    break;
  }
  if (item.contains("delivered")) mutants.flip("delivered");
  if (item.contains("bounced")) {
    mutants.replace("bounced", "delivered", true);
    const json& bounced = item.at("bounced");
    if (bounced.is_string() && !bounced.get<std::string>().empty()) {
      std::string other = bounced.get<std::string>();
      other[0] = other[0] == '5' ? '4' : '5';
      mutants.set("bounced", other, "\"bounced\": \"" + bounced.get<std::string>() + "\" -> \"" + other + "\"");
    }
  }
  if (item.contains("deferred_at"))
    mutants.set("deferred_at", format_iso8601(loaded.start), "\"deferred_at\" -> the start of the run");
  if (item.value("never_attempted", false)) mutants.replace("never_attempted", "delivered", true);
  if (item.value("refused", false)) mutants.replace("refused", "delivered", true);
  if (item.contains("via")) {
    const std::string via = item.at("via").get<std::string>();
    for (const std::string& name : other_vias(via, loaded)) {
      mutants.set("via", name, "\"via\": \"" + via + "\" -> \"" + name + "\"");
    }
  }
  if (item.contains("attempts")) {
    if (item.at("attempts").is_object()) {
      mutants.range("attempts");
    } else {
      mutants.integer("attempts");
    }
  }
  if (item.contains("within")) mutants.set("within", "0s", "\"within\" -> \"0s\"");
  for (const char* flag : {"tls", "tls_verified", "delivery_tls", "dsn_received", "contact_marked_bounced"}) {
    if (item.contains(flag)) mutants.flip(flag);
  }
  if (item.contains("email_log")) {
    const std::string event = item.at("email_log").get<std::string>();
    const std::string other = event == "Refused" ? "Accepted" : "Refused";
    mutants.set("email_log", other, "\"email_log\": \"" + event + "\" -> \"" + other + "\"");
  }
}

void mailbox_mutants(const json& item, MutantList& mutants) {
  if (item.contains("count")) {
    mutants.integer("count");
  } else {
    mutants.set("count", 0, "\"count\" -> 0 (an empty mailbox)");
    mutants.set("mailbox", other_mailbox(item.at("mailbox").get<std::string>()),
                "\"mailbox\": another mailbox, which got nothing");
  }
  if (item.contains("headers")) {
    for (const auto& [name, value] : item.at("headers").items()) {
      json headers = item.at("headers");
      headers[name] = value.get<std::string>() + " (not sent)";
      mutants.set("headers", headers, "header \"" + name + "\" -> a value no message has");
    }
  }
  if (item.contains("contains"))
    mutants.set("contains", item.at("contains").get<std::string>() + " (not sent)",
                "\"contains\" -> text no message has");
  if (item.contains("folder")) {
    const std::string folder = item.at("folder").get<std::string>();
    mutants.set("folder", folder == "inbox" ? "spam" : "inbox", "\"folder\": \"" + folder + "\" -> the other folder");
  }
}

void log_mutants(const json& item, MutantList& mutants) {
  mutants.set("absent", !item.value("absent", false),
              item.value("absent", false) ? "\"absent\": true -> false" : "\"absent\" -> true");
  if (!item.value("absent", false))
    mutants.set("log", item.at("log").get<std::string>() + " (never logged)", "\"log\" -> text never logged");
}

void stats_mutants(const json& item, MutantList& mutants) {
  for (const auto& [name, value] : item.at("stats").items()) {
    const std::uint64_t count = value.get<std::uint64_t>();
    std::vector<std::uint64_t> others{count + 1};
    if (count > 0) others.push_back(count - 1);
    for (const std::uint64_t other : others) {
      json stats = item.at("stats");
      stats[name] = other;
      mutants.set("stats", stats, "stat \"" + name + "\": " + std::to_string(count) + " -> " + std::to_string(other));
    }
  }
}

// Each count one more and one less; a report expectation with no count gets "reports": 0.
void tls_report_mutants(const json& item, MutantList& mutants) {
  bool counts = false;
  for (const char* key : {"reports", "successful", "failed"}) {
    if (!item.contains(key)) continue;
    counts = true;
    const std::uint64_t count = item.at(key).get<std::uint64_t>();
    mutants.set(key, count + 1,
                "\"" + std::string(key) + "\": " + std::to_string(count) + " -> " + std::to_string(count + 1));
    if (count > 0)
      mutants.set(key, count - 1,
                  "\"" + std::string(key) + "\": " + std::to_string(count) + " -> " + std::to_string(count - 1));
  }
  if (item.contains("result_types")) {
    for (const auto& [name, value] : item.at("result_types").items()) {
      json results = item.at("result_types");
      results[name] = value.get<std::uint64_t>() + 1;
      mutants.set("result_types", results, "result type \"" + name + "\" one more");
    }
  }
  if (!counts) mutants.set("reports", 0, "\"reports\" -> 0");
}

}  // namespace

std::vector<Mutant> mutants_of(const json& document, const LoadedWorld& loaded) {
  std::vector<Mutant> out;
  if (!document.contains("expect")) return out;
  const json& list = document.at("expect");
  for (std::size_t index = 0; index < list.size(); ++index) {
    const json& item = list.at(index);
    MutantList mutants(index, item, out);
    if (item.contains("to")) {
      recipient_mutants(item, loaded, mutants);
    } else if (item.contains("mailbox")) {
      mailbox_mutants(item, mutants);
    } else if (item.contains("log")) {
      log_mutants(item, mutants);
    } else if (item.contains("stats")) {
      stats_mutants(item, mutants);
    } else if (item.contains("tls_report")) {
      tls_report_mutants(item, mutants);
    }
  }
  return out;
}

std::vector<MutantVerdict> check_mutants(const std::vector<Mutant>& mutants, const LoadedWorld& loaded,
                                         const RunObserver& observer, const RunStats& stats) {
  std::vector<MutantVerdict> out;
  for (const Mutant& mutant : mutants) {
    MutantVerdict result{mutant, {}, true};
    const json list = json::array({mutant.item});
    const std::string path = "$.expect[" + std::to_string(mutant.index) + "]";
    try {
      std::vector<Expectation> read = read_expectations(JsonValue(list, "$.expect"), loaded.start);
      read.front().path = path;
      result.verdict = check_expectation(read.front(), loaded, observer, stats);
    } catch (const InputError& error) {
      result.readable = false;
      result.verdict = {path, false, error.what()};
    }
    out.push_back(std::move(result));
  }
  return out;
}

json with_mutant(const json& document, const Mutant& mutant) {
  json changed = document;
  changed["expect"][mutant.index] = mutant.item;
  return changed;
}

}  // namespace relaysim::scenario
