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
  line.append(fields.id).append(": to=<").append(fields.to).append(">");
  if (!fields.orig_to.empty()) line.append(", orig_to=<").append(fields.orig_to).append(">");
  line.append(", relay=").append(fields.relay).append(", delay=").append(fields.delay);
  line.append(", dsn=").append(fields.dsn).append(", status=").append(fields.status);
  if (fields.status == "expired") line.append(", returned to sender");
  line.append(" (").append(fields.reason).append(")");
}

std::string possible_duplicate(std::string_view id, std::string_view to) {
  return std::string(id) + ": warning: to=<" + std::string(to) + ">: the connection was lost after the end of data: the message may be delivered twice";
}

std::string notice_dropped(std::string_view id, std::string_view to) {
  return std::string(id) + ": to=<" + std::string(to) + ">: undeliverable notification dropped, never bounced";
}

std::string notice_queued(std::string_view id, smtp::DsnAction action, std::string_view notice_id) {
  const char* kind = action == smtp::DsnAction::failed ? "non-delivery" : action == smtp::DsnAction::delayed ? "delay" : "delivery status";
  return std::string(id) + ": sender " + kind + " notification: " + std::string(notice_id);
}

std::string removed(std::string_view id) { return std::string(id) + ": removed"; }

}  // namespace relaysim::relay::maillog
