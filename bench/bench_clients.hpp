#pragma once
// What the simulation benchmarks share: SMTP clients, each on a host of its own, each sending a
// batch of messages over one pipelined connection to a server, and message content of a size.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/world.hpp"
#include "support/smtp_nodes.hpp"

namespace relaysim::bench {

// "From:/Subject:" headers, then filler lines, `bytes` long in all, ending in CRLF.
inline std::string message_content(std::size_t bytes, const std::string& subject) {
  std::string content = "From: <news@acme.example>\r\nTo: <ann@dest.example>\r\nSubject: " + subject + "\r\n\r\n";
  while (content.size() < bytes) content += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
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
inline void add_clients(sim::World& world, Clients& clients, int count, std::uint32_t first_address, std::uint32_t address_step,
                        io::Endpoint server, const std::function<std::vector<smtp::OutgoingMessage>(int client)>& make) {
  for (int c = 0; c < count; ++c) {
    const std::string name = "client" + std::to_string(c);
    world.add_host({name, {io::Address::v4(first_address + static_cast<std::uint32_t>(c) * address_step)}});
    clients.records.push_back(std::make_unique<testing::SendRecord>());
    testing::SendRecord& record = *clients.records.back();
    smtp::ClientConfig config;
    config.helo_name = name;
    config.tls = smtp::ClientTls::none;
    world.add_process({name, name, [&record, batch = make(c), config, server](io::Io& io) {
                         return std::make_unique<testing::SendNode>(io, server, "server", config, nullptr, batch, record);
                       }, {}});
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

}  // namespace relaysim::bench
