// Small coroutine helpers shared by the front ends: read with a deadline, write everything.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace netfence::net {

/// Reads more bytes from `stream` into `buf` (appending at most `chunk`) before `deadline`.
/// Returns the error: timed_out for the deadline, eof at the end of the stream.
///
/// The read races the deadline in a parallel group of deferred operations rather than with the
/// awaitable `||`, which co_spawns a coroutine per side: this runs for every request head and
/// response read, and the group costs a fraction of that (docs/benchmarks.md).
template <class Stream>
boost::asio::awaitable<boost::system::error_code> read_more(
    Stream& stream, std::string& buf, std::chrono::steady_clock::time_point deadline,
    std::size_t chunk = 16 * 1024) {
  namespace asio = boost::asio;
  const std::size_t old = buf.size();
  buf.resize(old + chunk);
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  auto [order, ec, n, timer_ec] =
      co_await asio::experimental::make_parallel_group(
          stream.async_read_some(asio::buffer(buf.data() + old, chunk), asio::deferred),
          timer.async_wait(asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  buf.resize(old + n);
  if (n > 0) co_return boost::system::error_code{};  // bytes count even if the deadline hit
  if (order[0] == 1 && !timer_ec) co_return asio::error::timed_out;
  co_return ec ? ec : boost::system::error_code(asio::error::eof);
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code> write_all(Stream& stream, std::string_view data) {
  namespace asio = boost::asio;
  auto [ec, n] =
      co_await asio::async_write(stream, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

/// Owns what it writes. g++ 12 mishandles temporaries that a co_await expression binds to a
/// reference (seen under ASan: a double free of such a temporary), so call sites never pass a
/// materialised temporary to a coroutine: a prvalue std::string initialises this parameter
/// directly.
template <class Stream>
boost::asio::awaitable<boost::system::error_code> send(Stream& stream, std::string data) {
  namespace asio = boost::asio;
  auto [ec, n] =
      co_await asio::async_write(stream, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

}  // namespace netfence::net
