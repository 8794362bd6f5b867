// A relay's first connection for a delivery goes to the most preferred MX (RFC 5321 §5.1), for
// domains whose MX records never change during the run. A delivery that transport_maps or
// relayhost sends elsewhere does not use the domain's MX records, and is not judged.

#include <algorithm>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/invariants/invariants.hpp"

namespace relaysim::scenario::invariants {

Verdict mx_preference(const LoadedWorld& loaded, const RunObserver& observer) {
  checks::Violations violations;
  std::size_t checked = 0;
  std::map<std::pair<std::string, std::string>, std::string> routed;  // (node, id) -> domain of the last route
  for (const RunObserver::RouteStep& step : observer.route_steps) {
    const auto key = std::make_pair(step.node, step.id);
    if (!step.domain.empty()) {
      if (step.static_route) {
        routed.erase(key);
      } else {
        routed[key] = step.domain;
      }
      continue;
    }
    const auto route = routed.find(key);
    if (route == routed.end()) continue;  // a reused connection: no route of its own
    const std::string domain = route->second;
    routed.erase(route);
    const auto records = loaded.mx_records.find(domain);
    if (records == loaded.mx_records.end() || records->second.empty()) continue;
    int best = records->second.front().preference;
    for (const io::MxRecord& record : records->second) best = std::min<int>(best, record.preference);
    checked += 1;
    if (step.preference != best) {
      violations.add(step.node + " delivered " + step.id + " for " + domain + " first to an MX of preference " +
                         std::to_string(step.preference) + " at " + checks::offset(step.at, loaded.start) +
                         ", though " + std::to_string(best) + " is the most preferred",
                     step.at);
    }
  }
  return violations.verdict("deliveries try the most preferred MX first",
                            counted(checked, "delivery", "deliveries") + " checked");
}

}  // namespace relaysim::scenario::invariants
