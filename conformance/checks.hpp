#pragma once
// The conformance checks, in one table: each with a stable id, what it checks, why it matters,
// its reference (RFC section, Postfix parameter, Salesforce setting), what it needs to run, and the
// code that runs it against a Probe. docs/conformance.md is checked against this table
// (`relaysim conformance --list --format markdown` prints it).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace relaysim::conformance {

enum class Verdict : std::uint8_t {
  pass,
  fail,
  skipped,  // could not be judged here: says why
  info,     // a fact worth knowing, neither right nor wrong
};
std::string_view to_string(Verdict verdict);

struct Outcome {
  Verdict verdict = Verdict::skipped;
  std::string detail;    // one line: what was seen
  std::string evidence;  // transcript excerpt, DSN fields: what a reader checks the verdict against
};

enum class Needs : std::uint8_t {
  nothing,
  auth,      // --auth USER:PASSWORD
  stranger,  // --stranger ADDRESS: a source address the relay does not trust
  dns_mode,  // --mode dns: the relay routes by MX through the harness's DNS
};
std::string_view to_string(Needs needs);

class Probe;
using Finish = std::function<void(Outcome outcome)>;

struct Check {
  std::string_view id;
  std::string_view title;      // what is checked, one line
  std::string_view reason;     // why it matters, one line
  std::string_view reference;  // where the rule comes from
  Needs needs = Needs::nothing;
  void (*run)(Probe& probe, const Check& check, Finish finish) = nullptr;
};

// Every check, grouped by the first part of the id, in the order reports list them.
const std::vector<Check>& catalogue();
const Check* find_check(std::string_view id);

}  // namespace relaysim::conformance
