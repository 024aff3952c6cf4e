// A small raw SOCKS5 client for the integration tests (RFC 1928, RFC 1929; SPEC §9): message
// builders with byte-exact control (bad versions, odd ATYPs, split writes), a reply reader on top
// of RawClient, and a loopback UDP socket for UDP ASSOCIATE datagrams.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy_fixture.hpp"

namespace netfence::testing::socks5 {

inline constexpr std::uint8_t kConnect = 0x01;
inline constexpr std::uint8_t kBind = 0x02;
inline constexpr std::uint8_t kUdpAssociate = 0x03;

/// VER NMETHODS METHODS.
std::string greeting(const std::vector<std::uint8_t>& methods, std::uint8_t version = 0x05);
/// RFC 1929: 01 ULEN UNAME PLEN PASSWD.
std::string credentials(std::string_view user, std::string_view password);

/// ATYP DST.ADDR DST.PORT for an IPv4 / IPv6 literal (inet_pton text) or a domain (any bytes,
/// length octet = its size).
std::string addr_ipv4(std::string_view dotted, std::uint16_t port);
std::string addr_ipv6(std::string_view text, std::uint16_t port);
std::string addr_domain(std::string_view name, std::uint16_t port);

/// VER CMD RSV + address part.
std::string request(std::uint8_t command, std::string_view address, std::uint8_t version = 0x05);

/// A reply to a request: VER REP RSV ATYP BND.ADDR BND.PORT.
struct Reply {
  std::uint8_t ver = 0, rep = 0xff, rsv = 0xff, atyp = 0;
  std::string ip;  // inet_ntop text, or the domain
  std::uint16_t port = 0;
};
/// Reads one complete reply; nullopt on EOF or timeout before it is complete.
std::optional<Reply> read_reply(RawClient& c, std::chrono::milliseconds timeout = 5s);

/// RSV RSV FRAG + address part + payload.
std::string udp_datagram(std::string_view address, std::string_view payload, std::uint8_t frag = 0);
struct UdpReply {
  std::uint8_t frag = 0xff, atyp = 0;
  std::string ip;
  std::uint16_t port = 0;
  std::string payload;
};
std::optional<UdpReply> parse_udp(std::string_view datagram);

/// A UDP socket bound on a loopback IP (127.0.0.1 by default; any 127/8 address works on
/// Linux), ephemeral port.
class UdpClient {
 public:
  explicit UdpClient(std::string_view bind_ip = "127.0.0.1");
  ~UdpClient();
  UdpClient(const UdpClient&) = delete;
  UdpClient& operator=(const UdpClient&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  bool send_to(std::uint16_t port, std::string_view bytes, std::string_view ip = "127.0.0.1");
  /// One datagram; nullopt when nothing arrives within `timeout`.
  std::optional<std::string> recv(std::chrono::milliseconds timeout);
  /// The sender of the last datagram recv() returned.
  std::uint16_t last_from_port() const noexcept { return last_from_port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t last_from_port_ = 0;
};

}  // namespace netfence::testing::socks5
