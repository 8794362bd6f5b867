#pragma once
// A recipient domain's MTA-STS policy host (RFC 8461 3.3), as a node: an HTTPS server on port 443
// that answers "GET /.well-known/mta-sts.txt" with the domain's policy, over TLS with the
// certificate the scenario gives it (a valid one, an expired one, one for the wrong name). Its
// faults are the ones that break MTA-STS in practice: another status (404, 500), a media type
// other than text/plain, a malformed policy body, an answer that comes late. A host that is down
// or unreachable is a network fault of the world, not of this node.

#include <cstdint>
#include <string>
#include <vector>

#include "fake_mx/https_server.hpp"
#include "io/io.hpp"
#include "tls/engine.hpp"

namespace relaysim::fake_mx {

// What the host answers for the policy's path: the policy as served, or a fault.
using PolicyAnswer = HttpAnswer;

struct PolicyHostConfig {
  io::Address address = io::Address::any_v4();
  std::uint16_t port = 443;
  std::string path = "/.well-known/mta-sts.txt";  // any other path: 404
  PolicyAnswer answer;
  // From each instant on, another answer (in time order): the domain's admin changing the policy.
  std::vector<std::pair<Instant, PolicyAnswer>> changes;

  const PolicyAnswer& answer_at(Instant now) const;
};

// A policy body in RFC 8461's form: "version: STSv1", the mode, one "mx:" line per pattern, max_age.
std::string policy_text(std::string_view mode, const std::vector<std::string>& mx, std::uint64_t max_age_seconds);

class PolicyHostNode final : public io::Node {
 public:
  PolicyHostNode(io::Io& io, PolicyHostConfig config, const tls::Context& tls);
  void start() override;
  std::string status() const override;

 private:
  HttpAnswer answer(const HttpRequest& request) const;

  io::Io& io_;
  PolicyHostConfig config_;
  HttpsServer server_;
};

}  // namespace relaysim::fake_mx
