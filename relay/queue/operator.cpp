// What an operator does to the queue (relaysim queue, postsuper's counterparts): hold, release
// and remove a message.

#include "relay/queue.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "io/assert.hpp"
#include "relay/broken_variant.hpp"
#include "relay/events.hpp"
#include "relay/queue/format.hpp"
#include "relay/record.hpp"

namespace relaysim::relay {

using namespace queue_records;

void Queue::set_held(const QueueId& id, bool held, UpdateHandler on_durable) {
  forget_fresh(id);
  Writer payload;
  payload.flag(held);
  append_durably(id, frame_record(kind_hold, payload.bytes()), [this, id, held, on_durable](io::Status status) {
    if (status) {
      if (QueueEntry* entry = find_mutable(id)) entry->held = held;
    }
    on_durable(status);
  });
}

io::Status Queue::remove(const QueueId& id) {
  if (find(id) == nullptr) return io::Error{io::Errc::not_found, "no queued message " + id.to_string()};
  forget_fresh(id);
  forget(id);
  return {};
}

}  // namespace relaysim::relay
