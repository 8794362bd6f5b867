// `relaysim queue list|show|hold|release|delete|flush DIR [ID|ALL]`: look into a relay's queue
// directory, as Postfix's mailq and postcat do, and change it, as postsuper and postqueue -f do.
// list and show only read: safe on the queue of a running relay. The others write durable records
// through the queue's own API and are meant for a stopped relay: a running one keeps its queue
// state in memory and would not see them until it restarts.

#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <vector>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "io/text.hpp"
#include "real/runtime.hpp"
#include "relay/queue.hpp"

namespace relaysim::cli {
namespace {

std::string describe(const relay::QueuedRecipient& recipient) {
  std::string out = std::string(relay::to_string(recipient.state));
  if (recipient.attempts > 0) out += ", " + counted(recipient.attempts, "attempt");
  if (recipient.state == relay::RecipientState::deferred || recipient.state == relay::RecipientState::queued) {
    out += ", next " + format_iso8601(recipient.next_attempt);
  }
  if (!recipient.last_reply.empty()) out += ": " + recipient.last_reply;
  return out;
}

}  // namespace

// Runs one change on every selected message and waits until each is durable. Returns the exit status.
// `id`: one message, or none for ALL.
int change(real::Runtime& runtime, io::Io& io, relay::Queue& queue, const std::string& action,
           const std::optional<relay::QueueId>& id) {
  std::vector<relay::QueueId> ids;
  if (!id) {
    ids = queue.ids();
  } else if (queue.find(*id) != nullptr) {
    ids.push_back(*id);
  } else {
    std::fprintf(stderr, "relaysim queue: no message %s\n", id->to_string().c_str());
    return 1;
  }
  int status = 0;
  std::size_t outstanding = 0;
  const auto done = [&](const relay::QueueId& key, const char* what) {
    return [&, queue_id = key.to_string(), what](io::Status result) {
      outstanding -= 1;
      if (!result) {
        std::fprintf(stderr, "relaysim queue: %s: %s\n", queue_id.c_str(), result.error().detail.c_str());
        status = 1;
        return;
      }
      std::printf("%s: %s\n", queue_id.c_str(), what);
    };
  };
  const Instant now = io.now();
  for (const relay::QueueId& queue_id : ids) {
    if (action == "delete") {
      outstanding += 1;
      done(queue_id, "removed")(queue.remove(queue_id));
    } else if (action == "hold" || action == "release") {
      outstanding += 1;
      queue.set_held(queue_id, action == "hold",
                     done(queue_id, action == "hold" ? "placed on hold" : "released from hold"));
    } else {  // flush: every recipient still to deliver is due now
      std::vector<relay::Queue::StateChange> changes;
      const io::Result<relay::QueuedMessage> loaded = queue.load(queue_id);
      if (!loaded) {
        std::fprintf(stderr, "relaysim queue: %s: %s\n", queue_id.to_string().c_str(), loaded.error().detail.c_str());
        status = 1;
        continue;
      }
      const relay::QueuedMessage& message = loaded.value();
      for (std::size_t i = 0; i < message.recipients.size(); ++i) {
        relay::QueuedRecipient state = message.recipients[i];
        if (state.state != relay::RecipientState::deferred && state.state != relay::RecipientState::queued) continue;
        state.next_attempt = now;
        changes.emplace_back(i, state);
      }
      if (changes.empty()) continue;
      outstanding += 1;
      queue.update(queue_id, std::move(changes), done(queue_id, "due now"));
    }
  }
  if (!runtime.run_until([&] { return outstanding == 0; }, std::chrono::seconds(60))) {
    std::fprintf(stderr, "relaysim queue: the disk did not finish within 60 seconds\n");
    return 1;
  }
  return status;
}

cxxopts::Options queue_options() {
  cxxopts::Options parser("relaysim queue",
                          "Look into a relay's queue directory (list, show), or change it while the relay is stopped\n"
                          "(hold, release, delete: a queue id or ALL; flush: every deferred recipient due now).");
  parser.add_options()("h,help", "show this help")("action", "list, show, hold, release, delete or flush",
                                                   cxxopts::value<std::string>())(
      "directory", "the queue directory", cxxopts::value<std::string>())("id", "queue id, or ALL",
                                                                         cxxopts::value<std::string>());
  parser.parse_positional({"action", "directory", "id"});
  parser.positional_help("list|show|hold|release|delete|flush DIRECTORY [ID|ALL]");
  return parser;
}

int queue_command(int argc, char** argv) {
  cxxopts::Options parser = queue_options();
  std::string action, directory, id;
  std::optional<relay::QueueId> selected;  // none: ALL (or no id: list)
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (!parsed.count("action") || !parsed.count("directory"))
      throw cxxopts::exceptions::exception("name an action and a directory");
    action = parsed["action"].as<std::string>();
    directory = parsed["directory"].as<std::string>();
    if (parsed.count("id")) id = parsed["id"].as<std::string>();
    const bool known = action == "list" || action == "show" || action == "hold" || action == "release" ||
                       action == "delete" || action == "flush";
    if (!known) throw cxxopts::exceptions::exception("the action is list, show, hold, release, delete or flush");
    const bool needs_id = action == "show" || action == "hold" || action == "release" || action == "delete";
    if (needs_id && id.empty())
      throw cxxopts::exceptions::exception(action + " needs a queue id" + (action == "show" ? "" : " or ALL"));
    if (action == "flush") id = "ALL";
    // The one place a queue id comes in as text.
    if (!id.empty() && id != "ALL") {
      selected = relay::QueueId::parse(id);
      if (!selected)
        throw cxxopts::exceptions::exception(
            "'" + id + "' is not a queue id: 22 upper-case hex digits, as 'relaysim queue list' shows them");
    }
    if (action == "show" && id == "ALL") throw cxxopts::exceptions::exception("show needs one queue id");
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("queue", error, argc, argv);
  }
  const std::filesystem::path path = std::filesystem::absolute(directory).lexically_normal();
  if (!std::filesystem::is_directory(path)) {
    std::fprintf(stderr, "relaysim queue: %s is not a directory\n", path.c_str());
    return 2;
  }
  // A directory holding anything but queue files and the journal is not a queue: refused before
  // anything is read or changed (pointed at /tmp by mistake, recovery would report its files).
  std::size_t foreign = 0;
  std::string example;
  std::error_code listing;
  for (const auto& entry : std::filesystem::directory_iterator(path, listing)) {
    const std::string name = entry.path().filename().string();
    if (name == "journal" || relay::QueueId::parse(name)) continue;
    if (foreign++ == 0) example = name;
  }
  if (foreign > 0) {
    std::fprintf(stderr,
                 "relaysim queue: %s is not a relay queue: %zu of its entries are not queue files (such as '%s'); "
                 "nothing was read or changed\n",
                 path.c_str(), foreign, example.c_str());
    return 2;
  }
  real::Runtime runtime;
  auto io = runtime.make_io(
      {"queue", "", path.parent_path().string(), 1, std::nullopt, std::chrono::seconds(5), {}, {}, false});
  relay::Queue queue(*io, path.filename().string());
  // Changes go through the relay's own recovery, which also removes torn and finished files.
  const bool changing = action != "list" && action != "show";
  const relay::RecoveryReport report = queue.recover(changing);
  for (const std::string& problem : report.problems) std::fprintf(stderr, "relaysim queue: %s\n", problem.c_str());
  if (changing) return change(runtime, *io, queue, action, selected);

  if (action == "show") {
    if (queue.find(*selected) == nullptr) {
      std::fprintf(stderr, "relaysim queue: no message %s in %s\n", id.c_str(), path.c_str());
      return 1;
    }
    const io::Result<relay::QueuedMessage> loaded = queue.load(*selected);
    if (!loaded) {
      std::fprintf(stderr, "relaysim queue: %s\n", loaded.error().detail.c_str());
      return 1;
    }
    const relay::QueuedMessage* message = &loaded.value();
    std::printf("queue id: %s%s\narrival: %s\nsender: <%s>\nclient: %s (helo %s%s%s)\n",
                message->id.to_string().c_str(), message->held ? " (held)" : "",
                format_iso8601(message->arrival).c_str(), message->sender ? message->sender->to_string().c_str() : "",
                message->client_address.c_str(), message->helo.c_str(),
                message->authenticated_user.empty() ? "" : ", authenticated as ", message->authenticated_user.c_str());
    for (const relay::QueuedRecipient& recipient : message->recipients) {
      std::printf("recipient: <%s> %s\n", recipient.recipient.mailbox.to_string().c_str(), describe(recipient).c_str());
    }
    std::printf("\n%s", message->content.c_str());
    return 0;
  }
  std::size_t bytes = 0;
  std::printf("%-24s %9s  %-22s %s\n", "-Queue ID-", "--Size--", "----Arrival Time----", "-Sender/Recipient-------");
  for (const relay::QueueId& key : queue.ids()) {
    const std::string queue_id = key.to_string();
    const io::Result<relay::QueuedMessage> loaded = queue.load(key);
    if (!loaded) {
      std::printf("%-24s (%s)\n", queue_id.c_str(), loaded.error().detail.c_str());
      continue;
    }
    const relay::QueuedMessage& message = loaded.value();
    bytes += message.size;
    std::printf("%-24s %9llu  %-22s %s\n", (queue_id + (message.held ? "!" : "")).c_str(),
                static_cast<unsigned long long>(message.size), format_iso8601(message.arrival).c_str(),
                message.sender ? message.sender->to_string().c_str() : "<>");
    for (const relay::QueuedRecipient& recipient : message.recipients) {
      if (recipient.state == relay::RecipientState::delivered || recipient.state == relay::RecipientState::bounced)
        continue;
      std::printf("%59s%s (%s)\n", "", recipient.recipient.mailbox.to_string().c_str(), describe(recipient).c_str());
    }
  }
  if (queue.size() == 0) {
    std::printf("Mail queue is empty\n");
  } else {
    std::printf("-- %zu Kbytes in %zu Requests.\n", (bytes + 1023) / 1024, queue.size());
  }
  if (report.discarded > 0) std::printf("(%zu damaged files not shown)\n", report.discarded);
  return 0;
}

}  // namespace relaysim::cli
