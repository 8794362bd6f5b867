#pragma once
// What the fake Salesforce org reports of itself: typed events (io/trace.hpp). The email log is
// also the org's state (OrgState::log), which checks read after a run; the event is the same row
// as it happens.

#include <string_view>

#include "fake_salesforce/org_node.hpp"
#include "io/trace.hpp"

namespace relaysim::salesforce::events {

// A row was added to the email log.
struct EmailLogged {
  static constexpr std::string_view kind = "salesforce.log";
  const LogEntry& entry;

  void write(io::TraceFieldList& fields) const {
    fields.add("email", entry.email);
    fields.add("to", entry.recipient);
    fields.add("event", to_string(entry.event));
    fields.add("path", entry.path);
    fields.add("server", entry.server);
    fields.add("attempt", entry.attempt);
    fields.add("tls", entry.tls);
    fields.add("detail", entry.detail);
  }
};

}  // namespace relaysim::salesforce::events
