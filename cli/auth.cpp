// `relaysim auth spf|dkim-sign|dkim-record|check|tlsa`: the email-authentication checks of mailauth/
// as a tool - for an administrator asking "does my SPF record let the relay send?", and for the
// cross-checks against independent implementations (dkimpy, pyspf) in tests/mailauth/ - and the
// TLSA record (DANE, RFC 6698) that publishes a server's certificate.
//
// DNS: `--dns records.json` (names to records in the scenario's "dns" form) answers from a table
// and nothing else; without it the system resolver is asked through the real backend.

#include <cstdio>
#include <cxxopts.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "io/text.hpp"
#include "mailauth/dmarc.hpp"
#include "real/runtime.hpp"
#include "scenario/world_file.hpp"
#include "tls/certificate.hpp"

namespace relaysim::cli {
namespace {

// Answers a check's DNS questions from a table, or from the system resolver.
class AuthDns {
 public:
  explicit AuthDns(const std::string& records_path) {
    if (records_path.empty()) return;
    const nlohmann::json document = scenario::read_json_file(records_path, "a JSON file of DNS records");
    const scenario::JsonValue root(document, "$");
    if (!root.is_object()) root.fail("an object of names to records");
    zone_.emplace();
    for (const auto& [name, records] : root.members()) zone_->set(name, scenario::read_dns_records(records));
  }

  template <typename Check>
  auto run(Check check) {
    return mailauth::run_with(lookups_, check,
                              [this](const std::string& name, io::DnsType type) { return resolve(name, type); });
  }

 private:
  io::DnsAnswer resolve(const std::string& name, io::DnsType type) {
    if (zone_) return zone_->answer(name, type, 300);
    if (!runtime_) {
      runtime_ = std::make_unique<real::Runtime>();
      real::NodeOptions options;
      options.node_name = "auth";
      options.data_directory = "/tmp";
      io_ = runtime_->make_io(options);
    }
    std::optional<io::DnsAnswer> answer;
    io::Pending pending = io_->resolve(name, type, [&answer](const io::DnsAnswer& result) { answer = result; });
    if (!runtime_->run_until([&answer] { return answer.has_value(); }, std::chrono::seconds(30))) {
      return io::DnsAnswer::without_records(io::DnsStatus::timeout, name);
    }
    return *answer;
  }

  std::optional<io::Zone> zone_;
  mailauth::Lookups lookups_;
  std::unique_ptr<real::Runtime> runtime_;
  std::unique_ptr<io::Io> io_;
};

Instant wall_clock() {
  return Instant::from_unix_microseconds(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string read_all(std::istream& in) { return std::string(std::istreambuf_iterator<char>(in), {}); }

// Messages on standard input may come with bare LFs (a file saved on Unix): SMTP's CRLF form.
std::string with_crlf(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

std::unique_ptr<mailauth::DkimKey> load_key(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw cxxopts::exceptions::exception("--key: cannot read " + path);
  std::string error;
  auto key = mailauth::DkimKey::from_pem(read_all(stream), &error);
  if (!key) throw cxxopts::exceptions::exception("--key " + path + ": " + error);
  return key;
}

// `relaysim auth tlsa --cert FILE`: the record, in zone-file form or as the scenario's "TLSA" entry.
int print_tlsa(const cxxopts::ParseResult& options, bool json) {
  const std::string path = options["cert"].as<std::string>();
  if (path.empty()) throw cxxopts::exceptions::exception("--cert is required: the server's certificate, PEM");
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw cxxopts::exceptions::exception("--cert: cannot read " + path);
  // "3 1 1": usage, selector, matching type.
  int usage = -1, selector = -1, matching = -1;
  char rest = 0;
  const std::string fields = options["fields"].as<std::string>();
  if (std::sscanf(fields.c_str(), "%d %d %d %c", &usage, &selector, &matching, &rest) != 3)
    throw cxxopts::exceptions::exception("--fields: usage, selector and matching type, such as \"3 1 1\"");
  if (usage != 2 && usage != 3)
    throw cxxopts::exceptions::exception("--fields: usage 2 (DANE-TA) or 3 (DANE-EE) for SMTP");
  if (selector != 0 && selector != 1)
    throw cxxopts::exceptions::exception("--fields: selector 0 (certificate) or 1 (public key)");
  if (matching < 0 || matching > 2)
    throw cxxopts::exceptions::exception("--fields: matching 0 (full), 1 (SHA-256) or 2 (SHA-512)");
  const auto crypto = tls::CryptoContext::system();
  auto certificate = tls::load_pem(*crypto, read_all(stream), "");
  if (!certificate) throw cxxopts::exceptions::exception("--cert " + path + ": " + certificate.error().detail);
  const io::TlsaRecord record{
      static_cast<std::uint8_t>(usage), static_cast<std::uint8_t>(selector), static_cast<std::uint8_t>(matching),
      certificate.value()->tlsa_data(static_cast<std::uint8_t>(selector), static_cast<std::uint8_t>(matching))};
  const std::string host = options["host"].as<std::string>();
  const std::string name =
      host.empty() ? "" : io::tlsa_name(host, static_cast<std::uint16_t>(options["port"].as<int>()));
  if (json) {
    nlohmann::json out = {{"usage", usage},
                          {"selector", selector},
                          {"matching", matching},
                          {"data", to_hex(record.data)},
                          {"scenario", nlohmann::json::array({usage, selector, matching, to_hex(record.data)})}};
    if (!name.empty()) out["name"] = name;
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%s%s\n", name.empty() ? "" : (name + ". IN TLSA ").c_str(), io::to_string(record).c_str());
  }
  return 0;
}

mailauth::Canonicalization canonicalization(const std::string& text) {
  if (text == "relaxed") return mailauth::Canonicalization::relaxed;
  if (text == "simple") return mailauth::Canonicalization::simple;
  throw cxxopts::exceptions::exception("canonicalization is relaxed or simple, not '" + text + "'");
}

}  // namespace

cxxopts::Options auth_options() {
  cxxopts::Options parser(
      "relaysim auth",
      "email authentication checks (docs/email-authentication.md)\n"
      "  relaysim auth spf --ip IP --sender ADDRESS [--helo NAME] [--dns records.json]\n"
      "  relaysim auth check --ip IP --sender ADDRESS --helo NAME [--dns records.json] < message\n"
      "  relaysim auth dkim-sign --key key.pem --domain D --selector S [--canonicalization relaxed/relaxed] < message\n"
      "  relaysim auth dkim-record --key key.pem\n"
      "  relaysim auth tlsa --cert mx.pem [--host mx.example.com] [--fields \"3 1 1\"]\n");
  parser.add_options()("action", "spf, check, dkim-sign, dkim-record or tlsa", cxxopts::value<std::string>())(
      "ip", "the SMTP client's address", cxxopts::value<std::string>()->default_value(""))(
      "sender", "the MAIL FROM address (empty for <>)", cxxopts::value<std::string>()->default_value(""))(
      "helo", "the HELO name", cxxopts::value<std::string>()->default_value(""))(
      "dns", "answer DNS from this JSON file of records only", cxxopts::value<std::string>()->default_value(""))(
      "authserv-id", "the name in Authentication-Results", cxxopts::value<std::string>()->default_value("relaysim"))(
      "key", "a PEM private key (RSA or Ed25519)", cxxopts::value<std::string>()->default_value(""))(
      "domain", "d= of the signature", cxxopts::value<std::string>()->default_value(""))(
      "selector", "s= of the signature", cxxopts::value<std::string>()->default_value(""))(
      "canonicalization", "header/body: relaxed/relaxed, simple/simple, ...",
      cxxopts::value<std::string>()->default_value("relaxed/relaxed"))(
      "time", "Unix seconds for t= and x= (default: now)", cxxopts::value<std::int64_t>())(
      "cert", "tlsa: the server's certificate (PEM)", cxxopts::value<std::string>()->default_value(""))(
      "host", "tlsa: the server's name, for the record's owner name", cxxopts::value<std::string>()->default_value(""))(
      "port", "tlsa: the server's port", cxxopts::value<int>()->default_value("25"))(
      "fields",
      "tlsa: usage (3 DANE-EE, 2 DANE-TA), selector (1 key, 0 certificate), matching (1 SHA-256, 2 SHA-512, 0 full)",
      cxxopts::value<std::string>()->default_value("3 1 1"))(
      "format", "text or json", cxxopts::value<std::string>()->default_value("text"))("h,help", "this help");
  parser.parse_positional({"action"});
  return parser;
}

int auth_command(int argc, char** argv) {
  cxxopts::Options parser = auth_options();
  try {
    const auto options = parser.parse(argc, argv);
    if (options.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (!options.count("action")) {
      std::fprintf(stderr, "relaysim auth: name an action: spf, check, dkim-sign, dkim-record or tlsa\n\n%s\n",
                   parser.help().c_str());
      return 2;
    }
    const std::string action = options["action"].as<std::string>();
    const bool json = options["format"].as<std::string>() == "json";
    const Instant now =
        options.count("time") ? Instant::from_unix_seconds(options["time"].as<std::int64_t>()) : wall_clock();
    if (action == "tlsa") return print_tlsa(options, json);
    if (action == "dkim-record") {
      std::printf("%s\n", load_key(options["key"].as<std::string>())->txt_record().c_str());
      return 0;
    }
    if (action == "dkim-sign") {
      const auto key = load_key(options["key"].as<std::string>());
      mailauth::DkimSignerConfig config;
      config.domain = options["domain"].as<std::string>();
      config.selector = options["selector"].as<std::string>();
      if (config.domain.empty() || config.selector.empty())
        throw cxxopts::exceptions::exception("--domain and --selector are required");
      const std::string modes = options["canonicalization"].as<std::string>();
      const std::size_t slash = modes.find('/');
      config.header_canonicalization = canonicalization(modes.substr(0, slash));
      config.body_canonicalization = canonicalization(slash == std::string::npos ? "simple" : modes.substr(slash + 1));
      const std::string message = with_crlf(read_all(std::cin));
      const std::string signed_message = mailauth::sign_dkim(message, *key, config, now) + message;
      std::fwrite(signed_message.data(), 1, signed_message.size(), stdout);
      return 0;
    }
    if (action != "spf" && action != "check") throw cxxopts::exceptions::exception("unknown action '" + action + "'");
    const auto client = io::Address::parse(options["ip"].as<std::string>());
    if (!client) throw cxxopts::exceptions::exception("--ip: an IPv4 or IPv6 address is required");
    mailauth::SpfRequest request{*client, options["sender"].as<std::string>(), options["helo"].as<std::string>(),
                                 options["authserv-id"].as<std::string>(), now};
    if (request.sender.empty() && request.helo.empty())
      throw cxxopts::exceptions::exception("--sender or --helo is required");
    AuthDns dns(options["dns"].as<std::string>());
    const mailauth::SpfOutcome spf =
        dns.run([&](const mailauth::Lookups& lookups) { return mailauth::check_spf(request, lookups); });
    if (action == "spf") {
      if (json) {
        std::printf("%s\n", nlohmann::json{{"result", mailauth::to_string(spf.result)},
                                           {"domain", spf.domain},
                                           {"mechanism", spf.mechanism},
                                           {"reason", spf.reason},
                                           {"explanation", spf.explanation},
                                           {"dns_lookups", spf.dns_lookups},
                                           {"void_lookups", spf.void_lookups}}
                                .dump()
                                .c_str());
      } else {
        std::printf("spf=%s (%s)%s%s\n", std::string(mailauth::to_string(spf.result)).c_str(), spf.reason.c_str(),
                    spf.explanation.empty() ? "" : ": ", spf.explanation.c_str());
      }
      return 0;
    }
    const std::string message = with_crlf(read_all(std::cin));
    const auto dkim =
        dns.run([&](const mailauth::Lookups& lookups) { return mailauth::verify_dkim(message, lookups, now); });
    const mailauth::ParsedMessage parsed = mailauth::parse_message(message);
    const std::string from = mailauth::from_domain(parsed);
    mailauth::DmarcInput input{from, spf.result, spf.domain, dkim, 0};
    const auto dmarc = dns.run([&](const mailauth::Lookups& lookups) { return mailauth::check_dmarc(input, lookups); });
    const std::string identity = request.sender.empty() ? request.helo : request.sender;
    if (json) {
      nlohmann::json out = {{"spf", mailauth::to_string(spf.result)},
                            {"spf_reason", spf.reason},
                            {"dkim", nlohmann::json::array()},
                            {"dmarc", mailauth::to_string(dmarc.result)},
                            {"dmarc_policy", mailauth::to_string(dmarc.policy)},
                            {"dmarc_disposition", mailauth::to_string(dmarc.disposition)},
                            {"dmarc_reason", dmarc.reason}};
      for (const auto& signature : dkim) {
        out["dkim"].push_back({{"result", mailauth::to_string(signature.result)},
                               {"domain", signature.domain},
                               {"selector", signature.selector},
                               {"algorithm", signature.algorithm},
                               {"reason", signature.reason}});
      }
      std::printf("%s\n", out.dump().c_str());
    } else {
      const std::string field = mailauth::authentication_results(request.receiver, spf, identity, dkim, dmarc, from);
      std::string printable;
      for (char c : field) {
        if (c != '\r') printable += c;
      }
      std::printf("%s", printable.c_str());
    }
    return 0;
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("auth", error, argc, argv);
  } catch (const scenario::InputError& error) {
    std::fprintf(stderr, "relaysim auth: %s\n", error.what());
    return 2;
  }
}

}  // namespace relaysim::cli
