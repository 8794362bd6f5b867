// The real backend's DNS: libresolv's res_nquery, on a worker thread with its own resolver state.
//
// Why libresolv rather than c-ares: it is part of glibc (no extra dependency), reads the system's
// /etc/resolv.conf exactly as every other program on the machine does, and parses every record
// type we need with ns_parserr. Its calls block, which is why they run on the worker pool; our
// query rates (a few per delivery attempt, most answered from the node's own logic) never need
// c-ares's socket-level integration with the event loop.

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cstring>

#include "real/internal.hpp"

namespace relaysim::real {
namespace {

constexpr std::size_t answer_bytes_max = 64 * 1024;
constexpr std::uint32_t static_dns_negative_ttl_seconds = 60;

int query_type(io::DnsType type) {
  switch (type) {
    case io::DnsType::a: return ns_t_a;
    case io::DnsType::aaaa: return ns_t_aaaa;
    case io::DnsType::mx: return ns_t_mx;
    case io::DnsType::txt: return ns_t_txt;
    case io::DnsType::cname: return ns_t_cname;
    case io::DnsType::ptr: return ns_t_ptr;
    case io::DnsType::tlsa: return ns_t_tlsa;
  }
  return ns_t_a;
}

std::string expand_name(const ns_msg& message, const unsigned char* at) {
  char name[NS_MAXDNAME];
  if (ns_name_uncompress(ns_msg_base(message), ns_msg_end(message), at, name, sizeof name) < 0) return {};
  return io::normalize_dns_name(name);
}

}  // namespace

io::DnsAnswer RealIo::query(const std::string& name, io::DnsType type, const NodeOptions& options) {
  io::DnsAnswer answer;
  answer.name = io::normalize_dns_name(name);
  answer.canonical_name = answer.name;
  struct __res_state state;
  std::memset(&state, 0, sizeof state);
  if (res_ninit(&state) != 0) {
    answer.status = io::DnsStatus::servfail;
    return answer;
  }
  const auto seconds =
      std::max<long long>(1, std::chrono::duration_cast<std::chrono::seconds>(options.dns_timeout).count());
  state.retrans = static_cast<int>(seconds);
  state.retry = 1;
  // Ask for the AD bit and keep it (glibc clears it otherwise): whether it is believed is the
  // node's choice (the relay's smtp_dns_support_level = dnssec), as it is Postfix's.
  state.options |= RES_TRUSTAD;
  if (options.nameserver) {
    // One server, as configured: tests and air-gapped labs point this at their own DNS.
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(options.nameserver->port);
    server.sin_addr.s_addr = htonl(options.nameserver->address.v4_host_order());
    state.nsaddr_list[0] = server;
    state.nscount = 1;
  }
  std::vector<unsigned char> buffer(answer_bytes_max);
  const int length = res_nquery(&state, answer.name.c_str(), ns_c_in, query_type(type), buffer.data(),
                                static_cast<int>(buffer.size()));
  const int error = state.res_h_errno;
  res_nclose(&state);
  if (length < 0) {
    // A denial still leaves the response in the buffer: its header says whether it was validated
    // (QR set, AD set) - a DNSSEC-signed NODATA for an MX host's AAAA keeps the host secure.
    const bool response = (buffer[2] & 0x80) != 0;
    const bool denial = error == HOST_NOT_FOUND || error == NO_DATA;
    answer.authenticated = denial && response && (buffer[3] & 0x20) != 0;
    switch (error) {
      case HOST_NOT_FOUND: answer.status = io::DnsStatus::nxdomain; break;
      case NO_DATA: answer.status = io::DnsStatus::ok; break;  // the name exists, the type does not
      case TRY_AGAIN: answer.status = io::DnsStatus::timeout; break;
      default: answer.status = io::DnsStatus::servfail; break;
    }
    return answer;
  }
  ns_msg message;
  if (ns_initparse(buffer.data(), length, &message) != 0) {
    answer.status = io::DnsStatus::servfail;
    return answer;
  }
  answer.authenticated = ns_msg_getflag(message, ns_f_ad) != 0;
  answer.ttl_seconds = UINT32_MAX;
  const int count = ns_msg_count(message, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr record;
    if (ns_parserr(&message, ns_s_an, i, &record) != 0) continue;
    answer.ttl_seconds = std::min(answer.ttl_seconds, static_cast<std::uint32_t>(ns_rr_ttl(record)));
    const unsigned char* data = ns_rr_rdata(record);
    const auto data_length = static_cast<std::size_t>(ns_rr_rdlen(record));
    switch (ns_rr_type(record)) {
      case ns_t_a:
        if (type == io::DnsType::a && data_length == 4) {
          std::uint32_t value = 0;
          std::memcpy(&value, data, 4);
          answer.addresses.push_back(io::Address::v4(ntohl(value)));
        }
        break;
      case ns_t_aaaa:
        if (type == io::DnsType::aaaa && data_length == 16) {
          std::array<std::uint8_t, 16> bytes{};
          std::memcpy(bytes.data(), data, 16);
          answer.addresses.push_back(io::Address::v6(bytes));
        }
        break;
      case ns_t_mx:
        if (type == io::DnsType::mx && data_length >= 3) {
          const auto preference = static_cast<std::uint16_t>((data[0] << 8) | data[1]);
          std::string exchange = expand_name(message, data + 2);
          answer.mx.push_back({preference, exchange.empty() ? std::string(".") : exchange});
        }
        break;
      case ns_t_txt:
        if (type == io::DnsType::txt) {
          std::string text;
          for (std::size_t at = 0; at < data_length;) {  // character-strings, joined (RFC 7208 §3.3)
            const std::size_t piece = data[at];
            text.append(reinterpret_cast<const char*>(data + at + 1),
                        std::min<std::size_t>(piece, data_length - at - 1));
            at += 1 + piece;
          }
          answer.texts.push_back(std::move(text));
        }
        break;
      case ns_t_ptr:
        if (type == io::DnsType::ptr) answer.names.push_back(expand_name(message, data));
        break;
      case ns_t_tlsa:
        if (type == io::DnsType::tlsa && data_length >= 3) {
          answer.tlsa.push_back(
              {data[0], data[1], data[2], std::string(reinterpret_cast<const char*>(data + 3), data_length - 3)});
        }
        break;
      case ns_t_cname: {
        std::string target = expand_name(message, data);
        if (type == io::DnsType::cname) {
          answer.cname_target = target;
        } else {
          answer.canonical_name = target;
        }
        break;
      }
      default: break;
    }
  }
  if (answer.ttl_seconds == UINT32_MAX) answer.ttl_seconds = 0;
  return answer;
}

io::Pending RealIo::resolve(std::string_view name, io::DnsType type, DnsHandler handler) {
  std::string question(name);
  NodeOptions options;
  options.nameserver = options_.nameserver;
  options.dns_timeout = options_.dns_timeout;
  std::function<io::DnsAnswer()> work = [question, type, options] { return query(question, type, options); };
  if (options_.static_dns) {
    io::DnsAnswer answer = options_.static_dns->answer(question, type, static_dns_negative_ttl_seconds);
    if (answer.status != io::DnsStatus::nxdomain || options_.static_dns_only) work = [answer] { return answer; };
  }
  return offload<io::DnsAnswer>(std::move(work), [this, type, handler = std::move(handler)](io::DnsAnswer answer) {
    trace("dns.answer",
          {{"name", answer.name}, {"type", io::to_string(type)}, {"status", io::to_string(answer.status)}});
    handler(answer);
  });
}

}  // namespace relaysim::real
