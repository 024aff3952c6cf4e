#include "netfence/types.hpp"

#include "netfence/version.hpp"

namespace netfence {

std::string_view version() noexcept { return NETFENCE_VERSION; }

std::string_view to_string(Mode m) noexcept { return m == Mode::full ? "full" : "limited"; }

std::string_view to_string(Protocol p) noexcept {
  switch (p) {
    case Protocol::http:
      return "http";
    case Protocol::https_connect:
      return "https_connect";
    case Protocol::https:
      return "https";
    case Protocol::socks5_tcp:
      return "socks5_tcp";
    case Protocol::socks5_udp:
      return "socks5_udp";
    case Protocol::unix_socket:
      return "unix_socket";
  }
  return "http";
}

std::string_view to_string(DecisionSource s) noexcept {
  switch (s) {
    case DecisionSource::baseline_policy:
      return "baseline_policy";
    case DecisionSource::mode_guard:
      return "mode_guard";
    case DecisionSource::proxy_state:
      return "proxy_state";
    case DecisionSource::decider:
      return "decider";
  }
  return "baseline_policy";
}

std::string_view to_string(Verdict v) noexcept {
  switch (v) {
    case Verdict::allow:
      return "allow";
    case Verdict::deny:
      return "deny";
    case Verdict::ask:
      return "ask";
  }
  return "deny";
}

std::optional<Mode> parse_mode(std::string_view s) noexcept {
  if (s == "full") return Mode::full;
  if (s == "limited") return Mode::limited;
  return std::nullopt;
}

std::optional<Protocol> parse_protocol(std::string_view s) noexcept {
  for (auto p : {Protocol::http, Protocol::https_connect, Protocol::https, Protocol::socks5_tcp,
                 Protocol::socks5_udp, Protocol::unix_socket}) {
    if (to_string(p) == s) return p;
  }
  return std::nullopt;
}

}  // namespace netfence
