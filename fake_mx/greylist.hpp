#pragma once
// Greylisting with postgrey's semantics, as a pure function of virtual time. The key is the
// triplet (client network, envelope sender, recipient), the client reduced to its /24 (IPv4) or
// /64 (IPv6). The first sight of a triplet is deferred; a retry before `delay` is deferred again
// (the first sight stands); a retry within `retry_window` passes and the triplet stays passed until
// it goes unseen for `max_age`; a retry after the window starts over. A client whose triplets
// passed `auto_whitelist_clients` times - counted at most once an hour - skips greylisting.
// Memory is bounded: expired entries are swept as new ones arrive.

#include <map>
#include <string>
#include <tuple>

#include "fake_mx/behaviour.hpp"

namespace relaysim::fake_mx {

enum class GreylistVerdict : std::uint8_t {
  first_seen,   // deferred
  too_early,    // deferred: retried before the delay
  passed,       // accepted: retried in the window, or passed before
  whitelisted,  // accepted: the client is auto-whitelisted
};
std::string_view to_string(GreylistVerdict verdict);
inline bool accepted(GreylistVerdict verdict) {
  return verdict == GreylistVerdict::passed || verdict == GreylistVerdict::whitelisted;
}

class Greylist {
 public:
  explicit Greylist(Greylisting settings) : settings_(std::move(settings)) {}
  GreylistVerdict check(Instant now, const io::Address& client, std::string_view sender, std::string_view recipient);
  std::size_t entries() const { return triplets_.size(); }

 private:
  struct Triplet {
    Instant first_seen;
    Instant last_seen;
    bool passed = false;
  };
  struct Client {
    int passes = 0;
    Instant last_counted;
    Instant last_seen;
  };
  io::Cidr network_of(const io::Address& client) const;
  void sweep(Instant now);

  Greylisting settings_;
  std::map<std::tuple<io::Cidr, std::string, std::string>, Triplet> triplets_;
  std::map<io::Cidr, Client> clients_;
  std::size_t since_sweep_ = 0;
};

}  // namespace relaysim::fake_mx
