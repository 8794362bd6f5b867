// Greylisting as postgrey does it, step by step in virtual time.

#include <catch2/catch.hpp>

#include "fake_mx/greylist.hpp"
#include "support/test_world.hpp"

using namespace relaysim;
using namespace relaysim::testing;
using namespace std::chrono_literals;
using fake_mx::GreylistVerdict;

TEST_CASE("greylisting: first sight deferred, too early deferred, in the window passed, then passed for good",
          "[fake_mx][greylist]") {
  fake_mx::Greylisting settings;
  settings.enabled = true;
  fake_mx::Greylist greylist(settings);
  const io::Address client = address("198.51.100.7");
  CHECK(greylist.check(t0(), client, "news@acme.example", "ann@dest.example") == GreylistVerdict::first_seen);
  CHECK(greylist.check(t0() + 4min, client, "news@acme.example", "ann@dest.example") == GreylistVerdict::too_early);
  CHECK(greylist.check(t0() + 5min, client, "news@acme.example", "ann@dest.example") == GreylistVerdict::passed);
  CHECK(greylist.check(t0() + 20 * 24h, client, "NEWS@acme.example", "ann@dest.example") == GreylistVerdict::passed);
  // Another address of the same /24 is the same client; another recipient is another triplet.
  CHECK(greylist.check(t0() + 20 * 24h, address("198.51.100.200"), "news@acme.example", "ann@dest.example") ==
        GreylistVerdict::passed);
  CHECK(greylist.check(t0() + 20 * 24h, client, "news@acme.example", "bob@dest.example") ==
        GreylistVerdict::first_seen);
  // A passed triplet unseen for max_age is forgotten.
  CHECK(greylist.check(t0() + 20 * 24h + 36 * 24h, client, "news@acme.example", "ann@dest.example") ==
        GreylistVerdict::first_seen);
}

TEST_CASE("greylisting: a retry after the retry window starts over", "[fake_mx][greylist]") {
  fake_mx::Greylisting settings;
  settings.enabled = true;
  fake_mx::Greylist greylist(settings);
  const io::Address client = address("2001:db8:1:2::7");
  CHECK(greylist.check(t0(), client, "", "ann@dest.example") == GreylistVerdict::first_seen);
  CHECK(greylist.check(t0() + 49h, client, "", "ann@dest.example") == GreylistVerdict::first_seen);
  CHECK(greylist.check(t0() + 49h + 5min, address("2001:db8:1:2::99"), "", "ann@dest.example") ==
        GreylistVerdict::passed);  // same /64
}

TEST_CASE("greylisting: a client is auto-whitelisted after five passes, counted at most once an hour",
          "[fake_mx][greylist]") {
  fake_mx::Greylisting settings;
  settings.enabled = true;
  fake_mx::Greylist greylist(settings);
  const io::Address client = address("203.0.113.9");
  Instant now = t0();
  // Six triplets pass within the same hour: only the first counts.
  for (int i = 0; i < 6; ++i)
    (void)greylist.check(now, client, "a@x.example", "r" + std::to_string(i) + "@dest.example");
  now += 6min;
  for (int i = 0; i < 6; ++i)
    CHECK(greylist.check(now, client, "a@x.example", "r" + std::to_string(i) + "@dest.example") ==
          GreylistVerdict::passed);
  CHECK(greylist.check(now, client, "a@x.example", "new@dest.example") == GreylistVerdict::first_seen);
  // Four more passes, an hour apart each: five in all.
  for (int hour = 1; hour <= 4; ++hour) {
    const std::string rcpt = "h" + std::to_string(hour) + "@dest.example";
    (void)greylist.check(now + hour * 1h, client, "a@x.example", rcpt);
    CHECK(greylist.check(now + hour * 1h + 6min, client, "a@x.example", rcpt) == GreylistVerdict::passed);
  }
  CHECK(greylist.check(now + 5h, client, "someone@else.example", "never-seen@dest.example") ==
        GreylistVerdict::whitelisted);
}
