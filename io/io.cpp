#include "io/io.hpp"

#include <cstdio>
#include <cstdlib>

namespace relaysim::detail {
void assertion_failed(const char* expression, const char* file, int line) {
  std::fprintf(stderr, "relaysim: assertion failed: %s (%s:%d)\n", expression, file, line);
  std::abort();
}
}  // namespace relaysim::detail

namespace relaysim::io {

std::string_view to_string(Errc code) {
  switch (code) {
    case Errc::refused: return "connection refused";
    case Errc::timed_out: return "timed out";
    case Errc::reset: return "connection reset";
    case Errc::unreachable: return "unreachable";
    case Errc::address_in_use: return "address in use";
    case Errc::address_not_local: return "address not local";
    case Errc::buffer_full: return "send buffer full";
    case Errc::closed: return "closed";
    case Errc::no_space: return "no space left on device";
    case Errc::io_error: return "input/output error";
    case Errc::not_found: return "not found";
    case Errc::already_exists: return "already exists";
    case Errc::not_a_directory: return "not a directory";
    case Errc::invalid_argument: return "invalid argument";
    case Errc::cancelled: return "cancelled";
  }
  return "?";
}

std::string_view to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::closed_by_peer: return "closed";
    case CloseReason::reset: return "reset";
  }
  return "?";
}

}  // namespace relaysim::io
