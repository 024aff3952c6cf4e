// The pluggable policy decider (SPEC §6.5, §16): consulted only when the allowlist did not match
// (`not_allowed`), asynchronously, exactly once per evaluation.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>

#include "netfence/types.hpp"

namespace netfence {

enum class PolicyDecision : std::uint8_t { deny, ask };

/// What the decider is asked about.
struct PolicyRequest {
  Protocol protocol = Protocol::http;
  std::string host;  // canonical (SPEC §4)
  std::uint16_t port = 0;
  std::optional<std::string> client_addr;  // "ip:port"
  std::optional<std::string> method;       // HTTP method or "CONNECT"; empty for SOCKS5
  std::optional<std::string> command, exec_policy_hint;  // from register_label
  std::optional<std::string> label;                      // Proxy-Authorization / SOCKS5 user name
};

struct Allow {};
struct Deny {
  std::string reason;  // "" (or > 128 bytes, or non-printable) becomes "policy_denied"
  DecisionSource source = DecisionSource::decider;  // always reported as `decider`
  PolicyDecision decision = PolicyDecision::deny;
};
using Decision = std::variant<Allow, Deny>;

/// A Deny with `reason` ("" → "policy_denied").
Decision deny(std::string reason);
/// A Deny with decision = ask (refused like deny, reported as "ask").
Decision ask(std::string reason);

/// Completes one decision. Call it exactly once, from any thread, synchronously or later; later
/// calls and calls after `decider_timeout_ms` are ignored.
using DecisionCallback = std::function<void(Decision)>;
/// Called on an I/O thread: it MUST return without blocking. An exception → deny policy_denied.
using PolicyDecider = std::function<void(const PolicyRequest&, DecisionCallback)>;

/// What register_label() attaches to requests carrying a label.
struct LabelContext {
  std::optional<std::string> command;
  std::optional<std::string> exec_policy_hint;
};

}  // namespace netfence
