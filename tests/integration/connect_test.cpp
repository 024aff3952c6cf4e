// CONNECT tunnels (SPEC §8.4), https:// absolute-form over TLS (§8.2), ws:// upgrades, and
// tunnels closed by a reload (§8.6 `enabled = false`, §10.1 / §18 row 24).
#include <signal.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>

#include "proxy_fixture.hpp"
#include "test_pki.hpp"

namespace netfence::testing {
namespace {

constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";

class Connect : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    OriginServer::Options opts;
    opts.stream_echo = true;
    origin_ = std::make_unique<OriginServer>(opts);
  }
  void TearDown() override {
    ProxyTest::TearDown();
    origin_.reset();
  }
  std::string tunnel_config(const std::string& extra = "") const {
    return config(
        "allowed_domains = [\"127.0.0.1\", \"origin.test\"]\n"
        "allow_local_binding = true\n"
        "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"] }\n" +
        extra);
  }
  std::string connect_head(const std::string& target) const {
    return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
  }
  // Opens a tunnel to the stream origin and checks the 200 line byte for byte.
  std::unique_ptr<RawClient> open_tunnel(const std::string& early = "") {
    auto c = client();
    EXPECT_TRUE(c->send(connect_head(authority("127.0.0.1", origin_->port())) + early));
    auto line = c->read_exact(kEstablished.size());
    EXPECT_EQ(line.value_or("<nothing>"), kEstablished);
    return c;
  }
  std::unique_ptr<OriginServer> origin_;
};

TEST_F(Connect, EstablishedLineExactAndEarlyBytesForwardedFirst) {
  start(tunnel_config());
  auto c = open_tunnel("EARLY-BYTES");
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(origin_->wait_for_stream(1, 11, 5s));
  EXPECT_EQ(origin_->stream_bytes(1), "EARLY-BYTES");
  auto echoed = c->read_exact(11);
  EXPECT_EQ(echoed.value_or(""), "EARLY-BYTES");
  ASSERT_TRUE(c->send("ping"));
  EXPECT_EQ(c->read_exact(4).value_or(""), "ping");
  EXPECT_EQ(origin_->stream_bytes(1), "EARLY-BYTESping");
}

TEST_F(Connect, ByNameAndLogsNothingBlocked) {
  start(tunnel_config());
  auto c = client();
  ASSERT_TRUE(c->send(connect_head(authority("origin.test", origin_->port()))));
  EXPECT_EQ(c->read_exact(kEstablished.size()).value_or(""), kEstablished);
  ASSERT_TRUE(c->send("x"));
  EXPECT_EQ(c->read_exact(1).value_or(""), "x");
  EXPECT_EQ(proxy_->count_in_log("blocked "), 0u);
}

TEST_F(Connect, HalfCloseFromClientStillDeliversOriginReply) {
  start(tunnel_config());
  auto c = open_tunnel();
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(c->send("last words"));
  EXPECT_EQ(c->read_exact(10).value_or(""), "last words");
  c->shutdown_write();
  EXPECT_TRUE(origin_->wait_for_stream_eof(1, 5s)) << "the origin must see the client's EOF";
  // The origin answers after the EOF; that still reaches the client, then the tunnel closes.
  auto rest = c->read_until_close(5s);
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(*rest, "BYE");
}

TEST_F(Connect, BulkRelayBothWays) {
  start(tunnel_config());
  auto c = open_tunnel();
  ASSERT_FALSE(HasFailure());
  std::string data(4 << 20, '\0');
  std::mt19937 rng(7);
  for (auto& ch : data) ch = static_cast<char>(rng() & 0xff);
  std::thread writer([&] {
    c->send(data);
    c->shutdown_write();
  });
  auto echoed = c->read_until_close(30s);
  writer.join();
  ASSERT_TRUE(echoed.has_value());
  EXPECT_EQ(echoed->size(), data.size() + 3);
  EXPECT_TRUE(*echoed == data + "BYE");
}

TEST_F(Connect, ClosedPortIs502AndNothingRelayed) {
  start(tunnel_config());
  const std::uint16_t closed = unused_port();
  auto c = client();
  ASSERT_TRUE(c->send(connect_head(authority("127.0.0.1", closed)) + "EARLY"));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(r->header("content-type"), "text/plain");
  EXPECT_EQ(r->body, "upstream failure");
  auto rest = c->read_until_close(3s);
  ASSERT_TRUE(rest.has_value()) << "connection must close";
  EXPECT_EQ(*rest, "");
}

TEST_F(Connect, AbsoluteFormToClosedPortIs502) {
  start(tunnel_config());
  const std::uint16_t closed = unused_port();
  expect_text_error("GET http://127.0.0.1:" + std::to_string(closed) + "/ HTTP/1.1\r\n\r\n", 502,
                    "upstream failure");
}

TEST_F(Connect, Refused403IsTextPlain) {
  start(tunnel_config("denied_domains = [\"denied.test\"]\n"));
  auto c = client();
  ASSERT_TRUE(c->send(connect_head("blocked.test:443")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->header("content-type"), "text/plain");
  EXPECT_EQ(r->header("x-proxy-error"), "blocked-by-allowlist");
  EXPECT_EQ(r->body, kMsgNotAllowed);
  auto d = exchange(connect_head("denied.test:443"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 403);
  EXPECT_EQ(d->header("x-proxy-error"), "blocked-by-denylist");
  EXPECT_EQ(d->body, kMsgDenied);
  EXPECT_TRUE(proxy_->wait_for_log("INFO blocked protocol=https_connect client=127.0.0.1:"));
  EXPECT_NE(proxy_->log().find(" host=denied.test port=443 reason=denied source=baseline_policy"),
            std::string::npos)
      << proxy_->log();
}

// §8.6: a tunnel open when `enabled` turns false is closed.
TEST_F(Connect, DisablingTheProxyClosesOpenTunnels) {
  start(tunnel_config());
  auto c = open_tunnel();
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(c->send("a"));
  EXPECT_EQ(c->read_exact(1).value_or(""), "a");
  proxy_->write_config(
      "[network]\nenabled = false\nproxy_url = \"http://127.0.0.1:0\"\n"
      "allow_upstream_proxy = false\n");
  ASSERT_TRUE(proxy_->reload());
  EXPECT_TRUE(c->read_until_close(5s).has_value()) << "tunnel still open";
  EXPECT_TRUE(origin_->wait_for_closed(1, 5s));
}

// §8.6: an established tunnel keeps its connection slot (the session hands the sockets to a
// relay and returns, the slot goes with them), and gives it back when it closes.
TEST_F(Connect, OpenTunnelKeepsItsConnectionSlot) {
  start(tunnel_config("max_connections = 1\n"));
  auto c = open_tunnel();
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(c->send("a"));
  EXPECT_EQ(c->read_exact(1).value_or(""), "a");
  {
    auto over = client();
    auto r = over->read_response();
    ASSERT_TRUE(r) << "no 503 while the tunnel holds the only slot";
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->body, "too many connections");
  }
  ASSERT_TRUE(c->send("b"));
  EXPECT_EQ(c->read_exact(1).value_or(""), "b") << "the tunnel itself still works";
  c->close();
  bool reopened = false;
  for (auto deadline = std::chrono::steady_clock::now() + 5s;
       !reopened && std::chrono::steady_clock::now() < deadline;) {
    auto again = client();
    if (again->send(connect_head(authority("127.0.0.1", origin_->port()))) &&
        again->read_exact(kEstablished.size()).value_or("") == kEstablished) {
      reopened = true;
    } else {
      std::this_thread::sleep_for(50ms);
    }
  }
  EXPECT_TRUE(reopened) << "slot not released after the tunnel closed";
}

// §10.1, §18 row 24: switching to limited mode closes raw CONNECT tunnels.
TEST_F(Connect, SwitchingToLimitedModeClosesOpenTunnels) {
  start(tunnel_config());
  auto c = open_tunnel();
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(c->send("a"));
  EXPECT_EQ(c->read_exact(1).value_or(""), "a");
  proxy_->write_config(tunnel_config("mode = \"limited\"\n"));
  ASSERT_TRUE(proxy_->reload());
  EXPECT_NE(proxy_->log().find("configuration reloaded"), std::string::npos) << proxy_->log();
  EXPECT_TRUE(c->read_until_close(5s).has_value()) << "tunnel still open";
  EXPECT_TRUE(origin_->wait_for_closed(1, 5s));
  // New CONNECTs now get mitm_required.
  auto r = exchange(connect_head(authority("127.0.0.1", origin_->port())));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->body, kMsgMitm);
}

// §8.4: a tunnel with no traffic in either direction closes after idle_timeout_s; traffic in
// one direction keeps it open.
TEST_F(Connect, IdleTunnelClosesAfterIdleTimeout) {
  start(tunnel_config("idle_timeout_s = 1\n"));
  auto busy = open_tunnel();
  ASSERT_FALSE(HasFailure());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(busy->send("k")) << i;
    ASSERT_EQ(busy->read_exact(1, 2s).value_or(""), "k") << "busy tunnel closed after " << i;
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1500ms);
  auto idle = open_tunnel();
  ASSERT_FALSE(HasFailure());
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle->read_until_close(5s).has_value()) << "idle tunnel still open";
  const auto elapsed = std::chrono::steady_clock::now() - t1;
  EXPECT_GE(elapsed, 800ms);
  EXPECT_LT(elapsed, 4s);
}

// §8.6: a refused CONNECT leaves the connection usable (nothing to drain).
TEST_F(Connect, RefusedConnectKeepsTheConnectionUsable) {
  start(tunnel_config());
  auto c = client();
  ASSERT_TRUE(c->send(connect_head("blocked.test:443")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  ASSERT_TRUE(c->send(connect_head(authority("origin.test", origin_->port())) + "z"));
  EXPECT_EQ(c->read_exact(kEstablished.size()).value_or(""), kEstablished);
  EXPECT_EQ(c->read_exact(1).value_or(""), "z");
}

// §4 / §18 row 1: a numeric host is canonicalised before it is judged and forwarded.
TEST_F(Connect, NumericHostIsCanonicalisedForTheOrigin) {
  OriginServer http;
  start(tunnel_config());
  const std::string p = std::to_string(http.port());
  auto r = exchange("GET http://2130706433:" + p + "/n HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(http.request_count(), 1u);
  EXPECT_EQ(http.requests()[0].header("host"), "127.0.0.1:" + p);
}

// §2: SIGTERM stops accepting at once, lets a tunnel live until the deadline, then closes it
// and exits 0.
TEST_F(Connect, ShutdownClosesOpenTunnelsAtTheDeadline) {
  start(tunnel_config());
  auto c = open_tunnel();
  ASSERT_FALSE(HasFailure());
  const std::uint16_t port = proxy_->port();
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(proxy_->pid(), SIGTERM);
  bool refused = false;
  for (auto deadline = t0 + 2s; !refused && std::chrono::steady_clock::now() < deadline;) {
    RawClient probe;
    refused = !probe.connect(port);
    if (!refused) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(refused) << "still accepting after SIGTERM";
  // The tunnel still relays during the grace period.
  ASSERT_TRUE(c->send("q"));
  EXPECT_EQ(c->read_exact(1).value_or(""), "q");
  EXPECT_TRUE(c->read_until_close(10s).has_value()) << "tunnel not closed at the deadline";
  EXPECT_EQ(proxy_->wait_for_exit(10s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 9s);
}

// §2: a request in flight when SIGTERM arrives still gets its answer.
TEST_F(Connect, InFlightRequestCompletesDuringShutdown) {
  OriginServer slow;
  slow.set_handler([](const OriginRequest&) {
    std::this_thread::sleep_for(700ms);
    return OriginResponse::text("late");
  });
  start(tunnel_config());
  auto c = client();
  ASSERT_TRUE(
      c->send("GET http://127.0.0.1:" + std::to_string(slow.port()) + "/ HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(slow.wait_for_requests(1, 5s));
  ::kill(proxy_->pid(), SIGTERM);
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "late");
  EXPECT_EQ(proxy_->wait_for_exit(10s), 0);
}

// §8.4: half-close from the origin side: its EOF reaches the client, the client can still send.
TEST_F(Connect, HalfCloseFromOriginStillCarriesClientBytes) {
  OriginServer::Options opts;
  opts.stream_greeting_then_half_close = "HELLO";
  OriginServer speaker(opts);
  start(tunnel_config());
  auto c = client();
  ASSERT_TRUE(c->send(connect_head(authority("127.0.0.1", speaker.port()))));
  EXPECT_EQ(c->read_exact(kEstablished.size()).value_or(""), kEstablished);
  auto greeting = c->read_until_close(5s);
  ASSERT_TRUE(greeting.has_value()) << "origin EOF not propagated";
  EXPECT_EQ(*greeting, "HELLO");
  ASSERT_TRUE(c->send("still talking"));
  EXPECT_TRUE(speaker.wait_for_stream(1, 13, 5s));
  EXPECT_EQ(speaker.stream_bytes(1), "still talking");
  c->shutdown_write();
  EXPECT_TRUE(speaker.wait_for_stream_eof(1, 5s));
}

// §8.4: the Host header of a CONNECT is ignored; HTTP/1.0 CONNECT works too.
TEST_F(Connect, HostHeaderIgnoredAndHttp10Accepted) {
  start(tunnel_config());
  auto c = client();
  ASSERT_TRUE(c->send("CONNECT " + authority("origin.test", origin_->port()) +
                      " HTTP/1.0\r\nHost: evil.net:1\r\n\r\nv"));
  auto line = c->read_exact(kEstablished.size());
  EXPECT_EQ(line.value_or(""), kEstablished);
  EXPECT_EQ(c->read_exact(1).value_or(""), "v");
}

// --- TLS ---------------------------------------------------------------------------------------

class Tls : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    pki_ = make_test_pki(dir_.string(), "origin", {"localhost", "origin.test"}, {"127.0.0.1"});
    OriginServer::Options opts;
    opts.tls = true;
    opts.cert_file = pki_.leaf_cert;
    opts.key_file = pki_.leaf_key;
    origin_ = std::make_unique<OriginServer>(opts);
    o_ = authority("origin.test", origin_->port());
  }
  void TearDown() override {
    ProxyTest::TearDown();
    origin_.reset();
  }
  std::string tls_config(const std::string& ca) const {
    return config(
        "allowed_domains = [\"origin.test\", \"127.0.0.1\", \"other.test\"]\n"
        "allow_local_binding = true\n"
        "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"], \"other.test\" = [\"127.0.0.1\"] }\n"
        "extra_ca_certs = \"" +
        ca + "\"\n");
  }
  TestPki pki_;
  std::unique_ptr<OriginServer> origin_;
  std::string o_;
};

TEST_F(Tls, CurlProxyTunnelToTlsOrigin) {
  // netfence needs no CA for a CONNECT tunnel: curl verifies the origin end to end.
  start(
      config("allowed_domains = [\"origin.test\"]\nallow_local_binding = true\n"
             "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"] }\n"));
  auto r = curl({"-p", "-x", proxy_->url(), "--cacert", pki_.ca_cert, "https://" + o_ + "/hello"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "GET /hello\nhost: " + o_ + "\n\n");
  ASSERT_EQ(origin_->request_count(), 1u);
}

TEST_F(Tls, HttpsAbsoluteFormFetchedOverTls) {
  start(tls_config(pki_.ca_cert));
  auto r = exchange("GET https://" + o_ + "/secure?x=1 HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /secure?x=1\nhost: " + o_ + "\n\n");
  ASSERT_EQ(origin_->request_count(), 1u);
  EXPECT_EQ(origin_->requests()[0].target, "/secure?x=1");
}

TEST_F(Tls, HttpsAbsoluteFormToIpLiteralVerifiesTheIpSan) {
  start(tls_config(pki_.ca_cert));
  const std::string a = authority("127.0.0.1", origin_->port());
  auto r = exchange("GET https://" + a + "/ip HTTP/1.1\r\nHost: " + a + "\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /ip\nhost: " + a + "\n\n");
}

TEST_F(Tls, UntrustedCertificateIs502) {
  const auto other = make_test_pki(dir_.string(), "stranger", {"nobody.test"}, {});
  start(tls_config(other.ca_cert));
  expect_text_error("GET https://" + o_ + "/ HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n", 502,
                    "upstream failure");
  EXPECT_EQ(origin_->request_count(), 0u);
}

TEST_F(Tls, CertificateForAnotherNameIs502) {
  start(tls_config(pki_.ca_cert));
  const std::string a = authority("other.test", origin_->port());
  expect_text_error("GET https://" + a + "/ HTTP/1.1\r\nHost: " + a + "\r\n\r\n", 502,
                    "upstream failure");
  EXPECT_EQ(origin_->request_count(), 0u);
}

// --- WebSocket ---------------------------------------------------------------------------------

class WebSocket : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    origin_ = std::make_unique<OriginServer>();
    origin_->respond_with(OriginResponse::websocket());
    o_ = authority("origin.test", origin_->port());
  }
  void TearDown() override {
    ProxyTest::TearDown();
    origin_.reset();
  }
  std::string upgrade(const std::string& scheme) const {
    return "GET " + scheme + "://" + o_ + "/chat HTTP/1.1\r\nHost: " + o_ +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  }
  std::unique_ptr<OriginServer> origin_;
  std::string o_;
};

TEST_F(WebSocket, UpgradeRelayedThenBytesBothWays) {
  start(origin_config());
  for (const std::string scheme : {"ws", "http"}) {
    SCOPED_TRACE(scheme);
    const std::size_t id = origin_->connection_count() + 1;
    auto c = client();
    ASSERT_TRUE(c->send(upgrade(scheme)));
    auto r = c->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 101);
    EXPECT_EQ(r->header("upgrade"), "websocket");
    std::string conn = r->header("connection").value_or("");
    std::transform(conn.begin(), conn.end(), conn.begin(), ::tolower);
    EXPECT_NE(conn.find("upgrade"), std::string::npos) << r->head;
    EXPECT_EQ(r->header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

    ASSERT_TRUE(origin_->wait_for_requests(id, 5s));
    const auto req = origin_->requests().back();
    EXPECT_EQ(req.target, "/chat");
    EXPECT_EQ(req.header("upgrade"), "websocket");
    std::string oconn = req.header("connection").value_or("");
    std::transform(oconn.begin(), oconn.end(), oconn.begin(), ::tolower);
    EXPECT_NE(oconn.find("upgrade"), std::string::npos) << oconn;
    EXPECT_EQ(req.header("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");

    const std::string frame("\x81\x05hello", 7);
    ASSERT_TRUE(c->send(frame));
    EXPECT_EQ(c->read_exact(frame.size()).value_or(""), frame);
    EXPECT_TRUE(origin_->wait_for_stream(id, frame.size(), 5s));
    EXPECT_EQ(origin_->stream_bytes(id), frame);
    c->shutdown_write();
    EXPECT_TRUE(origin_->wait_for_stream_eof(id, 5s));
    EXPECT_EQ(c->read_until_close(5s).value_or("<open>"), "BYE");
  }
}

TEST_F(WebSocket, SwitchingToLimitedModeClosesTheRelay) {
  start(origin_config());
  auto c = client();
  ASSERT_TRUE(c->send(upgrade("ws")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 101);
  proxy_->write_config(origin_config("mode = \"limited\"\n"));
  ASSERT_TRUE(proxy_->reload());
  EXPECT_TRUE(c->read_until_close(5s).has_value()) << "websocket relay still open";
}

// An origin that declines the upgrade answers like any request; nothing is relayed raw.
TEST_F(WebSocket, DeclinedUpgradeIsAnOrdinaryResponse) {
  origin_->respond_with(OriginResponse::text("no upgrade here", 426, "Upgrade Required"));
  start(origin_config());
  auto c = client();
  ASSERT_TRUE(c->send(upgrade("ws")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 426);
  EXPECT_EQ(r->body, "no upgrade here");
}

}  // namespace
}  // namespace netfence::testing
