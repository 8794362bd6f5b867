#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include "support/client_dialogue.hpp"

using namespace relaysim;
using namespace relaysim::testing;
using smtp::Outcome;
using smtp::Stage;
namespace client_event = smtp::client_event;

namespace {
constexpr const char* ehlo_pipelining = R"(
    S: 250-mx.dest.example
    S: 250-PIPELINING
    S: 250-SIZE 10240000
    S: 250-8BITMIME
    S: 250 DSN
)";
}

TEST_CASE("a pipelined transaction gives each recipient its own outcome", "[smtp][client]") {
  ClientDialogue dialogue(relay_client_config());
  dialogue.run(std::string(R"(
    S: 220 mx.dest.example ESMTP
    C: EHLO relay.acme.example
  )") + ehlo_pipelining);
  REQUIRE(dialogue.session.ready());
  CHECK(dialogue.session.capabilities().pipelining);
  CHECK(dialogue.session.capabilities().size_max == 10240000u);
  auto outgoing =
      message("news@acme.example", {"ann@dest.example", "nobody@dest.example"}, "Subject: hi\r\n\r\n.dot\r\n");
  outgoing.recipients[0].dsn.notify_given = true;
  outgoing.recipients[0].dsn.notify_failure = true;
  outgoing.recipients[0].dsn.orcpt = "ann@dest.example";
  outgoing.parameters.ret = "HDRS";
  outgoing.parameters.envid = "id+1";
  REQUIRE(dialogue.session.send(dialogue.now, outgoing));
  dialogue.run(R"(
    C: MAIL FROM:<news@acme.example> SIZE=21 RET=HDRS ENVID=id+2B1
    C: RCPT TO:<ann@dest.example> NOTIFY=FAILURE ORCPT=rfc822;ann@dest.example
    C: RCPT TO:<nobody@dest.example>
    C: DATA
    S: 250 2.1.0 Ok
    S: 250 2.1.5 Ok
    S: 550 5.1.1 <nobody@dest.example>: Recipient address rejected
    S: 354 End data with <CR><LF>.<CR><LF>
    C: Subject: hi
    C:
    C: ..dot
    C: .
    S: 250 2.0.0 Ok: queued as 4F2A
  )");
  const auto finished = dialogue.events_of<client_event::Finished>();
  REQUIRE(finished.size() == 1);
  const smtp::TransactionResult& result = finished[0].result;
  REQUIRE(result.recipients.size() == 2);
  CHECK(result.recipients[0].outcome == Outcome::delivered);
  CHECK(result.recipients[0].reply->text() == "250 2.0.0 Ok: queued as 4F2A");
  CHECK(result.recipients[1].outcome == Outcome::permanent);
  CHECK(result.recipients[1].stage == Stage::rcpt);
  CHECK(result.recipients[1].reply->enhanced == "5.1.1");
  CHECK_FALSE(result.possible_duplicate);
  CHECK(dialogue.session.ready());  // the connection can be reused
}

TEST_CASE("without PIPELINING the client waits for each reply", "[smtp][client]") {
  ClientDialogue dialogue(relay_client_config());
  dialogue.run(R"(
    S: 220 mx ESMTP
    C: EHLO relay.acme.example
    S: 250 mx
  )");
  REQUIRE(
      dialogue.session.send(dialogue.now, message("a@acme.example", {"b@dest.example", "c@dest.example"}, "x\r\n")));
  dialogue.run(R"(
    C: MAIL FROM:<a@acme.example>
    S: 250 ok
    C: RCPT TO:<b@dest.example>
    S: 450 4.2.0 <b@dest.example>: Recipient address rejected: Greylisted
    C: RCPT TO:<c@dest.example>
    S: 250 ok
    C: DATA
    S: 354 go
    C: x
    C: .
    S: 250 ok
  )");
  const auto result = dialogue.events_of<client_event::Finished>().at(0).result;
  CHECK(result.recipients[0].outcome == Outcome::transient);
  CHECK(result.recipients[1].outcome == Outcome::delivered);
}

TEST_CASE("a 5xx to EHLO falls back to HELO", "[smtp][client]") {
  ClientDialogue dialogue(relay_client_config());
  dialogue.run(R"(
    S: 220 old.example SMTP
    C: EHLO relay.acme.example
    S: 502 Command not implemented
    C: HELO relay.acme.example
    S: 250 old.example
  )");
  CHECK(dialogue.session.ready());
  CHECK_FALSE(dialogue.session.capabilities().esmtp);
}

TEST_CASE("a greeting other than 220 fails the session at the greeting stage", "[smtp][client]") {
  ClientDialogue dialogue(relay_client_config());
  dialogue.run(R"(
    S: 554 5.7.1 mx.dest.example does not accept mail from you
    C: QUIT
    S: 221 Bye
  )");
  const auto failed = dialogue.events_of<client_event::Failed>();
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].stage == Stage::greeting);
  CHECK(failed[0].permanent);
  CHECK(dialogue.session.closed());
}

TEST_CASE("opportunistic STARTTLS: the owner runs the handshake, the session says EHLO again", "[smtp][client][tls]") {
  ClientDialogue dialogue(relay_client_config(smtp::ClientTls::opportunistic));
  dialogue.run(R"(
    S: 220 mx ESMTP
    C: EHLO relay.acme.example
    S: 250-mx
    S: 250 STARTTLS
    C: STARTTLS
    S: 220 2.0.0 Ready to start TLS
    S: 250 injected reply
  )");
  CHECK(dialogue.events_of<client_event::StartTls>().size() == 1);
  CHECK(dialogue.events_of<client_event::Violation>().size() == 1);  // the injected reply was discarded
  dialogue.session.tls_started(dialogue.now, {true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", "CN=mx", true});
  dialogue.run(R"(
    C: EHLO relay.acme.example
    S: 250-mx
    S: 250 PIPELINING
  )");
  CHECK(dialogue.session.ready());
  CHECK(dialogue.session.tls().active);
  CHECK_FALSE(dialogue.session.capabilities().starttls);  // learned afresh after TLS
}

TEST_CASE("STARTTLS refused: opportunistic carries on in plaintext, required gives up", "[smtp][client][tls]") {
  SECTION("opportunistic") {
    ClientDialogue dialogue(relay_client_config(smtp::ClientTls::opportunistic));
    dialogue.run(R"(
      S: 220 mx ESMTP
      C: EHLO relay.acme.example
      S: 250-mx
      S: 250 STARTTLS
      C: STARTTLS
      S: 454 4.7.0 TLS not available due to local problem
    )");
    CHECK(dialogue.session.ready());
    CHECK_FALSE(dialogue.session.tls().active);
  }
  SECTION("required, refused") {
    ClientDialogue dialogue(relay_client_config(smtp::ClientTls::required));
    dialogue.run(R"(
      S: 220 mx ESMTP
      C: EHLO relay.acme.example
      S: 250-mx
      S: 250 STARTTLS
      C: STARTTLS
      S: 454 4.7.0 TLS not available due to local problem
      C: QUIT
    )");
    const auto failed = dialogue.events_of<client_event::Failed>();
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].stage == Stage::starttls);
    CHECK_FALSE(failed[0].permanent);
  }
  SECTION("required, not offered") {
    ClientDialogue dialogue(relay_client_config(smtp::ClientTls::required));
    dialogue.run(R"(
      S: 220 mx ESMTP
      C: EHLO relay.acme.example
      S: 250 mx
      C: QUIT
    )");
    REQUIRE(dialogue.events_of<client_event::Failed>().size() == 1);
    CHECK(dialogue.events_of<client_event::Failed>()[0].reason == "TLS is required, but was not offered by the server");
  }
}

TEST_CASE("AUTH PLAIN sends an initial response, AUTH LOGIN answers the two prompts", "[smtp][client][auth]") {
  SECTION("PLAIN") {
    smtp::ClientConfig config = relay_client_config();
    config.auth = smtp::Credentials{"sfdc", "s3cret", "PLAIN"};
    ClientDialogue dialogue(config);
    dialogue.run(R"(
      S: 220 relay ESMTP
      C: EHLO relay.acme.example
      S: 250-relay
      S: 250 AUTH PLAIN LOGIN
      C: AUTH PLAIN AHNmZGMAczNjcmV0
      S: 235 2.7.0 Authentication successful
    )");
    CHECK(dialogue.session.ready());
  }
  SECTION("LOGIN, refused") {
    smtp::ClientConfig config = relay_client_config();
    config.auth = smtp::Credentials{"sfdc", "wrong", "LOGIN"};
    ClientDialogue dialogue(config);
    dialogue.run(R"(
      S: 220 relay ESMTP
      C: EHLO relay.acme.example
      S: 250-relay
      S: 250 AUTH PLAIN LOGIN
      C: AUTH LOGIN
      S: 334 VXNlcm5hbWU6
      C: c2ZkYw==
      S: 334 UGFzc3dvcmQ6
      C: d3Jvbmc=
      S: 535 5.7.8 Error: authentication failed
      C: QUIT
    )");
    const auto failed = dialogue.events_of<client_event::Failed>();
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].stage == Stage::auth);
    CHECK(failed[0].permanent);
  }
}

TEST_CASE("message-level refusals apply to every recipient at their stage", "[smtp][client]") {
  ClientDialogue dialogue(relay_client_config());
  dialogue.run(std::string("S: 220 mx ESMTP\nC: EHLO relay.acme.example\n") + ehlo_pipelining);
  SECTION("4xx at MAIL") {
    REQUIRE(dialogue.session.send(dialogue.now, message("a@acme.example", {"b@dest.example", "c@dest.example"}, "x")));
    dialogue.run(R"(
      C: MAIL FROM:<a@acme.example> SIZE=1
      C: RCPT TO:<b@dest.example>
      C: RCPT TO:<c@dest.example>
      C: DATA
      S: 451 4.3.0 Try again later
      S: 503 5.5.1 Error: need MAIL command
      S: 503 5.5.1 Error: need MAIL command
      S: 503 5.5.1 Error: need RCPT command
      C: RSET
      S: 250 ok
    )");
    const auto result = dialogue.events_of<client_event::Finished>().at(0).result;
    for (const auto& recipient : result.recipients) {
      CHECK(recipient.outcome == Outcome::transient);
      CHECK(recipient.stage == Stage::mail);
    }
  }
  SECTION("5xx after the final dot") {
    REQUIRE(dialogue.session.send(dialogue.now, message("a@acme.example", {"b@dest.example"}, "spam\r\n")));
    dialogue.run(R"(
      C: MAIL FROM:<a@acme.example> SIZE=6
      C: RCPT TO:<b@dest.example>
      C: DATA
      S: 250 ok
      S: 250 ok
      S: 354 go
      C: spam
      C: .
      S: 550 5.7.1 Message rejected as spam
    )");
    const auto result = dialogue.events_of<client_event::Finished>().at(0).result;
    CHECK(result.recipients[0].outcome == Outcome::permanent);
    CHECK(result.recipients[0].stage == Stage::content);
  }
  SECTION("every recipient refused: the pipelined DATA gets an empty message") {
    REQUIRE(dialogue.session.send(dialogue.now, message("a@acme.example", {"b@dest.example"}, "x")));
    dialogue.run(R"(
      C: MAIL FROM:<a@acme.example> SIZE=1
      C: RCPT TO:<b@dest.example>
      C: DATA
      S: 250 ok
      S: 550 5.1.1 no such user
      S: 354 go
      C: .
      S: 250 ok
    )");
    const auto result = dialogue.events_of<client_event::Finished>().at(0).result;
    CHECK(result.recipients[0].outcome == Outcome::permanent);
    CHECK(result.recipients[0].stage == Stage::rcpt);
  }
}

TEST_CASE("a connection lost after the final dot is a possible duplicate", "[smtp][client]") {
  ClientDialogue dialogue(relay_client_config());
  dialogue.run(std::string("S: 220 mx ESMTP\nC: EHLO relay.acme.example\n") + ehlo_pipelining);
  REQUIRE(dialogue.session.send(dialogue.now, message("a@acme.example", {"b@dest.example"}, "x\r\n")));
  dialogue.run(R"(
    C: MAIL FROM:<a@acme.example> SIZE=3
    C: RCPT TO:<b@dest.example>
    C: DATA
    S: 250 ok
    S: 250 ok
    S: 354 go
    C: x
    C: .
  )");
  dialogue.session.connection_lost(dialogue.now, "reset");
  dialogue.collect();
  const auto result = dialogue.events_of<client_event::Finished>().at(0).result;
  CHECK(result.possible_duplicate);
  CHECK(result.recipients[0].outcome == Outcome::transient);
  CHECK(result.recipients[0].stage == Stage::content);
  CHECK(dialogue.session.closed());
}

TEST_CASE("a stage timeout makes the open recipients transient", "[smtp][client]") {
  ClientDialogue dialogue(relay_client_config());
  dialogue.run(std::string("S: 220 mx ESMTP\nC: EHLO relay.acme.example\n") + ehlo_pipelining);
  REQUIRE(dialogue.session.send(dialogue.now, message("a@acme.example", {"b@dest.example"}, "x")));
  dialogue.session.take_output();
  CHECK(dialogue.session.deadline() == dialogue.now + 5min);  // the MAIL reply
  dialogue.session.on_deadline(dialogue.now + 5min);
  dialogue.collect();
  const auto result = dialogue.events_of<client_event::Finished>().at(0).result;
  CHECK(result.recipients[0].outcome == Outcome::transient);
  CHECK(result.recipients[0].detail == "timed out waiting for the MAIL FROM reply");
  CHECK_FALSE(result.possible_duplicate);
}

TEST_CASE("a malformed reply ends the session", "[smtp][client]") {
  ClientDialogue dialogue(relay_client_config());
  dialogue.run(R"(
    S: 220 mx ESMTP
    C: EHLO relay.acme.example
    S: 25O mx
  )");
  REQUIRE(dialogue.events_of<client_event::Failed>().size() == 1);
  CHECK(dialogue.events_of<client_event::Failed>()[0].stage == Stage::ehlo);
  CHECK(dialogue.session.closed());
}

TEST_CASE("a message larger than the server's SIZE is refused before sending", "[smtp][client]") {
  ClientDialogue dialogue(relay_client_config());
  dialogue.run(R"(
    S: 220 mx ESMTP
    C: EHLO relay.acme.example
    S: 250-mx
    S: 250 SIZE 4
  )");
  REQUIRE(dialogue.session.send(dialogue.now, message("a@acme.example", {"b@dest.example"}, "too large")));
  dialogue.collect();
  CHECK(dialogue.take_output().empty());
  const auto result = dialogue.events_of<client_event::Finished>().at(0).result;
  CHECK(result.recipients[0].outcome == Outcome::permanent);
  CHECK(result.recipients[0].reply->enhanced == "5.3.4");
}

TEST_CASE("internationalized mail goes only to a server that offers SMTPUTF8", "[smtp][client][smtputf8]") {
  const auto ready = [](const char* ehlo) {
    auto dialogue = std::make_unique<ClientDialogue>(relay_client_config());
    dialogue->run(std::string("S: 220 mx ESMTP\nC: EHLO relay.acme.example\n") + ehlo);
    REQUIRE(dialogue->session.ready());
    return dialogue;
  };
  SECTION("a UTF-8 recipient to a server without it: 5.6.7 before MAIL FROM, the client's own reply") {
    auto dialogue = ready("S: 250-mx\nS: 250 8BITMIME\n");
    REQUIRE(dialogue->session.send(dialogue->now,
                                   message("a@acme.example", {"jos\xc3\xa9@dest.example"}, "Subject: x\r\n\r\nx\r\n")));
    dialogue->collect();
    CHECK(dialogue->take_output().empty());
    const auto result = dialogue->events_of<client_event::Finished>().at(0).result;
    CHECK(result.recipients[0].outcome == Outcome::permanent);
    CHECK(result.recipients[0].reply->enhanced == "5.6.7");
    CHECK(result.recipients[0].unsendable == smtp::Unsendable::needs_smtputf8);
    CHECK(dialogue->session.ready());  // the connection stays usable for other mail
  }
  SECTION("the same to a server with it: MAIL FROM asks for SMTPUTF8 though the sender did not") {
    auto dialogue = ready("S: 250-mx\nS: 250 SMTPUTF8\n");
    REQUIRE(dialogue->session.send(dialogue->now, message("a@acme.example", {"jos\xc3\xa9@dest.example"}, "x\r\n")));
    dialogue->run("C: MAIL FROM:<a@acme.example> SMTPUTF8\nS: 250 ok\nC: RCPT TO:<jos\xc3\xa9@dest.example>\n");
  }
  SECTION("asked for, but ASCII throughout: sent to a server without it, without the parameter") {
    auto dialogue = ready("S: 250-mx\nS: 250 8BITMIME\n");
    auto outgoing = message("a@acme.example", {"b@dest.example"},
                            "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\r\nGr\xc3\xbc\xc3\x9f"
                            "e\r\n");
    outgoing.parameters.smtputf8 = true;
    REQUIRE(dialogue->session.send(dialogue->now, outgoing));
    dialogue->run("C: MAIL FROM:<a@acme.example>\nS: 250 ok\nC: RCPT TO:<b@dest.example>\n");
  }
  SECTION("asked for, with a UTF-8 header: not sent to a server without it") {
    auto dialogue = ready("S: 250-mx\nS: 250 8BITMIME\n");
    auto outgoing = message("a@acme.example", {"b@dest.example"},
                            "Subject: Gr\xc3\xbc\xc3\x9f"
                            "e\r\n\r\nx\r\n");
    outgoing.parameters.smtputf8 = true;
    REQUIRE(dialogue->session.send(dialogue->now, outgoing));
    dialogue->collect();
    CHECK(dialogue->take_output().empty());
    CHECK(dialogue->events_of<client_event::Finished>().at(0).result.recipients[0].unsendable ==
          smtp::Unsendable::needs_smtputf8);
  }
}

TEST_CASE("needs_smtputf8 looks at the envelope, and at the headers only when the sender asked",
          "[smtp][client][smtputf8]") {
  auto outgoing = message("a@acme.example", {"b@dest.example"},
                          "Subject: Gr\xc3\xbc\xc3\x9f"
                          "e\r\n\r\nbody\r\n");
  CHECK_FALSE(smtp::needs_smtputf8(outgoing));  // 8-bit headers without SMTPUTF8: the pre-RFC 6531 world, 8BITMIME
  outgoing.parameters.smtputf8 = true;
  CHECK(smtp::needs_smtputf8(outgoing));
  outgoing.content =
      "Subject: hi\r\n\r\nGr\xc3\xbc\xc3\x9f"
      "e in the body only\r\n";
  CHECK_FALSE(smtp::needs_smtputf8(outgoing));
  CHECK(
      smtp::needs_smtputf8(message("a@b\xc3\xbc"
                                   "cher.example",
                                   {"b@dest.example"}, "x\r\n")));
  CHECK(smtp::needs_smtputf8(message("", {"b@dest.example", "\xe5\xbc\xa0@dest.example"}, "x\r\n")));
}

TEST_CASE("dot-stuffing turns bare CR and LF into CRLF so nothing can end DATA early", "[smtp][client][smuggling]") {
  CHECK(smtp::dot_stuff("") == ".\r\n");
  CHECK(smtp::dot_stuff("a") == "a\r\n.\r\n");
  CHECK(smtp::dot_stuff(".a\r\n.\r\n") == "..a\r\n..\r\n.\r\n");
  CHECK(smtp::dot_stuff("x\n.\nMAIL FROM:<evil>") == "x\r\n..\r\nMAIL FROM:<evil>\r\n.\r\n");
  CHECK(smtp::dot_stuff("x\r.\rY") == "x\r\n..\r\nY\r\n.\r\n");
}

TEST_CASE("what the client stuffs, the server unstuffs to the same message", "[smtp][client][property]") {
  rc::prop("any content arrives whole, as one message, with line endings made CRLF", [](const std::string& content) {
    smtp::ServerConfig config = mx_config();
    config.message_size_max = 0;
    ServerDialogue server(config);
    server.send("EHLO c.example\r\n");
    server.send("MAIL FROM:<a@acme.example>\r\nRCPT TO:<b@dest.example>\r\nDATA\r\n");
    server.send(smtp::dot_stuff(content) + "NOOP\r\n");
    const auto messages = server.events_of<smtp::server_event::Message>();
    RC_ASSERT(messages.size() == 1u);
    // The expected content: every CR, LF or CRLF becomes CRLF, and the last line is ended.
    std::string expected;
    for (std::size_t i = 0; i < content.size(); ++i) {
      if (content[i] == '\r' || content[i] == '\n') {
        if (content[i] == '\r' && i + 1 < content.size() && content[i + 1] == '\n') ++i;
        expected += "\r\n";
      } else {
        expected += content[i];
      }
    }
    if (!expected.empty() && !expected.ends_with("\r\n")) expected += "\r\n";
    RC_ASSERT(messages[0].content == expected);
  });
}

TEST_CASE("our client and our server complete a transaction through memory", "[smtp][client][server]") {
  smtp::ServerConfig server_config = mx_config();
  ServerDialogue server(server_config);
  ClientDialogue client(relay_client_config());
  // Shuttle bytes until both sides are quiet.
  const auto shuttle = [&] {
    for (int round = 0; round < 100; ++round) {
      const std::string to_client = server.take_output();
      const std::string to_server = client.take_output();
      if (to_client.empty() && to_server.empty()) return;
      if (!to_client.empty()) client.feed(to_client);
      if (!to_server.empty()) server.feed(to_server);
    }
  };
  shuttle();
  REQUIRE(client.session.ready());
  REQUIRE(client.session.send(client.now,
                              message("news@acme.example", {"ann@dest.example"}, "Subject: hello\r\n\r\nHi Ann.\r\n")));
  shuttle();
  const auto messages = server.events_of<smtp::server_event::Message>();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].content == "Subject: hello\r\n\r\nHi Ann.\r\n");
  REQUIRE(client.events_of<client_event::Finished>().size() == 1);
  CHECK(client.events_of<client_event::Finished>()[0].result.recipients[0].outcome == Outcome::delivered);
}

TEST_CASE("send() refuses politely when the session is not ready", "[smtp][client]") {
  ClientDialogue dialogue(relay_client_config());
  // Still waiting for the greeting: nothing is sent and nothing breaks.
  CHECK_FALSE(dialogue.session.send(dialogue.now, message("a@acme.example", {"b@dest.example"}, "x")));
  CHECK(dialogue.take_output().empty());
  dialogue.feed("220 mx ESMTP\r\n421 4.3.2 shutting down\r\n");  // Ready would come, then the 421
  CHECK_FALSE(dialogue.session.send(dialogue.now, message("a@acme.example", {"b@dest.example"}, "x")));
}

TEST_CASE("lines over 998 octets are folded with CRLF SPACE, as Postfix's smtp_line_length_limit does",
          "[smtp][client][line-length]") {
  const std::string long_line(2500, 'a');
  const std::string content = "Subject: long\r\n\r\n" + long_line + "\r\n." + long_line + "\nshort\r\n";
  CHECK(smtp::longest_line(content) == 2501);
  const std::string folded = smtp::fold_long_lines(content, 998);
  CHECK(smtp::longest_line(folded) == 998);
  // Unfolding gives the original back: nothing lost, nothing added but the breaks.
  std::string unfolded = folded;
  for (std::size_t at; (at = unfolded.find("\r\n ")) != std::string::npos;) unfolded.erase(at, 3);
  CHECK(unfolded == content);
  // Sent, no line is over 998 octets even where dot-stuffing doubled a leading dot.
  CHECK(smtp::longest_line(smtp::dot_stuff(folded)) == 998);
  CHECK(smtp::fold_long_lines("short\r\n", 998) == "short\r\n");

  ClientDialogue dialogue(relay_client_config());
  dialogue.run(std::string("S: 220 mx ESMTP\nC: EHLO relay.acme.example\n") + ehlo_pipelining);
  REQUIRE(dialogue.session.send(dialogue.now, message("a@acme.example", {"b@dest.example"}, content)));
  dialogue.run("C: MAIL FROM:<a@acme.example> SIZE=" + std::to_string(content.size()) +
               "\nC: RCPT TO:<b@dest.example>\nC: DATA\n");
  dialogue.feed("250 ok\r\n250 ok\r\n354 go\r\n");
  const std::string sent = dialogue.take_output();
  CHECK(smtp::longest_line(sent) == 998);
  CHECK(sent.find("\r\n aaaa") != std::string::npos);
}
