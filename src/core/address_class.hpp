// Address classes (SPEC §7): non-public, metadata, own host. Pure functions over IpAddress;
// the host's interface addresses are passed in (read by interfaces.hpp, which does I/O).
#pragma once

#include <span>

#include "core/ip_address.hpp"

namespace netfence::core {

/// §7.1 / §7.2, including embedded IPv4 (compatible, mapped, translated, NAT64, 6to4, Teredo
/// server and bit-inverted client). Addresses in `own_interfaces` are non-public too (§7.3).
bool is_non_public(const IpAddress& a, std::span<const IpAddress> own_interfaces = {}) noexcept;

/// §7.3 metadata set, including IPv6 forms whose embedded IPv4 is in it.
bool is_metadata(const IpAddress& a) noexcept;

/// §6.3 own-host set: 127.0.0.0/8, ::1, 0.0.0.0, ::, and `own_interfaces`
/// (IPv4-mapped forms judged as IPv4).
bool is_own_host(const IpAddress& a, std::span<const IpAddress> own_interfaces) noexcept;

/// 0.0.0.0 or :: (or ::ffff:0.0.0.0).
bool is_unspecified(const IpAddress& a) noexcept;

/// 127.0.0.0/8 or ::1 (mapped forms included).
bool is_loopback(const IpAddress& a) noexcept;

}  // namespace netfence::core
