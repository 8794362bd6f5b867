#include "explore/explore.hpp"

#include <algorithm>
#include <array>
#include <iostream>
#include <set>
#include <sstream>
#include <streambuf>

#include "fake_mx/events.hpp"
#include "fake_salesforce/events.hpp"
#include "io/address.hpp"
#include "rapidcheck/detail/Configuration.h"
#include "rapidcheck/detail/TestListenerAdapter.h"
#include "relay/events.hpp"
#include "scenario/verdicts.hpp"
#include "scenario/world_file.hpp"
#include "sim/events.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::explore {
namespace {

// rapidcheck's configuration (RC_PARAMS: a reproduce map given back by an earlier run), read once.
// rapidcheck announces "Using configuration: seed=..." with a seed of its own, which would
// contradict --seed (the exploration's seed is the one in use): that line is dropped, and anything
// else it says (a malformed RC_PARAMS, before it exits) still reaches standard error.
const rc::detail::Configuration& quiet_configuration() {
  struct DropAnnouncement : std::streambuf {
    std::streambuf* target;
    std::string line;
    explicit DropAnnouncement(std::streambuf* to) : target(to) {}
    int overflow(int c) override {
      if (c == traits_type::eof()) return c;
      line += static_cast<char>(c);
      if (c == '\n') pass_line();
      return c;
    }
    int sync() override { return target->pubsync(); }  // a line goes on only once it is whole
    void pass_line() {
      if (!line.starts_with("Using configuration:"))
        target->sputn(line.data(), static_cast<std::streamsize>(line.size()));
      line.clear();
      target->pubsync();
    }
  };
  static const rc::detail::Configuration& configuration = []() -> const rc::detail::Configuration& {
    DropAnnouncement filter(std::cerr.rdbuf());
    std::streambuf* const saved = std::cerr.rdbuf(&filter);
    const rc::detail::Configuration& read = rc::detail::configuration();
    filter.pass_line();  // whatever is left of a last line without its newline
    std::cerr.rdbuf(saved);
    return read;
  }();
  return configuration;
}

}  // namespace

namespace {

using nlohmann::json;

// Picks that shrink towards the simplest world: integers towards their low end, features off.
// Uniform over the whole range whatever rapidcheck's size (which lists use for their length).
int pick(int low, int high) { return *rc::gen::resize(100, rc::gen::inRange(low, high + 1)); }
bool maybe(int percent) { return pick(0, 99) >= 100 - percent; }
template <typename T>
T one_of(std::vector<T> values) {
  return values[static_cast<std::size_t>(pick(0, static_cast<int>(values.size()) - 1))];
}

std::string minutes(int count) { return "+" + std::to_string(count) + "m"; }

const std::vector<std::string> dest_users{"ann@dest.example", "bob@dest.example", "carol@dest.example"};
// The size each list is generated at: rapidcheck makes lists up to about this long.
constexpr int messages_max = 6;
constexpr int recipients_max = 3;
constexpr int rules_max = 3;
constexpr int faults_max = 4;

// Counts what a run reached, from its typed events.
class CoverageSink final : public sim::TraceSink {
 public:
  explicit CoverageSink(Coverage& coverage) : coverage_(coverage) {}
  void on_event(const io::TraceEvent& event, std::string_view) override {
    if (const auto* e = event.as<fake_mx::events::Greylisted>(); e && e->verdict == fake_mx::GreylistVerdict::passed)
      count("greylist passed");
    if (const auto* e = event.as<relay::events::RecipientSettled>()) {
      const relay::RecipientOutcome& outcome = e->outcome;
      if (e->status == "4.4.7") count("expired (4.4.7)");
      if (outcome.outcome == smtp::Outcome::permanent && outcome.stage == smtp::Stage::content) count("5xx after DATA");
      if (outcome.outcome == smtp::Outcome::permanent && outcome.stage == smtp::Stage::rcpt) count("5xx at RCPT");
      if (outcome.possible_duplicate) count("connection lost after the dot");
      if (e->state == relay::RecipientState::delivered) count("relay delivered");
    }
    if (const auto* e = event.as<relay::events::Routed>()) {
      if (e->status == "5.1.10") count("null MX bounce");
      if (e->implicit_mx) count("implicit MX");
      if (e->status == "4.4.3") count("DNS failure deferral");
    }
    if (event.as<relay::events::HopFailed>() != nullptr) count("next MX tried");
    if (event.as<relay::events::DestinationDead>() != nullptr) count("dead destination");
    if (const auto* e = event.as<relay::events::NoticeQueued>()) {
      count(e->action == smtp::DsnAction::failed    ? "bounce sent"
            : e->action == smtp::DsnAction::delayed ? "delay notice sent"
                                                    : "success notice sent");
    }
    if (const auto* e = event.as<relay::events::Stored>()) {
      const auto& recipients = e->message.recipients;
      if (std::any_of(recipients.begin(), recipients.end(), [](const auto& r) { return r.recipient.dsn.notify_given; }))
        count("NOTIFY given");
    }
    if (const auto* e = event.as<relay::events::Connecting>(); e && e->plaintext_fallback) count("plaintext fallback");
    if (const auto* e = event.as<relay::events::Connecting>(); e && e->tls == relay::TlsLevel::dane)
      count("MX host held to its TLSA records");
    if (const auto* e = event.as<relay::events::MtaStsApplied>()) {
      if (e->mode == "enforce") count("MTA-STS enforce policy applied");
      if (e->how.find("policy fetch failed") != std::string_view::npos) count("MTA-STS policy fetch failed");
    }
    if (const auto* e = event.as<relay::events::HopFailed>();
        e && e->skipped && e->reason.find("is not named by the MTA-STS policy") != std::string_view::npos)
      count("MX host outside the MTA-STS policy skipped");
    if (const auto* e = event.as<relay::events::Recovered>(); e && e->messages > 0)
      count("queue recovered after a crash");
    if (event.as<sim::events::ProcessCrashed>() != nullptr) {
      count("crash");
      if (last_queue_write_ && event.time - *last_queue_write_ <= std::chrono::milliseconds(5))
        count("crash within 5 ms of a queue write");
    }
    if (event.as<relay::events::Stored>() != nullptr || event.as<relay::events::OutcomesRecorded>() != nullptr)
      last_queue_write_ = event.time;
    if (event.kind == "smtp.client.tls_failed") count("TLS handshake failed");
    if (const auto* e = event.as<salesforce::events::EmailLogged>()) {
      if (e->entry.event == salesforce::EmailLogEvent::given_up) count("Salesforce gave up");
      if (e->entry.event == salesforce::EmailLogEvent::transient_failure) count("Salesforce retried");
      if (e->entry.event == salesforce::EmailLogEvent::permanent_failure) count("Salesforce failed permanently");
      if (e->entry.event == salesforce::EmailLogEvent::bounced) count("contact marked bounced");
    }
    if (event.as<fake_mx::events::LateBounceSent>() != nullptr) count("late bounce sent");
    if (event.kind == "disk.fault") count("disk error");
    if (const auto* e = event.as<io::LogLine>()) {
      if (e->line.find("queue file write error") != std::string_view::npos) count("451 for a disk error");
      if (e->line.starts_with("NOQUEUE: reject: RCPT from unknown[2001:")) count("IPv6 stranger refused");
    }
  }

 private:
  void count(const std::string& what) { coverage_[what] += 1; }
  Coverage& coverage_;
  std::optional<Instant> last_queue_write_;
};

// One transaction can mix 250, 4xx and 5xx: rules 3 and 4 refuse one recipient each.
json mx_rule() {
  switch (pick(0, 5)) {
    case 0: return {{"stage", "rcpt"}, {"reply", "451 4.3.0 Try again later"}, {"times", pick(1, 3)}};
    case 1: return {{"stage", "mail"}, {"reply", "421 4.7.0 Too busy, try later"}, {"times", pick(1, 2)}};
    case 2: return {{"stage", "end_of_data"}, {"drop", maybe(50) ? "after_storing" : "before_storing"}, {"times", 1}};
    case 3:
      return {{"stage", "rcpt"}, {"match", {{"recipient", "bob@dest.example"}}}, {"reply", "552 5.2.2 Mailbox full"}};
    case 4:
      return {{"stage", "rcpt"},
              {"match", {{"recipient", "carol@dest.example"}}},
              {"reply", "450 4.2.1 Mailbox busy"},
              {"times", pick(1, 3)}};
    default:
      return {{"stage", "end_of_data"},
              {"match", {{"recipient", "carol@dest.example"}}},
              {"bounce_later", {{"after", "10m"}, {"status", "5.1.1"}}}};
  }
}

json fault(int mx_count) {
  const int from = pick(0, 180);
  const int length = pick(5, 240);
  const std::string mx = "mx" + std::to_string(pick(1, mx_count)) + ".dest.example";
  switch (pick(0, 4)) {
    case 0:
      return {{"kind", "refuse"}, {"destination", mx}, {"from", minutes(from)}, {"until", minutes(from + length)}};
    case 1:
      return {{"kind", "dns"},       {"name", "dest.example"}, {"type", "MX"},
              {"error", "servfail"}, {"from", minutes(from)},  {"until", minutes(from + length)}};
    case 2:
      return {{"kind", "tls"},
              {"destination", "relay.acme.example"},
              {"from", minutes(from)},
              {"until", minutes(from + length)}};
    case 3:
      return {{"kind", "black_hole"}, {"destination", mx}, {"from", minutes(from)}, {"until", minutes(from + length)}};
    default:
      return {{"kind", "disk"},
              {"node", "relay"},
              {"error", "EIO"},
              {"from", minutes(from)},
              {"until", minutes(from + std::min(length, 30))}};
  }
}

// A crash's `after`: 0 to 3 ms after the relay's first to fourth message stored, outcome settled
// or recorded, or notice queued.
json crash_trigger() {
  const std::string event = one_of<std::string>({"queue.stored", "relay.outcome", "queue.recorded", "relay.dsn"});
  const int count = pick(1, 4);
  return {{"event", event}, {"count", count}, {"delay", std::to_string(pick(0, 3)) + "ms"}};
}

GeneratedScenario generate() {
  json world;
  world["name"] = "generated";
  world["seed"] = pick(1, 1000);
  world["start"] = "2026-03-02T09:00:00Z";
  world["network"] = {{"latency", "20ms"}};
  world["hosts"] = {{"sfdc-mta", {{"addresses", {"13.108.0.10"}}}},
                    {"relay.acme.example", {{"addresses", {"198.51.100.10"}}}}};
  world["tls"] = {{"ca", {{"authority", true}}}, {"relay-cert", {{"issuer", "ca"}, {"names", {"relay.acme.example"}}}}};

  // The recipients' domain: one to three MX hosts with preferences.
  const int mx_count = pick(1, 3);
  json mx_records = json::array();
  for (int i = 1; i <= mx_count; ++i) {
    const std::string name = "mx" + std::to_string(i) + ".dest.example";
    world["hosts"][name] = {{"addresses", {"192.0.2." + std::to_string(10 + i)}}};
    mx_records.push_back({10 * pick(1, 3), name});
    json behaviour = {{"hostname", name}, {"mailboxes", {{"users", dest_users}}}};
    if (maybe(30)) behaviour["greylisting"] = true;
    if (maybe(40)) {
      // A TLS profile: a good certificate, an expired one or one for another name; sometimes
      // only one protocol version.
      json certificate = {{"issuer", "ca"}, {"names", {name}}};
      const int profile = pick(0, 3);
      if (profile == 1) {
        certificate["not_before"] = "-30d";
        certificate["not_after"] = "-1d";
      }
      if (profile == 2) certificate["names"] = {"mail.elsewhere.example"};
      world["tls"]["mx-cert-" + std::to_string(i)] = certificate;
      behaviour["starttls"] = true;
      json tls = {{"certificate", "mx-cert-" + std::to_string(i)}};
      if (profile == 3) tls[maybe(50) ? "min_version" : "max_version"] = maybe(50) ? "1.3" : "1.2";
      world["nodes"]["mx" + std::to_string(i)]["tls"] = tls;
    }
    if (maybe(20)) behaviour["limits"] = {{"messages_per_client", pick(1, 5)}, {"window", "1m"}};
    if (maybe(10)) behaviour["limits"]["connections_per_client"] = pick(1, 2);
    const std::vector<json> rules =
        *rc::gen::resize(rules_max, rc::gen::container<std::vector<json>>(rc::gen::exec(mx_rule)));
    if (!rules.empty()) behaviour["rules"] = rules;
    world["nodes"]["mx" + std::to_string(i)]["host"] = name;
    world["nodes"]["mx" + std::to_string(i)]["type"] = "fake_mx";
    world["nodes"]["mx" + std::to_string(i)]["behaviour"] = behaviour;
  }
  // Sometimes the domain is an alias (CNAME) of the one that holds the MX records.
  if (maybe(15)) {
    world["dns"]["dest.example"] = {{"CNAME", "dest-mail.example"}};
    world["dns"]["dest-mail.example"] = {{"MX", mx_records}};
  } else {
    world["dns"]["dest.example"] = {{"MX", mx_records}};
  }
  std::vector<std::string> pool = dest_users;
  pool.push_back("ghost@dest.example");
  // A second domain: none, one without MX records (implicit MX), one with a null MX - which may
  // also have an address and a listening MX, so that reading it as implicit MX would deliver -, or
  // one whose MX host listens to nothing (a dead destination, with or without faults).
  const int other = pick(0, 3);
  const bool null_mx_listens = other == 2 && maybe(50);
  if (other == 1 || null_mx_listens) {
    world["hosts"]["other.example"] = {{"addresses", {"192.0.2.50"}}};
    world["nodes"]["other-mx"] = {
        {"host", "other.example"}, {"type", "fake_mx"}, {"behaviour", {{"hostname", "other.example"}}}};
  }
  if (other == 2) world["dns"]["other.example"] = {{"MX", {{0, "."}}}};
  if (null_mx_listens) world["dns"]["other.example"]["A"] = {"192.0.2.50"};
  if (other == 3) {
    world["hosts"]["mx.other.example"] = {{"addresses", {"192.0.2.60"}}};
    world["dns"]["other.example"] = {{"MX", {{10, "mx.other.example"}}}};
  }
  if (other != 0) pool.push_back("dana@other.example");

  // The relay, with the retry parameters short enough for expiries to happen.
  const std::string lifetime = one_of<std::string>({"1d", "2h", "8h"});
  json config = {{"myhostname", "relay.acme.example"},
                 {"listeners", {{{"port", 587}}}},
                 {"mynetworks", {"13.108.0.0/14"}},
                 {"sender_domains", {"acme.example", "*.acme.example", "other.example", "*.bnc.salesforce.com"}},
                 {"maximal_backoff_time", one_of<std::string>({"30m", "10m", "1h"})},
                 {"maximal_queue_lifetime", lifetime},
                 {"bounce_queue_lifetime", lifetime},
                 {"smtp_tls_security_level", one_of<std::string>({"may", "none", "encrypt", "verify"})}};
  if (maybe(30)) config["delay_warning_time"] = "30m";
  world["nodes"]["relay"] = {{"host", "relay.acme.example"},
                             {"type", "relay"},
                             {"tls", {{"certificate", "relay-cert"}, {"trust", {"ca"}}}},
                             {"config", config}};

  // The Salesforce org and its traffic.
  // Two relay records to the same relay, so that which filter won shows in the email log's path;
  // a filter for the org's domains, and up to two more that overlap it, with priorities in any
  // order, wildcards, other recipient domains, and sometimes inactive.
  const std::string tls_setting = one_of<std::string>({"Preferred", "Off", "Required", "RequiredVerify"});
  std::vector<int> priorities{10, 20, 30};
  const auto take_priority = [&priorities] {
    const auto at = priorities.begin() + pick(0, static_cast<int>(priorities.size()) - 1);
    const int priority = *at;
    priorities.erase(at);
    return priority;
  };
  json filters = json::array();
  filters.push_back({{"sender", one_of<std::string>({"acme.example", "*", "acme.example, *.acme.example"})},
                     {"relay", "corp"},
                     {"priority", take_priority()}});
  for (int extra = pick(0, 2); extra > 0; --extra) {
    filters.push_back(
        {{"sender", one_of<std::string>({"*.acme.example", "mkt.acme.example", "acme.example", "other.example", "*"})},
         {"recipient", one_of<std::string>({"*", "dest.example", "*.example", "other.example"})},
         {"relay", one_of<std::string>({"corp-backup", "corp"})},
         {"priority", take_priority()},
         {"active", !maybe(25)}});
  }
  json org = {{"relays",
               {{{"name", "corp"}, {"host", "relay.acme.example"}, {"port", 587}, {"tls", tls_setting}},
                {{"name", "corp-backup"}, {"host", "relay.acme.example"}, {"port", 587}, {"tls", tls_setting}}}},
              {"filters", filters},
              {"sending_ranges", {"13.108.0.0/14"}},
              {"bounce_management", maybe(50)}};
  // Lists are rapidcheck containers, so that shrinking removes whole sends, rules and faults.
  const auto send = rc::gen::exec([pool] {
    const auto address =
        rc::gen::exec([pool] { return pool[static_cast<std::size_t>(pick(0, static_cast<int>(pool.size()) - 1))]; });
    const std::vector<std::string> picked =
        *rc::gen::resize(recipients_max, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(address)));
    const std::set<std::string> to(picked.begin(), picked.end());
    return json{{"at", "+" + std::to_string(pick(0, 3600)) + "s"},
                {"category", one_of<std::string>({"single", "mass", "system"})},
                {"from", one_of<std::string>({"sales@acme.example", "news@mkt.acme.example", "alerts@other.example"})},
                {"to", std::vector<std::string>(to.begin(), to.end())}};
  });
  json traffic = *rc::gen::resize(messages_max, rc::gen::nonEmpty(rc::gen::container<std::vector<json>>(send)));
  for (std::size_t m = 0; m < traffic.size(); ++m) traffic[m]["subject"] = "Message " + std::to_string(m + 1);
  world["nodes"]["salesforce"] = {
      {"host", "sfdc-mta"}, {"type", "salesforce"}, {"tls", {{"trust", {"ca"}}}}, {"org", org}, {"traffic", traffic}};

  // Sometimes a stranger tries to use the relay: it must be refused. It sits far away, or just
  // outside mynetworks - one address below or above the network, whose prefix is /8 to /32 (IPv6:
  // /16 to /128) - where a prefix compared one bit short would trust it. That one claims a sender
  // the relay serves, so that only the network check stands in its way.
  if (maybe(15)) {
    std::string stranger = "203.0.113.66";
    std::string sender = "spam@evil.example";
    std::string server = "relay.acme.example";
    if (maybe(30)) {
      // The same over IPv6: the company's network around 2001:db8:0:a::14 with a prefix of /16 to
      // /128 in mynetworks beside Salesforce's, the relay listening at 2001:db8:0:a::10 too, and
      // the stranger one address outside either end of that network.
      const unsigned prefix = static_cast<unsigned>(pick(16, 128));
      // The host bits set to `bit`: the network's first (0) or last (1) address.
      const auto end_of = [prefix](std::array<std::uint8_t, 16> bytes, bool bit) {
        for (unsigned i = prefix; i < 128; ++i) {
          const auto mask = static_cast<std::uint8_t>(0x80u >> (i % 8));
          bytes[i / 8] = static_cast<std::uint8_t>(bit ? bytes[i / 8] | mask : bytes[i / 8] & ~mask);
        }
        return bytes;
      };
      // One address further (+1) or back (-1), with carry.
      const auto step = [](std::array<std::uint8_t, 16> bytes, int by) {
        for (int i = 15; i >= 0; --i) {
          auto& byte = bytes[static_cast<std::size_t>(i)];
          const bool wraps = by > 0 ? byte == 0xff : byte == 0;
          byte = static_cast<std::uint8_t>(byte + by);
          if (!wraps) break;
        }
        return io::Address::v6(bytes);
      };
      const std::array<std::uint8_t, 16> company = io::Address::parse("2001:db8:0:a::14")->bytes();
      const std::array<std::uint8_t, 16> first = end_of(company, false), last = end_of(company, true);
      world["nodes"]["relay"]["config"]["mynetworks"].push_back(io::Address::v6(first).to_string() + "/" +
                                                                std::to_string(prefix));
      world["hosts"]["relay.acme.example"]["addresses"].push_back("2001:db8:0:a::10");
      world["nodes"]["relay"]["config"]["listeners"].push_back({{"address", "::"}, {"port", 587}});
      stranger = (maybe(50) ? step(first, -1) : step(last, 1)).to_string();
      sender = "alerts@acme.example";
      server = "2001:db8:0:a::10";
    } else if (maybe(70)) {
      const unsigned prefix = static_cast<unsigned>(pick(8, 32));
      const std::uint32_t salesforce = (13u << 24) | (108u << 16) | 10u;  // 13.108.0.10, the org's host
      const std::uint32_t mask = ~std::uint32_t{0} << (32 - prefix);
      const std::uint32_t first = salesforce & mask;
      const std::uint32_t last = first | ~mask;
      const io::Address network = io::Address::v4(first);
      world["nodes"]["relay"]["config"]["mynetworks"] = {network.to_string() + "/" + std::to_string(prefix)};
      stranger = io::Address::v4(maybe(50) ? first - 1 : last + 1).to_string();
      sender = "alerts@acme.example";
    }
    world["hosts"]["stranger.example"] = {{"addresses", {stranger}}};
    world["nodes"]["stranger"] = {
        {"host", "stranger.example"},
        {"type", "smtp_sender"},
        {"server", server},
        {"port", 587},
        {"messages",
         {{{"at", "+" + std::to_string(pick(0, 3600)) + "s"}, {"from", sender}, {"to", {"ann@dest.example"}}}}}};
  }

  // Sometimes an application in the company's network sends through the relay with DSN
  // parameters: NOTIFY (never, or some of success, failure, delay) and RET.
  if (maybe(25)) {
    world["hosts"]["app.acme.example"] = {{"addresses", {"198.51.100.20"}}};
    world["nodes"]["relay"]["config"]["mynetworks"].push_back("198.51.100.20/32");
    json messages = json::array();
    for (int m = pick(1, 2); m > 0; --m) {
      json message = {{"at", "+" + std::to_string(pick(0, 3600)) + "s"},
                      {"from", "app@acme.example"},
                      {"to", {pool[static_cast<std::size_t>(pick(0, static_cast<int>(pool.size()) - 1))]}},
                      {"subject", "Application notice " + std::to_string(m)}};
      const int notify = pick(0, 4);
      if (notify == 1) message["notify"] = {"NEVER"};
      if (notify == 2) message["notify"] = {"SUCCESS", "FAILURE"};
      if (notify == 3) message["notify"] = {"DELAY"};
      if (notify == 4) message["notify"] = {"SUCCESS"};
      if (maybe(50)) message["ret"] = one_of<std::string>({"FULL", "HDRS"});
      messages.push_back(message);
    }
    world["nodes"]["app"] = {{"host", "app.acme.example"},
                             {"type", "smtp_sender"},
                             {"server", "relay.acme.example"},
                             {"port", 587},
                             {"messages", messages}};
  }

  // Faults: windows on the network, DNS, TLS and the relay's disk, and at most one relay crash.
  const std::vector<json> faults = *rc::gen::resize(
      faults_max, rc::gen::container<std::vector<json>>(rc::gen::exec([mx_count] { return fault(mx_count); })));
  if (!faults.empty()) world["faults"] = faults;
  if (maybe(30)) {
    if (!world.contains("faults")) world["faults"] = json::array();
    if (maybe(50)) {
      const int at = pick(0, 180);
      world["faults"].push_back({{"kind", "crash"}, {"node", "relay"}, {"at", minutes(at)}, {"power_loss", maybe(50)}});
      world["faults"].push_back({{"kind", "restart"}, {"node", "relay"}, {"at", minutes(at + pick(1, 60))}});
    } else {
      // Timed by the relay's own steps: a few milliseconds after the k-th message stored, outcome
      // settled or recorded, or notice queued - inside the group commit, the fsync, the next write.
      const json after = crash_trigger();
      world["faults"].push_back({{"kind", "crash"},
                                 {"node", "relay"},
                                 {"after", after},
                                 {"power_loss", maybe(50)},
                                 {"restart_after", minutes(pick(1, 60)).substr(1)}});
    }
  }

  // Sometimes dest.example publishes an MTA-STS policy (RFC 8461) and the relay follows it: enforce,
  // testing or none; naming every MX host, by wildcard or one by one, or only the last; served
  // by a policy host with a good certificate, an expired one or one for another name.
  if (maybe(25)) {
    world["hosts"]["mta-sts.dest.example"] = {{"addresses", {"192.0.2.40"}}};
    world["dns"]["_mta-sts.dest.example"] = {{"TXT", {"v=STSv1; id=" + std::to_string(pick(1, 9)) + ";"}}};
    json certificate = {{"issuer", "ca"}, {"names", {"mta-sts.dest.example"}}};
    const int profile = pick(0, 4);
    if (profile == 3) {
      certificate["not_before"] = "-30d";
      certificate["not_after"] = "-1d";
    }
    if (profile == 4) certificate["names"] = {"www.dest.example"};
    world["tls"]["policy-cert"] = certificate;
    json mx = json::array();
    const int naming = pick(0, 3);
    if (naming == 0) mx.push_back("*.dest.example");
    for (int i = 1; naming == 1 && i <= mx_count; ++i) mx.push_back("mx" + std::to_string(i) + ".dest.example");
    // Only the last host: a policy left behind by a migration (with one MX host, it names none).
    if (naming >= 2)
      mx.push_back(mx_count == 1 ? "mx.old-provider.example" : "mx" + std::to_string(mx_count) + ".dest.example");
    world["nodes"]["mta-sts"] = {
        {"host", "mta-sts.dest.example"},
        {"type", "mta_sts_host"},
        {"tls", {{"certificate", "policy-cert"}}},
        {"policy",
         {{"mode", one_of<std::string>({"enforce", "enforce", "testing", "none"})}, {"mx", mx}, {"max_age", "1d"}}}};
    world["nodes"]["relay"]["config"]["smtp_tls_mta_sts"] = maybe(80);
  }

  // Sometimes dest.example is DNSSEC-signed and publishes TLSA records (RFC 7672) for its MX hosts:
  // each host's own key (when it has a certificate), a key left behind by a rotation, or none; and
  // the relay delivers at smtp_tls_security_level = dane. Sometimes the zone is bogus instead.
  if (maybe(20)) {
    world["dnssec"] = {{"dest.example", maybe(85) ? "signed" : "bogus"}};
    world["tls"]["rotated-away"] = {{"issuer", "ca"}, {"names", {"old.dest.example"}}};
    for (int i = 1; i <= mx_count; ++i) {
      const std::string host = "mx" + std::to_string(i) + ".dest.example";
      const std::string own = "mx-cert-" + std::to_string(i);
      const int published = pick(0, 2);  // 0 its own key (or a stale one without a certificate), 1 stale, 2 none
      if (published == 2) continue;
      const std::string certificate = published == 0 && world["tls"].contains(own) ? own : "rotated-away";
      world["dns"]["_25._tcp." + host] = {
          {"TLSA", {{{"usage", 3}, {"selector", 1}, {"matching", 1}, {"certificate", certificate}}}}};
    }
    world["nodes"]["relay"]["config"]["smtp_tls_security_level"] = "dane";
    world["nodes"]["relay"]["config"]["smtp_dns_support_level"] = "dnssec";
  }
  return {world};
}

// The same world without faults or MX rules, and outbound TLS that cannot strand mail.
json without_faults(json document) {
  document.erase("faults");
  document.erase("dnssec");  // a bogus zone is an outage of its own
  for (auto& [name, node] : document["nodes"].items()) {
    if (node["type"] == "fake_mx") node["behaviour"].erase("rules");
    if (node["type"] == "relay") {
      node["config"]["smtp_tls_security_level"] = "may";
      node["config"].erase("smtp_tls_mta_sts");  // an enforce policy strands mail as verify does
    }
  }
  return document;
}

struct Ran {
  scenario::LoadedWorld loaded;
  scenario::RunObserver observer;
  scenario::RunResult result;
  bool quiescent = false;
};

std::unique_ptr<Ran> run(const json& document, Coverage& coverage, relay::BrokenVariant broken_variant) {
  auto ran = std::make_unique<Ran>();
  ran->loaded = scenario::load_world(document, std::nullopt, "", broken_variant);
  CoverageSink sink(coverage);
  ran->loaded.world->add_trace_sink(ran->observer);
  ran->loaded.world->add_trace_sink(sink);
  ran->loaded.world->start();
  ran->quiescent = ran->loaded.world->run_until(ran->loaded.until) == sim::World::RunOutcome::quiescent;
  ran->result = scenario::check_run(ran->loaded, ran->observer, ran->quiescent);
  return ran;
}

Check verdicts(const Ran& ran, json document) {
  Check check;
  check.document = std::move(document);
  check.digests.push_back(ran.loaded.world->digest());
  if (!ran.quiescent) {
    check.passed = false;
    check.message = "the world did not go quiet within its run length; ";
  }
  for (const auto* list : {&ran.result.expectations, &ran.result.invariants}) {
    for (const scenario::Verdict& verdict : *list) {
      if (verdict.passed) continue;
      check.passed = false;
      check.message += verdict.name + ": " + verdict.message + "; ";
    }
  }
  return check;
}

// Each (mailbox, Message-ID) that reached a mailbox, and each recipient that bounced.
std::set<std::string> outcomes_of(const Ran& ran) {
  std::set<std::string> out;
  for (const auto& [name, store] : ran.loaded.mail_stores) {
    for (const fake_mx::StoredMessage& message : store->messages()) {
      if (message.sender.empty()) continue;
      for (const smtp::Recipient& recipient : message.recipients) {
        out.insert("delivered " + recipient.mailbox.to_string() + " " + smtp::header_value(message.content, "Subject"));
      }
    }
  }
  for (const scenario::RunObserver::RelayOutcome& outcome : ran.observer.outcomes) {
    if (outcome.state == relay::RecipientState::bounced) out.insert("bounced " + outcome.rcpt + " " + outcome.status);
  }
  return out;
}

// A user who takes mail in this world: the known users of dest.example, and dana@other.example
// when other.example has an MX node and no null MX.
bool known_user(const json& document, const std::string& address) {
  const bool other_in_dns = document.contains("dns") && document["dns"].contains("other.example");
  const bool other_takes_mail = document["nodes"].contains("other-mx") && !other_in_dns;
  return std::find(dest_users.begin(), dest_users.end(), address) != dest_users.end() ||
         (address == "dana@other.example" && other_takes_mail);
}

Check faults_removed_delivers(const GeneratedScenario& scenario, Coverage& coverage) {
  json document = without_faults(scenario.document);
  // Every traffic recipient: known users get it, unknown ones bounce. When other.example's MX
  // host listens to nothing, its mail expires.
  const bool other_dead = document["hosts"].contains("mx.other.example");
  for (const json& send : document["nodes"]["salesforce"]["traffic"]) {
    for (const json& to : send["to"]) {
      const std::string address = to.get<std::string>();
      const bool known = known_user(document, address);
      json expect = {{"to", address}, {"subject", send["subject"]}};
      if (known) {
        expect["delivered"] = true;
      } else {
        if (address == "dana@other.example" && other_dead) {
          expect["delivered"] =
              false;  // a relay bounces it with 4.4.7 at the lifetime's end; Salesforce's own path gives up
        } else {
          expect["bounced"] = address == "ghost@dest.example" ? "5.1.1" : "5";
        }
      }
      document["expect"].push_back(expect);
    }
  }
  document["expect"].push_back({{"stats", {{"duplicates", 0}}}});
  return verdicts(*run(document, coverage, scenario.broken_variant), document);
}

// When faults were in force: each timed fault's window (the document's "+Nm" instants), and each
// relay crash until its restart (as observed: a crash may be timed by an event).
std::vector<std::pair<Instant, Instant>> fault_windows(const json& document, const Ran& ran) {
  const Instant start = ran.loaded.start;
  const auto instant = [&](const json& value) {
    return start + std::chrono::minutes(std::stoi(value.get<std::string>().substr(1)));
  };
  std::vector<std::pair<Instant, Instant>> out;
  if (document.contains("faults")) {
    for (const json& fault : document["faults"]) {
      if (fault.contains("from") && fault.contains("until"))
        out.emplace_back(instant(fault["from"]), instant(fault["until"]));
    }
  }
  std::optional<Instant> down;
  for (const scenario::RunObserver::Mark& mark : ran.observer.marks) {
    if (mark.node != "relay") continue;
    if (mark.kind == "process.crash") down = mark.at;
    if (mark.kind == "process.start" && down) {
      out.emplace_back(*down, mark.at);
      down.reset();
    }
  }
  if (down) out.emplace_back(*down, Instant::max());
  return out;
}

// With the faults kept (MX rules and a TLS level that could strand mail removed, as above), every
// known user gets each message the relay handles once the faults are over - unless its time ran
// out while one was in force: the relay's 4.4.7 or Salesforce giving up during a fault, or within
// two maximal backoffs after it (a next attempt a backoff away, then a greylisting MX's retry).
Check faults_end_delivers(const GeneratedScenario& scenario, Coverage& coverage) {
  json document = scenario.document;
  document.erase("dnssec");  // a bogus zone is an outage that never ends
  for (auto& [name, node] : document["nodes"].items()) {
    if (node["type"] == "fake_mx") node["behaviour"].erase("rules");
    if (node["type"] == "relay") {
      node["config"]["smtp_tls_security_level"] = "may";
      node["config"].erase("smtp_tls_mta_sts");
    }
  }
  const auto ran = run(document, coverage, scenario.broken_variant);
  Check check = verdicts(*ran, document);
  const std::vector<std::pair<Instant, Instant>> windows = fault_windows(document, *ran);
  // Time to recover in: the relay's next attempt may be a maximal backoff away, and a greylisting
  // MX wants one more after that.
  const Duration grace = 2 * ran->loaded.relay_configs.at("relay").maximal_backoff_time;
  const auto during_a_fault = [&](Instant at) {
    return std::any_of(windows.begin(), windows.end(),
                       [&](const auto& window) { return at >= window.first && at <= window.second + grace; });
  };
  const std::set<std::string> outcomes = outcomes_of(*ran);
  std::map<std::pair<std::string, std::string>, std::string> subjects;  // (relay node, queue id) -> Subject
  for (const scenario::RunObserver::StoredAtRelay& message : ran->observer.stored)
    subjects[{message.node, message.id}] = message.subject;
  std::set<std::string> excused;  // "rcpt subject", or "rcpt *" for Salesforce's give-ups (its log has no subject)
  for (const scenario::RunObserver::RelayOutcome& outcome : ran->observer.outcomes) {
    if (outcome.status != "4.4.7" || !during_a_fault(outcome.at)) continue;
    const auto subject = subjects.find({outcome.node, outcome.id});
    if (subject != subjects.end()) excused.insert(outcome.rcpt + " " + subject->second);
  }
  // The property is about the relay: a message Salesforce's own servers send (no filter matched)
  // is the double's business, and its fixed retry schedule may rightly give up once the faults are
  // over (an MX's connection cap refusing the same synchronised retries). Checked: what the relay
  // stored, and what Salesforce only ever meant for a relay.
  std::set<std::string> own_path;  // recipients Salesforce's own servers were to send to
  for (const auto& [name, org] : ran->loaded.orgs) {
    for (const salesforce::LogEntry& entry : org->log) {
      if (entry.event == salesforce::EmailLogEvent::given_up && during_a_fault(entry.at))
        excused.insert(entry.recipient + " *");
      if (entry.event == salesforce::EmailLogEvent::accepted && entry.path == "Salesforce")
        own_path.insert(entry.recipient);
    }
  }
  std::set<std::string> at_relay;  // "rcpt subject"
  for (const scenario::RunObserver::StoredAtRelay& message : ran->observer.stored) {
    for (const std::string& rcpt : message.to) at_relay.insert(rcpt + " " + message.subject);
  }
  for (const json& send : document["nodes"]["salesforce"]["traffic"]) {
    const std::string subject = send["subject"];
    for (const json& to : send["to"]) {
      const std::string address = to.get<std::string>();
      if (!known_user(document, address) || outcomes.contains("delivered " + address + " " + subject)) continue;
      if (!at_relay.contains(address + " " + subject) && own_path.contains(address)) continue;
      if (excused.contains(address + " " + subject) || excused.contains(address + " *")) continue;
      check.passed = false;
      check.message +=
          address + " never got \"" + subject + "\", though its time did not run out while a fault was in force; ";
      check.document["expect"].push_back({{"to", address}, {"subject", subject}, {"delivered", true}});
    }
  }
  return check;
}

// False by design - worlds have unknown users, null MX, faults - so that the harness can be seen
// to catch a failure, shrink it and replay it.
Check canary_everything_delivered(const GeneratedScenario& scenario, Coverage& coverage) {
  json document = scenario.document;
  for (const json& send : document["nodes"]["salesforce"]["traffic"]) {
    for (const json& to : send["to"])
      document["expect"].push_back({{"to", to}, {"subject", send["subject"]}, {"delivered", true}});
  }
  return verdicts(*run(document, coverage, scenario.broken_variant), document);
}

Check restart_changes_nothing(const GeneratedScenario& scenario, Coverage& coverage) {
  json calm = without_faults(scenario.document);
  // A plain SMTP sender does not retry a refused connection (Salesforce does), so a relay that is
  // down when it sends changes its outcome by design: the property is about what the relay was given.
  calm["nodes"].erase("app");
  json restarted = calm;
  const int at = pick(0, 120);
  std::string when = "at " + minutes(at);
  if (maybe(50)) {
    restarted["faults"] =
        json::array({{{"kind", "crash"}, {"node", "relay"}, {"at", minutes(at)}, {"power_loss", maybe(50)}},
                     {{"kind", "restart"}, {"node", "relay"}, {"at", minutes(at + pick(1, 30))}}});
  } else {
    // Timed by the relay's own steps, where a recovery bug would show: inside a group commit,
    // between a state's fsync and the message's removal, in the next write. Back within minutes:
    // a long outage late in a short queue lifetime may rightly change an outcome.
    const json after = crash_trigger();
    restarted["faults"] = json::array({{{"kind", "crash"},
                                        {"node", "relay"},
                                        {"after", after},
                                        {"power_loss", maybe(50)},
                                        {"restart_after", minutes(pick(1, 5)).substr(1)}}});
    when = after["delay"].get<std::string>() + " after " + after["event"].get<std::string>() + " #" +
           std::to_string(after["count"].get<int>());
  }
  const auto first = run(calm, coverage, scenario.broken_variant);
  const auto second = run(restarted, coverage, scenario.broken_variant);
  Check check = verdicts(*second, restarted);
  check.digests.insert(check.digests.begin(), first->loaded.world->digest());
  const std::set<std::string> before = outcomes_of(*first);
  // The replay expects what the run without the restart did.
  for (const std::string& outcome : before) {
    const std::size_t space = outcome.find(' ');
    const std::size_t second_space = outcome.find(' ', space + 1);
    const std::string address = outcome.substr(space + 1, second_space - space - 1);
    const std::string rest = outcome.substr(second_space + 1);
    if (outcome.starts_with("delivered ")) {
      check.document["expect"].push_back({{"to", address}, {"subject", rest}, {"delivered", true}});
    } else {
      check.document["expect"].push_back({{"to", address}, {"bounced", rest}});
    }
  }
  const std::set<std::string> after = outcomes_of(*second);
  for (const std::string& outcome : before) {
    if (!after.contains(outcome)) {
      check.passed = false;
      check.message += "with the relay crashed " + when + ", lost: " + outcome + "; ";
    }
  }
  for (const std::string& outcome : after) {
    if (!before.contains(outcome)) {
      check.passed = false;
      check.message += "with the relay crashed " + when + ", new: " + outcome + "; ";
    }
  }
  return check;
}

}  // namespace

void showValue(const GeneratedScenario& scenario, std::ostream& out) {
  const json& document = scenario.document;
  out << "scenario with " << document["nodes"]["salesforce"]["traffic"].size() << " sends, "
      << (document.contains("faults") ? document["faults"].size() : 0) << " faults, " << document["nodes"].size()
      << " nodes";
}

rc::Gen<GeneratedScenario> scenarios() { return rc::gen::exec(generate); }

Check run_invariants(const json& document, Coverage& coverage, relay::BrokenVariant broken_variant) {
  return verdicts(*run(document, coverage, broken_variant), document);
}

std::string test_id(const Property& property) { return "relaysim explore " + property.name; }

Exploration explore(const Property& property, std::uint64_t seed, int runs, Coverage& coverage,
                    relay::BrokenVariant broken_variant) {
  Exploration exploration;
  std::optional<Check> last_failure;  // during shrinking, the last failing case is the smallest so far
  const auto testable = [&] {
    GeneratedScenario scenario = *scenarios();
    scenario.broken_variant = broken_variant;
    Check check = property.check(scenario, coverage);
    if (!last_failure)
      exploration.digests.insert(exploration.digests.end(), check.digests.begin(), check.digests.end());
    if (!check.passed) {
      const std::string message = check.message;
      last_failure = std::move(check);
      RC_FAIL(message);
    }
  };
  rc::detail::TestMetadata metadata{test_id(property), property.description};
  rc::detail::TestParams params;
  params.seed = seed;
  params.maxSuccess = runs;
  params.maxSize = 100;
  rc::detail::TestListenerAdapter listener;
  const rc::detail::TestResult result = rc::detail::checkProperty(rc::detail::toProperty(testable), metadata, params,
                                                                  listener, quiet_configuration().reproduce);
  rc::detail::SuccessResult success;
  if (result.match(success)) {
    exploration.runs = success.numSuccess;
    return exploration;
  }
  exploration.passed = false;
  rc::detail::FailureResult failure;
  if (result.match(failure)) {
    exploration.runs = failure.numSuccess;
    exploration.message = failure.description;
    rc::detail::Configuration replay;
    replay.reproduce[metadata.id] = failure.reproduce;
    exploration.reproduce = rc::detail::configToString(replay);
  } else {
    std::ostringstream text;
    rc::detail::printResultMessage(result, text);
    exploration.message = text.str();
  }
  if (last_failure) {
    exploration.counterexample = last_failure->document;
    exploration.message = last_failure->message;
  }
  return exploration;
}

std::vector<std::string> coverage_shortfalls(const Property& property, const Coverage& coverage, int runs) {
  std::vector<std::string> out;
  for (const CoverageMinimum& minimum : property.minimums) {
    const std::uint64_t expected =
        std::max<std::uint64_t>(1, minimum.per_200_runs * static_cast<std::uint64_t>(runs) / 200);
    const auto reached = coverage.find(minimum.counter);
    const std::uint64_t count = reached == coverage.end() ? 0 : reached->second;
    if (count < expected) {
      out.push_back(minimum.counter + ": " + std::to_string(count) + " in " + std::to_string(runs) +
                    " runs, at least " + std::to_string(expected) + " expected");
    }
  }
  return out;
}

const std::vector<Property>& properties() {
  static const std::vector<Property> all{
      {"invariants",
       "every invariant holds in a generated world, faults and all",
       [](const GeneratedScenario& scenario, Coverage& coverage) {
         return run_invariants(scenario.document, coverage, scenario.broken_variant);
       },
       {{"451 for a disk error", 15},
        {"5xx at RCPT", 40},
        {"DNS failure deferral", 30},
        {"Salesforce failed permanently", 70},
        {"Salesforce gave up", 10},
        {"Salesforce retried", 150},
        {"TLS handshake failed", 10},
        {"bounce sent", 90},
        {"connection lost after the dot", 5},
        {"contact marked bounced", 30},
        {"crash", 15},
        {"dead destination", 100},
        {"delay notice sent", 15},
        {"expired (4.4.7)", 80},
        {"greylist passed", 50},
        {"implicit MX", 70},
        {"late bounce sent", 6},
        {"next MX tried", 900},
        {"null MX bounce", 12},
        {"queue recovered after a crash", 5},
        {"relay delivered", 100},
        {"NOTIFY given", 15},
        {"crash within 5 ms of a queue write", 5},
        {"IPv6 stranger refused", 1},
        {"MTA-STS enforce policy applied", 100},
        {"MTA-STS policy fetch failed", 50},
        {"MX host outside the MTA-STS policy skipped", 50},
        {"MX host held to its TLSA records", 60}}},
      {"faults_removed_delivers",
       "without faults and MX rules, known users get each message once and unknown users bounce",
       faults_removed_delivers,
       {{"5xx at RCPT", 40},
        {"Salesforce failed permanently", 60},
        {"Salesforce gave up", 10},
        {"Salesforce retried", 50},
        {"bounce sent", 60},
        {"contact marked bounced", 30},
        {"dead destination", 100},
        {"delay notice sent", 3},
        {"expired (4.4.7)", 10},
        {"greylist passed", 50},
        {"implicit MX", 10},
        {"next MX tried", 100},
        {"null MX bounce", 10},
        {"relay delivered", 150},
        {"NOTIFY given", 15}}},
      {"faults_end_delivers",
       "once the faults are over, every known user gets each message unless its time ran out during one",
       faults_end_delivers,
       {{"crash", 15},
        {"dead destination", 100},
        {"relay delivered", 150},
        {"Salesforce retried", 100},
        {"queue recovered after a crash", 8},
        {"DNS failure deferral", 30},
        {"expired (4.4.7)", 20},
        {"451 for a disk error", 15}}},
      {"restart_changes_nothing",
       "a relay killed and restarted at any instant changes no outcome",
       restart_changes_nothing,
       {{"5xx at RCPT", 80},
        {"Salesforce failed permanently", 120},
        {"Salesforce gave up", 20},
        {"Salesforce retried", 100},
        {"bounce sent", 120},
        {"contact marked bounced", 60},
        {"crash", 60},
        {"dead destination", 200},
        {"delay notice sent", 5},
        {"expired (4.4.7)", 20},
        {"greylist passed", 100},
        {"implicit MX", 8},
        {"next MX tried", 200},
        {"null MX bounce", 20},
        {"queue recovered after a crash", 8},
        {"relay delivered", 300},
        {"crash within 5 ms of a queue write", 10}}},
  };
  return all;
}

const Property& canary() {
  static const Property property{
      "canary", "every recipient gets its mail - false by design, to see a failure caught, shrunk and replayed",
      canary_everything_delivered};
  return property;
}

const Property* property_named(std::string_view name) {
  if (name == canary().name) return &canary();
  for (const Property& property : properties()) {
    if (property.name == name) return &property;
  }
  return nullptr;
}

}  // namespace relaysim::explore
