// Idle keep-alive connections to origins (SPEC §8.3), one pool per I/O thread so a socket is
// only ever used on the io_context it belongs to (no locks, no cross-thread handoff).
//
// A pooled connection is handed out only for a request that already passed the host policy and
// whose vetted address set contains the connection's address: pooling never lets a request reach
// an address its own decision did not vet.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/ip_address.hpp"
#include "net/splice.hpp"

namespace netfence::http {

/// An idle HTTP/1.1 upstream connection has nothing to say: false when the origin closed it or
/// sent stray bytes (either way it must not carry another request).
bool upstream_still_idle(boost::asio::ip::tcp::socket& s);

/// SPEC §8.3: an idle connection to `conn_host:conn_port` at `conn_address` may carry a request
/// for `host:port` only when it is the same origin and the request's vetted set (which the
/// request obtained by passing the policy) holds the connection's address.
bool may_reuse(std::string_view conn_host, std::uint16_t conn_port,
               const core::IpAddress& conn_address, std::string_view host, std::uint16_t port,
               std::span<const core::IpAddress> vetted);

class UpstreamPool {
 public:
  struct Limits {
    std::size_t per_key = 8;
    std::size_t total = 1024;
    std::chrono::seconds idle{60};
  };

  explicit UpstreamPool(Limits limits) : limits_(limits) {}
  UpstreamPool() : UpstreamPool(Limits{}) {}

  struct Taken {
    boost::asio::ip::tcp::socket socket;
    core::IpAddress address;  // the dialled address it was given with (no getpeername needed)
  };
  /// An idle, still-open connection for `host:port` whose address is in `vetted`, or nothing.
  /// Stale entries met on the way (expired, closed by the origin, or holding unexpected bytes)
  /// are closed and dropped.
  std::optional<Taken> take(std::string_view host, std::uint16_t port,
                            std::span<const core::IpAddress> vetted);

  /// Keeps a connection whose last response completed cleanly and that has been idle since
  /// `idle_since` (a client connection may have held it before). Over a limit, the oldest idle
  /// connection is closed instead; one idle for longer than the idle limit is closed at once.
  void give(std::string host, std::uint16_t port, core::IpAddress address,
            boost::asio::ip::tcp::socket socket,
            std::chrono::steady_clock::time_point idle_since = std::chrono::steady_clock::now());

  /// How long a connection may stay idle (pooled or held by a client) before it is closed.
  std::chrono::seconds idle_limit() const { return limits_.idle; }

  std::size_t size() const { return entries_.size(); }

  /// A spare, empty splice pipe of this thread, or a closed Pipe when there is none (the caller
  /// opens one). Pass-through response bodies borrow it for one response.
  net::Pipe take_pipe();
  /// Keeps an empty pipe for the next response (a few per thread; the rest are closed). A pipe
  /// that may still hold bytes must be closed instead.
  void give_pipe(net::Pipe pipe);

 private:
  struct Entry {
    std::string host;
    std::uint16_t port;
    core::IpAddress address;
    boost::asio::ip::tcp::socket socket;
    std::chrono::steady_clock::time_point since;
  };
  void expire(std::chrono::steady_clock::time_point now);

  Limits limits_;
  std::deque<Entry> entries_;  // oldest first; small, scanned linearly
  std::vector<net::Pipe> pipes_;
};

}  // namespace netfence::http
