#include "core/address_class.hpp"

#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace netfence::core {
namespace {

using Bytes = std::array<std::uint8_t, 16>;

constexpr std::uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d) noexcept {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

constexpr bool in_v4(std::uint32_t addr, std::uint32_t net, unsigned prefix) noexcept {
  std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return (addr & mask) == (net & mask);
}

std::uint32_t read32(const Bytes& b, std::size_t at) noexcept {
  return (static_cast<std::uint32_t>(b[at]) << 24) | (static_cast<std::uint32_t>(b[at + 1]) << 16) |
         (static_cast<std::uint32_t>(b[at + 2]) << 8) | static_cast<std::uint32_t>(b[at + 3]);
}

bool all_zero(const Bytes& b, std::size_t from, std::size_t to) noexcept {
  for (std::size_t i = from; i < to; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

bool starts_with(const Bytes& b, std::initializer_list<std::uint8_t> prefix) noexcept {
  std::size_t i = 0;
  for (std::uint8_t p : prefix) {
    if (b[i++] != p) return false;
  }
  return true;
}

// §7.1.
bool v4_non_public(std::uint32_t a) noexcept {
  return in_v4(a, v4(0, 0, 0, 0), 8) || in_v4(a, v4(10, 0, 0, 0), 8) ||
         in_v4(a, v4(172, 16, 0, 0), 12) || in_v4(a, v4(192, 168, 0, 0), 16) ||
         in_v4(a, v4(100, 64, 0, 0), 10) || in_v4(a, v4(127, 0, 0, 0), 8) ||
         in_v4(a, v4(169, 254, 0, 0), 16) || in_v4(a, v4(192, 0, 0, 0), 24) ||
         in_v4(a, v4(192, 88, 99, 0), 24) || in_v4(a, v4(198, 18, 0, 0), 15) ||
         in_v4(a, v4(192, 0, 2, 0), 24) || in_v4(a, v4(198, 51, 100, 0), 24) ||
         in_v4(a, v4(203, 0, 113, 0), 24) || in_v4(a, v4(224, 0, 0, 0), 4) ||
         in_v4(a, v4(240, 0, 0, 0), 4) || a == v4(255, 255, 255, 255) ||
         a == v4(168, 63, 129, 16) || a == v4(100, 100, 100, 200);
}

// §7.3 metadata set, IPv4 part.
bool v4_metadata(std::uint32_t a) noexcept {
  return in_v4(a, v4(169, 254, 0, 0), 16) || a == v4(168, 63, 129, 16) ||
         a == v4(100, 100, 100, 200) || a == v4(192, 0, 0, 192);
}

bool is_mapped(const Bytes& b) noexcept {
  return all_zero(b, 0, 10) && b[10] == 0xff && b[11] == 0xff;
}

// The IPv4 addresses an IPv6 address embeds (§7.2); at most two (Teredo server and client).
// 64:ff9b:1::/48 reports every RFC 6052 position its unknown prefix length allows, so a metadata
// address behind a local-use NAT64 prefix is still seen.
struct Embedded {
  std::array<std::uint32_t, 4> v{};
  std::size_t n = 0;
  void add(std::uint32_t a) noexcept { v[n++] = a; }
};

Embedded embedded_v4(const Bytes& b) noexcept {
  Embedded e;
  if (all_zero(b, 0, 12)) {
    // IPv4-compatible ::/96; "::" and "::1" are judged as themselves, not as 0.0.0.0/0.0.0.1
    // (both are non-public anyway).
    if (!all_zero(b, 12, 15) || b[15] > 1) e.add(read32(b, 12));
  } else if (is_mapped(b)) {
    e.add(read32(b, 12));
  } else if (all_zero(b, 0, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) {
    e.add(read32(b, 12));  // IPv4-translated ::ffff:0:0:0/96
  } else if (starts_with(b, {0x00, 0x64, 0xff, 0x9b}) && all_zero(b, 4, 12)) {
    e.add(read32(b, 12));  // NAT64 64:ff9b::/96
  } else if (starts_with(b, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01})) {
    // RFC 6052 §2.2 layouts for /48, /56, /64 and /96 (bits 64-71 are the reserved "u" octet).
    e.add(read32(Bytes{b[6], b[7], b[9], b[10]}, 0));
    e.add(read32(Bytes{b[7], b[9], b[10], b[11]}, 0));
    e.add(read32(b, 9));
    e.add(read32(b, 12));
  } else if (b[0] == 0x20 && b[1] == 0x02) {
    e.add(read32(b, 2));  // 6to4 2002::/16, bits 16-47
  } else if (starts_with(b, {0x20, 0x01, 0x00, 0x00})) {
    e.add(read32(b, 4));                 // Teredo server
    e.add(read32(b, 12) ^ 0xffffffffU);  // Teredo client, stored bit-inverted
  }
  return e;
}

bool in_own(const IpAddress& a, std::span<const IpAddress> own) noexcept {
  IpAddress plain = a.unmapped();
  for (const IpAddress& o : own) {
    if (o.unmapped() == plain) return true;
  }
  return false;
}

bool v6_range_non_public(const Bytes& b) noexcept {
  if (all_zero(b, 0, 15) && b[15] <= 1) return true;                      // ::, ::1
  if (starts_with(b, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01})) return true;  // 64:ff9b:1::/48
  if (starts_with(b, {0x01, 0x00}) && all_zero(b, 2, 8)) return true;     // 100::/64
  if (starts_with(b, {0x20, 0x01, 0x0d, 0xb8})) return true;              // 2001:db8::/32
  if ((b[0] & 0xfe) == 0xfc) return true;                                 // fc00::/7
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;                 // fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return true;                 // fec0::/10
  if (b[0] == 0xff) return true;                                          // ff00::/8
  return false;
}

}  // namespace

bool is_non_public(const IpAddress& a, std::span<const IpAddress> own_interfaces) noexcept {
  if (in_own(a, own_interfaces)) return true;
  if (a.is_v4()) return v4_non_public(a.v4_value());
  const Bytes& b = a.bytes();
  if (v6_range_non_public(b)) return true;
  Embedded e = embedded_v4(b);
  for (std::size_t i = 0; i < e.n; ++i) {
    if (v4_non_public(e.v[i]) || in_own(IpAddress::v4(e.v[i]), own_interfaces)) return true;
  }
  return false;
}

bool is_metadata(const IpAddress& a) noexcept {
  if (a.is_v4()) return v4_metadata(a.v4_value());
  const Bytes& b = a.bytes();
  if (starts_with(b, {0xfd, 0x00, 0x0e, 0xc2})) return true;  // fd00:ec2::/32
  // fd20:ce::254
  if (starts_with(b, {0xfd, 0x20, 0x00, 0xce}) && all_zero(b, 4, 14) && b[14] == 0x02 &&
      b[15] == 0x54) {
    return true;
  }
  Embedded e = embedded_v4(b);
  for (std::size_t i = 0; i < e.n; ++i) {
    if (v4_metadata(e.v[i])) return true;
  }
  return false;
}

bool is_own_host(const IpAddress& a, std::span<const IpAddress> own_interfaces) noexcept {
  return is_loopback(a) || is_unspecified(a) || in_own(a, own_interfaces);
}

bool is_unspecified(const IpAddress& a) noexcept {
  IpAddress p = a.unmapped();
  if (p.is_v4()) return p.v4_value() == 0;
  return all_zero(p.bytes(), 0, 16);
}

bool is_loopback(const IpAddress& a) noexcept {
  IpAddress p = a.unmapped();
  if (p.is_v4()) return in_v4(p.v4_value(), v4(127, 0, 0, 0), 8);
  return all_zero(p.bytes(), 0, 15) && p.bytes()[15] == 1;
}

}  // namespace netfence::core
