// Upstream proxy chaining end to end (SPEC §12): the real binary with HTTP_PROXY / HTTPS_PROXY /
// NO_PROXY in its environment, a recording upstream HTTP proxy run by this test, and local
// origins. The policy still judges every final target.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "origin_server.hpp"
#include "proxy_fixture.hpp"
#include "socks_client.hpp"
#include "test_pki.hpp"

namespace netfence::testing {
namespace {

int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A minimal upstream HTTP proxy: records each request head; answers absolute-form requests
// itself ("via-upstream <request line> auth=<Proxy-Authorization>"); for CONNECT host:port
// connects to 127.0.0.1:port (every name is local here), answers 200 and relays, unless told to
// refuse CONNECT with 403.
class UpstreamProxy {
 public:
  // With `pki`, an https:// proxy: TLS with pki's leaf certificate on every connection.
  explicit UpstreamProxy(const TestPki* pki = nullptr) {
    if (pki) {
      ctx_ = SSL_CTX_new(TLS_server_method());
      SSL_CTX_use_certificate_chain_file(ctx_, pki->leaf_cert.c_str());
      SSL_CTX_use_PrivateKey_file(ctx_, pki->leaf_key.c_str(), SSL_FILETYPE_PEM);
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~UpstreamProxy() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
    if (ctx_) SSL_CTX_free(ctx_);
  }
  std::uint16_t port() const { return port_; }
  void refuse_connect() { refuse_ = true; }
  std::vector<std::string> heads() {
    std::lock_guard lock(m_);
    return heads_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      conns_.emplace_back([this, c] {
        handle(c);
        ::close(c);
      });
    }
  }
  // The client side of one connection: plain, or TLS over the descriptor.
  struct Conn {
    int fd;
    SSL* ssl = nullptr;
    bool wait_readable(int ms) const {
      if (ssl && SSL_pending(ssl) > 0) return true;
      pollfd p{fd, POLLIN, 0};
      return ::poll(&p, 1, ms) > 0;
    }
    ssize_t read(char* b, std::size_t n) const {
      return ssl ? SSL_read(ssl, b, static_cast<int>(n)) : ::read(fd, b, n);
    }
    void write(std::string_view s) const {
      if (!ssl) return write_all(fd, s);
      while (!s.empty()) {
        const int n = SSL_write(ssl, s.data(), static_cast<int>(s.size()));
        if (n <= 0) return;
        s.remove_prefix(static_cast<std::size_t>(n));
      }
    }
  };
  static bool read_head(const Conn& c, std::string& in) {
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      if (!c.wait_readable(5000)) return false;
      const ssize_t n = c.read(buf, sizeof buf);
      if (n <= 0) return false;
      in.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  static std::string header(const std::string& head, const std::string& lower_name) {
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    const auto pos = lower.find("\r\n" + lower_name + ": ");
    if (pos == std::string::npos) return "";
    const auto start = pos + 4 + lower_name.size();
    return head.substr(start, head.find("\r\n", start) - start);
  }
  static void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void handle(int fd) {
    Conn c{fd};
    if (ctx_) {
      c.ssl = SSL_new(ctx_);
      SSL_set_fd(c.ssl, fd);
      if (SSL_accept(c.ssl) != 1) {
        SSL_free(c.ssl);
        return;
      }
    }
    serve_one(c);
    if (c.ssl) {
      SSL_shutdown(c.ssl);
      SSL_free(c.ssl);
    }
  }
  void serve_one(const Conn& c) {
    std::string in;
    if (!read_head(c, in)) return;
    const std::string head = in.substr(0, in.find("\r\n\r\n") + 4);
    {
      std::lock_guard lock(m_);
      heads_.push_back(head);
    }
    const std::string line = head.substr(0, head.find("\r\n"));
    if (line.rfind("CONNECT ", 0) != 0) {
      const std::string body =
          "via-upstream " + line + " auth=" + header(head, "proxy-authorization");
      c.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\nConnection: close\r\n\r\n" + body);
      return;
    }
    if (refuse_) {
      c.write("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const std::string target = line.substr(8, line.find(' ', 8) - 8);
    const auto port = static_cast<std::uint16_t>(std::stoi(target.substr(target.rfind(':') + 1)));
    const int o = connect_loopback(port);
    if (o < 0) {
      c.write("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    c.write("HTTP/1.1 200 Connection established\r\n\r\n");
    const std::string rest = in.substr(head.size());
    if (!rest.empty()) write_all(o, rest);
    char buf[16384];
    for (;;) {
      if (c.ssl && SSL_pending(c.ssl) > 0) {
        const ssize_t n = c.read(buf, sizeof buf);
        if (n <= 0) break;
        write_all(o, std::string_view(buf, static_cast<std::size_t>(n)));
        continue;
      }
      pollfd p[2] = {{c.fd, POLLIN, 0}, {o, POLLIN, 0}};
      if (::poll(p, 2, 5000) <= 0) break;
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = c.read(buf, sizeof buf);
        if (n <= 0) break;
        write_all(o, std::string_view(buf, static_cast<std::size_t>(n)));
      }
      if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::read(o, buf, sizeof buf);
        if (n <= 0) break;
        c.write(std::string_view(buf, static_cast<std::size_t>(n)));
      }
    }
    ::close(o);
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> refuse_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;  // touched only by the accept thread, joined after it
  std::mutex m_;
  std::vector<std::string> heads_;
};

class Upstream : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    origin_ = std::make_unique<OriginServer>();
    o_ = authority("origin.test", origin_->port());
    up_ = std::make_unique<UpstreamProxy>();
    up_url_ = "http://127.0.0.1:" + std::to_string(up_->port());
  }
  void TearDown() override {
    ProxyTest::TearDown();
    up_.reset();
    origin_.reset();
  }
  // The fixture's config with upstream proxies allowed; origin.test resolves locally,
  // nores.test does not (the stub DNS server answers NXDOMAIN for it).
  std::string upstream_config(const std::string& extra = "") const {
    std::string c = config(
        "allowed_domains = [\"origin.test\", \"nores.test\"]\nallow_local_binding = true\n"
        "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"] }\n" +
        extra);
    c.replace(c.find("allow_upstream_proxy = false"), 28, "allow_upstream_proxy = true");
    return c;
  }
  std::unique_ptr<OriginServer> origin_;
  std::string o_;
  std::unique_ptr<UpstreamProxy> up_;
  std::string up_url_;
};

// Plain HTTP goes to HTTP_PROXY in absolute-form with the canonical authority and the
// credentials from the URL's userinfo.
TEST_F(Upstream, PlainHttpInAbsoluteFormWithCredentials) {
  proxy_->set_env("HTTP_PROXY", "http://agent:s%3Acret@127.0.0.1:" + std::to_string(up_->port()));
  start(upstream_config());
  auto r = exchange("GET http://ORIGIN.test:" + std::to_string(origin_->port()) +
                    "/p?q=1 HTTP/1.1\r\nHost: origin.test:" + std::to_string(origin_->port()) +
                    "\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // base64("agent:s:cret") = YWdlbnQ6czpjcmV0
  EXPECT_EQ(r->body,
            "via-upstream GET http://" + o_ + "/p?q=1 HTTP/1.1 auth=Basic YWdlbnQ6czpjcmV0");
  EXPECT_EQ(origin_->request_count(), 0u);
  EXPECT_NE(proxy_->log().find("upstream proxy: http via http://127.0.0.1:" +
                               std::to_string(up_->port())),
            std::string::npos)
      << proxy_->log();
  EXPECT_EQ(proxy_->log().find("s%3Acret"), std::string::npos) << "credentials in the log";
}

// A name that does not resolve locally is passed on; the policy still judges the target.
TEST_F(Upstream, UnresolvableNamesArePassedOnButPolicyStillApplies) {
  proxy_->set_env("HTTP_PROXY", up_url_);
  start(upstream_config());
  auto r =
      exchange("GET http://nores.test/ HTTP/1.1\r\nHost: nores.test\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "via-upstream GET http://nores.test/ HTTP/1.1 auth=");
  r = exchange(
      "GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->header("x-proxy-error"), "blocked-by-allowlist");
  EXPECT_EQ(up_->heads().size(), 1u);
}

// CONNECT is chained with a CONNECT to the upstream (HTTPS_PROXY), then relayed.
TEST_F(Upstream, ConnectIsChained) {
  proxy_->set_env("HTTPS_PROXY", up_url_);
  start(upstream_config());
  auto c = client();
  ASSERT_TRUE(c->send("CONNECT " + o_ + " HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n"));
  auto line = c->read_exact(39);
  ASSERT_EQ(line.value_or(""), "HTTP/1.1 200 Connection established\r\n\r\n");
  ASSERT_TRUE(c->send("GET /t HTTP/1.1\r\nHost: " + o_ + "\r\nConnection: close\r\n\r\n"));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /t\nhost: " + o_ + "\n\n");
  const auto heads = up_->heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].rfind("CONNECT " + o_ + " HTTP/1.1\r\n", 0), 0u) << heads[0];
  // HTTPS_PROXY does not carry plain HTTP (HTTP_PROXY and ALL_PROXY are unset): direct.
  auto direct =
      exchange("GET http://" + o_ + "/d HTTP/1.1\r\nHost: " + o_ + "\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->body, "GET /d\nhost: " + o_ + "\n\n");
}

// SOCKS5 TCP is chained through HTTPS_PROXY / ALL_PROXY too.
TEST_F(Upstream, Socks5IsChainedThroughAllProxy) {
  proxy_->set_env("ALL_PROXY", up_url_);
  start(upstream_config());
  RawClient c;
  ASSERT_TRUE(c.connect(proxy_->socks_port()));
  ASSERT_TRUE(c.send(socks5::greeting({0x00})));
  ASSERT_EQ(c.read_exact(2).value_or(""), std::string("\x05\x00", 2));
  ASSERT_TRUE(c.send(
      socks5::request(socks5::kConnect, socks5::addr_domain("origin.test", origin_->port()))));
  auto reply = socks5::read_reply(c);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->rep, 0x00);
  ASSERT_TRUE(c.send("GET /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /s\nhost: x\n\n");
  ASSERT_EQ(up_->heads().size(), 1u);
  EXPECT_EQ(up_->heads()[0].rfind("CONNECT " + o_ + " HTTP/1.1\r\n", 0), 0u);
}

// NO_PROXY sends matching targets direct.
TEST_F(Upstream, NoProxyBypasses) {
  proxy_->set_env("HTTP_PROXY", up_url_);
  proxy_->set_env("NO_PROXY", "localhost, .origin.test");
  start(upstream_config());
  auto r =
      exchange("GET http://" + o_ + "/n HTTP/1.1\r\nHost: " + o_ + "\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /n\nhost: " + o_ + "\n\n");
  EXPECT_TRUE(up_->heads().empty());
}

// Upstream failures are 502: a refused CONNECT, and an upstream nobody listens on.
TEST_F(Upstream, UpstreamFailuresAre502) {
  up_->refuse_connect();
  proxy_->set_env("HTTPS_PROXY", up_url_);
  start(upstream_config());
  expect_text_error("CONNECT " + o_ + " HTTP/1.1\r\n\r\n", 502, "upstream failure");
  EXPECT_NE(proxy_->log().find("CONNECT " + o_ + " failed: answered 403"), std::string::npos)
      << proxy_->log();
}

TEST_F(Upstream, DeadUpstreamIs502) {
  proxy_->set_env("HTTP_PROXY", "http://127.0.0.1:" + std::to_string(unused_port()));
  start(upstream_config());
  expect_text_error("GET http://" + o_ + "/ HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n", 502,
                    "upstream failure");
}

// Bad values and loops are ignored with the §12 warnings; allow_upstream_proxy = false ignores
// the environment altogether.
TEST_F(Upstream, WarningsAndLoopProtection) {
  const std::uint16_t own = unused_port();
  proxy_->set_env("HTTPS_PROXY", "socks5://127.0.0.1:1080");
  proxy_->set_env("HTTP_PROXY", "http://127.0.0.1:" + std::to_string(own));
  proxy_->set_env("ALL_PROXY", "http://[bad");
  std::string c = upstream_config();
  c.replace(c.find("proxy_url = \"http://127.0.0.1:0\""), 32,
            "proxy_url = \"http://127.0.0.1:" + std::to_string(own) + "\"");
  start(c);
  const std::string log = proxy_->log();
  EXPECT_NE(
      log.find("WARN ignoring HTTPS_PROXY: only http and https upstream proxies are supported"),
      std::string::npos)
      << log;
  EXPECT_NE(log.find("WARN ignoring ALL_PROXY: invalid proxy URL"), std::string::npos) << log;
  EXPECT_NE(log.find("WARN ignoring HTTP_PROXY: it points at netfence's own listener 127.0.0.1:" +
                     std::to_string(own)),
            std::string::npos)
      << log;
  auto r =
      exchange("GET http://" + o_ + "/l HTTP/1.1\r\nHost: " + o_ + "\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /l\nhost: " + o_ + "\n\n");  // direct
}

TEST_F(Upstream, DisallowedUpstreamIgnoresTheEnvironment) {
  proxy_->set_env("HTTP_PROXY", up_url_);
  start(
      config("allowed_domains = [\"origin.test\"]\nallow_local_binding = true\n"
             "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"] }\n"));
  auto r =
      exchange("GET http://" + o_ + "/x HTTP/1.1\r\nHost: " + o_ + "\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /x\nhost: " + o_ + "\n\n");
  EXPECT_TRUE(up_->heads().empty());
}

// MITM upstream connections are chained too: TLS to the origin inside the upstream's CONNECT.
TEST_F(Upstream, MitmUpstreamIsChained) {
  const auto pki = make_test_pki(dir_.string(), "origin", {"origin.test"}, {});
  OriginServer::Options opts;
  opts.tls = true;
  opts.cert_file = pki.leaf_cert;
  opts.key_file = pki.leaf_key;
  OriginServer tls_origin(opts);
  const std::string a = authority("origin.test", tls_origin.port());
  proxy_->set_env("HTTPS_PROXY", up_url_);
  start(upstream_config("mode = \"limited\"\nmitm = true\nextra_ca_certs = \"" + pki.ca_cert +
                        "\"\n"));
  auto r = curl({"-p", "-x", proxy_->url(), "--cacert", (dir_ / "proxy" / "ca.pem").string(),
                 "https://" + a + "/m"});
  ASSERT_EQ(r.exit_code, 0) << r.err << proxy_->log();
  EXPECT_EQ(r.out, "GET /m\nhost: " + a + "\n\n");
  ASSERT_EQ(up_->heads().size(), 1u);
  EXPECT_EQ(up_->heads()[0].rfind("CONNECT " + a + " HTTP/1.1\r\n", 0), 0u) << up_->heads()[0];
}

// An https:// upstream proxy: TLS to the proxy (verified with extra_ca_certs), then CONNECT
// chaining and plain HTTP through it.
TEST_F(Upstream, HttpsUpstreamProxy) {
  const auto pki = make_test_pki(dir_.string(), "proxy", {"proxy.test"}, {"127.0.0.1"});
  UpstreamProxy tls_up(&pki);
  const std::string url = "https://127.0.0.1:" + std::to_string(tls_up.port());
  proxy_->set_env("HTTPS_PROXY", url);
  proxy_->set_env("HTTP_PROXY", url);
  start(upstream_config("extra_ca_certs = \"" + pki.ca_cert + "\"\n"));
  auto c = client();
  ASSERT_TRUE(c->send("CONNECT " + o_ + " HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(c->read_exact(39).value_or(""), "HTTP/1.1 200 Connection established\r\n\r\n")
      << proxy_->log();
  ASSERT_TRUE(c->send("GET /tls HTTP/1.1\r\nHost: " + o_ + "\r\nConnection: close\r\n\r\n"));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /tls\nhost: " + o_ + "\n\n");
  auto plain = exchange(
      "GET http://nores.test/p HTTP/1.1\r\nHost: nores.test\r\n"
      "Connection: close\r\n\r\n");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->body, "via-upstream GET http://nores.test/p HTTP/1.1 auth=");
  ASSERT_EQ(tls_up.heads().size(), 2u);
}

// An https:// upstream whose certificate is not trusted: 502, nothing sent through it.
TEST_F(Upstream, UntrustedHttpsUpstreamIs502) {
  const auto pki = make_test_pki(dir_.string(), "proxy", {"proxy.test"}, {"127.0.0.1"});
  UpstreamProxy tls_up(&pki);
  proxy_->set_env("HTTPS_PROXY", "https://127.0.0.1:" + std::to_string(tls_up.port()));
  start(upstream_config());
  expect_text_error("CONNECT " + o_ + " HTTP/1.1\r\n\r\n", 502, "upstream failure");
  EXPECT_TRUE(tls_up.heads().empty());
  EXPECT_NE(proxy_->log().find("TLS handshake failed"), std::string::npos) << proxy_->log();
}

}  // namespace
}  // namespace netfence::testing
