// The TLS a delivery asks of each MX host, and what TLS reporting counts of it: an
// smtp_tls_policy_maps entry first (read by tls_level_for, config.cpp), then DANE for a host whose
// DNSSEC-validated TLSA records authenticate it, then the destination's MTA-STS policy, then
// smtp_tls_security_level (Postfix's order). The hop walk itself - connect, skip, fall back,
// settle - is in delivery.cpp.
#include "relay/delivery.hpp"

namespace relaysim::relay {
namespace {

// RFC 7672 2.2: SMTP uses DANE-TA(2) and DANE-EE(3), with a full certificate or key (matching 0)
// or a digest of the right length; anything else is unusable.
bool usable(const io::TlsaRecord& record) {
  if (record.usage != 2 && record.usage != 3) return false;
  if (record.selector > 1) return false;
  if (record.matching == 1) return record.data.size() == 32;
  if (record.matching == 2) return record.data.size() == 64;
  return record.matching == 0 && !record.data.empty();
}

}  // namespace

// MTA-STS on a host DANE did not authenticate (RFC 8461 2: where DANE applies, it comes first).
// Under enforce, a host the policy does not name is not used, and one it names is reached only
// with STARTTLS and a certificate that chains to a trusted CA and names the host (RFC 8461 4).
void Delivery::connect_under_policy(const Hop& hop) {
  const bool enforced = sts_ && sts_->policy->mode == mta_sts::Mode::enforce;
  if (enforced && hop_level_ != TlsLevel::dane) {
    const std::string policy = "the MTA-STS policy of " + destination_ + " (id " + sts_->id + ")";
    if (!mta_sts::mx_matches(*sts_->policy, hop.host))
      return skip_hop(hop, "4.7.5", "MX host " + hop.host + " is not named by " + policy,
                      tlsrpt::ResultType::validation_failure);
    if (tls_.verify == nullptr)
      return skip_hop(hop, "4.7.5", "no trusted CAs to verify " + hop.host + " with, as " + policy + " requires",
                      tlsrpt::ResultType::sts_webpki_invalid);
    hop_level_ = TlsLevel::verify;
  }
  connect(hop, false);
}

// DANE as Postfix applies it (RFC 7672 2.2): only a host reached through DNSSEC-validated MX and
// address records has TLSA records worth asking for; its validated, usable records make TLS
// mandatory and authenticated; records all unusable make it mandatory only; none make it
// opportunistic - except under dane-only, which skips such a host.
void Delivery::look_up_tlsa(const Hop& hop) {
  hop_tlsa_.clear();
  const bool dane_only = level_ == TlsLevel::dane_only;
  if (!config_.smtp_dns_support_dnssec || !hop.secure) {
    if (!dane_only) {
      hop_level_ = TlsLevel::may;
      return connect_under_policy(hop);
    }
    return skip_hop(hop, "4.7.5",
                    !config_.smtp_dns_support_dnssec
                        ? "dane-only TLS needs DNSSEC: smtp_dns_support_level is not dnssec"
                        : "no DNSSEC-validated MX and address records for " + hop.host + ": dane-only TLS unavailable",
                    tlsrpt::ResultType::dane_required);
  }
  current_hop_ = hop;
  tlsa_lookup_ = io_.resolve(io::tlsa_name(hop.host, hop.endpoint.port), io::DnsType::tlsa,
                             [this, alive = alive_](const io::DnsAnswer& answer) {
                               if (*alive) on_tlsa(answer);
                             });
}

void Delivery::on_tlsa(const io::DnsAnswer& answer) {
  io::Pending done = std::move(tlsa_lookup_);
  const Hop& hop = hops_[hop_];
  const std::string where = hop.host + ":" + std::to_string(hop.endpoint.port);
  const tlsrpt::PolicyDescription tlsa{tlsrpt::PolicyType::tlsa, {}, {hop.host}};
  if (answer.temporary_failure())
    return skip_hop(hop, "4.7.5", "TLSA lookup error for " + where, tlsrpt::ResultType::dnssec_invalid, tlsa);
  if (answer.authenticated) {
    for (const io::TlsaRecord& record : answer.tlsa) {
      if (usable(record)) hop_tlsa_.push_back(record);
    }
  }
  if (!hop_tlsa_.empty()) {
    hop_level_ = TlsLevel::dane;
  } else if (level_ == TlsLevel::dane_only) {
    return skip_hop(hop, "4.7.5",
                    "no usable DNSSEC-validated TLSA records for " + where + ": dane-only TLS unavailable",
                    tlsrpt::ResultType::dane_required, tlsa);
  } else if (answer.authenticated && !answer.tlsa.empty()) {
    hop_level_ = TlsLevel::encrypt;  // every record unusable: TLS still required, unauthenticated
  } else {
    hop_level_ = TlsLevel::may;
  }
  connect_under_policy(hop);
}

// Postfix's line at smtp_tls_loglevel 1: "Verified" for a certificate that matched what the level
// asked (a trusted chain and name, or a TLSA record), "Untrusted" for one that was not checked.
void Delivery::log_tls_established() {
  const smtp::TlsState& tls = connection_->session().tls();
  if (tls_logged_ || !tls.active || config_.smtp_tls_loglevel < 1) return;
  tls_logged_ = true;
  const bool checked = hop_level_ == TlsLevel::verify || hop_level_ == TlsLevel::dane;
  io_.observe(io::LogLine{std::string(checked && tls.peer_verified ? "Verified" : "Untrusted") +
                          " TLS connection established to " + hop_label() + ": " + tls.version + " with cipher " +
                          tls.cipher});
}

// A policy in testing mode changes nothing, but what enforce would have refused is logged (RFC
// 8461 5: "testing" senders report failures and deliver anyway).
void Delivery::check_testing_policy() {
  if (!sts_ || sts_->policy->mode != mta_sts::Mode::testing || tls_logged_testing_ || !job_) return;
  tls_logged_testing_ = true;
  const smtp::TlsState& tls = connection_->session().tls();
  std::string failure;
  if (!mta_sts::mx_matches(*sts_->policy, current_hop_.host)) {
    failure = "MX host " + current_hop_.host + " is not named by it";
  } else if (!tls.active) {
    failure = "no TLS with " + hop_label();
  } else if (!tls.peer_verified) {
    failure = "the certificate of " + hop_label() + " is not verified";
  }
  if (failure.empty()) return;
  io_.observe(io::LogLine{job_->message_id.to_string() + ": MTA-STS policy of " + destination_ + " (id " + sts_->id +
                          ", testing) not met: " + failure + "; delivering anyway"});
}

// RFC 8460 4.4: a host reached under DANE is held to its TLSA records; one under an MTA-STS policy
// (enforce or testing) to that policy; any other to none.
tlsrpt::PolicyDescription Delivery::tls_report_policy() const {
  if (hop_level_ == TlsLevel::dane) {
    tlsrpt::PolicyDescription tlsa{tlsrpt::PolicyType::tlsa, {}, {current_hop_.host}};
    for (const io::TlsaRecord& record : hop_tlsa_) tlsa.strings.push_back(io::to_string(record));
    return tlsa;
  }
  if (sts_) {
    const mta_sts::Policy& policy = *sts_->policy;
    tlsrpt::PolicyDescription sts{tlsrpt::PolicyType::sts, {"version: STSv1"}, policy.mx};
    sts.strings.push_back("mode: " + std::string(mta_sts::to_string(policy.mode)));
    for (const std::string& pattern : policy.mx) sts.strings.push_back("mx: " + pattern);
    sts.strings.push_back("max_age: " +
                          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(policy.max_age).count()));
    return sts;
  }
  return {};
}

// A session that got ready: its TLS met the policy, or (MTA-STS testing) did not. Without a policy,
// a session without TLS was never a TLS session; with one, the server did not offer STARTTLS.
void Delivery::report_established() {
  if (!tls_reportable_ || tls_reported_ || plaintext_fallback_ || !job_) return;
  const smtp::TlsState& tls = connection_->session().tls();
  const tlsrpt::PolicyDescription policy = tls_report_policy();
  if (!tls.active) {
    if (policy.type == tlsrpt::PolicyType::sts)
      report_tls(policy, tlsrpt::ResultType::starttls_not_supported, "STARTTLS not offered", true);
    return;
  }
  if (policy.type == tlsrpt::PolicyType::sts && !mta_sts::mx_matches(*sts_->policy, current_hop_.host))
    return report_tls(policy, tlsrpt::ResultType::validation_failure, "MX host not named by the policy", true);
  if (policy.type == tlsrpt::PolicyType::sts && !tls.peer_verified) {
    const std::string why = connection_->tls_verify_error();
    return report_tls(policy, tlsrpt::classify_failure(why, tlsrpt::ResultType::sts_webpki_invalid), why, true);
  }
  report_tls(policy, std::nullopt, "", true);
}

void Delivery::report_tls(const tlsrpt::PolicyDescription& policy, std::optional<tlsrpt::ResultType> failure,
                          std::string reason, bool connected) {
  if (!tls_reportable_ || tls_reported_) return;
  tls_reported_ = true;
  tlsrpt::Session session{destination_, policy, failure, "", current_hop_.host, "", std::move(reason)};
  if (connected) {
    session.receiving_ip = current_hop_.endpoint.address.to_string();
    if (connection_) {
      if (const std::optional<io::Endpoint> local = connection_->local())
        session.sending_ip = local->address.to_string();
    }
  }
  reporter_->record(session);
}

}  // namespace relaysim::relay
