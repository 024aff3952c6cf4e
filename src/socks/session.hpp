// One SOCKS5 client connection (SPEC §9): negotiation, CONNECT with a spliced relay, and UDP
// ASSOCIATE with a per-association relay. A thin adapter: parsing in socks/wire, decisions in
// policy (driven by runtime::decide), sockets in net.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>

#include "runtime/runtime.hpp"

namespace netfence::socks {

/// Shared by every session of the listener; outlives them.
struct SessionContext {
  runtime::Runtime& rt;
  /// Set once graceful shutdown starts: sessions still negotiating are closed.
  const std::atomic<bool>& stopping;
};

/// `life` (may be null) is kept alive as long as the connection is: past the session's return
/// while a tunnel it established is open. `peer`: the client's address as accept(2) gave it
/// (read from the socket when absent).
boost::asio::awaitable<void> serve_socks5_connection(
    boost::asio::ip::tcp::socket client, SessionContext& ctx, std::shared_ptr<void> life = {},
    std::optional<boost::asio::ip::tcp::endpoint> peer = std::nullopt);

}  // namespace netfence::socks
