// Limited mode with TLS interception end to end (SPEC §10.2–§10.5, §18 rows 22–24): curl and
// openssl s_client through the real binary, against a local TLS origin whose test CA netfence
// trusts through extra_ca_certs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <string>

#include "process.hpp"
#include "proxy_fixture.hpp"
#include "test_pki.hpp"

namespace netfence::testing {
namespace {

namespace fs = std::filesystem;

// A TLS client inside a CONNECT tunnel that stays open across several requests (curl cannot
// keep one open across a reload). Blocking OpenSSL on a socket with 10 s timeouts.
class TlsTunnel {
 public:
  TlsTunnel() = default;
  TlsTunnel(const TlsTunnel&) = delete;
  TlsTunnel& operator=(const TlsTunnel&) = delete;
  ~TlsTunnel() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }

  // CONNECT `target` through the proxy, then a TLS handshake verifying `host` against `ca`.
  // Returns "" on success, else what failed.
  std::string open(std::uint16_t proxy_port, const std::string& target, const std::string& host,
                   const std::string& ca) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(proxy_port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return "connect";
    const std::string req = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      return "send CONNECT";
    }
    std::string head;
    char c;
    while (!head.ends_with("\r\n\r\n")) {
      if (::recv(fd_, &c, 1, 0) != 1) return "CONNECT answer: " + head;
      head.push_back(c);
    }
    if (!head.starts_with("HTTP/1.1 200 ")) return "CONNECT answer: " + head;
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr) != 1) return "load CA";
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    SSL_set1_host(ssl_, host.c_str());
    if (SSL_connect(ssl_) != 1) return "TLS handshake";
    return "";
  }

  // Writes `request` and reads one Content-Length framed response (head and body), or nullopt.
  std::optional<std::string> exchange(const std::string& request) {
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return std::nullopt;
    std::string in;
    char buf[4096];
    for (;;) {
      const auto end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string lower = in.substr(0, end);
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        const auto cl = lower.find("\r\ncontent-length:");
        const std::size_t len = cl == std::string::npos ? 0 : std::stoul(lower.substr(cl + 17));
        if (in.size() >= end + 4 + len) return in.substr(0, end + 4 + len);
      }
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      in.append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

class Mitm : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    pki_ = make_test_pki(dir_.string(), "origin", {"origin.test", "other.test"}, {"127.0.0.1"});
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

  // Limited mode with interception; the origin's CA is trusted through extra_ca_certs.
  std::string mitm_config(const std::string& extra = "", bool trust_origin = true) const {
    return config(
        "mode = \"limited\"\nmitm = true\n"
        "allowed_domains = [\"origin.test\", \"other.test\"]\n"
        "allow_local_binding = true\n"
        "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"], \"other.test\" = [\"127.0.0.1\"] }\n" +
        (trust_origin ? "extra_ca_certs = \"" + pki_.ca_cert + "\"\n" : std::string()) + extra);
  }
  fs::path ca_pem() const { return dir_ / "proxy" / "ca.pem"; }

  // curl through the proxy's CONNECT with the netfence CA as the only trust anchor; prints the
  // response headers (after the CONNECT answer), the body and the status on the last line.
  CurlResult fetch(std::vector<std::string> extra, const std::string& path = "/hello") {
    std::vector<std::string> args{"-p", "-x", proxy_->url(), "--cacert",      ca_pem().string(),
                                  "-D", "-",  "-w",          "\n%{http_code}"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("https://" + o_ + path);
    return curl(args);
  }
  static std::string status_of(const CurlResult& r) {
    const auto nl = r.out.rfind('\n');
    return nl == std::string::npos ? r.out : r.out.substr(nl + 1);
  }

  // The certificate netfence presents for `host`, as PEM, fetched with openssl s_client.
  std::string presented_certificate(const std::string& host, const std::string& alpn,
                                    std::string* s_client_out = nullptr) {
    const std::string cmd = "openssl s_client -proxy 127.0.0.1:" + std::to_string(proxy_->port()) +
                            " -connect " + authority(host, origin_->port()) +
                            " -servername sni.example -alpn " + alpn + " </dev/null 2>&1";
    auto r = run_process({"/bin/sh", "-c", cmd});
    if (s_client_out) *s_client_out = r.out;
    const auto b = r.out.find("-----BEGIN CERTIFICATE-----");
    const auto e = r.out.find("-----END CERTIFICATE-----");
    if (b == std::string::npos || e == std::string::npos) return "";
    return r.out.substr(b, e + 25 - b) + "\n";
  }

  TestPki pki_;
  std::unique_ptr<OriginServer> origin_;
  std::string o_;
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// §10.2, §18 row 22: a GET goes through the interception to the origin; the CA was created on
// start with the §10.3 file modes.
TEST_F(Mitm, GetThroughInterception) {
  start(mitm_config());
  EXPECT_EQ(mode_of(dir_ / "proxy"), 0700u);
  EXPECT_EQ(mode_of(ca_pem()), 0644u);
  EXPECT_EQ(mode_of(dir_ / "proxy" / "ca.key"), 0600u);
  auto r = fetch({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_of(r), "200") << r.out;
  EXPECT_NE(r.out.find("GET /hello\nhost: " + o_ + "\n"), std::string::npos) << r.out;
  ASSERT_EQ(origin_->request_count(), 1u);
  EXPECT_EQ(origin_->requests()[0].target, "/hello");
  // Several requests on one tunnel, each checked and forwarded.
  r = curl({"-p", "-x", proxy_->url(), "--cacert", ca_pem().string(), "https://" + o_ + "/a",
            "https://" + o_ + "/b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "GET /a\nhost: " + o_ + "\n\nGET /b\nhost: " + o_ + "\n\n");
  EXPECT_EQ(origin_->request_count(), 3u);
}

// §10.1, §10.5 step 4, §18 row 23: writes are refused inside the tunnel with the method-policy
// answer, recorded with protocol https; nothing reaches the origin.
TEST_F(Mitm, WritesAreRefusedInsideTheTunnel) {
  start(mitm_config());
  for (const std::vector<std::string>& how : {std::vector<std::string>{"-X", "POST", "-d", "x=1"},
                                              {"-X", "DELETE"},
                                              {"-H", "X-HTTP-Method-Override: DELETE"},
                                              {"-X", "get"}}) {
    auto r = fetch(how);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(status_of(r), "403") << r.out;
    EXPECT_NE(r.out.find("x-proxy-error: blocked-by-method-policy"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("limited mode permits only GET, HEAD and OPTIONS"), std::string::npos)
        << r.out;
  }
  EXPECT_EQ(origin_->request_count(), 0u);
  EXPECT_TRUE(proxy_->wait_for_log("blocked protocol=https client=127.0.0.1"));
  EXPECT_NE(proxy_->log().find("host=origin.test port=" + std::to_string(origin_->port()) +
                               " reason=method_not_allowed source=mode_guard"),
            std::string::npos)
      << proxy_->log();
  // HEAD and OPTIONS are read-only.
  auto r = fetch({"-I"});
  EXPECT_EQ(status_of(r), "200") << r.out;
  r = fetch({"-X", "OPTIONS"});
  EXPECT_EQ(status_of(r), "200") << r.out;
}

// §10.5 step 5, §18 row 26: an x-unix-socket header inside MITM is removed and never honoured.
TEST_F(Mitm, UnixSocketHeaderIsIgnoredInside) {
  start(mitm_config("allow_unix_sockets = [\"/tmp/netfence-nonexistent.sock\"]\n"));
  auto r = fetch({"-H", "x-unix-socket: /tmp/netfence-nonexistent.sock"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_of(r), "200") << r.out;
  ASSERT_EQ(origin_->request_count(), 1u);
  const auto reqs = origin_->requests();
  for (const auto& [name, value] : reqs[0].headers) {
    EXPECT_NE(name, "x-unix-socket");
  }
}

// §10.5 step 2: the Host header must name the CONNECT target (no domain fronting).
TEST_F(Mitm, HostMismatchIs400) {
  start(mitm_config());
  auto r = fetch({"-H", "Host: " + authority("other.test", origin_->port())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_of(r), "400") << r.out;
  EXPECT_NE(r.out.find("Host header does not match CONNECT target"), std::string::npos) << r.out;
  r = fetch({"-H", "Host: origin.test:1"});
  EXPECT_EQ(status_of(r), "400") << r.out;
  EXPECT_EQ(origin_->request_count(), 0u);
}

// §10.5 step 1: CONNECT inside the tunnel is 405.
TEST_F(Mitm, InnerConnectIs405) {
  start(mitm_config());
  auto r = fetch({"-X", "CONNECT"});
  EXPECT_EQ(status_of(r), "405") << r.out << r.err;
  EXPECT_NE(r.out.find("CONNECT not supported inside MITM"), std::string::npos) << r.out;
  EXPECT_EQ(origin_->request_count(), 0u);
}

// §10.5 step 3 and §10.1: the tunnel stays open across a reload, and each inner request is
// judged on the current snapshot: a host denied after the tunnel opened is refused inside it.
TEST_F(Mitm, InnerRequestsFollowTheCurrentPolicy) {
  start(mitm_config());
  TlsTunnel t;
  ASSERT_EQ(t.open(proxy_->port(), o_, "origin.test", ca_pem().string()), "");
  const std::string get = "GET /one HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n";
  auto r = t.exchange(get);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->starts_with("HTTP/1.1 200 ")) << *r;
  EXPECT_TRUE(r->ends_with("GET /one\nhost: " + o_ + "\n\n")) << *r;

  proxy_->write_config(mitm_config("denied_domains = [\"origin.test\"]\n"));
  ASSERT_TRUE(proxy_->reload());
  ASSERT_NE(proxy_->log().find("configuration reloaded"), std::string::npos) << proxy_->log();
  r = t.exchange(get);
  ASSERT_TRUE(r) << "the MITM tunnel was closed by the reload";
  EXPECT_TRUE(r->starts_with("HTTP/1.1 403 ")) << *r;
  EXPECT_NE(r->find("x-proxy-error: blocked-by-denylist"), std::string::npos) << *r;
  EXPECT_EQ(origin_->request_count(), 1u);
  EXPECT_TRUE(proxy_->wait_for_log("reason=denied source=baseline_policy")) << proxy_->log();
}

// §10.1: a MITM tunnel opened in limited mode stays open when the mode becomes full, and its
// inner requests follow the current mode.
TEST_F(Mitm, InnerRequestsFollowTheCurrentMode) {
  start(mitm_config());
  TlsTunnel t;
  ASSERT_EQ(t.open(proxy_->port(), o_, "origin.test", ca_pem().string()), "");
  const std::string post = "POST /w HTTP/1.1\r\nHost: " + o_ + "\r\nContent-Length: 2\r\n\r\nhi";
  auto r = t.exchange(post);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->starts_with("HTTP/1.1 403 ")) << *r;
  std::string full = mitm_config();
  full.replace(full.find("mode = \"limited\""), 16, "mode = \"full\"");
  proxy_->write_config(full);
  ASSERT_TRUE(proxy_->reload());
  r = t.exchange(post);
  ASSERT_TRUE(r) << "the MITM tunnel was closed by the reload";
  EXPECT_TRUE(r->starts_with("HTTP/1.1 200 ")) << *r;
  EXPECT_TRUE(r->ends_with("POST /w\nhost: " + o_ + "\n\nhi")) << *r;
}

// §10.4: the origin is verified against the system roots plus extra_ca_certs; without them the
// inner request is 502 `mitm upstream error`.
TEST_F(Mitm, UntrustedOriginIs502) {
  start(mitm_config("", false));
  auto r = fetch({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_of(r), "502") << r.out;
  EXPECT_NE(r.out.find("mitm upstream error"), std::string::npos) << r.out;
  EXPECT_EQ(origin_->request_count(), 0u);
}

// §10.2: without mitm = true a limited-mode CONNECT is 403 mitm_required.
TEST_F(Mitm, WithoutMitmConnectIsRefused) {
  start(
      config("mode = \"limited\"\nallowed_domains = [\"origin.test\"]\nallow_local_binding = true\n"
             "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"] }\n"));
  auto c = client();
  ASSERT_TRUE(c->send("CONNECT " + o_ + " HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n"));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->header("x-proxy-error"), "blocked-by-mitm-required");
  EXPECT_FALSE(fs::exists(ca_pem())) << "no CA is created without mitm = true";
}

// §10.4: the leaf presented for the CONNECT host (not the client's SNI), with the exact fields,
// chaining to the netfence CA; ALPN http/1.1 or nothing.
TEST_F(Mitm, LeafCertificateFields) {
  start(mitm_config());
  std::string handshake;
  const std::string pem = presented_certificate("origin.test", "h2,http/1.1", &handshake);
  ASSERT_FALSE(pem.empty()) << handshake;
  EXPECT_NE(handshake.find("ALPN protocol: http/1.1"), std::string::npos) << handshake;
  const fs::path leaf = dir_ / "leaf.pem";
  std::ofstream(leaf) << pem;
  auto text = run_process({"/usr/bin/openssl", "x509", "-in", leaf.string(), "-noout", "-text"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const std::string& t = text.out;
  EXPECT_NE(t.find("Subject: CN = origin.test"), std::string::npos) << t;
  EXPECT_NE(t.find("Issuer: CN = netfence local MITM CA, O = netfence"), std::string::npos) << t;
  EXPECT_NE(t.find("DNS:origin.test"), std::string::npos) << t;
  EXPECT_EQ(t.find("sni.example"), std::string::npos) << t;
  EXPECT_NE(t.find("CA:FALSE"), std::string::npos) << t;
  EXPECT_NE(t.find("TLS Web Server Authentication"), std::string::npos) << t;
  EXPECT_NE(t.find("X509v3 Key Usage: critical\n                Digital Signature"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("X509v3 Authority Key Identifier"), std::string::npos) << t;
  EXPECT_NE(t.find("X509v3 Subject Key Identifier"), std::string::npos) << t;
  EXPECT_NE(t.find("ecdsa-with-SHA256"), std::string::npos) << t;
  auto verify =
      run_process({"/usr/bin/openssl", "verify", "-CAfile", ca_pem().string(), leaf.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // A client offering only h2 gets no ALPN selection (and still a handshake).
  ASSERT_FALSE(presented_certificate("origin.test", "h2", &handshake).empty()) << handshake;
  EXPECT_NE(handshake.find("No ALPN negotiated"), std::string::npos) << handshake;

  // The same leaf is reused for the host (LRU), another host gets its own.
  EXPECT_EQ(presented_certificate("origin.test", "http/1.1"), pem);
  const std::string other = presented_certificate("other.test", "http/1.1");
  ASSERT_FALSE(other.empty());
  EXPECT_NE(other, pem);
}

// §10.3: a CA error at start makes `netfence run` exit 1 with the exact text.
TEST_F(Mitm, BrokenCaFailsTheStart) {
  fs::create_directories(dir_ / "proxy");
  std::ofstream(dir_ / "proxy" / "ca.pem") << "not a certificate\n";
  EXPECT_NE(proxy_->start(mitm_config(), 5s), "");
  EXPECT_EQ(proxy_->wait_for_exit(5s), 1);
  EXPECT_NE(
      proxy_->log().find("CA files must both exist or both be absent (cert=" + ca_pem().string() +
                         ", key=" + (dir_ / "proxy" / "ca.key").string() + ")"),
      std::string::npos)
      << proxy_->log();
}

// §10.3: a CA error at reload fails the reload and keeps the previous configuration.
TEST_F(Mitm, BrokenCaFailsTheReload) {
  start(origin_config());
  fs::create_directories(dir_ / "proxy");
  std::ofstream(dir_ / "proxy" / "ca.key") << "x";
  fs::permissions(dir_ / "proxy" / "ca.key", fs::perms::owner_read | fs::perms::owner_write);
  proxy_->write_config(mitm_config());
  ASSERT_TRUE(proxy_->reload());
  EXPECT_NE(proxy_->log().find("config reload failed: CA files must both exist or both be absent"),
            std::string::npos)
      << proxy_->log();
  // Still full mode without interception: the CONNECT is a plain tunnel, so curl sees the
  // origin's own certificate.
  auto r = curl({"-p", "-x", proxy_->url(), "--cacert", pki_.ca_cert, "https://" + o_ + "/x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "GET /x\nhost: " + o_ + "\n\n");
}

}  // namespace
}  // namespace netfence::testing
