#include "conformance/checks.hpp"

#include <algorithm>

#include "conformance/probe.hpp"
#include "io/text.hpp"
#include "mailauth/dkim.hpp"
#include "mailauth/lookups.hpp"
#include "smtp/client_session.hpp"
#include "smtp/dsn.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::conformance {
namespace {

using fake_mx::StoredMessage;

constexpr std::size_t evidence_lines = 14;
constexpr int certificate_days_min = 14;  // a certificate closer to its end than this fails: renew it

Outcome pass(std::string detail, std::string evidence = {}) {
  return {Verdict::pass, std::move(detail), std::move(evidence)};
}
Outcome fail(std::string detail, std::string evidence = {}) {
  return {Verdict::fail, std::move(detail), std::move(evidence)};
}
Outcome info(std::string detail, std::string evidence = {}) {
  return {Verdict::info, std::move(detail), std::move(evidence)};
}
Outcome skipped(std::string detail) { return {Verdict::skipped, std::move(detail), {}}; }

std::string evidence(const DialogueResult& result) { return result.transcript(evidence_lines); }

bool addressed_to(const StoredMessage& message, std::string_view address) {
  return std::any_of(message.recipients.begin(), message.recipients.end(), [&](const smtp::Recipient& recipient) {
    return equals_ignoring_case(recipient.mailbox.to_string(), address);
  });
}

Probe::Wanted to(std::string address) {
  return [address = std::move(address)](const StoredMessage& message) { return addressed_to(message, address); };
}

std::string arrival_evidence(const StoredMessage& message) {
  std::string out = "arrived at the harness's MX: from <" + message.sender + "> to";
  for (const smtp::Recipient& recipient : message.recipients) out += " <" + recipient.mailbox.to_string() + ">";
  out += ", " + std::to_string(message.content.size()) + " bytes" + (message.tls.active ? ", over TLS" : "") + "\n";
  return out;
}

// The extensions the relay offers where Salesforce uses them: after STARTTLS when TLS worked.
const std::map<std::string, std::string>& offered(const Probe& probe) {
  const Discovery& discovery = probe.discovery();
  return discovery.tls_extensions.empty() ? discovery.extensions : discovery.tls_extensions;
}

// MAIL, RCPT for each recipient, DATA and the message: appended to a session's steps.
void add_transaction(std::vector<Step>& steps, const std::string& mail, const std::vector<std::string>& rcpts,
                     std::string wire) {
  steps.push_back(command(mail, 2));
  for (std::size_t i = 0; i < rcpts.size(); ++i) steps.push_back(command(rcpts[i], i == 0 ? 2 : 0));
  steps.push_back(command("DATA", 0));
  steps.push_back(raw(std::move(wire), 1, 354));
}

std::string mail_from(const std::string& sender, std::string_view parameters = {}) {
  return "MAIL FROM:<" + sender + ">" + (parameters.empty() ? "" : " " + std::string(parameters));
}
std::string rcpt_to(const std::string& recipient, std::string_view parameters = {}) {
  return "RCPT TO:<" + recipient + ">" + (parameters.empty() ? "" : " " + std::string(parameters));
}

// The reply to the message itself (after DATA's 354), or null when the script ended before it.
const smtp::Reply* end_of_data_reply(const DialogueResult& result) {
  for (const Exchange& exchange : result.exchanges) {
    if (exchange.sent.ends_with("\r\n.\r\n") && !exchange.replies.empty()) return &exchange.replies.front();
  }
  return nullptr;
}

// Hands one message to the relay in `steps`' session and waits for it at the harness's MX:
// `judge` gets the session and the message as it arrived (null: refused, or not handed on in time).
using Judge = std::function<void(const DialogueResult& result, const StoredMessage* arrived)>;
void hand_over(Probe& probe, std::vector<Step> steps, const tls::Context* tls, const std::string& sender,
               const std::vector<std::string>& rcpts, std::string wire, const std::string& watched, Judge judge) {
  add_transaction(
      steps, mail_from(sender),
      [&] {
        std::vector<std::string> commands;
        for (const std::string& rcpt : rcpts) commands.push_back(rcpt_to(rcpt));
        return commands;
      }(),
      std::move(wire));
  probe.dialogue(std::move(steps), tls, std::nullopt, [&probe, watched, judge](const DialogueResult& result) {
    const smtp::Reply* reply = end_of_data_reply(result);
    if (reply == nullptr || !reply->positive()) return judge(result, nullptr);
    probe.await_message(to(watched), probe.options().retry_window,
                        [result, judge](const StoredMessage* arrived) { judge(result, arrived); });
  });
}

// The common case: Salesforce's session (TLS when offered, AUTH when given), one message to `rcpt`.
void send_one(Probe& probe, const Check& check, const std::string& rcpt, std::string content, Judge judge) {
  hand_over(probe, probe.authorised_session(), probe.options().tls_plain, probe.verp_sender(check), {rcpt},
            smtp::dot_stuff(content), rcpt, std::move(judge));
}

std::string refused_or_lost(const DialogueResult& result) {
  if (const smtp::Reply* reply = end_of_data_reply(result)) {
    if (!reply->positive()) return "the relay refused the message: " + reply->text();
    return "the relay took the message but did not hand it on within the retry window";
  }
  const std::vector<const smtp::Reply*> replies = result.replies();
  std::string why = result.error.empty() ? "the session ended before the message was sent" : result.error;
  if (!replies.empty()) why += "; last reply: " + replies.back()->text();
  return why;
}

// --- the relay's greeting and EHLO

void check_greeting(Probe& probe, const Check&, Finish finish) {
  const DialogueResult& session = probe.discovery().session;
  const smtp::Reply& greeting = session.exchanges.front().replies.front();
  if (greeting.code == 220) return finish(pass(greeting.text(), evidence(session)));
  finish(fail("the greeting is not 220: " + greeting.text(), evidence(session)));
}

void extension(Probe& probe, Finish finish, const std::string& keyword, std::string_view missing) {
  const auto& extensions = offered(probe);
  const std::string shown = evidence(probe.discovery().session);
  const auto found = extensions.find(keyword);
  if (found == extensions.end()) return finish(info(std::string(missing), shown));
  finish(pass(keyword + (found->second.empty() ? "" : " " + found->second) + " offered", shown));
}

void check_pipelining(Probe& probe, const Check&, Finish finish) {
  extension(probe, std::move(finish), "PIPELINING", "not offered: every command waits for its reply");
}
void check_8bitmime(Probe& probe, const Check&, Finish finish) {
  extension(probe, std::move(finish), "8BITMIME", "not offered: 8-bit text must be re-encoded before it is sent");
}
void check_enhanced_codes(Probe& probe, const Check&, Finish finish) {
  extension(probe, std::move(finish), "ENHANCEDSTATUSCODES", "not offered: Salesforce's email log shows bare codes");
}
void check_size(Probe& probe, const Check&, Finish finish) {
  extension(probe, std::move(finish), "SIZE", "not offered: a too-large message is refused only after it is sent");
}
void check_dsn(Probe& probe, const Check&, Finish finish) {
  extension(probe, std::move(finish), "DSN", "not offered: NOTIFY and RET cannot be asked for");
}
void check_smtputf8(Probe& probe, const Check&, Finish finish) {
  extension(probe, std::move(finish), "SMTPUTF8", "not offered: internationalized addresses cannot be relayed");
}

// --- TLS

void check_starttls_offered(Probe& probe, const Check&, Finish finish) {
  const Discovery& discovery = probe.discovery();
  if (discovery.extensions.contains("STARTTLS")) return finish(pass("STARTTLS offered", evidence(discovery.session)));
  finish(fail("STARTTLS not offered: Salesforce's Required and Required Verify settings cannot deliver",
              evidence(discovery.session)));
}

// The discovery session's handshake, or why there is none to judge.
const tls::SessionInfo* discovered_tls(const Probe& probe, std::string& why) {
  const Discovery& discovery = probe.discovery();
  if (!discovery.extensions.contains("STARTTLS")) {
    why = "STARTTLS is not offered";
    return nullptr;
  }
  if (!discovery.session.tls_established) {
    why = "the handshake failed";
    return nullptr;
  }
  return &*discovery.session.tls;
}

void check_handshake(Probe& probe, const Check&, Finish finish) {
  const Discovery& discovery = probe.discovery();
  if (!discovery.extensions.contains("STARTTLS")) return finish(skipped("STARTTLS is not offered"));
  if (!discovery.session.tls_established)
    return finish(fail("the TLS handshake failed: " + discovery.session.error, evidence(discovery.session)));
  const tls::SessionInfo& tls = *discovery.session.tls;
  finish(pass(tls.version + " " + tls.cipher, evidence(discovery.session)));
}

// RFC 3207 §4.2: commands sent after STARTTLS before the handshake must be thrown away, or a
// man in the middle can inject them into the protected session (CVE-2011-0411).
void check_starttls_injection(Probe& probe, const Check&, Finish finish) {
  if (!probe.discovery().extensions.contains("STARTTLS")) return finish(skipped("STARTTLS is not offered"));
  std::vector<Step> steps{greeting(), command("EHLO conformance.relaysim.test"), starttls("RSET\r\n"),
                          command("EHLO conformance.relaysim.test"), command("NOOP")};
  probe.dialogue(std::move(steps), probe.options().tls_plain, std::nullopt, [finish](const DialogueResult& result) {
    const smtp::Reply* starttls_reply = result.reply_to("STARTTLS");
    if (starttls_reply != nullptr && starttls_reply->code != 220)
      return finish(pass("STARTTLS with a command after it refused: " + starttls_reply->text(), evidence(result)));
    if (!result.tls_established) {
      return finish(pass("the relay ended the session rather than take the pipelined command: " + result.error,
                         evidence(result)));
    }
    // The first reply under TLS belongs to EHLO: a one-line 250 is the injected RSET's.
    std::size_t after_tls = 0;
    for (std::size_t i = 0; i < result.exchanges.size(); ++i) {
      if (result.exchanges[i].sent.starts_with("STARTTLS")) after_tls = i + 1;
    }
    if (after_tls < result.exchanges.size() && !result.exchanges[after_tls].replies.empty()) {
      const smtp::Reply& first = result.exchanges[after_tls].replies.front();
      if (first.code == 250 && first.lines.size() == 1) {
        return finish(fail("the command sent in plaintext after STARTTLS was answered inside TLS: " + first.text(),
                           evidence(result)));
      }
      return finish(pass("the plaintext after STARTTLS was discarded", evidence(result)));
    }
    finish(fail("no reply to EHLO under TLS: " + result.error, evidence(result)));
  });
}

void check_tls1_2(Probe& probe, const Check&, Finish finish) {
  if (!probe.discovery().extensions.contains("STARTTLS")) return finish(skipped("STARTTLS is not offered"));
  std::vector<Step> steps{greeting(), command("EHLO conformance.relaysim.test"), starttls(),
                          command("EHLO conformance.relaysim.test")};
  probe.dialogue(std::move(steps), probe.options().tls_1_2, std::nullopt, [finish](const DialogueResult& result) {
    if (result.tls_established && result.tls->version == "TLSv1.2")
      return finish(pass("TLS 1.2 works: " + result.tls->cipher, evidence(result)));
    finish(fail("a client limited to TLS 1.2 cannot connect: " + result.error, evidence(result)));
  });
}

void check_tls1_3(Probe& probe, const Check&, Finish finish) {
  std::string why;
  const tls::SessionInfo* tls = discovered_tls(probe, why);
  if (tls == nullptr) return finish(skipped(why));
  if (tls->version == "TLSv1.3") return finish(pass("TLS 1.3 negotiated", evidence(probe.discovery().session)));
  finish(info("TLS 1.3 not offered; " + tls->version + " negotiated", evidence(probe.discovery().session)));
}

void check_certificate_chain(Probe& probe, const Check&, Finish finish) {
  std::string why;
  const tls::SessionInfo* tls = discovered_tls(probe, why);
  if (tls == nullptr) return finish(skipped(why));
  const std::string shown = evidence(probe.discovery().session);
  // OpenSSL reports the first problem it meets; the name and the dates are checked after the chain.
  const bool chain_ok = tls->peer_verified || tls->verify_error == "hostname mismatch" ||
                        tls->verify_error == "certificate has expired" ||
                        tls->verify_error == "certificate is not yet valid";
  if (chain_ok) return finish(pass("the chain leads to a trusted CA: issuer " + tls->peer_issuer, shown));
  finish(fail("the chain does not verify (" + tls->verify_error +
                  "): Salesforce's Verify settings refuse it; give the CA with --tls-trust if it is private",
              shown));
}

void check_certificate_name(Probe& probe, const Check&, Finish finish) {
  std::string why;
  const tls::SessionInfo* tls = discovered_tls(probe, why);
  if (tls == nullptr) return finish(skipped(why));
  const std::string& name = probe.options().relay_name;
  if (io::Address::parse(name)) {
    return finish(skipped("the relay was given as an address: the Verify settings need its host name (--relay-name)"));
  }
  const std::string shown = evidence(probe.discovery().session);
  if (tls->peer_name_matches) return finish(pass("the certificate (" + tls->peer_subject + ") names " + name, shown));
  finish(fail("the certificate (" + tls->peer_subject + ") does not name " + name, shown));
}

void check_certificate_expiry(Probe& probe, const Check&, Finish finish) {
  std::string why;
  const tls::SessionInfo* tls = discovered_tls(probe, why);
  if (tls == nullptr) return finish(skipped(why));
  if (!tls->peer_not_after) return finish(fail("no certificate, or its end date cannot be read"));
  const std::string shown = evidence(probe.discovery().session);
  const std::string ends = format_rfc5322(*tls->peer_not_after);
  const auto days = std::chrono::duration_cast<std::chrono::hours>(*tls->peer_not_after - probe.now()).count() / 24;
  if (days < 0) return finish(fail("the certificate expired on " + ends, shown));
  if (days < certificate_days_min)
    return finish(fail("the certificate expires in " + std::to_string(days) + " days (" + ends + ")", shown));
  finish(pass("valid until " + ends + " (" + std::to_string(days) + " days)", shown));
}

// --- Salesforce's five TLS settings, each a whole hand-over

// The org's email log, as Salesforce's shows it, for evidence.
std::string email_log(const salesforce::OrgState& org) {
  std::string out;
  for (const salesforce::LogEntry& entry : org.log) {
    std::string via = entry.path.empty() ? "" : " via " + entry.path;
    if (!entry.server.empty()) via += " " + entry.server;
    if (entry.tls) via += entry.tls_verified ? ", TLS verified" : ", TLS";
    out += "email log: " + std::string(salesforce::to_string(entry.event)) + via +
           (entry.detail.empty() ? "" : ": " + entry.detail) + "\n";
  }
  return out;
}

void salesforce_setting(Probe& probe, const Check& check, Finish finish, salesforce::TlsSetting setting) {
  const std::string rcpt = probe.address(check, "accept");
  probe.salesforce_send(check, setting, rcpt, [&probe, finish, setting, rcpt](const salesforce::OrgState& org) {
    const std::string log = email_log(org);
    const salesforce::LogEntry* attempt = nullptr;
    for (const salesforce::LogEntry& entry : org.log) {
      if (attempt == nullptr &&
          (salesforce::is_attempt(entry.event) || entry.event == salesforce::EmailLogEvent::refused))
        attempt = &entry;
    }
    if (attempt == nullptr) return finish(fail("the org's first attempt did not end in time", log));
    if (attempt->event != salesforce::EmailLogEvent::delivered) {
      if (setting == salesforce::TlsSetting::off) {
        return finish(info("Off does not work with this relay (" + attempt->detail + "); use a TLS setting", log));
      }
      return finish(fail(std::string(salesforce::to_string(attempt->event)) + ": " + attempt->detail, log));
    }
    const std::string how = attempt->tls ? (attempt->tls_verified ? "over verified TLS" : "over TLS") : "in plaintext";
    probe.await_message(to(rcpt), probe.options().retry_window, [finish, log, how](const StoredMessage* arrived) {
      if (arrived == nullptr) return finish(fail("handed over, but not passed on within the retry window", log));
      finish(pass("delivered " + how, log + arrival_evidence(*arrived)));
    });
  });
}

void check_setting_off(Probe& probe, const Check& check, Finish finish) {
  salesforce_setting(probe, check, std::move(finish), salesforce::TlsSetting::off);
}
void check_setting_preferred(Probe& probe, const Check& check, Finish finish) {
  salesforce_setting(probe, check, std::move(finish), salesforce::TlsSetting::preferred);
}
void check_setting_required(Probe& probe, const Check& check, Finish finish) {
  salesforce_setting(probe, check, std::move(finish), salesforce::TlsSetting::required);
}
void check_setting_preferred_verify(Probe& probe, const Check& check, Finish finish) {
  salesforce_setting(probe, check, std::move(finish), salesforce::TlsSetting::preferred_verify);
}
void check_setting_required_verify(Probe& probe, const Check& check, Finish finish) {
  salesforce_setting(probe, check, std::move(finish), salesforce::TlsSetting::required_verify);
}

// --- AUTH

void check_auth_not_before_tls(Probe& probe, const Check&, Finish finish) {
  const Discovery& discovery = probe.discovery();
  const std::string shown = evidence(discovery.session);
  if (const auto found = discovery.extensions.find("AUTH"); found != discovery.extensions.end()) {
    return finish(fail("AUTH " + found->second + " offered before STARTTLS: passwords may cross in plaintext", shown));
  }
  if (discovery.tls_extensions.contains("AUTH")) return finish(pass("AUTH offered only after STARTTLS", shown));
  finish(pass("AUTH not offered before STARTTLS (nor after it)", shown));
}

void check_auth_plaintext_refused(Probe& probe, const Check&, Finish finish) {
  std::vector<Step> steps{greeting(), command("EHLO conformance.relaysim.test"),
                          command(probe.auth_plain_command({"conformance", "not-the-password", "PLAIN"}))};
  probe.dialogue(std::move(steps), nullptr, std::nullopt, [finish](const DialogueResult& result) {
    const smtp::Reply* reply = result.reply_to("AUTH");
    if (reply == nullptr) return finish(fail("no answer to AUTH: " + result.error, evidence(result)));
    if (reply->positive()) return finish(fail("AUTH succeeded in plaintext: " + reply->text(), evidence(result)));
    if (reply->code == 535) {
      return finish(
          fail("the password was checked in plaintext (535): it crossed the network unprotected", evidence(result)));
    }
    finish(pass("refused before TLS: " + reply->text(), evidence(result)));
  });
}

void auth_after_tls(Probe& probe, std::vector<Step> auth_steps, std::function<void(const DialogueResult&)> judge) {
  std::vector<Step> steps{greeting(), command("EHLO conformance.relaysim.test")};
  if (probe.discovery().extensions.contains("STARTTLS")) {
    steps.push_back(starttls());
    steps.push_back(command("EHLO conformance.relaysim.test"));
  }
  for (Step& step : auth_steps) steps.push_back(std::move(step));
  probe.dialogue(std::move(steps), probe.options().tls_plain, std::nullopt, std::move(judge));
}

void check_auth_plain(Probe& probe, const Check&, Finish finish) {
  auth_after_tls(probe, {command(probe.auth_plain_command(*probe.options().auth), 2)},
                 [finish](const DialogueResult& result) {
                   const smtp::Reply* reply = result.reply_to("AUTH");
                   if (reply != nullptr && reply->code == 235) return finish(pass(reply->text(), evidence(result)));
                   finish(fail(reply ? "AUTH PLAIN refused: " + reply->text() : "no answer to AUTH: " + result.error,
                               evidence(result)));
                 });
}

void check_auth_login(Probe& probe, const Check&, Finish finish) {
  const smtp::Credentials& credentials = *probe.options().auth;
  auth_after_tls(
      probe,
      {command("AUTH LOGIN", 2), command(smtp::encode_base64(credentials.user), 334),
       command(smtp::encode_base64(credentials.password), 334)},
      [finish](const DialogueResult& result) {
        const std::vector<const smtp::Reply*> replies = result.replies();
        const smtp::Reply* last = replies.empty() ? nullptr : replies.back();
        if (last != nullptr && last->code == 235 && result.reply_to("AUTH LOGIN") != nullptr)
          return finish(pass(last->text(), evidence(result)));
        finish(fail(last ? "AUTH LOGIN refused: " + last->text() : "no answer: " + result.error, evidence(result)));
      });
}

void check_auth_bad_password(Probe& probe, const Check&, Finish finish) {
  smtp::Credentials wrong = *probe.options().auth;
  wrong.password += "-wrong";
  auth_after_tls(probe, {command(probe.auth_plain_command(wrong), 2)}, [finish](const DialogueResult& result) {
    const smtp::Reply* reply = result.reply_to("AUTH");
    if (reply == nullptr) return finish(fail("no answer to AUTH: " + result.error, evidence(result)));
    if (reply->code == 535) return finish(pass(reply->text(), evidence(result)));
    if (reply->positive()) return finish(fail("a wrong password was accepted: " + reply->text(), evidence(result)));
    finish(info("refused, but not with 535: " + reply->text(), evidence(result)));
  });
}

// --- open relay: an unauthenticated client the relay does not trust

void stranger_rcpts(Probe& probe, const Check& check, Finish finish, std::vector<std::string> rcpts) {
  std::vector<Step> steps{greeting(), command("EHLO stranger.relaysim.test"),
                          command(mail_from("stranger@" + probe.options().domain), 2)};
  for (const std::string& rcpt : rcpts) steps.push_back(command("RCPT TO:" + rcpt));
  steps.push_back(command("RSET"));
  (void)check;
  probe.dialogue(std::move(steps), nullptr, probe.options().stranger, [finish, rcpts](const DialogueResult& result) {
    std::string accepted;
    std::size_t answered = 0;
    for (const Exchange& exchange : result.exchanges) {
      if (!exchange.sent.starts_with("RCPT") || exchange.replies.empty()) continue;
      answered += 1;
      if (exchange.replies.back().positive()) accepted += " " + exchange.sent.substr(8, exchange.sent.size() - 10);
    }
    if (!accepted.empty()) return finish(fail("accepted from a stranger:" + accepted, evidence(result)));
    if (answered == 0) {
      const smtp::Reply* mail = result.reply_to("MAIL");
      if (mail != nullptr && !mail->positive())
        return finish(pass("the stranger was refused at MAIL: " + mail->text(), evidence(result)));
      return finish(fail("no answer to RCPT: " + result.error, evidence(result)));
    }
    finish(pass("every form refused", evidence(result)));
  });
}

std::string relay_host(const Probe& probe) {
  const std::string& host = probe.discovery().greeting_host;
  return host.empty() ? probe.options().relay_name : host;
}

void check_unauthenticated(Probe& probe, const Check& check, Finish finish) {
  stranger_rcpts(probe, check, std::move(finish), {"<" + probe.address(check, "accept") + ">"});
}
void check_percent_hack(Probe& probe, const Check& check, Finish finish) {
  const std::string victim = probe.address(check, "accept");
  const std::string local = victim.substr(0, victim.find('@'));
  const std::string domain = victim.substr(victim.find('@') + 1);
  stranger_rcpts(probe, check, std::move(finish),
                 {"<" + local + "%" + domain + "@" + relay_host(probe) + ">",
                  "<" + local + "%" + domain + "@[" + probe.options().relay.address.to_string() + "]>"});
}
void check_bang_path(Probe& probe, const Check& check, Finish finish) {
  const std::string victim = probe.address(check, "accept");
  const std::string local = victim.substr(0, victim.find('@'));
  const std::string domain = victim.substr(victim.find('@') + 1);
  stranger_rcpts(probe, check, std::move(finish),
                 {"<" + domain + "!" + local + "@" + relay_host(probe) + ">", "<" + domain + "!" + local + ">"});
}
void check_quoted_at(Probe& probe, const Check& check, Finish finish) {
  const std::string victim = probe.address(check, "accept");
  stranger_rcpts(probe, check, std::move(finish),
                 {"<\"" + victim + "\">", "<\"" + victim + "\"@" + relay_host(probe) + ">"});
}
void check_source_route(Probe& probe, const Check& check, Finish finish) {
  const std::string victim = probe.address(check, "accept");
  stranger_rcpts(probe, check, std::move(finish),
                 {"<@" + relay_host(probe) + ":" + victim + ">",
                  "<@[" + probe.options().relay.address.to_string() + "]:" + victim + ">"});
}
void check_address_literal(Probe& probe, const Check& check, Finish finish) {
  const std::string victim = probe.address(check, "accept");
  stranger_rcpts(probe, check, std::move(finish), {"<" + victim.substr(0, victim.find('@')) + "@[192.0.2.25]>"});
}

// --- SMTP smuggling on the way in: only CRLF.CRLF ends a message (RFC 5321 §4.1.1.4)

void smuggle(Probe& probe, const Check& check, Finish finish, std::string_view ending) {
  const std::string rcpt = probe.address(check, "accept");
  const std::string smuggled = probe.address(check, "accept", ".smuggled");
  std::string wire = probe.message(check, rcpt, "The next line is not the end of this message.");
  wire += ending;
  wire += mail_from(probe.verp_sender(check)) + "\r\n" + rcpt_to(smuggled) + "\r\nDATA\r\n";
  wire += "From: " + probe.options().from + "\r\nTo: " + smuggled + "\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n";
  std::vector<Step> steps = probe.authorised_session();
  add_transaction(steps, mail_from(probe.verp_sender(check)), {rcpt_to(rcpt)}, std::move(wire));
  probe.dialogue(std::move(steps), probe.options().tls_plain, std::nullopt,
                 [&probe, finish, rcpt, smuggled](const DialogueResult& result) {
                   const smtp::Reply* reply = end_of_data_reply(result);
                   if (reply == nullptr) return finish(fail(refused_or_lost(result), evidence(result)));
                   if (!reply->positive()) return finish(pass("refused: " + reply->text(), evidence(result)));
                   const auto either = [rcpt, smuggled](const StoredMessage& message) {
                     return addressed_to(message, rcpt) || addressed_to(message, smuggled);
                   };
                   probe.await_message(
                       either, probe.options().retry_window,
                       [&probe, finish, result, smuggled](const StoredMessage* first) {
                         if (first == nullptr) {
                           return finish(fail("accepted but not handed on within the retry window", evidence(result)));
                         }
                         // A smuggled message would travel beside the real one: give it time.
                         probe.after(probe.options().settle, [&probe, finish, result, smuggled] {
                           const auto found = probe.arrived(to(smuggled));
                           if (!found.empty()) {
                             return finish(fail("a second message was smuggled through to <" + smuggled + ">",
                                                evidence(result) + arrival_evidence(*found.front())));
                           }
                           finish(pass("the sequence stayed inside the message", evidence(result)));
                         });
                       });
                 });
}

void check_lf_dot_lf(Probe& probe, const Check& check, Finish finish) {
  smuggle(probe, check, std::move(finish), "\n.\n");
}
void check_lf_dot_crlf(Probe& probe, const Check& check, Finish finish) {
  smuggle(probe, check, std::move(finish), "\n.\r\n");
}
void check_crlf_dot_lf(Probe& probe, const Check& check, Finish finish) {
  smuggle(probe, check, std::move(finish), "\r\n.\n");
}
void check_cr_dot_crlf(Probe& probe, const Check& check, Finish finish) {
  smuggle(probe, check, std::move(finish), "\r.\r\n");
}
void check_crlf_dot_cr(Probe& probe, const Check& check, Finish finish) {
  smuggle(probe, check, std::move(finish), "\r\n.\r");
}

// --- what leaves the relay

// A message whose body holds `body` verbatim (not dot-stuffed beyond its own lines), judged on arrival.
void send_raw_body(Probe& probe, const Check& check, std::string body,
                   std::function<Outcome(const StoredMessage& arrived)> judge_arrival, Finish finish) {
  const std::string rcpt = probe.address(check, "accept");
  std::string wire = probe.message(check, rcpt, body) + ".\r\n";
  hand_over(probe, probe.authorised_session(), probe.options().tls_plain, probe.verp_sender(check), {rcpt},
            std::move(wire), rcpt, [finish, judge_arrival](const DialogueResult& result, const StoredMessage* arrived) {
              if (arrived != nullptr) {
                Outcome outcome = judge_arrival(*arrived);
                outcome.evidence = evidence(result) + arrival_evidence(*arrived) + outcome.evidence;
                return finish(outcome);
              }
              const smtp::Reply* reply = end_of_data_reply(result);
              if (reply != nullptr && !reply->positive())
                return finish(pass("refused on the way in: " + reply->text(), evidence(result)));
              finish(fail(refused_or_lost(result), evidence(result)));
            });
}

void check_nul_dot(Probe& probe, const Check& check, Finish finish) {
  smuggle(probe, check, std::move(finish), std::string_view("\r\n.\0\r\n", 6));
}

void check_nul(Probe& probe, const Check& check, Finish finish) {
  send_raw_body(
      probe, check, std::string("A NUL follows: ") + '\0' + " (RFC 5321 2.3.8 forbids it)\r\n",
      [](const StoredMessage& arrived) {
        if (arrived.content.find('\0') != std::string::npos)
          return info("the NUL was passed on: a next hop that strips NULs may read the message differently");
        return pass("the NUL did not reach the next hop");
      },
      std::move(finish));
}

void check_bare_lf_out(Probe& probe, const Check& check, Finish finish) {
  send_raw_body(
      probe, check, "one line\nwith a bare LF in it\r\n",
      [](const StoredMessage& arrived) {
        if (arrived.bare_line_endings) return fail("a bare LF was passed on to the next hop");
        return pass("passed on with CRLF line endings only");
      },
      std::move(finish));
}

void check_bare_cr_out(Probe& probe, const Check& check, Finish finish) {
  send_raw_body(
      probe, check, "one line\rwith a bare CR in it\r\n",
      [](const StoredMessage& arrived) {
        if (arrived.bare_line_endings) return fail("a bare CR was passed on to the next hop");
        return pass("passed on with CRLF line endings only");
      },
      std::move(finish));
}

void check_line_length(Probe& probe, const Check& check, Finish finish) {
  send_raw_body(
      probe, check, "A long line: " + std::string(1500, 'x') + "\r\n",
      [](const StoredMessage& arrived) {
        if (arrived.long_lines) return fail("a line over 998 octets was passed on to the next hop");
        return pass("passed on with every line within 998 octets");
      },
      std::move(finish));
}

// The first line where two texts differ, for evidence.
std::string first_difference(std::string_view sent, std::string_view received) {
  std::size_t line = 1;
  std::size_t at = 0;
  for (; at < sent.size() && at < received.size() && sent[at] == received[at]; ++at) {
    if (sent[at] == '\n') line += 1;
  }
  const auto line_at = [](std::string_view text, std::size_t position) {
    const std::size_t start = text.rfind('\n', position == 0 ? 0 : position - 1);
    const std::size_t begin = start == std::string_view::npos ? 0 : start + 1;
    return std::string(text.substr(begin, std::min<std::size_t>(text.find('\r', begin) - begin, 120)));
  };
  return "line " + std::to_string(line) + " of the message: sent \"" + line_at(sent, at) + "\", received \"" +
         line_at(received, at) + "\"\n";
}

void check_unchanged(Probe& probe, const Check& check, Finish finish) {
  const std::string rcpt = probe.address(check, "accept");
  const std::string content =
      probe.message(check, rcpt,
                    "A message relayed as it was sent.\r\n=?utf-8?q?encoded_words?= and trailing spaces   \r\n"
                    " a line that starts with a space\r\n.a line that starts with a dot\r\n");
  send_one(probe, check, rcpt, content, [finish, content](const DialogueResult& result, const StoredMessage* arrived) {
    if (arrived == nullptr) return finish(fail(refused_or_lost(result), evidence(result)));
    const std::string& received = arrived->content;
    if (received.ends_with(content)) {
      const std::size_t added = received.size() - content.size();
      return finish(pass("unchanged; " + std::to_string(added) + " bytes of trace headers added on top",
                         evidence(result) + arrival_evidence(*arrived)));
    }
    // Trace fields go on top: compare from the original's first field.
    const std::size_t start = received.find(content.substr(0, content.find("\r\n")));
    finish(fail("the message was changed on the way",
                evidence(result) + arrival_evidence(*arrived) +
                    first_difference(content, start == std::string::npos ? received : received.substr(start))));
  });
}

// A key that signs only this harness's test messages; its public half is given to the verifier directly.
constexpr std::string_view dkim_test_key =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIHUKUNloVCzgfwlpS564F6ZrhkC8J9bOe4yCyLhGotU/\n"
    "-----END PRIVATE KEY-----\n";
constexpr std::string_view dkim_selector = "relaysim-conformance";

void check_dkim(Probe& probe, const Check& check, Finish finish) {
  const std::string rcpt = probe.address(check, "accept");
  std::shared_ptr<const mailauth::DkimKey> key = mailauth::DkimKey::from_pem(dkim_test_key);
  const std::string& from = probe.options().from;
  mailauth::DkimSignerConfig signer;
  signer.domain = from.substr(from.rfind('@') + 1);
  signer.selector = std::string(dkim_selector);
  const std::string unsigned_content = probe.message(check, rcpt);
  const std::string content = mailauth::sign_dkim(unsigned_content, *key, signer, probe.now()) + unsigned_content;
  send_one(probe, check, rcpt, content,
           [&probe, finish, key, signer](const DialogueResult& result, const StoredMessage* arrived) {
             if (arrived == nullptr) return finish(fail(refused_or_lost(result), evidence(result)));
             mailauth::Lookups lookups;
             const std::string record = signer.selector + "._domainkey." + signer.domain;
             const auto checks = mailauth::run_with(
                 lookups,
                 [&](const mailauth::Lookups& answers) {
                   return mailauth::verify_dkim(arrived->content, answers, probe.now());
                 },
                 [&](const std::string& name, io::DnsType type) {
                   io::DnsAnswer answer;
                   answer.name = name;
                   answer.canonical_name = name;
                   if (name == record && type == io::DnsType::txt) {
                     answer.texts.push_back(key->txt_record());
                   } else {
                     answer.status = io::DnsStatus::nxdomain;
                   }
                   return answer;
                 });
             const std::string shown = evidence(result) + arrival_evidence(*arrived);
             for (const mailauth::DkimSignatureCheck& signature : checks) {
               if (signature.domain == signer.domain && signature.result == mailauth::DkimResult::pass)
                 return finish(
                     pass("the signature made before the relay verifies after it (d=" + signature.domain + ")", shown));
             }
             std::string seen;
             for (const mailauth::DkimSignatureCheck& signature : checks) {
               seen += " d=" + signature.domain + " " + std::string(mailauth::to_string(signature.result)) +
                       (signature.reason.empty() ? "" : " (" + signature.reason + ")");
             }
             finish(fail("the signature no longer verifies:" + (seen.empty() ? std::string(" it was removed") : seen),
                         shown));
           });
}

void check_size_declared(Probe& probe, const Check& check, Finish finish) {
  const auto limit = probe.discovery().size_limit;
  if (!limit) return finish(skipped("the relay announces no SIZE limit"));
  std::vector<Step> steps = probe.authorised_session();
  steps.push_back(command(mail_from(probe.verp_sender(check), "SIZE=" + std::to_string(*limit + 1)), 2));
  probe.dialogue(
      std::move(steps), probe.options().tls_plain, std::nullopt, [finish, limit](const DialogueResult& result) {
        const smtp::Reply* reply = result.reply_to("MAIL");
        if (reply == nullptr) return finish(fail(refused_or_lost(result), evidence(result)));
        if (reply->code == 552 || reply->permanent())
          return finish(pass("SIZE=" + std::to_string(*limit + 1) + " refused: " + reply->text(), evidence(result)));
        finish(fail("a message declared over the announced limit was not refused: " + reply->text(), evidence(result)));
      });
}

// --- retries

void check_retried(Probe& probe, const Check& check, Finish finish, std::string_view behaviour, std::string what) {
  const std::string rcpt = probe.address(check, behaviour);
  const Instant sent = probe.now();
  send_one(probe, check, rcpt, probe.message(check, rcpt),
           [&probe, finish, what, sent](const DialogueResult& result, const StoredMessage* arrived) {
             if (arrived == nullptr) {
               const smtp::Reply* reply = end_of_data_reply(result);
               if (reply != nullptr && reply->positive()) {
                 return finish(fail(what + ", and the relay did not come back within the retry window (" +
                                        format_duration(probe.options().retry_window) + ")",
                                    evidence(result)));
               }
               return finish(fail(refused_or_lost(result), evidence(result)));
             }
             finish(pass("delivered " + format_duration(arrived->received - sent) + " after " + what,
                         evidence(result) + arrival_evidence(*arrived)));
           });
}

void check_tempfail(Probe& probe, const Check& check, Finish finish) {
  check_retried(probe, check, std::move(finish), "tempfail", "a 451 at RCPT");
}
void check_greylisting(Probe& probe, const Check& check, Finish finish) {
  check_retried(probe, check, std::move(finish), "greylist", "postgrey's 450 4.7.1");
}

void check_drop_after_dot(Probe& probe, const Check& check, Finish finish) {
  const std::string rcpt = probe.address(check, "drop");
  send_one(probe, check, rcpt, probe.message(check, rcpt),
           [&probe, finish, rcpt](const DialogueResult& result, const StoredMessage* first) {
             if (first == nullptr) return finish(fail(refused_or_lost(result), evidence(result)));
             const std::uint64_t number = first->number;
             probe.await_message(
                 [rcpt, number](const StoredMessage& message) {
                   return message.number > number && addressed_to(message, rcpt);
                 },
                 probe.options().retry_window,
                 [&probe, finish, result](const StoredMessage* again) {
                   if (again == nullptr) {
                     return finish(
                         fail("the connection was lost after the final dot and the relay did not try "
                              "again within the retry window (" +
                                  format_duration(probe.options().retry_window) + "): the message may be lost",
                              evidence(result)));
                   }
                   finish(pass("tried again after the lost reply (a duplicate is the safe outcome)",
                               evidence(result) + arrival_evidence(*again)));
                 });
           });
}

void check_every_recipient(Probe& probe, const Check& check, Finish finish) {
  const std::vector<std::string> rcpts = {probe.address(check, "accept", ".1"), probe.address(check, "accept", ".2"),
                                          probe.address(check, "accept", ".3")};
  hand_over(probe, probe.authorised_session(), probe.options().tls_plain, probe.verp_sender(check), rcpts,
            smtp::dot_stuff(probe.message(check, rcpts.front())), rcpts.front(),
            [&probe, finish, rcpts](const DialogueResult& result, const StoredMessage* first) {
              if (first == nullptr) return finish(fail(refused_or_lost(result), evidence(result)));
              // The others may come in the same transaction or in their own: give them the window.
              const auto all_arrived = [&probe, rcpts](const StoredMessage&) {
                return std::all_of(rcpts.begin(), rcpts.end(),
                                   [&probe](const std::string& rcpt) { return !probe.arrived(to(rcpt)).empty(); });
              };
              probe.await_message(
                  all_arrived, probe.options().retry_window,
                  [&probe, finish, result, rcpts](const StoredMessage* done) {
                    if (done != nullptr) return finish(pass("all three recipients got the message", evidence(result)));
                    std::string missing;
                    for (const std::string& rcpt : rcpts) {
                      if (probe.arrived(to(rcpt)).empty()) missing += " <" + rcpt + ">";
                    }
                    finish(fail("accepted for three recipients, never delivered to" + missing, evidence(result)));
                  });
            });
}

// --- bounces: a 550 from the next hop comes back to Salesforce's VERP address as an RFC 3464 report

using BounceJudge = std::function<Outcome(const StoredMessage& bounce, const std::string& rejected)>;

void check_bounce(Probe& probe, const Check& check, Finish finish, BounceJudge judge) {
  const std::string rcpt = probe.address(check, "reject");
  const std::string verp = probe.verp_sender(check);
  std::vector<Step> steps = probe.authorised_session();
  add_transaction(steps, mail_from(verp), {rcpt_to(rcpt)}, smtp::dot_stuff(probe.message(check, rcpt)));
  probe.dialogue(
      std::move(steps), probe.options().tls_plain, std::nullopt,
      [&probe, finish, judge, rcpt, verp](const DialogueResult& result) {
        const smtp::Reply* reply = end_of_data_reply(result);
        if (reply == nullptr || !reply->positive()) return finish(fail(refused_or_lost(result), evidence(result)));
        probe.await_message(
            to(verp), probe.options().retry_window, [finish, judge, rcpt, verp, result](const StoredMessage* bounce) {
              if (bounce == nullptr) {
                return finish(fail("no bounce reached the envelope sender <" + verp + "> within the retry window",
                                   evidence(result)));
              }
              Outcome outcome = judge(*bounce, rcpt);
              outcome.evidence = arrival_evidence(*bounce) + outcome.evidence;
              finish(outcome);
            });
      });
}

std::string report_evidence(const smtp::DsnReport& report) {
  std::string out = "Reporting-MTA: " + report.reporting_mta + "\n";
  for (const smtp::DsnRecipient& recipient : report.recipients) {
    out += "Final-Recipient: " + recipient.final_recipient + "; Action: " + std::string(to_string(recipient.action)) +
           "; Status: " + recipient.status + "; Diagnostic-Code: " + recipient.diagnostic + "\n";
  }
  return out;
}

// The per-recipient fields a report gives for `address`; null when it names it nowhere.
const smtp::DsnRecipient* fields_for(const smtp::DsnReport& report, std::string_view address) {
  for (const smtp::DsnRecipient& recipient : report.recipients) {
    if (equals_ignoring_case(recipient.final_recipient, address)) return &recipient;
  }
  return nullptr;
}

void check_bounce_to_sender(Probe& probe, const Check& check, Finish finish) {
  check_bounce(probe, check, std::move(finish), [](const StoredMessage& bounce, const std::string&) {
    return pass("the bounce reached the VERP address <" + bounce.recipients.front().mailbox.to_string() + ">");
  });
}

void check_bounce_null_sender(Probe& probe, const Check& check, Finish finish) {
  check_bounce(probe, check, std::move(finish), [](const StoredMessage& bounce, const std::string&) {
    if (bounce.sender.empty()) return pass("the bounce was sent from <>");
    return fail("the bounce was sent from <" + bounce.sender + ">: a bounce of it would loop");
  });
}

void check_bounce_rfc3464(Probe& probe, const Check& check, Finish finish) {
  check_bounce(probe, check, std::move(finish), [](const StoredMessage& bounce, const std::string& rejected) {
    const std::optional<smtp::DsnReport> report = smtp::parse_dsn(bounce.content);
    if (!report) {
      return fail("the bounce is not a multipart/report of report-type delivery-status",
                  std::string(smtp::header_section(bounce.content).substr(0, 600)));
    }
    const smtp::DsnRecipient* recipient = fields_for(*report, rejected);
    if (recipient == nullptr) return fail("no per-recipient fields for <" + rejected + ">", report_evidence(*report));
    if (recipient->action != smtp::DsnAction::failed || !recipient->status.starts_with("5."))
      return fail("the recipient's fields do not say it failed", report_evidence(*report));
    return pass("Final-Recipient, Action: failed and Status " + recipient->status + " for the rejected recipient",
                report_evidence(*report));
  });
}

void check_bounce_diagnostic(Probe& probe, const Check& check, Finish finish) {
  check_bounce(probe, check, std::move(finish), [](const StoredMessage& bounce, const std::string& rejected) {
    const std::optional<smtp::DsnReport> report = smtp::parse_dsn(bounce.content);
    if (!report) return fail("the bounce is not an RFC 3464 report");
    const smtp::DsnRecipient* recipient = fields_for(*report, rejected);
    if (recipient == nullptr) return fail("no per-recipient fields for <" + rejected + ">", report_evidence(*report));
    if (recipient->status == "5.1.1" && recipient->diagnostic.find("550") != std::string::npos)
      return pass("Status 5.1.1 and the next hop's reply: " + recipient->diagnostic, report_evidence(*report));
    return fail("the report does not carry the next hop's 550 5.1.1", report_evidence(*report));
  });
}

void check_bounce_original_headers(Probe& probe, const Check& check, Finish finish) {
  const std::string id = probe.message_id(check);
  check_bounce(probe, check, std::move(finish), [id](const StoredMessage& bounce, const std::string&) {
    const std::optional<smtp::DsnReport> report = smtp::parse_dsn(bounce.content);
    if (!report) return fail("the bounce is not an RFC 3464 report");
    if (equals_ignoring_case(report->returned_message_id, id))
      return pass("the original header section is returned (Message-ID <" + id + ">)");
    if (report->returned_message_id.empty()) return fail("the bounce returns neither the message nor its headers");
    return fail("the bounce returns another message: <" + report->returned_message_id + ">");
  });
}

// Mail that must not come: wait for a marker recipient delivered in the same transaction, then
// `settle`, then look.
void check_absent(Probe& probe, const Check& check, Finish finish, const std::string& sender,
                  std::string_view rejected_parameters, std::function<bool(const StoredMessage&)> unwanted,
                  std::string pass_text) {
  const std::string rejected = probe.address(check, "reject");
  const std::string marker = probe.address(check, "accept");
  std::vector<Step> steps = probe.authorised_session();
  add_transaction(steps, mail_from(sender), {rcpt_to(rejected, rejected_parameters), rcpt_to(marker)},
                  smtp::dot_stuff(probe.message(check, marker)));
  probe.dialogue(std::move(steps), probe.options().tls_plain, std::nullopt,
                 [&probe, finish, marker, unwanted, pass_text](const DialogueResult& result) {
                   const smtp::Reply* reply = end_of_data_reply(result);
                   if (reply == nullptr || !reply->positive())
                     return finish(fail(refused_or_lost(result), evidence(result)));
                   probe.await_message(
                       to(marker), probe.options().retry_window,
                       [&probe, finish, result, unwanted, pass_text](const StoredMessage* arrived) {
                         if (arrived == nullptr)
                           return finish(
                               fail("the accepted recipient got nothing within the retry "
                                    "window",
                                    evidence(result)));
                         probe.after(probe.options().settle, [&probe, finish, result, unwanted, pass_text] {
                           const auto found = probe.arrived(unwanted);
                           if (!found.empty()) {
                             return finish(fail("a notice was sent when none may be",
                                                evidence(result) + arrival_evidence(*found.front())));
                           }
                           finish(pass(pass_text, evidence(result)));
                         });
                       });
                 });
}

void check_no_bounce_to_null(Probe& probe, const Check& check, Finish finish) {
  const std::string id = probe.message_id(check);
  const std::string marker = probe.address(check, "accept");
  check_absent(
      probe, check, std::move(finish), "", {},
      [id, marker](const StoredMessage& message) {
        // A notice about the message to anyone but a postmaster: backscatter.
        if (message.content.find(id) == std::string::npos || message.recipients.empty()) return false;
        if (addressed_to(message, marker)) return false;
        return !to_lower(message.recipients.front().mailbox.to_string()).starts_with("postmaster@");
      },
      "no bounce for a message from <>");
}

void check_notify_never(Probe& probe, const Check& check, Finish finish) {
  if (!offered(probe).contains("DSN")) return finish(skipped("the relay does not offer DSN"));
  const std::string verp = probe.verp_sender(check);
  check_absent(probe, check, std::move(finish), verp, "NOTIFY=NEVER", to(verp),
               "no bounce for a recipient with NOTIFY=NEVER");
}

// --- MX routing (dns mode): which of the harness's MX servers took the message

void check_routed(Probe& probe, const Check& check, Finish finish, std::string_view domain, std::string expected,
                  std::string why) {
  const std::string rcpt = probe.address(check, domain);
  send_one(probe, check, rcpt, probe.message(check, rcpt),
           [finish, expected, why](const DialogueResult& result, const StoredMessage* arrived) {
             if (arrived == nullptr) return finish(fail(refused_or_lost(result), evidence(result)));
             const std::string shown = evidence(result) + arrival_evidence(*arrived) + "taken by " + arrived->mx + "\n";
             if (arrived->mx == expected) return finish(pass("delivered to " + expected + " " + why, shown));
             finish(fail("delivered to " + arrived->mx + ", not to " + expected + " " + why, shown));
           });
}

void check_best_first(Probe& probe, const Check& check, Finish finish) {
  check_routed(probe, check, std::move(finish), "mxorder", "mx-a", "(preference 10, before mx-b at 20)");
}
void check_next_on_refusal(Probe& probe, const Check& check, Finish finish) {
  check_routed(probe, check, std::move(finish), "mxrefused", "mx-b", "after the preferred MX refused the connection");
}
void check_next_on_421(Probe& probe, const Check& check, Finish finish) {
  check_routed(probe, check, std::move(finish), "mx421", "mx-b", "after the preferred MX greeted with 421");
}
void check_next_on_5xx_greeting(Probe& probe, const Check& check, Finish finish) {
  check_routed(probe, check, std::move(finish), "mx554", "mx-b", "after the preferred MX greeted with 554");
}
void check_implicit_mx(Probe& probe, const Check& check, Finish finish) {
  check_routed(probe, check, std::move(finish), "implicit", "mx-b", "(the domain's own address: it has no MX)");
}

void check_null_mx(Probe& probe, const Check& check, Finish finish) {
  const std::string rcpt = probe.address(check, "nullmx");
  const std::string verp = probe.verp_sender(check);
  std::vector<Step> steps = probe.authorised_session();
  add_transaction(steps, mail_from(verp), {rcpt_to(rcpt)}, smtp::dot_stuff(probe.message(check, rcpt)));
  probe.dialogue(
      std::move(steps), probe.options().tls_plain, std::nullopt,
      [&probe, finish, rcpt, verp](const DialogueResult& result) {
        // Refused at once (RFC 7505 §4.2), or taken and bounced.
        if (const smtp::Reply* reply = result.reply_to("RCPT"); reply != nullptr && !reply->positive()) {
          if (reply->status() == "5.1.10") return finish(pass("refused at RCPT: " + reply->text(), evidence(result)));
          return finish(fail("refused at RCPT, but not with 5.1.10: " + reply->text(), evidence(result)));
        }
        const smtp::Reply* end = end_of_data_reply(result);
        if (end == nullptr || !end->positive()) return finish(fail(refused_or_lost(result), evidence(result)));
        probe.await_message(
            to(verp), probe.options().retry_window, [finish, result, rcpt, verp](const StoredMessage* bounce) {
              if (bounce == nullptr) {
                return finish(
                    fail("no bounce reached <" + verp + "> within the retry window: a null MX must bounce at once",
                         evidence(result)));
              }
              const std::optional<smtp::DsnReport> report = smtp::parse_dsn(bounce->content);
              const std::string shown =
                  evidence(result) + arrival_evidence(*bounce) + (report ? report_evidence(*report) : "");
              if (!report) return finish(fail("the bounce is not an RFC 3464 report", shown));
              const smtp::DsnRecipient* recipient = fields_for(*report, rcpt);
              if (recipient == nullptr) return finish(fail("the bounce does not name the recipient", shown));
              if (recipient->status == "5.1.10") return finish(pass("bounced with 5.1.10", shown));
              finish(fail("bounced with " + recipient->status + ", not 5.1.10", shown));
            });
      });
}

}  // namespace

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::pass: return "pass";
    case Verdict::fail: return "fail";
    case Verdict::skipped: return "skipped";
    case Verdict::info: return "info";
  }
  return "?";
}

std::string_view to_string(Needs needs) {
  switch (needs) {
    case Needs::nothing: return "";
    case Needs::auth: return "--auth";
    case Needs::stranger: return "--stranger";
    case Needs::dns_mode: return "--mode dns";
  }
  return "";
}

const std::vector<Check>& catalogue() {
  using enum Needs;
  static const std::vector<Check> checks = {
      {"smtp.greeting", "the relay greets with 220", "Salesforce waits for a 220 greeting before it says EHLO",
       "RFC 5321 §4.3.1", nothing, check_greeting},
      {"ehlo.pipelining", "PIPELINING offered", "saves a round trip per command on every hand-over", "RFC 2920",
       nothing, check_pipelining},
      {"ehlo.8bitmime", "8BITMIME offered", "8-bit text passes without re-encoding", "RFC 6152", nothing,
       check_8bitmime},
      {"ehlo.enhancedstatuscodes", "ENHANCEDSTATUSCODES offered",
       "replies carry the x.y.z codes Salesforce's email log and bounce handling show", "RFC 2034", nothing,
       check_enhanced_codes},
      {"ehlo.size", "SIZE offered, with the limit", "a message over the limit is refused before it is sent",
       "RFC 1870; Postfix message_size_limit", nothing, check_size},
      {"ehlo.dsn", "DSN offered", "senders can ask for NOTIFY and RET", "RFC 3461", nothing, check_dsn},
      {"ehlo.smtputf8", "SMTPUTF8 offered", "internationalized addresses can be relayed", "RFC 6531", nothing,
       check_smtputf8},
      {"tls.starttls-offered", "STARTTLS offered", "Salesforce's Required and Required Verify settings need it",
       "RFC 3207; Salesforce relay TLS Setting", nothing, check_starttls_offered},
      {"tls.handshake", "the TLS handshake completes",
       "a failing handshake stops every TLS setting but Off and Preferred", "RFC 3207 §4; RFC 8446", nothing,
       check_handshake},
      {"tls.starttls-injection", "commands pipelined after STARTTLS are not run inside TLS",
       "a man in the middle could inject commands into the protected session", "RFC 3207 §4.2; CVE-2011-0411", nothing,
       check_starttls_injection},
      {"tls.tls1_2", "a client limited to TLS 1.2 connects", "TLS 1.2 is the oldest version Salesforce uses",
       "RFC 8996; Salesforce TLS 1.2 requirement", nothing, check_tls1_2},
      {"tls.tls1_3", "TLS 1.3 negotiated", "the version current clients prefer", "RFC 8446", nothing, check_tls1_3},
      {"tls.certificate-chain", "the certificate chain leads to a trusted CA",
       "Preferred Verify and Required Verify refuse an untrusted chain", "RFC 5280 §6; Salesforce Verify settings",
       nothing, check_certificate_chain},
      {"tls.certificate-name", "the certificate names the relay's host name",
       "the Verify settings check the name in the relay record against the certificate", "RFC 6125 §6", nothing,
       check_certificate_name},
      {"tls.certificate-expiry", "the certificate is valid for 14 days more at least",
       "an expired certificate stops the Verify settings the moment it expires", "RFC 5280 §4.1.2.5", nothing,
       check_certificate_expiry},
      {"salesforce.tls-off", "Salesforce's Off setting hands over a message",
       "Off never uses STARTTLS: a relay that insists on TLS refuses it (a sound choice)",
       "Salesforce Email Relay TLS Setting: Off", nothing, check_setting_off},
      {"salesforce.tls-preferred", "Salesforce's Preferred setting hands over a message",
       "STARTTLS when offered, any certificate", "Salesforce Email Relay TLS Setting: Preferred", nothing,
       check_setting_preferred},
      {"salesforce.tls-required", "Salesforce's Required setting hands over a message",
       "STARTTLS must work, any certificate", "Salesforce Email Relay TLS Setting: Required", nothing,
       check_setting_required},
      {"salesforce.tls-preferred-verify", "Salesforce's Preferred Verify setting hands over a message",
       "when STARTTLS is offered the certificate must verify", "Salesforce Email Relay TLS Setting: Preferred Verify",
       nothing, check_setting_preferred_verify},
      {"salesforce.tls-required-verify", "Salesforce's Required Verify setting hands over a message",
       "STARTTLS and a verified certificate: what Salesforce recommends",
       "Salesforce Email Relay TLS Setting: Required Verify", nothing, check_setting_required_verify},
      {"auth.not-before-tls", "AUTH is not offered before STARTTLS", "a password must never cross in plaintext",
       "RFC 4954 §4; Postfix smtpd_tls_auth_only", nothing, check_auth_not_before_tls},
      {"auth.plaintext-refused", "AUTH before STARTTLS is refused without checking the password",
       "a client that sends it anyway must not have it judged", "RFC 4954 §4; Postfix smtpd_tls_auth_only", nothing,
       check_auth_plaintext_refused},
      {"auth.plain", "AUTH PLAIN with the relay record's credentials succeeds",
       "Salesforce's Enable SMTP Auth uses PLAIN", "RFC 4616; RFC 4954", auth, check_auth_plain},
      {"auth.login", "AUTH LOGIN with the relay record's credentials succeeds", "the other mechanism Salesforce offers",
       "draft-murchison-sasl-login; RFC 4954", auth, check_auth_login},
      {"auth.bad-password", "a wrong password gets 535", "RFC 4954's answer: Salesforce logs it as an auth failure",
       "RFC 4954 §6", auth, check_auth_bad_password},
      {"relay.unauthenticated-refused", "a stranger without AUTH cannot relay", "otherwise it is an open relay",
       "RFC 5321 §3.6.2; Postfix smtpd_relay_restrictions", stranger, check_unauthenticated},
      {"relay.percent-hack", "user%domain@relay is not relayed for a stranger",
       "the percent hack turns a relay open when local parts are routed", "RFC 5321 §3.6.2; Postfix allow_percent_hack",
       stranger, check_percent_hack},
      {"relay.bang-path", "UUCP bang paths are not relayed for a stranger", "domain!user is an old way to route",
       "RFC 5321 §3.6.2; Postfix swap_bangpath", stranger, check_bang_path},
      {"relay.quoted-at", "a quoted local part holding @ is not relayed for a stranger",
       "\"user@domain\"@relay reaches another domain when unquoted carelessly",
       "RFC 5321 §4.1.2; Postfix resolve_dequoted_address", stranger, check_quoted_at},
      {"relay.source-route", "source routes are not relayed for a stranger",
       "@relay:user@domain asks the relay to forward", "RFC 5321 §3.6.1, Appendix C", stranger, check_source_route},
      {"relay.address-literal", "an address literal elsewhere is not relayed for a stranger",
       "user@[192.0.2.25] names a destination directly", "RFC 5321 §4.1.3", stranger, check_address_literal},
      {"smuggling.lf-dot-lf", "LF.LF does not end a message", "a smuggled second message would pass as the relay's own",
       "RFC 5321 §4.1.1.4; CVE-2023-51764", nothing, check_lf_dot_lf},
      {"smuggling.lf-dot-crlf", "LF.CRLF does not end a message", "a variant of the same smuggling",
       "RFC 5321 §4.1.1.4; Postfix smtpd_forbid_bare_newline", nothing, check_lf_dot_crlf},
      {"smuggling.crlf-dot-lf", "CRLF.LF does not end a message", "a variant of the same smuggling",
       "RFC 5321 §4.1.1.4; Postfix smtpd_forbid_bare_newline", nothing, check_crlf_dot_lf},
      {"smuggling.cr-dot-crlf", "CR.CRLF does not end a message", "a variant of the same smuggling",
       "RFC 5321 §4.1.1.4, §2.3.8", nothing, check_cr_dot_crlf},
      {"smuggling.crlf-dot-cr", "CRLF.CR does not end a message", "a variant of the same smuggling",
       "RFC 5321 §4.1.1.4, §2.3.8", nothing, check_crlf_dot_cr},
      {"smuggling.crlf-dot-nul", "CRLF.NUL CRLF does not end a message",
       "a relay that drops NULs before looking for the end would end here", "RFC 5321 §4.1.1.4; RFC 5322 §2.2", nothing,
       check_nul_dot},
      {"outbound.bare-lf", "a bare LF is not passed on", "a next hop that ends DATA on LF.LF could be smuggled into",
       "RFC 5321 §2.3.8; Postfix smtpd_forbid_bare_newline", nothing, check_bare_lf_out},
      {"outbound.bare-cr", "a bare CR is not passed on", "the same, for CR", "RFC 5321 §2.3.8", nothing,
       check_bare_cr_out},
      {"outbound.nul", "a NUL in a message does not reach the next hop",
       "receivers differ on NUL (RFC 5322 has none in a message): some strip it, some refuse the message",
       "RFC 5322 §2.2; RFC 6152 §3; Postfix message_reject_characters", nothing, check_nul},
      {"outbound.line-length", "no line over 998 octets is passed on",
       "receivers may refuse or split long lines, breaking signatures",
       "RFC 5322 §2.1.1; Postfix smtp_line_length_limit", nothing, check_line_length},
      {"message.unchanged", "the message arrives unchanged but for trace headers on top",
       "a relay that rewrites mail breaks signatures and Salesforce's tracking", "RFC 5321 §3.7.4, §4.4", nothing,
       check_unchanged},
      {"message.dkim-survives", "a DKIM signature made before the relay still verifies after it",
       "Salesforce signs with its DKIM keys before handing over", "RFC 6376; Salesforce DKIM Keys", nothing,
       check_dkim},
      {"size.declared", "MAIL with SIZE over the announced limit is refused",
       "the client learns before sending the data", "RFC 1870 §6", nothing, check_size_declared},
      {"delivery.every-recipient", "a message for three recipients reaches all three",
       "a relay that drops a recipient of a transaction loses mail it acknowledged", "RFC 5321 §3.3, §6.1", nothing,
       check_every_recipient},
      {"delivery.tempfail-retried", "a 451 from the next hop is retried within the retry window",
       "temporary failures must not lose mail", "RFC 5321 §4.5.4.1; Postfix minimal_backoff_time", nothing,
       check_tempfail},
      {"delivery.greylisting-retried", "greylisting (450 4.7.1) is retried within the retry window",
       "greylisting receivers accept only a retry", "RFC 6647; Postfix minimal_backoff_time", nothing,
       check_greylisting},
      {"delivery.drop-after-dot-retried", "a connection lost after the final dot is retried",
       "the message may or may not have arrived: only a retry is safe (a duplicate beats a loss)",
       "RFC 1047; RFC 5321 §4.5.4.1", nothing, check_drop_after_dot},
      {"dsn.to-envelope-sender", "a 550 from the next hop bounces to the envelope sender (the VERP address)",
       "Salesforce matches bounces by their VERP address to mark the contact", "RFC 5321 §4.5.5; RFC 3464", nothing,
       check_bounce_to_sender},
      {"dsn.null-return-path", "the bounce is sent from <>", "a bounce of a bounce would loop", "RFC 5321 §4.5.5",
       nothing, check_bounce_null_sender},
      {"dsn.rfc3464", "the bounce is an RFC 3464 report with the failed recipient's fields",
       "bounce processors read the machine-readable part, not the text", "RFC 3464 §2.3; RFC 6522", nothing,
       check_bounce_rfc3464},
      {"dsn.diagnostic", "the report carries the next hop's status and reply", "the admin needs the real reason",
       "RFC 3464 §2.3.4, §2.3.6", nothing, check_bounce_diagnostic},
      {"dsn.original-headers", "the bounce returns the original headers", "its Message-ID ties it to the email sent",
       "RFC 3462; RFC 3464 §2", nothing, check_bounce_original_headers},
      {"dsn.null-sender", "a message from <> that fails is not bounced",
       "a bounce needs a return path; sending one elsewhere is backscatter", "RFC 5321 §4.5.5; RFC 3834", nothing,
       check_no_bounce_to_null},
      {"dsn.notify-never", "NOTIFY=NEVER is honoured", "the sender asked for no bounce", "RFC 3461 §4.1", nothing,
       check_notify_never},
      {"mx.best-first", "the lowest-preference MX is tried first",
       "RFC 5321's order: a relay that ignores it may hit a backup MX that only queues", "RFC 5321 §5.1", dns_mode,
       check_best_first},
      {"mx.next-on-refusal", "the next MX is tried when one refuses the connection",
       "one dead MX must not stop delivery", "RFC 5321 §5.1", dns_mode, check_next_on_refusal},
      {"mx.next-on-421", "the next MX is tried after a 421 greeting", "a busy MX sends 421", "RFC 5321 §3.8, §5.1",
       dns_mode, check_next_on_421},
      {"mx.next-on-5xx-greeting", "the next MX is tried after a 554 greeting", "a 5xx greeting refuses this client",
       "RFC 5321 §3.1, §5.1", dns_mode, check_next_on_5xx_greeting},
      {"mx.implicit", "a domain without MX is delivered to its A record", "the implicit MX rule", "RFC 5321 §5.1",
       dns_mode, check_implicit_mx},
      {"mx.null-mx", "a null MX bounces at once with 5.1.10", "the domain accepts no mail", "RFC 7505 §3", dns_mode,
       check_null_mx},
  };
  return checks;
}

const Check* find_check(std::string_view id) {
  for (const Check& check : catalogue()) {
    if (check.id == id) return &check;
  }
  return nullptr;
}

}  // namespace relaysim::conformance
