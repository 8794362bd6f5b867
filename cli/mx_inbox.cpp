#include "cli/mx_inbox.hpp"

#include <algorithm>
#include <map>

#include "cli/reports.hpp"
#include "io/text.hpp"
#include "mailauth/message.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::cli {
namespace {

const char* const style =
    "<style>body{font-family:system-ui,sans-serif;margin:0;color:#24292f}header{background:#24292f;color:#fff;padding:."
    "6em 1.2em}"
    "header a{color:#fff;text-decoration:none;font-weight:bold}header "
    "span{color:#d0d7de;margin-left:1em;font-size:.9em}"
    "main{display:flex;gap:1.5em;padding:1em 1.2em}nav{min-width:14em}nav a{display:block;padding:.2em 0}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #d0d7de;padding:4px "
    "8px;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}th{white-space:nowrap}td.when{white-space:nowrap;font-family:ui-monospace,monospace;font-"
    "size:.9em}"
    "pre{background:#f6f8fa;border:1px solid "
    "#d0d7de;padding:.8em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em}"
    "form input[type=search]{width:20em;padding:.3em}.spam{color:#9a6700}.pass{color:#1a7f37}.fail{color:#cf222e}"
    "section{flex:1;min-width:0}</style>";

std::string url_encode(std::string_view text) {
  static const char* const hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == '@') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string page(std::string_view title, std::string_view status, const std::string& body, bool live) {
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + xml_escape(title) +
                     "</title>" + style + "</head><body>\n";
  html += "<header><a href=\"/\">relaysim mx</a><span>" + xml_escape(status) + "</span></header>\n" + body;
  // Live updates where JavaScript runs: reload the list when the server says a message came.
  if (live)
    html += "<script>new EventSource('/api/events').addEventListener('message', () => location.reload());</script>\n";
  return html + "</body></html>\n";
}

std::string recipients_of(const fake_mx::StoredMessage& message) {
  std::string out;
  for (const smtp::Recipient& recipient : message.recipients)
    out += (out.empty() ? "" : ", ") + recipient.mailbox.to_string();
  return out;
}

}  // namespace

bool message_matches(const fake_mx::StoredMessage& message, std::string_view query) {
  if (query.empty()) return true;
  const std::string needle = to_lower(query);
  const auto contains = [&](std::string_view text) { return to_lower(text).find(needle) != std::string::npos; };
  return contains(message.sender) || contains(recipients_of(message)) || contains(message.content);
}

std::string inbox_page(const fake_mx::MailStore& store, std::string_view mailbox, std::string_view query,
                       std::string_view status) {
  std::map<std::string, std::size_t> mailboxes;
  for (const fake_mx::StoredMessage& message : store.messages()) {
    for (const smtp::Recipient& recipient : message.recipients) mailboxes[to_lower(recipient.mailbox.to_string())] += 1;
  }
  std::string nav =
      "<nav><strong>Mailboxes</strong><a href=\"/\">all (" + std::to_string(store.messages().size()) + ")</a>";
  for (const auto& [address, count] : mailboxes) {
    nav += "<a href=\"/?mailbox=" + url_encode(address) + "\">" + xml_escape(address) + " (" + std::to_string(count) +
           ")</a>";
  }
  nav += "</nav>";
  std::string rows;
  std::size_t shown = 0;
  const std::string wanted = to_lower(mailbox);
  for (auto it = store.messages().rbegin(); it != store.messages().rend(); ++it) {
    const fake_mx::StoredMessage& message = *it;
    if (!wanted.empty() && to_lower(recipients_of(message)).find(wanted) == std::string::npos) continue;
    if (!message_matches(message, query)) continue;
    shown += 1;
    const std::string subject = smtp::header_value(message.content, "Subject");
    rows += "<tr><td class=\"when\">" + xml_escape(format_iso8601(message.received).substr(0, 19)) + "</td><td>" +
            xml_escape(message.sender.empty() ? "<>" : message.sender) + "</td><td>" +
            xml_escape(recipients_of(message)) + "</td><td><a href=\"/messages/" + std::to_string(message.number) +
            "\">" + xml_escape(subject.empty() ? "(no subject)" : subject) + "</a>" +
            (message.folder == "inbox" ? "" : " <span class=\"spam\">[" + xml_escape(message.folder) + "]</span>") +
            "</td><td>" + (message.tls.active ? "TLS" : "") + "</td></tr>";
  }
  std::string section = "<section><form method=\"get\" action=\"/\">";
  if (!mailbox.empty()) section += "<input type=\"hidden\" name=\"mailbox\" value=\"" + xml_escape(mailbox) + "\">";
  section += "<input type=\"search\" name=\"q\" value=\"" + xml_escape(query) +
             "\" placeholder=\"address, subject or text\"> <button>Search</button></form>";
  section += "<p>" + counted(shown, "message") + (mailbox.empty() ? "" : " to " + xml_escape(mailbox)) +
             (query.empty() ? "" : " matching \"" + xml_escape(query) + "\"") + ", newest first.</p>";
  section +=
      "<table id=\"messages\"><tr><th>received (UTC)</th><th>from</th><th>to</th><th>subject</th><th></th></tr>" +
      rows + "</table></section>";
  return page("relaysim mx: inbox", status, "<main>" + nav + section + "</main>\n", true);
}

std::string message_page(const fake_mx::StoredMessage& message) {
  const mailauth::ParsedMessage parsed = mailauth::parse_message(message.content);
  const std::string subject = mailauth::header_value(parsed, "Subject");
  std::string body = "<main><section><h1>" + xml_escape(subject.empty() ? "(no subject)" : subject) + "</h1>\n";
  const auto row = [](std::string_view name, const std::string& value) {
    return "<tr><th>" + std::string(name) + "</th><td>" + xml_escape(value) + "</td></tr>";
  };
  body += "<h2>Envelope</h2><table id=\"envelope\">";
  body += row("number", std::to_string(message.number));
  body += row("received", format_iso8601(message.received));
  body += row("client", message.client.to_string() + " (HELO " + message.helo + ")");
  body += row("MAIL FROM", message.sender.empty() ? "<>" : "<" + message.sender + ">");
  body += row("RCPT TO", recipients_of(message));
  body += row("folder", message.folder);
  body += row("size", std::to_string(message.content.size()) + " bytes");
  body += row("TLS", message.tls.active ? message.tls.version + ", " + message.tls.cipher : "none");
  if (message.parameters.smtputf8) body += row("SMTPUTF8", "yes");
  body += "</table>\n";
  if (!message.authentication_results.empty()) {
    const bool passed = message.authentication_results.find("dmarc=pass") != std::string::npos;
    body += "<h2>Authentication</h2><p class=\"" + std::string(passed ? "pass" : "fail") +
            "\">SPF, DKIM and DMARC: " + (passed ? "DMARC passed" : "DMARC did not pass") +
            "</p><pre id=\"authentication\">" + xml_escape(message.authentication_results) + "</pre>\n";
  }
  body += "<h2>Header fields</h2><table id=\"headers\">";
  for (const mailauth::HeaderField& field : parsed.fields)
    body += row(xml_escape(field.name), std::string(field.value()));
  body += "</table>\n<h2>Body</h2><pre id=\"body\">" + xml_escape(parsed.body) + "</pre>\n";
  body += "<h2>SMTP transcript</h2><pre id=\"transcript\">" + xml_escape(message.transcript) + "</pre>\n";
  body += "<p><a href=\"/api/messages/" + std::to_string(message.number) +
          "/raw\">the message as received</a> &middot; <a href=\"/api/messages/" + std::to_string(message.number) +
          "\">as JSON</a></p></section></main>\n";
  return page("relaysim mx: " + subject, "message " + std::to_string(message.number), body, false);
}

}  // namespace relaysim::cli
