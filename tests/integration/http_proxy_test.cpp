// Absolute-form forwarding through the real binary (SPEC §8.2, §8.3): origin-form at the origin,
// canonical Host, hop-by-hop removal both ways, bodies in both directions, interim responses,
// keep-alive, pipelining, HTTP/1.0, §18 row 25.
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"

namespace netfence::testing {
namespace {

class Forwarding : public ProxyTest {
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
  std::string url(const std::string& path) const { return "http://" + o_ + path; }
  std::string get(const std::string& path, const std::string& headers = "",
                  const std::string& version = "HTTP/1.1") const {
    return "GET " + url(path) + " " + version + "\r\nHost: " + o_ + "\r\n" + headers + "\r\n";
  }
  std::string random_bytes(std::size_t n) const {
    std::mt19937 rng(42);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
  }

  // §8.3 reuse rule: /first (200) under the fixture's config, a reload with `extra`, then
  // /second on the same client connection (`same_client`: the held connection) or on a new one
  // (the pool) gets `status`, and the origin sees nothing more. With several I/O threads the new
  // client may be served by a thread whose pool is empty; the assertion holds either way, and
  // UpstreamPoolTest.ReusesOnlyForSameKeyAndVettedAddress covers the pool's own check.
  void expect_no_reuse_after_reload(bool same_client, const std::string& extra, int status) {
    SCOPED_TRACE(same_client ? "held connection" : "pooled connection");
    proxy_->write_config(origin_config());
    ASSERT_TRUE(proxy_->reload());
    const auto before = origin_->request_count();
    auto first = client();
    ASSERT_TRUE(first->send(get("/first")));
    auto r1 = first->read_response();
    ASSERT_TRUE(r1);
    EXPECT_EQ(r1->status, 200);
    if (!same_client) first->close();
    proxy_->write_config(config(extra));
    ASSERT_TRUE(proxy_->reload());
    auto c = same_client ? std::move(first) : client();
    ASSERT_TRUE(c->send(get("/second")));
    auto r2 = c->read_response();
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->status, status) << r2->body;
    EXPECT_EQ(origin_->request_count(), before + 1);
  }

  std::unique_ptr<OriginServer> origin_;
  std::string o_;
};

TEST_F(Forwarding, CurlGetReachesOriginInOriginFormWithCanonicalHost) {
  auto r = curl({"-x", proxy_->url(), url("/path/a?q=1&r=%20"), "-H", "X-Forwarded-For: 192.0.2.7",
                 "-H", "X-Custom: kept"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "GET /path/a?q=1&r=%20\nhost: " + o_ + "\n\n");
  ASSERT_EQ(origin_->request_count(), 1u);
  const auto req = origin_->requests()[0];
  EXPECT_EQ(req.target, "/path/a?q=1&r=%20");
  EXPECT_EQ(req.header("host"), o_);
  EXPECT_EQ(req.header_count("host"), 1u);
  EXPECT_EQ(req.header("x-forwarded-for"), "192.0.2.7");
  EXPECT_EQ(req.header("x-custom"), "kept");
  for (const char* h : {"via", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
                        "forwarded", "proxy-connection", "proxy-authorization"}) {
    EXPECT_EQ(req.header(h), std::nullopt) << h;
  }
}

TEST_F(Forwarding, EmptyPathBecomesSlashAndHostIsCanonicalised) {
  // Upper case, trailing dot: the Host header must still match (§18 row 10, last case) and
  // the origin sees the canonical authority.
  auto c = client();
  ASSERT_TRUE(c->send("GET http://ORIGIN.Test.:" + std::to_string(origin_->port()) +
                      " HTTP/1.1\r\nHost: origin.TEST.:" + std::to_string(origin_->port()) +
                      "\r\n\r\n"));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(origin_->request_count(), 1u);
  EXPECT_EQ(origin_->requests()[0].target, "/");
  EXPECT_EQ(origin_->requests()[0].header("host"), o_);
}

TEST_F(Forwarding, HopByHopRequestHeadersRemoved) {
  auto c = client();
  ASSERT_TRUE(c->send(get("/hop",
                          "Connection: keep-alive, X-Secret-Hop\r\n"
                          "X-Secret-Hop: 1\r\n"
                          "Keep-Alive: timeout=5\r\n"
                          "Proxy-Connection: keep-alive\r\n"
                          "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
                          "TE: trailers\r\n"
                          "Trailer: X-T\r\n"
                          "Upgrade: h2c\r\n"
                          "X-Forwarded-For: 10.1.1.1\r\n"
                          "X-Custom: kept\r\n")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(origin_->request_count(), 1u);
  const auto req = origin_->requests()[0];
  for (const char* h :
       {"x-secret-hop", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
        "upgrade", "via", "x-forwarded-host", "x-forwarded-proto", "forwarded"}) {
    EXPECT_EQ(req.header(h), std::nullopt) << h;
  }
  const std::string conn = req.header("connection").value_or("");
  EXPECT_EQ(conn.find("X-Secret-Hop"), std::string::npos) << conn;
  EXPECT_EQ(conn.find("keep-alive"), std::string::npos) << conn;
  EXPECT_EQ(req.header("x-forwarded-for"), "10.1.1.1");
  EXPECT_EQ(req.header("x-custom"), "kept");
}

TEST_F(Forwarding, HopByHopResponseHeadersAndXProxyErrorRemoved) {
  auto resp = OriginResponse::text("body");
  resp.headers = {{"Connection", "X-Resp-Hop"},
                  {"X-Resp-Hop", "1"},
                  {"Keep-Alive", "timeout=5"},
                  {"Proxy-Authenticate", "Basic realm=x"},
                  {"Proxy-Connection", "keep-alive"},
                  {"Trailer", "X-T"},
                  {"Upgrade", "h2c"},
                  {"x-proxy-error", "blocked-by-denylist"},
                  {"X-Proxy-Error", "blocked-by-allowlist"},
                  {"X-Kept", "yes"}};
  origin_->respond_with(resp);
  auto c = client();
  ASSERT_TRUE(c->send(get("/")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "body");
  for (const char* h : {"x-resp-hop", "keep-alive", "proxy-authenticate", "proxy-connection",
                        "trailer", "upgrade", "x-proxy-error"}) {
    EXPECT_EQ(r->header(h), std::nullopt) << h << "\n" << r->head;
  }
  EXPECT_EQ(r->header("x-kept"), "yes");
  EXPECT_EQ(r->header("connection").value_or("").find("X-Resp-Hop"), std::string::npos);
}

// §18 row 25 through curl.
TEST_F(Forwarding, OriginCannotImitateAProxyBlock) {
  auto resp = OriginResponse::text("{\"status\":\"blocked\"}", 403, "Forbidden");
  resp.headers.emplace_back("x-proxy-error", "blocked-by-denylist");
  origin_->respond_with(resp);
  auto r = curl({"-x", proxy_->url(), "-i", url("/spoof")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(" 403 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("x-proxy-error"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("X-Proxy-Error"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("blocked-by-denylist"), std::string::npos) << r.out;
}

TEST_F(Forwarding, CurlPostContentLengthBodyOneMebibyte) {
  const std::string body = random_bytes(1 << 20);
  const auto file = (dir_ / "body.bin").string();
  std::ofstream(file, std::ios::binary) << body;
  auto r = curl({"-x", proxy_->url(), "--data-binary", "@" + file, "-H",
                 "Content-Type: application/octet-stream", url("/upload")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(origin_->request_count(), 1u);
  const auto req = origin_->requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.header("content-length"), std::to_string(body.size()));
  EXPECT_FALSE(req.chunked);
  EXPECT_TRUE(req.body == body) << "body differs (size " << req.body.size() << ")";
  EXPECT_TRUE(r.out == "POST /upload\nhost: " + o_ + "\n\n" + body)
      << "echoed body differs (size " << r.out.size() << ")";
}

// §8.1: identical Content-Length repeats count as one, and §8.3 re-frames the body, so the
// origin sees exactly one length.
TEST_F(Forwarding, IdenticalContentLengthRepeatsAreForwardedAsOne) {
  auto r = exchange("POST " + url("/cl") + " HTTP/1.1\r\nHost: " + o_ +
                    "\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(origin_->request_count(), 1u);
  EXPECT_EQ(origin_->requests()[0].body, "hello");
  EXPECT_EQ(origin_->requests()[0].header_count("content-length"), 1u);
  EXPECT_EQ(origin_->requests()[0].header("content-length"), "5");
}

TEST_F(Forwarding, CurlPostChunkedBodyIsReframedAndIntact) {
  const std::string body = random_bytes((1 << 20) + 17);
  const auto file = (dir_ / "body.bin").string();
  std::ofstream(file, std::ios::binary) << body;
  auto r = curl({"-x", proxy_->url(), "-H", "Transfer-Encoding: chunked", "--data-binary",
                 "@" + file, url("/chunked")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(origin_->request_count(), 1u);
  const auto req = origin_->requests()[0];
  EXPECT_TRUE(req.chunked);
  EXPECT_EQ(req.header("content-length"), std::nullopt);
  EXPECT_EQ(req.header_count("transfer-encoding"), 1u);
  EXPECT_TRUE(req.body == body) << "body differs (size " << req.body.size() << ")";
  EXPECT_TRUE(r.out == "POST /chunked\nhost: " + o_ + "\n\n" + body);
}

TEST_F(Forwarding, RawChunkedRequestWithExtensionsAndTrailers) {
  auto c = client();
  ASSERT_TRUE(c->send("POST " + url("/c") + " HTTP/1.1\r\nHost: " + o_ +
                      "\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(origin_->request_count(), 1u);
  EXPECT_EQ(origin_->requests()[0].body, "hello world");
}

TEST_F(Forwarding, MalformedChunkInRequestBodyIsRejected) {
  auto c = client();
  ASSERT_TRUE(c->send("POST " + url("/c") + " HTTP/1.1\r\nHost: " + o_ +
                      "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "malformed request");
  EXPECT_TRUE(c->read_until_close(3s).has_value());
  EXPECT_EQ(origin_->request_count(), 0u) << "the origin must not see a complete request";
}

TEST_F(Forwarding, ChunkedResponseDeliveredIntact) {
  origin_->respond_with(OriginResponse::chunked_body({"first;", std::string(70000, 'x'), "last"}));
  auto c = client();
  ASSERT_TRUE(c->send(get("/")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->chunked);
  EXPECT_EQ(r->body, "first;" + std::string(70000, 'x') + "last");
  // curl agrees.
  auto cr = curl({"-x", proxy_->url(), url("/")});
  ASSERT_EQ(cr.exit_code, 0) << cr.err;
  EXPECT_EQ(cr.out, "first;" + std::string(70000, 'x') + "last");
}

TEST_F(Forwarding, UntilCloseResponseDeliveredIntact) {
  const std::string body = random_bytes(300000);
  origin_->respond_with(OriginResponse::until_close_body(body));
  auto c = client();
  ASSERT_TRUE(c->send(get("/")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body == body) << "size " << r->body.size();
  auto cr = curl({"-x", proxy_->url(), url("/")});
  ASSERT_EQ(cr.exit_code, 0) << cr.err;
  EXPECT_TRUE(cr.out == body) << "size " << cr.out.size();
}

TEST_F(Forwarding, ContentLengthResponseDeliveredIntact) {
  const std::string body = random_bytes(2 << 20);
  origin_->respond_with(OriginResponse::text(body));
  auto c = client();
  ASSERT_TRUE(c->send(get("/")));
  auto r = c->read_response(20s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-length"), std::to_string(body.size()));
  EXPECT_TRUE(r->body == body) << "size " << r->body.size();
}

TEST_F(Forwarding, HeadResponseHasNoBody) {
  origin_->respond_with(OriginResponse::text("twelve bytes"));
  auto c = client();
  ASSERT_TRUE(c->send("HEAD " + url("/") + " HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n" + get("/2")));
  auto r = c->read_response(10s, /*head_request=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-length"), "12");
  // The next response follows immediately: no body bytes in between.
  auto r2 = c->read_response();
  ASSERT_TRUE(r2) << c->buffered();
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(r2->body, "twelve bytes");
}

TEST_F(Forwarding, ExpectContinueIsRelayed) {
  auto c = client();
  ASSERT_TRUE(c->send("POST " + url("/cont") + " HTTP/1.1\r\nHost: " + o_ +
                      "\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto interim = c->read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c->send("hello"));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /cont\nhost: " + o_ + "\n\nhello");
  ASSERT_EQ(origin_->request_count(), 1u);
  EXPECT_EQ(origin_->requests()[0].body, "hello");
}

TEST_F(Forwarding, KeepAliveTwoRequestsOnOneClientConnection) {
  auto c = client();
  ASSERT_TRUE(c->send(get("/one")));
  auto r1 = c->read_response();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->header("connection").value_or("keep-alive"), "keep-alive");
  ASSERT_TRUE(c->send(get("/two")));
  auto r2 = c->read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "GET /two\nhost: " + o_ + "\n\n");
  ASSERT_EQ(origin_->request_count(), 2u);
  EXPECT_EQ(origin_->requests()[1].target, "/two");
  // Connection: close from the client ends the connection after the answer.
  ASSERT_TRUE(c->send(get("/three", "Connection: close\r\n")));
  auto r3 = c->read_response();
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status, 200);
  EXPECT_TRUE(c->read_until_close(3s).has_value());
}

TEST_F(Forwarding, CurlReusesTheProxyConnection) {
  auto r = curl({"-v", "-x", proxy_->url(), url("/a"), url("/b")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "GET /a\nhost: " + o_ + "\n\nGET /b\nhost: " + o_ + "\n\n");
  EXPECT_NE(r.err.find("Re-using existing connection"), std::string::npos) << r.err;
  EXPECT_EQ(origin_->request_count(), 2u);
}

TEST_F(Forwarding, PipelinedRequestsAnsweredInOrder) {
  origin_->set_handler([](const OriginRequest& req) {
    auto resp = OriginResponse::echo();
    if (req.target == "/slow") {
      // Still answered first: order comes from the client's request order.
      std::this_thread::sleep_for(200ms);
    }
    return resp;
  });
  auto c = client();
  ASSERT_TRUE(c->send(get("/slow") + "POST " + url("/post") + " HTTP/1.1\r\nHost: " + o_ +
                      "\r\nContent-Length: 3\r\n\r\nabc" + get("/third")));
  auto r1 = c->read_response();
  auto r2 = c->read_response();
  auto r3 = c->read_response();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1->body, "GET /slow\nhost: " + o_ + "\n\n");
  EXPECT_EQ(r2->body, "POST /post\nhost: " + o_ + "\n\nabc");
  EXPECT_EQ(r3->body, "GET /third\nhost: " + o_ + "\n\n");
}

TEST_F(Forwarding, Http10ClientWithoutKeepAliveIsClosed) {
  origin_->respond_with(OriginResponse::chunked_body({"abc", "def"}));
  auto c = client();
  ASSERT_TRUE(c->send(get("/", "", "HTTP/1.0")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->chunked) << "an HTTP/1.0 client must not get chunked framing\n" << r->head;
  EXPECT_EQ(r->body, "abcdef");
  EXPECT_TRUE(c->read_until_close(3s).has_value());
  ASSERT_EQ(origin_->request_count(), 1u);
  EXPECT_EQ(origin_->requests()[0].target, "/");
}

TEST_F(Forwarding, Http10ClientWithKeepAliveStaysOpen) {
  auto c = client();
  ASSERT_TRUE(c->send(get("/one", "Connection: keep-alive\r\n", "HTTP/1.0")));
  auto r1 = c->read_response();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  ASSERT_TRUE(c->send(get("/two", "Connection: keep-alive\r\n", "HTTP/1.0")));
  auto r2 = c->read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "GET /two\nhost: " + o_ + "\n\n");
}

TEST_F(Forwarding, LimitsAreExclusive) {
  // A request line just under 8 KiB and exactly 128 header fields are accepted.
  auto c = client();
  const std::string prefix = "GET " + url("/");
  const std::string line_fill(8 * 1024 - prefix.size() - std::string(" HTTP/1.1").size() - 64, 'a');
  std::string fields;
  for (int i = 0; i < 127; ++i) fields += "X-F" + std::to_string(i) + ": v\r\n";
  ASSERT_TRUE(c->send(get("/" + line_fill, fields)));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(origin_->request_count(), 1u);
}

TEST_F(Forwarding, RefusalKeepsConnectionUsableAfterDrainingSmallBody) {
  auto c = client();
  ASSERT_TRUE(
      c->send("POST http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\n"
              "Content-Length: 10\r\n\r\n0123456789"));
  auto r1 = c->read_response();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 403);
  ASSERT_TRUE(c->send(get("/after")));
  auto r2 = c->read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(r2->body, "GET /after\nhost: " + o_ + "\n\n");
}

// §8.6 502: an invalid upstream response head.
TEST_F(Forwarding, MalformedUpstreamResponseIs502) {
  origin_->respond_with(OriginResponse::raw_bytes(
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello"));
  expect_text_error(get("/"), 502, "upstream failure");
  origin_->respond_with(OriginResponse::raw_bytes("garbage\r\n\r\n"));
  expect_text_error(get("/"), 502, "upstream failure");
  origin_->respond_with(OriginResponse::raw_bytes(
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"));
  expect_text_error(get("/"), 502, "upstream failure");
}

// §8.6 502: the origin closes without answering.
TEST_F(Forwarding, OriginClosingWithoutAnswerIs502) {
  origin_->respond_with(OriginResponse::raw_bytes(""));
  expect_text_error(get("/"), 502, "upstream failure");
}

TEST_F(Forwarding, SchemeIsCaseInsensitiveAndQueryWithoutPathGetsSlash) {
  auto r = exchange("GET HTTP://" + o_ + "?x=1 HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(origin_->request_count(), 1u);
  EXPECT_EQ(origin_->requests()[0].target, "/?x=1");
}

// §8.3: headers already sent, then the origin breaks the body: the client connection closes.
TEST_F(Forwarding, TruncatedResponseBodyClosesTheClientConnection) {
  origin_->respond_with(
      OriginResponse::raw_bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"));
  auto c = client();
  ASSERT_TRUE(c->send(get("/")));
  auto r = c->read_response(5s);
  EXPECT_FALSE(r.has_value()) << "a complete response from a truncated body";
  auto rest = c->read_until_close(5s);
  EXPECT_TRUE(rest.has_value()) << "client connection not closed";
}

// Large sized bodies pass through with splice(2) and a pipe kept per I/O thread: several in a
// row on one client connection (the pipe is reused), then a small one (copied), all intact.
TEST_F(Forwarding, LargeBodiesBackToBackOnOneConnection) {
  std::vector<std::string> bodies;
  for (int i = 0; i < 3; ++i) bodies.push_back(random_bytes((200 << 10) + 1000 * i));
  bodies.push_back("small");
  origin_->set_handler([&bodies](const OriginRequest& r) {
    const std::size_t i = static_cast<std::size_t>(r.target.back() - '0');
    return OriginResponse::text(bodies.at(i));
  });
  auto c = client();
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    ASSERT_TRUE(c->send(get("/b" + std::to_string(i))));
    auto r = c->read_response(20s);
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body == bodies[i]) << i << ": size " << r->body.size();
  }
  EXPECT_EQ(origin_->connection_count(), 1u) << "the origin connection was not kept";
}

// The same break as above in the middle of a large body (the splice path): the client sees the
// connection close, never a complete response.
TEST_F(Forwarding, TruncatedLargeResponseBodyClosesTheClientConnection) {
  origin_->respond_with(OriginResponse::raw_bytes(
      "HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + std::string(150000, 'x')));
  auto c = client();
  ASSERT_TRUE(c->send(get("/")));
  auto r = c->read_response(5s);
  EXPECT_FALSE(r.has_value()) << "a complete response from a truncated body";
  auto rest = c->read_until_close(5s);
  EXPECT_TRUE(rest.has_value()) << "client connection not closed";
}

// §8.3: an upstream response head over the limits → 502.
TEST_F(Forwarding, OversizedUpstreamResponseHeadIs502) {
  origin_->respond_with(OriginResponse::raw_bytes(
      "HTTP/1.1 200 OK\r\nX-Huge: " + std::string(1 << 20, 'h') + "\r\nContent-Length: 0\r\n\r\n"));
  expect_text_error(get("/"), 502, "upstream failure");
}

// §8.3: a refused request whose body cannot be drained (> 64 KiB) closes the connection.
TEST_F(Forwarding, RefusalWithLargeBodyClosesTheConnection) {
  auto c = client();
  ASSERT_TRUE(
      c->send("POST http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\n"
              "Content-Length: 102400\r\n\r\npartial"));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->header("x-proxy-error"), "blocked-by-allowlist");
  EXPECT_TRUE(c->read_until_close(5s).has_value()) << "connection left open";
}

// §8.3: pipelined refused and allowed requests are answered in order on one connection.
TEST_F(Forwarding, PipelinedRefusalThenAllowed) {
  auto c = client();
  ASSERT_TRUE(
      c->send("GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\n\r\n" + get("/ok") +
              "CONNECT blocked.test:443 HTTP/1.1\r\nHost: blocked.test:443\r\n\r\n" + get("/ok2")));
  auto r1 = c->read_response();
  auto r2 = c->read_response();
  auto r3 = c->read_response();
  auto r4 = c->read_response();
  ASSERT_TRUE(r1 && r2 && r3 && r4) << c->buffered();
  EXPECT_EQ(r1->status, 403);
  EXPECT_EQ(r1->header("content-type"), "application/json");
  EXPECT_EQ(r2->body, "GET /ok\nhost: " + o_ + "\n\n");
  EXPECT_EQ(r3->status, 403);
  EXPECT_EQ(r3->body, kMsgNotAllowed);
  EXPECT_EQ(r4->body, "GET /ok2\nhost: " + o_ + "\n\n");
}

// An origin that closes kept-alive connections on its own must not turn the next request into
// an error (a proxy may pool upstream connections, §8.3, but the client never asked for that).
TEST_F(Forwarding, OriginClosingIdleConnectionsIsNotAnError) {
  OriginServer::Options opts;
  opts.keep_alive = false;
  OriginServer closer(opts);
  proxy_->write_config(config(
      "allowed_domains = [\"origin.test\", \"closer.test\"]\nallow_local_binding = true\n"
      "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"], \"closer.test\" = [\"127.0.0.1\"] }\n"));
  ASSERT_TRUE(proxy_->reload());
  const std::string a = authority("closer.test", closer.port());
  for (int i = 0; i < 3; ++i) {
    auto r = exchange("GET http://" + a + "/" + std::to_string(i) + " HTTP/1.1\r\nHost: " + a +
                      "\r\n\r\n");
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200) << i << " " << r->body;
    ASSERT_TRUE(closer.wait_for_closed(closer.connection_count(), 2s));
  }
  EXPECT_EQ(closer.request_count(), 3u);
}

// §8.3: a pooled connection, and the origin connection a keep-alive client keeps between its
// own requests, are reused only after the new request passed the policy and only when their
// address is in its vetted set. /first (200), a reload with `extra`, then /second on the same
// client connection (`same_client`, the held connection) or a new one (the pool) gets `status`
// and the origin sees nothing more.
TEST_F(Forwarding, ReusedConnectionsNotUsedAfterTheAddressChanged) {
  const std::string moved =
      "allowed_domains = [\"origin.test\"]\nallow_local_binding = true\n"
      "dns_hosts = { \"origin.test\" = [\"127.0.0.2\"] }\n";
  expect_no_reuse_after_reload(false, moved, 502);
  expect_no_reuse_after_reload(true, moved, 502);
}

// §6.1: a reload that drops the host from the allowlist applies to the next request even when
// an upstream connection is pooled or held.
TEST_F(Forwarding, ReusedConnectionsNotUsedAfterPolicyChange) {
  const std::string dropped =
      "allowed_domains = [\"other.test\"]\nallow_local_binding = true\n"
      "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"] }\n";
  expect_no_reuse_after_reload(false, dropped, 403);
  expect_no_reuse_after_reload(true, dropped, 403);
}

// Each keep-alive client keeps its own origin connection between its requests (interleaved
// clients do not trade connections), and closed clients' connections serve the next client.
TEST_F(Forwarding, KeepAliveClientKeepsItsOriginConnection) {
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 10; ++i) clients.push_back(client());
  for (int round = 0; round < 3; ++round) {
    for (auto& c : clients) {
      ASSERT_TRUE(c->send(get("/r")));
      auto r = c->read_response();
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200);
    }
  }
  const auto reqs = origin_->requests();
  ASSERT_EQ(reqs.size(), 30u);
  // Round 1: client i dialled connection i+1 (the others were held); rounds 2 and 3 reused it.
  for (std::size_t i = 0; i < 30; ++i) {
    EXPECT_EQ(reqs[i].connection_id, i % 10 + 1) << "request " << i;
  }
  EXPECT_EQ(origin_->connection_count(), 10u);
}

// A request with a body, or with a non-idempotent method, never goes out on a reused connection
// (it could not be re-sent if the origin had closed it meanwhile): it gets a fresh one.
TEST_F(Forwarding, BodiesAndPostsDoNotUseTheHeldConnection) {
  auto c = client();
  ASSERT_TRUE(c->send(get("/first")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  ASSERT_TRUE(c->send("PUT " + url("/put") + " HTTP/1.1\r\nHost: " + o_ +
                      "\r\nContent-Length: 4\r\n\r\nbody"));
  r = c->read_response();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  ASSERT_TRUE(c->send("POST " + url("/post") + " HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n"));
  r = c->read_response();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  ASSERT_TRUE(c->send(get("/last")));
  r = c->read_response();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const auto reqs = origin_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].connection_id, 1u);
  EXPECT_EQ(reqs[1].connection_id, 2u) << "PUT with a body on a fresh connection";
  EXPECT_EQ(reqs[2].connection_id, 3u) << "bodiless POST on a fresh connection";
  EXPECT_EQ(reqs[3].connection_id, 3u) << "the GET reuses the connection held since the POST";
}

// §8.3: response bodies are streamed, never buffered whole.
TEST_F(Forwarding, ChunkedResponseIsStreamed) {
  auto resp = OriginResponse::chunked_body({"first-part", "second-part"});
  resp.chunk_delay = 1500ms;
  origin_->respond_with(resp);
  auto c = client();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->send(get("/stream")));
  ASSERT_TRUE(c->wait_for("first-part", 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1200ms) << "first chunk held back";
  EXPECT_EQ(c->buffered().find("second-part"), std::string::npos);
  auto r = c->read_response(10s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "first-partsecond-part");
}

// Bodiless statuses: no length, no close needed; the client connection stays usable.
TEST_F(Forwarding, NoContentAndNotModifiedNeedNoLength) {
  for (int status : {204, 304}) {
    SCOPED_TRACE(status);
    auto resp = OriginResponse::text("", status, status == 204 ? "No Content" : "Not Modified");
    resp.headers.clear();
    origin_->respond_with(resp);
    auto c = client();
    ASSERT_TRUE(c->send(get("/nc")));
    auto r = c->read_response(3s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status);
    EXPECT_EQ(r->header("transfer-encoding"), std::nullopt) << r->head;
    origin_->respond_with(OriginResponse::echo());
    ASSERT_TRUE(c->send(get("/next")));
    auto r2 = c->read_response(3s);
    ASSERT_TRUE(r2) << "stray bytes: " << c->buffered();
    EXPECT_EQ(r2->body, "GET /next\nhost: " + o_ + "\n\n");
  }
}

}  // namespace
}  // namespace netfence::testing
