// Small coroutine helpers shared by the front ends: read with a deadline, write everything.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace netfence::net {

/// Reads more bytes from `stream` into `buf` (appending at most `chunk`) before `deadline`.
/// Returns the error: timed_out for the deadline, eof at the end of the stream.
template <class Stream>
boost::asio::awaitable<boost::system::error_code> read_more(
    Stream& stream, std::string& buf, std::chrono::steady_clock::time_point deadline,
    std::size_t chunk = 16 * 1024) {
  namespace asio = boost::asio;
  using namespace boost::asio::experimental::awaitable_operators;
  constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
  const std::size_t old = buf.size();
  buf.resize(old + chunk);
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  auto r = co_await (stream.async_read_some(asio::buffer(buf.data() + old, chunk), tuple) ||
                     timer.async_wait(tuple));
  if (r.index() == 1) {
    buf.resize(old);
    co_return asio::error::timed_out;
  }
  auto [ec, n] = std::get<0>(r);
  buf.resize(old + n);
  if (n > 0) co_return boost::system::error_code{};
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
