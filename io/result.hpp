#pragma once
// Typed outcomes for Io operations: an error code that node logic can switch on, and a detail
// string for people. No exceptions cross the Io interface.

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "io/assert.hpp"

namespace relaysim::io {

enum class Errc {
  // network
  refused,            // the peer answered the connection attempt with a reset
  timed_out,          // no answer within the deadline (black hole, lost SYN, DNS timeout)
  reset,              // an established stream was aborted
  unreachable,        // no route to the address
  address_in_use,     // listen on a port that already has a listener
  address_not_local,  // listen on an address the host does not have
  buffer_full,        // a send would exceed the stream's bounded send buffer
  closed,             // operation on a stream that is already closed
  // disk
  no_space,  // ENOSPC
  io_error,  // EIO
  not_found,
  already_exists,
  not_a_directory,
  // generic
  invalid_argument,
  cancelled,
};

std::string_view to_string(Errc code);

struct Error {
  Errc code;
  std::string detail;
};

// The success-or-error of an operation with no value.
class Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit on purpose
  static Status success() { return {}; }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    RELAYSIM_ASSERT(!ok_);
    return error_;
  }

 private:
  Error error_{Errc::invalid_argument, {}};
  bool ok_ = true;
};

// A value or an error. (std::expected is C++23; this is the small part of it we need.)
template <typename T>
class Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit on purpose
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & {
    RELAYSIM_ASSERT(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    RELAYSIM_ASSERT(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    RELAYSIM_ASSERT(ok());
    return std::get<0>(std::move(state_));
  }
  const Error& error() const {
    RELAYSIM_ASSERT(!ok());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, Error> state_;
};

}  // namespace relaysim::io
