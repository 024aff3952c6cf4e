#include "policy/evaluate.hpp"

#include "core/address_class.hpp"

namespace netfence::policy {
namespace {

Judgement refuse(Reason r, DecisionSource s) {
  Judgement j;
  j.verdict = Verdict::deny;
  j.reason = r;
  j.source = s;
  return j;
}

Outcome done_domain(Judgement j) {
  Outcome o;
  o.decision.domain = std::move(j);
  return o;
}

Outcome done_non_domain(Judgement j) {
  Outcome o;
  o.decision.non_domain = std::move(j);
  return o;
}

bool is_localhost_name(const std::string& name) {
  return name == "localhost" || name.ends_with(".localhost");
}

// Step 6 for one address (SPEC §6.2 rules 2–4). Returns the refusal reason, if any.
std::optional<Reason> vet_address(const Snapshot& snap, const Environment& env,
                                  const core::CanonicalHost& host, bool literal_or_localhost,
                                  const core::IpAddress& raw) {
  const core::IpAddress a = raw.unmapped();
  // Credentials live at metadata addresses: only an exact IP allowlist entry opens them
  // (rule 3), and that is an extra condition, never a substitute for rule 2: an allowlisted name
  // resolving to the metadata IP stays blocked without allow_local_binding.
  if (core::is_metadata(a) && !snap.allowed.contains_ip(a)) return Reason::not_allowed_local;
  if (core::is_non_public(a, env.own_addresses)) {
    bool ok =
        snap.allow_local_binding || (literal_or_localhost && snap.allowed.matches_exact(host));
    if (!ok) return Reason::not_allowed_local;
  }
  if (snap.denied.contains_ip(a)) return Reason::denied;
  return std::nullopt;
}

// SPEC §6.3.
bool is_self_target(const Environment& env, const core::IpAddress& raw, std::uint16_t port) {
  const core::IpAddress a = raw.unmapped();
  if (env.admin && port == env.admin->port && core::is_own_host(a, env.own_addresses)) {
    return true;
  }
  for (const auto& l : {env.http, env.socks5}) {
    if (!l || port != l->port) continue;
    const core::IpAddress lip = l->ip.unmapped();
    if (a == lip || core::is_unspecified(a) ||
        (core::is_unspecified(lip) && core::is_own_host(a, env.own_addresses))) {
      return true;
    }
  }
  return false;
}

bool mode_guard_refuses(const Snapshot& snap, const RequestFacts& facts);

// SPEC §6.5: the decider is never asked about what a later step refuses anyway: the mode guard,
// and local, metadata or self targets that are known without DNS (literals and localhost).
bool refused_without_dns(const Snapshot& snap, const Environment& env, const RequestFacts& facts) {
  if (mode_guard_refuses(snap, facts)) return true;
  const core::CanonicalHost& host = *facts.host;
  std::vector<core::IpAddress> known;
  if (host.is_ip()) {
    known.push_back(*host.ip);
  } else if (is_localhost_name(host.text)) {
    known.push_back(core::IpAddress::v4(0x7f000001));
  }
  for (const auto& a : known) {
    if (vet_address(snap, env, host, true, a) || is_self_target(env, a, facts.port)) return true;
  }
  return false;
}

}  // namespace

bool is_read_only_method(std::string_view method) noexcept {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

namespace {

// Step 8 for the protocols it applies to (SOCKS5 is refused before the host policy).
bool mode_guard_refuses(const Snapshot& snap, const RequestFacts& facts) {
  if (snap.mode != Mode::limited) return false;
  if (facts.protocol == Protocol::https_connect) return !snap.mitm;
  if (facts.protocol != Protocol::http && facts.protocol != Protocol::https) return false;
  return !is_read_only_method(facts.method) || facts.has_upgrade || facts.has_method_override ||
         facts.has_body;
}

}  // namespace

Outcome evaluate(const Snapshot& snap, const Environment& env, const RequestFacts& facts) noexcept {
  const core::CanonicalHost& host = *facts.host;

  // Step 1.
  if (!snap.enabled)
    return done_non_domain(refuse(Reason::proxy_disabled, DecisionSource::proxy_state));
  // SOCKS5 in limited mode is refused before the host policy (SPEC §9.4, compat).
  if (snap.mode == Mode::limited &&
      (facts.protocol == Protocol::socks5_tcp || facts.protocol == Protocol::socks5_udp)) {
    return done_non_domain(refuse(Reason::method_not_allowed, DecisionSource::mode_guard));
  }

  // Step 3: deny wins.
  if (snap.denied.matches(host)) {
    return done_domain(refuse(Reason::denied, DecisionSource::baseline_policy));
  }

  // Steps 4–5.
  Judgement allow;
  allow.verdict = Verdict::allow;
  allow.reason = Reason::allow;
  allow.source = DecisionSource::baseline_policy;
  if (!snap.allowed.matches(host)) {
    if (!facts.decider_installed) {
      return done_domain(refuse(Reason::not_allowed, DecisionSource::baseline_policy));
    }
    if (!facts.decider) {
      if (refused_without_dns(snap, env, facts)) {
        return done_domain(refuse(Reason::not_allowed, DecisionSource::baseline_policy));
      }
      Outcome o;
      o.need = Need::decider;
      return o;
    }
    if (facts.decider->verdict != Verdict::allow) {
      Judgement j = refuse(Reason::policy_denied, DecisionSource::decider);
      j.verdict = facts.decider->verdict;
      j.decider_reason = normalize_decider_reason(facts.decider->reason);
      // A decider answering with one of the §6.4 reasons (the §16 example asks with
      // "not_allowed") gets that row's header and message; any other text is policy_denied's.
      // Only 403 rows: a decider cannot turn its refusal into a 502/503/501 (SPEC §6.4).
      if (auto known = parse_reason(j.decider_reason);
          known && *known != Reason::allow && info(*known).http_status == 403) {
        j.reason = *known;
      }
      return done_domain(std::move(j));
    }
    // A decider Allow is an override of not_allowed; later steps still apply (SPEC §6.5).
    allow.reason = Reason::not_allowed;
    allow.source = DecisionSource::decider;
    allow.override_allow = true;
  }

  // Step 6: the address set, then vetting of every address.
  std::vector<core::IpAddress> addresses;
  bool literal_or_localhost = host.is_ip();
  if (host.is_ip()) {
    addresses.push_back(*host.ip);
  } else if (is_localhost_name(host.text)) {
    literal_or_localhost = true;
    addresses.push_back(core::IpAddress::v4(0x7f000001));
    addresses.push_back(core::IpAddress::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  } else if (!facts.skip_resolution) {
    if (!facts.resolution) {
      Outcome o;
      o.need = Need::resolution;
      return o;
    }
    if (facts.resolution->addresses.empty() && !facts.via_upstream) {
      return done_domain(refuse(Reason::dns_failure, DecisionSource::proxy_state));
    }
    // Through an upstream proxy a name that does not resolve here is passed on: the upstream
    // resolves it (SPEC §12). Answers we do get are still vetted below.
    addresses = facts.resolution->addresses;
  }
  for (const auto& a : addresses) {
    // One refused answer refuses the whole name: mixed answers are a rebinding tool.
    if (auto r = vet_address(snap, env, host, literal_or_localhost, a)) {
      return done_domain(refuse(*r, DecisionSource::baseline_policy));
    }
  }

  // Step 7.
  for (const auto& a : addresses) {
    if (is_self_target(env, a, facts.port)) {
      return done_domain(refuse(Reason::self_target, DecisionSource::proxy_state));
    }
  }

  Outcome o;
  o.decision.domain = allow;
  o.decision.addresses = std::move(addresses);

  // Step 8: the mode guard (SPEC §10.1).
  if (snap.mode == Mode::limited) {
    if (facts.protocol == Protocol::https_connect) {
      if (snap.mitm) {
        o.decision.intercept = true;
      } else {
        o.decision.non_domain = refuse(Reason::mitm_required, DecisionSource::mode_guard);
      }
    } else if (!is_read_only_method(facts.method) || facts.has_upgrade ||
               facts.has_method_override || facts.has_body) {
      o.decision.non_domain = refuse(Reason::method_not_allowed, DecisionSource::mode_guard);
    }
  }
  return o;
}

Decision evaluate_unix_socket(const Snapshot& snap, const UnixSocketFacts& facts) noexcept {
  Decision d;
  auto judged = [&d](Reason r, DecisionSource s) {
    d.non_domain = refuse(r, s);
    return d;
  };
  if (!snap.enabled) return judged(Reason::proxy_disabled, DecisionSource::proxy_state);
  if (snap.mode == Mode::limited && (!is_read_only_method(facts.method) || facts.has_upgrade ||
                                     facts.has_method_override || facts.has_body)) {
    return judged(Reason::method_not_allowed, DecisionSource::mode_guard);
  }
  if (!facts.platform_supported) {
    return judged(Reason::unix_socket_unsupported, DecisionSource::proxy_state);
  }
  if (!facts.admitted) return judged(Reason::not_allowed, DecisionSource::proxy_state);
  Judgement allow;
  allow.verdict = Verdict::allow;
  allow.reason = Reason::allow;
  allow.source = DecisionSource::proxy_state;
  d.non_domain = allow;
  return d;
}

}  // namespace netfence::policy
