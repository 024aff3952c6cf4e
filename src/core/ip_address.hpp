// IP addresses as plain values, independent of sockets (no Asio in core/).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netfence::core {

class IpAddress {
 public:
  enum class Family : std::uint8_t { v4, v6 };

  IpAddress() = default;  // 0.0.0.0
  static IpAddress v4(std::uint32_t host_order) noexcept;
  static IpAddress v6(const std::array<std::uint8_t, 16>& bytes) noexcept;

  /// Strict literal parser: dotted-quad IPv4 (exactly 4 decimal parts, no leading zeros) or
  /// RFC 4291 IPv6 text (with an optional trailing dotted-quad); no brackets, no zone, no port.
  /// Used for config values (dns_hosts answers, dns_servers). Host input goes through
  /// canonicalize_host() instead, which accepts inet_aton spellings.
  static std::optional<IpAddress> parse(std::string_view text) noexcept;

  Family family() const noexcept { return family_; }
  bool is_v4() const noexcept { return family_ == Family::v4; }
  bool is_v6() const noexcept { return family_ == Family::v6; }
  /// IPv4 value in host byte order; only meaningful when is_v4().
  std::uint32_t v4_value() const noexcept;
  /// Network-order bytes: 4 meaningful bytes for IPv4, 16 for IPv6.
  const std::array<std::uint8_t, 16>& bytes() const noexcept { return bytes_; }

  /// IPv4-mapped (::ffff:a.b.c.d) IPv6 address → the IPv4 address; otherwise itself.
  IpAddress unmapped() const noexcept;

  /// Dotted decimal, or RFC 5952 IPv6 text (no brackets, no zone). Mapped IPv6 addresses are
  /// printed in RFC 5952 mixed form (`::ffff:1.2.3.4`).
  std::string to_string() const;

  auto operator<=>(const IpAddress&) const = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

}  // namespace netfence::core
