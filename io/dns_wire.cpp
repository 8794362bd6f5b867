#include "io/dns_wire.hpp"

#include <algorithm>

#include "io/text.hpp"

namespace relaysim::io {
namespace {

constexpr std::size_t header_bytes = 12;
constexpr std::size_t udp_bytes_max = 512;
constexpr std::uint16_t class_in = 1;
constexpr std::size_t label_bytes_max = 63;
constexpr std::size_t text_string_bytes_max = 255;

std::uint16_t read16(std::string_view bytes, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(bytes[at]) << 8) |
                                    static_cast<unsigned char>(bytes[at + 1]));
}

void put16(std::string& out, std::uint16_t value) {
  out += static_cast<char>(value >> 8);
  out += static_cast<char>(value & 0xff);
}

void put32(std::string& out, std::uint32_t value) {
  put16(out, static_cast<std::uint16_t>(value >> 16));
  put16(out, static_cast<std::uint16_t>(value & 0xffff));
}

// A name as labels; "." and "" are the root.
void put_name(std::string& out, std::string_view name) {
  while (!name.empty() && name != ".") {
    const std::size_t dot = name.find('.');
    const std::string_view label = name.substr(0, std::min(dot, name.size())).substr(0, label_bytes_max);
    out += static_cast<char>(label.size());
    out += label;
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  out += '\0';
}

std::string header(std::uint16_t id, bool recursion_desired, DnsRcode rcode, std::uint16_t answers, bool truncated,
                   bool authenticated = false) {
  std::string out;
  put16(out, id);
  // QR=1, opcode 0, AA=1, TC, RD as asked, RA=1 (the double stands for the relay's resolver), AD
  // for an answer from a signed zone (the double stands for a validating resolver, RFC 4035 3.2.3).
  std::uint16_t flags = 0x8000 | 0x0400 | 0x0080 | static_cast<std::uint16_t>(rcode);
  if (truncated) flags |= 0x0200;
  if (authenticated) flags |= 0x0020;
  if (recursion_desired) flags |= 0x0100;
  put16(out, flags);
  put16(out, 1);  // the question, echoed
  put16(out, answers);
  put16(out, 0);
  put16(out, 0);
  return out;
}

void put_record(std::string& out, std::string_view owner, std::uint16_t type, std::uint32_t ttl,
                const std::string& data) {
  put_name(out, owner);
  put16(out, type);
  put16(out, class_in);
  put32(out, ttl);
  put16(out, static_cast<std::uint16_t>(data.size()));
  out += data;
}

}  // namespace

std::uint16_t dns_type_code(DnsType type) {
  switch (type) {
    case DnsType::a: return 1;
    case DnsType::cname: return 5;
    case DnsType::ptr: return 12;
    case DnsType::mx: return 15;
    case DnsType::txt: return 16;
    case DnsType::aaaa: return 28;
    case DnsType::tlsa: return 52;
  }
  return 0;
}

std::optional<DnsQuery> parse_dns_query(std::string_view message) {
  if (message.size() < header_bytes) return std::nullopt;
  DnsQuery query;
  query.id = read16(message, 0);
  const std::uint16_t flags = read16(message, 2);
  const bool is_response = (flags & 0x8000) != 0;
  const int opcode = (flags >> 11) & 0xf;
  if (is_response || opcode != 0 || read16(message, 4) != 1) return std::nullopt;
  query.recursion_desired = (flags & 0x0100) != 0;
  std::size_t at = header_bytes;
  std::string name;
  while (true) {
    if (at >= message.size()) return std::nullopt;
    const std::size_t length = static_cast<unsigned char>(message[at]);
    if (length == 0) break;
    if (length > label_bytes_max || at + 1 + length > message.size()) return std::nullopt;  // pointers included
    if (!name.empty()) name += '.';
    name += message.substr(at + 1, length);
    at += 1 + length;
  }
  at += 1;
  if (at + 4 > message.size()) return std::nullopt;
  query.type = read16(message, at);
  if (read16(message, at + 2) != class_in) return std::nullopt;
  query.question = std::string(message.substr(header_bytes, at + 4 - header_bytes));
  query.name = normalize_dns_name(name);
  for (const DnsType type :
       {DnsType::a, DnsType::aaaa, DnsType::mx, DnsType::txt, DnsType::cname, DnsType::ptr, DnsType::tlsa}) {
    if (dns_type_code(type) == query.type) query.known_type = type;
  }
  return query;
}

std::string dns_error_response(std::uint16_t id, std::string_view question, DnsRcode rcode) {
  return header(id, true, rcode, 0, false) + std::string(question);
}

std::string dns_response(const DnsQuery& query, const DnsAnswer& answer, bool udp) {
  if (answer.status == DnsStatus::servfail || answer.status == DnsStatus::timeout)
    return dns_error_response(query.id, query.question, DnsRcode::servfail);
  if (answer.status == DnsStatus::nxdomain) {
    return header(query.id, query.recursion_desired, DnsRcode::nxdomain, 0, false, answer.authenticated) +
           query.question;
  }
  std::string records;
  std::uint16_t count = 0;
  const std::uint32_t ttl = answer.ttl_seconds;
  std::string owner = query.name;
  if (!answer.canonical_name.empty() && answer.canonical_name != query.name && query.known_type != DnsType::cname) {
    std::string target;
    put_name(target, answer.canonical_name);
    put_record(records, owner, dns_type_code(DnsType::cname), ttl, target);
    owner = answer.canonical_name;
    count += 1;
  }
  if (query.known_type) {
    switch (*query.known_type) {
      case DnsType::a:
      case DnsType::aaaa:
        for (const Address& address : answer.addresses) {
          if (address.is_v4() != (*query.known_type == DnsType::a)) continue;
          const auto& bytes = address.bytes();
          put_record(records, owner, query.type, ttl,
                     std::string(bytes.begin(), bytes.begin() + (address.is_v4() ? 4 : 16)));
          count += 1;
        }
        break;
      case DnsType::mx:
        for (const MxRecord& mx : answer.mx) {
          std::string data;
          put16(data, mx.preference);
          put_name(data, mx.exchange);
          put_record(records, owner, query.type, ttl, data);
          count += 1;
        }
        break;
      case DnsType::txt:
        for (const std::string& text : answer.texts) {
          std::string data;
          for (std::size_t at = 0; at < text.size() || at == 0; at += text_string_bytes_max) {
            const std::string_view part = std::string_view(text).substr(at, text_string_bytes_max);
            data += static_cast<char>(part.size());
            data += part;
            if (text.empty()) break;
          }
          put_record(records, owner, query.type, ttl, data);
          count += 1;
        }
        break;
      case DnsType::cname:
        if (!answer.cname_target.empty()) {
          std::string data;
          put_name(data, answer.cname_target);
          put_record(records, owner, query.type, ttl, data);
          count += 1;
        }
        break;
      case DnsType::ptr:
        for (const std::string& name : answer.names) {
          std::string data;
          put_name(data, name);
          put_record(records, owner, query.type, ttl, data);
          count += 1;
        }
        break;
      case DnsType::tlsa:
        for (const TlsaRecord& tlsa : answer.tlsa) {
          std::string data;
          data += static_cast<char>(tlsa.usage);
          data += static_cast<char>(tlsa.selector);
          data += static_cast<char>(tlsa.matching);
          data += tlsa.data;
          put_record(records, owner, query.type, ttl, data);
          count += 1;
        }
        break;
    }
  }
  std::string out = header(query.id, query.recursion_desired, DnsRcode::noerror, count, false, answer.authenticated) +
                    query.question + records;
  if (udp && out.size() > udp_bytes_max) {
    return header(query.id, query.recursion_desired, DnsRcode::noerror, 0, true) + query.question;
  }
  return out;
}

std::optional<std::string> answer_dns_query(std::string_view message, const Zone& zone, const DnsFaults& faults,
                                            bool udp, std::uint32_t negative_ttl_seconds) {
  const std::optional<DnsQuery> query = parse_dns_query(message);
  if (!query) {
    if (message.size() < header_bytes) return std::nullopt;
    return dns_error_response(read16(message, 0), {}, DnsRcode::formerr);
  }
  if (faults.timeout.contains(query->name)) return std::nullopt;
  if (faults.servfail.contains(query->name)) return dns_error_response(query->id, query->question, DnsRcode::servfail);
  if (!query->known_type) {
    DnsAnswer none;
    none.status = zone.exists(query->name) ? DnsStatus::ok : DnsStatus::nxdomain;
    none.name = query->name;
    none.canonical_name = query->name;
    return dns_response(*query, none, udp);
  }
  return dns_response(*query, zone.answer(query->name, *query->known_type, negative_ttl_seconds), udp);
}

}  // namespace relaysim::io
