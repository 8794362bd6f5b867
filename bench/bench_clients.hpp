#pragma once
// What the simulation benchmarks share: SMTP clients, each on a host of its own, each sending a
// batch of messages over one pipelined connection to a server, and message content of a size.
// Two kinds of client: the project's own client engine (ClientSession, as the relay delivers), and
// a load generator in the manner of Postfix's smtp-source, which costs next to nothing, so that a
// figure measures the server under test rather than its clients.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/world.hpp"
#include "smtp/client_session.hpp"
#include "support/smtp_nodes.hpp"

namespace relaysim::bench {

// "From:/Subject:" headers, then filler lines, `bytes` long in all, ending in CRLF.
inline std::string message_content(std::size_t bytes, const std::string& subject) {
  std::string content = "From: <news@acme.example>\r\nTo: <ann@dest.example>\r\nSubject: " + subject + "\r\n\r\n";
  while (content.size() < bytes)
    content += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
  content.resize(bytes - 2);
  return content + "\r\n";
}

struct Clients {
  std::vector<std::unique_ptr<testing::SendRecord>> records;
  std::size_t results() const {
    std::size_t count = 0;
    for (const auto& record : records) count += record->results.size();
    return count;
  }
};

// `count` clients; client c has address `first_address + c * address_step` and sends the messages
// `make(c)` returns to `server`.
inline void add_clients(sim::World& world, Clients& clients, int count, std::uint32_t first_address,
                        std::uint32_t address_step, io::Endpoint server,
                        const std::function<std::vector<smtp::OutgoingMessage>(int client)>& make) {
  for (int c = 0; c < count; ++c) {
    const std::string name = "client" + std::to_string(c);
    world.add_host({name, {io::Address::v4(first_address + static_cast<std::uint32_t>(c) * address_step)}});
    clients.records.push_back(std::make_unique<testing::SendRecord>());
    testing::SendRecord& record = *clients.records.back();
    smtp::ClientConfig config;
    config.helo_name = name;
    config.tls = smtp::ClientTls::none;
    world.add_process({name,
                       name,
                       [&record, batch = make(c), config, server](io::Io& io) {
                         return std::make_unique<testing::SendNode>(io, server, "server", config, nullptr, batch,
                                                                    record);
                       },
                       {}});
  }
}

// `count` copies of one message from news@acme.example to `recipient`.
inline std::vector<smtp::OutgoingMessage> copies(int count, const std::string& local, const std::string& content) {
  smtp::OutgoingMessage message;
  message.sender = smtp::Mailbox{"news", "acme.example", false, false};
  message.recipients.push_back({smtp::Mailbox{local, "dest.example", false, false}, {}});
  message.content = content;
  return std::vector<smtp::OutgoingMessage>(static_cast<std::size_t>(count), message);
}

// What the load generators saw, summed over all of them.
struct LoadCounts {
  std::size_t accepted = 0;  // 250 after end of data
  std::size_t refused = 0;   // any other answer to the transaction
  std::size_t closed = 0;    // connections that ended
};

// smtp-source's way of sending: EHLO, then for each message MAIL, RCPT and DATA in one pipelined
// group and, after the 354, the content (dot-stuffed once, for every message) with its final dot;
// then the next group, then QUIT. It reads reply codes only. A transaction refused at any step is
// counted and the next one starts.
class LoadGenerator final : public io::Node {
 public:
  LoadGenerator(io::Io& io, io::Endpoint server, std::string helo, std::string commands,
                std::shared_ptr<const std::string> data, int messages, LoadCounts& counts)
      : io_(io),
        server_(server),
        helo_(std::move(helo)),
        commands_(std::move(commands)),
        data_(std::move(data)),
        remaining_(messages),
        counts_(counts) {}

  void start() override {
    connecting_ =
        io_.connect(server_, io::ConnectOptions{}, [this](io::Result<std::unique_ptr<io::Connection>> connection) {
          if (!connection) {
            counts_.closed += 1;
            return;
          }
          connection_ = std::move(connection).value();
          connection_->on_close([this](io::CloseReason) { counts_.closed += 1; });
          connection_->on_receive([this](std::string_view bytes) { receive(bytes); });
        });
  }
  std::string status() const override { return std::to_string(remaining_) + " messages to send"; }

 private:
  enum class Expect { greeting, ehlo, mail, rcpt, data, end_of_data, quit };

  void receive(std::string_view bytes) {
    input_.append(bytes);
    std::size_t start = 0;
    for (std::size_t end; (end = input_.find('\n', start)) != std::string::npos; start = end + 1) {
      const std::string_view line(input_.data() + start, end - start);
      if (line.size() >= 4 && line[3] == '-') continue;  // a multiline reply goes on
      on_reply(line.size() >= 3 ? line[0] : '0');
    }
    input_.erase(0, start);
  }

  void on_reply(char first_digit) {
    switch (expect_) {
      case Expect::greeting: expect_ = Expect::ehlo; return send("EHLO " + helo_ + "\r\n");
      case Expect::ehlo: return next();
      case Expect::mail: expect_ = Expect::rcpt; return;
      case Expect::rcpt: expect_ = Expect::data; return;
      case Expect::data:
        if (first_digit != '3') {
          counts_.refused += 1;
          return next();
        }
        expect_ = Expect::end_of_data;
        return send(*data_);
      case Expect::end_of_data: (first_digit == '2' ? counts_.accepted : counts_.refused) += 1; return next();
      case Expect::quit: return connection_->close();
    }
  }

  void next() {
    if (remaining_ == 0) {
      expect_ = Expect::quit;
      return send("QUIT\r\n");
    }
    remaining_ -= 1;
    expect_ = Expect::mail;
    send(commands_);
  }

  void send(std::string_view bytes) {
    if (connection_) (void)connection_->send(bytes);
  }

  io::Io& io_;
  io::Endpoint server_;
  std::string helo_;
  std::string commands_;  // MAIL, RCPT and DATA
  std::shared_ptr<const std::string> data_;
  int remaining_;
  LoadCounts& counts_;
  io::Pending connecting_;
  std::unique_ptr<io::Connection> connection_;
  std::string input_;
  Expect expect_ = Expect::greeting;
};

// `count` load generators; generator c has address `first_address + c * address_step` and sends
// `messages` copies of `content` from news@acme.example to `recipient` at `server`.
inline void add_load_generators(sim::World& world, LoadCounts& counts, int count, std::uint32_t first_address,
                                std::uint32_t address_step, io::Endpoint server, int messages,
                                const std::string& recipient, const std::string& content) {
  const std::string commands = "MAIL FROM:<news@acme.example>\r\nRCPT TO:<" + recipient + ">\r\nDATA\r\n";
  const auto data = std::make_shared<const std::string>(smtp::dot_stuff(content));
  for (int c = 0; c < count; ++c) {
    const std::string name = "client" + std::to_string(c);
    world.add_host({name, {io::Address::v4(first_address + static_cast<std::uint32_t>(c) * address_step)}});
    world.add_process({name,
                       name,
                       [&counts, server, name, commands, data, messages](io::Io& io) {
                         return std::make_unique<LoadGenerator>(io, server, name, commands, data, messages, counts);
                       },
                       {}});
  }
}

}  // namespace relaysim::bench
