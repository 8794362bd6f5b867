#pragma once
// Assertions that stay on in every build. They guard programmer errors (broken invariants), never
// user errors: a bad scenario, config or SMTP command gets a message or a reply code instead.

namespace relaysim::detail {
[[noreturn]] void assertion_failed(const char* expression, const char* file, int line);
}

#define RELAYSIM_ASSERT(expression) \
  ((expression) ? static_cast<void>(0) : ::relaysim::detail::assertion_failed(#expression, __FILE__, __LINE__))
