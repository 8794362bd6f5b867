#pragma once
// DNS for the email-authentication checks, sans-I/O. A check (SPF, DKIM, DMARC) is a pure
// function of the message and of DNS answers: it reads answers through `Lookups`, and when one it
// needs is not there yet it stops by throwing `NeedsAnswer`. The caller resolves that question -
// through io::Io in a node, from a table in a test - adds the answer and runs the check again.
// Checks ask at most a few dozen questions, so running again is cheap, and the code of each check
// reads top to bottom as the RFC describes it.

#include <map>
#include <string>
#include <utility>

#include "io/dns.hpp"

namespace relaysim::mailauth {

struct NeedsAnswer {
  std::string name;
  io::DnsType type;
};

class Lookups {
 public:
  // The answer for (name, type), or throws NeedsAnswer.
  const io::DnsAnswer& get(const std::string& name, io::DnsType type) const;
  void add(const std::string& name, io::DnsType type, io::DnsAnswer answer);
  std::size_t size() const { return answers_.size(); }

 private:
  std::map<std::pair<std::string, io::DnsType>, io::DnsAnswer> answers_;
};

// Runs `check` against `lookups`, resolving through `resolve` (synchronously) whatever it asks
// for, until it completes. For tests and tools with a table of records.
template <typename Check, typename Resolve>
auto run_with(Lookups& lookups, Check check, Resolve resolve) {
  while (true) {
    try {
      return check(lookups);
    } catch (const NeedsAnswer& question) {
      lookups.add(question.name, question.type, resolve(question.name, question.type));
    }
  }
}

}  // namespace relaysim::mailauth
