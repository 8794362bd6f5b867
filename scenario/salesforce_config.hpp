#pragma once
// A fake Salesforce org as JSON: the org's setup (relays, filters, deliverability, limits, bounce
// management, retry schedule), its traffic and its Test Deliverability runs. docs/salesforce.md
// documents every key. Unknown keys and ill-typed values are InputErrors naming the JSON path; a
// setup Salesforce itself would refuse is refused at the field, with Salesforce's reason.

#include "fake_salesforce/org_node.hpp"
#include "scenario/json_reader.hpp"

namespace relaysim::scenario {

salesforce::Org read_salesforce_org(const JsonValue& value);
// The node's "org", "traffic" and "test_deliverability"; `origin` is what "+5m" counts from.
salesforce::OrgConfig read_salesforce_node(const JsonValue& node, Instant origin);

}  // namespace relaysim::scenario
