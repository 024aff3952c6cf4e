// Outgoing TCP connections to already vetted addresses (SPEC §6.2 rule 5, step 9 of §6.1).
//
// The dialer never resolves anything: it connects only to the addresses the policy vetted, in
// the order given, Happy-Eyeballs style (RFC 8305 §5), within one total budget. Failures come
// back as a small enum that maps onto the HTTP (§8.6) and SOCKS5 (§9.2) answers.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include "core/ip_address.hpp"

namespace netfence::net {

using tcp = boost::asio::ip::tcp;

/// Why a dial failed; `none` on success.
enum class DialError : std::uint8_t {
  none,
  refused,              ///< ECONNREFUSED, or the connection was reset during connect
  unreachable_network,  ///< ENETUNREACH, ENETDOWN
  unreachable_host,     ///< EHOSTUNREACH, EHOSTDOWN, EADDRNOTAVAIL, EAFNOSUPPORT
  timeout,              ///< the budget ran out (or the kernel gave up: ETIMEDOUT)
  other,                ///< anything else (EACCES, no addresses, cancelled, ...)
};

std::string_view to_string(DialError e) noexcept;

/// Classifies one connect(2) error.
DialError classify_connect_error(const boost::system::error_code& ec) noexcept;

/// The HTTP answer for a failed dial (SPEC §8.4/§8.6): timeout → 504 `upstream timeout`, anything
/// else → 502 `upstream failure`.
struct HttpDialFailure {
  unsigned status;
  std::string_view body;
};
HttpDialFailure to_http_failure(DialError e) noexcept;

/// The SOCKS5 reply code for a dial result (SPEC §9.2): 0x00 success, 0x03 network unreachable,
/// 0x04 host unreachable, 0x05 refused, 0x06 TTL expired (= timeout), 0x01 anything else.
std::uint8_t to_socks5_reply(DialError e) noexcept;

/// Address conversions between the socket-free core type and Asio. IPv4-mapped IPv6 addresses
/// become IPv4 endpoints (a v6 socket is never used to reach a v4 host).
tcp::endpoint to_endpoint(const core::IpAddress& address, std::uint16_t port);
core::IpAddress from_asio(const boost::asio::ip::address& address) noexcept;

struct DialResult {
  DialError error = DialError::other;
  /// The system error behind `error` (of the attempt that failed last; `timed_out` for a budget
  /// timeout); empty on success.
  boost::system::error_code last_error;
  /// The connected socket (TCP_NODELAY set), on the caller's executor; engaged iff ok().
  std::optional<tcp::socket> socket;
  /// The entry of `addresses` that connected (as given, possibly IPv4-mapped) and its index.
  core::IpAddress address;
  std::size_t index = 0;
  /// Through an upstream proxy's CONNECT: bytes that arrived right after its answer (the
  /// origin spoke first); they belong to the client.
  std::string early_data;

  bool ok() const noexcept { return error == DialError::none && socket.has_value(); }
};

/// Test seam: performs one connection attempt on a closed socket and returns its error. It must
/// honour the coroutine's cancellation (terminal) promptly: that is how losers are stopped. The
/// default is `socket.async_connect(endpoint)`.
using ConnectStep = std::function<boost::asio::awaitable<boost::system::error_code>(
    tcp::socket& socket, tcp::endpoint endpoint)>;

struct DialOptions {
  DialOptions() = default;  // not an aggregate: see RelayOptions (g++ 12 co_await temporaries)

  /// Total deadline for the whole dial (SPEC `connect_timeout_ms`).
  std::chrono::milliseconds budget{10000};
  /// Delay before the next attempt starts while earlier ones are still pending (RFC 8305 §5).
  std::chrono::milliseconds stagger{250};
  /// Empty: real connects.
  ConnectStep connect;
};

/// Connects to one of `addresses` (copied on entry) on `port`. Starts the first attempt; each
/// further attempt starts when the previous one failed or after `stagger` without success,
/// whichever comes first, while the earlier ones keep going. The first success wins; every other
/// attempt is cancelled, its socket closed and its coroutine joined before dial() returns, so
/// nothing outlives the call. Never throws on network errors (only std::bad_alloc).
///
/// Safe on a multi-threaded executor: attempts run on an internal strand of the caller's
/// executor. Cancelling the awaiting coroutine (terminal/partial) stops all attempts; the
/// result is then `other` with `operation_aborted`.
boost::asio::awaitable<DialResult> dial(std::span<const core::IpAddress> addresses,
                                        std::uint16_t port, DialOptions options);

/// The common form: real connects, `budget` total, RFC 8305's 250 ms stagger by default.
boost::asio::awaitable<DialResult> dial(
    std::span<const core::IpAddress> addresses, std::uint16_t port,
    std::chrono::milliseconds budget,
    std::chrono::milliseconds stagger = std::chrono::milliseconds(250));

}  // namespace netfence::net
