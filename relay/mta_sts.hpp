#pragma once
// MTA-STS (RFC 8461): a recipient domain's published demand for authenticated TLS. The domain
// announces a policy with a TXT record at "_mta-sts.<domain>" ("v=STSv1; id=...;") and serves it
// at https://mta-sts.<domain>/.well-known/mta-sts.txt: a mode (enforce, testing, none), the MX
// host patterns mail may go to, and how long to keep it (max_age).
//
// The relay's side: MtaSts finds a destination's policy - the TXT record on every delivery, the
// policy fetched when its id is new, kept for max_age and used while the domain's DNS or policy
// host is failing. Delivery applies it per MX host (relay/delivery_tls.cpp): under enforce, a host the
// policy does not name is not used, and one it names is reached only over TLS with a certificate
// that chains to a trusted CA and names the host.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/io.hpp"
#include "io/time.hpp"

namespace relaysim::tls {
class Context;
}
namespace relaysim::endpoint {
class HttpsFetch;
}

namespace relaysim::relay {

struct RelayConfig;

namespace mta_sts {

enum class Mode : std::uint8_t { enforce, testing, none };
std::string_view to_string(Mode mode);

struct Policy {
  Mode mode = Mode::none;
  std::vector<std::string> mx;  // "mx1.example.com", "*.example.net": lower case
  Duration max_age = Duration(0);
};

// The policy's one-line description for logs: "mode enforce, mx mx1.example.com *.example.net, max_age 86400".
std::string describe(const Policy& policy);

// The id of the one "v=STSv1" record among a name's TXT records (RFC 8461 3.1); none when there
// is no such record, more than one, or it is malformed (`why` says which).
std::optional<std::string> record_id(const std::vector<std::string>& texts, std::string* why = nullptr);

// A policy body (RFC 8461 3.2), or none with `why` set. Lines are "key: value", CRLF or LF;
// unknown keys are ignored; version STSv1, a mode, a max_age of at most 31557600 and (unless the
// mode is none) at least one mx are required.
std::optional<Policy> parse_policy(std::string_view body, std::string* why = nullptr);

// Whether an MX host name matches one of the policy's patterns (RFC 8461 4.1): equal, ignoring case
// and a trailing dot, or "*.<parent>" standing for exactly one label.
bool mx_matches(const Policy& policy, std::string_view host);

// The policy that applies to a destination now, and how it was found.
struct Lookup {
  std::optional<Policy> policy;  // none: the domain has no policy the relay knows of
  std::string id;                // the policy's id
  std::string explanation;       // for logs and the trace: "fetched", "cached: policy host unreachable ..."
};

// Finds and keeps policies. One per relay; deliveries ask it per job.
class Resolver : private io::Pending::Owner {
 public:
  using Handler = std::function<void(const Lookup& lookup)>;

  // `context`: the client TLS context for policy hosts (chain and name checked); without one no
  // policy can be fetched, so only cached ones (none) apply.
  Resolver(io::Io& io, const RelayConfig& config, const tls::Context* context);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // The handler runs from the event loop. The returned handle cancels it (the lookup and any
  // fetch it started go on for others).
  io::Pending find(const std::string& domain, Handler handler);

 private:
  struct Cached {
    Policy policy;
    std::string id;
    Instant fetched_at;
  };
  struct Fetch {
    std::string id;  // the record's id the fetch was started for
    std::unique_ptr<endpoint::HttpsFetch> request;
    std::vector<std::uint64_t> waiting;  // tickets
  };

  void on_record(const std::string& domain, std::uint64_t ticket, const io::DnsAnswer& answer);
  void on_fetched(const std::string& domain, const std::optional<Policy>& policy, const std::string& error);
  // The cached policy that has not expired, as a Lookup whose explanation starts with `why`; or none.
  std::optional<Lookup> cached(const std::string& domain, std::string_view why) const;
  // Something went wrong (`why`): the cached policy while it lasts ("cached; <why>"), else none.
  Lookup cached_or_none(const std::string& domain, const std::string& why) const;
  void answer(std::uint64_t ticket, const Lookup& lookup);
  void cancel(std::uint64_t ticket) override;

  io::Io& io_;
  const RelayConfig& config_;
  const tls::Context* context_;
  std::map<std::string, Cached> cache_;
  std::map<std::string, Fetch> fetches_;              // by domain: a fetch in flight
  std::map<std::uint64_t, Handler> handlers_;         // by ticket: the callers still waiting
  std::map<std::uint64_t, io::Pending> txt_lookups_;  // by ticket
  std::uint64_t next_ticket_ = 1;
};

}  // namespace mta_sts
}  // namespace relaysim::relay
