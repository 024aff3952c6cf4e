#include "net/dialer.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <memory>
#include <utility>
#include <vector>

namespace netfence::net {

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

std::string_view to_string(DialError e) noexcept {
  switch (e) {
    case DialError::none:
      return "none";
    case DialError::refused:
      return "refused";
    case DialError::unreachable_network:
      return "unreachable_network";
    case DialError::unreachable_host:
      return "unreachable_host";
    case DialError::timeout:
      return "timeout";
    case DialError::other:
      return "other";
  }
  return "other";
}

DialError classify_connect_error(const error_code& ec) noexcept {
  if (!ec) return DialError::none;
  if (ec.category() != boost::system::system_category()) {
    return ec == asio::error::timed_out ? DialError::timeout : DialError::other;
  }
  switch (ec.value()) {
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
      return DialError::refused;
    case ENETUNREACH:
    case ENETDOWN:
      return DialError::unreachable_network;
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case EADDRNOTAVAIL:
    case EAFNOSUPPORT:
      return DialError::unreachable_host;
    case ETIMEDOUT:
      return DialError::timeout;
    default:
      return DialError::other;
  }
}

HttpDialFailure to_http_failure(DialError e) noexcept {
  if (e == DialError::timeout) return {504, "upstream timeout"};
  return {502, "upstream failure"};
}

std::uint8_t to_socks5_reply(DialError e) noexcept {
  switch (e) {
    case DialError::none:
      return 0x00;
    case DialError::unreachable_network:
      return 0x03;
    case DialError::unreachable_host:
      return 0x04;
    case DialError::refused:
      return 0x05;
    case DialError::timeout:
      return 0x06;
    case DialError::other:
      return 0x01;
  }
  return 0x01;
}

tcp::endpoint to_endpoint(const core::IpAddress& address, std::uint16_t port) {
  const core::IpAddress plain = address.unmapped();
  if (plain.is_v4()) return {asio::ip::address_v4(plain.v4_value()), port};
  return {asio::ip::address_v6(plain.bytes()), port};
}

core::IpAddress from_asio(const asio::ip::address& address) noexcept {
  if (address.is_v4()) return core::IpAddress::v4(address.to_v4().to_uint());
  return core::IpAddress::v6(address.to_v6().to_bytes());
}

namespace {

// The winner of a dial, made ready for a tunnel.
DialResult connected(tcp::socket socket, const core::IpAddress& address, std::size_t index) {
  DialResult result;
  error_code ignored;
  // Tunnels carry interactive protocols (TLS handshakes, SSH): never delay small writes.
  socket.set_option(tcp::no_delay(true), ignored);
  result.socket.emplace(std::move(socket));
  result.error = DialError::none;
  result.address = address;
  result.index = index;
  return result;
}

// A dial that produced no connection: cancelled by the caller, out of budget, or failed with
// `last` (the last attempt's error).
DialResult not_connected(bool cancelled, bool timed_out, const error_code& last) {
  DialResult result;
  if (cancelled) {
    result.error = DialError::other;
    result.last_error = asio::error::operation_aborted;
  } else if (timed_out) {
    result.error = DialError::timeout;
    result.last_error = asio::error::timed_out;
  } else {
    result.error = classify_connect_error(last);
    if (result.error == DialError::none) result.error = DialError::other;
    result.last_error = last;
  }
  return result;
}

// The outcome of a finished non-blocking connect (SO_ERROR).
error_code connect_error(tcp::socket& socket) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  return err == 0 ? error_code{} : error_code(err, boost::system::system_category());
}

// One connection attempt. Its socket is on the caller's executor (the winner is handed over as
// is); its coroutine runs on the dial's strand.
struct Attempt {
  explicit Attempt(const asio::any_io_executor& ex) : socket(ex) {}
  tcp::socket socket;
  asio::cancellation_signal cancel;
  bool finished = false;
};

// Shared by dial_on_strand and the attempt coroutines (all on one strand). Attempts hold it by
// shared_ptr, so even a dial frame destroyed early (io_context torn down) leaves nothing dangling.
struct DialState {
  explicit DialState(const asio::any_io_executor& strand) : wake(strand) {}
  asio::steady_timer wake;  // cancelled by every finishing attempt: the dial loop's event
  std::vector<std::unique_ptr<Attempt>> attempts;
  std::size_t running = 0;
  bool failed_since_start = false;  // an attempt failed: start the next one without waiting
  std::optional<std::size_t> winner;
  bool closing = false;
  error_code last_error;
  ConnectStep connect;
};

asio::awaitable<void> run_attempt(std::shared_ptr<DialState> st, std::size_t index,
                                  tcp::endpoint endpoint) {
  co_await asio::this_coro::throw_if_cancelled(false);
  Attempt& at = *st->attempts[index];
  error_code ec = asio::error::operation_aborted;
  if (!st->closing) {
    if (st->connect) {
      ec = co_await st->connect(at.socket, endpoint);
    } else {
      auto [e] = co_await at.socket.async_connect(endpoint, asio::as_tuple(asio::use_awaitable));
      ec = e;
    }
  }
  if (!ec && !st->winner && !st->closing) {
    st->winner = index;
  } else {
    error_code ignored;
    at.socket.close(ignored);
    if (ec && ec != asio::error::operation_aborted) {
      st->last_error = ec;
      st->failed_since_start = true;
    }
  }
  at.finished = true;
  --st->running;
  st->wake.cancel();
}

asio::awaitable<DialResult> dial_on_strand(std::vector<core::IpAddress> addresses,
                                           std::uint16_t port, DialOptions options,
                                           asio::any_io_executor socket_executor) {
  co_await asio::this_coro::throw_if_cancelled(false);
  const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  auto strand = co_await asio::this_coro::executor;
  auto st = std::make_shared<DialState>(strand);
  st->connect = std::move(options.connect);

  DialResult result;
  if (addresses.empty()) {
    result.error = DialError::other;
    result.last_error = asio::error::invalid_argument;
    co_return result;
  }

  const auto deadline = Clock::now() + options.budget;
  auto next_start = Clock::now();
  std::size_t next = 0;
  bool timed_out = false;
  bool cancelled = false;
  for (;;) {
    if (st->winner) break;
    if (cs.cancelled() != asio::cancellation_type::none) {
      cancelled = true;
      break;
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    if (next < addresses.size() &&
        (st->running == 0 || st->failed_since_start || now >= next_start)) {
      st->failed_since_start = false;
      st->attempts.push_back(std::make_unique<Attempt>(socket_executor));
      ++st->running;
      asio::co_spawn(
          strand, run_attempt(st, next, to_endpoint(addresses[next], port)),
          asio::bind_cancellation_slot(st->attempts.back()->cancel.slot(), asio::detached));
      ++next;
      next_start = now + options.stagger;
      continue;
    }
    if (next >= addresses.size() && st->running == 0) break;  // every attempt failed
    st->wake.expires_at(next < addresses.size() ? std::min(deadline, next_start) : deadline);
    co_await st->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  // Stop the losers and join them: no attempt coroutine or socket outlives the dial.
  st->closing = true;
  for (auto& at : st->attempts) {
    if (!at->finished) at->cancel.emit(asio::cancellation_type::terminal);
  }
  while (st->running > 0) {
    st->wake.expires_at(Clock::time_point::max());
    co_await st->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  if (st->winner) {
    co_return connected(std::move(st->attempts[*st->winner]->socket), addresses[*st->winner],
                        *st->winner);
  }
  co_return not_connected(cancelled, timed_out, st->last_error);
}

// Connects `socket` (already open and non-blocking) to `endpoint` without the reactor when the
// kernel completes the handshake during connect(2), as it does for loopback and other local
// destinations: connect, a zero-timeout poll, SO_ERROR. Returns nullopt while still in progress.
std::optional<error_code> connect_now(tcp::socket& socket, const tcp::endpoint& endpoint) {
  const int fd = socket.native_handle();
  int rc;
  do {
    rc = ::connect(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size()));
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return error_code{};
  if (errno != EINPROGRESS) return error_code(errno, boost::system::system_category());
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, 0) != 1) return std::nullopt;
  return connect_error(socket);
}

// The common case (one vetted address, a real connect): no strand, no attempt coroutines, and
// no deadline timer at all when the connection is made at once; otherwise the wait for it races
// the deadline on the caller's executor. A tunnel set-up is a handful of system calls; the
// general dial's machinery (a strand, two co_spawns, a shared state) cost about as much
// user-space time again (docs/benchmarks.md, CONNECT set-up).
asio::awaitable<DialResult> dial_one(core::IpAddress address, std::uint16_t port,
                                     std::chrono::milliseconds budget) {
  auto ex = co_await asio::this_coro::executor;
  const tcp::endpoint endpoint = to_endpoint(address, port);
  tcp::socket socket(ex);
  error_code ec;
  socket.open(endpoint.protocol(), ec);
  if (!ec) socket.native_non_blocking(true, ec);
  std::optional<error_code> done;
  if (ec) {
    done = ec;
  } else {
    done = connect_now(socket, endpoint);
  }
  bool timed_out = false;
  if (!done) {
    asio::steady_timer deadline(ex, budget);
    auto [order, wait_ec, timer_ec] =
        co_await asio::experimental::make_parallel_group(
            socket.async_wait(tcp::socket::wait_write, asio::deferred),
            deadline.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    if (order[0] == 0 && !wait_ec) {
      done = connect_error(socket);
    } else if (order[0] == 1 && !timer_ec) {
      timed_out = true;
    } else {
      done = wait_ec ? wait_ec : error_code(asio::error::operation_aborted);
    }
  }
  if (done && !*done) co_return connected(std::move(socket), address, 0);
  socket.close(ec);
  const bool cancelled = done && *done == asio::error::operation_aborted;
  co_return not_connected(cancelled, timed_out, done.value_or(error_code{}));
}

asio::awaitable<DialResult> dial_impl(std::vector<core::IpAddress> addresses, std::uint16_t port,
                                      DialOptions options) {
  if (addresses.size() == 1 && !options.connect) {
    co_return co_await dial_one(addresses.front(), port, options.budget);
  }
  // The attempts and the dial loop share state through a strand of the caller's executor, so
  // this is safe on a multi-threaded io_context; co_spawn forwards our cancellation to it.
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::co_spawn(
      asio::make_strand(ex), dial_on_strand(std::move(addresses), port, std::move(options), ex),
      asio::use_awaitable);
}

}  // namespace

asio::awaitable<DialResult> dial(std::span<const core::IpAddress> addresses, std::uint16_t port,
                                 DialOptions options) {
  // Not a coroutine: the addresses are copied now, so the caller's span may die right away.
  return dial_impl(std::vector<core::IpAddress>(addresses.begin(), addresses.end()), port,
                   std::move(options));
}

asio::awaitable<DialResult> dial(std::span<const core::IpAddress> addresses, std::uint16_t port,
                                 std::chrono::milliseconds budget,
                                 std::chrono::milliseconds stagger) {
  DialOptions options;
  options.budget = budget;
  options.stagger = stagger;
  return dial(addresses, port, std::move(options));
}

}  // namespace netfence::net
