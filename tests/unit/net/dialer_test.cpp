// Dialer (SPEC §6.2 rule 5, §8.6, §9.2): RFC 8305 staggered attempts over vetted addresses, on
// loopback only. Attempts that must hang use an injected connect step (a timer that honours
// cancellation), so no packet ever leaves the machine and no test depends on a blackhole.
#include "net/dialer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "net_test_util.hpp"

namespace netfence::net {
namespace {

using namespace std::chrono_literals;
using test::connected_pair;
using test::open_fds;
using test::run_bounded;
using test::warm_up;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

core::IpAddress ip(std::string_view text) {
  const auto parsed = core::IpAddress::parse(text);
  if (!parsed) throw std::invalid_argument(std::string(text));
  return *parsed;
}

/// A port with nothing listening on 127.0.0.x (bound then released; loopback refuses at once).
std::uint16_t closed_port(asio::io_context& ctx) {
  tcp::acceptor acceptor(ctx, {asio::ip::address_v4::loopback(), 0});
  return acceptor.local_endpoint().port();
}

/// What the injected connect step saw.
struct Probe {
  std::set<asio::ip::address> hang;  // these addresses never answer
  int hanging = 0;                   // attempts that started hanging
  int cancelled = 0;                 // hanging attempts stopped by cancellation
  std::vector<asio::ip::address> order;
};

asio::awaitable<boost::system::error_code> fake_connect(std::shared_ptr<Probe> probe,
                                                        tcp::socket& socket,
                                                        tcp::endpoint endpoint) {
  probe->order.push_back(endpoint.address());
  if (probe->hang.contains(endpoint.address())) {
    socket.open(endpoint.protocol());  // hold a descriptor, as a pending connect does
    ++probe->hanging;
    asio::steady_timer never(co_await asio::this_coro::executor, 1h);
    auto [ec] = co_await never.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) ++probe->cancelled;
    co_return ec ? ec : asio::error::timed_out;
  }
  auto [ec] = co_await socket.async_connect(endpoint, asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

DialOptions with_probe(const std::shared_ptr<Probe>& probe, std::chrono::milliseconds budget,
                       std::chrono::milliseconds stagger) {
  DialOptions options;
  options.budget = budget;
  options.stagger = stagger;
  options.connect = [probe](tcp::socket& socket, tcp::endpoint endpoint) {
    return fake_connect(probe, socket, endpoint);
  };
  return options;
}

TEST(Dialer, MappingTables) {
  EXPECT_EQ(to_http_failure(DialError::timeout).status, 504u);
  EXPECT_EQ(to_http_failure(DialError::timeout).body, "upstream timeout");
  for (auto e : {DialError::refused, DialError::unreachable_network, DialError::unreachable_host,
                 DialError::other}) {
    EXPECT_EQ(to_http_failure(e).status, 502u);
    EXPECT_EQ(to_http_failure(e).body, "upstream failure");
  }
  EXPECT_EQ(to_socks5_reply(DialError::none), 0x00);
  EXPECT_EQ(to_socks5_reply(DialError::unreachable_network), 0x03);
  EXPECT_EQ(to_socks5_reply(DialError::unreachable_host), 0x04);
  EXPECT_EQ(to_socks5_reply(DialError::refused), 0x05);
  EXPECT_EQ(to_socks5_reply(DialError::timeout), 0x06);
  EXPECT_EQ(to_socks5_reply(DialError::other), 0x01);

  EXPECT_EQ(classify_connect_error({}), DialError::none);
  EXPECT_EQ(classify_connect_error(asio::error::connection_refused), DialError::refused);
  EXPECT_EQ(classify_connect_error(asio::error::connection_reset), DialError::refused);
  EXPECT_EQ(classify_connect_error(asio::error::network_unreachable),
            DialError::unreachable_network);
  EXPECT_EQ(classify_connect_error(asio::error::host_unreachable), DialError::unreachable_host);
  EXPECT_EQ(classify_connect_error({EADDRNOTAVAIL, boost::system::system_category()}),
            DialError::unreachable_host);
  EXPECT_EQ(classify_connect_error(asio::error::timed_out), DialError::timeout);
  EXPECT_EQ(classify_connect_error(asio::error::access_denied), DialError::other);
  EXPECT_EQ(to_string(DialError::unreachable_host), "unreachable_host");
}

TEST(Dialer, EndpointConversion) {
  EXPECT_EQ(to_endpoint(ip("127.0.0.1"), 80),
            tcp::endpoint(asio::ip::make_address("127.0.0.1"), 80));
  // IPv4-mapped addresses are dialled as IPv4.
  const tcp::endpoint mapped = to_endpoint(ip("::ffff:10.1.2.3"), 443);
  EXPECT_TRUE(mapped.address().is_v4());
  EXPECT_EQ(mapped.address().to_string(), "10.1.2.3");
  EXPECT_EQ(to_endpoint(ip("2001:db8::1"), 8080).address().to_string(), "2001:db8::1");
  EXPECT_EQ(from_asio(asio::ip::make_address("2001:db8::1")), ip("2001:db8::1"));
  EXPECT_EQ(from_asio(asio::ip::make_address("192.0.2.7")), ip("192.0.2.7"));
}

TEST(Dialer, FirstAddressSucceeds) {
  asio::io_context ctx;
  tcp::acceptor acceptor(ctx, {asio::ip::address_v4::loopback(), 0});
  const std::vector<core::IpAddress> addresses{ip("127.0.0.1")};
  auto result = run_bounded(ctx, dial(addresses, acceptor.local_endpoint().port(), 5s));
  ASSERT_TRUE(result);
  ASSERT_TRUE(result->ok()) << result->last_error.message();
  EXPECT_EQ(result->index, 0u);
  EXPECT_EQ(result->address, ip("127.0.0.1"));
  EXPECT_EQ(result->socket->remote_endpoint(), acceptor.local_endpoint());
  tcp::no_delay nodelay;
  result->socket->get_option(nodelay);
  EXPECT_TRUE(nodelay.value());
  EXPECT_FALSE(result->last_error);
}

TEST(Dialer, MappedAddressIsDialledAsIpv4) {
  asio::io_context ctx;
  tcp::acceptor acceptor(ctx, {asio::ip::address_v4::loopback(), 0});
  const std::vector<core::IpAddress> addresses{ip("::ffff:127.0.0.1")};
  auto result = run_bounded(ctx, dial(addresses, acceptor.local_endpoint().port(), 5s));
  ASSERT_TRUE(result && result->ok());
  EXPECT_TRUE(result->socket->remote_endpoint().address().is_v4());
  EXPECT_EQ(result->address, ip("::ffff:127.0.0.1"));  // the entry as given
}

TEST(Dialer, Ipv6LoopbackWhenAvailable) {
  asio::io_context ctx;
  boost::system::error_code ec;
  tcp::acceptor acceptor(ctx);
  acceptor.open(tcp::v6(), ec);
  if (!ec) acceptor.bind({asio::ip::address_v6::loopback(), 0}, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) GTEST_SKIP() << "no IPv6 loopback: " << ec.message();
  const std::vector<core::IpAddress> addresses{ip("::1")};
  auto result = run_bounded(ctx, dial(addresses, acceptor.local_endpoint().port(), 5s));
  ASSERT_TRUE(result && result->ok()) << result->last_error.message();
  EXPECT_TRUE(result->socket->remote_endpoint().address().is_v6());
}

TEST(Dialer, RefusedFirstThenSecondWithoutWaitingForStagger) {
  asio::io_context ctx;
  // Listening on 127.0.0.1 only: the same port on 127.0.0.2 refuses at once.
  tcp::acceptor acceptor(ctx, {asio::ip::address_v4::loopback(), 0});
  const std::vector<core::IpAddress> addresses{ip("127.0.0.2"), ip("127.0.0.1")};
  const auto started = Clock::now();
  auto result = run_bounded(ctx, dial(addresses, acceptor.local_endpoint().port(), 20s, 10s));
  ASSERT_TRUE(result);
  ASSERT_TRUE(result->ok()) << result->last_error.message();
  EXPECT_EQ(result->index, 1u);
  EXPECT_EQ(result->address, ip("127.0.0.1"));
  // A failure starts the next attempt immediately, not after the 10 s stagger.
  EXPECT_LT(Clock::now() - started, 5s);
}

TEST(Dialer, AllRefused) {
  asio::io_context ctx;
  const std::uint16_t port = closed_port(ctx);
  const std::vector<core::IpAddress> addresses{ip("127.0.0.2"), ip("127.0.0.3"), ip("127.0.0.1")};
  warm_up(ctx);
  const int fds_before = open_fds();
  auto result = run_bounded(ctx, dial(addresses, port, 5s));
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok());
  EXPECT_EQ(result->error, DialError::refused);
  EXPECT_EQ(result->last_error, asio::error::connection_refused);
  EXPECT_FALSE(result->socket);
  EXPECT_EQ(to_socks5_reply(result->error), 0x05);
  EXPECT_EQ(to_http_failure(result->error).status, 502u);
  EXPECT_EQ(open_fds(), fds_before);
}

TEST(Dialer, EmptyAddressSetFails) {
  asio::io_context ctx;
  auto result = run_bounded(ctx, dial(std::span<const core::IpAddress>(), 80, 1s));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->error, DialError::other);
}

TEST(Dialer, BudgetExceededIsTimeout) {
  asio::io_context ctx;
  auto probe = std::make_shared<Probe>();
  probe->hang = {asio::ip::make_address("127.0.0.1"), asio::ip::make_address("127.0.0.2")};
  const std::vector<core::IpAddress> addresses{ip("127.0.0.1"), ip("127.0.0.2")};
  warm_up(ctx);
  const int fds_before = open_fds();
  const auto started = Clock::now();
  auto result = run_bounded(ctx, dial(addresses, 9, with_probe(probe, 150ms, 50ms)));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->error, DialError::timeout);
  EXPECT_EQ(result->last_error, asio::error::timed_out);
  EXPECT_EQ(to_socks5_reply(result->error), 0x06);
  EXPECT_EQ(to_http_failure(result->error).status, 504u);
  EXPECT_GE(Clock::now() - started, 100ms);
  EXPECT_LT(Clock::now() - started, 5s);
  // Both attempts started (staggered), both were cancelled and joined, no descriptor leaked.
  EXPECT_EQ(probe->hanging, 2);
  EXPECT_EQ(probe->cancelled, 2);
  EXPECT_EQ(open_fds(), fds_before);
}

TEST(Dialer, StaggerStartsNextWhileFirstHangsAndClosesTheLoser) {
  asio::io_context ctx;
  tcp::acceptor acceptor(ctx, {asio::ip::address_v4::loopback(), 0});
  auto probe = std::make_shared<Probe>();
  probe->hang = {asio::ip::make_address("127.0.0.2")};
  const std::vector<core::IpAddress> addresses{ip("127.0.0.2"), ip("127.0.0.1"), ip("127.0.0.3")};
  warm_up(ctx);
  const int fds_before = open_fds();
  auto result = run_bounded(
      ctx, dial(addresses, acceptor.local_endpoint().port(), with_probe(probe, 10s, 50ms)));
  ASSERT_TRUE(result);
  ASSERT_TRUE(result->ok()) << result->last_error.message();
  EXPECT_EQ(result->index, 1u);
  // The third address was never tried; the hanging first one was cancelled and closed.
  ASSERT_EQ(probe->order.size(), 2u);
  EXPECT_EQ(probe->hanging, 1);
  EXPECT_EQ(probe->cancelled, 1);
  EXPECT_EQ(open_fds(), fds_before + 1);  // only the winner
  result->socket->close();
  EXPECT_EQ(open_fds(), fds_before);
}

TEST(Dialer, CallerCancellationStopsAndJoinsAttempts) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context ctx;
  auto probe = std::make_shared<Probe>();
  probe->hang = {asio::ip::make_address("127.0.0.1"), asio::ip::make_address("127.0.0.2")};
  const std::vector<core::IpAddress> addresses{ip("127.0.0.1"), ip("127.0.0.2")};
  warm_up(ctx);
  const int fds_before = open_fds();
  auto race = [](std::vector<core::IpAddress> addrs, DialOptions options) -> asio::awaitable<int> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 100ms);
    auto winner = co_await (dial(addrs, 9, std::move(options)) ||
                            timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    co_return static_cast<int>(winner.index());
  };
  auto which = run_bounded(ctx, race(addresses, with_probe(probe, 10s, 20ms)));
  ASSERT_TRUE(which);
  EXPECT_EQ(*which, 1);  // the timer won
  EXPECT_EQ(probe->hanging, 2);
  EXPECT_EQ(probe->cancelled, 2);
  EXPECT_EQ(open_fds(), fds_before);
}

TEST(Dialer, ManyDialsOnAMultiThreadedContext) {
  asio::io_context ctx;
  tcp::acceptor acceptor(ctx, {asio::ip::address_v4::loopback(), 0});
  const std::uint16_t port = acceptor.local_endpoint().port();
  const std::uint16_t closed = closed_port(ctx);
  constexpr int kDials = 64;
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  for (int i = 0; i < kDials; ++i) {
    asio::co_spawn(
        ctx,
        [](std::uint16_t p, bool good, std::atomic<int>& n) -> asio::awaitable<void> {
          const std::vector<core::IpAddress> addrs{ip("127.0.0.2"), ip("127.0.0.1")};
          auto r = co_await dial(addrs, p, 5s, 1ms);
          if (r.ok() == good) ++n;
        }(i % 2 ? port : closed, i % 2 != 0, i % 2 ? ok : refused),
        asio::detached);
  }
  // Accept (and drop) the successful connections so the backlog never fills.
  asio::co_spawn(
      ctx,
      [](tcp::acceptor& acc) -> asio::awaitable<void> {
        for (int i = 0; i < kDials / 2; ++i) {
          auto [ec, s] = co_await acc.async_accept(asio::as_tuple(asio::use_awaitable));
          if (ec) co_return;
        }
      }(acceptor),
      asio::detached);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) threads.emplace_back([&] { ctx.run_for(10s); });
  ctx.run_for(10s);
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kDials / 2);
  EXPECT_EQ(refused.load(), kDials / 2);
}

}  // namespace
}  // namespace netfence::net
