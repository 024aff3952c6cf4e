// Reasons and how each one is presented (SPEC §6.4): x-proxy-error value, HTTP status, SOCKS5
// reply and the message that tells the user what to do next.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netfence::policy {

enum class Reason : std::uint8_t {
  allow,  // the baseline allowed (audit reason "allow")
  not_allowed,
  not_allowed_local,
  denied,
  method_not_allowed,
  mitm_required,
  proxy_disabled,
  unix_socket_unsupported,
  self_target,
  dns_failure,
  policy_denied,  // decider refusals; the decider's own text is carried beside it
};

std::string_view to_string(Reason r) noexcept;

struct ReasonInfo {
  std::string_view x_proxy_error;  // "" = no header (proxy_disabled)
  int http_status;
  std::uint8_t socks_reply;  // 0 = not applicable
  std::string_view message;
};

/// Presentation of a refusal reason; for Reason::allow all fields are empty/zero.
const ReasonInfo& info(Reason r) noexcept;

/// The Reason whose name is `s` ("not_allowed", "denied", …), if any.
std::optional<Reason> parse_reason(std::string_view s) noexcept;

/// Normalises a decider's reason (SPEC §6.5): empty, longer than 128 bytes, or containing
/// non-printable ASCII → "policy_denied".
std::string normalize_decider_reason(std::string_view reason);

}  // namespace netfence::policy
