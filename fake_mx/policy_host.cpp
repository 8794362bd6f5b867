#include "fake_mx/policy_host.hpp"

namespace relaysim::fake_mx {
std::string policy_text(std::string_view mode, const std::vector<std::string>& mx, std::uint64_t max_age_seconds) {
  std::string text = "version: STSv1\r\nmode: " + std::string(mode) + "\r\n";
  for (const std::string& pattern : mx) text += "mx: " + pattern + "\r\n";
  return text + "max_age: " + std::to_string(max_age_seconds) + "\r\n";
}

const PolicyAnswer& PolicyHostConfig::answer_at(Instant now) const {
  const PolicyAnswer* current = &answer;
  for (const auto& [from, changed] : changes) {
    if (from <= now) current = &changed;
  }
  return *current;
}

PolicyHostNode::PolicyHostNode(io::Io& io, PolicyHostConfig config, const tls::Context& tls)
    : io_(io),
      config_(std::move(config)),
      server_(io, {config_.address, config_.port}, tls, 16 * 1024,
              [this](const HttpRequest& request) { return answer(request); }) {}

void PolicyHostNode::start() { server_.start(); }

std::string PolicyHostNode::status() const {
  return "serving the MTA-STS policy (" + std::to_string(config_.answer_at(io_.now()).status) + "), " +
         std::to_string(server_.requests()) + " requests, " + std::to_string(server_.connections()) + " open";
}

// "GET /.well-known/mta-sts.txt HTTP/1.1": the configured answer; another method 405, another path 404.
HttpAnswer PolicyHostNode::answer(const HttpRequest& request) const {
  HttpAnswer answer = config_.answer_at(io_.now());
  if (request.method != "GET") {
    answer.status = 405;
    answer.body.clear();
  } else if (request.path != config_.path) {
    answer.status = 404;
    answer.body = "not found\r\n";
    answer.content_type = "text/plain";
  }
  return answer;
}

}  // namespace relaysim::fake_mx
