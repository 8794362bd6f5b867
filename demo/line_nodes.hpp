#pragma once
// Two small nodes that exchange lines of text: the demo world of the foundation, and the workload
// of the kernel's determinism tests. They exercise every part of Io a real node uses: DNS, connect
// with timeout, listen/accept, send/receive, timers, seeded randomness, durable appends with fsync,
// recovery after a crash, and trace events.
//
// LineServer listens on a port, answers every line "ok <line>" once the line is durable in its
// journal, and recovers its count from the journal after a restart. LineClient resolves the
// server's name, sends `lines` numbered lines one at a time, and on refusal, timeout or reset
// reconnects with doubling backoff plus seeded jitter, resending the first unanswered line.

#include <cstdint>
#include <string>

#include "io/io.hpp"

namespace relaysim::demo {

struct LineServerConfig {
  std::uint16_t port = 7;
  std::string journal = "journal";  // file in the node's data directory
};

struct LineClientConfig {
  std::string server;  // DNS name with an A record
  std::uint16_t port = 7;
  int lines = 10;
  Duration interval = std::chrono::milliseconds(500);  // pause between answered lines
  Duration reply_timeout = std::chrono::seconds(2);    // per line
  Duration connect_timeout = std::chrono::seconds(3);
  Duration backoff_first = std::chrono::milliseconds(500);  // doubles per failure...
  Duration backoff_max = std::chrono::seconds(8);           // ...up to this
};

std::unique_ptr<io::Node> make_line_server(io::Io& io, LineServerConfig config);
std::unique_ptr<io::Node> make_line_client(io::Io& io, LineClientConfig config);

}  // namespace relaysim::demo
