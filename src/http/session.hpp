// One HTTP proxy client connection (SPEC §8): absolute-form requests, CONNECT tunnels and
// WebSocket upgrades, with the exact refusals of §8.5/§8.6. A thin adapter: parsing is in
// http/wire, decisions in policy (driven by runtime::decide), sockets in net.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "http/upstream_pool.hpp"
#include "runtime/runtime.hpp"

namespace netfence::http {

/// Shared by every session of a listener; outlives them.
struct SessionContext {
  runtime::Runtime& rt;
  /// Client TLS context for https:// absolute-form targets: system roots + extra_ca_certs.
  boost::asio::ssl::context& upstream_tls;
  /// Set once graceful shutdown starts: finish the current request, then close.
  const std::atomic<bool>& stopping;
  /// Server-side TLS for an intercepted CONNECT (SPEC §10.4): a context holding the leaf
  /// certificate for `host` (ALPN http/1.1), or null when interception is unavailable. Minting
  /// runs off the I/O thread; the awaitable resumes on the caller's executor.
  std::function<boost::asio::awaitable<std::shared_ptr<boost::asio::ssl::context>>(
      const core::CanonicalHost& host)>
      mitm_tls;
};

/// `pool` belongs to the I/O thread that runs this session (the client socket's io_context).
/// `life` (may be null) is kept alive as long as the connection is: past the session's return
/// while a tunnel it established is open. `peer`: the client's address as accept(2) gave it
/// (read from the socket when absent).
boost::asio::awaitable<void> serve_http_connection(
    boost::asio::ip::tcp::socket client, SessionContext& ctx, UpstreamPool& pool,
    std::shared_ptr<void> life = {},
    std::optional<boost::asio::ip::tcp::endpoint> peer = std::nullopt);

}  // namespace netfence::http
