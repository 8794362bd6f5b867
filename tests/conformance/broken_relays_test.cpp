// The conformance checks fail where they should: relaysim's relay in a simulated world
// (scenario/conformance_world.hpp), broken one way at a time - a deliberately broken variant
// (relay/broken_variant.hpp), a certificate for another name, an expired one, slow retries - must
// fail the check written for that rule, and the unbroken relay must pass it.

#include <catch2/catch.hpp>

#include "scenario/conformance_world.hpp"
#include "tls/certificate.hpp"
#include "tls/engine.hpp"

using namespace relaysim;

namespace {

Instant start() { return *parse_iso8601("2026-03-02T09:00:00Z"); }

io::Endpoint endpoint(const char* address, std::uint16_t port) { return {*io::Address::parse(address), port}; }

// A relay trusting 127.0.0.1 only, forwarding everything to the harness on 127.0.0.1:2526,
// retrying after 2 to 3 seconds.
relay::RelayConfig relay_config(relay::BrokenVariant variant = relay::BrokenVariant::none) {
  relay::RelayConfig config;
  config.myhostname = "relay.test";
  config.listeners = {relay::ListenerConfig{endpoint("127.0.0.1", 2525), false}};
  config.mynetworks = {*io::Cidr::parse("127.0.0.1/32")};
  config.transport_maps = {relay::Transport{"*", "", "127.0.0.1", 2526, false}};
  config.minimal_backoff_time = std::chrono::seconds(2);
  config.maximal_backoff_time = std::chrono::seconds(3);
  config.retry_jitter_percent = 0;
  config.broken_variant = variant;
  return config;
}

conformance::Options options_for(std::vector<std::string> only) {
  conformance::Options options;
  options.listen = endpoint("127.0.0.1", 2526);
  options.stranger = *io::Address::parse("127.0.0.2");
  options.retry_window = std::chrono::seconds(20);
  options.settle = std::chrono::seconds(2);
  options.only = std::move(only);
  return options;
}

conformance::Verdict verdict_of(const scenario::SimulatedConformance& outcome, std::string_view id) {
  for (const conformance::CheckResult& result : outcome.results) {
    if (result.check->id == id) return result.outcome.verdict;
  }
  FAIL("no result for " << id);
  return conformance::Verdict::skipped;
}

std::string table(const scenario::SimulatedConformance& outcome) {
  std::string out;
  for (const conformance::CheckResult& result : outcome.results) {
    out += std::string(result.check->id) + " " + std::string(conformance::to_string(result.outcome.verdict)) + ": " +
           result.outcome.detail + "\n" + result.outcome.evidence;
  }
  return out;
}

scenario::SimulatedConformance run(relay::RelayConfig relay, conformance::Options options, relay::RelayTls tls = {}) {
  scenario::ConformanceWorld world;
  world.relay = std::move(relay);
  world.relay_tls = tls;
  world.options = std::move(options);
  world.start = start();
  scenario::SimulatedConformance outcome = scenario::run_conformance(std::move(world));
  INFO(table(outcome));
  REQUIRE(outcome.finished);
  REQUIRE(outcome.reachable);
  return outcome;
}

}  // namespace

TEST_CASE("each broken relay variant fails the conformance check written for its rule", "[conformance]") {
  struct Case {
    relay::BrokenVariant variant;
    std::string check;
  };
  const std::vector<Case> cases = {
      {relay::BrokenVariant::notice_to_header_from, "dsn.to-envelope-sender"},
      {relay::BrokenVariant::rcpt_5xx_as_4xx, "dsn.to-envelope-sender"},
      {relay::BrokenVariant::notify_ignored, "dsn.notify-never"},
      {relay::BrokenVariant::drop_last_recipient, "delivery.every-recipient"},
      {relay::BrokenVariant::no_backoff, "delivery.tempfail-retried"},
      {relay::BrokenVariant::no_backoff, "delivery.greylisting-retried"},
  };
  for (const Case& broken : cases) {
    INFO(std::string(relay::to_string(broken.variant)) + " against " + broken.check);
    const auto sound = run(relay_config(), options_for({broken.check}));
    INFO(table(sound));
    CHECK(verdict_of(sound, broken.check) == conformance::Verdict::pass);
    const auto caught = run(relay_config(broken.variant), options_for({broken.check}));
    INFO(table(caught));
    CHECK(verdict_of(caught, broken.check) == conformance::Verdict::fail);
  }
}

TEST_CASE("in dns mode a relay that ignores MX preferences or reads a null MX as none fails the MX checks",
          "[conformance]") {
  const auto dns_mode = [](std::string check) {
    conformance::Options options = options_for({std::move(check)});
    options.mode = conformance::Mode::dns;
    return options;
  };
  const auto routing_by_mx = [](relay::BrokenVariant variant) {
    relay::RelayConfig config = relay_config(variant);
    config.transport_maps.clear();
    return config;
  };
  const std::vector<std::pair<relay::BrokenVariant, std::string>> cases = {
      {relay::BrokenVariant::ignore_mx_preference, "mx.best-first"},
      {relay::BrokenVariant::null_mx_as_implicit, "mx.null-mx"},
  };
  for (const auto& [variant, check] : cases) {
    INFO(std::string(relay::to_string(variant)) + " against " + check);
    CHECK(verdict_of(run(routing_by_mx(relay::BrokenVariant::none), dns_mode(check)), check) ==
          conformance::Verdict::pass);
    CHECK(verdict_of(run(routing_by_mx(variant), dns_mode(check)), check) == conformance::Verdict::fail);
  }
  // Every MX check passes on the sound relay.
  const auto all = run(routing_by_mx(relay::BrokenVariant::none), dns_mode("mx."));
  for (const conformance::CheckResult& result : all.results) {
    INFO(std::string(result.check->id) + ": " + result.outcome.detail);
    CHECK(result.outcome.verdict == conformance::Verdict::pass);
  }
}

TEST_CASE("a relay that trusts the stranger fails the open-relay check", "[conformance]") {
  relay::RelayConfig trusting = relay_config();
  trusting.mynetworks = {*io::Cidr::parse("127.0.0.0/8")};
  CHECK(verdict_of(run(relay_config(), options_for({"relay."})), "relay.unauthenticated-refused") ==
        conformance::Verdict::pass);
  CHECK(verdict_of(run(trusting, options_for({"relay."})), "relay.unauthenticated-refused") ==
        conformance::Verdict::fail);
}

TEST_CASE("the certificate checks fail on a certificate for another name and on an expired one", "[conformance]") {
  tls::CryptoContext crypto(11);
  tls::Forge forge(crypto);
  const Instant now = start();
  tls::CertificateSpec authority_spec;
  authority_spec.common_name = "Test CA";
  authority_spec.not_before = now - std::chrono::hours(24);
  authority_spec.not_after = now + std::chrono::hours(24 * 3650);
  authority_spec.certificate_authority = true;
  auto authority = forge.certificate_authority(authority_spec);
  const auto leaf = [&](std::string name, Instant not_after) {
    tls::CertificateSpec spec;
    spec.common_name = name;
    spec.dns_names = {name};
    spec.not_before = now - std::chrono::hours(48);
    spec.not_after = not_after;
    spec.label = name + std::to_string(not_after.unix_seconds());
    return forge.issue(spec, authority.get());
  };
  const auto client = [&](std::vector<const tls::Certificate*> trusted, tls::Verification verification) {
    tls::ContextConfig config;
    config.role = tls::Role::client;
    config.trusted = std::move(trusted);
    config.verification = verification;
    return std::make_unique<tls::Context>(crypto, config);
  };
  const auto good = leaf("relay.test", now + std::chrono::hours(24 * 90));
  const auto misnamed = leaf("other.test", now + std::chrono::hours(24 * 90));
  const auto expired = leaf("relay.test", now - std::chrono::hours(1));
  const auto server = [&](const tls::Certificate& certificate) {
    tls::ContextConfig config;
    config.certificate = &certificate;
    return std::make_unique<tls::Context>(crypto, config);
  };
  const auto judged = client({authority.get()}, tls::Verification::none);
  const auto verifying = client({authority.get()}, tls::Verification::chain_and_name);
  conformance::Options options = options_for(
      {"tls.certificate-name", "tls.certificate-expiry", "tls.certificate-chain", "salesforce.tls-required-verify"});
  options.tls_plain = judged.get();
  options.tls_verify = verifying.get();

  const auto with = [&](const tls::Certificate& certificate) {
    auto context = server(certificate);
    return run(relay_config(), options, relay::RelayTls{context.get(), {}});
  };
  const auto sound = with(*good);
  CHECK(verdict_of(sound, "tls.certificate-name") == conformance::Verdict::pass);
  CHECK(verdict_of(sound, "tls.certificate-expiry") == conformance::Verdict::pass);
  CHECK(verdict_of(sound, "tls.certificate-chain") == conformance::Verdict::pass);
  CHECK(verdict_of(sound, "salesforce.tls-required-verify") == conformance::Verdict::pass);

  const auto wrong_name = with(*misnamed);
  CHECK(verdict_of(wrong_name, "tls.certificate-name") == conformance::Verdict::fail);
  CHECK(verdict_of(wrong_name, "tls.certificate-chain") == conformance::Verdict::pass);
  CHECK(verdict_of(wrong_name, "salesforce.tls-required-verify") == conformance::Verdict::fail);

  const auto out_of_date = with(*expired);
  CHECK(verdict_of(out_of_date, "tls.certificate-expiry") == conformance::Verdict::fail);
  CHECK(verdict_of(out_of_date, "tls.certificate-name") == conformance::Verdict::pass);
  CHECK(verdict_of(out_of_date, "salesforce.tls-required-verify") == conformance::Verdict::fail);

  // Trusting nothing: the chain fails.
  const auto trusting_nothing = client({}, tls::Verification::none);
  options.tls_plain = trusting_nothing.get();
  auto context = server(*good);
  const auto untrusted = run(relay_config(), options, relay::RelayTls{context.get(), {}});
  CHECK(verdict_of(untrusted, "tls.certificate-chain") == conformance::Verdict::fail);
}
