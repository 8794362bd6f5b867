#pragma once
// What the scenario's expectations name, held to the world they name it in, when the file is
// loaded: a relay `via` that does not exist, a log of a node that does not exist, a `send` or a
// subject no send to that recipient has, a `deferred_at` outside the run. Each would make the
// expectation fail after a whole run, or (worse) read as a typo nobody notices; here it is a
// mistake with its JSON path. Things allowed but probably not meant (an expectation about a
// recipient nothing sends to, a send or a fault after the run ends) are LoadedWorld::warnings.

#include <string>
#include <vector>

#include "scenario/json_reader.hpp"
#include "scenario/world_file.hpp"

namespace relaysim::scenario {

// The names an expectation's `via` may use: "Salesforce", the orgs' relay records, the relay nodes.
std::vector<std::string> via_names(const LoadedWorld& loaded);

// `root`: the document; `loaded`: the world read from it, with its expectations and planned messages.
void check_references(const JsonValue& root, LoadedWorld& loaded, Mistakes& mistakes);

}  // namespace relaysim::scenario
