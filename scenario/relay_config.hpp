#pragma once
// The relay's configuration as JSON (docs/relay.md documents every key). Unknown keys and values
// of the wrong type are InputErrors naming the key's JSON path.

#include "relay/config.hpp"
#include "scenario/json_reader.hpp"

namespace relaysim::scenario {

relay::RelayConfig read_relay_config(const JsonValue& value);
// {"domain", "selector", "key"}: `key` names the key (a scenario's dkim_keys entry, a PEM file in
// real mode); the caller loads it into `key`.
mailauth::DkimSigning read_dkim_signing(const JsonValue& value);

}  // namespace relaysim::scenario
