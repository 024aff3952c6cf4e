// Policy refusals through the real binary: §8.5 bodies byte for byte, the §2 log lines, limited
// mode (§10.1, §10.2), DNS rows of §18 (14–17), self-target (18), privacy (27), resources (28),
// the 503/504 rows of §8.6, the head deadline (row 13) and graceful shutdown.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>

#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"

namespace netfence::testing {
namespace {

using Clock = std::chrono::steady_clock;

class Policy : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    origin_ = std::make_unique<OriginServer>();
    p_ = origin_->port();
    o_ = authority("origin.test", p_);
  }
  void TearDown() override {
    ProxyTest::TearDown();
    origin_.reset();
  }
  static std::string get(const std::string& url, const std::string& host,
                         const std::string& extra = "") {
    return "GET " + url + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
  }
  static std::string connect(const std::string& target) {
    return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
  }
  // Expects a §8.5 JSON refusal, byte for byte.
  void expect_json(const std::optional<HttpResponse>& r, int status, std::string_view x_proxy_error,
                   const std::string& body) {
    ASSERT_TRUE(r) << "no response";
    EXPECT_EQ(r->status, status) << r->head;
    EXPECT_EQ(r->header("content-type"), "application/json") << r->head;
    EXPECT_EQ(r->header_count("x-proxy-error"), 1u) << r->head;
    EXPECT_EQ(r->header("x-proxy-error"), x_proxy_error) << r->head;
    EXPECT_EQ(r->header("content-length"), std::to_string(r->body.size()));
    EXPECT_EQ(r->body, body);
  }
  void expect_connect_text(const std::optional<HttpResponse>& r, int status,
                           std::string_view x_proxy_error, std::string_view body) {
    ASSERT_TRUE(r) << "no response";
    EXPECT_EQ(r->status, status) << r->head;
    EXPECT_EQ(r->header("content-type"), "text/plain") << r->head;
    EXPECT_EQ(r->header("x-proxy-error"), x_proxy_error) << r->head;
    EXPECT_EQ(r->body, body);
  }

  std::unique_ptr<OriginServer> origin_;
  std::uint16_t p_ = 0;
  std::string o_;
};

// §8.5 and §2: 403 JSON byte for byte, status line, headers, the log line.
TEST_F(Policy, NotAllowedAndDeniedJsonExact) {
  start(origin_config("denied_domains = [\"denied.test\"]\n"));
  auto c = client();
  ASSERT_TRUE(c->send(get("http://blocked.test/", "blocked.test")));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->head.substr(0, r->head.find("\r\n")), "HTTP/1.1 403 Forbidden");
  expect_json(
      r, 403, "blocked-by-allowlist",
      R"({"status":"blocked","host":"blocked.test","reason":"not_allowed","decision":"deny","source":"baseline_policy","protocol":"http","port":80,"message":"Blocked: this host is not on the allowlist. Add it to allowed_domains to permit it."})");

  expect_json(exchange(get("http://denied.test:8443/x", "denied.test:8443")), 403,
              "blocked-by-denylist",
              refusal_json("blocked", "denied.test", "denied", "baseline_policy", "http", 8443,
                           kMsgDenied));
  // https:// absolute-form is judged with protocol http, default port 443.
  expect_json(exchange(get("https://blocked.test/", "blocked.test")), 403, "blocked-by-allowlist",
              refusal_json("blocked", "blocked.test", "not_allowed", "baseline_policy", "http", 443,
                           kMsgNotAllowed));
  EXPECT_EQ(origin_->connection_count(), 0u);

  ASSERT_TRUE(proxy_->wait_for_log("reason=denied", 1));
  const std::string log = proxy_->log();
  EXPECT_TRUE(std::regex_search(
      log,
      std::regex(
          R"((^|\n)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO HTTP proxy listening on 127\.0\.0\.1:\d+\n)")))
      << log;
  EXPECT_TRUE(std::regex_search(
      log,
      std::regex(
          R"(\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO blocked protocol=http client=127\.0\.0\.1:\d+ host=blocked\.test port=80 reason=not_allowed source=baseline_policy\n)")))
      << log;
  EXPECT_TRUE(std::regex_search(
      log,
      std::regex(
          R"(INFO blocked protocol=http client=127\.0\.0\.1:\d+ host=denied\.test port=8443 reason=denied source=baseline_policy\n)")))
      << log;
}

// §10.1, §18 row 22.
TEST_F(Policy, LimitedModeMethodGuard) {
  start(origin_config("mode = \"limited\"\ndenied_domains = [\"denied.test\"]\n"));
  const std::string url = "http://" + o_ + "/";
  for (const std::string m : {"GET", "HEAD", "OPTIONS"}) {
    auto c = client();
    ASSERT_TRUE(c->send(m + " " + url + " HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n"));
    auto r = c->read_response(10s, m == "HEAD");
    ASSERT_TRUE(r) << m;
    EXPECT_EQ(r->status, 200) << m;
  }
  {
    auto r = exchange(get(url, o_, "Content-Length: 0\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << "an empty body is no body";
  }
  ASSERT_EQ(origin_->request_count(), 4u);
  const std::string refused = refusal_json("blocked", "origin.test", "method_not_allowed",
                                           "mode_guard", "http", p_, kMsgMethod);
  std::vector<std::string> requests;
  for (const std::string m : {"POST", "PUT", "DELETE", "PATCH", "get", "TRACE", "CONNECTX"}) {
    requests.push_back(m + " " + url + " HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n");
  }
  requests.push_back(get(url, o_, "X-HTTP-Method-Override: POST\r\n"));
  requests.push_back(get(url, o_, "X-HTTP-Method: PUT\r\n"));
  requests.push_back(get(url, o_, "X-Method-Override: DELETE\r\n"));
  requests.push_back(get("ws://" + o_ + "/", o_, "Upgrade: websocket\r\nConnection: Upgrade\r\n"));
  requests.push_back(get(url, o_, "Upgrade: h2c\r\nConnection: Upgrade\r\n"));
  requests.push_back(get(url, o_, "Content-Length: 5\r\n") + "hello");
  requests.push_back(get(url, o_, "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n");
  for (const auto& req : requests) {
    SCOPED_TRACE(req);
    expect_json(exchange(req), 403, "blocked-by-method-policy", refused);
  }
  EXPECT_EQ(origin_->request_count(), 4u) << "refused requests reached the origin";
  // Host policy first: a denylisted host reports `denied`, not the method.
  expect_json(
      exchange("POST http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\n\r\n"), 403,
      "blocked-by-denylist",
      refusal_json("blocked", "denied.test", "denied", "baseline_policy", "http", 80, kMsgDenied));
  // §10.2: CONNECT without mitm.
  expect_connect_text(exchange(connect(o_)), 403, "blocked-by-mitm-required", kMsgMitm);
  EXPECT_TRUE(proxy_->wait_for_log("reason=mitm_required source=mode_guard"));
  EXPECT_TRUE(proxy_->wait_for_log("reason=method_not_allowed source=mode_guard"));
  EXPECT_EQ(origin_->request_count(), 4u);
}

// §18 row 14: names whose answers include a non-public address.
TEST_F(Policy, NamesResolvingToLocalAddressesAreRefused) {
  dns_->load_script(
      "loop.test A 127.0.0.1\n"
      "ten.test A 10.0.0.1\n"
      "six.test AAAA ::1\n"
      "mapped.test AAAA ::ffff:127.0.0.1\n"
      "nat64.test AAAA 64:ff9b::a9fe:a9fe\n"
      "mixed.test A 93.184.216.34 127.0.0.1\n"
      "alias.test CNAME loop.test\n");
  start(
      config("allowed_domains = [\"*.test\"]\n"
             "connect_timeout_ms = 2000\n"
             "dns_hosts = { \"static.test\" = [\"127.0.0.1\"] }\n"));
  for (const std::string name : {"loop.test", "ten.test", "six.test", "mapped.test", "nat64.test",
                                 "mixed.test", "alias.test", "static.test"}) {
    SCOPED_TRACE(name);
    const std::string a = authority(name, p_);
    expect_json(exchange(get("http://" + a + "/", a)), 403, "blocked-by-allowlist",
                refusal_json("blocked", name, "not_allowed_local", "baseline_policy", "http", p_,
                             kMsgNotAllowedLocal));
    expect_connect_text(exchange(connect(a)), 403, "blocked-by-allowlist", kMsgNotAllowedLocal);
  }
  EXPECT_EQ(origin_->connection_count(), 0u);
}

// §18 row 14, §7.3: a name resolving to one of the host's own interface addresses.
TEST_F(Policy, NameResolvingToOwnInterfaceAddressIsRefused) {
  std::string own;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (auto* i = list; i && own.empty(); i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
      char buf[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
      if (std::string(buf).rfind("127.", 0) != 0) own = buf;
    }
    ::freeifaddrs(list);
  }
  if (own.empty()) GTEST_SKIP() << "no non-loopback IPv4 interface address";
  dns_->add_address("own.test", own);
  start(config("allowed_domains = [\"*.test\"]\nconnect_timeout_ms = 2000\n"));
  expect_json(exchange(get("http://own.test/", "own.test")), 403, "blocked-by-allowlist",
              refusal_json("blocked", "own.test", "not_allowed_local", "baseline_policy", "http",
                           80, kMsgNotAllowedLocal));
}

// §18 row 3 (name form): metadata stays blocked with allow_local_binding = true.
TEST_F(Policy, NameResolvingToMetadataRefusedEvenWithLocalBinding) {
  dns_->load_script("meta.test A 169.254.169.254\n");
  start(config("allowed_domains = [\"*.test\"]\nallow_local_binding = true\n"));
  expect_json(exchange(get("http://meta.test/", "meta.test")), 403, "blocked-by-allowlist",
              refusal_json("blocked", "meta.test", "not_allowed_local", "baseline_policy", "http",
                           80, kMsgNotAllowedLocal));
}

// §18 row 15 (loopback form): one lookup per request; the connection goes to that answer.
TEST_F(Policy, RebindingNameIsResolvedOncePerRequest) {
  dns_->set_rebind("rb.test", "127.0.0.1", "127.0.0.2");
  start(config("allowed_domains = [\"rb.test\"]\nallow_local_binding = true\n"));
  const std::string a = authority("rb.test", p_);
  auto r = exchange(get("http://" + a + "/first", a));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /first\nhost: " + a + "\n\n");
  EXPECT_EQ(dns_->query_count("rb.test", dns_wire::kTypeA), 1u);
  EXPECT_EQ(origin_->request_count(), 1u);
  // The next evaluation resolves again (TTL 0) and gets 127.0.0.2, where nothing listens.
  auto r2 = exchange(get("http://" + a + "/second", a));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 502);
  EXPECT_EQ(r2->body, "upstream failure");
  EXPECT_EQ(dns_->query_count("rb.test", dns_wire::kTypeA), 2u);
  EXPECT_EQ(origin_->request_count(), 1u);
}

// §18 row 16.
TEST_F(Policy, DnsFailuresAre502Json) {
  dns_->load_script(
      "nx.test NXDOMAIN\n"
      "sf.test SERVFAIL\n"
      "rf.test REFUSED\n"
      "slow.test TIMEOUT\n"
      "empty.test EMPTY\n");
  start(config("allowed_domains = [\"*.test\"]\ndns_timeout_ms = 500\n"));
  for (const std::string name : {"nx.test", "sf.test", "rf.test", "slow.test", "empty.test"}) {
    SCOPED_TRACE(name);
    const auto t0 = Clock::now();
    auto r = exchange(get("http://" + name + "/", name));
    expect_json(r, 502, "dns-failure",
                refusal_json("error", name, "dns_failure", "proxy_state", "http", 80, kMsgDns));
    EXPECT_LT(Clock::now() - t0, 5s);
  }
  expect_json(exchange(connect("nx.test:443")), 502, "dns-failure",
              refusal_json("error", "nx.test", "dns_failure", "proxy_state", "https_connect", 443,
                           kMsgDns));
  EXPECT_TRUE(proxy_->wait_for_log("host=nx.test port=80 reason=dns_failure source=proxy_state"));
}

// §8.3: after a 502 dns-failure refusal the connection stays usable.
TEST_F(Policy, DnsFailureKeepsTheConnectionUsable) {
  dns_->load_script("nx.test NXDOMAIN\n");
  start(config("allowed_domains = [\"nx.test\"]\n"));
  auto c = client();
  ASSERT_TRUE(c->send(get("http://nx.test/", "nx.test")));
  auto r1 = c->read_response();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 502);
  EXPECT_EQ(r1->header("x-proxy-error"), "dns-failure");
  ASSERT_TRUE(c->send(get("http://" + o_ + "/after", o_)));
  auto r2 = c->read_response();
  ASSERT_TRUE(r2) << "connection closed after a dns-failure refusal";
  EXPECT_EQ(r2->status, 403) << "origin.test is not on this allowlist";
}

// §18 row 17: a refused name is never resolved.
TEST_F(Policy, RefusedNamesCauseNoDnsQueries) {
  dns_->load_script(
      "allowed.test A 127.0.0.1\nother.test A 127.0.0.1\nevil.allowed.test A 127.0.0.1\n");
  start(
      config("allowed_domains = [\"**.allowed.test\"]\n"
             "denied_domains = [\"evil.allowed.test\"]\n"
             "allow_local_binding = true\n"));
  expect_json(exchange(get("http://other.test/", "other.test")), 403, "blocked-by-allowlist",
              refusal_json("blocked", "other.test", "not_allowed", "baseline_policy", "http", 80,
                           kMsgNotAllowed));
  expect_connect_text(exchange(connect("other.test:443")), 403, "blocked-by-allowlist",
                      kMsgNotAllowed);
  expect_json(exchange(get("http://evil.allowed.test/", "evil.allowed.test")), 403,
              "blocked-by-denylist",
              refusal_json("blocked", "evil.allowed.test", "denied", "baseline_policy", "http", 80,
                           kMsgDenied));
  expect_connect_text(exchange(connect("evil.allowed.test:443")), 403, "blocked-by-denylist",
                      kMsgDenied);
  EXPECT_EQ(dns_->query_count(), 0u);
  // Control: an allowed name does reach the stub (so the zero above means something).
  const std::string a = authority("allowed.test", p_);
  auto r = exchange(get("http://" + a + "/", a));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_GT(dns_->query_count("allowed.test"), 0u);
  EXPECT_EQ(dns_->query_count("other.test"), 0u);
  EXPECT_EQ(dns_->query_count("evil.allowed.test"), 0u);
}

// §18 row 18 and §6.3.
TEST_F(Policy, SelfTargetsAreRefused) {
  const std::uint16_t admin = unused_port();
  const std::uint16_t socks = unused_port();
  start(config("admin_url = \"http://127.0.0.1:" + std::to_string(admin) +
               "\"\n"
               "socks_url = \"http://127.0.0.1:" +
               std::to_string(socks) +
               "\"\n"
               "allow_local_binding = true\n"
               "allowed_domains = [\"127.0.0.1\", \"localhost\", \"admin.test\", \"0.0.0.0\"]\n"
               "dns_hosts = { \"admin.test\" = [\"127.0.0.1\"] }\n"));
  const std::uint16_t proxy = proxy_->port();
  const std::string self =
      refusal_json("blocked", "127.0.0.1", "self_target", "proxy_state", "http", admin, kMsgSelf);
  const std::string a = authority("127.0.0.1", admin);
  expect_json(exchange("POST http://" + a + "/mode HTTP/1.1\r\nHost: " + a +
                       "\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n"
                       "{\"mode\":\"limited\"}"),
              403, "blocked-by-policy", self);
  expect_json(
      exchange(
          get("http://127.0.0.1:" + std::to_string(proxy) + "/", authority("127.0.0.1", proxy))),
      403, "blocked-by-policy",
      refusal_json("blocked", "127.0.0.1", "self_target", "proxy_state", "http", proxy, kMsgSelf));
  expect_json(
      exchange(
          get("http://admin.test:" + std::to_string(admin) + "/", authority("admin.test", admin))),
      403, "blocked-by-policy",
      refusal_json("blocked", "admin.test", "self_target", "proxy_state", "http", admin, kMsgSelf));
  for (const std::string& target :
       {authority("127.0.0.1", proxy), authority("localhost", admin), authority("127.0.0.1", admin),
        authority("[::ffff:127.0.0.1]", admin), authority("0.0.0.0", proxy),
        authority("127.0.0.1", socks)}) {
    SCOPED_TRACE(target);
    expect_connect_text(exchange(connect(target)), 403, "blocked-by-policy", kMsgSelf);
  }
  EXPECT_TRUE(proxy_->wait_for_log("reason=self_target source=proxy_state", 9));
}

// §18 row 27.
TEST_F(Policy, PathsAndQueriesNeverLogged) {
  start(origin_config());
  auto ok = exchange(get("http://" + o_ + "/p?token=SECRET", o_));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto refused = exchange(get("http://blocked.test/p?token=SECRET", "blocked.test"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(refused->body.find("SECRET"), std::string::npos);
  ASSERT_TRUE(proxy_->wait_for_log("host=blocked.test"));
  EXPECT_EQ(proxy_->stop(), 0);
  const std::string log = proxy_->log();
  EXPECT_EQ(log.find("SECRET"), std::string::npos) << log;
  EXPECT_EQ(log.find("token"), std::string::npos) << log;
  EXPECT_EQ(log.find("/p"), std::string::npos) << log;
  // Allowed requests are logged at DEBUG only.
  EXPECT_EQ(log.find("allowed protocol="), std::string::npos) << log;
}

// §8.6 503 and §18 row 28 (at a CI-sized scale).
TEST_F(Policy, MaxConnectionsAnswers503AndRecovers) {
  start(origin_config("max_connections = 2\n"));
  auto c1 = client();
  auto c2 = client();
  for (auto* c : {c1.get(), c2.get()}) {
    ASSERT_TRUE(c->send(get("http://" + o_ + "/", o_)));
    auto r = c->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  auto c3 = client();
  auto r3 = c3->read_response();
  ASSERT_TRUE(r3) << "no 503 right after accept";
  EXPECT_EQ(r3->status, 503);
  EXPECT_EQ(r3->header("content-type"), "text/plain");
  EXPECT_EQ(r3->body, "too many connections");
  EXPECT_TRUE(c3->read_until_close(3s).has_value()) << "not closed after the 503";
  EXPECT_EQ(origin_->request_count(), 2u);
  // Freeing a slot lets the next client in.
  c1->close();
  bool served = false;
  for (auto deadline = Clock::now() + 5s; !served && Clock::now() < deadline;) {
    auto r = exchange(get("http://" + o_ + "/again", o_), 3s);
    if (r && r->status == 200) {
      served = true;
    } else {
      std::this_thread::sleep_for(50ms);
    }
  }
  EXPECT_TRUE(served);
}

// §8.6 503 `network proxy is disabled`, via a reload (the CLI refuses to start disabled).
TEST_F(Policy, DisabledByReloadAnswers503) {
  start(origin_config());
  auto keep = client();
  ASSERT_TRUE(keep->send(get("http://" + o_ + "/", o_)));
  auto r0 = keep->read_response();
  ASSERT_TRUE(r0);
  EXPECT_EQ(r0->status, 200);
  std::string cfg = origin_config();
  cfg.replace(cfg.find("enabled = true"), 14, "enabled = false");
  proxy_->write_config(cfg);
  ASSERT_TRUE(proxy_->reload());
  ASSERT_NE(proxy_->log().find("configuration reloaded"), std::string::npos) << proxy_->log();
  for (const std::string& req : {get("http://" + o_ + "/", o_), connect(o_)}) {
    SCOPED_TRACE(req);
    auto r = exchange(req);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->header("content-type"), "text/plain");
    EXPECT_EQ(r->body, "network proxy is disabled");
    EXPECT_EQ(r->header("x-proxy-error"), std::nullopt);
  }
  // `enabled` is read at request time: also on a connection opened before the reload.
  if (keep->send(get("http://" + o_ + "/", o_))) {
    auto r = keep->read_response();
    if (r) {
      EXPECT_EQ(r->status, 503);
      EXPECT_EQ(r->body, "network proxy is disabled");
    }
  }
  EXPECT_EQ(origin_->request_count(), 1u);
  EXPECT_TRUE(proxy_->wait_for_log("reason=proxy_disabled source=proxy_state"));
}

// §8.6 504: no response head within idle_timeout_s.
TEST_F(Policy, OriginThatNeverAnswersIs504) {
  origin_->respond_with(OriginResponse::never());
  start(origin_config("idle_timeout_s = 1\n"));
  const auto t0 = Clock::now();
  expect_text_error(get("http://" + o_ + "/", o_), 504, "upstream timeout");
  const auto elapsed = Clock::now() - t0;
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 5s);
  EXPECT_EQ(origin_->request_count(), 1u);
}

// §8.7 and §18 row 13: a head not complete within 30 s is closed, even while bytes trickle in.
TEST_F(Policy, SlowlorisHeadClosedAt30Seconds) {
  start(origin_config());
  auto c = client();
  const auto t0 = Clock::now();
  ASSERT_TRUE(c->send("GET http://" + o_ + "/ HTTP/1.1\r\nHost: " + o_ + "\r\nX-Slow: "));
  bool closed = false;
  while (!closed && Clock::now() - t0 < 40s) {
    if (c->read_until_close(2s).has_value()) {
      closed = true;
    } else if (!c->send("a")) {
      closed = true;
    }
  }
  const auto elapsed = Clock::now() - t0;
  EXPECT_TRUE(closed);
  EXPECT_GE(elapsed, 29s);
  EXPECT_LE(elapsed, 34s);
  EXPECT_EQ(origin_->connection_count(), 0u);
}

TEST_F(Policy, SigtermWhileIdleExitsZeroPromptly) {
  start(origin_config());
  auto c = client();
  ASSERT_TRUE(c->send(get("http://" + o_ + "/", o_)));
  ASSERT_TRUE(c->read_response());
  c->close();
  const auto t0 = Clock::now();
  EXPECT_EQ(proxy_->stop(SIGTERM, 10s), 0);
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_TRUE(proxy_->wait_for_log("shutting down"));
}

TEST_F(Policy, SigintExitsZero) {
  start(origin_config());
  const auto t0 = Clock::now();
  EXPECT_EQ(proxy_->stop(SIGINT, 10s), 0);
  EXPECT_LT(Clock::now() - t0, 3s);
}

}  // namespace
}  // namespace netfence::testing
