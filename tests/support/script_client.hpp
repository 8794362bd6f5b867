#pragma once
// A lock-step SMTP client for policy tests: sends each line of a script once the previous reply
// is complete, and records every reply. A line may hold a whole DATA block.

#include <string>
#include <vector>

#include "smtp/reply.hpp"
#include "support/test_world.hpp"

namespace relaysim::testing {

struct ScriptRecord {
  std::vector<smtp::Reply> replies;  // the greeting first
  std::vector<Instant> reply_times;
  bool closed = false;
  std::string text(std::size_t index) const { return index < replies.size() ? replies[index].text() : "(none)"; }
};

inline LambdaNode::Body script_client(io::Endpoint server, std::vector<std::string> lines, ScriptRecord& record) {
  return [server, lines, &record](LambdaNode& node) {
    auto parser = std::make_shared<smtp::ReplyParser>();
    auto next = std::make_shared<std::size_t>(0);
    node.pending.push_back(node.io.connect(server, {}, [&node, &record, lines, parser, next](auto result) {
      if (!result) return;
      io::Connection& connection = *node.connections.emplace_back(std::move(result).value());
      connection.on_close([&record](io::CloseReason) { record.closed = true; });
      connection.on_receive([&node, &connection, &record, lines, parser, next](std::string_view bytes) {
        while (parser->feed(bytes) == smtp::ReplyParser::Status::complete) {
          record.replies.push_back(parser->take());
          record.reply_times.push_back(node.io.now());
          if (*next < lines.size()) {
            const std::string& line = lines[(*next)++];
            connection.send(line.ends_with("\r\n") ? line : line + "\r\n");
          }
        }
      });
    }));
  };
}

}  // namespace relaysim::testing
