// Byte relay between two connected streams: CONNECT tunnels, SOCKS5 CONNECT, websocket upgrades
// and (over TLS streams) the MITM path (SPEC §8.4, §9.3, §19; house rule B.7-7).
//
// Contract, for every entry point below:
//  - Optional initial bytes are written first: `to_b` to b before anything is pumped a→b (what
//    the parser buffered after the CONNECT head), `to_a` to a before b→a (e.g. a 101 head).
//  - Two directions, each copying until EOF on its input, then shutting down the send side of
//    its output (half-close propagates) while the other direction keeps going.
//  - An error (reset, EPIPE) in either direction ends both. So does `idle_timeout` without
//    traffic in EITHER direction (one shared deadline, refreshed by any byte), an external
//    RelayControl::stop(), or cancelling the awaiting coroutine.
//  - When the relay reports its end, both streams have been closed and no operation on either
//    stream is pending. Nothing throws except std::bad_alloc.
//  - A multi-threaded io_context is fine (the relay then serialises itself on a strand).
//
// Two sockets (CONNECT, SOCKS5, plain websocket upgrades) go to a callback-driven engine
// (socket_relay.cpp): start_relay() takes ownership of the sockets and returns at once, so an
// established tunnel holds no coroutine frames — only the engine's small object, the sockets and,
// while bytes move, a pipe (SPEC §19: memory per idle tunnel). Readiness is a one-byte MSG_PEEK
// receive, which also recognises EOF without creating a pipe. Bytes move with splice(2)
// (socket → pipe → socket, one pipe per direction), unless RelayOptions::allow_splice is false,
// the kernel refuses (EINVAL/ENOSYS: that direction then copies), or SIGPIPE has its default
// action (splice cannot pass MSG_NOSIGNAL, so a write to a reset peer would kill the process;
// call ignore_sigpipe() once at start-up). Other stream pairs (TLS) use the coroutine pumps below.
#pragma once

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace netfence::net {

using tcp = boost::asio::ip::tcp;

/// Why a relay ended. With several causes the first one observed wins.
enum class RelayEnd : std::uint8_t {
  eof,           ///< both directions reached EOF (clean, possibly half-closed in turn)
  idle_timeout,  ///< no traffic in either direction for idle_timeout
  error,         ///< a read or write failed (reset, EPIPE, ...): RelayStats::error says which
  stopped,       ///< RelayControl::stop() or cancellation of the awaiting coroutine
};

std::string_view to_string(RelayEnd e) noexcept;

struct RelayStats {
  std::uint64_t a_to_b = 0;  ///< bytes delivered to b, initial `to_b` bytes included
  std::uint64_t b_to_a = 0;  ///< bytes delivered to a, initial `to_a` bytes included
  RelayEnd end = RelayEnd::eof;
  boost::system::error_code error;  ///< the failure for RelayEnd::error
  bool spliced = false;             ///< at least one chunk went through splice(2)
};

/// An external stop button for relays, shared between the relay and whoever may need to end it
/// (mode switch to limited, `enabled = false`, shutdown). One control may serve many relays.
/// stop() may be called from any thread, before, during or after a relay.
class RelayControl {
 public:
  /// Ends every relay using this control, now and in the future. Idempotent.
  void stop();
  bool stopped() const;

  /// Internal to the relay: runs `on_stop` (from the stopping thread, under a lock, so it must
  /// only post) when stop() is called while the subscription lives. Returns an empty
  /// subscription if already stopped.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& other) noexcept;
    Subscription& operator=(Subscription&& other) noexcept;
    ~Subscription();
    bool active() const noexcept { return control_ != nullptr; }

   private:
    friend class RelayControl;
    std::shared_ptr<RelayControl> control_;
    std::list<std::function<void()>>::iterator it_;
  };
  static Subscription subscribe(const std::shared_ptr<RelayControl>& control,
                                std::function<void()> on_stop);

 private:
  mutable std::mutex mutex_;
  bool stopped_ = false;
  std::list<std::function<void()>> on_stop_;
};

/// A process-wide cap on enlarged (1 MiB) splice pipes. Pipe pages count against the user's
/// pipe-user-pages-soft limit (64 MiB by default, shared by all of the user's processes); past it
/// the kernel gives every new pipe of that user a single page, so enlarged pipes are rationed
/// and returned as soon as their direction waits for input.
class PipeBudget {
 public:
  explicit PipeBudget(int pipes) : left_(pipes) {}
  bool take() noexcept {
    int n = left_.load(std::memory_order_relaxed);
    while (n > 0 && !left_.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
    }
    return n > 0;
  }
  void give() noexcept { left_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<int> left_;
};

struct RelayOptions {
  // Deliberately not an aggregate: g++ 12 relocates an aggregate temporary bitwise when it is
  // created inside a co_await expression (`co_await relay(a, b, {.to_b = s})`), leaving its
  // short strings pointing at the old storage. Build the options in a named object instead.
  RelayOptions() = default;

  /// Ends the relay after this long without a byte in either direction; zero = never.
  std::chrono::milliseconds idle_timeout{0};
  /// Written to b before pumping a→b (bytes the client sent after the CONNECT head).
  std::string to_b;
  /// Written to a before pumping b→a.
  std::string to_a;
  /// Optional external stop.
  std::shared_ptr<RelayControl> control;
  /// false forces the portable copying path (tests, debugging).
  bool allow_splice = true;
  /// Enlarged splice pipes for sustained transfers (two sockets only); null = 64 KiB pipes.
  std::shared_ptr<PipeBudget> pipe_budget;
  /// Size of the copy buffer of the portable path, allocated only while data moves (sockets)
  /// or for the relay's lifetime (generic streams such as TLS).
  std::size_t buffer_size = 16 * 1024;
  /// The caller's executor runs on one thread only (an io_context run by one thread, as every
  /// netfence session is): the relay then needs no strand of its own, which saves a few KiB per
  /// idle tunnel (SPEC §19). Leave false on a multi-threaded executor.
  bool single_threaded_executor = false;
};

/// Called once when a started relay ends, on the relay's executor, after both sockets closed.
using RelayDone = std::function<void(const RelayStats&)>;

/// The socket form used by CONNECT, SOCKS5 and websocket upgrades: relays between two connected
/// sockets of one io_context and returns at once; the relay owns the sockets from here on.
/// `done` (may be empty) gets the outcome. Lives in socket_relay.cpp.
void start_relay(tcp::socket a, tcp::socket b, RelayOptions options, RelayDone done);

/// start_relay() for a coroutine: moves the sockets out of `a` and `b` (left closed) and returns
/// the outcome when the relay ends; cancelling the awaiting coroutine stops the relay.
boost::asio::awaitable<RelayStats> relay(tcp::socket& a, tcp::socket& b, RelayOptions options);

/// Sets SIGPIPE to SIG_IGN (process-wide; call once from the composition root) so the splice
/// path can be used. Without it relay() copies through user space with MSG_NOSIGNAL.
void ignore_sigpipe() noexcept;

/// How the relay half-closes, closes and recognises EOF on a stream type. The defaults use
/// `shutdown(send)`/`close()` on the stream or, failing that, on its `lowest_layer()`, and treat
/// only asio::error::eof as EOF. Specialise for streams that need more (a TLS stream would also
/// accept ssl::error::stream_truncated as EOF).
template <class Stream>
struct RelayStreamTraits {
  static void shutdown_send(Stream& s) noexcept {
    boost::system::error_code ec;
    if constexpr (requires { s.shutdown(tcp::socket::shutdown_send, ec); }) {
      s.shutdown(tcp::socket::shutdown_send, ec);
    } else if constexpr (requires { s.lowest_layer().shutdown(tcp::socket::shutdown_send, ec); }) {
      s.lowest_layer().shutdown(tcp::socket::shutdown_send, ec);
    }
  }
  static void close(Stream& s) noexcept {
    boost::system::error_code ec;
    if constexpr (requires { s.close(ec); }) {
      s.close(ec);
    } else if constexpr (requires { s.lowest_layer().close(ec); }) {
      s.lowest_layer().close(ec);
    }
  }
  static bool is_eof(const boost::system::error_code& ec) noexcept {
    return ec == boost::asio::error::eof;
  }
};

/// The generic form: any two AsyncReadStream + AsyncWriteStream types (e.g. an ssl::stream and a
/// tcp::socket). Two sockets use splice; anything else copies through a buffer.
template <class StreamA, class StreamB>
boost::asio::awaitable<RelayStats> relay_streams(StreamA& a, StreamB& b, RelayOptions options);

// ------------------------------------------------------------------------------------------------
// Implementation details.

namespace detail {

/// Sockets we can wait on and splice from: basic_stream_socket and friends (not TLS streams, whose
/// readable bytes may sit inside the TLS engine rather than in the kernel).
template <class S>
concept WaitableSocket = requires(S& s, boost::system::error_code& ec) {
  { s.native_handle() } -> std::convertible_to<int>;
  s.non_blocking(true, ec);
  s.read_some(boost::asio::mutable_buffer(), ec);
  s.async_wait(S::wait_read, boost::asio::use_awaitable);
};

/// State shared by the two pumps and the idle watchdog of one relay; touched only on the
/// relay's strand. Held by shared_ptr so a late stop() (posted from another thread) is safe.
class RelayCore : public std::enable_shared_from_this<RelayCore> {
 public:
  using Executor = boost::asio::any_io_executor;  // a strand, or a one-thread io_context's
  RelayCore(Executor ex, std::chrono::milliseconds idle_timeout)
      : executor_(std::move(ex)), idle_timeout_(idle_timeout), timer_(executor_) {}

  const Executor& executor() const noexcept { return executor_; }
  void touch() noexcept { last_activity_ = std::chrono::steady_clock::now(); }
  bool ending() const noexcept { return ended_; }
  /// Records the first reason the relay ends and wakes the watchdog, which then makes the
  /// `||` cancel both pumps.
  void finish(RelayEnd why, boost::system::error_code ec = {}) noexcept;
  /// Returns when the idle deadline passes or finish() was called; cancellable.
  static boost::asio::awaitable<void> watchdog(std::shared_ptr<RelayCore> self);
  /// Subscribes to `control` (if any); false if it is already stopped.
  bool watch(const std::shared_ptr<RelayControl>& control);

  RelayStats stats;

 private:
  Executor executor_;
  std::chrono::milliseconds idle_timeout_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();
  bool ended_ = false;
  RelayControl::Subscription subscription_;
};

/// True when a pump should return without reporting anything: the relay is ending or the pump
/// itself was cancelled (the `||` lost to the watchdog, or the caller cancelled). `state` is the
/// pump's cancellation state, a handle that sees later cancellations.
inline bool should_stop(const RelayCore& core,
                        const boost::asio::cancellation_state& state) noexcept {
  return core.ending() || state.cancelled() != boost::asio::cancellation_type::none;
}

template <class To>
boost::asio::awaitable<bool> write_initial(RelayCore& core,
                                           const boost::asio::cancellation_state& cs, To& to,
                                           std::string& initial,
                                           std::uint64_t RelayStats::*counter) {
  if (initial.empty()) {
    // A moved-in read buffer may be empty yet hold its capacity (16 KiB): give it back now,
    // or every idle tunnel keeps it (SPEC §19: ≤ 16 KiB per idle tunnel).
    std::string().swap(initial);
    co_return true;
  }
  auto [ec, n] = co_await boost::asio::async_write(
      to, boost::asio::buffer(initial), boost::asio::as_tuple(boost::asio::use_awaitable));
  core.stats.*counter += n;
  core.touch();
  std::string().swap(initial);  // release the memory before a possibly long relay
  if (ec) {
    if (!should_stop(core, cs)) core.finish(RelayEnd::error, ec);
    co_return false;
  }
  co_return true;
}

/// Copies one direction of a generic stream pair through a buffer held for the pump's lifetime.
template <class From, class To>
boost::asio::awaitable<void> stream_pump(std::shared_ptr<RelayCore> core, From& from, To& to,
                                         std::string initial, std::size_t buffer_size,
                                         std::uint64_t RelayStats::*counter) {
  namespace asio = boost::asio;
  co_await asio::this_coro::throw_if_cancelled(false);
  const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  if (!co_await write_initial(*core, cs, to, initial, counter)) co_return;
  auto buffer = std::make_unique<char[]>(buffer_size);
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buffer.get(), buffer_size),
                                                 asio::as_tuple(asio::use_awaitable));
    if (should_stop(*core, cs)) co_return;
    if (n > 0) {
      core->touch();
      auto [wec, written] = co_await asio::async_write(to, asio::buffer(buffer.get(), n),
                                                       asio::as_tuple(asio::use_awaitable));
      core->stats.*counter += written;
      core->touch();
      if (should_stop(*core, cs)) co_return;
      if (wec) {
        core->finish(RelayEnd::error, wec);
        co_return;
      }
    }
    if (ec) {
      if (RelayStreamTraits<From>::is_eof(ec)) {
        RelayStreamTraits<To>::shutdown_send(to);
      } else {
        core->finish(RelayEnd::error, ec);
      }
      co_return;
    }
  }
}

template <class StreamA, class StreamB>
boost::asio::awaitable<RelayStats> relay_on_strand(StreamA& a, StreamB& b, RelayOptions options) {
  namespace asio = boost::asio;
  using namespace boost::asio::experimental::awaitable_operators;
  co_await asio::this_coro::throw_if_cancelled(false);
  auto strand = co_await asio::this_coro::executor;
  auto core = std::make_shared<RelayCore>(RelayCore::Executor(strand), options.idle_timeout);

  if (!core->ending() && !core->watch(options.control)) core->finish(RelayEnd::stopped);

  if (!core->ending()) {
    co_await ((stream_pump(core, a, b, std::move(options.to_b), options.buffer_size,
                           &RelayStats::a_to_b) &&
               stream_pump(core, b, a, std::move(options.to_a), options.buffer_size,
                           &RelayStats::b_to_a)) ||
              RelayCore::watchdog(core));
  }
  // Both pumps have returned. Freeze the outcome (a late stop() must not rewrite it).
  auto state = co_await asio::this_coro::cancellation_state;
  core->finish(state.cancelled() != asio::cancellation_type::none ? RelayEnd::stopped
                                                                  : RelayEnd::eof);
  RelayStreamTraits<StreamA>::close(a);
  RelayStreamTraits<StreamB>::close(b);
  co_return core->stats;
}

template <class StreamA, class StreamB>
boost::asio::awaitable<RelayStats> relay_entry(StreamA& a, StreamB& b, RelayOptions options) {
  namespace asio = boost::asio;
  options.buffer_size = std::max<std::size_t>(options.buffer_size, 1024);
  // A strand of our own executor: the pumps and the watchdog share state without locks even on
  // a multi-threaded io_context, and co_spawn forwards our cancellation to it.
  if (options.single_threaded_executor)
    co_return co_await relay_on_strand(a, b, std::move(options));
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::co_spawn(asio::make_strand(ex),
                                    relay_on_strand(a, b, std::move(options)), asio::use_awaitable);
}

}  // namespace detail

template <class StreamA, class StreamB>
boost::asio::awaitable<RelayStats> relay_streams(StreamA& a, StreamB& b, RelayOptions options) {
  if constexpr (std::is_same_v<StreamA, tcp::socket> && std::is_same_v<StreamB, tcp::socket>) {
    return relay(a, b, std::move(options));
  } else {
    return detail::relay_entry(a, b, std::move(options));
  }
}

}  // namespace netfence::net
