// Loopback helpers shared by the net tests: bounded runs, connected socket pairs, fd counts.
#pragma once

#include <dirent.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <utility>

namespace netfence::net::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// Runs `main` on `ctx` until it completes or `limit` passes (then nullopt). Exceptions thrown by
/// `main` propagate, so a failing coroutine fails the test instead of hanging it.
template <class T>
std::optional<T> run_bounded(asio::io_context& ctx, asio::awaitable<T> main,
                             std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::optional<T> result;
  std::exception_ptr error;
  asio::co_spawn(ctx, std::move(main), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result.emplace(std::move(value));
    ctx.stop();
  });
  ctx.run_for(limit);
  if (error) std::rethrow_exception(error);
  return result;
}

/// Two connected loopback sockets on `ctx` (v4 or v6), made synchronously.
inline std::pair<tcp::socket, tcp::socket> connected_pair(asio::io_context& ctx, bool v6 = false) {
  tcp::acceptor acceptor(ctx, {v6 ? asio::ip::address(asio::ip::address_v6::loopback())
                                  : asio::ip::address(asio::ip::address_v4::loopback()),
                               0});
  tcp::socket client(ctx);
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  return {std::move(client), std::move(server)};
}

/// Creates the io_context's reactor descriptors (epoll, eventfd, timerfd) now, so later fd counts
/// compare like with like.
inline void warm_up(asio::io_context& ctx) { tcp::socket unused(ctx); }

/// Open descriptors of this process (leak checks; call warm_up() first).
inline int open_fds() {
  int n = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (::readdir(dir) != nullptr) ++n;
    ::closedir(dir);
  }
  return n;
}

}  // namespace netfence::net::test
