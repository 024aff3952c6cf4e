// The audit event (SPEC §15): one flat value per judged outcome, built from a decision without
// any I/O, and its JSON-lines encoding. The event name and scope stay exactly as the reference
// wrote them so existing dashboards keep working.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netfence/config.hpp"
#include "netfence/types.hpp"
#include "policy/evaluate.hpp"

namespace netfence::audit {

inline constexpr std::string_view kEventName = "codex.network_proxy.policy_decision";
inline constexpr std::string_view kScopeName = "codex_otel.network_proxy";
inline constexpr std::string_view kDefaultOriginator = "netfence";
/// server.address of unix-socket events (the path itself never reaches an event).
inline constexpr std::string_view kUnixSocketAddress = "unix-socket";

enum class Scope : std::uint8_t { domain, non_domain };
std::string_view to_string(Scope s) noexcept;

/// Exactly the §15.2 fields, in order. Optional metadata is omitted from encodings when unset.
struct AuditEvent {
  std::string timestamp;            // event.timestamp: 24 chars, ms, truncated, Z
  std::int64_t time_unix_nano = 0;  // the same instant, for OTLP timeUnixNano
  std::optional<std::string> conversation_id, app_version, auth_mode, originator, user_account_id,
      user_email, terminal_type, model, slug;
  Scope scope = Scope::domain;
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

/// What a front end knows about the request beyond the decision's facts.
struct EventContext {
  std::string_view client;  // "" = unknown
  /// Unix-socket requests: address "unix-socket", port 0, protocol http.
  bool unix_socket = false;
};

/// `event.timestamp` for a wall-clock instant given in nanoseconds since the Unix epoch:
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, milliseconds truncated.
std::string format_timestamp(std::int64_t unix_nanos);

/// Applies the originator rule of §15.2: 1–64 characters of [A-Za-z0-9._-] are kept, anything
/// else (including an empty value) becomes "netfence".
std::string sanitize_originator(std::string_view value);

/// The events of one decision (§15.3): the `domain` event when the host policy ran, then the
/// `non_domain` refusal if there is one. `now_nanos` is the wall clock in ns since the epoch.
std::vector<AuditEvent> make_events(const policy::Decision& d, const policy::RequestFacts& facts,
                                    const EventContext& ctx, const AuditMetadata& metadata,
                                    std::int64_t now_nanos);

/// One JSON-lines record (no trailing newline): the §15.2 keys as flat dotted names in order,
/// server.port a number, network.policy.override a boolean.
std::string encode_jsonl(const AuditEvent& e);

}  // namespace netfence::audit
