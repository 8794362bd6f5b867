#include "scenario/fake_mx_config.hpp"

#include <array>

#include <nlohmann/json.hpp>

#include "io/text.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::scenario {
namespace {

bool is_enhanced_code(std::string_view text) {
  // class.subject.detail: "4.7.1", "5.1.10", "4.7.500"
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') return false;
  const std::size_t second = text.find('.', 2);
  if (second == std::string_view::npos || second == 2 || second > 5) return false;
  const std::string_view subject = text.substr(2, second - 2), detail = text.substr(second + 1);
  const auto digits = [](std::string_view part) {
    return !part.empty() && part.size() <= 3 && part.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return digits(subject) && digits(detail);
}

std::string domain_pattern(const JsonValue& value) {
  const std::string pattern = value.string();
  const std::string_view rest = std::string_view(pattern).substr(pattern.starts_with("*.") ? 2 : 0);
  const bool valid = pattern == "*" || (!rest.empty() && rest.find('*') == std::string_view::npos &&
                                        rest.find_first_of(" @,") == std::string_view::npos);
  if (!valid) value.fail("a domain pattern: \"*\", \"example.com\" or \"*.example.com\"");
  return to_lower(pattern);
}

std::string address(const JsonValue& value, bool allow_null) {
  const std::string text = value.string();
  if (allow_null && text == "<>") return text;
  const std::size_t at = text.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == text.size() || text.find_first_of(" <>") != std::string::npos) {
    value.fail(allow_null ? "an address such as \"ann@example.com\", or \"<>\""
                          : "an address such as \"ann@example.com\"");
  }
  return to_lower(text);
}

fake_mx::Match read_match(const JsonValue& value, Instant origin) {
  value.allow_keys(
      {"recipient", "recipient_domain", "sender", "client", "tls", "message_from", "message_to", "from", "until"});
  fake_mx::Match match;
  if (auto item = value.find("recipient")) match.recipient = address(*item, false);
  if (auto item = value.find("recipient_domain")) match.recipient_domain = domain_pattern(*item);
  if (auto item = value.find("sender")) match.sender = address(*item, true);
  if (auto item = value.find("client")) match.client = item->cidr();
  if (auto item = value.find("tls")) match.tls = item->boolean();
  if (auto item = value.find("message_from"))
    match.message_from = static_cast<std::uint64_t>(item->integer(1, INT64_MAX));
  if (auto item = value.find("message_to")) {
    match.message_to = static_cast<std::uint64_t>(item->integer(1, INT64_MAX));
    if (match.message_from > match.message_to) item->fail("a number at least message_from");
  }
  if (auto item = value.find("from")) match.from = item->instant(origin);
  if (auto item = value.find("until")) {
    match.until = item->instant(origin);
    if (match.from && *match.until <= *match.from) item->fail("an instant after `from`");
  }
  return match;
}

fake_mx::Rule read_rule(const JsonValue& value, Instant origin) {
  value.allow_keys(
      {"name", "stage", "match", "reply", "drop", "delay", "bounce_later", "times", "every", "probability"});
  fake_mx::Rule rule;
  if (auto item = value.find("name")) rule.name = item->string();
  rule.stage = static_cast<fake_mx::Stage>(
      value.at("stage").choice({"connect", "ehlo", "starttls", "mail", "rcpt", "data", "end_of_data"}));
  if (auto item = value.find("match")) rule.match = read_match(*item, origin);
  const int actions = (value.has("reply") ? 1 : 0) + (value.has("drop") ? 1 : 0) + (value.has("delay") ? 1 : 0) +
                      (value.has("bounce_later") ? 1 : 0);
  if (actions != 1) value.fail("exactly one action: \"reply\", \"drop\": true, \"delay\" or \"bounce_later\"");
  if (auto item = value.find("bounce_later")) {
    if (rule.stage != fake_mx::Stage::end_of_data) item->fail("a stage of end_of_data for a late bounce");
    item->allow_keys({"after", "status", "diagnostic", "format"});
    rule.action = fake_mx::Action::bounce_later;
    if (auto field = item->find("after")) {
      rule.bounce.after = field->duration();
      if (rule.bounce.after.count() < 0 || rule.bounce.after > std::chrono::hours(24 * 30))
        field->fail("a duration up to 30d");
    }
    if (auto field = item->find("status")) {
      rule.bounce.status = field->string();
      if (!is_enhanced_code(rule.bounce.status) || rule.bounce.status[0] == '2')
        field->fail("a 4.x.x or 5.x.x status code");
    }
    if (auto field = item->find("diagnostic")) rule.bounce.diagnostic = read_reply(*field).text();
    if (auto field = item->find("format")) rule.bounce.rfc3464 = field->choice({"rfc3464", "plain"}) == 0;
  }
  if (auto item = value.find("reply")) {
    rule.action = fake_mx::Action::reply;
    rule.reply = read_reply(*item);
  }
  if (auto item = value.find("drop")) {
    // true: after the message is stored (the reply is lost); at end of data "before_storing" loses it too.
    if (item->is_string()) {
      rule.drop_before_storing = item->choice({"after_storing", "before_storing"}) == 1;
    } else if (!item->boolean()) {
      item->fail("true, \"after_storing\" or \"before_storing\" (leave the key out for no drop)");
    }
    rule.action = fake_mx::Action::drop;
  }
  if (auto item = value.find("delay")) {
    rule.action = fake_mx::Action::delay;
    rule.delay = item->duration();
    if (rule.delay.count() <= 0 || rule.delay > std::chrono::hours(1))
      item->fail("a duration longer than zero and at most 1h");
  }
  if (auto item = value.find("times")) rule.times = static_cast<int>(item->integer(1, 1'000'000'000));
  if (auto item = value.find("every")) rule.every = static_cast<int>(item->integer(1, 1'000'000'000));
  if (auto item = value.find("probability")) {
    if (!item->raw().is_number() || item->raw().get<double>() < 0.0 || item->raw().get<double>() > 1.0) {
      item->fail("a probability from 0 to 1");
    }
    rule.probability_per_mille = static_cast<int>(item->raw().get<double>() * 1000.0 + 0.5);
  }
  return rule;
}

}  // namespace

smtp::Reply read_reply(const JsonValue& value) {
  const std::string text = value.string();
  const auto bad = [&value] {
    value.fail("a reply such as \"450 4.7.1 Greylisted\" (code 200 to 599, then an optional enhanced code)");
  };
  if (text.size() < 3 || text.find_first_not_of("0123456789") < 3) bad();
  const int code = std::stoi(text.substr(0, 3));
  if (code < 200 || code > 599 || (text.size() > 3 && text[3] != ' ')) bad();
  std::string_view rest = text.size() > 4 ? std::string_view(text).substr(4) : std::string_view();
  std::string enhanced;
  const std::size_t space = rest.find(' ');
  const std::string_view first_word = rest.substr(0, space);
  if (is_enhanced_code(first_word)) {
    if (first_word[0] - '0' != code / 100) value.fail("an enhanced code of the same class as the reply code");
    enhanced = std::string(first_word);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  }
  if (rest.find('\r') != std::string_view::npos) bad();
  return smtp::Reply::make(code, enhanced, rest);
}

fake_mx::Behaviour read_fake_mx_behaviour(const JsonValue& value, Instant origin) {
  value.allow_keys({"preset", "hostname", "port", "starttls", "smtputf8", "bare_line_endings", "greylisting",
                    "mailboxes", "limits", "authentication", "rules"});
  fake_mx::Behaviour behaviour;
  if (auto item = value.find("preset")) {
    const std::size_t index = item->choice({"gmail", "outlook", "postgrey"});
    behaviour = *fake_mx::preset(std::array<const char*, 3>{"gmail", "outlook", "postgrey"}[index]);
  }
  if (auto item = value.find("hostname")) behaviour.hostname = item->string();
  if (auto item = value.find("port")) behaviour.port = item->port();
  if (auto item = value.find("starttls")) behaviour.starttls = item->boolean();
  if (auto item = value.find("smtputf8")) behaviour.smtputf8 = item->boolean();
  if (auto item = value.find("bare_line_endings")) {
    behaviour.bare_line_endings =
        item->choice({"reject", "normalize"}) == 0 ? smtp::BareLineEndings::reject : smtp::BareLineEndings::normalize;
  }
  if (auto item = value.find("greylisting")) {
    fake_mx::Greylisting& greylisting = behaviour.greylisting;
    if (item->raw().is_boolean()) {
      greylisting.enabled = item->boolean();
    } else {
      item->allow_keys({"delay", "retry_window", "max_age", "auto_whitelist_clients", "reply"});
      greylisting.enabled = true;
      if (auto field = item->find("delay")) greylisting.delay = field->duration();
      if (auto field = item->find("retry_window")) greylisting.retry_window = field->duration();
      if (auto field = item->find("max_age")) greylisting.max_age = field->duration();
      if (auto field = item->find("auto_whitelist_clients"))
        greylisting.auto_whitelist_clients = static_cast<int>(field->integer(0, 1000));
      if (auto field = item->find("reply")) {
        greylisting.reply = read_reply(*field);
        if (greylisting.reply.positive()) field->fail("a 4xx or 5xx reply");
      }
      if (greylisting.delay > greylisting.retry_window)
        item->at(item->has("delay") ? "delay" : "retry_window").fail("delay at most retry_window");
    }
  }
  if (auto item = value.find("mailboxes")) {
    item->allow_keys({"users", "unknown_user", "quota_messages", "over_quota", "name_recipient"});
    fake_mx::Mailboxes& mailboxes = behaviour.mailboxes;
    if (auto field = item->find("users")) {
      for (const JsonValue& user : field->items()) mailboxes.users.push_back(address(user, false));
    }
    if (auto field = item->find("unknown_user")) mailboxes.unknown_user = read_reply(*field);
    if (auto field = item->find("quota_messages"))
      mailboxes.quota_messages = static_cast<std::uint64_t>(field->integer(0, INT64_MAX));
    if (auto field = item->find("over_quota")) mailboxes.over_quota = read_reply(*field);
    if (auto field = item->find("name_recipient")) mailboxes.name_recipient = field->boolean();
  }
  if (auto item = value.find("limits")) {
    item->allow_keys({"connections_per_client", "messages_per_connection", "messages_per_client", "window",
                      "too_many_connections", "rate_limited"});
    fake_mx::Limits& limits = behaviour.limits;
    if (auto field = item->find("connections_per_client"))
      limits.connections_per_client = static_cast<int>(field->integer(0, 100'000));
    if (auto field = item->find("messages_per_connection"))
      limits.messages_per_connection = static_cast<int>(field->integer(0, 100'000'000));
    if (auto field = item->find("messages_per_client"))
      limits.messages_per_client = static_cast<int>(field->integer(0, 100'000'000));
    if (auto field = item->find("window")) {
      limits.window = field->duration();
      if (limits.window.count() <= 0) field->fail("a duration longer than zero");
    }
    if (auto field = item->find("too_many_connections")) limits.too_many_connections = read_reply(*field);
    if (auto field = item->find("rate_limited")) limits.rate_limited = read_reply(*field);
  }
  if (auto item = value.find("authentication")) {
    fake_mx::Authentication& authentication = behaviour.authentication;
    if (item->raw().is_boolean()) {
      authentication.enabled = item->boolean();
    } else {
      item->allow_keys({"authserv_id", "dmarc_reject", "dmarc_quarantine", "spf_fail", "dmarc_reply", "spf_reply"});
      authentication.enabled = true;
      const auto action = [](const JsonValue& field) {
        return static_cast<fake_mx::Authentication::Action>(field.choice({"inbox", "spam", "reject"}));
      };
      if (auto field = item->find("authserv_id")) authentication.authserv_id = field->string();
      if (auto field = item->find("dmarc_reject")) authentication.dmarc_reject = action(*field);
      if (auto field = item->find("dmarc_quarantine")) authentication.dmarc_quarantine = action(*field);
      if (auto field = item->find("spf_fail")) authentication.spf_fail = action(*field);
      if (auto field = item->find("dmarc_reply")) authentication.dmarc_reply = read_reply(*field);
      if (auto field = item->find("spf_reply")) authentication.spf_reply = read_reply(*field);
      for (const char* key : {"dmarc_reply", "spf_reply"}) {
        if (auto field = item->find(key);
            field && !(key == std::string_view("dmarc_reply") ? authentication.dmarc_reply : authentication.spf_reply)
                          .permanent()) {
          field->fail("a 5xx reply");
        }
      }
    }
  }
  if (auto item = value.find("rules")) {
    for (const JsonValue& rule : item->items()) behaviour.rules.push_back(read_rule(rule, origin));
  }
  return behaviour;
}

}  // namespace relaysim::scenario
