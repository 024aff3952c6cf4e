// Byte relay between two connected streams: CONNECT tunnels, SOCKS5 CONNECT, websocket upgrades
// and (over TLS streams) the MITM path (SPEC §8.4, §9.3, §19; house rule B.7-7).
//
// Contract, for every entry point below:
//  - Optional initial bytes are written first: `to_b` to b before anything is pumped a→b (what
//    the parser buffered after the CONNECT head), `to_a` to a before b→a (e.g. a 101 head).
//  - Two pumps, joined with `&&`: each copies until EOF on its input, then shuts down the send
//    side of its output (half-close propagates) while the other direction keeps going.
//  - An error (reset, EPIPE) in either direction ends both. So does `idle_timeout` without
//    traffic in EITHER direction (one shared deadline, refreshed by any byte), an external
//    RelayControl::stop(), or cancelling the awaiting coroutine.
//  - When relay() returns, both streams have been closed, every pump has finished, and no
//    operation on either stream is pending. Nothing throws except std::bad_alloc.
//  - Runs on an internal strand of the caller's executor, so a multi-threaded io_context is fine.
//
// Linux zero copy: for two sockets the relay uses splice(2) (socket → pipe → socket, one pipe per
// direction), unless RelayOptions::allow_splice is false, the kernel refuses (EINVAL/ENOSYS: then
// that direction falls back to copying), or SIGPIPE has its default action (splice cannot pass
// MSG_NOSIGNAL, so a write to a reset peer would kill the process; call ignore_sigpipe() once at
// start-up). Idle tunnels hold no user-space buffer (SPEC §19: ≤ 16 KiB per idle tunnel).
#pragma once

#include <algorithm>
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
  /// Size of the copy buffer of the portable path, allocated only while data moves (sockets)
  /// or for the relay's lifetime (generic streams such as TLS).
  std::size_t buffer_size = 16 * 1024;
  /// The caller's executor runs on one thread only (an io_context run by one thread, as every
  /// netfence session is): the relay then needs no strand of its own, which saves a few KiB per
  /// idle tunnel (SPEC §19). Leave false on a multi-threaded executor.
  bool single_threaded_executor = false;
};

/// The socket form used by CONNECT and SOCKS5 (splice on Linux). Compiled once in relay.cpp.
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

/// One direction's pipe for splice(2), created lazily and closed when idle or done.
class Pipe {
 public:
  Pipe() = default;
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() { close(); }
  bool is_open() const noexcept { return read_fd_ >= 0; }
  boost::system::error_code open() noexcept;
  void close() noexcept;
  int read_fd() const noexcept { return read_fd_; }
  int write_fd() const noexcept { return write_fd_; }

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

/// One splice(2) call: bytes moved (0 with no error = EOF on a socket input) or an error
/// (would_block included).
struct SpliceResult {
  std::size_t bytes = 0;
  boost::system::error_code error;
};
SpliceResult splice_in(int socket_fd, Pipe& pipe, std::size_t max) noexcept;
SpliceResult splice_out(Pipe& pipe, int socket_fd, std::size_t max) noexcept;
/// Reads what is left in the pipe into `buffer` (used when splice_out is refused).
SpliceResult drain_pipe(Pipe& pipe, char* buffer, std::size_t size) noexcept;
/// splice(2) is refused for this pair of descriptors: fall back to copying.
bool splice_unsupported(const boost::system::error_code& ec) noexcept;
/// SIGPIPE is not at its default (terminating) action.
bool sigpipe_handled() noexcept;

inline constexpr std::size_t kSpliceChunk = 64 * 1024;
/// A pump that waited longer than this for input frees its pipe/buffer before waiting again:
/// tunnels that are mostly idle hold no relay memory, busy ones keep theirs.
inline constexpr std::chrono::milliseconds kReleaseAfter{1000};

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

/// Copies one direction between two sockets: waits for readability, then moves the bytes with
/// splice(2) through this direction's pipe (or, when splicing is off or refused, with a
/// non-blocking read into a buffer that exists only while data moves).
template <class From, class To>
boost::asio::awaitable<void> socket_pump(std::shared_ptr<RelayCore> core, From& from, To& to,
                                         std::string initial, bool use_splice,
                                         std::size_t buffer_size,
                                         std::uint64_t RelayStats::*counter) {
  namespace asio = boost::asio;
  using Clock = std::chrono::steady_clock;
  co_await asio::this_coro::throw_if_cancelled(false);
  const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  if (!co_await write_initial(*core, cs, to, initial, counter)) co_return;

  Pipe pipe;
  std::unique_ptr<char[]> buffer;
  // After a productive read the socket probably has more: try again before paying for a wait.
  bool maybe_readable = false;
  Clock::duration last_wait{};
  auto fail = [&](const boost::system::error_code& ec) { core->finish(RelayEnd::error, ec); };

  for (;;) {
    if (should_stop(*core, cs)) co_return;
    if (!maybe_readable) {
      if (last_wait > kReleaseAfter) {
        pipe.close();
        buffer.reset();
      }
      const auto started = Clock::now();
      auto [ec] = co_await from.async_wait(From::wait_read, asio::as_tuple(asio::use_awaitable));
      if (should_stop(*core, cs)) co_return;
      if (ec) {
        fail(ec);
        co_return;
      }
      last_wait = Clock::now() - started;
    }

    if (use_splice) {
      if (!pipe.is_open()) {
        if (auto ec = pipe.open()) {
          fail(ec);
          co_return;
        }
      }
      const SpliceResult in = splice_in(from.native_handle(), pipe, kSpliceChunk);
      if (in.error == asio::error::would_block) {
        maybe_readable = false;
        continue;
      }
      if (in.error && splice_unsupported(in.error)) {
        use_splice = false;  // the pipe is empty: nothing to recover
        pipe.close();
        maybe_readable = true;
        continue;
      }
      if (in.error) {
        fail(in.error);
        co_return;
      }
      if (in.bytes == 0) {
        RelayStreamTraits<To>::shutdown_send(to);
        co_return;
      }
      core->touch();
      core->stats.spliced = true;
      std::size_t left = in.bytes;
      while (left > 0) {
        const SpliceResult out = splice_out(pipe, to.native_handle(), left);
        if (out.error == asio::error::would_block) {
          auto [ec] = co_await to.async_wait(To::wait_write, asio::as_tuple(asio::use_awaitable));
          if (should_stop(*core, cs)) co_return;
          if (ec) {
            fail(ec);
            co_return;
          }
          continue;
        }
        if (out.error && splice_unsupported(out.error)) {
          // Recover the bytes already in the pipe, then copy from now on.
          use_splice = false;
          if (!buffer) buffer = std::make_unique<char[]>(buffer_size);
          while (left > 0) {
            const SpliceResult got = drain_pipe(pipe, buffer.get(), std::min(left, buffer_size));
            if (got.error) {
              fail(got.error);
              co_return;
            }
            auto [wec, written] = co_await asio::async_write(
                to, asio::buffer(buffer.get(), got.bytes), asio::as_tuple(asio::use_awaitable));
            core->stats.*counter += written;
            core->touch();
            if (should_stop(*core, cs)) co_return;
            if (wec) {
              fail(wec);
              co_return;
            }
            left -= got.bytes;
          }
          pipe.close();
          break;
        }
        if (out.error) {
          fail(out.error);
          co_return;
        }
        left -= out.bytes;
        core->stats.*counter += out.bytes;
        core->touch();
      }
      maybe_readable = true;
      continue;
    }

    if (!buffer) buffer = std::make_unique<char[]>(buffer_size);
    boost::system::error_code ec;
    const std::size_t n = from.read_some(asio::buffer(buffer.get(), buffer_size), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      maybe_readable = false;
      continue;
    }
    if (ec == asio::error::eof) {
      RelayStreamTraits<To>::shutdown_send(to);
      co_return;
    }
    if (ec) {
      fail(ec);
      co_return;
    }
    core->touch();
    auto [wec, written] = co_await asio::async_write(to, asio::buffer(buffer.get(), n),
                                                     asio::as_tuple(asio::use_awaitable));
    core->stats.*counter += written;
    core->touch();
    if (should_stop(*core, cs)) co_return;
    if (wec) {
      fail(wec);
      co_return;
    }
    maybe_readable = true;
  }
}

template <class From, class To>
boost::asio::awaitable<void> pump(std::shared_ptr<RelayCore> core, From& from, To& to,
                                  std::string initial, const RelayOptions& options, bool splice_ok,
                                  std::uint64_t RelayStats::*counter) {
  if constexpr (WaitableSocket<From> && WaitableSocket<To>) {
    return socket_pump(std::move(core), from, to, std::move(initial), splice_ok,
                       options.buffer_size, counter);
  } else {
    return stream_pump(std::move(core), from, to, std::move(initial), options.buffer_size, counter);
  }
}

template <class StreamA, class StreamB>
boost::asio::awaitable<RelayStats> relay_on_strand(StreamA& a, StreamB& b, RelayOptions options) {
  namespace asio = boost::asio;
  using namespace boost::asio::experimental::awaitable_operators;
  co_await asio::this_coro::throw_if_cancelled(false);
  auto strand = co_await asio::this_coro::executor;
  auto core = std::make_shared<RelayCore>(RelayCore::Executor(strand), options.idle_timeout);

  bool splice_ok = false;
  if constexpr (WaitableSocket<StreamA> && WaitableSocket<StreamB>) {
    // The waits-then-read design needs non-blocking descriptors (splice and read_some must
    // never block the thread).
    boost::system::error_code ec;
    a.non_blocking(true, ec);
    if (!ec) b.non_blocking(true, ec);
    if (ec) core->finish(RelayEnd::error, ec);
    splice_ok = options.allow_splice && sigpipe_handled();
  }
  if (!core->ending() && !core->watch(options.control)) core->finish(RelayEnd::stopped);

  if (!core->ending()) {
    co_await (
        (pump(core, a, b, std::move(options.to_b), options, splice_ok, &RelayStats::a_to_b) &&
         pump(core, b, a, std::move(options.to_a), options, splice_ok, &RelayStats::b_to_a)) ||
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
  return detail::relay_entry(a, b, std::move(options));
}

}  // namespace netfence::net
