// The audit event (SPEC §15): one flat value per judged outcome, built from a decision without
// any I/O, and its JSON-lines encoding. The event name and scope stay exactly as the reference
// wrote them so existing dashboards keep working.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netfence/audit.hpp"
#include "netfence/config.hpp"
#include "netfence/types.hpp"
#include "policy/evaluate.hpp"

namespace netfence::audit {

inline constexpr std::string_view kEventName = "codex.network_proxy.policy_decision";
inline constexpr std::string_view kScopeName = "codex_otel.network_proxy";
inline constexpr std::string_view kDefaultOriginator = "netfence";
/// server.address of unix-socket events (the path itself never reaches an event).
inline constexpr std::string_view kUnixSocketAddress = "unix-socket";

using Scope = ::netfence::AuditScope;
std::string_view to_string(Scope s) noexcept;

/// The public event (netfence/audit.hpp) under the name this module always used.
using AuditEvent = ::netfence::AuditEvent;

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
