// relaysim import maillog: a Postfix relay's log turned into the world that produced it. Reading
// the log gives three things: the traffic (each queue id's client, sender, recipients and
// arrival), what each destination server did over time (the reply at each stage, refused or
// timed-out connections, dropped sessions, failed TLS, DNS failures), and how each recipient
// ended. The first becomes SMTP senders, the second fake MX servers with rules and faults in time
// windows, the third expectations.

#include "scenario/import.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

#include "io/address.hpp"
#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::scenario::import {
namespace {

using nlohmann::ordered_json;

// --- log lines

struct LogLine {
  std::size_t number = 0;
  Instant at;
  std::string host;    // the syslog host field
  std::string daemon;  // "smtp", "qmgr", ... (the part after "postfix/")
  std::string pid;
  std::string text;  // after "daemon[pid]: "
};

std::optional<unsigned> month_number(std::string_view name) {
  static constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::size_t i = 0; i < months.size(); ++i) {
    if (months[i] == name) return static_cast<unsigned>(i + 1);
  }
  return std::nullopt;
}

std::string two_digits(unsigned value) { return (value < 10 ? "0" : "") + std::to_string(value); }

// The timestamp at the start of `text`, consumed: RFC 3339 (rsyslog, journald's short-iso, with
// "+0000" or "+00:00") or the classic "Mar  2 09:00:00" with `year`.
std::optional<Instant> read_timestamp(std::string_view& text, unsigned year) {
  if (text.size() > 4 && text[4] == '-') {
    const std::size_t space = text.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    std::string stamp(text.substr(0, space));
    // "+0000" -> "+00:00"
    if (stamp.size() > 5 && (stamp[stamp.size() - 5] == '+' || stamp[stamp.size() - 5] == '-') &&
        stamp.find(':', stamp.size() - 5) == std::string::npos) {
      stamp.insert(stamp.size() - 2, ":");
    }
    text.remove_prefix(space + 1);
    return parse_iso8601(stamp);
  }
  if (text.size() < 16) return std::nullopt;
  const auto month = month_number(text.substr(0, 3));
  if (!month || text[3] != ' ') return std::nullopt;
  const std::string day(text.substr(4, 2));
  const std::string clock(text.substr(7, 8));
  const unsigned day_number = static_cast<unsigned>(std::atoi(day.c_str()));
  text.remove_prefix(16);
  return parse_iso8601(std::to_string(year) + "-" + two_digits(*month) + "-" + two_digits(day_number) + "T" + clock +
                       "Z");
}

// "host postfix/smtp[123]: text" (also "postfix-out/smtp", multi-instance Postfix).
std::optional<LogLine> read_line(std::string_view text, std::size_t number, unsigned& year,
                                 std::optional<Instant>& previous) {
  LogLine line;
  line.number = number;
  const auto at = read_timestamp(text, year);
  if (!at) return std::nullopt;
  line.at = *at;
  // A classic timestamp has no year: one that goes back by months is the next year.
  if (previous && line.at + days(180) < *previous) {
    ++year;
    line.at = line.at + days(365);
  }
  previous = line.at;
  const std::size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  line.host = std::string(text.substr(0, space));
  text.remove_prefix(space + 1);
  const std::size_t colon = text.find(": ");
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view program = text.substr(0, colon);
  line.text = std::string(text.substr(colon + 2));
  if (const std::size_t bracket = program.find('['); bracket != std::string_view::npos && program.ends_with(']')) {
    line.pid = std::string(program.substr(bracket + 1, program.size() - bracket - 2));
    program = program.substr(0, bracket);
  }
  const std::size_t slash = program.rfind('/');
  if (slash == std::string_view::npos || !program.substr(0, slash).starts_with("postfix")) {
    line.daemon.clear();  // another program
  } else {
    line.daemon = std::string(program.substr(slash + 1));
  }
  return line;
}

// A Postfix queue id at the start of `text` ("4ABC123DEF: ..." or a long id "4Qx9Lk2mN7z1: ..."),
// consumed with its ": ".
std::optional<std::string> read_queue_id(std::string_view& text) {
  const std::size_t colon = text.find(": ");
  if (colon == std::string_view::npos || colon < 5 || colon > 20) return std::nullopt;
  const std::string_view id = text.substr(0, colon);
  if (!std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
    return std::nullopt;
  if (id == "NOQUEUE" || id == "warning" || id == "fatal" || id == "panic" || id == "error") return std::nullopt;
  text.remove_prefix(colon + 2);
  return std::string(id);
}

// "key=value, key=value (rest)" fields of a delivery or qmgr line; the parenthesised text is "".
std::map<std::string, std::string> read_fields(std::string_view text, std::string& rest) {
  std::map<std::string, std::string> fields;
  while (!text.empty()) {
    if (text.front() == '(') {
      rest = std::string(text.substr(1, text.size() >= 2 && text.back() == ')' ? text.size() - 2 : text.size() - 1));
      break;
    }
    const std::size_t equals = text.find('=');
    if (equals == std::string_view::npos) break;
    const std::string key(text.substr(0, equals));
    text.remove_prefix(equals + 1);
    std::size_t end = 0;
    if (!text.empty() && text.front() == '<') {
      end = text.find('>');
      end = end == std::string_view::npos ? text.size() : end + 1;
    } else {
      end = std::min(text.find(", "), text.find(" ("));
      if (end == std::string_view::npos) end = text.size();
    }
    std::string value(text.substr(0, end));
    if (value.size() >= 2 && value.front() == '<' && value.back() == '>') value = value.substr(1, value.size() - 2);
    fields[key] = value;
    text.remove_prefix(end);
    if (text.starts_with(", ")) text.remove_prefix(2);
    if (text.starts_with(' ')) text.remove_prefix(1);
  }
  return fields;
}

// "name[address]" or "name[address]:port".
struct Server {
  std::string name;
  std::string address;
  std::uint16_t port = 25;
};
std::optional<Server> read_server(std::string_view text) {
  const std::size_t open = text.find('[');
  const std::size_t close = text.find(']', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos || open == 0) return std::nullopt;
  Server server{to_lower(text.substr(0, open)), std::string(text.substr(open + 1, close - open - 1)), 25};
  if (close + 1 < text.size() && text[close + 1] == ':') {
    unsigned port = 0;
    const std::string_view digits = text.substr(close + 2);
    std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (port > 0 && port < 65536) server.port = static_cast<std::uint16_t>(port);
  }
  if (!io::Address::parse(server.address)) return std::nullopt;
  return server;
}

// --- what a reason says about the server

// The stages of a session, in order; `delivered` is past the last one.
enum class Stage : std::uint8_t { connect, ehlo, starttls, mail, rcpt, data, end_of_data, delivered };
constexpr std::array<std::string_view, 7> stage_names{"connect", "ehlo", "starttls",   "mail",
                                                      "rcpt",    "data", "end_of_data"};

// Postfix's "(in reply to X command)" and "while X" texts.
std::optional<Stage> stage_of(std::string_view text) {
  static const std::vector<std::pair<std::string_view, Stage>> phrases{{"initial server greeting", Stage::connect},
                                                                       {"EHLO", Stage::ehlo},
                                                                       {"HELO", Stage::ehlo},
                                                                       {"STARTTLS", Stage::starttls},
                                                                       {"TLS handshake", Stage::starttls},
                                                                       {"MAIL FROM", Stage::mail},
                                                                       {"RCPT TO", Stage::rcpt},
                                                                       {"end of DATA", Stage::end_of_data},
                                                                       {"end of data", Stage::end_of_data},
                                                                       {"message body", Stage::end_of_data},
                                                                       {"DATA", Stage::data}};
  for (const auto& [phrase, stage] : phrases) {
    if (text.find(phrase) != std::string_view::npos) return stage;
  }
  return std::nullopt;
}

// What one attempt (or one server tried within it) met.
struct Met {
  enum class Kind : std::uint8_t { none, reply, refused, timed_out, lost, slow, tls_failed, dns_failed, null_mx, sent };
  Kind kind = Kind::none;
  std::optional<Server> server;
  Stage stage = Stage::connect;
  std::string reply;     // "450 4.7.1 ..."
  std::string dns_name;  // for dns_failed
  std::string dns_type;
  bool dns_temporary = false;
};

Met read_reason(std::string_view reason) {
  Met met;
  const auto server_after = [&](std::string_view marker) -> std::optional<Server> {
    const std::size_t at = reason.find(marker);
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view rest = reason.substr(at + marker.size());
    const std::size_t end = rest.find_first_of(" ,");
    return read_server(rest.substr(0, end == std::string_view::npos ? rest.size() : end));
  };
  if (reason.starts_with("delivery temporarily suspended: ")) return met;  // the queue manager's memory, not an attempt
  if (reason.starts_with("host ")) {
    met.server = server_after("host ");
    std::size_t said = reason.find(" said: ");
    std::size_t after = said == std::string_view::npos ? std::string_view::npos : said + 7;
    if (said == std::string_view::npos) {
      said = reason.find(" refused to talk to me: ");
      after = said == std::string_view::npos ? std::string_view::npos : said + 24;
      met.stage = Stage::connect;
    }
    if (after == std::string_view::npos) return met;
    std::string_view reply = reason.substr(after);
    if (const std::size_t in_reply = reply.rfind(" (in reply to "); in_reply != std::string_view::npos) {
      met.stage = stage_of(reply.substr(in_reply)).value_or(Stage::connect);
      reply = reply.substr(0, in_reply);
    }
    met.kind = Met::Kind::reply;
    met.reply = std::string(reply);
    return met;
  }
  if (reason.starts_with("connect to ")) {
    met.server = server_after("connect to ");
    met.kind = reason.find("timed out") != std::string_view::npos ? Met::Kind::timed_out : Met::Kind::refused;
    return met;
  }
  if (reason.starts_with("lost connection with ") || reason.starts_with("conversation with ")) {
    met.server = server_after(" with ");
    met.kind = reason.starts_with("lost") ? Met::Kind::lost : Met::Kind::slow;
    const std::size_t during = reason.find(" while ");
    met.stage =
        during == std::string_view::npos ? Stage::connect : stage_of(reason.substr(during)).value_or(Stage::connect);
    return met;
  }
  if (reason.find("Cannot start TLS") != std::string_view::npos || reason.starts_with("SSL_connect error to ") ||
      reason.find("TLS is required, but") != std::string_view::npos) {
    met.server = server_after(reason.starts_with("SSL_connect") ? "error to " : "host ");
    met.kind = Met::Kind::tls_failed;
    return met;
  }
  if (const std::size_t error = reason.find("Name service error for name="); error != std::string_view::npos) {
    std::string_view rest = reason.substr(error + 28);
    met.dns_name = to_lower(rest.substr(0, rest.find(' ')));
    if (const std::size_t type = rest.find("type="); type != std::string_view::npos) {
      met.dns_type = std::string(rest.substr(type + 5, rest.find(':', type) - type - 5));
    }
    met.dns_temporary = reason.find("try again") != std::string_view::npos;
    met.kind = Met::Kind::dns_failed;
    return met;
  }
  if (reason.find("nullMX") != std::string_view::npos ||
      reason.find("does not accept mail") != std::string_view::npos) {
    met.kind = Met::Kind::null_mx;
    return met;
  }
  if (reason.starts_with("250")) met.kind = Met::Kind::sent;
  return met;
}

// --- the traffic

struct Attempt {
  std::size_t line = 0;
  Instant at;
  std::string status;  // sent, deferred, bounced, expired
  std::string dsn;
  std::string reason;
  bool attempted = true;  // false: deferred without trying (a dead destination)
  Duration delay{};
};

struct Message {
  std::string id;
  std::optional<Instant> arrived;
  std::size_t first_line = 0;
  std::optional<Server> client;
  bool local = false;  // picked up from the local sendmail
  std::optional<std::string> sender;
  std::size_t size = 0;
  std::string message_id;
  bool notice = false;                  // a DSN Postfix wrote itself
  std::vector<std::string> recipients;  // in the order first seen
  std::map<std::string, std::vector<Attempt>> attempts;
};

// One thing a destination server did, with whom, when.
struct Observation {
  Instant at;
  Server server;
  Met met;
  Stage stage = Stage::delivered;  // how far the session got (delivered: a 250 at the end)
  std::string recipient;
  std::string sender;
};

struct Log {
  std::map<std::string, Message> messages;
  std::vector<std::string> order;  // queue ids in the order first seen
  std::vector<Observation> observations;
  struct DnsFailure {
    Instant at;
    std::string domain;
    Met met;
  };
  std::vector<DnsFailure> dns_failures;
  std::set<std::string> null_mx_domains;
  std::set<std::string> tls_deferred_domains;  // an attempt ended on a failed TLS handshake: no plaintext retry
  std::map<std::string, std::size_t> servers_of_domain_order;       // "domain host" -> first sighting
  std::vector<std::pair<std::string, std::string>> domain_servers;  // (domain, host) in the order first seen
  std::map<std::string, std::set<std::string>> server_addresses;
  std::map<std::string, std::uint16_t> server_ports;
  std::size_t rejected_by_relay = 0;  // NOQUEUE: reject
  std::size_t other_programs = 0;
  std::size_t other_hosts = 0;
  std::size_t outside_window = 0;
  std::vector<std::string> not_understood;  // "FILE:LINE: text"
  std::size_t read = 0;
  std::optional<Instant> first, last;

  Message& message(const std::string& id, const LogLine& line) {
    auto [found, added] = messages.try_emplace(id);
    if (added) {
      found->second.id = id;
      found->second.first_line = line.number;
      order.push_back(id);
    }
    return found->second;
  }
  void server_for(const std::string& domain, const Server& server) {
    if (domain.empty()) return;
    server_addresses[server.name].insert(server.address);
    server_ports[server.name] = server.port;
    const std::string key = domain + " " + server.name;
    if (servers_of_domain_order.try_emplace(key, domain_servers.size()).second)
      domain_servers.emplace_back(domain, server.name);
  }
};

// Lines that say nothing the world needs: connections to the relay, TLS notes, statistics.
bool is_known_noise(std::string_view text) {
  static constexpr std::array<std::string_view, 24> starts{"connect from ",
                                                           "disconnect from ",
                                                           "Anonymous TLS",
                                                           "Trusted TLS",
                                                           "Verified TLS",
                                                           "Untrusted TLS",
                                                           "statistics: ",
                                                           "daemon started",
                                                           "terminating on",
                                                           "reload ",
                                                           "lost connection after ",
                                                           "timeout after ",
                                                           "warning: ",
                                                           "setting up TLS",
                                                           "SSL_accept error",
                                                           "too many errors after ",
                                                           "improper command pipelining",
                                                           "TLS SNI",
                                                           "mail system is down",
                                                           "starting the Postfix",
                                                           "stopping the Postfix",
                                                           "refreshing the Postfix",
                                                           "waiting for the Postfix",
                                                           "the Postfix mail system is"};
  return std::any_of(starts.begin(), starts.end(), [&](std::string_view start) { return text.starts_with(start); });
}

class LogReader {
 public:
  LogReader(const MaillogOptions& options, Log& log) : options_(options), log_(log) {}

  void read(std::string_view text) {
    unsigned year = options_.year;
    std::optional<Instant> previous;
    std::size_t number = 0;
    std::map<std::string, std::size_t> hosts;  // syslog host -> Postfix lines
    std::vector<LogLine> lines;
    while (!text.empty()) {
      ++number;
      const std::size_t end = text.find('\n');
      std::string_view raw = text.substr(0, end);
      text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
      if (raw.ends_with('\r')) raw.remove_suffix(1);
      if (raw.empty()) continue;
      auto line = read_line(raw, number, year, previous);
      if (!line) {
        not_understood(number, raw);
        continue;
      }
      if (line->daemon.empty()) {
        ++log_.other_programs;
        continue;
      }
      ++hosts[line->host];
      lines.push_back(std::move(*line));
    }
    relay_host_ = options_.relay_host.value_or("");
    if (relay_host_.empty() && !hosts.empty()) {
      relay_host_ = std::max_element(hosts.begin(), hosts.end(), [](const auto& a, const auto& b) {
                      return a.second < b.second;
                    })->first;
    }
    for (const LogLine& line : lines) {
      if (line.host != relay_host_) {
        ++log_.other_hosts;
        continue;
      }
      if ((options_.since && line.at < *options_.since) || (options_.until && line.at >= *options_.until)) {
        ++log_.outside_window;
        continue;
      }
      // Syslog may write a line out of order: the log's span is its earliest and latest line.
      if (!log_.first || line.at < *log_.first) log_.first = line.at;
      if (!log_.last || line.at > *log_.last) log_.last = line.at;
      if (!understood(line)) not_understood(line.number, line.text);
    }
  }

  const std::string& relay_host() const { return relay_host_; }

 private:
  void not_understood(std::size_t number, std::string_view text) {
    log_.not_understood.push_back(options_.name + ":" + std::to_string(number) + ": " +
                                  std::string(text.substr(0, 160)));
  }

  bool understood(const LogLine& line) {
    std::string_view text = line.text;
    if (text.starts_with("NOQUEUE: reject: ")) {
      ++log_.rejected_by_relay;
      return ++log_.read, true;
    }
    if (text.starts_with("connect to ") || text.starts_with("SSL_connect error to ")) {
      // A server that failed before the final one; the next delivery line of this process names the recipient.
      pending_[line.pid].push_back({line.at, read_reason(text)});
      return ++log_.read, true;
    }
    if (is_known_noise(text)) return ++log_.read, true;
    const auto id = read_queue_id(text);
    if (!id) return false;
    Message& message = log_.message(*id, line);
    std::string rest;
    if (text.starts_with("client=")) {
      const std::size_t end = text.find(',');
      message.client = read_server(text.substr(7, end == std::string_view::npos ? std::string_view::npos : end - 7));
      message.arrived = line.at;
      return ++log_.read, true;
    }
    if (text.starts_with("uid=") && line.daemon == "pickup") {
      message.local = true;
      message.arrived = line.at;
      const auto fields = read_fields(text, rest);
      if (fields.contains("from")) message.sender = fields.at("from");
      return ++log_.read, true;
    }
    if (text.starts_with("message-id=")) {
      message.message_id = std::string(text.substr(11));
      return ++log_.read, true;
    }
    if (text.starts_with("sender non-delivery notification: ") || text.starts_with("sender delay notification: ") ||
        text.starts_with("sender delivery status notification: ") ||
        text.starts_with("postmaster non-delivery notification: ")) {
      const std::string notice = std::string(text.substr(text.rfind(' ') + 1));
      log_.message(notice, line).notice = true;
      return ++log_.read, true;
    }
    if (text == "removed" || text.starts_with("resent-message-id=") || text.starts_with("info: ") ||
        text.starts_with("reject: ") || text.starts_with("discard: ") || text.starts_with("hold: ") ||
        text.starts_with("filter: ") || text.starts_with("replace: ") || text.starts_with("warning: ") ||
        text.starts_with("enabling PIX") || text.starts_with("redirect: ") ||
        text.starts_with("skipped, still being delivered")) {
      if (text.starts_with("reject: ")) message.notice = true;  // cleanup refused it: never queued
      return ++log_.read, true;
    }
    if (text.starts_with("host ") || text.starts_with("lost connection with ") ||
        text.starts_with("conversation with ") || text.starts_with("Cannot start TLS") ||
        text.starts_with("SSL_connect error")) {
      pending_[line.pid].push_back({line.at, read_reason(text)});
      return ++log_.read, true;
    }
    if (text.starts_with("from=")) {
      const auto fields = read_fields(text, rest);
      message.sender = fields.at("from");
      if (fields.contains("size")) message.size = std::strtoull(fields.at("size").c_str(), nullptr, 10);
      if (fields.contains("status") && fields.at("status") == "expired") {
        for (const std::string& recipient : message.recipients) {
          auto& attempts = message.attempts[recipient];
          if (attempts.empty() || attempts.back().status == "deferred") {
            attempts.push_back({line.number, line.at, "expired", "4.4.7", "message expired", false, {}});
          }
        }
      }
      return ++log_.read, true;
    }
    if (text.starts_with("to=")) return delivery(line, message, text);
    return false;
  }

  bool delivery(const LogLine& line, Message& message, std::string_view text) {
    std::string reason;
    const auto fields = read_fields(text, reason);
    if (!fields.contains("to") || !fields.contains("status")) return false;
    const std::string recipient = fields.contains("orig_to") ? fields.at("orig_to") : fields.at("to");
    if (!message.attempts.contains(recipient)) message.recipients.push_back(recipient);
    Attempt attempt{line.number, line.at, fields.at("status"), fields.contains("dsn") ? fields.at("dsn") : "", reason,
                    true,        {}};
    if (fields.contains("delay"))
      attempt.delay =
          std::chrono::duration_cast<Duration>(std::chrono::duration<double>(std::atof(fields.at("delay").c_str())));
    const Met met = read_reason(reason);
    attempt.attempted =
        !(reason.starts_with("delivery temporarily suspended") || line.daemon == "qmgr" || line.daemon == "error");
    message.attempts[recipient].push_back(attempt);

    const std::string domain = checks::domain_of(recipient);
    const std::string sender = message.sender.value_or("");
    // The servers tried before the last one.
    for (const auto& [at, earlier] : pending_[line.pid]) observe(at, earlier, domain, recipient, sender);
    pending_.erase(line.pid);
    if (!attempt.attempted) return ++log_.read, true;
    Met final = met;
    if (!final.server && fields.contains("relay")) final.server = read_server(fields.at("relay"));
    if (attempt.status == "sent") final.kind = Met::Kind::sent;
    if (final.kind == Met::Kind::tls_failed) log_.tls_deferred_domains.insert(domain);
    observe(line.at, final, domain, recipient, sender);
    return ++log_.read, true;
  }

  void observe(Instant at, const Met& met, const std::string& domain, const std::string& recipient,
               const std::string& sender) {
    if (met.kind == Met::Kind::dns_failed) {
      log_.dns_failures.push_back({at, domain, met});
      return;
    }
    if (met.kind == Met::Kind::null_mx) {
      log_.null_mx_domains.insert(domain);
      return;
    }
    if (!met.server || met.kind == Met::Kind::none) return;
    log_.server_for(domain, *met.server);
    Stage reached = Stage::delivered;
    if (met.kind == Met::Kind::reply || met.kind == Met::Kind::lost || met.kind == Met::Kind::slow) reached = met.stage;
    if (met.kind == Met::Kind::refused || met.kind == Met::Kind::timed_out || met.kind == Met::Kind::tls_failed)
      reached = Stage::connect;
    log_.observations.push_back({at, *met.server, met, reached, recipient, sender});
  }

  const MaillogOptions& options_;
  Log& log_;
  std::string relay_host_;
  std::map<std::string, std::vector<std::pair<Instant, Met>>> pending_;  // per smtp process
};

// --- the world

Instant midpoint(Instant a, Instant b) { return a + (b - a) / 2; }

// A stretch of time in which a server behaved one way: from halfway since the last time it was
// seen behaving otherwise, to halfway to the next time (open at either end when there was none).
struct Window {
  std::optional<Instant> from, until;
};

// Splits `events` (time, what: "" when the server behaved normally) into runs of the same
// misbehaviour, each with its window: from halfway since the event before the run to halfway to
// the event after it.
std::vector<std::pair<std::string, Window>> runs_of(std::vector<std::pair<Instant, std::string>> events) {
  std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<std::string, Window>> runs;
  std::optional<Instant> previous;  // the event before this one
  std::string current;              // the run's misbehaviour; "" between runs
  Window window;
  Instant run_last;
  const auto close = [&](std::optional<Instant> next) {
    if (current.empty()) return;
    if (next) window.until = midpoint(run_last, *next);
    runs.emplace_back(current, window);
    current.clear();
  };
  for (const auto& [at, what] : events) {
    if (what != current) {
      close(at);
      if (!what.empty()) {
        current = what;
        window = Window{};
        if (previous) window.from = midpoint(*previous, at);
      }
    }
    run_last = at;
    previous = at;
  }
  close(std::nullopt);
  return runs;
}

void put_window(ordered_json& object, const Window& window) {
  if (window.from) object["from"] = format_iso8601(*window.from);
  if (window.until) object["until"] = format_iso8601(*window.until);
}

std::string describe(const Met& met) {
  switch (met.kind) {
    case Met::Kind::reply: return "reply " + met.reply;
    case Met::Kind::lost: return "lost";
    case Met::Kind::slow: return "slow";
    default: return "";
  }
}

class WorldWriter {
 public:
  WorldWriter(const Log& log, const MaillogOptions& options, Imported& out) : log_(log), options_(options), out_(out) {}

  void write(const std::string& relay_host, const std::optional<ordered_json>& relay_config);

 private:
  void senders(const std::string& relay_host);
  void servers();
  void connection_faults(const std::string& host, const std::vector<const Observation*>& seen);
  void dns();
  void expectations();

  const Log& log_;
  const MaillogOptions& options_;
  Imported& out_;
  ordered_json hosts_ = ordered_json::object();
  ordered_json dns_ = ordered_json::object();
  ordered_json nodes_ = ordered_json::object();
  ordered_json faults_ = ordered_json::array();
  ordered_json expect_ = ordered_json::array();
  bool relayhost_ = false;
  std::vector<std::string> routes_;  // transport_maps' recipient domains
  bool unfinished_ = false;
};

std::string subject_of(const Message& message) { return "Postfix queue id " + message.id; }

bool traffic(const Message& message) {
  return !message.notice && message.arrived && message.sender && !message.recipients.empty();
}

void WorldWriter::senders(const std::string& relay_host) {
  std::map<std::string, ordered_json> by_client;  // client address -> messages
  std::map<std::string, std::string> client_names;
  for (const std::string& id : log_.order) {
    const Message& message = log_.messages.at(id);
    if (!traffic(message)) continue;
    const std::string address = message.client ? message.client->address : "127.0.0.1";
    std::string name = message.client ? message.client->name : "localhost";
    if (name == "unknown") name = "client-" + address + ".invalid";
    std::replace(name.begin(), name.end(), ':', '-');
    client_names.try_emplace(address, name);
    ordered_json item{{"at", format_iso8601(*message.arrived)},
                      {"from", message.sender->empty() ? "<>" : *message.sender},
                      {"to", message.recipients},
                      {"subject", subject_of(message)}};
    if (message.size > 0)
      item["//"] = "Postfix's size " + std::to_string(message.size) + " bytes (the message sent here is shorter)";
    by_client[address].push_back(item);
  }
  for (const auto& [address, messages] : by_client) {
    const std::string& host = client_names.at(address);
    hosts_[host] = {{"addresses", {address}}};
    nodes_[host] = {
        {"host", host}, {"type", "smtp_sender"}, {"server", relay_host}, {"helo", host}, {"messages", messages}};
  }
}

// What a rule at `stage` matches on: the recipient from RCPT on, the sender at MAIL, nothing before.
const std::string& rule_key(Stage stage, const Observation& seen) {
  static const std::string none;
  return stage >= Stage::rcpt ? seen.recipient : stage == Stage::mail ? seen.sender : none;
}

void WorldWriter::servers() {
  std::map<std::string, std::vector<const Observation*>> by_server;
  for (const Observation& seen : log_.observations) by_server[seen.server.name].push_back(&seen);
  for (const auto& [host, addresses] : log_.server_addresses) {
    hosts_[host] = {{"addresses", ordered_json(std::vector<std::string>(addresses.begin(), addresses.end()))}};
    dns_[host] = {{"A", ordered_json(std::vector<std::string>(addresses.begin(), addresses.end()))}};
    const std::vector<const Observation*>& seen = by_server[host];
    connection_faults(host, seen);

    // Replies, drops and stalls: per stage, and per recipient (RCPT onwards) or sender (MAIL). A
    // stream is what one rule would match: its misbehaviours, and the sessions that got past it.
    std::map<std::pair<Stage, std::string>, std::vector<std::pair<Instant, std::string>>> streams;
    for (const Observation* failed : seen) {
      if (!describe(failed->met).empty()) streams[{failed->stage, rule_key(failed->stage, *failed)}];
    }
    for (const Observation* other : seen) {
      for (std::size_t reached = 0; reached <= static_cast<std::size_t>(std::min(other->stage, Stage::end_of_data));
           ++reached) {
        const auto stage = static_cast<Stage>(reached);
        const auto stream = streams.find({stage, rule_key(stage, *other)});
        if (stream == streams.end()) continue;
        stream->second.emplace_back(other->at, other->stage == stage ? describe(other->met) : "");
      }
    }
    ordered_json rules = ordered_json::array();
    for (const auto& [stream, events] : streams) {
      const auto& [stage, key] = stream;
      for (const auto& [what, window] : runs_of(events)) {
        ordered_json rule{{"stage", std::string(stage_names[static_cast<std::size_t>(stage)])}};
        ordered_json match = ordered_json::object();
        if (stage == Stage::mail) match["sender"] = key.empty() ? "<>" : key;
        if (stage >= Stage::rcpt) match["recipient"] = key;
        put_window(match, window);
        if (!match.empty()) rule["match"] = match;
        if (what.starts_with("reply ")) {
          rule["reply"] = what.substr(6);
        } else if (what == "lost") {
          rule["drop"] = true;
        } else {
          rule["delay"] = "1h";
          rule["//"] = "Postfix timed out here; the relay's own timeout decides when it gives up";
        }
        rules.push_back(rule);
      }
    }
    ordered_json behaviour{{"hostname", host}};
    if (log_.server_ports.at(host) != 25) behaviour["port"] = log_.server_ports.at(host);
    if (!rules.empty()) behaviour["rules"] = rules;
    nodes_[host] = {{"host", host}, {"type", "fake_mx"}, {"behaviour", behaviour}};
  }
}

// Refused and timed-out connections and failed TLS handshakes, as network faults in windows.
void WorldWriter::connection_faults(const std::string& host, const std::vector<const Observation*>& seen) {
  std::vector<std::pair<Instant, std::string>> events;
  for (const Observation* observed : seen) {
    switch (observed->met.kind) {
      case Met::Kind::refused: events.emplace_back(observed->at, "refuse"); break;
      case Met::Kind::timed_out: events.emplace_back(observed->at, "black_hole"); break;
      case Met::Kind::tls_failed: events.emplace_back(observed->at, "tls"); break;
      default: events.emplace_back(observed->at, ""); break;
    }
  }
  for (const auto& [kind, window] : runs_of(events)) {
    ordered_json fault{{"kind", kind},
                       {"name", host + (kind == "refuse" ? " refused connections"
                                        : kind == "tls"  ? " failed TLS"
                                                         : " did not answer")},
                       {"destination", host}};
    put_window(fault, window);
    faults_.push_back(fault);
  }
}

void WorldWriter::dns() {
  // The domains' MX records: the servers used for each, most preferred first as Postfix tried them.
  std::map<std::string, std::vector<std::string>> exchanges;
  std::vector<std::string> domains;
  for (const auto& [domain, host] : log_.domain_servers) {
    if (!exchanges.contains(domain)) domains.push_back(domain);
    exchanges[domain].push_back(host);
  }
  // A domain that relayhost or a transport route sends elsewhere: Postfix never looked its MX up.
  for (const std::string& domain : domains) {
    if (relayhost_ || smtp::any_domain_matches(routes_, domain)) continue;
    ordered_json records = ordered_json::array();
    int preference = 10;
    for (const std::string& host : exchanges[domain]) {
      if (host == domain) continue;  // the domain's own A record: implicit MX
      records.push_back({preference, host});
      preference += 10;
    }
    if (!records.empty()) dns_[domain]["MX"] = records;
  }
  for (const std::string& domain : log_.null_mx_domains) dns_[domain] = {{"MX", {{0, "."}}}};

  // DNS failures: temporary ones in windows, against the times the domain's servers were reached.
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<Instant, std::string>>> streams;  // (name, type)
  for (const auto& failure : log_.dns_failures) {
    const std::string error = failure.met.dns_temporary ? "servfail" : "nxdomain";
    streams[{failure.met.dns_name, failure.met.dns_type}].emplace_back(failure.at, error);
  }
  // A name answered when a server of its domain, or the server of that name, was reached.
  std::map<std::string, std::vector<std::vector<std::pair<Instant, std::string>>*>> streams_of_name;
  for (auto& [name_type, events] : streams) streams_of_name[name_type.first].push_back(&events);
  for (const Observation& seen : log_.observations) {
    const auto answered = [&](const std::string& name) {
      const auto found = streams_of_name.find(name);
      if (found == streams_of_name.end()) return;
      for (auto* events : found->second) events->emplace_back(seen.at, "");
    };
    const std::string domain = checks::domain_of(seen.recipient);
    answered(domain);
    if (seen.server.name != domain) answered(seen.server.name);
  }
  for (auto& [name_type, events] : streams) {
    const auto& [name, type] = name_type;
    for (const auto& [error, window] : runs_of(events)) {
      // A name that does not exist for the whole log is simply left out of the DNS.
      if (error == "nxdomain" && !window.from && !window.until && !dns_.contains(name)) continue;
      ordered_json fault{{"kind", "dns"}, {"name", name}};
      if (!type.empty()) fault["type"] = type;
      fault["error"] = error;
      put_window(fault, window);
      faults_.push_back(fault);
    }
  }
}

void WorldWriter::expectations() {
  for (const std::string& id : log_.order) {
    const Message& message = log_.messages.at(id);
    if (!traffic(message)) continue;
    for (const std::string& recipient : message.recipients) {
      const std::vector<Attempt>& attempts = message.attempts.at(recipient);
      const auto tried = static_cast<int>(
          std::count_if(attempts.begin(), attempts.end(), [](const Attempt& a) { return a.attempted; }));
      const Attempt& last = attempts.back();
      ordered_json expectation{{"to", recipient}, {"subject_is", subject_of(message)}};
      if (last.status == "sent") {
        expectation["delivered"] = true;
      } else if (last.status == "bounced" || last.status == "expired") {
        expectation["bounced"] = last.dsn.empty() ? "5" : last.dsn;
      } else {
        expectation["deferred_at"] = format_iso8601(last.at + 1s);
        unfinished_ = true;
      }
      // One either side: the log's timestamps have a second's resolution, and Postfix's queue manager
      // scans its queue every queue_run_delay where relaysim's relay retries each message on time, so
      // an attempt can land on the other side of the moment a server changed. An end needs an attempt.
      const int least = std::max(tried - 1, last.status == "deferred" || last.status == "expired" ? 0 : 1);
      expectation["attempts"] = {{"min", least}, {"max", tried + 1}};
      std::string note =
          "Postfix: " + relaysim::counted(static_cast<std::uint64_t>(tried), "attempt") + ", " + last.status;
      if (!last.dsn.empty()) note += " " + last.dsn;
      if (last.status == "sent")
        note += " after " + format_duration(std::chrono::duration_cast<std::chrono::seconds>(last.delay));
      note += " (" + options_.name + ":" + std::to_string(last.line) + ")";
      expectation["//"] = note;
      expect_.push_back(expectation);
    }
  }
}

void WorldWriter::write(const std::string& relay_host, const std::optional<ordered_json>& relay_config) {
  ordered_json config = relay_config.value_or(ordered_json::object());
  relayhost_ = config.contains("relayhost");
  if (config.contains("transport_maps")) {
    for (const auto& route : config["transport_maps"]) routes_.push_back(route.value("recipient_domain", ""));
  }
  if (!config.contains("myhostname")) config["myhostname"] = relay_host;
  if (!relay_config) {
    std::set<std::string> clients;
    for (const auto& [id, message] : log_.messages) {
      // Addresses, not networks: --anonymize renames an address the same way wherever it is, and keeps networks as they are.
      if (traffic(message)) clients.insert(message.client ? message.client->address : "127.0.0.1");
    }
    config["mynetworks"] = std::vector<std::string>(clients.begin(), clients.end());
  }
  // At `may` a failed handshake is retried in plaintext, in Postfix and in relaysim; an attempt that
  // ended on one means the destination's level was encrypt or higher.
  const std::string level = config.value("smtp_tls_security_level", "may");
  if (level != "encrypt" && level != "verify") {
    for (const std::string& domain : log_.tls_deferred_domains) {
      if (config.contains("smtp_tls_policy_maps") && config["smtp_tls_policy_maps"].contains(domain)) continue;
      config["smtp_tls_policy_maps"][domain] = "encrypt";
      out_.warnings.push_back(options_.name + ": deliveries to " + domain +
                              " were deferred on a failed TLS handshake, which Postfix retries in "
                              "plaintext at level may: its TLS policy is taken to be encrypt");
    }
  }
  const std::string relay_name = config["myhostname"].get<std::string>();
  hosts_[relay_name] = {{"addresses", {"198.51.100.10"}}};
  dns_[relay_name] = {{"A", {"198.51.100.10"}}};
  ordered_json relay{{"host", relay_name}, {"type", "relay"}, {"config", config}};
  if (!relay_config)
    relay["//"] =
        "Postfix's defaults, and mynetworks holding every client that handed mail over: give --main-cf for the relay's "
        "own settings";
  nodes_["relay"] = relay;
  senders(relay_name);
  servers();
  dns();
  expectations();

  ordered_json& scenario = out_.scenario;
  scenario["name"] = "Imported from " + options_.name;
  scenario["description"] =
      "What Postfix on " + relay_host + " logged from " + format_iso8601(*log_.first) + " to " +
      format_iso8601(*log_.last) +
      ": its clients' messages, what each destination server did when, and how each recipient ended.";
  scenario["//"] =
      "Written by relaysim import maillog. The servers' rules and faults hold from halfway since the last time the "
      "server was seen behaving "
      "otherwise to halfway to the next; the relay's address is a placeholder; times are read as UTC; messages carry "
      "their queue id as the "
      "subject.";
  scenario["seed"] = 1;
  scenario["start"] = format_iso8601(Instant::from_unix_seconds(log_.first->unix_seconds() / 60 * 60));
  if (unfinished_) scenario["until"] = format_iso8601(*log_.last + 1min);
  scenario["hosts"] = hosts_;
  scenario["dns"] = dns_;
  scenario["nodes"] = nodes_;
  if (!faults_.empty()) scenario["faults"] = faults_;
  scenario["expect"] = expect_;
}

}  // namespace

Imported import_maillog(std::string_view text, const MaillogOptions& options, const std::optional<Imported>& relay) {
  Log log;
  LogReader reader(options, log);
  reader.read(text);
  Imported out;
  std::vector<std::string>& warnings = out.warnings;
  if (relay) warnings = relay->warnings;
  const auto say = [&](std::size_t count, const std::string& what) {
    if (count > 0) warnings.push_back(options.name + ": " + relaysim::counted(count, "line") + " " + what);
  };
  say(log.other_programs, "from programs other than Postfix: skipped");
  say(log.other_hosts, "from hosts other than " + reader.relay_host() + ": skipped (--relay-host chooses)");
  say(log.outside_window, "outside --since/--until: skipped");
  say(log.rejected_by_relay,
      "where the relay refused a client (NOQUEUE: reject): not replayed, since nothing was queued");
  if (!log.not_understood.empty()) {
    warnings.push_back(options.name + ": " + relaysim::counted(log.not_understood.size(), "line") +
                       " not understood, skipped:");
    for (std::size_t i = 0; i < std::min<std::size_t>(log.not_understood.size(), 10); ++i)
      warnings.push_back("  " + log.not_understood[i]);
    if (log.not_understood.size() > 10)
      warnings.push_back("  ... and " + std::to_string(log.not_understood.size() - 10) + " more");
  }
  std::size_t before = 0, notices = 0, usable = 0;
  for (const auto& [id, message] : log.messages) {
    if (message.notice) {
      ++notices;
    } else if (traffic(message)) {
      ++usable;
    } else if (!message.recipients.empty()) {
      ++before;
    }
  }
  if (before > 0) {
    warnings.push_back(options.name + ": " + relaysim::counted(before, "message") +
                       " arrived before the log starts (no client= or pickup line): their deliveries shape the "
                       "servers, but they are not sent again");
  }
  if (notices > 0)
    warnings.push_back(options.name + ": " + relaysim::counted(notices, "notice") +
                       " Postfix wrote itself: the relay writes its own");
  if (usable == 0) {
    std::string message = options.name +
                          ": no message that arrived and was delivered, deferred or bounced within the log (" +
                          relaysim::counted(log.read, "Postfix line") + " read)";
    for (const std::string& warning : warnings) message += "\n" + warning;
    throw ImportError(message);
  }
  const std::optional<ordered_json> relay_config =
      relay ? std::optional<ordered_json>(relay->scenario.at("nodes").at("relay").at("config")) : std::nullopt;
  WorldWriter(log, options, out).write(reader.relay_host(), relay_config);
  return out;
}

}  // namespace relaysim::scenario::import
