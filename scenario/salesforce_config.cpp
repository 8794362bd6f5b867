#include "scenario/salesforce_config.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "scenario/relay_config.hpp"

namespace relaysim::scenario {
namespace {

using salesforce::Category;

std::vector<smtp::Mailbox> read_mailboxes(const JsonValue& value) {
  std::vector<smtp::Mailbox> out;
  if (value.is_string()) {
    out.push_back(read_mailbox(value));
  } else {
    for (const JsonValue& item : value.items()) out.push_back(read_mailbox(item));
  }
  if (out.empty()) value.fail("at least one address");
  return out;
}

// Salesforce writes domain patterns as one comma-separated text; a list is accepted too.
std::vector<std::string> read_patterns(const JsonValue& value) {
  std::vector<std::string> texts;
  if (value.is_string()) {
    const std::string text = value.string();
    std::size_t start = 0;
    while (start <= text.size()) {
      const std::size_t comma = std::min(text.find(',', start), text.size());
      std::string pattern = text.substr(start, comma - start);
      pattern.erase(0, pattern.find_first_not_of(' '));
      pattern.erase(pattern.find_last_not_of(' ') + 1);
      texts.push_back(pattern);
      start = comma + 1;
    }
  } else {
    for (const JsonValue& item : value.items()) texts.push_back(item.string());
  }
  for (const std::string& pattern : texts) {
    const std::string_view rest =
        pattern.starts_with("*.") ? std::string_view(pattern).substr(2) : std::string_view(pattern);
    const bool plain = !rest.empty() && rest.find_first_of("*@ ") == std::string_view::npos;
    if (pattern != "*" && !plain)
      value.fail("domain patterns such as \"*\", \"acme.example\" or \"*.acme.example\", separated by commas");
  }
  return texts;
}

Category read_category(const JsonValue& value) {
  const auto category = salesforce::category_named(value.string());
  if (!category) value.fail("one of single, mass, workflow, flow, apex, system");
  return *category;
}

Category read_category_key(const JsonValue& parent, const std::string& key) {
  const auto category = salesforce::category_named(key);
  if (!category) parent.at(key).fail("a value under one of the keys single, mass, workflow, flow, apex, system");
  return *category;
}

salesforce::EmailRelay read_relay(const JsonValue& value) {
  value.allow_keys({"name", "host", "port", "tls", "auth"});
  salesforce::EmailRelay relay;
  relay.host = value.at("host").string();
  relay.name = value.find("name") ? value.at("name").string() : relay.host;
  if (auto port = value.find("port")) relay.port = port->port();
  if (auto tls = value.find("tls")) {
    const auto setting = salesforce::tls_setting_named(tls->string());
    if (!setting) tls->fail("one of Off, Preferred, Required, PreferredVerify, RequiredVerify");
    relay.tls = *setting;
  }
  if (auto auth = value.find("auth")) {
    auth->allow_keys({"user", "password", "mechanism"});
    smtp::Credentials credentials;
    credentials.user = auth->at("user").string();
    credentials.password = auth->at("password").string();
    if (auto mechanism = auth->find("mechanism"))
      credentials.mechanism = mechanism->choice({"PLAIN", "LOGIN"}) == 0 ? "PLAIN" : "LOGIN";
    relay.auth = credentials;
  }
  return relay;
}

salesforce::Send read_send(const JsonValue& item, Instant origin) {
  salesforce::Send send;
  send.at = item.find("at") ? item.at("at").instant(origin) : origin;
  if (auto category = item.find("category")) send.category = read_category(*category);
  send.from = read_mailbox(item.at("from"));
  if (auto name = item.find("from_name")) send.from_name = name->string();
  send.to = read_mailboxes(item.at("to"));
  if (auto subject = item.find("subject")) send.subject = subject->string();
  if (send.subject.find_first_of("\r\n") != std::string::npos ||
      send.from_name.find_first_of("\r\n\"") != std::string::npos) {
    item.at(item.has("subject") ? "subject" : "from_name").fail("one line of text");
  }
  if (auto body = item.find("body")) send.body = body->string();
  if (auto size = item.find("size")) send.body_bytes = static_cast<std::size_t>(size->integer(0, 50'000'000));
  if (auto attachments = item.find("attachments")) {
    for (const JsonValue& entry : attachments->items()) {
      entry.allow_keys({"name", "type", "size"});
      salesforce::Attachment attachment;
      if (auto name = entry.find("name")) attachment.name = name->string();
      if (auto type = entry.find("type")) attachment.type = type->string();
      if (auto size = entry.find("size")) attachment.bytes = static_cast<std::size_t>(size->integer(0, 25'000'000));
      if (attachment.name.find_first_of("\r\n\"") != std::string::npos)
        entry.at("name").fail("a file name without quotes or line breaks");
      send.attachments.push_back(attachment);
    }
  }
  if (auto headers = item.find("headers")) {
    for (const auto& [name, value] : headers->members()) {
      const std::string text = value.string();
      const bool bad_name = name.empty() || name.find_first_of(": \r\n") != std::string::npos;
      if (bad_name || text.find_first_of("\r\n") != std::string::npos)
        value.fail("a header name without ':' or spaces, and one line of text");
      send.headers.emplace_back(name, text);
    }
  }
  return send;
}

}  // namespace

salesforce::Org read_salesforce_org(const JsonValue& value) {
  value.allow_keys({"name", "org_id", "edition", "environment", "access", "relays", "filters", "sending_ranges",
                    "relay_categories", "daily_limits", "bounce_management", "retry", "helo", "dkim"});
  salesforce::Org org;
  if (auto name = value.find("name")) org.name = name->string();
  if (auto dkim = value.find("dkim")) org.dkim = read_dkim_signing(*dkim);
  if (auto id = value.find("org_id")) org.org_id = id->string();
  if (auto edition = value.find("edition")) {
    const auto named = salesforce::edition_named(edition->string());
    if (!named) edition->fail("one of developer, trial, professional, enterprise, unlimited, performance");
    org.edition = *named;
  }
  if (auto environment = value.find("environment")) {
    org.environment = environment->choice({"production", "sandbox"}) == 0 ? salesforce::Environment::production
                                                                          : salesforce::Environment::sandbox;
  }
  // New sandboxes start with "System email only".
  org.access = org.environment == salesforce::Environment::sandbox ? salesforce::AccessLevel::system_email_only
                                                                   : salesforce::AccessLevel::all_email;
  if (auto access = value.find("access"))
    org.access = static_cast<salesforce::AccessLevel>(access->choice({"no_access", "system_email_only", "all_email"}));
  if (auto relays = value.find("relays")) {
    for (const JsonValue& item : relays->items()) org.relays.push_back(read_relay(item));
  }
  if (auto filters = value.find("filters")) {
    const std::vector<JsonValue> items = filters->items();
    for (std::size_t i = 0; i < items.size(); ++i) {
      const JsonValue& item = items[i];
      item.allow_keys({"sender", "recipient", "active", "priority", "relay"});
      salesforce::DomainFilter filter;
      if (auto sender = item.find("sender")) filter.sender_domains = read_patterns(*sender);
      if (auto recipient = item.find("recipient")) filter.recipient_domains = read_patterns(*recipient);
      if (auto active = item.find("active")) filter.active = active->boolean();
      filter.priority =
          item.find("priority") ? static_cast<int>(item.at("priority").integer(0, 1'000'000)) : static_cast<int>(i);
      filter.relay = item.find("relay")   ? item.at("relay").string()
                     : org.relays.empty() ? std::string()
                                          : org.relays.front().name;
      org.filters.push_back(filter);
    }
  }
  if (auto ranges = value.find("sending_ranges")) {
    for (const JsonValue& item : ranges->items()) org.sending_ranges.push_back(item.cidr());
  }
  if (auto categories = value.find("relay_categories")) {
    for (const auto& [key, flag] : categories->members())
      org.uses_relay[read_category_key(*categories, key)] = flag.boolean();
  }
  if (auto limits = value.find("daily_limits")) {
    for (const auto& [key, limit] : limits->members()) {
      const Category category = read_category_key(*limits, key);
      if (salesforce::limit_bucket(category) != category)
        limits->at(key).fail("a limit under \"single\" (Apex counts against it)");
      org.daily_limits[category] = limit.unsigned_integer();
    }
  }
  if (auto bounce = value.find("bounce_management")) {
    if (bounce->is_object()) {
      bounce->allow_keys({"enabled", "domain", "instance", "port"});
      org.bounce_management.enabled = bounce->find("enabled") ? bounce->at("enabled").boolean() : true;
      if (auto domain = bounce->find("domain")) org.bounce_management.domain = io::normalize_dns_name(domain->string());
      if (auto instance = bounce->find("instance"))
        org.bounce_management.instance = io::normalize_dns_name(instance->string());
      if (auto port = bounce->find("port")) org.bounce_management.inbox_port = port->port();
    } else {
      org.bounce_management.enabled = bounce->boolean();
    }
  }
  if (auto retry = value.find("retry")) {
    retry->allow_keys({"intervals", "give_up_after"});
    if (auto intervals = retry->find("intervals")) {
      org.retry.intervals.clear();
      for (const JsonValue& item : intervals->items()) {
        if (item.duration() <= Duration(0)) item.fail("a positive duration");
        org.retry.intervals.push_back(item.duration());
      }
    }
    if (auto give_up = retry->find("give_up_after")) org.retry.give_up_after = give_up->duration();
  }
  if (auto helo = value.find("helo")) org.helo_name = helo->string();
  for (const salesforce::SetupError& error : salesforce::check_setup(org)) {
    throw InputError(value.path() + "." + error.field, "a setup Salesforce accepts",
                     "Salesforce refuses it: " + error.message);
  }
  return org;
}

salesforce::OrgConfig read_salesforce_node(const JsonValue& node, Instant origin) {
  salesforce::OrgConfig config;
  config.org = node.find("org") ? read_salesforce_org(node.at("org")) : salesforce::Org{};
  if (auto traffic = node.find("traffic")) {
    for (const JsonValue& item : traffic->items()) {
      item.allow_keys({"name", "at", "category", "from", "from_name", "to", "subject", "body", "size", "attachments",
                       "headers", "count", "interval", "burst"});
      salesforce::Send send = read_send(item, origin);
      if (auto name = item.find("name")) {
        send.label = name->string();
        if (send.label.empty() || send.label.find_first_of("[]") != std::string::npos)
          name->fail("a name without '[' or ']'");
      }
      // A generator: `count` sends, `burst` of them at a time, `interval` apart.
      const auto count = item.find("count") ? item.at("count").integer(1, 1'000'000) : 1;
      const auto burst = item.find("burst") ? item.at("burst").integer(1, 1'000'000) : 1;
      const Duration interval = item.find("interval") ? item.at("interval").duration() : Duration(0);
      for (std::int64_t i = 0; i < count; ++i) {
        salesforce::Send copy = send;
        copy.at = send.at + interval * (i / burst);
        if (count > 1) copy.subject += " (" + std::to_string(i + 1) + ")";
        if (count > 1 && !send.label.empty()) copy.label = send.label + "[" + std::to_string(i + 1) + "]";
        config.traffic.push_back(std::move(copy));
      }
    }
    std::stable_sort(config.traffic.begin(), config.traffic.end(),
                     [](const auto& a, const auto& b) { return a.at < b.at; });
  }
  if (auto tests = node.find("test_deliverability")) {
    for (const JsonValue& item : tests->items()) {
      item.allow_keys({"at", "to"});
      config.deliverability_tests.push_back(
          {item.find("at") ? item.at("at").instant(origin) : origin, read_mailbox(item.at("to"))});
    }
    std::stable_sort(config.deliverability_tests.begin(), config.deliverability_tests.end(),
                     [](const auto& a, const auto& b) { return a.at < b.at; });
  }
  return config;
}

}  // namespace relaysim::scenario
