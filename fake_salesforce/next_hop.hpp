#pragma once
// How the fake org finds the server to hand an email to, modelled on what Salesforce documents of
// itself and nothing else: a relay record's host, when it is a name, is looked up as MX first,
// then A (../shared/REFERENCE.md, "Salesforce Email Relay"); an address is dialled as it is; mail
// no filter sends to a relay goes from Salesforce's own servers to the recipient domain's MX, then
// its A record. MX hosts are tried in preference order - equal preferences in the order DNS
// served them (Salesforce publishes no tie-break) - each at its IPv4 addresses.
//
// Written apart from the relay's resolver (routing/mx_resolver.hpp) on purpose: the double must
// not share the code of the system it tests, so that a routing bug in either makes the two
// disagree (tests/routing/differential_test.cpp) instead of hiding on both hops at once.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/io.hpp"

namespace relaysim::salesforce {

struct NextHop {
  std::string host;  // the MX or relay host dialled: the name its certificate must carry
  io::Endpoint endpoint;
  int preference = 0;
  std::string label() const;  // "relay.acme.example[192.0.2.10]:587"
};

struct NextHops {
  enum class Kind : std::uint8_t { deliver, defer, fail };
  Kind kind = Kind::deliver;
  std::vector<NextHop> hops;  // deliver: in the order to try
  std::string status;         // defer or fail: the enhanced status code
  std::string reason;         // defer or fail: what the org logs
};

class NextHopResolver {
 public:
  using Handler = std::function<void(NextHops result)>;
  explicit NextHopResolver(io::Io& io) : io_(io) {}
  ~NextHopResolver();
  NextHopResolver(const NextHopResolver&) = delete;
  NextHopResolver& operator=(const NextHopResolver&) = delete;

  // `name`: a relay record's host, or the recipient domain. The handler runs from the event loop,
  // never before this returns; lookups in flight end with the resolver.
  void resolve(const std::string& name, std::uint16_t port, Handler handler);

  // A deliberately broken lookup, MX hosts from the highest preference value down: set only by
  // test code, to show that the relay's resolver then disagrees.
  bool reverse_preference = false;

 private:
  struct Lookup {
    std::string name;
    std::uint16_t port = 25;
    Handler handler;
    std::vector<std::pair<std::string, int>> hosts;  // name, preference: in the order to try
    std::vector<NextHop> hops;
    std::size_t next_host = 0;  // the host whose A record is being asked
    bool temporary_failure = false;
    io::Pending pending;
  };
  void on_mx(std::uint64_t id, const io::DnsAnswer& answer);
  void ask_next_host(std::uint64_t id);
  void on_a(std::uint64_t id, const io::DnsAnswer& answer);
  void finish(std::uint64_t id, NextHops result);

  io::Io& io_;
  std::map<std::uint64_t, std::unique_ptr<Lookup>> lookups_;
  std::uint64_t next_id_ = 1;
};

}  // namespace relaysim::salesforce
