// Pure SOCKS5 wire codec (RFC 1928, RFC 1929; SPEC §9): bytes in, need_more | done | error out.
// No sockets. Hand-written: no Debian-packaged library parses SOCKS5, and the messages are tiny
// fixed layouts whose every error must map to a specific reply code (§9.2).
//
// Every parse_* function takes the whole buffer received so far for that message (starting at
// its first byte) and is stateless: SOCKS5 messages are at most 515 bytes, so re-scanning on each
// call costs nothing, and the result never depends on how the input was split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/host.hpp"
#include "core/ip_address.hpp"
#include "netfence/result.hpp"

namespace netfence::socks::wire {

inline constexpr std::uint8_t kVersion = 0x05;
inline constexpr std::uint8_t kAuthVersion = 0x01;

enum class Status : std::uint8_t { need_more, done, error };

enum class Method : std::uint8_t { no_auth = 0x00, user_pass = 0x02, none_acceptable = 0xFF };

enum class Command : std::uint8_t { connect = 0x01, bind = 0x02, udp_associate = 0x03 };

/// §9.2 reply codes.
enum class Reply : std::uint8_t {
  succeeded = 0x00,
  general_failure = 0x01,
  not_allowed = 0x02,
  network_unreachable = 0x03,
  host_unreachable = 0x04,
  connection_refused = 0x05,
  ttl_expired = 0x06,
  command_not_supported = 0x07,
  address_type_not_supported = 0x08,
};

enum class AddressType : std::uint8_t { ipv4 = 0x01, domain = 0x03, ipv6 = 0x04 };

/// DST.ADDR as sent: an IP (ATYP 1 / 4) or the raw domain octets (ATYP 3, 1–255 octets, not
/// yet validated — see canonical_host()).
struct Address {
  AddressType type = AddressType::ipv4;
  core::IpAddress ip;
  std::string domain;
};

/// The result of one parse call. On error, `reply` is the code to answer with before closing
/// (absent: close without a reply) and `error` says why, for the log.
template <class T>
struct Parsed {
  Status status = Status::need_more;
  std::size_t consumed = 0;  // bytes of this message (done only)
  T value{};
  std::optional<std::uint8_t> reply;
  std::string error;
};

/// Client greeting: VER NMETHODS METHODS. VER ≠ 5 → error without reply (§9.1).
struct Greeting {
  bool offers_no_auth = false;
  bool offers_user_pass = false;
};
Parsed<Greeting> parse_greeting(std::string_view buf);

/// §9.1 method choice: with a configured password only 0x02; otherwise 0x00 if offered, else
/// 0x02 if offered, else 0xFF.
Method choose_method(const Greeting& g, bool password_required) noexcept;

/// RFC 1929 request: VER(1) ULEN(1) UNAME PLEN(1) PASSWD. VER ≠ 1 or ULEN = 0 → error with the
/// failure status (01 01).
struct Credentials {
  std::string user;
  std::string password;
};
Parsed<Credentials> parse_credentials(std::string_view buf);

/// Request: VER CMD RSV ATYP DST.ADDR DST.PORT. VER ≠ 5 → 0x01; unknown ATYP → 0x08; an empty
/// domain → 0x01. The command is returned as sent (unknown ones included): the caller answers
/// 0x07 for what it does not support.
struct Request {
  std::uint8_t command = 0;
  Address dst;
  std::uint16_t port = 0;
};
Parsed<Request> parse_request(std::string_view buf);

/// UDP relay header: RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT DATA. A datagram is complete by
/// definition, so need_more never comes back: a truncated header is an error. `consumed` is the
/// header length (the payload follows). FRAG is returned, not judged.
struct UdpHeader {
  std::uint8_t frag = 0;
  Address dst;
  std::uint16_t port = 0;
};
Parsed<UdpHeader> parse_udp_header(std::string_view datagram);

/// The policy host for DST.ADDR (SPEC §4): IPs in canonical text; domains canonicalised, so the
/// domain "2130706433" is the IP literal 127.0.0.1. Errors are §4 failures (→ reply 0x01).
Result<core::CanonicalHost> canonical_host(const Address& a);

std::string encode_method_choice(Method m);
std::string encode_auth_status(bool ok);
/// VER REP RSV ATYP BND.ADDR BND.PORT with an IP BND.
std::string encode_reply(Reply r, const core::IpAddress& bnd, std::uint16_t port);
/// RSV RSV FRAG=0 ATYP ADDR PORT for a datagram relayed back to the client.
std::string encode_udp_header(const core::IpAddress& src, std::uint16_t port);

}  // namespace netfence::socks::wire
