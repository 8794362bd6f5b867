#include <catch2/catch.hpp>

#include "support/dialogue.hpp"

using namespace relaysim;
using namespace relaysim::testing;
using smtp::Reply;
using smtp::Verdict;
namespace server_event = smtp::server_event;

TEST_CASE("greeting and EHLO advertise the configured extensions", "[smtp][server]") {
  smtp::ServerConfig config = mx_config();
  config.starttls = true;
  config.auth_mechanisms = {"PLAIN", "LOGIN"};
  ServerDialogue dialogue(config);
  dialogue.run(R"(
    S: 220 mx.example ESMTP
    C: EHLO client.example
    S: 250-mx.example
    S: 250-PIPELINING
    S: 250-SIZE 10240000
    S: 250-STARTTLS
    S: 250-ENHANCEDSTATUSCODES
    S: 250-8BITMIME
    S: 250 DSN
    C: HELO client.example
    S: 250 mx.example
  )");
  // AUTH is not offered before TLS when TLS is required for it.
  REQUIRE(dialogue.events_of<server_event::Helo>().size() == 2);
  CHECK(dialogue.events_of<server_event::Helo>()[0].extended);
}

TEST_CASE("SMTPUTF8 offered: UTF-8 addresses only in a transaction that asked for it", "[smtp][server][smtputf8]") {
  smtp::ServerConfig config = mx_config();
  config.smtputf8 = true;
  ServerDialogue dialogue(config);
  dialogue.run(
      "S: 220 mx.example ESMTP\n"
      "C: EHLO client.example\n"
      "S: 250-mx.example\nS: 250-PIPELINING\nS: 250-SIZE 10240000\nS: 250-ENHANCEDSTATUSCODES\n"
      "S: 250-8BITMIME\nS: 250-DSN\nS: 250 SMTPUTF8\n"
      "C: MAIL FROM:<jos\xc3\xa9@acme.example>\n"
      "S: 553 5.6.7 Error: an address outside ASCII needs SMTPUTF8\n"
      "C: MAIL FROM:<jos\xc3\xa9@acme.example> SMTPUTF8\n"
      "S: 250 2.1.0 Ok\n"
      "C: RCPT TO:<zo\xc3\xab@b\xc3\xbc"
      "cher.example>\n"
      "S: 250 2.1.5 Ok\n");
  const auto mails = dialogue.events_of<server_event::Mail>();
  REQUIRE(mails.size() == 1);
  CHECK(mails[0].parameters.smtputf8);
}

TEST_CASE("a whole transaction: dot-stuffing is undone and the message handed over once", "[smtp][server]") {
  ServerDialogue dialogue(mx_config(), [](const smtp::ServerEvent& e) {
    if (std::holds_alternative<server_event::Message>(e))
      return Verdict::accept_with(Reply::make(250, "2.0.0", "Ok: queued as 4F2A"));
    return Verdict::accept();
  });
  dialogue.run(R"(
    S: 220 mx.example ESMTP
    C: EHLO client.example
    S: 250-mx.example
    S: 250-PIPELINING
    S: 250-SIZE 10240000
    S: 250-ENHANCEDSTATUSCODES
    S: 250-8BITMIME
    S: 250 DSN
    C: MAIL FROM:<news@acme.example> SIZE=120 BODY=8BITMIME RET=HDRS ENVID=QQ+2B314
    S: 250 2.1.0 Ok
    C: RCPT TO:<ann@dest.example> NOTIFY=FAILURE,DELAY ORCPT=rfc822;ann+40dest.example
    S: 250 2.1.5 Ok
    C: DATA
    S: 354 End data with <CR><LF>.<CR><LF>
    C: Subject: hi
    C:
    C: ..leading dot
    C: .
    S: 250 2.0.0 Ok: queued as 4F2A
    C: QUIT
    S: 221 2.0.0 Bye
  )");
  const auto messages = dialogue.events_of<server_event::Message>();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].content == "Subject: hi\r\n\r\n.leading dot\r\n");
  const smtp::Envelope& envelope = messages[0].envelope;
  CHECK(envelope.sender->to_string() == "news@acme.example");
  CHECK(envelope.parameters.size == 120u);
  CHECK(envelope.parameters.body == "8BITMIME");
  CHECK(envelope.parameters.ret == "HDRS");
  CHECK(envelope.parameters.envid == "QQ+314");  // "+2B" is "+"
  REQUIRE(envelope.recipients.size() == 1);
  CHECK(envelope.recipients[0].mailbox.to_string() == "ann@dest.example");
  CHECK(envelope.recipients[0].dsn.notify_failure);
  CHECK(envelope.recipients[0].dsn.notify_delay);
  CHECK_FALSE(envelope.recipients[0].dsn.notify_success);
  CHECK(envelope.recipients[0].dsn.orcpt == "ann@dest.example");
  CHECK(dialogue.session.closed());
}

TEST_CASE("pipelined commands after EHLO are answered in order", "[smtp][server]") {
  ServerDialogue dialogue(mx_config(), [](const smtp::ServerEvent& e) {
    if (const auto* rcpt = std::get_if<server_event::Rcpt>(&e); rcpt && rcpt->recipient.mailbox.local == "nobody") {
      return Verdict::reject(Reply::make(550, "5.1.1", "<nobody@dest.example>: Recipient address rejected"));
    }
    return Verdict::accept();
  });
  dialogue.send("EHLO client.example\r\n");
  dialogue.run(R"(
    C: MAIL FROM:<a@acme.example>
    C: RCPT TO:<nobody@dest.example>
    C: RCPT TO:<b@dest.example>
    C: DATA
    S: 250 2.1.0 Ok
    S: 550 5.1.1 <nobody@dest.example>: Recipient address rejected
    S: 250 2.1.5 Ok
    S: 354 End data with <CR><LF>.<CR><LF>
    C: body
    C: .
    S: 250 2.0.0 Ok: queued
  )");
  const auto messages = dialogue.events_of<server_event::Message>();
  REQUIRE(messages.size() == 1);
  REQUIRE(messages[0].envelope.recipients.size() == 1);  // only the accepted one
  CHECK(messages[0].envelope.recipients[0].mailbox.local == "b");
}

TEST_CASE("pipelining without PIPELINING (after HELO) is a synchronization error", "[smtp][server]") {
  ServerDialogue dialogue(mx_config());
  dialogue.run(R"(
    S: 220 mx.example ESMTP
    C: HELO client.example
    S: 250 mx.example
    C: MAIL FROM:<a@acme.example>
    C: RCPT TO:<b@dest.example>
    S: 554 5.5.0 Error: SMTP protocol synchronization
  )");
  CHECK(dialogue.session.closed());
  CHECK(dialogue.events_of<server_event::Mail>().empty());
}

TEST_CASE("commands out of order get 503", "[smtp][server]") {
  ServerDialogue dialogue(mx_config());
  dialogue.run(R"(
    S: 220 mx.example ESMTP
    C: MAIL FROM:<a@acme.example>
    S: 503 5.5.1 Error: send HELO/EHLO first
    C: EHLO client.example
    S: 250-mx.example
    S: 250-PIPELINING
    S: 250-SIZE 10240000
    S: 250-ENHANCEDSTATUSCODES
    S: 250-8BITMIME
    S: 250 DSN
    C: RCPT TO:<b@dest.example>
    S: 503 5.5.1 Error: need MAIL command
    C: DATA
    S: 503 5.5.1 Error: need RCPT command
    C: MAIL FROM:<a@acme.example>
    S: 250 2.1.0 Ok
    C: MAIL FROM:<a@acme.example>
    S: 503 5.5.1 Error: nested MAIL command
    C: DATA
    S: 554 5.5.1 Error: no valid recipients
    C: RSET
    S: 250 2.0.0 Ok
    C: RCPT TO:<b@dest.example>
    S: 503 5.5.1 Error: need MAIL command
  )");
}

TEST_CASE("bad syntax and unsupported parameters are refused with the right codes", "[smtp][server]") {
  ServerDialogue dialogue(mx_config());
  dialogue.send("EHLO client.example\r\n");
  dialogue.run(R"(
    C: MAIL FROM:a@acme.example
    S: 501 5.1.7 Bad sender address syntax: the address must be in angle brackets
    C: MAIL FROM:<a@acme..example>
    S: 501 5.1.7 Bad sender address syntax: malformed domain
    C: MAIL TO:<a@acme.example>
    S: 501 5.5.4 Syntax: MAIL FROM:<address>
    C: MAIL FROM:<a@acme.example> FROBNICATE=1
    S: 555 5.5.4 Unsupported option: FROBNICATE
    C: MAIL FROM:<a@acme.example> SIZE=99999999
    S: 552 5.3.4 Message size exceeds fixed limit
    C: MAIL FROM:<a@acme.example> SIZE=12 SIZE=13
    S: 501 5.5.4 Error: duplicate SIZE
    C: MAIL FROM:<>
    S: 250 2.1.0 Ok
    C: RCPT TO:<>
    S: 501 5.1.3 Bad recipient address syntax: the null address is not allowed here
    C: RCPT TO:<b@dest.example> NOTIFY=NEVER,SUCCESS
    S: 501 5.5.4 NEVER must stand alone
    C: RCPT TO:<b@dest.example> ORCPT=rfc822
    S: 501 5.5.4 Bad ORCPT syntax
    C: FROB
    S: 500 5.5.2 Error: command not recognized
    C: VRFY ann
    S: 252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery
    C: EXPN staff
    S: 502 5.5.1 Error: command not implemented
    C: NOOP
    S: 250 2.0.0 Ok
  )");
  CHECK(dialogue.events_of<server_event::Mail>().size() == 1);
  CHECK_FALSE(dialogue.events_of<server_event::Mail>()[0].sender.has_value());  // the null sender
}

TEST_CASE("the recipient limit answers 452 past the configured number", "[smtp][server]") {
  smtp::ServerConfig config = mx_config();
  config.recipients_max = 2;
  ServerDialogue dialogue(config);
  dialogue.send("EHLO client.example\r\n");
  dialogue.run(R"(
    C: MAIL FROM:<a@acme.example>
    C: RCPT TO:<b1@dest.example>
    C: RCPT TO:<b2@dest.example>
    C: RCPT TO:<b3@dest.example>
    S: 250 2.1.0 Ok
    S: 250 2.1.5 Ok
    S: 250 2.1.5 Ok
    S: 452 4.5.3 Error: too many recipients
  )");
}

TEST_CASE("source routes are accepted, dropped and reported to the owner", "[smtp][server]") {
  ServerDialogue dialogue(mx_config());
  dialogue.send("EHLO client.example\r\n");
  dialogue.run(R"(
    C: MAIL FROM:<a@acme.example>
    S: 250 2.1.0 Ok
    C: RCPT TO:<@relay.example,@other.example:b@dest.example>
    S: 250 2.1.5 Ok
  )");
  const auto rcpts = dialogue.events_of<server_event::Rcpt>();
  REQUIRE(rcpts.size() == 1);
  CHECK(rcpts[0].source_route);
  CHECK(rcpts[0].recipient.mailbox.to_string() == "b@dest.example");
}

TEST_CASE("only CRLF.CRLF ends DATA: no bare CR or LF variant can smuggle a second message",
          "[smtp][server][smuggling]") {
  // Each variant would end DATA in some server that treats a bare CR or LF as a line end.
  const std::vector<std::string> variants = {"\n.\n", "\n.\r\n", "\r\n.\n",     "\r.\r",        "\r\n.\r",
                                             "\n.\r", ".\n",     "\r\n.\r\r\n", "\r\n\x00.\r\n"};
  for (const std::string& variant : variants) {
    CAPTURE(variant);
    SECTION("normalize mode keeps the smuggled text inside the one message") {
      smtp::ServerConfig config = mx_config();
      config.bare_line_endings = smtp::BareLineEndings::normalize;
      ServerDialogue dialogue(config);
      dialogue.send("EHLO c.example\r\n");
      dialogue.send("MAIL FROM:<a@acme.example>\r\nRCPT TO:<b@dest.example>\r\nDATA\r\n");
      dialogue.send("Subject: one\r\n\r\nbody" + variant +
                    "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@dest.example>\r\nDATA\r\nsmuggled\r\n.\r\n");
      const auto messages = dialogue.events_of<server_event::Message>();
      REQUIRE(messages.size() == 1);
      CHECK(messages[0].content.find("MAIL FROM:<evil@attacker.example>") != std::string::npos);
      CHECK(dialogue.events_of<server_event::Mail>().size() == 1);  // the smuggled MAIL was never a command
    }
    SECTION("reject mode answers 521 and closes") {
      ServerDialogue dialogue(mx_config());
      dialogue.send("EHLO c.example\r\n");
      dialogue.send("MAIL FROM:<a@acme.example>\r\nRCPT TO:<b@dest.example>\r\nDATA\r\n");
      dialogue.send("Subject: one\r\n\r\nbody" + variant + "MAIL FROM:<evil@attacker.example>\r\n.\r\n");
      if (variant == std::string("\r\n\x00.\r\n")) {
        // No bare line ending here at all: a NUL is content; the message ends at the final dot.
        CHECK(dialogue.events_of<server_event::Message>().size() == 1);
      } else {
        CHECK(dialogue.events_of<server_event::Message>().empty());
        CHECK(dialogue.session.closed());
        CHECK(dialogue.events_of<server_event::Violation>().size() == 1);
      }
    }
  }
}

TEST_CASE("bare line endings in command lines are refused", "[smtp][server][smuggling]") {
  ServerDialogue dialogue(mx_config());
  dialogue.run(R"(
    S: 220 mx.example ESMTP
    C! EHLO client.example\n
    S: 500 5.5.2 Error: bare <LF> received
    C! NOOP\rNOOP\r\n
    S: 500 5.5.2 Error: bare <CR> received
  )");
}

TEST_CASE("DATA split across many packets, even byte by byte, ends exactly at CRLF.CRLF", "[smtp][server]") {
  ServerDialogue dialogue(mx_config());
  dialogue.send("EHLO c.example\r\n");
  dialogue.send("MAIL FROM:<a@acme.example>\r\nRCPT TO:<b@dest.example>\r\nDATA\r\n");
  const std::string content = "a\r\n..b\r\n.\r\nNOOP\r\n";
  for (char c : content) dialogue.send(std::string(1, c));
  const auto messages = dialogue.events_of<server_event::Message>();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].content == "a\r\n.b\r\n");
}

TEST_CASE("a message over the size limit is read to its end and refused with 552", "[smtp][server]") {
  smtp::ServerConfig config = mx_config();
  config.message_size_max = 10;
  ServerDialogue dialogue(config);
  dialogue.send("EHLO c.example\r\n");
  dialogue.send("MAIL FROM:<a@acme.example>\r\nRCPT TO:<b@dest.example>\r\nDATA\r\n");
  dialogue.run(R"(
    C: 0123456789abcdef
    C: .
    S: 552 5.3.4 Error: message file too big
    C: NOOP
    S: 250 2.0.0 Ok
  )");
  CHECK(dialogue.events_of<server_event::Message>().empty());
}

TEST_CASE("STARTTLS discards pipelined plaintext and resets the session", "[smtp][server][tls]") {
  smtp::ServerConfig config = mx_config();
  config.starttls = true;
  config.auth_mechanisms = {"PLAIN"};
  ServerDialogue dialogue(config);
  dialogue.send("EHLO c.example\r\n");
  dialogue.run(R"(
    C: STARTTLS
    C: MAIL FROM:<injected@attacker.example>
    S: 220 2.0.0 Ready to start TLS
  )");
  CHECK(dialogue.events_of<server_event::StartTls>().size() == 1);
  CHECK(dialogue.events_of<server_event::Violation>().size() == 1);
  dialogue.send("RSET\r\n");  // plaintext while the handshake runs: never acted on
  dialogue.session.tls_started(dialogue.now, {true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", "", false});
  dialogue.run(R"(
    C: MAIL FROM:<a@acme.example>
    S: 503 5.5.1 Error: send HELO/EHLO first
    C: EHLO c.example
    S: 250-mx.example
    S: 250-PIPELINING
    S: 250-SIZE 10240000
    S: 250-AUTH PLAIN
    S: 250-ENHANCEDSTATUSCODES
    S: 250-8BITMIME
    S: 250 DSN
    C: STARTTLS
    S: 554 5.5.1 Error: TLS already active
  )");
  CHECK(dialogue.events_of<server_event::Mail>().empty());  // the injected MAIL never ran
}

TEST_CASE("implicit TLS greets only after the handshake", "[smtp][server][tls]") {
  smtp::ServerConfig config = mx_config();
  config.implicit_tls = true;
  ServerDialogue dialogue(config);
  CHECK(dialogue.session.take_output().empty());
  dialogue.session.tls_started(dialogue.now, {true, "TLSv1.3", "TLS_AES_128_GCM_SHA256", "", false});
  CHECK(dialogue.session.take_output() == "220 mx.example ESMTP\r\n");
}

TEST_CASE("AUTH needs TLS unless configured otherwise", "[smtp][server][auth]") {
  smtp::ServerConfig config = mx_config();
  config.auth_mechanisms = {"PLAIN", "LOGIN"};
  ServerDialogue dialogue(config);
  dialogue.send("EHLO c.example\r\n");
  dialogue.run(R"(
    C: AUTH PLAIN AHNmZGMAczNjcmV0
    S: 538 5.7.11 Encryption required for requested authentication mechanism
  )");
  CHECK(dialogue.events_of<server_event::Auth>().empty());
}

TEST_CASE("AUTH PLAIN and LOGIN, with and without initial responses, cancel and bad input", "[smtp][server][auth]") {
  smtp::ServerConfig config = mx_config();
  config.auth_mechanisms = {"PLAIN", "LOGIN"};
  config.auth_requires_tls = false;
  const auto policy = [](const smtp::ServerEvent& e) {
    if (const auto* auth = std::get_if<server_event::Auth>(&e)) {
      return auth->user == "sfdc" && auth->password == "s3cret"
                 ? Verdict::accept()
                 : Verdict::reject(Reply::make(535, "5.7.8", "Error: authentication failed"));
    }
    return Verdict::accept();
  };
  SECTION("PLAIN with an initial response") {
    ServerDialogue dialogue(config, policy);
    dialogue.send("EHLO c.example\r\n");
    dialogue.run(R"(
      C: AUTH PLAIN AHNmZGMAczNjcmV0
      S: 235 2.7.0 Authentication successful
      C: AUTH PLAIN AHNmZGMAczNjcmV0
      S: 503 5.5.1 Error: already authenticated
    )");
    CHECK(dialogue.session.authenticated_user() == "sfdc");
  }
  SECTION("PLAIN without an initial response, and a wrong password") {
    ServerDialogue dialogue(config, policy);
    dialogue.send("EHLO c.example\r\n");
    dialogue.run(R"(
      C: AUTH PLAIN
      S: 334 
      C: AHNmZGMAd3Jvbmc=
      S: 535 5.7.8 Error: authentication failed
    )");
    CHECK(dialogue.session.authenticated_user().empty());
  }
  SECTION("LOGIN step by step, and with the user name as initial response") {
    ServerDialogue dialogue(config, policy);
    dialogue.send("EHLO c.example\r\n");
    dialogue.run(R"(
      C: AUTH LOGIN
      S: 334 VXNlcm5hbWU6
      C: c2ZkYw==
      S: 334 UGFzc3dvcmQ6
      C: czNjcmV0
      S: 235 2.7.0 Authentication successful
    )");
    ServerDialogue second(config, policy);
    second.send("EHLO c.example\r\n");
    second.run(R"(
      C: AUTH LOGIN c2ZkYw==
      S: 334 UGFzc3dvcmQ6
      C: czNjcmV0
      S: 235 2.7.0 Authentication successful
    )");
  }
  SECTION("cancel, malformed base64, malformed PLAIN, unknown mechanism") {
    ServerDialogue dialogue(config, policy);
    dialogue.send("EHLO c.example\r\n");
    dialogue.run(R"(
      C: AUTH LOGIN
      S: 334 VXNlcm5hbWU6
      C: *
      S: 501 5.7.0 Authentication aborted
      C: AUTH PLAIN not-base64!
      S: 501 5.5.2 Error: cannot decode response
      C: AUTH PLAIN c2ZkYw==
      S: 501 5.5.2 Error: malformed PLAIN response
      C: AUTH CRAM-MD5
      S: 504 5.5.4 Error: unsupported authentication mechanism
    )");
    CHECK(dialogue.events_of<server_event::Auth>().empty());
  }
}

TEST_CASE("an over-long command line is refused once and the session goes on", "[smtp][server][limits]") {
  ServerDialogue dialogue(mx_config());
  dialogue.send("");
  dialogue.feed(std::string(600, 'A'));
  dialogue.feed(std::string(600, 'A') + "\r\nNOOP\r\n");
  dialogue.run(R"(
    S: 500 5.5.2 Error: line too long
    S: 250 2.0.0 Ok
  )");
}

TEST_CASE("too many errors end the session with 421", "[smtp][server][limits]") {
  smtp::ServerConfig config = mx_config();
  config.hard_error_limit = 3;
  ServerDialogue dialogue(config);
  dialogue.run(R"(
    S: 220 mx.example ESMTP
    C: FROB
    S: 500 5.5.2 Error: command not recognized
    C: FROB
    S: 500 5.5.2 Error: command not recognized
    C: FROB
    S: 500 5.5.2 Error: command not recognized
    S: 421 4.7.0 mx.example Error: too many errors
  )");
  CHECK(dialogue.session.closed());
}

TEST_CASE("a silent client is told 421 at the command timeout", "[smtp][server][limits]") {
  ServerDialogue dialogue(mx_config());
  dialogue.session.take_output();
  CHECK(dialogue.session.deadline() == dialogue.now + 5min);
  dialogue.session.on_deadline(dialogue.now + 4min);
  CHECK_FALSE(dialogue.session.closed());
  dialogue.session.on_deadline(dialogue.now + 5min);
  CHECK(dialogue.session.take_output() == "421 4.4.2 mx.example Error: timeout exceeded\r\n");
  CHECK(dialogue.session.closed());
}

TEST_CASE("junk commands past smtpd_junk_command_limit count as errors", "[smtp][server][limits]") {
  smtp::ServerConfig config = mx_config();
  config.junk_command_limit = 2;
  config.hard_error_limit = 2;
  ServerDialogue dialogue(config);
  dialogue.run(R"(
    S: 220 mx.example ESMTP
    C: NOOP
    S: 250 2.0.0 Ok
    C: RSET
    S: 250 2.0.0 Ok
    C: VRFY ann
    S: 252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery
    C: NOOP
    S: 250 2.0.0 Ok
    S: 421 4.7.0 mx.example Error: too many errors
  )");
  CHECK(dialogue.session.closed());
}

TEST_CASE("a per-record deadline does not move for bytes that end no line", "[smtp][server][limits]") {
  smtp::ServerConfig config = mx_config();
  config.per_record_deadline = true;
  config.command_timeout = 10s;
  ServerDialogue dialogue(config);
  dialogue.session.take_output();
  const Instant start = dialogue.now;
  for (int i = 1; i <= 3; ++i) dialogue.session.receive(start + std::chrono::seconds(3 * i), "N");
  CHECK(dialogue.session.deadline() == start + 10s);  // trickled bytes moved nothing
  dialogue.session.receive(start + 9s, "OOP\r\n");
  CHECK(dialogue.session.deadline() == start + 19s);  // a whole line did
  dialogue.session.receive(start + 12s, "N");
  dialogue.session.on_deadline(start + 19s);
  CHECK(dialogue.session.closed());

  smtp::ServerConfig per_read = mx_config();
  per_read.command_timeout = 10s;
  ServerDialogue trickled(per_read);
  trickled.session.receive(start + 3s, "N");
  CHECK(trickled.session.deadline() == start + 13s);  // without it, every byte does
}

TEST_CASE("tightened limits take effect at once: the deadline comes closer, one error ends it",
          "[smtp][server][limits]") {
  ServerDialogue dialogue(mx_config());
  dialogue.session.take_output();
  CHECK(dialogue.session.deadline() == dialogue.now + 5min);
  dialogue.session.tighten(dialogue.now + 1min, {10s, 1, 1, true});
  CHECK(dialogue.session.deadline() == dialogue.now + 1min + 10s);
  dialogue.session.receive(dialogue.now + 1min, "FROB\r\n");
  CHECK(dialogue.session.take_output() ==
        "500 5.5.2 Error: command not recognized\r\n421 4.7.0 mx.example Error: too many errors\r\n");
  CHECK(dialogue.session.closed());
}

TEST_CASE("EHLO in the middle of a transaction resets it", "[smtp][server]") {
  ServerDialogue dialogue(mx_config());
  dialogue.send("EHLO c.example\r\n");
  dialogue.send("MAIL FROM:<a@acme.example>\r\nEHLO c.example\r\n");
  dialogue.run(R"(
    C: RCPT TO:<b@dest.example>
    S: 503 5.5.1 Error: need MAIL command
  )");
}

TEST_CASE("a NUL or an 8-bit byte in an address is named, not taken for a missing domain", "[smtp][syntax]") {
  const auto error_of = [](std::string_view text) {
    const auto parsed = smtp::parse_path(text, true, false);
    return std::holds_alternative<smtp::PathError>(parsed) ? std::get<smtp::PathError>(parsed).reason
                                                           : std::string("(parsed)");
  };
  CHECK(error_of(std::string_view("<a\0b@acme.example>", 18)) == "control character in the address");
  CHECK(error_of("<caf\xc3\xa9@acme.example>") == "8-bit character in the address without SMTPUTF8");
  CHECK(error_of("<a(b@acme.example>") == "invalid character in the local part");
  CHECK(error_of("<postmaster>") == "(parsed)");
  CHECK(error_of("<ann>") == "the address needs a domain");
  const auto utf8_error_of = [](std::string_view text) {
    const auto parsed = smtp::parse_path(text, true, true);
    return std::holds_alternative<smtp::PathError>(parsed) ? std::get<smtp::PathError>(parsed).reason
                                                           : std::string("(parsed)");
  };
  CHECK(utf8_error_of("<caf\xc3\xa9@b\xc3\xbc"
                      "cher.example>") == "(parsed)");
  CHECK(utf8_error_of("<caf\xc3@acme.example>") == "malformed UTF-8 in the address");            // cut short
  CHECK(utf8_error_of("<caf\xc0\xa9@acme.example>") == "malformed UTF-8 in the address");        // overlong
  CHECK(utf8_error_of("<a\xed\xa0\x80@acme.example>") == "malformed UTF-8 in the address");      // a surrogate
  CHECK(utf8_error_of("<a\xf4\x90\x80\x80@acme.example>") == "malformed UTF-8 in the address");  // past U+10FFFF
  // Found by the address fuzzer: an address literal is printable ASCII, SMTPUTF8 or not.
  CHECK(error_of("<a@[TTLS\xe0\xe0"
                 "226.5]>") == "malformed address literal");
  CHECK(utf8_error_of("<a@[TTLS\xc3\xa9]>") == "malformed address literal");
}

TEST_CASE("addresses: quoted local parts, literals, limits and 8-bit bytes", "[smtp][syntax]") {
  const auto parse = [](std::string_view text, bool utf8 = false) { return smtp::parse_path(text, true, utf8); };
  const smtp::ParsedPath quoted = std::get<smtp::ParsedPath>(parse("<\"john q\\\"x\"@acme.example>"));
  CHECK(quoted.mailbox->local == "john q\"x");
  CHECK(quoted.mailbox->to_string() == "\"john q\\\"x\"@acme.example");
  CHECK(std::get<smtp::ParsedPath>(parse("<user@[203.0.113.5]>")).mailbox->address_literal);
  CHECK(std::holds_alternative<smtp::PathError>(parse("<" + std::string(65, 'a') + "@acme.example>")));
  CHECK(std::holds_alternative<smtp::PathError>(parse("<user@" + std::string(64, 'a') + ".example>")));
  // Found by the address fuzzer: an 8-bit byte escaped inside quotes without SMTPUTF8.
  CHECK(
      std::holds_alternative<smtp::PathError>(parse("<\"a\\\xb7"
                                                    "b\"@acme.example>")));
  // With SMTPUTF8 a whole character passes (U+00B7); a lone continuation byte is malformed UTF-8.
  CHECK(
      std::holds_alternative<smtp::ParsedPath>(parse("<\"a\\\xc2\xb7"
                                                     "b\"@acme.example>",
                                                     true)));
  CHECK(
      std::holds_alternative<smtp::PathError>(parse("<\"a\\\xb7"
                                                    "b\"@acme.example>",
                                                    true)));
  CHECK(smtp::decode_base64("AHNmZGMAczNjcmV0") == std::string("\0sfdc\0s3cret", 12));
  CHECK_FALSE(smtp::decode_base64("AHNmZGMAczNjcmV"));  // bad length
  CHECK_FALSE(smtp::decode_base64("c2ZkYx=="));         // stray bits: not canonical
  CHECK(smtp::decode_xtext("a+2Bb") == std::string("a+b"));
  CHECK_FALSE(smtp::decode_xtext("a+2b"));  // lower-case hex
}

TEST_CASE("header text outside ASCII becomes RFC 2047 words that never split a character", "[smtp][syntax][smtputf8]") {
  CHECK(smtp::encode_header_text("Quarterly report") == "Quarterly report");
  CHECK(smtp::encode_header_text("Gr\xc3\xbc\xc3\x9f"
                                 "e") == "=?UTF-8?B?R3LDvMOfZQ==?=");
  // 40 two-octet characters: more than one word's 45 octets, so two words, folded.
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "\xc3\xa9";
  const std::string encoded = smtp::encode_header_text(long_text);
  std::string decoded;
  std::size_t words = 0;
  for (std::size_t at = 0; at < encoded.size();) {
    const std::size_t end = encoded.find("\r\n ", at);
    const std::string word = encoded.substr(at, end == std::string::npos ? std::string::npos : end - at);
    CHECK(word.size() <= 75);
    REQUIRE(word.starts_with("=?UTF-8?B?"));
    REQUIRE(word.ends_with("?="));
    const auto bytes = smtp::decode_base64(word.substr(10, word.size() - 12));
    REQUIRE(bytes);
    CHECK((bytes->size() % 2) == 0);  // whole characters in each word
    decoded += *bytes;
    ++words;
    at = end == std::string::npos ? encoded.size() : end + 3;
  }
  CHECK(words == 2);
  CHECK(decoded == long_text);
}
