// Exploration finds real bugs: each deliberately broken relay variant must be caught by one of
// the properties within a bounded number of generated scenarios, and shrunk to a small scenario.
// A variant is a setting of each relay and org of the worlds explore builds (explore::explore's
// last argument; relay/broken_variant.hpp): no scenario or command line can select one.

#include <catch2/catch.hpp>

#include "explore/explore.hpp"
#include "relay/broken_variant.hpp"

namespace {

constexpr int runs_allowed = 400;  // generated scenarios per property before the variant counts as missed

}  // namespace

using namespace relaysim;

TEST_CASE("exploration catches every broken relay variant and shrinks it to a small scenario", "[explore][variants]") {
  // Each variant, and for those whose rule has its own invariant, what the failure must name.
  const std::vector<std::pair<relay::BrokenVariant, std::string>> variants = {
      {relay::BrokenVariant::no_backoff, ""},
      {relay::BrokenVariant::ack_before_fsync, ""},
      {relay::BrokenVariant::ignore_mx_preference, ""},
      {relay::BrokenVariant::rcpt_5xx_as_4xx, ""},
      {relay::BrokenVariant::never_expire, ""},
      {relay::BrokenVariant::bounce_loop, ""},
      {relay::BrokenVariant::drop_last_recipient, ""},
      {relay::BrokenVariant::notice_to_header_from, "not to its envelope sender"},
      {relay::BrokenVariant::early_expiry, "after temporary failures only, before its"},
      {relay::BrokenVariant::delay_notice_every_deferral, "delay notices about"},
      {relay::BrokenVariant::null_mx_as_implicit, "null MX"},
      {relay::BrokenVariant::mynetworks_one_bit_short, "neither in mynetworks nor authenticated"},
      {relay::BrokenVariant::filter_priority_reversed, "the filters say"},
      {relay::BrokenVariant::notify_ignored, "notices honour NOTIFY and RET"},
      {relay::BrokenVariant::recovery_drops_last_change, "a recorded delivery or bounce is never made again"},
      {relay::BrokenVariant::dead_destination_forever, "though its time did not run out while a fault was in force"},
      {relay::BrokenVariant::mta_sts_ignored, "MTA-STS policy of dest.example"},
      {relay::BrokenVariant::tlsa_ignored, "DNSSEC-validated TLSA records, at level dane"},
  };
  for (const auto& [variant, named] : variants) {
    std::optional<explore::Exploration> caught;
    std::string by;
    int runs = 0;
    for (const explore::Property& property : explore::properties()) {
      explore::Coverage coverage;
      explore::Exploration result = explore::explore(property, 1, runs_allowed, coverage, variant);
      runs += result.runs + (result.passed ? 0 : 1);
      if (!result.passed) {
        caught = std::move(result);
        by = property.name;
        break;
      }
    }
    INFO("variant " << relay::to_string(variant));
    REQUIRE(caught);
    REQUIRE(caught->counterexample);
    const nlohmann::json& scenario = *caught->counterexample;
    const nlohmann::json& traffic = scenario["nodes"]["salesforce"]["traffic"];
    std::size_t recipients = 0;
    for (const nlohmann::json& send : traffic) recipients += send["to"].size();
    const std::size_t faults = scenario.contains("faults") ? scenario["faults"].size() : 0;
    WARN(relay::to_string(variant) << ": caught by " << by << " after " << runs << " scenarios; shrunk to "
                                   << traffic.size() << " sends, " << recipients << " recipients, " << faults
                                   << " faults, " << scenario["nodes"].size()
                                   << " nodes: " << caught->message.substr(0, 200));
    if (!named.empty()) CHECK(caught->message.find(named) != std::string::npos);
    CHECK(traffic.size() <= 2);
    CHECK(faults <= 3);  // a crash and its restart are two
  }
}
