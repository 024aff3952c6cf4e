// Request-target parsing for the proxy (SPEC §8.2 absolute-form, §8.4 CONNECT) and the Host
// header check. Hosts go through core::parse_host_port(…, HostSource::http) (SPEC §4).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/host.hpp"
#include "http/wire/error.hpp"
#include "http/wire/headers.hpp"

namespace netfence::http {

enum class TargetForm {
  origin,     // starts with '/'
  absolute,   // scheme "://" …  (scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ))
  authority,  // anything else (host:port shape)
  asterisk,   // exactly "*"
};

/// Syntactic form of a request-target (RFC 9112 §3.2); does not validate. Session use (§8.1):
///  - CONNECT: always parse_connect_target(), whatever the form;
///  - absolute: parse_absolute_target();
///  - origin / asterisk: 400 `not a proxy request` (or §11 when x-unix-socket is present);
///  - authority with another method: 400 `invalid request target` (kInvalidRequestTarget).
TargetForm classify_target(std::string_view target) noexcept;

struct AbsoluteTarget {
  std::string scheme;  // lower-case: "http", "https", "ws" or "wss"
  core::CanonicalHost host;
  std::uint16_t port = 80;  // the explicit port, else 80 (http, ws) / 443 (https, wss)
  bool port_explicit = false;
  std::uint16_t default_port = 80;  // the scheme's default port
  std::string origin_form;          // path + "?" + query; "/" when the path is empty
};

/// Parses `scheme://authority[path-abempty][?query]` (SPEC §8.2). Errors, checked in this order:
///  - kInvalidRequestTarget: a byte outside 0x21–0x7E (controls, spaces, non-ASCII), a `#` or
///    `\` anywhere, no well-formed scheme;
///  - kUnsupportedScheme: a scheme other than http, https, ws, wss (case-insensitive);
///  - kInvalidRequestTarget: no "//" after the scheme, `@` in the authority (userinfo), an empty
///    host, an invalid port (empty, non-digits, sign, leading zero, 0, > 65535);
///  - kInvalidHost: the host fails §4 (percent-encoding such as `%2e`/`%00`, bad IP literal,
///    unbracketed IPv6, …).
/// A port part containing a `.` (`example.com:443.evil.net`) is treated as part of a malformed
/// host, so it gives kInvalidHost (§18 row 7) rather than kInvalidRequestTarget.
WireResult<AbsoluteTarget> parse_absolute_target(std::string_view target);

/// Parses a CONNECT target `host:port` / `[v6]:port` (SPEC §8.4). kInvalidConnectTarget for: a
/// missing or invalid port, userinfo (`@`), an unbracketed IPv6 literal (`::1:443`), a path,
/// scheme, query or fragment, an empty host, bytes outside 0x21–0x7E. kInvalidHost when the
/// structure is right but the host fails §4 (§18 row 7; a port part containing `.` counts as
/// host, as above). The returned HostPort always has a port.
WireResult<core::HostPort> parse_connect_target(std::string_view target);

/// Checks the Host header of an absolute-form request against its target (SPEC §8.2): absent →
/// ok; more than one → kInvalidHostHeader (the head parser already rejects that); must
/// canonicalise with core::parse_host_port(…, HostSource::http), else kInvalidHostHeader; its
/// canonical host and effective port (`scheme_default_port` when it has none) must equal the
/// target's, else kHostHeaderMismatch. Returns nullopt when ok.
std::optional<WireError> check_host_header(const Headers& headers,
                                           const core::CanonicalHost& target_host,
                                           std::uint16_t target_port,
                                           std::uint16_t scheme_default_port);

/// Canonical authority for the forwarded Host header and absolute-form (SPEC §8.3): `host`, or
/// `host:port` when port != default_port; IPv6 bracketed, a zone written as `%25zone` (RFC 6874).
std::string format_authority(const core::CanonicalHost& host, std::uint16_t port,
                             std::uint16_t default_port);

}  // namespace netfence::http
