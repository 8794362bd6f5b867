#include "endpoint/events.hpp"

namespace relaysim::endpoint::events {

void DialogueLine::write(io::TraceFieldList& fields) const {
  fields.add("conn", conn);
  fields.add("peer", fields.keep(peer.to_string()));
  fields.add("from", from_client ? "client" : "server");
  fields.add("sent", sent);
  fields.add("line", line);
}

}  // namespace relaysim::endpoint::events
