// MTA-STS (RFC 8461): the TXT record, the policy body, MX patterns, and the HTTP response reader
// the policy fetch uses.

#include <catch2/catch.hpp>

#include "endpoint/https_fetch.hpp"
#include "fake_mx/policy_host.hpp"
#include "relay/mta_sts.hpp"

using namespace relaysim;
using namespace relaysim::relay::mta_sts;

TEST_CASE("MTA-STS TXT records: exactly one STSv1 record with a well-formed id", "[mta-sts]") {
  std::string why;
  CHECK(record_id({"v=STSv1; id=20160831085700Z;"}) == "20160831085700Z");
  CHECK(record_id({"v=spf1 -all", "v=STSv1;id=abc"}) == "abc");  // others ignored, spaces optional
  CHECK(record_id({"v=STSv1; id=a1; ext=x;"}) == "a1");          // unknown fields ignored
  CHECK_FALSE(record_id({"v=STSv1; id=a;", "v=STSv1; id=b;"}, &why));
  CHECK(why == "more than one v=STSv1 record");
  CHECK_FALSE(record_id({}, &why));
  CHECK(why == "no v=STSv1 record");
  CHECK_FALSE(record_id({"v=STSv1;"}, &why));
  CHECK(why == "the v=STSv1 record has no id");
  CHECK_FALSE(record_id({"v=STSv1; id=has-dash;"}, &why));
  CHECK(why == "the id is not 1 to 32 letters and digits");
  CHECK_FALSE(record_id({"v=STSv1; id=" + std::string(33, 'a') + ";"}));
  CHECK_FALSE(record_id({"v=STSv10; id=a;"}));  // another version is not this one
}

TEST_CASE("MTA-STS policies: the RFC's example parses and every required field is checked", "[mta-sts]") {
  const auto policy = parse_policy(
      "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\n"
      "max_age: 604800\r\n");
  REQUIRE(policy);
  CHECK(policy->mode == Mode::enforce);
  CHECK(policy->mx == std::vector<std::string>{"mail.example.com", "*.example.net", "backupmx.example.com"});
  CHECK(policy->max_age == std::chrono::seconds(604800));
  CHECK(describe(*policy) == "mode enforce, mx mail.example.com *.example.net backupmx.example.com, max_age 604800");
  // LF line ends, unknown keys, a policy in mode none without mx.
  CHECK(parse_policy("version: STSv1\nmode: testing\nmx: MX.Example.COM.\nmax_age: 86400\nextension: 1\n")->mx ==
        std::vector<std::string>{"mx.example.com"});
  CHECK(parse_policy("version: STSv1\nmode: none\nmax_age: 86400\n")->mode == Mode::none);

  const auto refused = [](std::string_view body) {
    std::string why;
    CHECK_FALSE(parse_policy(body, &why));
    return why;
  };
  CHECK(refused("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n") == "version is \"STSv2\", not STSv1");
  CHECK(refused("mode: enforce\nmx: a\nmax_age: 1\n") == "no version");
  CHECK(refused("version: STSv1\nmx: a\nmax_age: 1\n") == "no mode");
  CHECK(refused("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n") ==
        "mode \"strict\" is not enforce, testing or none");
  CHECK(refused("version: STSv1\nmode: enforce\nmx: a\n") == "no max_age");
  CHECK(refused("version: STSv1\nmode: enforce\nmx: a\nmax_age: 31557601\n") ==
        "max_age \"31557601\" is not a number of seconds up to 31557600");
  CHECK(refused("version: STSv1\nmode: enforce\nmax_age: 1\n") == "no mx");
  CHECK(refused("<html>not a policy</html>\n") == "a line without ':': \"<html>not a policy</html>\"");
}

TEST_CASE("MTA-STS MX patterns: exact names and one-label wildcards", "[mta-sts]") {
  Policy policy;
  policy.mx = {"mail.example.com", "*.example.net"};
  CHECK(mx_matches(policy, "mail.example.com"));
  CHECK(mx_matches(policy, "MAIL.example.com."));
  CHECK(mx_matches(policy, "mx1.example.net"));
  CHECK_FALSE(mx_matches(policy, "example.net"));        // the wildcard needs a label
  CHECK_FALSE(mx_matches(policy, "a.mx1.example.net"));  // and stands for exactly one
  CHECK_FALSE(mx_matches(policy, "mail.example.com.evil"));
  CHECK_FALSE(mx_matches(policy, "other.example.com"));
}

TEST_CASE("the policy host's text is a policy the relay reads back", "[mta-sts]") {
  const auto policy = parse_policy(fake_mx::policy_text("testing", {"mx1.dest.example", "*.dest.example"}, 3600));
  REQUIRE(policy);
  CHECK(policy->mode == Mode::testing);
  CHECK(policy->mx.size() == 2);
  CHECK(policy->max_age == std::chrono::hours(1));
}

TEST_CASE("HTTP responses: length, chunked and close-delimited bodies, and what is refused", "[mta-sts][http]") {
  using endpoint::HttpParse;
  using endpoint::parse_http_response;
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n";

  HttpParse parse = parse_http_response(head + "Content-Length: 5\r\n\r\nhello", false, 100);
  CHECK(parse.state == HttpParse::State::done);
  CHECK(parse.response.status == 200);
  CHECK(parse.response.content_type == "text/plain");
  CHECK(parse.response.body == "hello");
  CHECK(parse_http_response(head + "Content-Length: 5\r\n\r\nhel", false, 100).state == HttpParse::State::incomplete);
  CHECK(parse_http_response(head + "Content-Length: 5\r\n\r\nhel", true, 100).state == HttpParse::State::bad);

  parse =
      parse_http_response(head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;x=y\r\n!\r\n0\r\n\r\n", false, 100);
  CHECK(parse.state == HttpParse::State::done);
  CHECK(parse.response.body == "hello!");
  CHECK(parse_http_response(head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhel", false, 100).state ==
        HttpParse::State::incomplete);

  CHECK(parse_http_response(head + "\r\nto the end", false, 100).state == HttpParse::State::incomplete);
  parse = parse_http_response(head + "\r\nto the end", true, 100);
  CHECK(parse.state == HttpParse::State::done);
  CHECK(parse.response.body == "to the end");

  parse = parse_http_response("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false, 100);
  CHECK(parse.state == HttpParse::State::done);
  CHECK(parse.response.status == 404);

  parse = parse_http_response(head + "Content-Length: 101\r\n\r\n", false, 100);
  CHECK(parse.state == HttpParse::State::bad);
  CHECK(parse.error == "body over 100 bytes");
  CHECK(parse_http_response("SSH-2.0-OpenSSH\r\n\r\n", false, 100).error == "not an HTTP/1.x status line");
  CHECK(parse_http_response(std::string(20000, 'x'), false, 100).error == "header over 16 KiB");
}
