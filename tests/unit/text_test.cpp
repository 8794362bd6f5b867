#include <catch2/catch.hpp>

#include "io/text.hpp"

using namespace relaysim;

TEST_CASE("Counts agree with their noun: 1 message and 2 messages", "[text]") {
  CHECK(counted(0, "message") == "0 messages");
  CHECK(counted(1, "message") == "1 message");
  CHECK(counted(2, "message") == "2 messages");
  CHECK(counted(1, "relay attempt") == "1 relay attempt");
  CHECK(counted(3, "delivery", "deliveries") == "3 deliveries");
  CHECK(counted(1, "delivery", "deliveries") == "1 delivery");
}
