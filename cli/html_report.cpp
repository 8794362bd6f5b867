// `relaysim run --report`: one self-contained HTML page per scenario, to read or put on a
// projector. The topology, the verdicts (a failed one links to the diagram it is about), a
// sequence diagram per recipient with every hop tried and the reply on each arrow, the SMTP
// dialogue of each session in which a fake MX took the recipient's message, the Salesforce email
// log, and the timeline of attempts and faults; times are offsets with the UTC clock.
// No scripts, no network fetches; it prints as it shows.

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "cli/reports.hpp"
#include "io/text.hpp"

namespace relaysim::cli {
namespace {

constexpr int lane_width = 240;
constexpr int lane_margin = 170;   // the time column
constexpr int label_margin = 320;  // room right of the last lane for its arrows' labels
constexpr int line_height = 14;
constexpr int header_height = 46;
constexpr double char_width = 6.7;  // 11px monospace

// Breaks text into lines of at most `columns` characters at spaces; a word longer than a line is
// cut into pieces. Nothing is dropped.
std::vector<std::string> wrap(std::string_view text, std::size_t columns) {
  std::vector<std::string> lines;
  std::string line;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t space = text.find(' ', at);
    std::string_view word = text.substr(at, space == std::string_view::npos ? std::string_view::npos : space - at);
    at = space == std::string_view::npos ? text.size() : space + 1;
    while (word.size() > columns) {
      if (!line.empty()) lines.push_back(std::exchange(line, {}));
      lines.emplace_back(word.substr(0, columns));
      word.remove_prefix(columns);
    }
    if (!line.empty() && line.size() + 1 + word.size() > columns) lines.push_back(std::exchange(line, {}));
    if (!line.empty()) line += ' ';
    line += word;
  }
  if (!line.empty() || lines.empty()) lines.push_back(line);
  return lines;
}

std::string anchor_of(std::string_view recipient) {
  std::string id = "to-";
  for (char c : recipient) id += std::isalnum(static_cast<unsigned char>(c)) != 0 ? c : '-';
  return id;
}

// One arrow of a sequence diagram: a hand-over from one node to another and how it ended.
struct Arrow {
  Instant at;
  std::string from;
  std::string to;
  std::string label;
  std::string outcome;  // delivered, transient, permanent, note, or failed: a check that went wrong here
};

// A failed expectation or invariant that names an instant: its row links to the diagram of the
// recipient it is about (if any) and to its row in the timeline, where the anchor is.
struct WentWrong {
  const scenario::Verdict* verdict;
  std::string kind;       // "expectation" or "invariant"
  std::string anchor;     // "went-wrong-1"
  std::string recipient;  // the recipient the verdict is about, or ""

  // How the diagram's mark and the timeline's row name it.
  std::string title() const { return "went wrong: " + kind + " \"" + verdict->name + "\""; }
};

// The recipient a verdict is about: "ann@dest.example: delivered, ..." names it first.
std::string subject_of(const scenario::Verdict& verdict, const std::set<std::string>& recipients) {
  const std::string subject = to_lower(verdict.name.substr(0, verdict.name.find(':')));
  return recipients.contains(subject) ? subject : std::string();
}

std::vector<WentWrong> went_wrong(const scenario::RunResult& result, const std::set<std::string>& recipients) {
  std::vector<WentWrong> out;
  for (const auto* list : {&result.expectations, &result.invariants}) {
    for (const scenario::Verdict& verdict : *list) {
      if (verdict.passed || !verdict.at) continue;
      out.push_back({&verdict, list == &result.expectations ? "expectation" : "invariant",
                     "went-wrong-" + std::to_string(out.size() + 1), subject_of(verdict, recipients)});
    }
  }
  return out;
}

// Each failed check that names an instant, drawn on its recipient's diagram as a mark at that
// instant, on the lane of the hop it follows.
void mark_went_wrong(std::vector<std::pair<std::string, std::vector<Arrow>>>& journeys,
                     const std::vector<WentWrong>& checks) {
  for (auto& [recipient, arrows] : journeys) {
    for (const WentWrong& check : checks) {
      if (check.recipient != recipient || arrows.empty()) continue;
      const Instant at = *check.verdict->at;
      const auto after =
          std::upper_bound(arrows.begin(), arrows.end(), at, [](Instant t, const Arrow& a) { return t < a.at; });
      const std::string lane = after == arrows.begin() ? arrows.front().from : std::prev(after)->to;
      arrows.insert(after, Arrow{at, lane, lane, check.title(), "failed"});
    }
  }
}

class Diagrams {
 public:
  Diagrams(const scenario::LoadedWorld& loaded, const scenario::RunObserver& observer)
      : loaded_(loaded), observer_(observer) {
    for (const auto& [node, host] : loaded.node_hosts) {
      for (const io::Address& address : loaded.host_addresses.at(host))
        nodes_by_address_.try_emplace(address.to_string(), node);
    }
  }

  // The node a server label such as "mx.dest.example[192.0.2.25]:25" points at.
  std::string node_of(const std::string& label) const {
    const std::size_t open = label.find('[');
    const std::size_t close = label.find(']');
    if (open == std::string::npos || close == std::string::npos) return "unreachable";
    const auto found = nodes_by_address_.find(label.substr(open + 1, close - open - 1));
    return found == nodes_by_address_.end() ? label.substr(0, open) : found->second;
  }

  // Recipients in the order they first appear, each with its arrows in time order.
  // Once per Diagrams: it gathers the arrows as it goes.
  std::vector<std::pair<std::string, std::vector<Arrow>>> build() {
    for (const auto& [name, org] : loaded_.orgs) add_org(name, *org);
    for (const scenario::RunObserver::StoredAtRelay& stored : observer_.stored) {
      if (stored.client.empty()) continue;
      for (const std::string& rcpt : stored.to) add_recipient(to_lower(rcpt));
    }
    add_relay_attempts();
    std::vector<std::pair<std::string, std::vector<Arrow>>> out;
    for (const std::string& rcpt : order_) {
      std::vector<Arrow>& list = arrows_[rcpt];
      std::stable_sort(list.begin(), list.end(), [](const Arrow& a, const Arrow& b) { return a.at < b.at; });
      out.emplace_back(rcpt, std::move(list));
    }
    return out;
  }

 private:
  void add_recipient(const std::string& rcpt) {
    if (arrows_.contains(rcpt)) return;
    order_.push_back(rcpt);
    arrows_[rcpt];
  }

  // Salesforce's side: its hand-overs (to a relay or, unmatched, straight to an MX) and the rows
  // of its email log that are not hand-overs (refused, bounced, given up).
  void add_org(const std::string& name, const salesforce::OrgState& org) {
    using salesforce::EmailLogEvent;
    for (const salesforce::LogEntry& entry : org.log) {
      const std::string rcpt = to_lower(entry.recipient);
      const std::string event(to_string(entry.event));
      if (entry.event == EmailLogEvent::accepted || entry.event == EmailLogEvent::refused) add_recipient(rcpt);
      if (!arrows_.contains(rcpt)) continue;
      if (entry.event == EmailLogEvent::delivered || entry.event == EmailLogEvent::transient_failure ||
          entry.event == EmailLogEvent::permanent_failure) {
        const std::string outcome = entry.event == EmailLogEvent::delivered           ? "delivered"
                                    : entry.event == EmailLogEvent::transient_failure ? "transient"
                                                                                      : "permanent";
        arrows_[rcpt].push_back({entry.at, name, entry.server == "none" ? "unreachable" : node_of(entry.server),
                                 event + (entry.tls ? " (TLS)" : "") + ": " + entry.detail, outcome});
      } else if (entry.event != EmailLogEvent::accepted) {
        arrows_[rcpt].push_back({entry.at, name, name, event + ": " + entry.detail,
                                 entry.event == EmailLogEvent::bounced ? "permanent" : "note"});
      }
    }
  }

  // The relays' side: every attempt with the reply that ended it, every server that failed on the
  // way (refused, timed out, reset, TLS failed) before the next was tried, and the delivery of
  // notices, drawn on the diagrams of the recipients they report on.
  void add_relay_attempts() {
    std::map<std::string, std::vector<std::string>> recipients_of;  // "node id" -> recipients
    for (const scenario::RunObserver::StoredAtRelay& stored : observer_.stored) {
      for (const std::string& rcpt : stored.to) recipients_of[stored.node + " " + stored.id].push_back(to_lower(rcpt));
    }
    std::map<std::string, std::string> original_of;  // notice "node id" -> the message it is about
    for (const scenario::RunObserver::RelayDsn& dsn : observer_.dsns)
      original_of[dsn.node + " " + dsn.dsn] = dsn.node + " " + dsn.id;
    std::map<std::string, Instant> settled;  // "node id rcpt" -> when it became final
    for (const scenario::RunObserver::RelayOutcome& outcome : observer_.outcomes) {
      if (outcome.final())
        settled.try_emplace(outcome.node + " " + outcome.id + " " + to_lower(outcome.rcpt), outcome.at);
      if (!outcome.attempted) continue;
      const std::string target = outcome.relay == "none" ? "unreachable" : node_of(outcome.relay);
      std::string label =
          std::string(relay::to_string(outcome.state)) + " " + outcome.status + (outcome.tls ? " (TLS)" : "");
      if (!outcome.reason.empty()) label += ": " + outcome.reason;
      const std::string kind(smtp::to_string(outcome.outcome));
      const std::string rcpt = to_lower(outcome.rcpt);
      if (arrows_.contains(rcpt)) arrows_[rcpt].push_back({outcome.at, outcome.node, target, label, kind});
      if (const auto original = original_of.find(outcome.node + " " + outcome.id); original != original_of.end()) {
        for (const std::string& about : recipients_of[original->second]) {
          if (arrows_.contains(about))
            arrows_[about].push_back(
                {outcome.at, outcome.node, target, "notice to " + outcome.rcpt + ": " + label, kind});
        }
      }
    }
    for (const scenario::RunObserver::HopFailure& failure : observer_.hop_failures) {
      const std::string label = "server failed at " + std::string(smtp::to_string(failure.stage)) + " (" +
                                failure.status + "): " + failure.reason +
                                (failure.next_hop ? "" : "; again without TLS");
      for (const std::string& rcpt : recipients_of[failure.node + " " + failure.id]) {
        const auto done = settled.find(failure.node + " " + failure.id + " " + rcpt);
        if (done != settled.end() && done->second < failure.at) continue;  // it was already delivered or bounced
        if (arrows_.contains(rcpt))
          arrows_[rcpt].push_back({failure.at, failure.node, node_of(failure.hop), label, "transient"});
      }
    }
  }

  const scenario::LoadedWorld& loaded_;
  const scenario::RunObserver& observer_;
  std::map<std::string, std::string> nodes_by_address_;
  std::vector<std::string> order_;
  std::map<std::string, std::vector<Arrow>> arrows_;
};

const char* colour_of(const std::string& outcome) {
  if (outcome == "delivered") return "#1a7f37";
  if (outcome == "transient") return "#9a6700";
  if (outcome == "permanent" || outcome == "failed") return "#cf222e";
  return "#57606a";
}

std::string svg_text(int x, int y, const std::string& css_class, const std::vector<std::string>& lines,
                     const std::string& fill = "") {
  std::string out = "<text x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) + "\" class=\"" + css_class +
                    "\"" + (fill.empty() ? "" : " fill=\"" + fill + "\"") + ">";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += "<tspan x=\"" + std::to_string(x) + "\" dy=\"" + (i == 0 ? "0" : std::to_string(line_height)) + "\">" +
           xml_escape(lines[i]) + "</tspan>";
  }
  return out + "</text>";
}

std::string sequence_svg(const std::vector<Arrow>& arrows, Instant start) {
  std::vector<std::string> lanes;
  for (const Arrow& arrow : arrows) {
    for (const std::string& lane : {arrow.from, arrow.to}) {
      if (std::find(lanes.begin(), lanes.end(), lane) == lanes.end()) lanes.push_back(lane);
    }
  }
  const auto x_of = [&](const std::string& lane) {
    return lane_margin + lane_width / 2 +
           lane_width * static_cast<int>(std::find(lanes.begin(), lanes.end(), lane) - lanes.begin());
  };
  const int width = lane_margin + lane_width * static_cast<int>(lanes.size()) + label_margin;
  // Each label wraps to the room between its arrow's left end and the diagram's right edge.
  std::vector<std::vector<std::string>> labels;
  int height = header_height;
  for (const Arrow& arrow : arrows) {
    const int label_x = std::min(x_of(arrow.from), x_of(arrow.to)) + 8;
    const auto columns = static_cast<std::size_t>((width - label_x - 12) / char_width);
    labels.push_back(wrap(arrow.label, columns));
    height += line_height * static_cast<int>(labels.back().size()) + 16;
  }
  height += 10;
  std::string svg = "<svg class=\"sequence\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) +
                    "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
                    std::to_string(height) + "\" role=\"img\">";
  for (const std::string& lane : lanes) {
    const int x = x_of(lane);
    svg += "<text x=\"" + std::to_string(x) + "\" y=\"20\" text-anchor=\"middle\" class=\"lane\">" + xml_escape(lane) +
           "</text>";
    svg += "<line x1=\"" + std::to_string(x) + "\" y1=\"28\" x2=\"" + std::to_string(x) + "\" y2=\"" +
           std::to_string(height - 10) + "\" stroke=\"#d0d7de\" stroke-width=\"2\"/>";
  }
  int top = header_height;
  for (std::size_t i = 0; i < arrows.size(); ++i) {
    const Arrow& arrow = arrows[i];
    const int text_top = top + 10;                                                  // the label's first line
    const int y = text_top + line_height * static_cast<int>(labels[i].size()) - 6;  // the arrow, under the label
    const int from = x_of(arrow.from);
    const int to = x_of(arrow.to);
    const std::string colour = colour_of(arrow.outcome);
    svg += "<g class=\"hop " + arrow.outcome + "\">";
    svg += svg_text(8, y + 4, "time", {offset_and_clock(arrow.at, start)});
    if (from == to) {
      svg += "<circle cx=\"" + std::to_string(from) + "\" cy=\"" + std::to_string(y) + "\" r=\"5\" fill=\"" + colour +
             "\"/>";
    } else {
      const int tip = to > from ? to - 6 : to + 6;
      svg += "<line x1=\"" + std::to_string(from) + "\" y1=\"" + std::to_string(y) + "\" x2=\"" + std::to_string(tip) +
             "\" y2=\"" + std::to_string(y) + "\" stroke=\"" + colour + "\" stroke-width=\"2\"" +
             (arrow.outcome == "delivered" ? "" : " stroke-dasharray=\"6 3\"") + "/>";
      svg += "<polygon points=\"" + std::to_string(to) + "," + std::to_string(y) + " " + std::to_string(tip) + "," +
             std::to_string(y - 5) + " " + std::to_string(tip) + "," + std::to_string(y + 5) + "\" fill=\"" + colour +
             "\"/>";
    }
    svg += svg_text(std::min(from, to) + 8, text_top, "label", labels[i], colour) + "</g>";
    top += line_height * static_cast<int>(labels[i].size()) + 16;
  }
  return svg + "</svg>";
}

// The world at a glance: who sends, through which relay record and TLS setting, to which MX.
std::string topology_svg(const scenario::LoadedWorld& loaded) {
  std::vector<std::string> senders, relays, receivers;
  for (const auto& [node, host] : loaded.node_hosts) {
    if (loaded.relay_configs.contains(node)) {
      relays.push_back(node);
    } else if (loaded.mail_stores.contains(node)) {
      receivers.push_back(node);
    } else {
      senders.push_back(node);
    }
  }
  constexpr int box_width = 250, box_height = 58, column_gap = 170, row_gap = 26;
  const std::vector<std::string>* columns[] = {&senders, &relays, &receivers};
  std::map<std::string, std::pair<int, int>> position;  // node -> its box's top left
  std::size_t rows = 1;
  for (int c = 0; c < 3; ++c) {
    rows = std::max(rows, columns[c]->size());
    for (std::size_t r = 0; r < columns[c]->size(); ++r) {
      position[(*columns[c])[r]] = {10 + c * (box_width + column_gap),
                                    34 + static_cast<int>(r) * (box_height + row_gap)};
    }
  }
  const int width = 20 + 3 * box_width + 2 * column_gap;
  const int height = 44 + static_cast<int>(rows) * (box_height + row_gap) + (loaded.orgs.empty() ? 0 : 44);
  std::string svg = "<svg class=\"topology\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) +
                    "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
                    std::to_string(height) + "\" role=\"img\">";
  const char* titles[] = {"senders", "relays", "receiving MX servers"};
  for (int c = 0; c < 3; ++c) {
    svg += svg_text(10 + c * (box_width + column_gap), 18, "lane", {titles[c]});
  }
  // An edge from one box's right side to another's left, its label wrapped above it.
  const auto edge = [&](const std::string& from, const std::string& to, const std::string& label, bool dashed) {
    const auto [fx, fy] = position.at(from);
    const auto [tx, ty] = position.at(to);
    const int x1 = fx + box_width, y1 = fy + box_height / 2, x2 = tx, y2 = ty + box_height / 2;
    svg += "<line x1=\"" + std::to_string(x1) + "\" y1=\"" + std::to_string(y1) + "\" x2=\"" + std::to_string(x2 - 6) +
           "\" y2=\"" + std::to_string(y2) + "\" stroke=\"#57606a\" stroke-width=\"1.5\"" +
           (dashed ? " stroke-dasharray=\"5 3\"" : "") + "/>";
    svg += "<polygon points=\"" + std::to_string(x2) + "," + std::to_string(y2) + " " + std::to_string(x2 - 7) + "," +
           std::to_string(y2 - 4) + " " + std::to_string(x2 - 7) + "," + std::to_string(y2 + 4) +
           "\" fill=\"#57606a\"/>";
    const std::vector<std::string> lines = wrap(label, static_cast<std::size_t>((column_gap - 12) / char_width));
    svg += svg_text(x1 + 6, std::min(y1, y2) - 6 - line_height * static_cast<int>(lines.size() - 1), "edge", lines);
  };
  for (const auto& [node, top_left] : position) {
    const auto [x, y] = top_left;
    const std::string& host = loaded.node_hosts.at(node);
    std::string addresses;
    for (const io::Address& address : loaded.host_addresses.at(host))
      addresses += (addresses.empty() ? "" : ", ") + address.to_string();
    std::string ports;
    if (const auto config = loaded.relay_configs.find(node); config != loaded.relay_configs.end()) {
      for (const relay::ListenerConfig& listener : config->second.listeners) {
        ports += (ports.empty() ? " port " : ", ") + std::to_string(listener.address.port) +
                 (listener.implicit_tls ? " (TLS)" : "");
      }
    }
    svg += "<rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) + "\" width=\"" +
           std::to_string(box_width) + "\" height=\"" + std::to_string(box_height) +
           "\" rx=\"6\" fill=\"#f6f8fa\" stroke=\"#8c959f\"/>";
    svg += svg_text(x + 8, y + 17, "node", {node});
    svg += svg_text(x + 8, y + 33, "host", wrap(host + ports, static_cast<std::size_t>((box_width - 16) / char_width)));
    svg += svg_text(x + 8, y + 49, "host", wrap(addresses, static_cast<std::size_t>((box_width - 16) / char_width)));
  }
  std::map<std::string, std::string> node_of_host;
  for (const auto& [node, host] : loaded.node_hosts) node_of_host[host] = node;
  for (const auto& [name, org] : loaded.org_setups) {
    for (const salesforce::EmailRelay& record : org.relays) {
      const auto target = node_of_host.find(record.host);
      if (target == node_of_host.end() || !position.contains(name)) continue;
      edge(name, target->second,
           "Email Relay " + record.name + ": port " + std::to_string(record.port) + ", " +
               std::string(salesforce::to_string(record.tls)) + (record.auth ? ", SMTP AUTH" : ""),
           false);
    }
  }
  // MX records: each receiving node with the domains that name its host.
  std::map<std::string, std::string> domains_of;
  for (const auto& [domain, records] : loaded.mx_records) {
    for (const io::MxRecord& mx : records) {
      if (const auto node = node_of_host.find(mx.exchange); node != node_of_host.end()) {
        domains_of[node->second] += (domains_of[node->second].empty() ? "" : ", ") + domain;
      }
    }
  }
  // Salesforce's own servers: what no filter sends to a relay goes from the org straight to the MX,
  // drawn as a dashed curve under the relays.
  const int bottom = height - 30;
  for (const auto& [org, state] : loaded.orgs) {
    if (!position.contains(org)) continue;
    for (const std::string& receiver : receivers) {
      const auto [ox, oy] = position.at(org);
      const auto [rx, ry] = position.at(receiver);
      const int x1 = ox + box_width / 2, y1 = oy + box_height, x2 = rx + box_width / 2, y2 = ry + box_height;
      svg += "<path d=\"M" + std::to_string(x1) + "," + std::to_string(y1) + " C" + std::to_string(x1) + "," +
             std::to_string(bottom) + " " + std::to_string(x2) + "," + std::to_string(bottom) + " " +
             std::to_string(x2) + "," + std::to_string(y2 + 7) +
             "\" fill=\"none\" stroke=\"#8c959f\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>";
      svg += "<polygon points=\"" + std::to_string(x2) + "," + std::to_string(y2) + " " + std::to_string(x2 - 4) + "," +
             std::to_string(y2 + 7) + " " + std::to_string(x2 + 4) + "," + std::to_string(y2 + 7) +
             "\" fill=\"#8c959f\"/>";
      svg += svg_text((x1 + x2) / 2 - 190, bottom + 8, "edge",
                      {"Salesforce's own servers: mail that no filter sends to a relay"});
    }
  }
  for (const std::string& receiver : receivers) {
    const std::string label = domains_of.contains(receiver) ? "MX for " + domains_of[receiver] : "delivers";
    for (const std::string& relay_node : relays) edge(relay_node, receiver, label, false);
    if (relays.empty()) {
      for (const std::string& sender : senders) edge(sender, receiver, label, false);
    }
  }
  return svg + "</svg>";
}

// A failed verdict links to its recipient's diagram and, when it names one, to the instant it went
// wrong in the timeline.
std::string verdict_rows(const std::vector<scenario::Verdict>& verdicts, const std::set<std::string>& recipients,
                         const std::vector<WentWrong>& checks, Instant start) {
  std::string rows;
  for (const scenario::Verdict& verdict : verdicts) {
    std::string links;
    if (!verdict.passed) {
      const std::string subject = subject_of(verdict, recipients);
      if (!subject.empty()) links += " <a href=\"#" + anchor_of(subject) + "\">diagram</a>";
      const auto check =
          std::find_if(checks.begin(), checks.end(), [&](const WentWrong& c) { return c.verdict == &verdict; });
      if (check != checks.end()) {
        links += "<br>went wrong at <a class=\"instant\" href=\"#" + check->anchor + "\">" +
                 offset_and_clock(*verdict.at, start) + "</a>";
      }
    }
    rows += std::string("<tr class=\"") + (verdict.passed ? "pass" : "fail") + "\"><td>" +
            (verdict.passed ? "ok" : "FAIL") + "</td><td>" + xml_escape(verdict.name) + links + "</td><td>" +
            xml_escape(verdict.message) + "</td></tr>";
  }
  return rows;
}

// One SMTP session of a run traced with --dialogue, as its client saw it (both ends trace it).
struct Session {
  std::uint64_t conn = 0;
  std::string client;  // the node that sent the commands
  std::string server;  // its peer, as the client saw it: "192.0.2.25:25"
  Instant start;
  std::string text;                  // "C: EHLO ..." and "S: 250 ..." lines
  std::set<std::string> recipients;  // named in its RCPT TO commands, lower case
};

std::vector<Session> dialogue_sessions(const scenario::RunObserver& observer) {
  std::vector<Session> sessions;
  std::map<std::uint64_t, std::size_t> by_conn;
  for (const scenario::RunObserver::DialogueLine& line : observer.dialogue) {
    // The client's own lines: its commands sent, the replies it received.
    if (line.from_client != line.sent) continue;
    auto [found, added] = by_conn.try_emplace(line.conn, sessions.size());
    if (added) sessions.push_back({line.conn, line.node, line.peer, line.at, "", {}});
    Session& session = sessions[found->second];
    if (session.client != line.node) continue;
    session.text += (line.from_client ? "C: " : "S: ") + line.line + "\n";
    const std::string command = line.from_client ? to_lower(line.line) : std::string();
    if (command.starts_with("rcpt to:<")) session.recipients.insert(command.substr(9, command.find('>') - 9));
  }
  return sessions;
}

std::string session_details(const Session& session, Instant start) {
  return "<details class=\"dialogue\"><summary>SMTP session " + std::to_string(session.conn) + ": " +
         xml_escape(session.client) + " to " + xml_escape(session.server) + " at " +
         offset_and_clock(session.start, start) + "</summary><pre>" + xml_escape(session.text) + "</pre></details>\n";
}

std::string email_log_table(const std::string& name, const salesforce::OrgState& org, Instant start) {
  std::string html = "<h3>" + xml_escape(name) +
                     "</h3>\n<table class=\"email-log\"><tr><th>time (UTC)</th><th>email</th><th>to</th><th>event</th>"
                     "<th>path</th><th>server</th><th>attempt</th><th>TLS</th><th>detail</th></tr>";
  for (const salesforce::LogEntry& entry : org.log) {
    html += "<tr><td class=\"time\">" + offset_and_clock(entry.at, start) + "</td><td>" + xml_escape(entry.email) +
            "</td><td>" + xml_escape(entry.recipient) + "</td><td>" + xml_escape(std::string(to_string(entry.event))) +
            "</td><td>" + xml_escape(entry.path) + "</td><td>" + xml_escape(entry.server) + "</td><td>" +
            std::to_string(entry.attempt) + "</td><td>" +
            (entry.tls ? (entry.tls_verified ? "verified" : "yes") : "no") + "</td><td>" + xml_escape(entry.detail) +
            "</td></tr>";
  }
  return html + "</table>\n";
}

}  // namespace

std::string html_index(const std::vector<RanFile>& files) {
  std::size_t passed = 0;
  std::string rows;
  for (const RanFile& file : files) {
    passed += file.status == 0 ? 1 : 0;
    const auto failed = [](const std::vector<scenario::Verdict>& verdicts) {
      return static_cast<std::size_t>(
          std::count_if(verdicts.begin(), verdicts.end(), [](const scenario::Verdict& v) { return !v.passed; }));
    };
    const char* verdict = file.status == 0 ? "PASSED" : file.status == 1 ? "FAILED" : "BAD INPUT";
    const std::string page = std::filesystem::path(file.report).filename().string();
    rows +=
        std::string("<tr class=\"") + (file.status == 0 ? "pass" : "fail") + "\"><td>" + verdict + "</td><td>" +
        (file.report.empty() ? xml_escape(file.name.empty() ? file.file : file.name)
                             : "<a href=\"" + xml_escape(page) + "\">" + xml_escape(file.name) + "</a>") +
        "</td><td><code>" + xml_escape(file.file) + "</code></td><td>" +
        (file.status == 2 ? xml_escape(file.mistakes.empty() ? std::string("bad input") : file.mistakes.front())
                          : counted(file.result.expectations.size() - failed(file.result.expectations), "expectation") +
                                " of " + std::to_string(file.result.expectations.size()) + " held, " +
                                counted(failed(file.result.invariants), "invariant") + " broken") +
        "</td></tr>";
  }
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>relaysim: " +
         counted(files.size(), "scenario") +
         "</title><style>body{font-family:system-ui,sans-serif;margin:2em;color:#24292f}table{border-collapse:collapse}"
         "td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}"
         "tr.pass td:first-child{color:#1a7f37;font-weight:bold;white-space:nowrap}tr.fail "
         "td:first-child{color:#cf222e;font-weight:bold;white-space:nowrap}"
         "</style></head><body>\n<h1>" +
         counted(files.size(), "scenario") + ", " + std::to_string(passed) +
         " passed</h1>\n"
         "<table id=\"scenarios\"><tr><th>verdict</th><th>scenario</th><th>file</th><th>checks</th></tr>" +
         rows + "</table>\n</body></html>\n";
}

std::string html_report(const scenario::LoadedWorld& loaded, const scenario::RunObserver& observer,
                        const scenario::RunResult& result, const std::string& digest) {
  Diagrams diagrams(loaded, observer);
  auto journeys = diagrams.build();
  std::set<std::string> recipients;
  for (const auto& [recipient, arrows] : journeys) recipients.insert(recipient);
  const std::vector<WentWrong> checks = went_wrong(result, recipients);
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + xml_escape(loaded.name) +
      "</title><style>"
      "body{font-family:system-ui,sans-serif;margin:2em;color:#24292f;max-width:100%}h1{font-size:1.4em}h2{font-size:1."
      "15em;margin-top:2em}"
      "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:4px "
      "8px;text-align:left;vertical-align:top;font-size:.9em;"
      "overflow-wrap:anywhere}"
      "td.time{white-space:nowrap;font-family:ui-monospace,monospace}"
      "tr.pass td:first-child,tr.fail td:first-child{white-space:nowrap}tr.pass "
      "td:first-child{color:#1a7f37;font-weight:bold}tr.fail td:first-child{color:#cf222e;font-weight:bold}"
      ".verdict{font-size:1.2em;font-weight:bold}.verdict.pass{color:#1a7f37}.verdict.fail{color:#cf222e}"
      "tr.went-wrong{background:#ffebe9}tr:target{outline:2px solid "
      "#cf222e}a.instant{font-family:ui-monospace,monospace;white-space:nowrap}"
      "svg{font-family:ui-monospace,monospace;font-size:11px;border:1px solid #d0d7de;background:#fff;max-width:none}"
      "svg .lane,svg .node{font-weight:bold;font-size:12px}svg .time,svg .host,svg "
      ".edge{fill:#57606a}code{font-size:.9em}"
      ".scroll{overflow-x:auto}pre{background:#f6f8fa;border:1px solid "
      "#d0d7de;padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere;"
      "font-size:.8em}details.dialogue{margin:.3em 0 1em}"
      "@media print{.scroll{overflow:visible}h3{break-after:avoid}svg{break-inside:avoid}}"
      "</style></head><body>\n";
  html += "<h1>" + xml_escape(loaded.name) + "</h1>\n";
  if (!loaded.description.empty()) html += "<p>" + xml_escape(loaded.description) + "</p>\n";
  html += std::string("<p class=\"verdict ") + (result.passed() ? "pass\">PASSED" : "fail\">FAILED") + "</p>\n";
  html += "<p>seed " + std::to_string(loaded.seed) + ", start " + xml_escape(format_iso8601(loaded.start)) +
          ", digest <code>" + xml_escape(digest) +
          "</code>. Times are offsets from the start with the UTC time of day.</p>\n";
  const scenario::RunStats& stats = result.stats;
  html += "<table id=\"stats\"><tr>";
  for (const scenario::NamedStat& stat : scenario::run_stat_names) html += "<th>" + std::string(stat.name) + "</th>";
  html += "</tr><tr>";
  for (const scenario::NamedStat& stat : scenario::run_stat_names)
    html += "<td>" + std::to_string(stats.*stat.value) + "</td>";
  html += "</tr></table>\n";
  html += "<h2>Topology</h2>\n<div class=\"scroll\">" + topology_svg(loaded) + "</div>\n";
  html += "<h2>Expectations</h2>\n<table id=\"expectations\">" +
          verdict_rows(result.expectations, recipients, checks, loaded.start) + "</table>\n";
  if (result.expectations.empty()) html += "<p>The scenario states no expectations.</p>\n";
  html += "<h2>Invariants</h2>\n<table id=\"invariants\">" +
          verdict_rows(result.invariants, recipients, checks, loaded.start) + "</table>\n";
  // The timeline rows are gathered before the marks go into the diagrams.
  struct Row {
    Instant at;
    std::string node;
    std::string what;
    std::string anchor;  // a failed check's row: the target of its "went wrong at" link
    bool operator==(const Row&) const = default;
  };
  std::vector<Row> rows;
  for (const scenario::RunObserver::Mark& mark : observer.marks)
    rows.push_back({mark.at, mark.node, mark.kind + (mark.detail.empty() ? "" : " " + mark.detail), ""});
  for (const auto& [recipient, arrows] : journeys) {
    for (const Arrow& arrow : arrows)
      rows.push_back({arrow.at, arrow.from, recipient + " -> " + arrow.to + ": " + arrow.label, ""});
  }
  for (const WentWrong& check : checks) {
    rows.push_back({*check.verdict->at, "check", check.title() + ": " + check.verdict->message, check.anchor});
  }
  mark_went_wrong(journeys, checks);
  html +=
      "<h2>Messages</h2>\n<p>Each recipient's journey: every hand-over and every server tried, with the reply that "
      "ended it. "
      "Solid: delivered; dashed: deferred or refused.</p>\n";
  // The SMTP dialogue of each session in which a fake MX took a message, by recipient.
  std::map<std::string, std::vector<std::pair<std::string, const fake_mx::StoredMessage*>>> dialogues;
  for (const auto& [mx, store] : loaded.mail_stores) {
    for (const fake_mx::StoredMessage& message : store->messages()) {
      for (const smtp::Recipient& recipient : message.recipients)
        dialogues[to_lower(recipient.mailbox.to_string())].emplace_back(mx, &message);
    }
  }
  // With --dialogue, every session of the run, and under each recipient those that named it.
  const std::vector<Session> sessions = dialogue_sessions(observer);
  for (const auto& [recipient, arrows] : journeys) {
    html += "<h3 id=\"" + anchor_of(recipient) + "\">" + xml_escape(recipient) + " (" + counted(arrows.size(), "step") +
            ")</h3>\n";
    html += arrows.empty() ? std::string("<p>No hand-over.</p>\n")
                           : "<div class=\"scroll\">" + sequence_svg(arrows, loaded.start) + "</div>\n";
    for (const auto& [mx, message] : dialogues[recipient]) {
      html += "<details class=\"dialogue\"><summary>SMTP dialogue at " + xml_escape(mx) + " for its message " +
              std::to_string(message->number) + ", from " + xml_escape(message->client.to_string()) + " at " +
              offset_and_clock(message->received, loaded.start) + "</summary><pre>" + xml_escape(message->transcript) +
              "</pre></details>\n";
    }
    for (const Session& session : sessions) {
      if (session.recipients.contains(recipient)) html += session_details(session, loaded.start);
    }
  }
  if (!sessions.empty()) {
    html +=
        "<h2>SMTP sessions</h2>\n<p>Every session of the run, as its client saw it (<code>--dialogue</code>), "
        "including those that "
        "ended before a recipient was named.</p>\n";
    for (const Session& session : sessions) html += session_details(session, loaded.start);
  }
  if (!loaded.orgs.empty()) {
    html += "<h2>Salesforce email log</h2>\n";
    for (const auto& [name, org] : loaded.orgs) html += email_log_table(name, *org, loaded.start);
  }
  html +=
      "<h2>Timeline of attempts and faults</h2>\n<table id=\"timeline\"><tr><th>time "
      "(UTC)</th><th>node</th><th>what</th></tr>";
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.at < b.at; });
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  for (const Row& row : rows) {
    html += (row.anchor.empty() ? std::string("<tr>") : "<tr id=\"" + row.anchor + "\" class=\"fail went-wrong\">") +
            "<td class=\"time\">" + offset_and_clock(row.at, loaded.start) + "</td><td>" + xml_escape(row.node) +
            "</td><td>" + xml_escape(row.what) + "</td></tr>";
  }
  html += "</table>\n</body></html>\n";
  return html;
}

}  // namespace relaysim::cli
