#include "scenario/check_support.hpp"

#include <algorithm>

#include "io/text.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::scenario::checks {

std::string lower(std::string_view text) { return to_lower(text); }

std::string domain_of(std::string_view address) {
  const std::size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : lower(address.substr(at + 1));
}

StoredMessages stored_messages(const RunObserver& observer) {
  StoredMessages messages;
  for (const RunObserver::StoredAtRelay& stored : observer.stored)
    messages.emplace(std::pair(stored.node, stored.id), &stored);
  return messages;
}

Instant end_of_life(const relay::RelayConfig& config, const RunObserver::StoredAtRelay& message) {
  return message.at + (message.from.empty() ? config.bounce_queue_lifetime : config.maximal_queue_lifetime);
}

std::string offset(Instant when, Instant start) { return "+" + format_duration(when - start); }

std::string describe(const RunObserver::RelayOutcome& outcome, Instant start) {
  return outcome.node + " " + outcome.id + " " + std::string(relay::to_string(outcome.state)) + " " + outcome.status +
         " at " + offset(outcome.at, start);
}

bool crashed_between(const RunObserver& observer, const std::string& node, Instant from, Instant until) {
  const auto found = observer.crashes.find(node);
  if (found == observer.crashes.end()) return false;
  return std::any_of(found->second.begin(), found->second.end(), [&](Instant at) { return at >= from && at <= until; });
}

std::string joined(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) out.append(out.empty() ? "" : separator).append(item);
  return out;
}

bool filter_patterns_match(const std::vector<std::string>& patterns, const std::string& domain) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& text) {
    const std::string pattern = lower(text);
    if (pattern == "*") return true;
    if (pattern.starts_with("*.")) {
      const std::string suffix = pattern.substr(1);  // ".example.com"
      return domain.size() > suffix.size() && domain.ends_with(suffix);
    }
    return domain == pattern;
  });
}

void keep_earliest(std::optional<Instant>& earliest, std::optional<Instant> at) {
  if (at && (!earliest || *at < *earliest)) earliest = at;
}

void Violations::add(std::string text, std::optional<Instant> at) {
  count_ += 1;
  keep_earliest(earliest_, at);
  if (shown_.size() < shown_max) shown_.push_back(std::move(text));
}

Verdict Violations::verdict(std::string name, std::string held) const {
  if (count_ == 0) return {std::move(name), true, std::move(held)};
  std::string message =
      std::to_string(count_) + (count_ == 1 ? " violation: " : " violations: ") + joined(shown_, "; ");
  if (count_ > shown_.size()) message += "; ...";
  return {std::move(name), false, message, earliest_};
}

}  // namespace relaysim::scenario::checks
