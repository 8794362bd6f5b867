// `relaysim mx --config mx.json`: the fake MX as a real server, with the whole behaviour model,
// a web inbox, and a JSON HTTP API to look into its mail store and change its behaviour while it runs.
// Time-based behaviour (greylisting delays, time windows) runs on real time here.
//
// The web inbox (cli/mx_inbox.cpp):
//   GET    /[?mailbox=A][&q=TEXT]       mailboxes and messages, newest first; live with JavaScript
//   GET    /messages/N                  one message: envelope, authentication, fields, body, transcript
// HTTP API (docs/real-mode.md):
//   GET    /api/status                  messages, sessions, where it listens
//   GET    /api/mailboxes               {address: messages}
//   GET    /api/messages[?mailbox=A][&q=TEXT]
//                                       summaries, oldest first; q: in an address, the subject or the text
//   GET    /api/messages/N              one message: envelope, TLS, client, content, transcript
//   GET    /api/messages/N/raw          the message as received (message/rfc822)
//   DELETE /api/messages/N              forget one message
//   DELETE /api/messages                forget every message
//   GET    /api/events                  server-sent events: "message" with {"number"} as each is stored
//   GET    /api/behaviour               the behaviour in force, as JSON
//   PUT    /api/behaviour               a new behaviour (the "behaviour" object of the config)
//   POST   /api/reset                   forget every message and go back to the configured behaviour

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cxxopts.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.hpp"
#include "cli/mx_inbox.hpp"
#include "cli/options.hpp"
#include "cli/real_mode.hpp"
#include "cli/trace_sinks.hpp"
#include "fake_mx/fake_mx_node.hpp"
#include "io/text.hpp"
#include "real/http_server.hpp"
#include "scenario/fake_mx_config.hpp"
#include "smtp/dsn.hpp"

namespace relaysim::cli {
namespace {

nlohmann::json summary(const fake_mx::StoredMessage& message) {
  nlohmann::json out = {
      {"number", message.number},
      {"received", format_iso8601(message.received)},
      {"client", message.client.to_string()},
      {"helo", message.helo},
      {"from", message.sender},
      {"to", nlohmann::json::array()},
      {"size", message.content.size()},
      {"subject", smtp::header_value(message.content, "Subject")},
      {"folder", message.folder},
      {"tls", message.tls.active ? nlohmann::json{{"version", message.tls.version}, {"cipher", message.tls.cipher}}
                                 : nlohmann::json(nullptr)}};
  for (const smtp::Recipient& recipient : message.recipients) out["to"].push_back(recipient.mailbox.to_string());
  return out;
}

nlohmann::json detail(const fake_mx::StoredMessage& message) {
  nlohmann::json out = summary(message);
  out["parameters"] = {
      {"size", message.parameters.size ? nlohmann::json(*message.parameters.size) : nlohmann::json(nullptr)},
      {"body", message.parameters.body},
      {"ret", message.parameters.ret},
      {"envid", message.parameters.envid},
      {"smtputf8", message.parameters.smtputf8}};
  out["content"] = message.content;
  out["transcript"] = message.transcript;
  return out;
}

real::HttpResponse json_response(int status, const nlohmann::json& body) {
  return {status, "application/json", body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
}

real::HttpResponse error_response(int status, const std::string& why) {
  return json_response(status, {{"error", why}});
}

real::HttpResponse html_response(int status, std::string body) {
  return {status, "text/html; charset=utf-8", std::move(body)};
}

// "/api/messages/12" -> 12, after `prefix`; nothing for anything else.
std::optional<std::uint64_t> message_number(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix) || path.size() == prefix.size() || path.size() > prefix.size() + 12)
    return std::nullopt;
  std::uint64_t number = 0;
  for (char c : path.substr(prefix.size())) {
    if (c < '0' || c > '9') return std::nullopt;
    number = number * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return number;
}

// The lines a Postfix smtpd and postgrey would log for a session, from the fake MX's events:
// "connect from unknown[192.0.2.1]", "3: from=<a@b>, nrcpt=1, size=912, tls=yes, folder=inbox",
// "action=greylist, reason=new, ...", "disconnect from unknown[192.0.2.1] (quit)".
class SessionLog {
 public:
  std::optional<std::string> line_for(const io::TraceEvent& event) {
    if (event.kind == "net.accept") {
      const std::string from = trace_field(event, "from");
      const std::string host = "unknown[" + from.substr(0, from.rfind(':')) + "]";
      peers_[trace_field(event, "conn")] = host;
      return "connect from " + host;
    }
    if (event.kind == "smtp.server.closed") {
      const auto peer = peers_.find(trace_field(event, "conn"));
      if (peer == peers_.end()) return std::nullopt;
      std::string line = "disconnect from " + peer->second + " (" + trace_field(event, "reason") + ")";
      peers_.erase(peer);
      return line;
    }
    if (event.kind == "mx.stored") {
      return trace_field(event, "number") + ": from=<" + trace_field(event, "from") +
             ">, nrcpt=" + trace_field(event, "recipients") + ", size=" + trace_field(event, "bytes") +
             ", tls=" + (trace_field(event, "tls") == "true" ? "yes" : "no") +
             ", folder=" + trace_field(event, "folder") +
             (trace_field(event, "dropped_reply") == "true" ? ", reply dropped" : "");
    }
    if (event.kind == "mx.greylist") {
      const std::string verdict = trace_field(event, "verdict");
      const bool accepted = verdict == "passed" || verdict == "client auto-whitelisted";
      return std::string(accepted ? "action=pass" : "action=greylist") + ", reason=" + verdict +
             ", client_address=" + trace_field(event, "client") + ", sender=" + trace_field(event, "sender") +
             ", recipient=" + trace_field(event, "rcpt");
    }
    return std::nullopt;
  }

 private:
  std::map<std::string, std::string> peers_;  // connection -> "unknown[address]"
};

class MxServer {
 public:
  MxServer(real::Runtime& runtime, scenario::MxServerConfig config, nlohmann::json configured_behaviour, RealTls tls,
           DaemonLog& log)
      : runtime_(runtime),
        config_(std::move(config)),
        configured_(std::move(configured_behaviour)),
        current_(configured_),
        tls_(std::move(tls)),
        log_(log),
        store_(config_.max_messages) {}

  bool start() {
    config_.behaviour.address = config_.listen.address;
    config_.behaviour.port = config_.listen.port;
    real::NodeOptions options =
        node_options("mx", config_.behaviour.hostname, config_.data_directory, config_.dns, &log_);
    // Besides the log: Postfix-like lines per session and message, and the web inbox's live updates.
    options.on_trace = [this, to_log = std::move(options.on_trace)](const io::TraceEvent& event,
                                                                    std::string_view line) {
      to_log(event, line);
      if (!log_.json()) {
        if (const auto session_line = sessions_.line_for(event)) log_.write_line(event.time, "mx", *session_line);
      }
      if (event.kind == "mx.stored" && http_)
        http_->broadcast("message", "{\"number\":" + trace_field(event, "number") + "}");
    };
    io_ = runtime_.make_io(std::move(options));
    node_ = std::make_unique<fake_mx::FakeMxNode>(*io_, config_.behaviour, tls_.server.get(), store_);
    node_->start();
    if (!node_->listening()) return false;  // the node logged why
    if (config_.http) {
      auto http = real::HttpServer::start(runtime_, *config_.http,
                                          [this](const real::HttpRequest& request) { return handle(request); });
      if (!http) {
        log_.note("mx", "fatal: " + http.error().detail);
        return false;
      }
      http_ = std::move(http).value();
    }
    return true;
  }

  nlohmann::json ready() const {
    nlohmann::json out = {{"pid", static_cast<int>(getpid())}, {"smtp", node_->listening()->to_string()}};
    if (http_) out["http"] = http_->local_endpoint().to_string();
    return out;
  }

  void stop() {
    log_.note("mx", "stopped: " + node_->status());
    http_.reset();
    node_.reset();
    runtime_.stop();
  }

 private:
  real::HttpResponse handle(const real::HttpRequest& request) {
    const std::string& path = request.path;
    const std::string& method = request.method;
    // /messages/N (a page), /api/messages/N and /api/messages/N/raw.
    const std::optional<std::uint64_t> page_number = message_number(path, "/messages/");
    const bool raw = path.ends_with("/raw");
    const std::optional<std::uint64_t> api_number =
        message_number(std::string_view(path).substr(0, path.size() - (raw ? 4 : 0)), "/api/messages/");
    if (path == "/" && method == "GET") {
      return html_response(200, inbox_page(store_, real::query_parameter(request.query, "mailbox"),
                                           real::query_parameter(request.query, "q"), node_->status()));
    }
    if (page_number && method == "GET") {
      if (const fake_mx::StoredMessage* message = find_message(*page_number))
        return html_response(200, message_page(*message));
      return html_response(404, "<!DOCTYPE html><title>no such message</title><p>No message " +
                                    std::to_string(*page_number) + ". <a href=\"/\">The inbox</a></p>\n");
    }
    if (path == "/api/events" && method == "GET") return {200, "text/event-stream", "", true};
    if (path == "/api/status" && method == "GET") {
      return json_response(200, {{"status", node_->status()},
                                 {"messages", store_.messages().size()},
                                 {"max_messages", store_.max_messages()},
                                 {"dropped", store_.dropped()},
                                 {"smtp", node_->listening()->to_string()}});
    }
    if (path == "/api/mailboxes" && method == "GET") {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& message : store_.messages()) {
        for (const smtp::Recipient& recipient : message.recipients) {
          const std::string address = recipient.mailbox.to_string();
          out[address] = out.value(address, 0) + 1;
        }
      }
      return json_response(200, out);
    }
    if (path == "/api/messages" && method == "GET") {
      const std::string mailbox = real::query_parameter(request.query, "mailbox");
      const std::string query = real::query_parameter(request.query, "q");
      nlohmann::json out = nlohmann::json::array();
      if (mailbox.empty()) {
        for (const auto& message : store_.messages()) {
          if (message_matches(message, query)) out.push_back(summary(message));
        }
      } else {
        for (const auto* message : store_.mailbox(to_lower(mailbox))) {
          if (message_matches(*message, query)) out.push_back(summary(*message));
        }
      }
      return json_response(200, out);
    }
    if (path == "/api/messages" && method == "DELETE") {
      const std::size_t count = store_.messages().size();
      store_.clear();
      return json_response(200, {{"deleted", count}});
    }
    if (api_number && !raw && method == "DELETE") {
      if (!store_.remove(*api_number)) return error_response(404, "no such message");
      return json_response(200, {{"deleted", 1}});
    }
    if (api_number && method == "GET") {
      const fake_mx::StoredMessage* message = find_message(*api_number);
      if (message == nullptr) return error_response(404, "no such message");
      if (raw) return {200, "message/rfc822", message->content};
      return json_response(200, detail(*message));
    }
    if (path == "/api/behaviour" && method == "GET") return json_response(200, current_);
    if (path == "/api/behaviour" && method == "PUT") {
      nlohmann::json document;
      try {
        document = scenario::parse_json_text(request.body, "behaviour");
        const scenario::JsonValue value(document, "$");
        set_behaviour(scenario::read_fake_mx_behaviour(value, io_->now()));
      } catch (const scenario::InputError& error) {
        return error_response(400, error.what());
      }
      current_ = document;
      return json_response(200, {{"behaviour", "changed"}});
    }
    if (path == "/api/reset" && method == "POST") {
      store_.clear();
      set_behaviour(config_.behaviour);
      current_ = configured_;
      return json_response(200, {{"reset", true}});
    }
    // A resource that exists, asked with a method it does not take, is 405; anything else 404.
    const bool known = path == "/" || path == "/api/status" || path == "/api/mailboxes" || path == "/api/messages" ||
                       path == "/api/events" || path == "/api/behaviour" || path == "/api/reset" || page_number ||
                       api_number;
    return error_response(known ? 405 : 404,
                          (known ? "method not allowed: " : "no such resource: ") + method + " " + path);
  }

  const fake_mx::StoredMessage* find_message(std::uint64_t number) const {
    for (const auto& message : store_.messages()) {
      if (message.number == number) return &message;
    }
    return nullptr;
  }

  void set_behaviour(fake_mx::Behaviour behaviour) {
    if (behaviour.starttls && !tls_.server)
      throw scenario::InputError("$.starttls", "false: the server has no certificate", "true");
    node_->set_behaviour(std::move(behaviour));
  }

  real::Runtime& runtime_;
  scenario::MxServerConfig config_;
  nlohmann::json configured_;
  nlohmann::json current_;
  RealTls tls_;
  DaemonLog& log_;
  fake_mx::MailStore store_;
  std::unique_ptr<io::Io> io_;
  std::unique_ptr<fake_mx::FakeMxNode> node_;
  std::unique_ptr<real::HttpServer> http_;
  SessionLog sessions_;
};

}  // namespace

cxxopts::Options mx_options() {
  cxxopts::Options parser("relaysim mx",
                          "a fake MX server on real sockets, with a web inbox and a JSON HTTP API (docs/real-mode.md)");
  add_server_options(parser, "the server's configuration file (JSON)",
                     "once listening, write {\"pid\", \"smtp\", \"http\"} here");
  return parser;
}

int mx_command(int argc, char** argv) {
  cxxopts::Options parser = mx_options();
  ServerOptions options;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    options = read_server_options(parsed);
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("mx", error, argc, argv);
  }
  const Instant now = Instant::from_unix_microseconds(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  auto loaded = load_server_config<scenario::MxServerConfig>(
      "mx", options.config_path, [now](const std::string& path) { return scenario::load_mx_server_config(path, now); });
  if (!loaded) return 2;
  scenario::MxServerConfig& config = loaded->first;
  if (options.check_only) {
    std::printf("%s: configuration OK: SMTP on %s, %zu rules, greylisting %s, authentication %s, HTTP %s\n",
                options.config_path.c_str(), config.listen.to_string().c_str(), config.behaviour.rules.size(),
                config.behaviour.greylisting.enabled ? "on" : "off",
                config.behaviour.authentication.enabled ? "on" : "off",
                config.http ? config.http->to_string().c_str() : "off");
    return 0;
  }

  auto log = DaemonLog::open(options.log_path, options.json_log, "");
  if (!log) return 2;
  std::signal(SIGPIPE, SIG_IGN);
  real::Runtime runtime;
  log->flush_per_burst(runtime);
  const nlohmann::json behaviour_json = nlohmann::json::parse(config.behaviour_json);
  MxServer server(runtime, std::move(config), behaviour_json, std::move(loaded->second), *log);
  // Start-up errors exit 2, as configuration errors do, for every daemon; the log names the cause.
  if (!server.start()) return 2;
  log->note("mx", "ready: " + server.ready().dump());
  if (!options.ready_file.empty() && !write_ready_file(options.ready_file, server.ready())) {
    log->note("mx", "fatal: cannot write " + options.ready_file);
    return 2;
  }
  runtime.on_signal(SIGTERM, [&server] { server.stop(); });
  runtime.on_signal(SIGINT, [&server] { server.stop(); });
  runtime.run();
  return 0;
}

}  // namespace relaysim::cli
