// Relay (SPEC §8.4, §19; house rule B.7-7) on loopback: client ⇄ a [relay] b ⇄ server.
// Every behaviour runs three ways: splice(2), the copying socket path, and the generic stream
// template (a wrapped in a minimal stream adaptor, as a TLS stream would be).
#include "net/relay.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net_test_util.hpp"

namespace netfence::net {
namespace {

using namespace std::chrono_literals;
using test::connected_pair;
using test::open_fds;
using test::warm_up;
namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// splice(2) needs SIGPIPE ignored, as the composition root does at start-up.
const bool kSigpipeIgnored = (ignore_sigpipe(), true);

/// The smallest AsyncReadStream/AsyncWriteStream that is not a socket: forces the generic,
/// buffered template path (what relay_streams(ssl_stream, socket) instantiates).
class PlainStream {
 public:
  using executor_type = tcp::socket::executor_type;
  explicit PlainStream(tcp::socket socket) : socket_(std::move(socket)) {}
  executor_type get_executor() { return socket_.get_executor(); }
  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }
  tcp::socket& lowest_layer() { return socket_; }

 private:
  tcp::socket socket_;
};
static_assert(!detail::WaitableSocket<PlainStream>);
static_assert(detail::WaitableSocket<tcp::socket>);

enum class Mode { splice, copy, generic };

std::string mode_name(const ::testing::TestParamInfo<Mode>& info) {
  switch (info.param) {
    case Mode::splice:
      return "Splice";
    case Mode::copy:
      return "Copy";
    case Mode::generic:
      return "GenericStream";
  }
  return "Unknown";
}

std::string pattern(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = static_cast<char>((i * seed + (i >> 10)) & 0xff);
  }
  return out;
}

asio::awaitable<RelayStats> run_relay(Mode mode, tcp::socket& a, tcp::socket& b,
                                      RelayOptions options) {
  if (mode == Mode::generic) {
    PlainStream wrapped(std::move(a));
    co_return co_await relay_streams(wrapped, b, std::move(options));
  }
  options.allow_splice = mode == Mode::splice;
  co_return co_await relay(a, b, std::move(options));
}

/// Writes `data` (then optionally half-closes); records the error.
asio::awaitable<void> send(tcp::socket& s, std::string data, bool then_shutdown, error_code* out) {
  auto [ec, n] =
      co_await asio::async_write(s, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
  if (!ec && then_shutdown) s.shutdown(tcp::socket::shutdown_send, ec);
  if (out) *out = ec;
}

/// Reads until EOF or error into `out`; `done` records the final error (eof = clean).
asio::awaitable<void> receive(tcp::socket& s, std::string* out, error_code* done) {
  char buf[8192];
  for (;;) {
    auto [ec, n] =
        co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    out->append(buf, n);
    if (ec) {
      *done = ec;
      co_return;
    }
  }
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

/// client ⇄ a [relay] b ⇄ server, all on one io_context.
struct Rig {
  explicit Rig(asio::io_context& ctx) : Rig(connected_pair(ctx), connected_pair(ctx)) {}
  Rig(std::pair<tcp::socket, tcp::socket> left, std::pair<tcp::socket, tcp::socket> right)
      : client(std::move(left.first)),
        a(std::move(left.second)),
        b(std::move(right.first)),
        server(std::move(right.second)) {}
  tcp::socket client, a, b, server;
  std::optional<RelayStats> stats;

  void start(Mode mode, RelayOptions options = {}) {
    asio::co_spawn(a.get_executor(), run_relay(mode, a, b, std::move(options)),
                   [this](std::exception_ptr e, RelayStats s) {
                     if (e) std::rethrow_exception(e);
                     stats = s;
                   });
  }
};

class RelayTest : public ::testing::TestWithParam<Mode> {
 protected:
  asio::io_context ctx;
  Mode mode() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Paths, RelayTest,
                         ::testing::Values(Mode::splice, Mode::copy, Mode::generic), mode_name);

TEST_P(RelayTest, OneMebibyteEachWaySimultaneously) {
  Rig rig(ctx);
  const std::string up = pattern(1 << 20, 7), down = pattern(1 << 20, 13);
  std::string got_up, got_down;
  error_code up_done, down_done, e1, e2;
  rig.start(mode());
  asio::co_spawn(ctx, send(rig.client, up, true, &e1), asio::detached);
  asio::co_spawn(ctx, send(rig.server, down, true, &e2), asio::detached);
  asio::co_spawn(ctx, receive(rig.server, &got_up, &up_done), asio::detached);
  asio::co_spawn(ctx, receive(rig.client, &got_down, &down_done), asio::detached);
  ctx.run_for(10s);
  ASSERT_TRUE(rig.stats);
  EXPECT_FALSE(e1);
  EXPECT_FALSE(e2);
  EXPECT_EQ(up_done, asio::error::eof);
  EXPECT_EQ(down_done, asio::error::eof);
  EXPECT_TRUE(got_up == up) << got_up.size();
  EXPECT_TRUE(got_down == down) << got_down.size();
  EXPECT_EQ(rig.stats->a_to_b, up.size());
  EXPECT_EQ(rig.stats->b_to_a, down.size());
  EXPECT_EQ(rig.stats->end, RelayEnd::eof);
  EXPECT_EQ(rig.stats->spliced, mode() == Mode::splice);
  EXPECT_FALSE(rig.a.is_open());
  EXPECT_FALSE(rig.b.is_open());
}

asio::awaitable<void> request_reply_server(tcp::socket& s, std::string* request, error_code* done) {
  // Reads the whole request (until the client's half-close), then answers and closes.
  co_await receive(s, request, done);
  co_await send(s, "reply to " + *request, false, nullptr);
  error_code ec;
  s.close(ec);
}

TEST_P(RelayTest, HalfCloseFromClientStillDeliversTheReply) {
  Rig rig(ctx);
  std::string request, reply;
  error_code server_done, client_done;
  rig.start(mode());
  asio::co_spawn(ctx, send(rig.client, "question", true, nullptr), asio::detached);
  asio::co_spawn(ctx, request_reply_server(rig.server, &request, &server_done), asio::detached);
  asio::co_spawn(ctx, receive(rig.client, &reply, &client_done), asio::detached);
  ctx.run_for(10s);
  EXPECT_EQ(request, "question");
  EXPECT_EQ(server_done, asio::error::eof);
  EXPECT_EQ(reply, "reply to question");
  EXPECT_EQ(client_done, asio::error::eof);
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::eof);
  EXPECT_EQ(rig.stats->a_to_b, 8u);
  EXPECT_EQ(rig.stats->b_to_a, 17u);
}

TEST_P(RelayTest, HalfCloseFromServerStillDeliversTheClientsAnswer) {
  Rig rig(ctx);
  std::string greeting, answer;
  error_code client_done, server_done;
  rig.start(mode());
  asio::co_spawn(ctx, send(rig.server, "banner", true, nullptr), asio::detached);
  asio::co_spawn(ctx, request_reply_server(rig.client, &greeting, &client_done), asio::detached);
  asio::co_spawn(ctx, receive(rig.server, &answer, &server_done), asio::detached);
  ctx.run_for(10s);
  EXPECT_EQ(greeting, "banner");
  EXPECT_EQ(answer, "reply to banner");
  EXPECT_EQ(server_done, asio::error::eof);
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::eof);
}

asio::awaitable<void> reset_after_first_byte(tcp::socket& s) {
  char c;
  co_await asio::async_read(s, asio::buffer(&c, 1), asio::as_tuple(asio::use_awaitable));
  s.set_option(asio::socket_base::linger(true, 0));
  s.close();  // linger 0: RST
}

TEST_P(RelayTest, ResetEndsBothDirections) {
  Rig rig(ctx);
  std::string received;
  error_code client_done;
  rig.start(mode());
  asio::co_spawn(ctx, send(rig.client, "x", false, nullptr), asio::detached);
  asio::co_spawn(ctx, reset_after_first_byte(rig.server), asio::detached);
  asio::co_spawn(ctx, receive(rig.client, &received, &client_done), asio::detached);
  ctx.run_for(10s);
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::error);
  EXPECT_TRUE(rig.stats->error);
  EXPECT_TRUE(client_done);  // the client side was closed too (eof or reset)
  EXPECT_TRUE(received.empty());
}

TEST_P(RelayTest, IdleTimeoutClosesBoth) {
  Rig rig(ctx);
  std::string c_got, s_got;
  error_code c_done, s_done;
  RelayOptions options;
  options.idle_timeout = 200ms;
  const auto started = Clock::now();
  rig.start(mode(), std::move(options));
  asio::co_spawn(ctx, receive(rig.client, &c_got, &c_done), asio::detached);
  asio::co_spawn(ctx, receive(rig.server, &s_got, &s_done), asio::detached);
  ctx.run_for(10s);
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::idle_timeout);
  EXPECT_GE(Clock::now() - started, 150ms);
  EXPECT_LT(Clock::now() - started, 5s);
  EXPECT_EQ(c_done, asio::error::eof);
  EXPECT_EQ(s_done, asio::error::eof);
}

asio::awaitable<void> trickle(tcp::socket& s, std::chrono::milliseconds delay, int count,
                              std::chrono::milliseconds gap) {
  co_await sleep_for(delay);
  for (int i = 0; i < count; ++i) {
    co_await send(s, "t", false, nullptr);
    co_await sleep_for(gap);
  }
}

TEST_P(RelayTest, IdleDeadlineIsSharedByBothDirections) {
  // The client talks for 100 ms, then only the server talks for 400 ms more. A per-direction
  // deadline of 250 ms would cut the server off; the shared one must not.
  Rig rig(ctx);
  std::string c_got, s_got;
  error_code c_done, s_done;
  RelayOptions options;
  options.idle_timeout = 250ms;
  rig.start(mode(), std::move(options));
  asio::co_spawn(ctx, trickle(rig.client, 0ms, 4, 25ms), asio::detached);
  asio::co_spawn(ctx, trickle(rig.server, 100ms, 16, 25ms), asio::detached);
  asio::co_spawn(ctx, receive(rig.client, &c_got, &c_done), asio::detached);
  asio::co_spawn(ctx, receive(rig.server, &s_got, &s_done), asio::detached);
  ctx.run_for(10s);
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::idle_timeout);
  EXPECT_EQ(s_got, std::string(4, 't'));
  EXPECT_EQ(c_got, std::string(16, 't'));
}

asio::awaitable<void> ping_then_signal(tcp::socket& client, tcp::socket& server,
                                       std::shared_ptr<RelayControl> control,
                                       std::unique_ptr<std::thread>* stopper) {
  co_await send(client, "ping", false, nullptr);
  std::string got(4, '\0');
  co_await asio::async_read(server, asio::buffer(got), asio::as_tuple(asio::use_awaitable));
  // Stop from another thread, as the mode switch or shutdown would.
  *stopper = std::make_unique<std::thread>([control] { control->stop(); });
}

TEST_P(RelayTest, ExternalStopFromAnotherThread) {
  Rig rig(ctx);
  auto control = std::make_shared<RelayControl>();
  RelayOptions options;
  options.control = control;
  std::unique_ptr<std::thread> stopper;
  std::string c_got;
  error_code c_done;
  rig.start(mode(), std::move(options));
  asio::co_spawn(ctx, ping_then_signal(rig.client, rig.server, control, &stopper), asio::detached);
  asio::co_spawn(ctx, receive(rig.client, &c_got, &c_done), asio::detached);
  ctx.run_for(10s);
  if (stopper) stopper->join();
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::stopped);
  EXPECT_EQ(rig.stats->a_to_b, 4u);
  EXPECT_EQ(c_done, asio::error::eof);
  EXPECT_TRUE(control->stopped());
}

TEST_P(RelayTest, StoppedControlEndsAtOnce) {
  Rig rig(ctx);
  auto control = std::make_shared<RelayControl>();
  control->stop();
  RelayOptions options;
  options.control = control;
  options.to_b = "never sent";
  rig.start(mode(), std::move(options));
  ctx.run_for(10s);
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::stopped);
  EXPECT_EQ(rig.stats->a_to_b, 0u);
  EXPECT_FALSE(rig.b.is_open());
}

TEST_P(RelayTest, InitialBytesGoFirst) {
  Rig rig(ctx);
  RelayOptions options;
  options.to_b = "early-";
  options.to_a = "head:";
  std::string c_got, s_got;
  error_code c_done, s_done;
  rig.start(mode(), std::move(options));
  asio::co_spawn(ctx, send(rig.client, "late", true, nullptr), asio::detached);
  asio::co_spawn(ctx, send(rig.server, "body", true, nullptr), asio::detached);
  asio::co_spawn(ctx, receive(rig.client, &c_got, &c_done), asio::detached);
  asio::co_spawn(ctx, receive(rig.server, &s_got, &s_done), asio::detached);
  ctx.run_for(10s);
  EXPECT_EQ(s_got, "early-late");
  EXPECT_EQ(c_got, "head:body");
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->a_to_b, 10u);
  EXPECT_EQ(rig.stats->b_to_a, 9u);
  EXPECT_EQ(rig.stats->end, RelayEnd::eof);
}

RelayOptions initial_bytes(Mode mode) {
  RelayOptions options;
  options.to_b = "sso";
  options.to_a = "and a longer heap string";
  options.allow_splice = mode == Mode::splice;
  return options;
}

/// Options as temporaries inside co_await, the forms callers write (see RelayOptions on g++ 12).
asio::awaitable<RelayStats> relay_braced(Mode mode, tcp::socket& a, tcp::socket& b) {
  if (mode == Mode::generic) {
    PlainStream wrapped(std::move(a));
    co_return co_await relay_streams(wrapped, b, initial_bytes(mode));
  }
  co_return co_await relay(a, b, initial_bytes(mode));
}

asio::awaitable<RelayStats> relay_empty_braces(tcp::socket& a, tcp::socket& b) {
  co_return co_await relay(a, b, {});
}

TEST_P(RelayTest, BracedOptionsInsideACoroutine) {
  Rig rig(ctx);
  std::string c_got, s_got;
  error_code c_done, s_done;
  asio::co_spawn(ctx, relay_braced(mode(), rig.a, rig.b), [&](std::exception_ptr e, RelayStats s) {
    if (e) std::rethrow_exception(e);
    rig.stats = s;
  });
  asio::co_spawn(ctx, send(rig.client, "!", true, nullptr), asio::detached);
  asio::co_spawn(ctx, send(rig.server, "?", true, nullptr), asio::detached);
  asio::co_spawn(ctx, receive(rig.client, &c_got, &c_done), asio::detached);
  asio::co_spawn(ctx, receive(rig.server, &s_got, &s_done), asio::detached);
  ctx.run_for(10s);
  EXPECT_EQ(s_got, "sso!");
  EXPECT_EQ(c_got, "and a longer heap string?");
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::eof);
}

TEST(Relay, EmptyBracesInsideACoroutine) {
  asio::io_context ctx;
  Rig rig(ctx);
  std::string got;
  error_code done;
  asio::co_spawn(ctx, relay_empty_braces(rig.a, rig.b), [&](std::exception_ptr e, RelayStats s) {
    if (e) std::rethrow_exception(e);
    rig.stats = s;
  });
  asio::co_spawn(ctx, send(rig.client, "x", true, nullptr), asio::detached);
  asio::co_spawn(ctx, send(rig.server, "", true, nullptr), asio::detached);
  asio::co_spawn(ctx, receive(rig.server, &got, &done), asio::detached);
  ctx.run_for(10s);
  EXPECT_EQ(got, "x");
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::eof);
}

asio::awaitable<RelayStats> relay_with_deadline(Mode mode, tcp::socket& a, tcp::socket& b,
                                                std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  // The caller's own `||` timeout: cancelling relay() must stop and close it cleanly.
  std::optional<RelayStats> stats;
  auto body = [](Mode m, tcp::socket& sa, tcp::socket& sb,
                 std::optional<RelayStats>* out) -> asio::awaitable<void> {
    // A named options object: g++ 12 mis-moves a braced temporary argument of a coroutine
    // call inside a co_await (the copy in the callee's frame keeps pointing at the caller's
    // SSO buffers).
    RelayOptions options;
    *out = co_await run_relay(m, sa, sb, std::move(options));
  };
  co_await (body(mode, a, b, &stats) || sleep_for(limit));
  co_return stats.value_or(RelayStats{0, 0, RelayEnd::eof, {}, false});
}

TEST_P(RelayTest, CallerCancellationStopsAndCloses) {
  Rig rig(ctx);
  std::string c_got;
  error_code c_done;
  bool finished = false;
  asio::co_spawn(ctx, relay_with_deadline(mode(), rig.a, rig.b, 100ms),
                 [&](std::exception_ptr e, RelayStats) {
                   if (e) std::rethrow_exception(e);
                   finished = true;
                 });
  asio::co_spawn(ctx, receive(rig.client, &c_got, &c_done), asio::detached);
  ctx.run_for(10s);
  EXPECT_TRUE(finished);
  EXPECT_EQ(c_done, asio::error::eof);
  EXPECT_FALSE(rig.b.is_open());
}

TEST_P(RelayTest, ManyConcurrentRelays) {
  constexpr int kRelays = 40;
  struct Flow {
    explicit Flow(asio::io_context& c) : rig(c) {}
    Rig rig;
    std::string up, down;
    error_code e1, e2;
  };
  std::vector<std::unique_ptr<Flow>> flows;
  for (int i = 0; i < kRelays; ++i) {
    auto& f = *flows.emplace_back(std::make_unique<Flow>(ctx));
    f.rig.start(mode());
    asio::co_spawn(ctx, send(f.rig.client, pattern(64 << 10, 3 + 2 * i), true, nullptr),
                   asio::detached);
    asio::co_spawn(ctx, send(f.rig.server, pattern(64 << 10, 5 + 2 * i), true, nullptr),
                   asio::detached);
    asio::co_spawn(ctx, receive(f.rig.server, &f.up, &f.e1), asio::detached);
    asio::co_spawn(ctx, receive(f.rig.client, &f.down, &f.e2), asio::detached);
  }
  ctx.run_for(10s);
  for (int i = 0; i < kRelays; ++i) {
    auto& f = *flows[i];
    ASSERT_TRUE(f.rig.stats) << i;
    EXPECT_EQ(f.rig.stats->end, RelayEnd::eof) << i;
    EXPECT_TRUE(f.up == pattern(64 << 10, 3 + 2 * i)) << i;
    EXPECT_TRUE(f.down == pattern(64 << 10, 5 + 2 * i)) << i;
  }
}

TEST_P(RelayTest, MultiThreadedContext) {
  constexpr int kRelays = 12;
  struct Flow {
    explicit Flow(asio::io_context& c) : rig(c), strand(asio::make_strand(c)) {}
    Rig rig;
    asio::strand<asio::io_context::executor_type> strand;
    std::string up, down;
    error_code e1, e2;
  };
  std::vector<std::unique_ptr<Flow>> flows;
  for (int i = 0; i < kRelays; ++i) {
    auto& f = *flows.emplace_back(std::make_unique<Flow>(ctx));
    f.rig.start(mode());
    // Each test connection's client and server coroutines share a strand.
    asio::co_spawn(f.strand, send(f.rig.client, pattern(256 << 10, 3 + i), true, nullptr),
                   asio::detached);
    asio::co_spawn(f.strand, send(f.rig.server, pattern(256 << 10, 5 + i), true, nullptr),
                   asio::detached);
    asio::co_spawn(f.strand, receive(f.rig.server, &f.up, &f.e1), asio::detached);
    asio::co_spawn(f.strand, receive(f.rig.client, &f.down, &f.e2), asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) threads.emplace_back([this] { ctx.run_for(10s); });
  ctx.run_for(10s);
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRelays; ++i) {
    auto& f = *flows[i];
    ASSERT_TRUE(f.rig.stats) << i;
    EXPECT_EQ(f.rig.stats->end, RelayEnd::eof) << i;
    EXPECT_TRUE(f.up == pattern(256 << 10, 3 + i)) << i;
    EXPECT_TRUE(f.down == pattern(256 << 10, 5 + i)) << i;
  }
}

TEST_P(RelayTest, NoDescriptorLeaks) {
  warm_up(ctx);
  const int before = open_fds();
  {
    Rig rig(ctx);
    std::string up, down;
    error_code e1, e2;
    rig.start(mode());
    asio::co_spawn(ctx, send(rig.client, pattern(300 << 10, 11), true, nullptr), asio::detached);
    asio::co_spawn(ctx, send(rig.server, pattern(300 << 10, 17), true, nullptr), asio::detached);
    asio::co_spawn(ctx, receive(rig.server, &up, &e1), asio::detached);
    asio::co_spawn(ctx, receive(rig.client, &down, &e2), asio::detached);
    ctx.run_for(10s);
    ASSERT_TRUE(rig.stats);
    EXPECT_EQ(up.size(), 300u << 10);
  }
  EXPECT_EQ(open_fds(), before);  // sockets and pipes all closed
}

// The detached form the sessions use: the relay owns the sockets after the caller's scope ends,
// and reports exactly once.
TEST(SocketRelay, StartRelayOwnsTheSocketsAndReportsOnce) {
  asio::io_context ctx;
  auto [client, a] = connected_pair(ctx);
  auto [b, server] = connected_pair(ctx);
  int reports = 0;
  RelayStats last;
  {
    RelayOptions options;
    options.to_b = "hello ";
    options.single_threaded_executor = true;
    start_relay(std::move(a), std::move(b), std::move(options), [&](const RelayStats& s) {
      ++reports;
      last = s;
    });
  }  // nothing of the relay is left in this scope
  std::string up, down;
  error_code e1, e2;
  asio::co_spawn(ctx, send(client, "world", true, nullptr), asio::detached);
  asio::co_spawn(ctx, send(server, "back", true, nullptr), asio::detached);
  asio::co_spawn(ctx, receive(server, &up, &e1), asio::detached);
  asio::co_spawn(ctx, receive(client, &down, &e2), asio::detached);
  ctx.run_for(10s);
  EXPECT_EQ(up, "hello world");
  EXPECT_EQ(down, "back");
  EXPECT_EQ(reports, 1);
  EXPECT_EQ(last.end, RelayEnd::eof);
  EXPECT_EQ(last.a_to_b, 11u);
  EXPECT_EQ(last.b_to_a, 4u);
}

// Readiness is a one-byte peek, so a direction that ends without a byte never creates a pipe:
// set-up-and-close tunnels and idle tunnels hold only their two sockets.
TEST(SocketRelay, EofBeforeAnyByteOpensNoPipe) {
  asio::io_context ctx;
  warm_up(ctx);
  const int before = open_fds();
  Rig rig(ctx);
  rig.start(Mode::splice);
  std::string got;
  error_code done;
  int during = -1;
  auto check = [&]() -> asio::awaitable<void> {
    rig.client.shutdown(tcp::socket::shutdown_send);
    co_await receive(rig.server, &got, &done);  // the EOF went through
    co_await sleep_for(50ms);
    during = open_fds();
    co_await send(rig.server, "", true, nullptr);
  };
  asio::co_spawn(ctx, check(), asio::detached);
  ctx.run_for(10s);
  EXPECT_EQ(done, asio::error::eof);
  EXPECT_EQ(during, before + 4) << "client, a, b, server: no pipe";
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::eof);
  EXPECT_FALSE(rig.stats->spliced);
}

// One sweeper timer per io_context serves every relay: a short deadline that arrives after a
// long one still fires on time, and the long one is not cut short.
TEST(SocketRelay, IdleSweeperServesDifferentTimeouts) {
  asio::io_context ctx;
  Rig slow(ctx), fast(ctx);
  RelayOptions long_idle;
  long_idle.idle_timeout = 2s;
  RelayOptions short_idle;
  short_idle.idle_timeout = 150ms;
  const auto started = Clock::now();
  slow.start(Mode::splice, std::move(long_idle));
  fast.start(Mode::splice, std::move(short_idle));
  std::optional<Clock::duration> fast_end;
  auto watch = [&]() -> asio::awaitable<void> {
    while (!fast.stats) co_await sleep_for(10ms);
    fast_end = Clock::now() - started;
    co_await sleep_for(300ms);
    EXPECT_FALSE(slow.stats) << "the 2 s relay ended early";
    error_code ignored;
    slow.client.close(ignored);
    slow.server.close(ignored);
  };
  asio::co_spawn(ctx, watch(), asio::detached);
  ctx.run_for(10s);
  ASSERT_TRUE(fast_end);
  EXPECT_GE(*fast_end, 140ms);
  EXPECT_LT(*fast_end, 2s);
  EXPECT_EQ(fast.stats->end, RelayEnd::idle_timeout);
  ASSERT_TRUE(slow.stats);
  EXPECT_NE(slow.stats->end, RelayEnd::idle_timeout);
}

// A sustained transfer borrows an enlarged pipe from the budget while its bytes are stuck
// behind a slow reader, and every borrowed pipe is back when the relay ends.
TEST(SocketRelay, SustainedTransferBorrowsABigPipeAndReturnsIt) {
  asio::io_context ctx;
  auto budget = std::make_shared<PipeBudget>(1);
  Rig rig(ctx);
  RelayOptions options;
  options.pipe_budget = budget;
  rig.start(Mode::splice, std::move(options));
  const std::string data = pattern(8 << 20, 5);
  std::string got;
  error_code done;
  bool borrowed_while_stuck = false;
  auto slow_reader = [&]() -> asio::awaitable<void> {
    co_await sleep_for(300ms);  // the server's receive buffer and the pipe fill up meanwhile
    borrowed_while_stuck = !budget->take();
    if (!borrowed_while_stuck) budget->give();
    co_await receive(rig.server, &got, &done);
  };
  asio::co_spawn(ctx, send(rig.client, data, true, nullptr), asio::detached);
  asio::co_spawn(ctx, send(rig.server, "", true, nullptr), asio::detached);
  asio::co_spawn(ctx, slow_reader(), asio::detached);
  ctx.run_for(20s);
  EXPECT_TRUE(got == data) << got.size();
  EXPECT_TRUE(borrowed_while_stuck) << "no enlarged pipe during a sustained transfer";
  ASSERT_TRUE(rig.stats);
  EXPECT_EQ(rig.stats->end, RelayEnd::eof);
  EXPECT_TRUE(budget->take()) << "the enlarged pipe was not returned";
  EXPECT_FALSE(budget->take());
}

TEST(Relay, SpliceIsNotUsedWhileSigpipeIsFatal) {
  asio::io_context ctx;
  std::signal(SIGPIPE, SIG_DFL);
  Rig rig(ctx);
  std::string up;
  error_code done;
  rig.start(Mode::splice);
  asio::co_spawn(ctx, send(rig.client, pattern(100000, 3), true, nullptr), asio::detached);
  asio::co_spawn(ctx, send(rig.server, "", true, nullptr), asio::detached);
  asio::co_spawn(ctx, receive(rig.server, &up, &done), asio::detached);
  ctx.run_for(10s);
  ignore_sigpipe();
  ASSERT_TRUE(rig.stats);
  EXPECT_FALSE(rig.stats->spliced);
  EXPECT_EQ(up.size(), 100000u);
}

TEST(RelayControl, StopIsIdempotentAndReachesSubscribers) {
  auto control = std::make_shared<RelayControl>();
  int calls = 0;
  {
    auto sub = RelayControl::subscribe(control, [&calls] { ++calls; });
    auto gone = RelayControl::subscribe(control, [&calls] { calls += 100; });
    EXPECT_TRUE(sub.active());
    { auto drop = std::move(gone); }  // unsubscribed before the stop
    control->stop();
    control->stop();
  }
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(control->stopped());
  EXPECT_FALSE(RelayControl::subscribe(control, [] {}).active());
}

TEST(Relay, EndNames) {
  EXPECT_EQ(to_string(RelayEnd::eof), "eof");
  EXPECT_EQ(to_string(RelayEnd::idle_timeout), "idle_timeout");
  EXPECT_EQ(to_string(RelayEnd::error), "error");
  EXPECT_EQ(to_string(RelayEnd::stopped), "stopped");
}

}  // namespace
}  // namespace netfence::net
