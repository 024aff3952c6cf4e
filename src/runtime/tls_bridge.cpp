#include "runtime/tls_bridge.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "net/relay.hpp"

namespace netfence::runtime {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct Bridge {
  Bridge(tcp::socket to_proxy, ssl::context& ctx, tcp::socket end)
      : tls(std::move(to_proxy), ctx), outer(std::move(end)) {}
  ssl::stream<tcp::socket> tls;
  tcp::socket outer;  // our end of the socketpair
};

// Parameters by value: the coroutine outlives bridge_tls()'s frame.
asio::awaitable<void> pump(std::shared_ptr<Bridge> b, std::chrono::seconds idle) {
  net::RelayOptions opts;
  opts.idle_timeout = idle;
  opts.single_threaded_executor = true;
  (void)co_await net::relay_streams(b->outer, b->tls, std::move(opts));
}

}  // namespace

asio::awaitable<std::optional<tcp::socket>> bridge_tls(
    tcp::socket to_proxy, ssl::context& ctx, const core::CanonicalHost& proxy_host,
    std::chrono::steady_clock::time_point deadline, std::chrono::seconds idle_timeout,
    std::string& error) {
  const auto ex = co_await asio::this_coro::executor;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    error = "socketpair failed";
    co_return std::nullopt;
  }
  // Asio only stores the descriptor: reads, writes, shutdown and splice work on a unix stream
  // socket exactly as on TCP.
  boost::system::error_code ec;
  tcp::socket inner(ex), outer(ex);
  inner.assign(tcp::v4(), fds[0], ec);
  if (!ec) outer.assign(tcp::v4(), fds[1], ec);
  if (ec) {
    if (!inner.is_open()) ::close(fds[0]);
    if (!outer.is_open()) ::close(fds[1]);
    error = "socketpair: " + ec.message();
    co_return std::nullopt;
  }
  auto b = std::make_shared<Bridge>(std::move(to_proxy), ctx, std::move(outer));
  if (!proxy_host.is_ip())
    SSL_set_tlsext_host_name(b->tls.native_handle(), proxy_host.text.c_str());
  b->tls.set_verify_callback(ssl::host_name_verification(
      proxy_host.is_ip() && proxy_host.ip ? proxy_host.ip->to_string() : proxy_host.text));
  asio::steady_timer timer(ex, deadline);
  auto r = co_await (b->tls.async_handshake(ssl::stream_base::client, kTuple) ||
                     timer.async_wait(kTuple));
  if (r.index() == 1) {
    error = "TLS handshake timed out";
    co_return std::nullopt;
  }
  if (auto [hec] = std::get<0>(r); hec) {
    error = "TLS handshake failed: " + hec.message();
    co_return std::nullopt;
  }
  asio::co_spawn(ex, pump(b, idle_timeout), asio::detached);
  co_return std::move(inner);
}

}  // namespace netfence::runtime
