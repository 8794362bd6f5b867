// Reading the scenario's "expect" list: path-precise errors for anything a check could not use.

#include <algorithm>

#include <nlohmann/json.hpp>

#include "io/text.hpp"
#include "relay/tls_report.hpp"
#include "scenario/check_support.hpp"
#include "scenario/expectation.hpp"
#include "scenario/verdicts.hpp"

namespace relaysim::scenario {

using checks::offset;

std::string MessageSelector::describe() const {
  std::vector<std::string> parts;
  if (subject) parts.push_back("subject \"" + *subject + "\"");
  if (subject_is) parts.push_back("subject exactly \"" + *subject_is + "\"");
  if (email) parts.push_back("email " + *email);
  if (send) parts.push_back("send " + *send);
  if (message_id) parts.push_back("Message-ID " + *message_id);
  return checks::joined(parts);
}

namespace {

// "5", "4.7", "5.1.1": a status class, or a status code or its prefix (RFC 3463: class.subject.detail).
bool is_status_prefix(std::string_view status) {
  if (status.empty() || (status[0] != '4' && status[0] != '5')) return false;
  std::size_t parts = 1;
  for (std::size_t i = 1; i < status.size();) {
    if (status[i] != '.' || parts == 3) return false;
    std::size_t digits = 0;
    for (++i; i < status.size() && status[i] >= '0' && status[i] <= '9'; ++i) ++digits;
    if (digits == 0 || digits > 3) return false;
    ++parts;
  }
  return true;
}

// `attempts`: a count, or `{ "min": N, "max": M }` with N <= M - what an import writes where the
// relay's retry timing may differ from the one it was imported from by an attempt.
Expectation::AttemptCount read_attempts(const JsonValue& value) {
  if (!value.is_object()) {
    const auto exactly = static_cast<int>(value.integer(0, 1000));
    return {exactly, exactly};
  }
  value.allow_keys({"min", "max"});
  const auto least = static_cast<int>(value.at("min").integer(0, 1000));
  const JsonValue most_value = value.at("max");
  const auto most = static_cast<int>(most_value.integer(0, 1000));
  if (most < least) most_value.fail("a number no smaller than \"min\" (" + std::to_string(least) + ")");
  return {least, most};
}

Expectation read_expectation(const JsonValue& item, Instant origin) {
  Expectation expect;
  expect.path = item.path();
  if (item.has("to")) {
    item.allow_keys({"to",
                     "subject",
                     "subject_is",
                     "email",
                     "send",
                     "message_id",
                     "delivered",
                     "bounced",
                     "deferred_at",
                     "never_attempted",
                     "refused",
                     "via",
                     "attempts",
                     "within",
                     "tls",
                     "tls_verified",
                     "delivery_tls",
                     "dsn_received",
                     "contact_marked_bounced",
                     "email_log",
                     "name"});
    expect.kind = Expectation::Kind::recipient;
    expect.to = read_mailbox(item.at("to")).to_string();
    std::string what;
    const auto note = [&](const std::string& text) { what += (what.empty() ? "" : ", ") + text; };
    MessageSelector& select = expect.select;
    if (auto value = item.find("subject")) select.subject = value->string();
    if (auto value = item.find("subject_is")) select.subject_is = value->string();
    if (auto value = item.find("email")) select.email = value->string();
    if (auto value = item.find("send")) select.send = value->string();
    if (auto value = item.find("message_id")) select.message_id = value->string();
    if (auto value = item.find("delivered")) {
      expect.delivered = value->boolean();
      note(*expect.delivered ? "delivered" : "not delivered");
    }
    if (auto value = item.find("bounced")) {
      if (value->raw().is_boolean()) {
        if (!value->boolean())
          value->fail("true, or a status such as \"5.1.1\" (for \"not bounced\", use \"delivered\")");
        expect.bounced = "";
      } else {
        expect.bounced = value->string();
        const std::string& status = *expect.bounced;
        if (!is_status_prefix(status))
          value->fail("a status class or code such as \"5\" or \"5.1.1\", and nothing else");
      }
      note("bounced" + (expect.bounced->empty() ? std::string() : " " + *expect.bounced));
    }
    if (auto value = item.find("deferred_at")) {
      expect.deferred_at = value->instant(origin);
      note("deferred at " + offset(*expect.deferred_at, origin));
    }
    if (auto value = item.find("never_attempted")) {
      expect.never_attempted = value->boolean();
      if (expect.never_attempted) note("never attempted");
    }
    if (auto value = item.find("refused")) {
      expect.refused = value->boolean();
      if (expect.refused) note("refused at the source");
    }
    if (auto value = item.find("via")) {
      expect.via = value->string();
      note("via " + *expect.via);
    }
    if (auto value = item.find("attempts")) {
      expect.attempts = read_attempts(*value);
      const auto [least, most] = *expect.attempts;
      note(least == most ? counted(least, "attempt")
                         : std::to_string(least) + " to " + std::to_string(most) + " attempts");
    }
    if (auto value = item.find("within")) {
      expect.within = value->duration();
      note("within " + format_duration(*expect.within));
    }
    if (auto value = item.find("tls")) {
      expect.tls = value->boolean();
      note(*expect.tls ? "over TLS" : "without TLS");
    }
    if (auto value = item.find("tls_verified")) {
      expect.tls_verified = value->boolean();
      note(*expect.tls_verified ? "certificate verified" : "certificate not verified");
    }
    if (auto value = item.find("delivery_tls")) {
      expect.delivery_tls = value->boolean();
      note(*expect.delivery_tls ? "delivered over TLS" : "delivered in plaintext");
    }
    if (auto value = item.find("dsn_received")) {
      expect.dsn_received = value->boolean();
      note(*expect.dsn_received ? "DSN received" : "no DSN");
    }
    if (auto value = item.find("contact_marked_bounced")) {
      expect.contact_marked_bounced = value->boolean();
      note(*expect.contact_marked_bounced ? "contact marked bounced" : "contact not marked");
    }
    if (auto value = item.find("email_log")) {
      expect.email_log = static_cast<salesforce::EmailLogEvent>(
          value->choice({"Accepted", "Refused", "Delivered", "Transient failure", "Permanent failure", "Given up",
                         "Bounced", "Notice received"}));
      note("email log: " + std::string(to_string(*expect.email_log)));
    }
    if (what.empty()) item.fail("at least one thing to expect of the recipient, such as \"delivered\" or \"bounced\"");
    expect.name = expect.to + (select.any() ? " (" + select.describe() + ")" : "") + ": " + what;
  } else if (item.has("mailbox")) {
    item.allow_keys({"mailbox", "count", "headers", "contains", "folder", "name"});
    expect.kind = Expectation::Kind::mailbox;
    expect.mailbox = read_mailbox(item.at("mailbox")).to_string();
    if (auto count = item.find("count")) expect.count = static_cast<std::size_t>(count->integer(0, 1'000'000));
    if (auto headers = item.find("headers")) {
      for (const auto& [name, value] : headers->members()) expect.headers.emplace_back(name, value.string());
    }
    if (auto contains = item.find("contains")) expect.contains = contains->string();
    if (auto folder = item.find("folder")) expect.folder = folder->choice({"inbox", "spam"}) == 0 ? "inbox" : "spam";
    expect.name = "mailbox " + expect.mailbox +
                  (expect.count ? " holds " + std::to_string(*expect.count) : std::string(" holds a message")) +
                  (expect.headers.empty() && expect.contains.empty() ? "" : " with the given content") +
                  (expect.folder.empty() ? "" : " in " + expect.folder);
  } else if (item.has("log")) {
    item.allow_keys({"log", "node", "absent", "name"});
    expect.kind = Expectation::Kind::log;
    expect.log = item.at("log").string();
    if (expect.log.empty()) item.at("log").fail("some text to look for");
    if (auto node = item.find("node")) expect.node = node->string();
    if (auto absent = item.find("absent")) expect.absent = absent->boolean();
    expect.name = std::string(expect.absent ? "no " : "a ") + "log line" +
                  (expect.node.empty() ? "" : " of " + expect.node) + " containing \"" + expect.log + "\"";
  } else if (item.has("stats")) {
    item.allow_keys({"stats", "name"});
    expect.kind = Expectation::Kind::stats;
    std::string what;
    for (const auto& [name, value] : item.at("stats").members()) {
      const bool known = std::any_of(std::begin(run_stat_names), std::end(run_stat_names),
                                     [&](const NamedStat& stat) { return name == stat.name; });
      if (!known)
        value.fail(
            "a value under one of submitted, accepted, delivered, bounced, given_up, deferred, duplicates, refused");
      expect.stats[name] = value.unsigned_integer();
      what += (what.empty() ? "" : ", ") + name + " " + std::to_string(expect.stats[name]);
    }
    expect.name = "stats: " + what;
  } else if (item.has("tls_report")) {
    item.allow_keys({"tls_report", "via", "policy_type", "reports", "successful", "failed", "result_types", "name"});
    expect.kind = Expectation::Kind::tls_report;
    expect.report_domain = to_lower(item.at("tls_report").string());
    if (expect.report_domain.empty()) item.at("tls_report").fail("the policy domain the reports are about");
    std::string what;
    if (auto via = item.find("via")) {
      expect.report_via = via->choice({"https", "mailto"}) == 0 ? "https" : "mailto";
      what += " by " + expect.report_via;
    }
    if (auto type = item.find("policy_type")) {
      expect.report_policy_type =
          std::array{"sts", "tlsa", "no-policy-found"}[type->choice({"sts", "tlsa", "no-policy-found"})];
      what += ", " + expect.report_policy_type + " policies";
    }
    const auto count = [&](std::string_view key, std::optional<std::uint64_t>& field) {
      if (auto value = item.find(key)) {
        field = value->unsigned_integer();
        what += ", " + std::string(key) + " " + std::to_string(*field);
      }
    };
    count("reports", expect.reports);
    count("successful", expect.successful_sessions);
    count("failed", expect.failed_sessions);
    if (auto results = item.find("result_types")) {
      for (const auto& [name, value] : results->members()) {
        if (!relay::tlsrpt::result_type_named(name))
          value.fail("a count under an RFC 8460 result-type: \"starttls-not-supported\", \"certificate-expired\", ...");
        expect.result_types[name] = value.unsigned_integer();
        what += ", " + name + " " + std::to_string(expect.result_types[name]);
      }
    }
    expect.name = "TLS reports about " + expect.report_domain + what;
  } else {
    item.fail("an expectation with \"to\", \"mailbox\", \"log\", \"stats\" or \"tls_report\"");
  }
  if (auto name = item.find("name")) expect.name = name->string();
  return expect;
}

}  // namespace

std::vector<Expectation> read_expectations(const JsonValue& list, Instant origin, Mistakes* mistakes) {
  std::vector<Expectation> out;
  for (const JsonValue& item : list.items()) {
    if (mistakes == nullptr) {
      out.push_back(read_expectation(item, origin));
    } else {
      mistakes->collect([&] { out.push_back(read_expectation(item, origin)); });
    }
  }
  return out;
}

}  // namespace relaysim::scenario
