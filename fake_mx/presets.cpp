// Receivers that answer like well-known providers. The texts are the providers' own (as of 2026),
// multi-line where theirs are; the numbers a user may want to change (quotas, rates) are left off
// and set in the scenario.

#include "fake_mx/behaviour.hpp"

namespace relaysim::fake_mx {
namespace {

Behaviour gmail() {
  Behaviour behaviour;
  behaviour.hostname = "mx.google.example";
  behaviour.starttls = true;
  behaviour.mailboxes.name_recipient = false;
  behaviour.mailboxes.unknown_user =
      smtp::Reply::make(550, "5.1.1",
                        "The email account that you tried to reach does not exist. Please try\n"
                        "double-checking the recipient's email address for typos or\n"
                        "unnecessary spaces. For more information, go to\n"
                        " https://support.google.com/mail/?p=NoSuchUser - gsmtp");
  behaviour.mailboxes.over_quota =
      smtp::Reply::make(452, "4.2.2",
                        "The recipient's inbox is out of storage space. Please direct the\n"
                        "recipient to\n"
                        " https://support.google.com/mail/?p=OverQuotaTemp - gsmtp");
  behaviour.limits.rate_limited =
      smtp::Reply::make(421, "4.7.28",
                        "Gmail has detected an unusual rate of unsolicited mail originating\n"
                        "from your IP address. To protect our users from spam, mail sent from your\n"
                        "IP address has been temporarily rate limited. For more information, go to\n"
                        " https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp");
  behaviour.limits.too_many_connections =
      smtp::Reply::make(421, "4.7.0", "Try again later, closing connection. - gsmtp");
  behaviour.authentication.enabled = true;
  behaviour.authentication.spf_fail = Authentication::Action::spam;
  behaviour.authentication.dmarc_reply =
      smtp::Reply::make(550, "5.7.26",
                        "Unauthenticated email from {domain} is not accepted due to domain's\n"
                        "DMARC policy. Please contact the administrator of {domain} domain if\n"
                        "this was a legitimate mail. To learn about the DMARC initiative, go to\n"
                        " https://support.google.com/mail/?p=DmarcRejection - gsmtp");
  return behaviour;
}

Behaviour outlook() {
  Behaviour behaviour;
  behaviour.hostname = "mail.protection.outlook.example";
  behaviour.starttls = true;
  behaviour.mailboxes.name_recipient = false;
  behaviour.mailboxes.unknown_user = smtp::Reply::make(
      550, "5.5.0", "Requested action not taken: mailbox unavailable (S2017062302) [mail.protection.outlook.example]");
  behaviour.mailboxes.over_quota = smtp::Reply::make(552, "5.2.2", "mailbox full [mail.protection.outlook.example]");
  behaviour.limits.rate_limited = smtp::Reply::make(
      451, "4.7.500", "Server busy. Please try again later. (S77719) [mail.protection.outlook.example]");
  behaviour.limits.too_many_connections = smtp::Reply::make(
      421, "4.3.2",
      "The maximum number of concurrent server connections has exceeded a limit, closing transmission channel");
  behaviour.authentication.enabled = true;
  behaviour.authentication.dmarc_reply = smtp::Reply::make(
      550, "5.7.509",
      "Access denied, sending domain {domain} does not pass DMARC verification and has a DMARC policy of reject. "
      "[mail.protection.outlook.example]");
  return behaviour;
}

Behaviour postgrey() {
  Behaviour behaviour;
  behaviour.hostname = "mail.postfix.example";
  behaviour.greylisting.enabled = true;
  behaviour.greylisting.reply = smtp::Reply::make(
      450, "4.2.0",
      "Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/postfix.example.html");
  behaviour.limits.too_many_connections =
      smtp::Reply::make(421, "4.7.0", "mail.postfix.example Error: too many connections");
  behaviour.limits.rate_limited = smtp::Reply::make(421, "4.7.0", "mail.postfix.example Error: too many messages");
  return behaviour;
}

}  // namespace

std::optional<Behaviour> preset(std::string_view name) {
  if (name == "gmail") return gmail();
  if (name == "outlook") return outlook();
  if (name == "postgrey") return postgrey();
  return std::nullopt;
}

}  // namespace relaysim::fake_mx
