// A real SMTP client built from our engines, for interoperability tests with servers nobody here
// wrote (Postfix's smtp-sink): the client session, the TLS engine and the endpoint driver on the
// real backend. Prints one JSON line per transaction; exits 0 when every recipient was delivered.
//
//   smtp_test_client --server 127.0.0.1:PORT --from A --to B[,C] [--count N] [--tls none|opportunistic|required]

#include <cstdio>
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "real/runtime.hpp"
#include "support/client_dialogue.hpp"
#include "support/smtp_nodes.hpp"

using namespace relaysim;

int main(int argc, char** argv) {
  cxxopts::Options parser("smtp_test_client", "SMTP client from relaysim's engines, for interoperability tests");
  parser.add_options()("server", "host:port", cxxopts::value<std::string>())(
      "from", "envelope sender", cxxopts::value<std::string>()->default_value("news@acme.example"))(
      "to", "recipients, comma-separated", cxxopts::value<std::string>()->default_value("ann@dest.example"))(
      "count", "messages to send on the one connection", cxxopts::value<int>()->default_value("1"))(
      "tls", "none, opportunistic or required", cxxopts::value<std::string>()->default_value("none"))("no-pipelining",
                                                                                                      "never pipeline");
  const auto options = parser.parse(argc, argv);
  const std::string server = options["server"].as<std::string>();
  const auto colon = server.rfind(':');
  const io::Endpoint endpoint{*io::Address::parse(server.substr(0, colon)),
                              static_cast<std::uint16_t>(std::stoi(server.substr(colon + 1)))};

  smtp::ClientConfig config = testing::relay_client_config();
  const std::string tls_mode = options["tls"].as<std::string>();
  config.tls = tls_mode == "required"        ? smtp::ClientTls::required
               : tls_mode == "opportunistic" ? smtp::ClientTls::opportunistic
                                             : smtp::ClientTls::none;
  config.use_pipelining = options.count("no-pipelining") == 0;
  std::vector<smtp::OutgoingMessage> messages;
  for (int i = 1; i <= options["count"].as<int>(); ++i) {
    smtp::OutgoingMessage message;
    const std::string from = options["from"].as<std::string>();
    message.sender = testing::mailbox(from.c_str());
    std::string list = options["to"].as<std::string>();
    while (!list.empty()) {
      const std::string one = list.substr(0, list.find(','));
      message.recipients.push_back({testing::mailbox(one.c_str()), {}});
      list = list.find(',') == std::string::npos ? "" : list.substr(list.find(',') + 1);
    }
    message.content = "From: <" + from + ">\r\nSubject: interop " + std::to_string(i) +
                      "\r\n\r\n.a line starting with a dot\r\nbye\r\n";
    messages.push_back(std::move(message));
  }

  auto crypto = tls::CryptoContext::system();
  tls::Context tls_context(
      *crypto,
      {tls::Role::client, nullptr, {}, {}, tls::Verification::none, tls::Version::tls1_2, tls::Version::tls1_3});
  real::Runtime runtime;
  auto io = runtime.make_io(
      {"client", "relay.acme.example", "/tmp", std::nullopt, std::nullopt, std::chrono::seconds(5), {}, {}, false});
  testing::SendRecord record;
  testing::SendNode node(*io, endpoint, "localhost", config, &tls_context, messages, record);
  node.start();
  runtime.run_until([&] { return record.closed; }, std::chrono::seconds(60));

  bool all_delivered = record.failures.empty() && record.results.size() == messages.size();
  for (const auto& result : record.results) {
    nlohmann::json line;
    for (const auto& recipient : result.recipients) {
      line["recipients"].push_back({{"to", recipient.recipient.to_string()},
                                    {"outcome", smtp::to_string(recipient.outcome)},
                                    {"reply", recipient.reply ? recipient.reply->text() : recipient.detail}});
      all_delivered = all_delivered && recipient.outcome == smtp::Outcome::delivered;
    }
    std::printf("%s\n", line.dump().c_str());
  }
  for (const auto& failure : record.failures) std::printf("{\"failed\":\"%s\"}\n", failure.reason.c_str());
  std::fprintf(stderr, "%s", record.transcript.c_str());
  return all_delivered ? 0 : 1;
}
