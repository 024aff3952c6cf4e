// TLS to an https:// upstream proxy (SPEC §12) behind a plain socket. Every front-end path then
// works unchanged over it — absolute-form HTTP, CONNECT relays (spliced), TLS to the origin
// inside — because the session gets one end of a socketpair and a relay copies the other end to
// and from the TLS stream. One extra copy, only for the rare https:// proxy.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "core/host.hpp"

namespace netfence::runtime {

/// Runs the TLS handshake with the proxy on `to_proxy` (SNI unless an IP literal, certificate
/// and host name verified with `ctx`: system roots plus extra_ca_certs), then returns the
/// socket to use instead. `error` says what failed when nothing is returned.
boost::asio::awaitable<std::optional<boost::asio::ip::tcp::socket>> bridge_tls(
    boost::asio::ip::tcp::socket to_proxy, boost::asio::ssl::context& ctx,
    const core::CanonicalHost& proxy_host, std::chrono::steady_clock::time_point deadline,
    std::chrono::seconds idle_timeout, std::string& error);

}  // namespace netfence::runtime
