#include "policy/reasons.hpp"

#include <algorithm>
#include <array>

namespace netfence::policy {
namespace {

struct Row {
  Reason reason;
  std::string_view name;
  ReasonInfo info;
};

// SPEC §6.4, one row per reason.
constexpr std::array<Row, 11> kRows = {{
    {Reason::allow, "allow", {"", 0, 0, ""}},
    {Reason::not_allowed,
     "not_allowed",
     {"blocked-by-allowlist", 403, 0x02,
      "Blocked: this host is not on the allowlist. Add it to allowed_domains to permit it."}},
    {Reason::not_allowed_local,
     "not_allowed_local",
     {"blocked-by-allowlist", 403, 0x02,
      "Blocked: local, private and cloud-metadata addresses are off limits. Allowlist the exact "
      "address or set allow_local_binding = true."}},
    {Reason::denied,
     "denied",
     {"blocked-by-denylist", 403, 0x02,
      "Blocked: this host is on the denylist. Remove it from denied_domains to permit it."}},
    {Reason::method_not_allowed,
     "method_not_allowed",
     {"blocked-by-method-policy", 403, 0x02,
      "Blocked: limited mode permits only GET, HEAD and OPTIONS. Switch mode to \"full\" to allow "
      "this."}},
    {Reason::mitm_required,
     "mitm_required",
     {"blocked-by-mitm-required", 403, 0,
      "Blocked: HTTPS in limited mode needs TLS interception. Set mitm = true or switch mode to "
      "\"full\"."}},
    {Reason::proxy_disabled, "proxy_disabled", {"", 503, 0x02, "network proxy is disabled"}},
    {Reason::unix_socket_unsupported,
     "unix_socket_unsupported",
     {"blocked-by-policy", 501, 0,
      "Blocked: unix-socket proxying is not supported on this platform."}},
    {Reason::self_target,
     "self_target",
     {"blocked-by-policy", 403, 0x02,
      "Blocked: the proxy's own listeners cannot be reached through the proxy."}},
    {Reason::dns_failure,
     "dns_failure",
     {"dns-failure", 502, 0x04,
      "The host name could not be resolved. Check the spelling or try again later."}},
    {Reason::policy_denied,
     "policy_denied",
     {"blocked-by-policy", 403, 0x02,
      "Blocked by network policy. Ask the user to approve access to this host."}},
}};

const Row& row(Reason r) noexcept { return kRows[static_cast<std::size_t>(r)]; }

}  // namespace

std::string_view to_string(Reason r) noexcept { return row(r).name; }

const ReasonInfo& info(Reason r) noexcept { return row(r).info; }

std::optional<Reason> parse_reason(std::string_view s) noexcept {
  for (const auto& r : kRows) {
    if (r.name == s) return r.reason;
  }
  return std::nullopt;
}

std::string normalize_decider_reason(std::string_view reason) {
  bool printable =
      std::all_of(reason.begin(), reason.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (reason.empty() || reason.size() > 128 || !printable) return "policy_denied";
  return std::string(reason);
}

}  // namespace netfence::policy
