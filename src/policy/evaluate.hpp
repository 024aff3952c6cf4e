// The decision pipeline (SPEC §6.1): a pure function over request facts. It does no I/O, reads
// no clock and logs nothing. Where it needs something from outside — the decider's answer
// (step 5) or the resolved addresses (step 6) — it returns `Need` and the caller evaluates again
// with that fact filled in (HAProxy's three-valued MISS, STYLE.md B.4). Re-running the list
// steps costs far less than a resolution, and keeps the engine free of continuations.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/host.hpp"
#include "core/ip_address.hpp"
#include "netfence/types.hpp"
#include "policy/reasons.hpp"
#include "policy/snapshot.hpp"

namespace netfence::policy {

/// A bound listener of this process (for the self-target rule, SPEC §6.3).
struct Endpoint {
  core::IpAddress ip;
  std::uint16_t port = 0;
};

/// Facts about this process rather than the request.
struct Environment {
  std::span<const core::IpAddress> own_addresses;  // the host's interface addresses (§7.3)
  std::optional<Endpoint> http, socks5, admin;     // bound listeners
};

/// The answer of the policy decider (SPEC §6.5), already received by the caller.
struct DeciderAnswer {
  Verdict verdict = Verdict::deny;  // allow, deny or ask
  std::string reason;               // normalised by evaluate() for deny/ask
};

/// The outcome of name resolution for step 6.
struct Resolution {
  std::vector<core::IpAddress> addresses;  // empty = failure (dns_failure)
};

struct RequestFacts {
  Protocol protocol = Protocol::http;
  const core::CanonicalHost* host = nullptr;  // canonical target (never null)
  std::uint16_t port = 0;
  std::string_view method;  // "" = none (SOCKS5)
  // Mode-guard inputs (SPEC §10.1); meaningful for http and https (MITM inner requests).
  bool has_upgrade = false;
  bool has_method_override = false;
  bool has_body = false;
  /// A decider is installed: step 4 misses are referred to it.
  bool decider_installed = false;
  std::optional<DeciderAnswer> decider;
  std::optional<Resolution> resolution;
  /// `explain --no-dns`: names are not resolved; steps 6–7 see no addresses for them.
  bool skip_resolution = false;
  /// An upstream proxy will carry the request (SPEC §12): a name that does not resolve
  /// locally is allowed on with no addresses instead of dns_failure.
  bool via_upstream = false;
};

/// One judged outcome, as it appears in an audit event (SPEC §15.3).
struct Judgement {
  Verdict verdict = Verdict::deny;
  Reason reason = Reason::not_allowed;
  std::string decider_reason;  // set when source == decider and verdict != allow
  DecisionSource source = DecisionSource::baseline_policy;
  bool override_allow = false;  // a decider Allow turned not_allowed into allow

  /// The reason text for audit/blocked history/JSON bodies.
  std::string_view reason_text() const noexcept {
    return decider_reason.empty() ? to_string(reason) : std::string_view(decider_reason);
  }
};

struct Decision {
  /// The host policy evaluation (steps 3–7), when it ran: the one `domain` audit event.
  std::optional<Judgement> domain;
  /// A refusal outside the host policy (proxy_disabled, mode guard): a `non_domain` event.
  std::optional<Judgement> non_domain;
  /// Vetted addresses to connect to, in resolver order (allowed requests only).
  std::vector<core::IpAddress> addresses;
  /// Limited-mode CONNECT with mitm = true: terminate TLS and judge inner requests (§10.2).
  bool intercept = false;

  const Judgement& final() const noexcept { return non_domain ? *non_domain : *domain; }
  bool allowed() const noexcept { return final().verdict == Verdict::allow; }
};

enum class Need : std::uint8_t { nothing, decider, resolution };

struct Outcome {
  Need need = Need::nothing;  // when not `nothing`, `decision` is not meaningful yet
  Decision decision;
};

Outcome evaluate(const Snapshot& snapshot, const Environment& env,
                 const RequestFacts& facts) noexcept;

/// Methods limited mode permits (case-sensitive): GET, HEAD, OPTIONS.
bool is_read_only_method(std::string_view method) noexcept;

/// An `x-unix-socket` request (SPEC §11). The host policy does not run; the allowlist result is
/// established by the caller (it reads the filesystem).
struct UnixSocketFacts {
  std::string_view method;
  bool has_upgrade = false;
  bool has_method_override = false;
  bool has_body = false;
  bool platform_supported = true;
  bool admitted = false;  // the resolved path is on the allowlist (or all are allowed)
};

/// §11 steps 1–4 in order: enabled, mode guard, platform, allowlist. The judgement is the one
/// `non_domain` event of §15.3 (allow included).
Decision evaluate_unix_socket(const Snapshot& snapshot, const UnixSocketFacts& facts) noexcept;

}  // namespace netfence::policy
