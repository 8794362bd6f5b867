#include "fake_mx/greylist.hpp"
#include "io/text.hpp"

#include "smtp/syntax.hpp"

namespace relaysim::fake_mx {
namespace {

constexpr std::size_t sweep_interval_checks = 4096;

}  // namespace

std::string_view to_string(GreylistVerdict verdict) {
  switch (verdict) {
    case GreylistVerdict::first_seen: return "first seen";
    case GreylistVerdict::too_early: return "retried too early";
    case GreylistVerdict::passed: return "passed";
    case GreylistVerdict::whitelisted: return "client auto-whitelisted";
  }
  return "?";
}

io::Cidr Greylist::network_of(const io::Address& client) const {
  const int prefix = client.is_v4() ? settings_.ipv4_prefix : settings_.ipv6_prefix;
  return io::Cidr(client, static_cast<unsigned>(prefix));
}

void Greylist::sweep(Instant now) {
  std::erase_if(triplets_, [&](const auto& entry) {
    const Triplet& triplet = entry.second;
    return triplet.passed ? now - triplet.last_seen > settings_.max_age
                          : now - triplet.first_seen > settings_.retry_window;
  });
  std::erase_if(clients_, [&](const auto& entry) { return now - entry.second.last_seen > settings_.max_age; });
}

GreylistVerdict Greylist::check(Instant now, const io::Address& client, std::string_view sender,
                                std::string_view recipient) {
  if (++since_sweep_ >= sweep_interval_checks) {
    since_sweep_ = 0;
    sweep(now);
  }
  const io::Cidr network = network_of(client);
  Client& known = clients_[network];
  known.last_seen = now;
  if (settings_.auto_whitelist_clients > 0 && known.passes >= settings_.auto_whitelist_clients) {
    return GreylistVerdict::whitelisted;
  }
  const auto key = std::make_tuple(network, to_lower(sender), to_lower(recipient));
  auto found = triplets_.find(key);
  const bool expired =
      found != triplets_.end() && (found->second.passed ? now - found->second.last_seen > settings_.max_age
                                                        : now - found->second.first_seen > settings_.retry_window);
  if (found == triplets_.end() || expired) {
    triplets_[key] = Triplet{now, now, false};
    return GreylistVerdict::first_seen;
  }
  Triplet& triplet = found->second;
  triplet.last_seen = now;
  if (triplet.passed) return GreylistVerdict::passed;
  if (now - triplet.first_seen < settings_.delay) return GreylistVerdict::too_early;
  triplet.passed = true;
  // A pass counts towards the client's auto-whitelisting at most once an hour.
  if (known.passes == 0 || now - known.last_counted >= std::chrono::hours(1)) {
    known.passes += 1;
    known.last_counted = now;
  }
  return GreylistVerdict::passed;
}

}  // namespace relaysim::fake_mx
