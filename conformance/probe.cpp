#include "conformance/probe.hpp"

#include <algorithm>

#include "io/text.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::conformance {
namespace {

constexpr Duration poll_interval = std::chrono::milliseconds(100);

bool selected(const Options& options, std::string_view id) {
  if (options.only.empty()) return true;
  return std::any_of(options.only.begin(), options.only.end(), [&](const std::string& wanted) {
    if (!wanted.empty() && wanted.back() == '.') return id.starts_with(wanted);
    return id == wanted;
  });
}

std::string unmet(const Options& options, Needs needs) {
  switch (needs) {
    case Needs::nothing: return {};
    case Needs::auth:
      return options.auth ? "" : "needs --auth USER:PASSWORD (the credentials of Salesforce's relay record)";
    case Needs::stranger:
      return options.stranger ? ""
                              : "needs --stranger ADDRESS (a local address the relay does not trust, e.g. 127.0.0.2)";
    case Needs::dns_mode:
      return options.mode == Mode::dns ? "" : "needs --mode dns: in smarthost mode the relay does not route by MX";
  }
  return {};
}

}  // namespace

std::map<std::string, std::string> ehlo_extensions(const smtp::Reply& reply) {
  std::map<std::string, std::string> extensions;
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {  // the first line is the greeting
    const std::string& line = reply.lines[i];
    const std::size_t space = line.find(' ');
    extensions[to_upper(line.substr(0, space))] = space == std::string::npos ? "" : line.substr(space + 1);
  }
  return extensions;
}

namespace {

// The address `offset` places after `base` (IPv4).
io::Address nth_address(io::Address base, std::uint32_t offset) {
  return io::Address::v4(base.v4_host_order() + offset);
}

// The main MX: what it does for each behaviour domain.
fake_mx::Behaviour main_behaviour(const Options& options) {
  using fake_mx::Rule;
  using fake_mx::Stage;
  fake_mx::Behaviour behaviour;
  behaviour.hostname = "mx." + options.domain;
  // What the relay forwards is judged, not refused: a bare line ending is noted on the message.
  behaviour.bare_line_endings = smtp::BareLineEndings::normalize;
  const auto rule = [&](std::string name, Stage stage, std::string_view behaviour_domain) {
    Rule made;
    made.name = std::move(name);
    made.stage = stage;
    made.match.recipient_domain = std::string(behaviour_domain) + "." + options.domain;
    return made;
  };
  Rule reject = rule("reject", Stage::rcpt, "reject");
  reject.reply = smtp::Reply::make(550, "5.1.1", "Recipient address rejected: User unknown in virtual mailbox table");
  behaviour.rules.push_back(reject);
  // Deferred once each: the relay must come back within the retry window.
  Rule tempfail = rule("tempfail", Stage::rcpt, "tempfail");
  tempfail.reply = smtp::Reply::make(451, "4.3.0", "Temporary lookup failure");
  tempfail.times = 1;
  behaviour.rules.push_back(tempfail);
  Rule greylist = rule("greylist", Stage::rcpt, "greylist");
  greylist.reply = behaviour.greylisting.reply;
  greylist.times = 1;
  behaviour.rules.push_back(greylist);
  Rule drop = rule("drop-after-dot", Stage::end_of_data, "drop");
  drop.action = fake_mx::Action::drop;
  drop.times = 1;
  behaviour.rules.push_back(drop);
  return behaviour;
}

// A server that greets everyone with `reply` instead of 220.
fake_mx::Behaviour greeting_refusal(std::string hostname, smtp::Reply reply) {
  fake_mx::Behaviour behaviour;
  behaviour.hostname = std::move(hostname);
  fake_mx::Rule refuse;
  refuse.name = "greeting";
  refuse.stage = fake_mx::Stage::connect;
  refuse.reply = std::move(reply);
  behaviour.rules.push_back(refuse);
  return behaviour;
}

constexpr std::uint32_t main_mx = 1, mx_a = 2, mx_b = 3, dead = 4, busy = 5, refusing = 6;

}  // namespace

std::vector<MxServer> mx_servers(const Options& options) {
  const std::string& domain = options.domain;
  std::vector<MxServer> servers;
  const auto add = [&](std::string node, std::string host, fake_mx::Behaviour behaviour, std::uint32_t offset) {
    behaviour.hostname = host;
    if (options.mode == Mode::dns) {
      behaviour.address = nth_address(options.mx_network, offset);
      behaviour.port = options.mx_port;
    } else {
      behaviour.address = options.listen.address;
      behaviour.port = options.listen.port;
    }
    servers.push_back(MxServer{std::move(node), std::move(host), std::move(behaviour)});
  };
  add("mx", "mx." + domain, main_behaviour(options), main_mx);
  if (options.mode != Mode::dns) return servers;
  add("mx-a", "mx-a." + domain, fake_mx::Behaviour{}, mx_a);
  add("mx-b", "mx-b." + domain, fake_mx::Behaviour{}, mx_b);
  add("busy", "busy." + domain,
      greeting_refusal("", smtp::Reply::make(421, "4.3.2", "Service not available, closing transmission channel")),
      busy);
  add("refusing", "refusing." + domain, greeting_refusal("", smtp::Reply::make(554, "5.7.1", "No SMTP service here")),
      refusing);
  return servers;
}

std::map<std::string, io::DnsRecords> dns_records(const Options& options) {
  const std::string& domain = options.domain;
  std::map<std::string, io::DnsRecords> records;
  const auto host = [&](const std::string& name, std::uint32_t offset) {
    records[name].addresses = std::vector<io::Address>{nth_address(options.mx_network, offset)};
  };
  const auto mx = [&](const std::string& name, std::vector<io::MxRecord> exchanges) {
    records[name].mx = std::move(exchanges);
  };
  host("mx." + domain, main_mx);
  host("mx-a." + domain, mx_a);
  host("mx-b." + domain, mx_b);
  host("dead." + domain, dead);
  host("busy." + domain, busy);
  host("refusing." + domain, refusing);
  for (const char* behaviour : {"accept", "reject", "tempfail", "greylist", "drop"}) {
    mx(std::string(behaviour) + "." + domain, {{10, "mx." + domain}});
  }
  mx("na1.bnc.salesforce.com", {{10, "mx." + domain}});  // bounces to the VERP address
  mx("mxorder." + domain, {{20, "mx-b." + domain}, {10, "mx-a." + domain}});
  mx("mxrefused." + domain, {{10, "dead." + domain}, {20, "mx-b." + domain}});
  mx("mx421." + domain, {{10, "busy." + domain}, {20, "mx-b." + domain}});
  mx("mx554." + domain, {{10, "refusing." + domain}, {20, "mx-b." + domain}});
  host("implicit." + domain, mx_b);
  mx("nullmx." + domain, {{0, "."}});
  // A null MX domain may have a web server: an address that a relay reading the null MX as "no
  // MX" (the implicit MX rule) would deliver to.
  records["nullmx." + domain].addresses = std::vector<io::Address>{nth_address(options.mx_network, mx_b)};
  for (auto& [name, record] : records) record.ttl_seconds = 60;
  return records;
}

std::map<std::string, io::DnsRecords> probe_dns_records(const Options& options) {
  std::map<std::string, io::DnsRecords> records;
  if (!options.relay_name.empty() && !io::Address::parse(options.relay_name)) {
    records[options.relay_name].addresses = {options.relay.address};
  }
  return records;
}

Duration run_bound(const Options& options) {
  return options.retry_window * 2 + options.settle + std::chrono::minutes(2);
}

Probe::Probe(io::Io& io, Options options, const fake_mx::MailStore& store, Done done)
    : io_(io), options_(std::move(options)), store_(store), done_(std::move(done)) {}

Probe::~Probe() = default;

void Probe::start() {
  io::Random random = io_.random_stream("conformance");
  const std::uint64_t value = random.next();
  token_ = to_hex(reinterpret_cast<const unsigned char*>(&value), 4);
  discover();
}

std::string Probe::status() const {
  if (finished_) return "finished";
  return std::to_string(running_) + " checks running";
}

void Probe::discover() {
  std::vector<Step> steps{greeting(), command("EHLO conformance.relaysim.test")};
  steps.push_back(starttls());
  steps.push_back(command("EHLO conformance.relaysim.test"));
  dialogue(std::move(steps), options_.tls_plain, std::nullopt, [this](const DialogueResult& result) {
    discovery_.session = result;
    const std::vector<Exchange>& exchanges = result.exchanges;
    if (!exchanges.empty() && !exchanges[0].replies.empty()) {
      const smtp::Reply& greeting = exchanges[0].replies.front();
      discovery_.reachable = true;
      if (!greeting.lines.empty())
        discovery_.greeting_host = greeting.lines.front().substr(0, greeting.lines.front().find(' '));
    }
    // The EHLO reply Salesforce acts on: the one after STARTTLS when TLS worked.
    const smtp::Reply* offered = nullptr;
    if (exchanges.size() > 1 && !exchanges[1].replies.empty() && exchanges[1].replies.back().code == 250) {
      offered = &exchanges[1].replies.back();
      discovery_.extensions = ehlo_extensions(*offered);
    }
    if (result.tls_established && exchanges.size() > 3 && !exchanges[3].replies.empty()) {
      offered = &exchanges[3].replies.back();
      discovery_.tls_extensions = ehlo_extensions(*offered);
    }
    if (offered != nullptr) {
      const std::optional<std::uint64_t> limit = smtp::parse_capabilities(*offered).size_max;
      if (limit && *limit > 0) discovery_.size_limit = limit;
    }
    if (!discovery_.reachable) {
      finished_ = true;
      Done done = std::move(done_);
      done({});
      return;
    }
    run_checks();
  });
}

void Probe::run_checks() {
  for (const Check& check : catalogue()) {
    if (selected(options_, check.id)) results_.push_back(CheckResult{&check, {}});
  }
  running_ = results_.size();
  if (running_ == 0) {
    finished_ = true;
    Done done = std::move(done_);
    done(results_);
    return;
  }
  for (std::size_t i = 0; i < results_.size(); ++i) {
    const Check& check = *results_[i].check;
    if (const std::string why = unmet(options_, check.needs); !why.empty()) {
      check_done(i, Outcome{Verdict::skipped, why, {}});
      continue;
    }
    auto called = std::make_shared<bool>(false);
    check.run(*this, check, [this, i, called](Outcome outcome) {
      if (*called) return;
      *called = true;
      check_done(i, std::move(outcome));
    });
  }
}

void Probe::check_done(std::size_t index, Outcome outcome) {
  results_[index].outcome = std::move(outcome);
  if (--running_ > 0) return;
  finished_ = true;
  conditions_.clear();
  timers_.clear();
  poll_timer_.cancel();
  Done done = std::move(done_);
  done(results_);
}

void Probe::dialogue(std::vector<Step> steps, const tls::Context* tls, std::optional<io::Address> source,
                     Dialogue::Done done) {
  DialogueOptions dialogue_options;
  dialogue_options.remote = options_.relay;
  dialogue_options.server_name = options_.relay_name;
  dialogue_options.tls = tls;
  dialogue_options.source = source;
  dialogue_options.reply_timeout = options_.reply_timeout;
  dialogues_.push_back(std::make_unique<Dialogue>(io_, std::move(dialogue_options), std::move(steps), std::move(done)));
  dialogues_.back()->start();
}

std::vector<const fake_mx::StoredMessage*> Probe::arrived(const Wanted& wanted) const {
  std::vector<const fake_mx::StoredMessage*> found;
  for (const fake_mx::StoredMessage& message : store_.messages()) {
    if (wanted(message)) found.push_back(&message);
  }
  return found;
}

void Probe::await_message(Wanted wanted, Duration within, std::function<void(const fake_mx::StoredMessage*)> done) {
  const auto first = [this, wanted = std::move(wanted)]() -> const fake_mx::StoredMessage* {
    for (const fake_mx::StoredMessage& message : store_.messages()) {
      if (wanted(message)) return &message;
    }
    return nullptr;
  };
  await([first] { return first() != nullptr; }, within, [first, done = std::move(done)](bool) { done(first()); });
}

void Probe::await(std::function<bool()> ready, Duration within, std::function<void(bool)> done) {
  conditions_.push_back(std::make_unique<Condition>(Condition{std::move(ready), io_.now() + within, std::move(done)}));
  if (!poll_timer_.armed()) poll_timer_ = io_.after(poll_interval, [this] { poll(); });
}

std::string Probe::relay_host_for_salesforce() const {
  return probe_dns_records(options_).empty() ? options_.relay.address.to_string() : options_.relay_name;
}

void Probe::salesforce_send(const Check& check, salesforce::TlsSetting setting, const std::string& rcpt,
                            std::function<void(const salesforce::OrgState& org)> done) {
  salesforce::OrgConfig config;
  config.org.name = "conformance";
  salesforce::EmailRelay relay;
  relay.name = "Relay under test";
  relay.host = relay_host_for_salesforce();
  relay.port = options_.relay.port;
  relay.tls = setting;
  relay.auth = options_.auth;
  config.org.relays.push_back(relay);
  salesforce::DomainFilter filter;
  filter.priority = 1;
  filter.relay = relay.name;
  config.org.filters.push_back(filter);
  const auto mailbox = [](const std::string& text) { return smtp::parse_address(text).value_or(smtp::Mailbox{}); };
  salesforce::Send send;
  send.at = io_.now();
  send.from = mailbox(options_.from);
  send.to = {mailbox(rcpt)};
  send.subject = "relaysim conformance check " + std::string(check.id);
  send.body = "This message tests a mail relay for the relaysim conformance check " + std::string(check.id) + ".";
  config.traffic.push_back(send);
  org_states_.push_back(std::make_unique<salesforce::OrgState>());
  salesforce::OrgState& state = *org_states_.back();
  orgs_.push_back(salesforce::make_org_node(io_, config, {options_.tls_plain, options_.tls_verify}, state));
  orgs_.back()->start();
  // The org's own timeouts end every attempt; the bound is a safety net.
  const Duration bound = options_.reply_timeout * 6 + std::chrono::minutes(1);
  await(
      [&state] {
        return std::any_of(state.log.begin(), state.log.end(), [](const salesforce::LogEntry& entry) {
          return salesforce::is_attempt(entry.event) || entry.event == salesforce::EmailLogEvent::refused;
        });
      },
      bound, [&state, done](bool) { done(state); });
}

void Probe::poll() {
  poll_timer_ = io::Pending();
  // Handlers may add conditions or finish the run: take the settled ones out first.
  std::vector<std::pair<std::unique_ptr<Condition>, bool>> met;
  for (auto it = conditions_.begin(); it != conditions_.end();) {
    const bool holds = (*it)->ready();
    if (holds || io_.now() >= (*it)->deadline) {
      met.emplace_back(std::move(*it), holds);
      it = conditions_.erase(it);
    } else {
      ++it;
    }
  }
  if (!conditions_.empty()) poll_timer_ = io_.after(poll_interval, [this] { poll(); });
  for (auto& [condition, holds] : met) {
    if (finished_) return;
    condition->done(holds);
  }
}

void Probe::after(Duration delay, std::function<void()> handler) {
  timers_.push_back(io_.after(delay, std::move(handler)));
}

std::string Probe::address(const Check& check, std::string_view behaviour, std::string_view suffix) const {
  return std::string(check.id) + std::string(suffix) + "." + token_ + "@" + std::string(behaviour) + "." +
         options_.domain;
}

std::string Probe::verp_sender(const Check& check) const {
  // Salesforce's bounce management: local=domain__token@<instance>.bnc.salesforce.com, the token
  // short (a local part holds 64 octets): the run's and the check's number in the catalogue.
  const std::size_t at = options_.from.rfind('@');
  const std::size_t number = static_cast<std::size_t>(&check - catalogue().data());
  return options_.from.substr(0, at) + "=" + options_.from.substr(at + 1) + "__" + token_ + "." +
         std::to_string(number) + "@na1.bnc.salesforce.com";
}

std::string Probe::message_id(const Check& check) const {
  return std::string(check.id) + "." + token_ + "@conformance.relaysim.test";
}

std::string Probe::message(const Check& check, std::string_view to, std::string_view body) const {
  std::string content = "From: " + options_.from + "\r\nTo: " + std::string(to) +
                        "\r\nSubject: relaysim conformance check " + std::string(check.id) +
                        "\r\nDate: " + format_rfc5322(io_.now()) + "\r\nMessage-ID: <" + message_id(check) +
                        ">\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";
  if (body.empty()) {
    content += "This message tests a mail relay for the relaysim conformance check " + std::string(check.id) +
               ".\r\nIt needs no action.\r\n";
  } else {
    content += body;
  }
  return content;
}

std::string Probe::auth_plain_command(const smtp::Credentials& credentials) const {
  return "AUTH PLAIN " + smtp::encode_base64(std::string(1, '\0') + credentials.user + '\0' + credentials.password);
}

std::vector<Step> Probe::authorised_session(bool use_tls) const {
  std::vector<Step> steps{greeting(), command("EHLO conformance.relaysim.test")};
  if (use_tls && discovery_.extensions.contains("STARTTLS")) {
    steps.push_back(starttls());
    steps.push_back(command("EHLO conformance.relaysim.test"));
  }
  if (options_.auth) steps.push_back(command(auth_plain_command(*options_.auth), 2));
  return steps;
}

}  // namespace relaysim::conformance
