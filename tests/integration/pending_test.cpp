// Tests that assert SPEC behaviour netfence does not show yet. They live in
// `integration_http_pending`, which is built but not registered with ctest, so the main suite
// stays green; each test names the SPEC clause and what netfence does instead. When netfence is
// fixed, move the test into integration_http.
#include <string>

#include "proxy_fixture.hpp"

namespace netfence::testing {
namespace {

class Pending : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    origin_ = std::make_unique<OriginServer>();
    o_ = authority("origin.test", origin_->port());
    start(origin_config());
  }
  void TearDown() override {
    ProxyTest::TearDown();
    origin_.reset();
  }
  std::unique_ptr<OriginServer> origin_;
  std::string o_;
};

// §8.1: identical Content-Length repeats "count as one", and §8.3 re-frames the body. Observed:
// both Content-Length lines are forwarded to the origin verbatim, so an origin that rejects
// (or, worse, disagrees about) repeated lengths sees a request the proxy accepted as one.
TEST_F(Pending, IdenticalContentLengthRepeatsAreForwardedAsOne) {
  auto r = exchange("POST http://" + o_ + "/cl HTTP/1.1\r\nHost: " + o_ +
                    "\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(origin_->request_count(), 1u);
  EXPECT_EQ(origin_->requests()[0].body, "hello");
  EXPECT_EQ(origin_->requests()[0].header_count("content-length"), 1u);
}

}  // namespace
}  // namespace netfence::testing
