#include "scenario/observer.hpp"

#include <algorithm>

#include "endpoint/events.hpp"
#include "fake_mx/events.hpp"
#include "io/text.hpp"
#include "relay/events.hpp"
#include "sender/events.hpp"
#include "sim/events.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::scenario {

std::string bare_message_id(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '<')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '>')) value.remove_suffix(1);
  return std::string(value);
}

void RunObserver::on_event(const io::TraceEvent& event, std::string_view) {
  const std::string node(event.node);
  if (const auto* e = event.as<relay::events::Stored>()) {
    const relay::QueuedMessage& message = e->message;
    std::vector<std::string> to;
    std::vector<smtp::RecipientParameters> dsn;
    for (const relay::QueuedRecipient& recipient : message.recipients) {
      to.push_back(recipient.recipient.mailbox.to_string());
      dsn.push_back(recipient.recipient.dsn);
    }
    stored.push_back(
        {event.time, node, message.id.to_string(), message.sender ? message.sender->to_string() : std::string(),
         std::move(to), message.client_address, message.authenticated_user,
         smtp::header_value(message.content, "Subject"),
         bare_message_id(smtp::header_value(message.content, "Message-ID")), std::move(dsn), message.parameters.ret,
         !message.sender && message.content.find("Content-Type: text/rfc822-headers") != std::string::npos});
    return;
  }
  if (const auto* e = event.as<relay::events::RecipientSettled>()) {
    const relay::RecipientOutcome& outcome = e->outcome;
    outcomes.push_back({event.time, node, e->id.to_string(), std::string(e->rcpt), outcome.outcome, e->state,
                        std::string(e->status), outcome.relay, outcome.relay_endpoint, outcome.tls,
                        outcome.tls_verified, outcome.possible_duplicate, e->attempted, outcome.reason, outcome.stage,
                        outcome.code});
    return;
  }
  if (const auto* e = event.as<relay::events::RetryPlanned>()) {
    retries.push_back({event.time, node, e->id.to_string(), e->next});
    return;
  }
  if (const auto* e = event.as<relay::events::Recovered>()) {
    for (const relay::QueueId& id : e->ids) recovered[node].insert(id.to_string());
    return;
  }
  if (const auto* e = event.as<relay::events::OutcomesRecorded>()) {
    // Positions in the message, as it was stored (a notice's one recipient is its own).
    std::vector<std::string> rcpts;
    const std::string id = e->id.to_string();
    const auto message = std::find_if(stored.rbegin(), stored.rend(),
                                      [&](const StoredAtRelay& s) { return s.node == node && s.id == id; });
    for (const std::size_t index : e->recipients) {
      if (message != stored.rend() && index < message->to.size()) rcpts.push_back(message->to[index]);
    }
    recorded.push_back({event.time, node, id, std::move(rcpts)});
    return;
  }
  if (const auto* e = event.as<relay::events::NoticeQueued>()) {
    dsns.push_back({event.time, node, e->id.to_string(), e->dsn.to_string(), e->action, e->to.to_string(), e->about});
    return;
  }
  if (const auto* e = event.as<io::LogLine>()) {
    logs.push_back({event.time, node, std::string(e->line)});
    return;
  }
  if (const auto* e = event.as<sender::events::SenderResult>()) {
    sender_results.push_back({event.time, node, static_cast<std::int64_t>(e->message), std::string(e->rcpt), e->outcome,
                              std::string(e->reply), std::string(e->queue_id)});
    return;
  }
  if (const auto* e = event.as<relay::events::Routed>()) {
    if (e->route == relay::Route::Kind::deliver) {
      route_steps.push_back({event.time, node, e->id.to_string(), std::string(e->domain), -1, e->static_route});
    }
    return;
  }
  if (const auto* e = event.as<endpoint::events::DialogueLine>()) {
    dialogue.push_back({event.time, node, e->conn, e->peer.to_string(), e->from_client, e->sent, std::string(e->line)});
    return;
  }
  if (const auto* e = event.as<relay::events::HopFailed>()) {
    hop_failures.push_back({event.time, node, e->id ? e->id->to_string() : std::string(), std::string(e->hop), e->stage,
                            std::string(e->status), std::string(e->reason), e->next_hop});
    // A host skipped for its TLS requirements was considered in its MX order, as a connection is.
    if (e->skipped)
      route_steps.push_back({event.time, node, e->id ? e->id->to_string() : std::string(), "", e->preference, false});
    return;
  }
  if (const auto* e = event.as<relay::events::Connecting>()) {
    route_steps.push_back({event.time, node, e->id ? e->id->to_string() : std::string(), "", e->preference, false});
    return;
  }
  if (const auto* e = event.as<fake_mx::events::LateBounceScheduled>()) {
    for (const smtp::Recipient& recipient : e->recipients)
      late_bounces[node].insert(to_lower(recipient.mailbox.to_string()));
    return;
  }
  if (const auto* e = event.as<fake_mx::events::LateBounceSkipped>()) {
    for (const smtp::Recipient& recipient : e->recipients)
      late_bounces[node].insert(to_lower(recipient.mailbox.to_string()));
    return;
  }
  if (const auto* e = event.as<sim::events::ProcessCrashed>()) {
    crashes[node].push_back(event.time);
    marks.push_back({event.time, node, std::string(event.kind), std::string(to_string(e->crash))});
    return;
  }
  if (const auto* e = event.as<sim::events::FaultBegan>()) {
    marks.push_back({event.time, node, std::string(event.kind), std::string(e->fault)});
    return;
  }
  if (const auto* e = event.as<sim::events::FaultEnded>()) {
    marks.push_back({event.time, node, std::string(event.kind), std::string(e->fault)});
    return;
  }
  if (const auto* e = event.as<sim::events::FaultReset>()) {
    marks.push_back({event.time, node, std::string(event.kind), std::string(e->fault)});
    return;
  }
  if (event.as<sim::events::ProcessStarted>() != nullptr) {
    marks.push_back({event.time, node, std::string(event.kind), ""});
  }
}

}  // namespace relaysim::scenario
