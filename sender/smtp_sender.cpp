#include "sender/smtp_sender.hpp"

#include <map>
#include <memory>

#include "endpoint/client_connection.hpp"
#include "sender/events.hpp"

namespace relaysim::sender {
namespace {

class SmtpSender final : public io::Node {
 public:
  SmtpSender(io::Io& io, SmtpSenderConfig config, const tls::Context* tls)
      : io_(io), config_(std::move(config)), tls_(tls) {}

  void start() override {
    for (std::size_t i = 0; i < config_.messages.size(); ++i) {
      const Instant at = std::max(config_.messages[i].at, io_.now());
      timers_.push_back(io_.at(at, [this, i] { send(i); }));
    }
  }

  std::string status() const override {
    return std::to_string(finished_) + " of " + std::to_string(config_.messages.size()) + " messages sent";
  }

 private:
  struct Attempt {
    io::Pending lookup;
    std::unique_ptr<endpoint::ClientConnection> connection;
    std::unique_ptr<endpoint::ClientConnection> closed;  // destroyed outside its own callback
    bool sent = false;
  };

  void send(std::size_t index) {
    Attempt& attempt = attempts_[index];
    if (const auto address = io::Address::parse(config_.server)) return connect(index, *address);
    attempt.lookup = io_.resolve(config_.server, io::DnsType::a, [this, index](const io::DnsAnswer& answer) {
      if (answer.addresses.empty()) {
        return report_failure(
            index, "", "no address for " + config_.server + " (" + std::string(io::to_string(answer.status)) + ")");
      }
      connect(index, answer.addresses.front());
    });
  }

  void connect(std::size_t index, const io::Address& address) {
    Attempt& attempt = attempts_[index];
    attempt.connection = std::make_unique<endpoint::ClientConnection>(
        io_, io::Endpoint{address, config_.port}, config_.server, config_.client, tls_, io::ConnectOptions{},
        [this, index](endpoint::ClientConnection& connection, const smtp::ClientEvent& event) {
          Attempt& current = attempts_[index];
          if (std::holds_alternative<smtp::client_event::Ready>(event)) {
            if (current.sent) return connection.quit();
            const SmtpSenderMessage& message = config_.messages[index];
            current.sent = connection.send({message.sender, message.parameters, message.recipients, message.content});
            if (!current.sent) connection.quit();
            return;
          }
          if (const auto* failed = std::get_if<smtp::client_event::Failed>(&event)) {
            return report_failure(index, failed->reply ? failed->reply->text() : "",
                                  std::string(smtp::to_string(failed->stage)) + ": " + failed->reason);
          }
          if (const auto* finished = std::get_if<smtp::client_event::Finished>(&event)) {
            for (const smtp::RecipientResult& result : finished->result.recipients) {
              const std::string rcpt = result.recipient.to_string();
              const std::string reply = result.reply ? result.reply->text() : result.detail;
              const std::string queue_id =
                  result.reply && result.outcome == smtp::Outcome::delivered ? result.reply->queue_id() : std::string();
              io_.observe(events::SenderResult{
                  .message = index + 1, .rcpt = rcpt, .outcome = result.outcome, .reply = reply, .queue_id = queue_id});
            }
            finished_ += 1;
            return;
          }
          if (std::holds_alternative<smtp::client_event::Closed>(event)) current.closed = std::move(current.connection);
        });
  }

  // The message failed as a whole, before any recipient had an outcome.
  void report_failure(std::size_t index, const std::string& reply, const std::string& detail) {
    io_.observe(events::SenderResult{
        .message = index + 1, .rcpt = "*", .outcome = std::nullopt, .reply = reply.empty() ? detail : reply});
    finished_ += 1;
  }

  io::Io& io_;
  SmtpSenderConfig config_;
  const tls::Context* tls_;
  std::vector<io::Pending> timers_;
  std::map<std::size_t, Attempt> attempts_;
  std::size_t finished_ = 0;
};

}  // namespace

std::unique_ptr<io::Node> make_smtp_sender(io::Io& io, SmtpSenderConfig config, const tls::Context* tls) {
  return std::make_unique<SmtpSender>(io, std::move(config), tls);
}

}  // namespace relaysim::sender
