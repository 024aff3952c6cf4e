// Audit events (SPEC §15): one per judged outcome, named `codex.network_proxy.policy_decision`,
// and the sink interface an embedding application implements to receive them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "netfence/types.hpp"

namespace netfence {

/// `network.policy.scope`: the host policy's judgement, or a refusal outside it.
enum class AuditScope : std::uint8_t { domain, non_domain };

/// Exactly the §15.2 fields, in order. Optional metadata is omitted from encodings when unset.
struct AuditEvent {
  std::string timestamp;            // event.timestamp: 24 chars, ms, truncated, Z
  std::int64_t time_unix_nano = 0;  // the same instant, for OTLP timeUnixNano
  std::optional<std::string> conversation_id, app_version, auth_mode, originator, user_account_id,
      user_email, terminal_type, model, slug;
  AuditScope scope = AuditScope::domain;
  Verdict decision = Verdict::deny;
  DecisionSource source = DecisionSource::baseline_policy;
  std::string reason;
  Protocol protocol = Protocol::http;  // never unix_socket: those events say http (compat)
  std::string server_address;
  std::uint16_t server_port = 0;
  std::string method;          // the method, "CONNECT", or "none"
  std::string client_address;  // "ip:port" or "unknown"
  bool override_allow = false;

  friend bool operator==(const AuditEvent&, const AuditEvent&) = default;
};

/// Receives every event, in order, on the audit thread (never on an I/O thread). A slow sink
/// delays only the audit queue, which drops its oldest events when full (counted in metrics).
struct AuditSink {
  virtual ~AuditSink() = default;
  virtual void write(const AuditEvent& event) noexcept = 0;
};

}  // namespace netfence
