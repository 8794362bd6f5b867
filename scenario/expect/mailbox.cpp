// A mailbox expectation: how many messages a fake MX's mailbox holds, with what content, in which folder.

#include <algorithm>

#include "io/text.hpp"
#include "scenario/check_support.hpp"
#include "scenario/expect/expectations.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::scenario::expect {

Verdict mailbox(const Expectation& expect, const LoadedWorld& loaded) {
  std::vector<const fake_mx::StoredMessage*> messages;
  for (const auto& [name, store] : loaded.mail_stores) {
    for (const fake_mx::StoredMessage* message : store->mailbox(expect.mailbox)) messages.push_back(message);
  }
  std::stable_sort(messages.begin(), messages.end(),
                   [](const auto* a, const auto* b) { return a->received < b->received; });
  if (expect.count && messages.size() != *expect.count) {
    // One too many went wrong when it arrived; too few, at no instant.
    const std::optional<Instant> extra =
        messages.size() > *expect.count ? std::optional(messages[*expect.count]->received) : std::nullopt;
    return {expect.name, false,
            expect.mailbox + " holds " + counted(messages.size(), "message") + ", not " + std::to_string(*expect.count),
            extra};
  }
  if (expect.headers.empty() && expect.contains.empty() && expect.folder.empty()) {
    if (!expect.count && messages.empty()) return {expect.name, false, expect.mailbox + " holds no message"};
    return {expect.name, true, "held"};
  }
  for (const fake_mx::StoredMessage* message : messages) {
    if (!expect.folder.empty() && message->folder != expect.folder) continue;
    const bool headers = std::all_of(expect.headers.begin(), expect.headers.end(), [&](const auto& header) {
      return smtp::header_value(message->content, header.first) == header.second;
    });
    if (headers && message->content.find(expect.contains) != std::string::npos) return {expect.name, true, "held"};
  }
  std::vector<std::string> folders;
  for (const fake_mx::StoredMessage* message : messages) folders.push_back(message->folder);
  return {expect.name, false,
          expect.mailbox + ": no message with those headers and text" +
              (expect.folder.empty() ? "" : " in " + expect.folder) + " among " + std::to_string(messages.size()) +
              (folders.empty() ? "" : " (" + checks::joined(folders) + ")")};
}

}  // namespace relaysim::scenario::expect
