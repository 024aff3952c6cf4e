#include "http/upstream_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <thread>

namespace netfence::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// A connected pair of loopback sockets: (client side, server side).
struct Pair {
  tcp::socket client, server;
};

class UpstreamPoolTest : public ::testing::Test {
 protected:
  Pair connect() {
    tcp::socket c(io_), s(io_);
    c.connect(acceptor_.local_endpoint());
    acceptor_.accept(s);
    return Pair{std::move(c), std::move(s)};
  }
  core::IpAddress loopback() { return core::IpAddress::v4(0x7f000001); }

  asio::io_context io_;
  tcp::acceptor acceptor_{io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)};
};

TEST_F(UpstreamPoolTest, ReusesOnlyForSameKeyAndVettedAddress) {
  UpstreamPool pool;
  auto p = connect();
  pool.give("origin.test", 80, loopback(), std::move(p.client));
  EXPECT_EQ(pool.size(), 1u);
  std::vector<core::IpAddress> other = {core::IpAddress::v4(0x7f000002)};
  EXPECT_FALSE(pool.take("origin.test", 80, other)) << "address not in the vetted set";
  EXPECT_FALSE(pool.take("origin.test", 81, std::vector{loopback()})) << "other port";
  EXPECT_FALSE(pool.take("other.test", 80, std::vector{loopback()})) << "other host";
  auto got = pool.take("origin.test", 80, std::vector{loopback()});
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->socket.is_open());
  EXPECT_EQ(got->address, loopback());
  EXPECT_EQ(pool.size(), 0u);
}

TEST_F(UpstreamPoolTest, DropsConnectionsTheOriginClosedOrWroteTo) {
  UpstreamPool pool;
  auto closed = connect();
  pool.give("origin.test", 80, loopback(), std::move(closed.client));
  closed.server.close();
  auto chatty = connect();
  pool.give("origin.test", 80, loopback(), std::move(chatty.client));
  asio::write(chatty.server, asio::buffer("stray", 5));
  // Loopback delivers the FIN and the bytes at once; a short pause makes it certain.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(pool.take("origin.test", 80, std::vector{loopback()}));
  EXPECT_EQ(pool.size(), 0u);
}

TEST_F(UpstreamPoolTest, PerKeyAndTotalLimits) {
  UpstreamPool::Limits limits;
  limits.per_key = 2;
  limits.total = 3;
  UpstreamPool pool(limits);
  std::vector<Pair> pairs;
  for (int i = 0; i < 3; ++i) pairs.push_back(connect());
  for (auto& p : pairs) pool.give("a.test", 80, loopback(), std::move(p.client));
  EXPECT_EQ(pool.size(), 2u) << "at most per_key idle connections per key";
  auto q = connect();
  pool.give("b.test", 80, loopback(), std::move(q.client));
  auto r = connect();
  pool.give("c.test", 80, loopback(), std::move(r.client));
  EXPECT_EQ(pool.size(), 3u) << "the total bound evicts the oldest";
}

TEST_F(UpstreamPoolTest, ExpiresIdleConnections) {
  UpstreamPool::Limits limits;
  limits.idle = std::chrono::seconds(0);
  UpstreamPool pool(limits);
  auto p = connect();
  pool.give("origin.test", 80, loopback(), std::move(p.client));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(pool.take("origin.test", 80, std::vector{loopback()}));
}

// A connection a client held keeps its idle time when it joins the pool: past the limit it is
// closed at once, otherwise it is kept in idle order and expires with its original time.
TEST_F(UpstreamPoolTest, GivenConnectionKeepsItsIdleTime) {
  UpstreamPool::Limits limits;
  limits.idle = std::chrono::seconds(10);
  UpstreamPool pool(limits);
  const auto now = std::chrono::steady_clock::now();
  auto stale = connect();
  pool.give("a.test", 80, loopback(), std::move(stale.client), now - std::chrono::seconds(11));
  EXPECT_EQ(pool.size(), 0u) << "idle for longer than the limit: closed, not pooled";
  auto fresh = connect();
  pool.give("a.test", 80, loopback(), std::move(fresh.client));
  auto older = connect();
  pool.give("b.test", 80, loopback(), std::move(older.client), now - std::chrono::seconds(5));
  EXPECT_EQ(pool.size(), 2u);
  // Newest first: for a.test the fresh one; b.test's older one is still within the limit.
  EXPECT_TRUE(pool.take("b.test", 80, std::vector{loopback()}));
  EXPECT_TRUE(pool.take("a.test", 80, std::vector{loopback()}));
  EXPECT_EQ(pool.size(), 0u);
}

}  // namespace
}  // namespace netfence::http
