// Expectations held to the world at load time (scenario/references.hpp).

#include "scenario/references.hpp"

#include <algorithm>
#include <set>

#include "scenario/check_support.hpp"

namespace relaysim::scenario {
namespace {

using checks::joined;
using checks::lower;

// At most `limit` of `names`, for a message: "corp, relay, Salesforce" or "a, b, c, ... (40 in all)".
std::string some_of(const std::vector<std::string>& names, std::size_t limit = 6) {
  if (names.size() <= limit) return joined(names);
  std::vector<std::string> first(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(limit));
  return joined(first) + ", ... (" + std::to_string(names.size()) + " in all)";
}

// The planned messages to `to`.
std::vector<const PlannedMessage*> planned_to(const std::string& to, const LoadedWorld& loaded) {
  std::vector<const PlannedMessage*> out;
  const std::string wanted = lower(to);
  for (const PlannedMessage& message : loaded.planned) {
    if (std::any_of(message.to.begin(), message.to.end(),
                    [&](const std::string& address) { return lower(address) == wanted; })) {
      out.push_back(&message);
    }
  }
  return out;
}

class Checker {
 public:
  Checker(LoadedWorld& loaded, Mistakes& mistakes) : loaded_(loaded), mistakes_(mistakes) {}

  void recipient(const Expectation& expect, const JsonValue& item) {
    const std::vector<const PlannedMessage*> messages = planned_to(expect.to, loaded_);
    if (messages.empty()) {
      warn(item.at("to"), "no send or sender of this world addresses " + expect.to + "; only a notice could reach it");
    } else {
      selectors(expect.select, messages, item);
    }
    if (expect.via) {
      const std::vector<std::string> names = via_names(loaded_);
      if (std::find(names.begin(), names.end(), *expect.via) == names.end()) {
        mistake(item.at("via"),
                "a relay record's name, a relay node's name or \"Salesforce\" (this world has " + joined(names) + ")",
                "\"" + *expect.via + "\"");
      }
    }
    if (expect.deferred_at && (*expect.deferred_at <= loaded_.start || *expect.deferred_at > loaded_.until)) {
      mistake(item.at("deferred_at"), "an instant within the run (after \"start\", not after \"until\")",
              "\"" + item.at("deferred_at").string() + "\"");
    }
  }

  void log(const Expectation& expect, const JsonValue& item) {
    if (expect.node.empty() || loaded_.node_hosts.contains(expect.node)) return;
    std::vector<std::string> nodes;
    for (const auto& [name, host] : loaded_.node_hosts) nodes.push_back(name);
    mistake(item.at("node"), "the name of a node of this world (" + some_of(nodes) + ")", "\"" + expect.node + "\"");
  }

  // Sends, SMTP sender messages and faults that start after the run ends.
  void instants(const JsonValue& root) {
    for (const auto& [name, node] : root.at("nodes").members()) {
      for (const char* list : {"traffic", "messages"}) {
        if (auto items = node.find(list)) {
          for (const JsonValue& item : items->items()) {
            if (auto at = item.find("at"); at && at->instant(loaded_.start) > loaded_.until)
              warn(*at, "this send starts after the run ends (\"until\")");
          }
        }
      }
    }
    if (auto faults = root.find("faults")) {
      for (const JsonValue& fault : faults->items()) {
        if (auto from = fault.find("from"); from && from->instant(loaded_.start) >= loaded_.until)
          warn(*from, "this fault starts after the run ends (\"until\")");
      }
    }
  }

 private:
  // Each selector alone must pick a planned message to the recipient.
  void selectors(const MessageSelector& select, const std::vector<const PlannedMessage*>& messages,
                 const JsonValue& item) {
    const bool subjects_known =
        std::all_of(messages.begin(), messages.end(), [](const PlannedMessage* m) { return m->subject.has_value(); });
    std::vector<std::string> subjects;
    std::vector<std::string> sends;
    for (const PlannedMessage* message : messages) {
      if (message->subject && std::find(subjects.begin(), subjects.end(), *message->subject) == subjects.end())
        subjects.push_back(*message->subject);
      if (!message->send.empty()) sends.push_back(message->send);
    }
    const auto any = [&](const auto& matches) { return std::any_of(messages.begin(), messages.end(), matches); };
    if (select.send && !any([&](const PlannedMessage* m) { return m->send == *select.send; })) {
      mistake(item.at("send"),
              sends.empty() ? "no \"send\": no send to this recipient has a \"name\""
                            : "the name of a send to this recipient (" + some_of(sends) + ")",
              "\"" + *select.send + "\"");
    }
    if (!subjects_known) return;
    if (select.subject && !any([&](const PlannedMessage* m) { return m->subject->starts_with(*select.subject); })) {
      mistake(item.at("subject"), "the start of the subject of a send to this recipient (" + some_of(subjects) + ")",
              "\"" + *select.subject + "\"");
    }
    if (select.subject_is && !any([&](const PlannedMessage* m) { return *m->subject == *select.subject_is; })) {
      mistake(item.at("subject_is"), "the subject of a send to this recipient (" + some_of(subjects) + ")",
              "\"" + *select.subject_is + "\"");
    }
  }

  void mistake(const JsonValue& at, const std::string& expected, const std::string& found) {
    mistakes_.add(InputError(at.path(), expected, found));
  }
  void warn(const JsonValue& at, const std::string& message) { loaded_.warnings.push_back({at.path(), message}); }

  LoadedWorld& loaded_;
  Mistakes& mistakes_;
};

}  // namespace

std::vector<std::string> via_names(const LoadedWorld& loaded) {
  std::set<std::string> names{"Salesforce"};
  for (const auto& [node, org] : loaded.org_setups) {
    for (const salesforce::EmailRelay& relay : org.relays) names.insert(relay.name);
  }
  for (const auto& [node, config] : loaded.relay_configs) names.insert(node);
  return {names.begin(), names.end()};
}

void check_references(const JsonValue& root, LoadedWorld& loaded, Mistakes& mistakes) {
  Checker checker(loaded, mistakes);
  checker.instants(root);
  const auto list = root.find("expect");
  if (!list) return;
  const std::vector<JsonValue> items = list->items();
  for (const Expectation& expect : loaded.expectations) {
    const auto item =
        std::find_if(items.begin(), items.end(), [&](const JsonValue& value) { return value.path() == expect.path; });
    if (item == items.end()) continue;
    if (expect.kind == Expectation::Kind::recipient) checker.recipient(expect, *item);
    if (expect.kind == Expectation::Kind::log) checker.log(expect, *item);
  }
}

}  // namespace relaysim::scenario
