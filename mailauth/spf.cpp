#include "mailauth/spf.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "io/text.hpp"
#include "smtp/syntax.hpp"

namespace relaysim::mailauth {
namespace {

constexpr int dns_term_limit = 10;          // RFC 7208 §4.6.4
constexpr int void_lookup_limit = 2;        // RFC 7208 §4.6.4
constexpr int mx_address_limit = 10;        // names per mx mechanism
constexpr std::size_t ptr_name_limit = 10;  // names per ptr mechanism or %{p}
constexpr std::size_t domain_length_max = 253;

// Thrown inside an evaluation to end it with a result (permerror, temperror).
struct Stop {
  SpfResult result;
  std::string reason;
};

struct Evaluation {
  const SpfRequest& request;
  const Lookups& lookups;
  io::Address client;
  int dns_lookups = 0;
  int void_lookups = 0;
  int depth = 0;

  void count_term(std::string_view term) {
    if (++dns_lookups > dns_term_limit)
      throw Stop{SpfResult::permerror, "more than 10 DNS-querying terms (at " + std::string(term) + ")"};
  }

  // A lookup whose emptiness counts towards the void-lookup limit; temporary failures stop.
  const io::DnsAnswer& lookup(const std::string& name, io::DnsType type) {
    const io::DnsAnswer& answer = lookups.get(name, type);
    if (answer.temporary_failure())
      throw Stop{SpfResult::temperror, "DNS " + std::string(io::to_string(type)) + " " + name + ": " +
                                           std::string(io::to_string(answer.status))};
    if (answer.status == io::DnsStatus::nxdomain || answer.empty()) {
      if (++void_lookups > void_lookup_limit)
        throw Stop{SpfResult::permerror, "more than 2 void DNS lookups (at " + name + ")"};
    }
    return answer;
  }
};

bool is_macro_delimiter(char c) {
  return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

std::string ip_macro(const io::Address& address) {
  if (address.is_v4()) return address.to_string();
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t byte : address.bytes()) {
    if (!out.empty()) out += '.';
    out += digits[byte >> 4];
    out += '.';
    out += digits[byte & 15];
  }
  return out;
}

std::string url_escape(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

// A domain longer than 253 characters loses labels on the left until it fits (§7.3).
std::string shorten_domain(std::string domain) {
  while (domain.size() > domain_length_max) {
    const std::size_t dot = domain.find('.');
    if (dot == std::string::npos) return domain;
    domain.erase(0, dot + 1);
  }
  return domain;
}

// §4.3: a domain that cannot be an SPF domain (empty labels, labels over 63, a single label).
bool valid_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > domain_length_max || domain.find('.') == std::string_view::npos) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = domain.find('.', start);
    const std::size_t end = dot == std::string_view::npos ? domain.size() : dot;
    if (end == start || end - start > 63) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string local_part(std::string_view sender) {
  const std::size_t at = sender.rfind('@');
  return at == std::string_view::npos ? std::string("postmaster") : std::string(sender.substr(0, at));
}
std::string sender_domain(std::string_view sender) {
  const std::size_t at = sender.rfind('@');
  return std::string(at == std::string_view::npos ? sender : sender.substr(at + 1));
}

enum class Qualifier : char { pass = '+', fail = '-', softfail = '~', neutral = '?' };
SpfResult result_of(Qualifier qualifier) {
  switch (qualifier) {
    case Qualifier::pass: return SpfResult::pass;
    case Qualifier::fail: return SpfResult::fail;
    case Qualifier::softfail: return SpfResult::softfail;
    case Qualifier::neutral: return SpfResult::neutral;
  }
  return SpfResult::neutral;
}

struct Term {
  bool modifier = false;
  Qualifier qualifier = Qualifier::pass;
  std::string name;   // lower case: "ip4", "include", "redirect"
  std::string value;  // after ':' or '=' ("" when none)
  std::string cidr;   // "/24", "//64", "/24//64"
  std::string text;   // as written
};

// Splits a mechanism's argument "domain/24//64" into the domain-spec and the CIDR lengths.
void split_cidr(Term& term) {
  std::size_t slash = std::string::npos;
  bool in_macro = false;
  for (std::size_t i = 0; i < term.value.size() && slash == std::string::npos; ++i) {
    if (term.value[i] == '{' && i > 0 && term.value[i - 1] == '%') in_macro = true;
    if (term.value[i] == '}') in_macro = false;
    if (term.value[i] == '/' && !in_macro) slash = i;
  }
  if (slash == std::string::npos) return;
  term.cidr = term.value.substr(slash);
  term.value.erase(slash);
}

std::vector<Term> parse_spf_record(std::string_view record) {
  std::vector<Term> terms;
  std::size_t at = 6;  // after "v=spf1"
  while (at < record.size()) {
    if (record[at] == ' ') {
      ++at;
      continue;
    }
    const std::size_t end = std::min(record.find(' ', at), record.size());
    Term term;
    term.text = std::string(record.substr(at, end - at));
    at = end;
    std::string_view rest = term.text;
    // A modifier: name "=" value, where name is ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
    const std::size_t equals = rest.find('=');
    const std::size_t name_end = rest.find_first_of(":/");
    if (equals != std::string_view::npos && (name_end == std::string_view::npos || equals < name_end)) {
      const std::string_view name = rest.substr(0, equals);
      const bool valid = !name.empty() && std::isalpha(static_cast<unsigned char>(name[0])) &&
                         std::all_of(name.begin(), name.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
                         });
      if (!valid) throw Stop{SpfResult::permerror, "malformed term \"" + term.text + "\""};
      term.modifier = true;
      term.name = to_lower(name);
      term.value = std::string(rest.substr(equals + 1));
      terms.push_back(std::move(term));
      continue;
    }
    if (!rest.empty() && (rest[0] == '+' || rest[0] == '-' || rest[0] == '~' || rest[0] == '?')) {
      term.qualifier = static_cast<Qualifier>(rest[0]);
      rest.remove_prefix(1);
    }
    const std::size_t split = rest.find_first_of(":/");
    term.name = to_lower(rest.substr(0, split));
    static const std::vector<std::string> mechanisms{"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"};
    if (std::find(mechanisms.begin(), mechanisms.end(), term.name) == mechanisms.end()) {
      throw Stop{SpfResult::permerror, "unknown mechanism \"" + term.text + "\""};
    }
    if (split != std::string_view::npos) {
      term.value = std::string(rest.substr(split + (rest[split] == ':' ? 1 : 0)));
      if (rest[split] == '/') term.value = std::string(rest.substr(split));  // only a CIDR: "a/24"
    }
    terms.push_back(std::move(term));
  }
  return terms;
}

// "/24", "//64", "/24//64" -> the lengths for IPv4 and IPv6.
std::pair<unsigned, unsigned> cidr_lengths(const std::string& cidr, const std::string& term) {
  unsigned v4 = 32, v6 = 128;
  if (cidr.empty()) return {v4, v6};
  const auto number = [&](std::string_view digits, unsigned maximum) {
    if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string_view::npos ||
        (digits.size() > 1 && digits[0] == '0')) {
      throw Stop{SpfResult::permerror, "malformed CIDR length in \"" + term + "\""};
    }
    const unsigned value = static_cast<unsigned>(std::stoul(std::string(digits)));
    if (value > maximum) throw Stop{SpfResult::permerror, "CIDR length out of range in \"" + term + "\""};
    return value;
  };
  std::string_view rest = cidr;
  const std::size_t double_slash = rest.find("//");
  if (double_slash != std::string_view::npos) {
    v6 = number(rest.substr(double_slash + 2), 128);
    rest = rest.substr(0, double_slash);
  }
  if (!rest.empty()) {
    if (rest[0] != '/') throw Stop{SpfResult::permerror, "malformed CIDR in \"" + term + "\""};
    v4 = number(rest.substr(1), 32);
  }
  return {v4, v6};
}

bool in_network(const io::Address& client, const io::Address& network, std::pair<unsigned, unsigned> lengths) {
  if (client.is_v4() != network.is_v4()) return false;
  return io::Cidr(network, client.is_v4() ? lengths.first : lengths.second).contains(client);
}

SpfOutcome evaluate(Evaluation& evaluation, std::string_view domain_text, std::string_view sender);

// The domain-spec of a term, expanded; the current domain when the term has none.
std::string target_domain(Evaluation& evaluation, const Term& term, std::string_view domain, std::string_view sender,
                          bool required) {
  if (term.value.empty()) {
    if (required) throw Stop{SpfResult::permerror, "\"" + term.text + "\" needs a domain"};
    return std::string(domain);
  }
  const auto expanded = expand_spf_macros(term.value, domain, sender, evaluation.request, false, &evaluation.lookups);
  if (!expanded || expanded->empty()) throw Stop{SpfResult::permerror, "malformed macro in \"" + term.text + "\""};
  std::string target = shorten_domain(to_lower(*expanded));
  while (!target.empty() && target.back() == '.') target.pop_back();
  if (target.empty() || target.find("..") != std::string::npos)
    throw Stop{SpfResult::permerror, "malformed domain in \"" + term.text + "\""};
  return target;
}

// Whether a mechanism matches; throws Stop for errors.
bool matches(Evaluation& evaluation, const Term& term, std::string_view domain, std::string_view sender) {
  const io::Address& client = evaluation.client;
  const io::DnsType address_type = client.is_v4() ? io::DnsType::a : io::DnsType::aaaa;
  if (term.name == "all") {
    if (!term.value.empty()) throw Stop{SpfResult::permerror, "\"all\" takes no argument"};
    return true;
  }
  if (term.name == "ip4" || term.name == "ip6") {
    const bool v4 = term.name == "ip4";
    std::string value = term.value;
    unsigned length = v4 ? 32 : 128;
    if (const std::size_t slash = value.find('/'); slash != std::string::npos) {
      const std::string digits = value.substr(slash + 1);
      if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos ||
          (digits.size() > 1 && digits[0] == '0') || std::stoul(digits) > length) {
        throw Stop{SpfResult::permerror, "malformed prefix length in \"" + term.text + "\""};
      }
      length = static_cast<unsigned>(std::stoul(digits));
      value.erase(slash);
    }
    const auto network = io::Address::parse(value);
    if (!network || network->is_v4() != v4)
      throw Stop{SpfResult::permerror, "malformed address in \"" + term.text + "\""};
    return client.is_v4() == v4 && io::Cidr(*network, length).contains(client);
  }
  if (term.name == "include") {
    evaluation.count_term(term.text);
    const std::string target = target_domain(evaluation, term, domain, sender, true);
    const SpfOutcome inner = evaluate(evaluation, target, sender);
    switch (inner.result) {
      case SpfResult::pass: return true;
      case SpfResult::fail:
      case SpfResult::softfail:
      case SpfResult::neutral: return false;
      case SpfResult::temperror: throw Stop{SpfResult::temperror, inner.reason};
      case SpfResult::permerror: throw Stop{SpfResult::permerror, inner.reason};
      case SpfResult::none: throw Stop{SpfResult::permerror, "include:" + target + " has no SPF record"};
    }
    return false;
  }
  if (term.name == "a" || term.name == "mx") {
    evaluation.count_term(term.text);
    Term plain = term;
    split_cidr(plain);
    const auto lengths = cidr_lengths(plain.cidr, term.text);
    const std::string target = target_domain(evaluation, plain, domain, sender, false);
    if (term.name == "a") {
      const io::DnsAnswer& answer = evaluation.lookup(target, address_type);
      return std::any_of(answer.addresses.begin(), answer.addresses.end(),
                         [&](const io::Address& address) { return in_network(client, address, lengths); });
    }
    const io::DnsAnswer& answer = evaluation.lookup(target, io::DnsType::mx);
    if (answer.mx.size() > static_cast<std::size_t>(mx_address_limit))
      throw Stop{SpfResult::permerror, "more than 10 MX records for " + target};
    for (const io::MxRecord& record : answer.mx) {
      if (record.exchange == "." || record.exchange.empty()) continue;
      const io::DnsAnswer& addresses = evaluation.lookup(record.exchange, address_type);
      for (const io::Address& address : addresses.addresses) {
        if (in_network(client, address, lengths)) return true;
      }
    }
    return false;
  }
  if (term.name == "ptr") {
    evaluation.count_term(term.text);
    const std::string target = target_domain(evaluation, term, domain, sender, false);
    for (const std::string& name : validated_names(client, evaluation.lookups)) {
      if (name == target || name.ends_with("." + target)) return true;
    }
    return false;
  }
  // exists
  evaluation.count_term(term.text);
  const std::string target = target_domain(evaluation, term, domain, sender, true);
  const io::DnsAnswer& answer = evaluation.lookup(target, io::DnsType::a);
  return !answer.addresses.empty();
}

SpfOutcome evaluate(Evaluation& evaluation, std::string_view domain_text, std::string_view sender) {
  SpfOutcome outcome;
  const std::string domain = to_lower(domain_text);
  outcome.domain = domain;
  if (!valid_domain(domain)) {
    outcome.reason = "\"" + domain + "\" is not a domain SPF can check";
    return outcome;  // none (§4.3)
  }
  if (++evaluation.depth > 2 * dns_term_limit + 2) throw Stop{SpfResult::permerror, "include or redirect loop"};
  const io::DnsAnswer& answer = evaluation.lookups.get(domain, io::DnsType::txt);
  if (answer.temporary_failure())
    throw Stop{SpfResult::temperror, "DNS TXT " + domain + ": " + std::string(io::to_string(answer.status))};
  std::vector<std::string> records;
  for (const std::string& text : answer.texts) {
    if (text.size() >= 6 && equals_ignoring_case(std::string_view(text).substr(0, 6), "v=spf1") &&
        (text.size() == 6 || text[6] == ' ')) {
      records.push_back(text);
    }
  }
  if (records.empty()) {
    outcome.reason = "no SPF record at " + domain;
    evaluation.depth -= 1;
    return outcome;  // none
  }
  if (records.size() > 1) throw Stop{SpfResult::permerror, "more than one SPF record at " + domain};
  const std::vector<Term> terms = parse_spf_record(records.front());
  const Term* redirect = nullptr;
  const Term* explanation = nullptr;
  for (const Term& term : terms) {
    if (!term.modifier) continue;
    if (term.name == "redirect") {
      if (redirect != nullptr) throw Stop{SpfResult::permerror, "two redirect modifiers at " + domain};
      redirect = &term;
    } else if (term.name == "exp") {
      if (explanation != nullptr) throw Stop{SpfResult::permerror, "two exp modifiers at " + domain};
      explanation = &term;
    }
  }
  for (const Term& term : terms) {
    if (term.modifier) continue;
    if (!matches(evaluation, term, domain, sender)) continue;
    outcome.result = result_of(term.qualifier);
    outcome.mechanism = term.text;
    outcome.reason = domain + ": matched " + term.text;
    if (outcome.result == SpfResult::fail && explanation != nullptr) {
      // exp= (§6.2): failures to find or expand it are ignored, and it counts no lookup.
      try {
        const auto target =
            expand_spf_macros(explanation->value, domain, sender, evaluation.request, false, &evaluation.lookups);
        if (target) {
          const io::DnsAnswer& text = evaluation.lookups.get(*target, io::DnsType::txt);
          if (text.status == io::DnsStatus::ok && text.texts.size() == 1) {
            if (auto expanded = expand_spf_macros(text.texts.front(), domain, sender, evaluation.request, true,
                                                  &evaluation.lookups))
              outcome.explanation = *expanded;
          }
        }
      } catch (const Stop&) {}
    }
    evaluation.depth -= 1;
    return outcome;
  }
  if (redirect != nullptr) {
    evaluation.count_term(redirect->text);
    const auto target =
        expand_spf_macros(redirect->value, domain, sender, evaluation.request, false, &evaluation.lookups);
    if (!target || target->empty()) throw Stop{SpfResult::permerror, "malformed redirect at " + domain};
    SpfOutcome redirected = evaluate(evaluation, shorten_domain(to_lower(*target)), sender);
    if (redirected.result == SpfResult::none)
      throw Stop{SpfResult::permerror, "redirect=" + *target + " has no SPF record"};
    evaluation.depth -= 1;
    return redirected;
  }
  outcome.result = SpfResult::neutral;
  outcome.mechanism = "default";
  outcome.reason = domain + ": no mechanism matched";
  evaluation.depth -= 1;
  return outcome;
}

}  // namespace

std::string_view to_string(SpfResult result) {
  switch (result) {
    case SpfResult::none: return "none";
    case SpfResult::neutral: return "neutral";
    case SpfResult::pass: return "pass";
    case SpfResult::fail: return "fail";
    case SpfResult::softfail: return "softfail";
    case SpfResult::temperror: return "temperror";
    case SpfResult::permerror: return "permerror";
  }
  return "none";
}

std::vector<std::string> validated_names(const io::Address& client, const Lookups& lookups) {
  std::vector<std::string> validated;
  const io::DnsAnswer& pointers = lookups.get(io::reverse_name(client), io::DnsType::ptr);
  if (pointers.status != io::DnsStatus::ok) return validated;  // errors: no validated names
  const io::DnsType type = client.is_v4() ? io::DnsType::a : io::DnsType::aaaa;
  for (std::size_t i = 0; i < pointers.names.size() && i < ptr_name_limit; ++i) {
    const io::DnsAnswer& addresses = lookups.get(pointers.names[i], type);
    if (addresses.status != io::DnsStatus::ok) continue;  // a lookup error skips the name
    if (std::find(addresses.addresses.begin(), addresses.addresses.end(), client) != addresses.addresses.end()) {
      validated.push_back(io::normalize_dns_name(pointers.names[i]));
    }
  }
  return validated;
}

std::optional<std::string> expand_spf_macros(std::string_view text, std::string_view domain, std::string_view sender,
                                             const SpfRequest& request, bool explanation, const Lookups* lookups) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '%') {
      if (static_cast<unsigned char>(c) < 0x21 && !(explanation && c == ' ')) return std::nullopt;
      out += c;
      continue;
    }
    if (i + 1 >= text.size()) return std::nullopt;
    const char next = text[++i];
    if (next == '%') {
      out += '%';
      continue;
    }
    if (next == '_') {
      out += ' ';
      continue;
    }
    if (next == '-') {
      out += "%20";
      continue;
    }
    if (next != '{') return std::nullopt;
    const std::size_t close = text.find('}', i);
    if (close == std::string_view::npos || close == i + 1) return std::nullopt;
    const std::string_view body = text.substr(i + 1, close - i - 1);
    i = close;
    const char letter = body[0];
    const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(letter)));
    std::string value;
    switch (lower) {
      case 's': value = std::string(sender); break;
      case 'l': value = local_part(sender); break;
      case 'o': value = sender_domain(sender); break;
      case 'd': value = std::string(domain); break;
      case 'i': value = ip_macro(request.client); break;
      case 'p': {
        // §7.3: the validated name that is the domain, else one below it, else any; else "unknown".
        value = "unknown";
        if (lookups == nullptr) break;
        const std::vector<std::string> names = validated_names(request.client, *lookups);
        const std::string current = to_lower(domain);
        const auto pick = [&](auto predicate) {
          const auto found = std::find_if(names.begin(), names.end(), predicate);
          return found == names.end() ? std::optional<std::string>() : std::optional<std::string>(*found);
        };
        if (auto same = pick([&](const std::string& name) { return name == current; })) {
          value = *same;
        } else if (auto below = pick([&](const std::string& name) { return name.ends_with("." + current); })) {
          value = *below;
        } else if (!names.empty()) {
          value = names.front();
        }
        break;
      }
      case 'v': value = request.client.is_v4() ? "in-addr" : "ip6"; break;
      case 'h': value = request.helo; break;
      case 'c':
        if (!explanation) return std::nullopt;
        value = request.client.to_string();
        break;
      case 'r':
        if (!explanation) return std::nullopt;
        value = request.receiver;
        break;
      case 't':
        if (!explanation) return std::nullopt;
        value = std::to_string(request.now.unix_seconds());
        break;
      default: return std::nullopt;
    }
    // Transformers: digits (keep that many parts from the right), 'r' (reverse); then delimiters.
    std::size_t at = 1;
    std::size_t keep = 0;
    bool has_digits = false;
    while (at < body.size() && std::isdigit(static_cast<unsigned char>(body[at]))) {
      keep = keep * 10 + static_cast<std::size_t>(body[at] - '0');
      if (keep > 128) return std::nullopt;
      has_digits = true;
      ++at;
    }
    if (has_digits && keep == 0) return std::nullopt;
    bool reverse = false;
    if (at < body.size() && (body[at] == 'r' || body[at] == 'R')) {
      reverse = true;
      ++at;
    }
    std::string delimiters;
    for (; at < body.size(); ++at) {
      if (!is_macro_delimiter(body[at])) return std::nullopt;
      delimiters += body[at];
    }
    if (delimiters.empty()) delimiters = ".";
    std::vector<std::string> parts{""};
    for (char ch : value) {
      if (delimiters.find(ch) != std::string::npos) {
        parts.emplace_back();
      } else {
        parts.back() += ch;
      }
    }
    if (reverse) std::reverse(parts.begin(), parts.end());
    if (has_digits && keep < parts.size()) parts.erase(parts.begin(), parts.end() - static_cast<std::ptrdiff_t>(keep));
    std::string joined;
    for (std::size_t p = 0; p < parts.size(); ++p) joined += (p == 0 ? "" : ".") + parts[p];
    out += std::isupper(static_cast<unsigned char>(letter)) ? url_escape(joined) : joined;
  }
  return out;
}

SpfOutcome check_host(const io::Address& client, std::string_view domain, std::string_view sender,
                      const SpfRequest& request, const Lookups& lookups) {
  Evaluation evaluation{request, lookups, client};
  SpfOutcome outcome;
  try {
    outcome = evaluate(evaluation, domain, sender);
  } catch (const Stop& stop) {
    outcome.result = stop.result;
    outcome.domain = to_lower(domain);
    outcome.reason = stop.reason;
  }
  outcome.dns_lookups = evaluation.dns_lookups;
  outcome.void_lookups = evaluation.void_lookups;
  return outcome;
}

SpfOutcome check_spf(const SpfRequest& request, const Lookups& lookups) {
  // RFC 7208 §2.4: the null sender is checked as postmaster@<HELO name>.
  const bool helo = request.sender.empty();
  const std::string sender = helo ? "postmaster@" + request.helo : request.sender;
  SpfOutcome outcome = check_host(request.client, sender_domain(sender), sender, request, lookups);
  outcome.identity = helo ? "helo" : "mailfrom";
  return outcome;
}

}  // namespace relaysim::mailauth
