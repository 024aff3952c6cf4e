// Unix-socket proxying end to end (SPEC §11, §18 row 26): `x-unix-socket` requests through the
// real binary to a small HTTP server on a unix socket that this test runs.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "proxy_fixture.hpp"

namespace netfence::testing {
namespace {

namespace fs = std::filesystem;

// A one-request-per-connection HTTP server on a unix socket: answers "<METHOD> <target>\n
// host: <host>\n" (and the request's headers are kept), or, for `Upgrade: websocket`, a 101 and
// then an echo of every byte.
class UnixOrigin {
 public:
  explicit UnixOrigin(fs::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    ::unlink(path_.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
      throw std::runtime_error("cannot listen on " + path_.string());
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~UnixOrigin() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }
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
      handle(c);
      ::close(c);
    }
  }
  static std::string header(const std::string& head, const std::string& name) {
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    const auto pos = lower.find("\r\n" + name + ":");
    if (pos == std::string::npos) return "";
    auto start = pos + 3 + name.size();
    while (start < head.size() && head[start] == ' ') ++start;
    return head.substr(start, head.find("\r\n", start) - start);
  }
  void handle(int c) {
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return;
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
    }
    const std::string head = in.substr(0, in.find("\r\n\r\n") + 4);
    {
      std::lock_guard lock(m_);
      heads_.push_back(head);
    }
    const std::string line = head.substr(0, head.find(' ', head.find(' ') + 1));
    if (header(head, "upgrade") == "websocket") {
      const std::string r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\n\r\n";
      (void)::write(c, r.data(), r.size());
      std::string rest = in.substr(head.size());
      if (!rest.empty()) (void)::write(c, rest.data(), rest.size());
      for (;;) {
        pollfd p{c, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return;
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) return;
        (void)::write(c, buf, static_cast<std::size_t>(n));
      }
    }
    const std::string body = line + "\nhost: " + header(head, "host") + "\n";
    const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\nConnection: close\r\n\r\n" + body;
    (void)::write(c, r.data(), r.size());
  }

  fs::path path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex m_;
  std::vector<std::string> heads_;
};

class UnixSocket : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    sock_ = dir_ / "api.sock";
    origin_ = std::make_unique<UnixOrigin>(sock_);
  }
  void TearDown() override {
    ProxyTest::TearDown();
    origin_.reset();
  }
  std::string unix_config(const std::string& allowed, const std::string& extra = "") const {
    return config("allow_unix_sockets = [\"" + allowed + "\"]\n" + extra);
  }
  std::string request(const std::string& path, const std::string& method = "GET",
                      const std::string& extra = "") const {
    return method + " http://localhost/v1/info?x=1 HTTP/1.1\r\nHost: localhost\r\nx-unix-socket: " +
           path + "\r\n" + extra + "Connection: close\r\n\r\n";
  }
  fs::path sock_;
  std::unique_ptr<UnixOrigin> origin_;
};

// §11 step 5: forwarded in origin-form, x-unix-socket removed, Host kept; audited as allow.
TEST_F(UnixSocket, AllowedSocketIsForwarded) {
  start(unix_config(sock_.string()));
  auto r = exchange(request(sock_.string()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /v1/info?x=1\nhost: localhost\n");
  const auto heads = origin_->heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].rfind("GET /v1/info?x=1 HTTP/1.1\r\n", 0), 0u) << heads[0];
  std::string lower = heads[0];
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  EXPECT_EQ(lower.find("x-unix-socket"), std::string::npos) << heads[0];
  // curl's own form: origin-form target with the header.
  auto c = curl({"-x", proxy_->url(), "-H", "x-unix-socket: " + sock_.string(),
                 "http://localhost/containers/json"});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.out, "GET /containers/json\nhost: localhost\n");
}

// §11 step 4, §18 row 26: not allowlisted → 403 JSON with the unix-socket placeholder, recorded.
TEST_F(UnixSocket, NotAllowlistedIs403) {
  start(unix_config((dir_ / "other.sock").string()));
  auto r = exchange(request(sock_.string()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->header("x-proxy-error"), "blocked-by-allowlist");
  EXPECT_EQ(r->body, refusal_json("blocked", "unix-socket", "not_allowed", "proxy_state",
                                  "unix_socket", 0, kMsgNotAllowed));
  EXPECT_TRUE(origin_->heads().empty());
  EXPECT_TRUE(proxy_->wait_for_log("blocked protocol=unix_socket client=127.0.0.1"));
  EXPECT_NE(proxy_->log().find("host=" + sock_.string() + " port=0 reason=not_allowed"),
            std::string::npos)
      << proxy_->log();
}

// §11 step 4: lexical normalisation and symlinks resolve to the allowed socket.
TEST_F(UnixSocket, DotDotAndSymlinkReachTheAllowedSocket) {
  fs::create_directories(dir_ / "sub");
  fs::create_symlink(sock_, dir_ / "link.sock");
  start(unix_config(sock_.string()));
  auto r = exchange(request((dir_ / "sub" / ".." / "." / "api.sock").string()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = exchange(request((dir_ / "link.sock").string()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(origin_->heads().size(), 2u);
}

// §18 row 26: an allowed path replaced after load by a symlink to another socket is refused.
TEST_F(UnixSocket, AllowedPathReplacedBySymlinkIsRefused) {
  const fs::path allowed = dir_ / "allowed.sock";
  auto decoy = std::make_unique<UnixOrigin>(allowed);
  start(unix_config(allowed.string()));
  decoy.reset();  // removes allowed.sock
  fs::create_symlink(sock_, allowed);
  auto r = exchange(request(allowed.string()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(origin_->heads().empty());
}

// §11 step 1: bad headers are 400; a CONNECT with the header too.
TEST_F(UnixSocket, InvalidHeadersAre400) {
  start(unix_config(sock_.string()));
  for (const std::string& bad :
       {std::string("relative.sock"), std::string("@abstract"), "/" + std::string(120, 'a'),
        std::string("/tmp/\xff.sock")}) {
    expect_text_error(request(bad), 400, "invalid x-unix-socket header");
  }
  expect_text_error("GET / HTTP/1.1\r\nHost: localhost\r\nx-unix-socket: " + sock_.string() +
                        "\r\nx-unix-socket: " + sock_.string() + "\r\n\r\n",
                    400, "invalid x-unix-socket header");
  expect_text_error("CONNECT localhost:80 HTTP/1.1\r\nx-unix-socket: " + sock_.string() + "\r\n\r\n",
                    400, "invalid x-unix-socket header");
  EXPECT_TRUE(origin_->heads().empty());
}

// §11 step 2, §18 row 24: limited mode refuses writes before the allowlist; reads pass.
TEST_F(UnixSocket, LimitedModeRefusesWrites) {
  start(unix_config(sock_.string(), "mode = \"limited\"\n"));
  auto r = exchange(request(sock_.string(), "POST", "Content-Length: 0\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->header("x-proxy-error"), "blocked-by-method-policy");
  EXPECT_NE(r->body.find("\"reason\":\"method_not_allowed\",\"decision\":\"deny\","
                         "\"source\":\"mode_guard\",\"protocol\":\"unix_socket\",\"port\":0"),
            std::string::npos)
      << r->body;
  r = exchange(request(sock_.string()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(origin_->heads().size(), 1u);
}

// §11 step 5: a socket nobody listens on → 502.
TEST_F(UnixSocket, DeadSocketIs502) {
  const fs::path dead = dir_ / "dead.sock";
  start(unix_config(dead.string()));
  expect_text_error(request(dead.string()), 502, "unix socket proxy failed");
}

// §11 step 5: 101 upgrades pass through in full mode (docker attach).
TEST_F(UnixSocket, UpgradeIsRelayed) {
  start(unix_config(sock_.string()));
  auto c = client();
  ASSERT_TRUE(c->send("GET /attach HTTP/1.1\r\nHost: localhost\r\nx-unix-socket: " +
                      sock_.string() +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 101);
  ASSERT_TRUE(c->send("ping"));
  EXPECT_EQ(c->read_exact(4).value_or(""), "ping");
}

// §8.6: enabled = false at request time → 503 (recorded).
TEST_F(UnixSocket, DisabledIs503) {
  std::string cfg = unix_config(sock_.string());
  start(cfg);
  cfg.replace(cfg.find("enabled = true"), 14, "enabled = false");
  proxy_->write_config(cfg);
  ASSERT_TRUE(proxy_->reload());
  expect_text_error(request(sock_.string()), 503, "network proxy is disabled");
  EXPECT_TRUE(origin_->heads().empty());
}

}  // namespace
}  // namespace netfence::testing
