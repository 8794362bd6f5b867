#include "relay/maillog.hpp"

#include <charconv>

namespace relaysim::relay::maillog {

std::string format_delay(Duration delay) {
  const long long hundredths = std::chrono::duration_cast<std::chrono::milliseconds>(delay).count() / 10;
  const long long fraction = hundredths < 0 ? -(hundredths % 100) : hundredths % 100;
  char buffer[32];
  char* end = buffer;
  if (hundredths < 0 && hundredths / 100 == 0) *end++ = '-';
  end = std::to_chars(end, buffer + sizeof buffer, hundredths / 100).ptr;
  *end++ = '.';
  *end++ = static_cast<char>('0' + fraction / 10);
  *end++ = static_cast<char>('0' + fraction % 10);
  return std::string(buffer, end);
}

void delivery(std::string& line, const Delivery& fields) {
  line.clear();
  line.append(fields.id.text().view()).append(": to=<").append(fields.to).append(">");
  if (!fields.orig_to.empty()) line.append(", orig_to=<").append(fields.orig_to).append(">");
  line.append(", relay=").append(fields.relay).append(", delay=").append(fields.delay);
  line.append(", dsn=").append(fields.dsn).append(", status=").append(fields.status);
  if (fields.status == "expired") line.append(", returned to sender");
  line.append(" (").append(fields.reason).append(")");
}

std::string possible_duplicate(const QueueId& id, std::string_view to) {
  return id.to_string() + ": warning: to=<" + std::string(to) +
         ">: the connection was lost after the end of data: the message may be delivered twice";
}

std::string notice_dropped(const QueueId& id, std::string_view to) {
  return id.to_string() + ": to=<" + std::string(to) + ">: undeliverable notification dropped, never bounced";
}

std::string notice_queued(const QueueId& id, smtp::DsnAction action, const QueueId& notice_id) {
  const char* kind = action == smtp::DsnAction::failed    ? "non-delivery"
                     : action == smtp::DsnAction::delayed ? "delay"
                                                          : "delivery status";
  return id.to_string() + ": sender " + kind + " notification: " + notice_id.to_string();
}

std::string removed(const QueueId& id) { return id.to_string() + ": removed"; }

}  // namespace relaysim::relay::maillog
