#include "scenario/conformance_world.hpp"

#include <algorithm>

#include "fake_mx/fake_mx_node.hpp"
#include "sim/world.hpp"

namespace relaysim::scenario {
namespace {

// A node that starts another a little later: the probe waits for the relay's listeners.
class StartsLater final : public io::Node {
 public:
  StartsLater(io::Io& io, std::unique_ptr<io::Node> node, Duration delay)
      : io_(io), node_(std::move(node)), delay_(delay) {}
  void start() override {
    timer_ = io_.after(delay_, [this] { node_->start(); });
  }
  std::string status() const override { return node_->status(); }

 private:
  io::Io& io_;
  std::unique_ptr<io::Node> node_;
  Duration delay_;
  io::Pending timer_;
};

io::Address local(io::Address address) {
  return address == io::Address::any_v4() ? *io::Address::parse("127.0.0.1") : address;
}

}  // namespace

SimulatedConformance run_conformance(ConformanceWorld setup) {
  conformance::Options& options = setup.options;
  const io::Endpoint first_listener = setup.relay.listeners.front().address;
  if (options.relay.port == 0) options.relay = {local(first_listener.address), first_listener.port};
  if (options.relay_name.empty()) options.relay_name = setup.relay.myhostname;
  // One host: the relay's listeners, the harness's MX and the stranger's address are all its own.
  std::vector<io::Address> addresses;
  const auto add = [&addresses](io::Address address) {
    if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) addresses.push_back(address);
  };
  for (const relay::ListenerConfig& listener : setup.relay.listeners) add(local(listener.address.address));
  add(options.relay.address);
  if (options.stranger) add(*options.stranger);
  const std::vector<conformance::MxServer> servers = conformance::mx_servers(options);
  for (const conformance::MxServer& server : servers) add(server.behaviour.address);

  sim::World world(setup.seed, setup.start);
  if (options.mode == conformance::Mode::dns) {
    // Every address the records name is this host's, so that the one with no server refuses
    // connections as a real host does.
    for (const auto& [name, records] : conformance::dns_records(options)) {
      for (const io::Address& address : records.addresses) add(address);
      world.set_dns(name, records);
    }
  }
  // The fake Salesforce org dials the relay record's host name.
  for (const auto& [name, records] : conformance::probe_dns_records(options)) world.set_dns(name, records);
  world.add_host({"localhost", addresses});
  fake_mx::MailStore store;
  world.add_process(
      {"relay",
       "localhost",
       [&setup](io::Io& io) { return std::make_unique<relay::RelayNode>(io, setup.relay, setup.relay_tls); },
       {}});
  for (const conformance::MxServer& server : servers) {
    world.add_process({server.node,
                       "localhost",
                       [&server, &store](io::Io& io) {
                         return std::make_unique<fake_mx::FakeMxNode>(io, server.behaviour, nullptr, store);
                       },
                       {}});
  }
  SimulatedConformance outcome;
  conformance::Probe* probe = nullptr;
  world.add_process({"conformance",
                     "localhost",
                     [&](io::Io& io) {
                       auto made = std::make_unique<conformance::Probe>(
                           io, options, store, [&outcome](const std::vector<conformance::CheckResult>& results) {
                             outcome.results = results;
                             outcome.finished = true;
                           });
                       probe = made.get();
                       return std::make_unique<StartsLater>(io, std::move(made), std::chrono::seconds(1));
                     },
                     {}});
  world.start();
  const Instant limit = setup.start + conformance::run_bound(options);
  while (!outcome.finished && world.now() < limit && world.step()) {}
  if (probe != nullptr) {
    outcome.reachable = probe->discovery().reachable;
    outcome.error = probe->discovery().session.error;
  }
  return outcome;
}

}  // namespace relaysim::scenario
