// `relaysim queue list|show DIR [ID]`: look into a relay's queue directory, as Postfix's mailq and
// postcat do. Read-only: safe on the queue of a running relay.

#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>

#include "cli/commands.hpp"
#include "real/runtime.hpp"
#include "relay/queue.hpp"

namespace relaysim::cli {
namespace {

std::string describe(const relay::QueuedRecipient& recipient) {
  std::string out = std::string(relay::to_string(recipient.state));
  if (recipient.attempts > 0) out += ", " + std::to_string(recipient.attempts) + " attempts";
  if (recipient.state == relay::RecipientState::deferred || recipient.state == relay::RecipientState::queued) {
    out += ", next " + format_iso8601(recipient.next_attempt);
  }
  if (!recipient.last_reply.empty()) out += ": " + recipient.last_reply;
  return out;
}

}  // namespace

int queue_command(int argc, char** argv) {
  cxxopts::Options parser("relaysim queue", "Look into a relay's queue directory (read-only).");
  parser.add_options()("h,help", "show this help")("action", "list or show", cxxopts::value<std::string>())(
      "directory", "the queue directory", cxxopts::value<std::string>())("id", "queue id, for show", cxxopts::value<std::string>());
  parser.parse_positional({"action", "directory", "id"});
  parser.positional_help("list|show DIRECTORY [ID]");
  std::string action, directory, id;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (!parsed.count("action") || !parsed.count("directory")) throw cxxopts::exceptions::exception("name an action and a directory");
    action = parsed["action"].as<std::string>();
    directory = parsed["directory"].as<std::string>();
    if (parsed.count("id")) id = parsed["id"].as<std::string>();
    if (action != "list" && action != "show") throw cxxopts::exceptions::exception("the action is list or show");
    if (action == "show" && id.empty()) throw cxxopts::exceptions::exception("show needs a queue id");
  } catch (const cxxopts::exceptions::exception& error) {
    std::fprintf(stderr, "relaysim queue: %s\n", error.what());
    return 2;
  }
  const std::filesystem::path path = std::filesystem::absolute(directory).lexically_normal();
  if (!std::filesystem::is_directory(path)) {
    std::fprintf(stderr, "relaysim queue: %s is not a directory\n", path.c_str());
    return 2;
  }
  real::Runtime runtime;
  auto io = runtime.make_io({"queue", "", path.parent_path().string(), 1, std::nullopt, std::chrono::seconds(5), {}});
  relay::Queue queue(*io, path.filename().string());
  const relay::RecoveryReport report = queue.recover(false);
  for (const std::string& problem : report.problems) std::fprintf(stderr, "relaysim queue: %s\n", problem.c_str());

  if (action == "show") {
    const relay::QueuedMessage* message = queue.find(id);
    if (message == nullptr) {
      std::fprintf(stderr, "relaysim queue: no message %s in %s\n", id.c_str(), path.c_str());
      return 1;
    }
    std::printf("queue id: %s%s\narrival: %s\nsender: <%s>\nclient: %s (helo %s%s%s)\n", message->id.c_str(),
                message->held ? " (held)" : "", format_iso8601(message->arrival).c_str(),
                message->sender ? message->sender->to_string().c_str() : "", message->client_address.c_str(),
                message->helo.c_str(), message->authenticated_user.empty() ? "" : ", authenticated as ",
                message->authenticated_user.c_str());
    for (const relay::QueuedRecipient& recipient : message->recipients) {
      std::printf("recipient: <%s> %s\n", recipient.recipient.mailbox.to_string().c_str(), describe(recipient).c_str());
    }
    std::printf("\n%s", message->content.c_str());
    return 0;
  }
  std::size_t bytes = 0;
  std::printf("%-24s %9s  %-22s %s\n", "-Queue ID-", "--Size--", "----Arrival Time----", "-Sender/Recipient-------");
  for (const auto& [queue_id, message] : queue.messages()) {
    bytes += message.content.size();
    std::printf("%-24s %9zu  %-22s %s\n", (queue_id + (message.held ? "!" : "")).c_str(), message.content.size(),
                format_iso8601(message.arrival).c_str(), message.sender ? message.sender->to_string().c_str() : "<>");
    for (const relay::QueuedRecipient& recipient : message.recipients) {
      if (recipient.state == relay::RecipientState::delivered || recipient.state == relay::RecipientState::bounced) continue;
      std::printf("%59s%s (%s)\n", "", recipient.recipient.mailbox.to_string().c_str(), describe(recipient).c_str());
    }
  }
  if (queue.messages().empty()) {
    std::printf("Mail queue is empty\n");
  } else {
    std::printf("-- %zu Kbytes in %zu Requests.\n", (bytes + 1023) / 1024, queue.messages().size());
  }
  if (report.discarded > 0) std::printf("(%zu damaged files not shown)\n", report.discarded);
  return 0;
}

}  // namespace relaysim::cli
