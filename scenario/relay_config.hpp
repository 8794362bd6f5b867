#pragma once
// The relay's configuration as JSON (docs/relay.md documents every key). Unknown keys and values
// of the wrong type are InputErrors naming the key's JSON path.

#include "relay/config.hpp"
#include "scenario/json_reader.hpp"

namespace relaysim::scenario {

relay::RelayConfig read_relay_config(const JsonValue& value);

}  // namespace relaysim::scenario
