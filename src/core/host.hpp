// Host canonicalisation (SPEC §4): one function turns every host spelling into one canonical
// string used for policy, audit, blocked history, certificates, SNI, Host and connect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/ip_address.hpp"
#include "netfence/result.hpp"

namespace netfence::core {

enum class HostKind : std::uint8_t { name, ipv4, ipv6 };

struct CanonicalHost {
  /// Canonical text: lower-case A-label name without trailing dot; dotted-decimal IPv4;
  /// RFC 5952 IPv6 without brackets, with "%<zone>" appended for zoned fe80::/10 addresses.
  /// IPv4-mapped IPv6 comes out as IPv4.
  std::string text;
  HostKind kind = HostKind::name;
  /// The address for IP literals (without zone).
  std::optional<IpAddress> ip;
  /// Zone id of a link-local IPv6 literal ("" when none).
  std::string zone;

  bool is_ip() const noexcept { return kind != HostKind::name; }
};

struct HostPort {
  CanonicalHost host;
  std::optional<std::uint16_t> port;  // absent when the input had no port
};

/// Where the input comes from; decides whether an unbracketed IPv6 literal is accepted.
enum class HostSource : std::uint8_t {
  http,     // absolute-form authority, Host header, CONNECT target: IPv6 MUST be bracketed
  lenient,  // config, SOCKS5 domain, `explain`: "::1" accepted unbracketed
};

/// Canonicalises "host" or "host:port" (SPEC §4 steps 1–7). On failure returns an Error with
/// code "invalid_host" and a short lower-case reason as message, e.g. "contains a space",
/// "invalid port", "label longer than 63 octets", "invalid IPv4 address".
Result<HostPort> parse_host_port(std::string_view input, HostSource source);

/// Canonicalises a host without a port (a ':' makes it an IPv6 literal or invalid).
/// Brackets are accepted around IPv6. Same errors as parse_host_port.
Result<CanonicalHost> canonicalize_host(std::string_view host);

/// Canonicalises a DNS name only (SPEC §4 step 7: UTS-46 via libidn2, lower-case, allowed
/// characters a-z 0-9 - _ ., label and name lengths). Does not accept IP literals, does not strip
/// a trailing dot. Used by the pattern compiler for the literal labels of a pattern.
Result<std::string> canonicalize_name(std::string_view name);

}  // namespace netfence::core
