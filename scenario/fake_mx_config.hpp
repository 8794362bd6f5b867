#pragma once
// A fake MX's behaviour as JSON (docs/fake-mx.md documents every key). Unknown keys and ill-typed
// values are InputErrors naming the JSON path.

#include "fake_mx/behaviour.hpp"
#include "scenario/json_reader.hpp"

namespace relaysim::scenario {

// `origin` is the instant "+1h" in time windows counts from (the scenario's start).
fake_mx::Behaviour read_fake_mx_behaviour(const JsonValue& value, Instant origin);
// "450 4.7.1 text", "250 Ok", multi-line with "\n" in the text.
smtp::Reply read_reply(const JsonValue& value);

}  // namespace relaysim::scenario
