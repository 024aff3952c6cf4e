// One entry of the blocked-request history (SPEC §14).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "netfence/types.hpp"

namespace netfence {

struct BlockedRequest {
  std::string host;                   // canonical host (SPEC §4), or "unix-socket"
  std::string reason;                 // a §6.4 reason or the decider's (normalised) reason
  std::optional<std::string> client;  // peer "ip:port"; JSON null when unknown
  std::optional<std::string> method;  // HTTP method or "CONNECT"; JSON null for SOCKS5
  Mode mode = Mode::full;             // the mode in force
  Protocol protocol = Protocol::http;
  Verdict decision = Verdict::deny;  // deny or ask
  DecisionSource source = DecisionSource::baseline_policy;
  std::uint16_t port = 0;
  std::int64_t timestamp = 0;        // Unix seconds
  std::optional<std::string> label;  // proxy-auth / SOCKS5 user name; omitted from JSON if absent

  friend bool operator==(const BlockedRequest&, const BlockedRequest&) = default;
};

/// Called with each recorded entry, on the audit thread (never on an I/O thread).
using BlockedObserver = std::function<void(const BlockedRequest&)>;

}  // namespace netfence
