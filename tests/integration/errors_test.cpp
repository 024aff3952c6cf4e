// SPEC §8.1, §8.2, §8.4, §8.6 error rows and §18 rows 9–13 against the real binary: every
// malformed or disallowed request gets the exact text/plain answer, the connection is closed,
// and the origin never sees a connection.
#include <string>
#include <vector>

#include "proxy_fixture.hpp"

namespace netfence::testing {
namespace {

class Errors : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    origin_ = std::make_unique<OriginServer>();
    // Every name a differential could be misread as points at the origin, so a proxy that
    // misparsed a target would really reach it and the test would see the request.
    const std::string p = std::to_string(origin_->port());
    start(config(
        "allowed_domains = [\"*\"]\n"
        "allow_local_binding = true\n"
        "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"], \"example.com\" = [\"127.0.0.1\"], "
        "\"evil.net\" = [\"127.0.0.1\"] }\n"));
    if (HasFatalFailure()) return;
    o_ = authority("origin.test", origin_->port());
  }
  void TearDown() override {
    EXPECT_EQ(origin_->connection_count(), 0u) << "the origin must never be contacted";
    EXPECT_EQ(dns_->query_count(), 0u) << "nothing may be resolved";
    ProxyTest::TearDown();
    origin_.reset();
  }
  std::string get(const std::string& target, const std::string& headers = "") const {
    return "GET " + target + " HTTP/1.1\r\nHost: " + o_ + "\r\n" + headers + "\r\n";
  }
  std::unique_ptr<OriginServer> origin_;
  std::string o_;
};

// §18 row 12 and §8.1: smuggling and framing errors → 400 `malformed request`, nothing sent.
TEST_F(Errors, SmugglingAndFramingAreMalformedRequests) {
  const std::string t = "http://" + o_ + "/";
  const std::vector<std::string> cases = {
      "POST " + t + " HTTP/1.1\r\nHost: " + o_ +
          "\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST " + t + " HTTP/1.1\r\nHost: " + o_ +
          "\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
      "POST " + t + " HTTP/1.1\r\nHost: " + o_ + "\r\nTransfer-Encoding: identity\r\n\r\n",
      "POST " + t + " HTTP/1.1\r\nHost: " + o_ +
          "\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      "POST " + t + " HTTP/1.1\r\nHost: " + o_ + "\r\nContent-Length: 5, 6\r\n\r\nhello!",
      "POST " + t + " HTTP/1.1\r\nHost: " + o_ + "\r\nContent-Length: 0x5\r\n\r\nhello",
      "POST " + t + " HTTP/1.1\r\nHost: " + o_ + "\r\nContent-Length: -1\r\n\r\n",
      get(t, "X-A: 1\r\n folded\r\n"),
      get(t, "X-A: 1\r\n\tfolded\r\n"),
      get(t, "X-A : 1\r\n"),
      get(t, "X(A): 1\r\n"),
      get(t, std::string("X-A: a\0b\r\n", 10)),
      get(t, "X-A: a\rb\r\n"),
      get(t, "X-A: 1\nX-B: 2\r\n"),
      "GET " + t + " HTTP/1.1\r\nHost: " + o_ + "\r\nHost: " + o_ + "\r\n\r\n",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
      "GET " + t + " HTTP/2.0\r\nHost: " + o_ + "\r\n\r\n",
      "GET " + t + " HTTP/1.2\r\nHost: " + o_ + "\r\n\r\n",
      "GET " + t + " HTTP/0.9\r\nHost: " + o_ + "\r\n\r\n",
  };
  for (const auto& c : cases) expect_text_error(c, 400, "malformed request", true);
}

// §8.1: a malformed chunk in the request body (after the head passed) → 400, origin must not
// see a complete request. The head itself is fine, so the origin may be connected to; this
// case lives in Forwarding.MalformedChunkInRequestBody instead.

// §8.1: origin-form and `*` are not proxy requests.
TEST_F(Errors, OriginFormAndAsteriskAreNotProxyRequests) {
  expect_text_error(get("/"), 400, "not a proxy request", true);
  expect_text_error(get("/index.html?x=1"), 400, "not a proxy request", true);
  expect_text_error("OPTIONS * HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n", 400, "not a proxy request",
                    true);
}

// §8.2 and §18 row 9 (scheme).
TEST_F(Errors, UnsupportedSchemes) {
  for (const std::string scheme : {"ftp", "file", "gopher", "data", "foo"}) {
    expect_text_error(get(scheme + "://" + o_ + "/"), 400, "unsupported URL scheme");
  }
}

// §18 row 9: request-line differentials → 400 `invalid request target`, no connection.
TEST_F(Errors, RequestLineDifferentialsAreInvalidTargets) {
  const std::string p = std::to_string(origin_->port());
  const std::vector<std::string> targets = {
      "http://example.com@evil.net:" + p + "/",
      "http://user:pass@example.com:" + p + "/",
      "http://user@example.com:" + p + "/",
      "http://evil.net:" + p + "#@example.com/",
      "http://evil.net:" + p + "/#frag",
      "http://evil.net:" + p + "\\@example.com/",
      "http://evil.net\\:" + p + "/",
      "http:///",
      "http://:" + p + "/",
      "http://example.com:0/",
      "http://example.com:65536/",
      "http://example.com:+443/",
      "http://example.com:0443/",
      "http://example.com:-1/",
      "http://example.com:99999999999999999999/",
      "http://example.com:80a/",
  };
  for (const auto& t : targets) {
    SCOPED_TRACE(t);
    // Without a Host header: the target alone must be rejected.
    expect_text_error("GET " + t + " HTTP/1.1\r\n\r\n", 400, "invalid request target");
  }
}

// §8.2: a host failing §4 → 400 `invalid host` (§18 row 7 spellings that fit a request line).
TEST_F(Errors, InvalidHosts) {
  const std::vector<std::string> targets = {
      "http://example.com%2eevil.net/",
      "http://example.com%00.evil.net/",
      "http://1.2.3.999/",
      "http://" + std::string(64, 'a') + ".example.com/",
      "http://[::ffff:1.2.3.4%25x.allowed.com]/",
      "http://[fd00::1%25eth0]/",
  };
  for (const auto& t : targets) {
    SCOPED_TRACE(t);
    expect_text_error("GET " + t + " HTTP/1.1\r\n\r\n", 400, "invalid host");
  }
}

// §8.2 and §18 row 10: Host header checks.
TEST_F(Errors, HostHeaderChecks) {
  const std::string t = "http://" + o_ + "/";
  const std::string p = std::to_string(origin_->port());
  expect_text_error("GET " + t + " HTTP/1.1\r\nHost: 1.2.3.999\r\n\r\n", 400,
                    "invalid Host header");
  expect_text_error("GET " + t + " HTTP/1.1\r\nHost: \r\n\r\n", 400, "invalid Host header");
  expect_text_error("GET " + t + " HTTP/1.1\r\nHost: user@origin.test:" + p + "\r\n\r\n", 400,
                    "invalid Host header");
  expect_text_error("GET " + t + " HTTP/1.1\r\nHost: exa%00mple.com\r\n\r\n", 400,
                    "invalid Host header");
  expect_text_error("GET " + t + " HTTP/1.1\r\nHost: origin.test:0\r\n\r\n", 400,
                    "invalid Host header");
  expect_text_error("GET " + t + " HTTP/1.1\r\nHost: evil.net:" + p + "\r\n\r\n", 400,
                    "Host header does not match request target");
  // Port mismatch: explicit other port, and no port (= 80) against a non-default target port.
  expect_text_error("GET " + t + " HTTP/1.1\r\nHost: origin.test:" +
                        std::to_string(origin_->port() + 1) + "\r\n\r\n",
                    400, "Host header does not match request target");
  expect_text_error("GET " + t + " HTTP/1.1\r\nHost: origin.test\r\n\r\n", 400,
                    "Host header does not match request target");
  expect_text_error("GET http://origin.test/ HTTP/1.1\r\nHost: origin.test:8080\r\n\r\n", 400,
                    "Host header does not match request target");
}

// §8.2: the effective port of a Host without a port is the scheme default, so an explicit
// default port matches (the request then fails upstream, not with a 400).
TEST_F(Errors, HostHeaderWithExplicitDefaultPortMatches) {
  auto r = exchange("GET http://origin.test/ HTTP/1.1\r\nHost: origin.test:80\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_NE(r->status, 400) << r->body;
}

// §8.4 and §18 row 11.
TEST_F(Errors, InvalidConnectTargets) {
  const std::string p = std::to_string(origin_->port());
  const std::vector<std::string> targets = {
      "example.com",
      "::1:443",
      "example.com:443@evil.net:443",
      "user@example.com:" + p,
      "example.com:",
      "example.com:0",
      "example.com:65536",
      "example.com:+443",
      "http://example.com:" + p + "/",
      "/",
      "*",
      "[::1]",
  };
  for (const auto& t : targets) {
    SCOPED_TRACE(t);
    expect_text_error("CONNECT " + t + " HTTP/1.1\r\nHost: " + t + "\r\n\r\n", 400,
                      "invalid CONNECT target");
  }
}

// §8.1 and §18 row 13: 414 / 431.
TEST_F(Errors, SizeLimits) {
  const std::string t = "http://" + o_ + "/";
  // 9 KiB request line.
  expect_text_error(get(t + std::string(9 * 1024, 'a')), 414, "request line too long", true);
  // 65 KiB of headers in 65 fields.
  std::string big;
  for (int i = 0; i < 65; ++i)
    big += "X-Big-" + std::to_string(i) + ": " + std::string(1024, 'b') + "\r\n";
  expect_text_error(get(t, big), 431, "request header fields too large", true);
  // 129 fields (Host + 128).
  std::string many;
  for (int i = 0; i < 128; ++i) many += "X-F" + std::to_string(i) + ": v\r\n";
  expect_text_error(get(t, many), 431, "request header fields too large", true);
}

}  // namespace
}  // namespace netfence::testing
