// The SOCKS5 front end driven end to end (SPEC §9, §6.1–§6.3, §10.1, §14, §15.3, §18 rows 7,
// 16–18, 20, 21, 24): the real netfence binary, curl as a real SOCKS5 client, raw sockets for
// byte-exact negotiation and every §9.2 reply code, a UDP echo origin for UDP ASSOCIATE, and the
// stub DNS server (loopback and test-controlled names only).
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"
#include "socks_client.hpp"
#include "udp_echo.hpp"

namespace netfence::testing {
namespace {

using namespace socks5;

constexpr std::uint8_t kNoAuth = 0x00;
constexpr std::uint8_t kGssapi = 0x01;
constexpr std::uint8_t kUserPass = 0x02;

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out += ' ';
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

// A plain TCP listener on 127.0.0.1, to see the proxy's outgoing connection from the far side.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len);
    ::listen(fd_, 8);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() {
    if (accepted_ >= 0) ::close(accepted_);
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  // Accepts one connection; returns the peer's port (0 on timeout).
  std::uint16_t accept_peer_port(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return 0;
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    accepted_ = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (accepted_ < 0) return 0;
    char ip[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    peer_ip_ = ip;
    return ntohs(peer.sin_port);
  }
  const std::string& peer_ip() const { return peer_ip_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int accepted_ = -1;
  std::uint16_t port_ = 0;
  std::string peer_ip_;
};

class Socks : public ProxyTest {
 protected:
  void TearDown() override {
    ProxyTest::TearDown();
    origin_.reset();
  }

  std::uint16_t sport() { return proxy_->socks_port(); }

  std::uint16_t admin_port() const {
    static const std::regex listening(R"(INFO admin API listening on 127\.0\.0\.1:(\d+))");
    std::smatch m;
    const std::string text = proxy_->log();
    if (!std::regex_search(text, m, listening)) return 0;
    return static_cast<std::uint16_t>(std::stoi(m[1].str()));
  }

  // GET /blocked on the admin API (no proxy in the way).
  std::string blocked_json() const {
    auto r = curl({"http://127.0.0.1:" + std::to_string(admin_port()) + "/blocked"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  std::size_t count_in(const std::string& text, std::string_view needle) const {
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + needle.size())) {
      ++n;
    }
    return n;
  }

  std::unique_ptr<RawClient> socks_client() {
    auto c = std::make_unique<RawClient>();
    EXPECT_TRUE(c->connect(sport())) << "cannot reach the SOCKS5 listener on " << sport();
    return c;
  }

  // Greeting offering only "no auth", answered 05 00.
  std::unique_ptr<RawClient> negotiated() {
    auto c = socks_client();
    EXPECT_TRUE(c->send(greeting({kNoAuth})));
    EXPECT_EQ(hex(c->read_exact(2, 5s).value_or("")), hex(bytes({5, 0})));
    return c;
  }

  // Sends `req` on a fresh negotiated connection and reads the reply; the connection is kept
  // in `keep` when given.
  std::optional<Reply> ask(const std::string& req, std::unique_ptr<RawClient>* keep = nullptr) {
    auto c = negotiated();
    if (!c->send(req)) return std::nullopt;
    auto r = read_reply(*c);
    if (keep) *keep = std::move(c);
    return r;
  }

  // §9.2: the reply carries `code`, then the server closes (EOF, nothing more).
  void expect_refusal(const std::string& req, std::uint8_t code) {
    SCOPED_TRACE("request: " + hex(req));
    std::unique_ptr<RawClient> c;
    auto r = ask(req, &c);
    ASSERT_TRUE(r) << "no complete reply";
    EXPECT_EQ(r->ver, 0x05);
    EXPECT_EQ(static_cast<int>(r->rep), static_cast<int>(code));
    EXPECT_EQ(r->rsv, 0x00);
    auto rest = c->read_until_close(3s);
    ASSERT_TRUE(rest.has_value()) << "connection not closed after reply " << int(code);
    EXPECT_EQ(hex(*rest), "") << "bytes after the reply";
  }

  // allowed origin.test (→ 127.0.0.1 by dns_hosts) and the literal 127.0.0.1.
  std::string local_config(const std::string& extra = "") const {
    return config(
        "allowed_domains = [\"origin.test\", \"127.0.0.1\"]\n"
        "allow_local_binding = true\n"
        "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"] }\n" +
        extra);
  }

  void start_stream_origin() {
    OriginServer::Options opts;
    opts.stream_echo = true;
    origin_ = std::make_unique<OriginServer>(opts);
  }

  // An open SOCKS5 CONNECT tunnel to the stream origin; checks one echo through it.
  std::unique_ptr<RawClient> open_tunnel(const std::string& host = "origin.test") {
    std::unique_ptr<RawClient> c;
    auto r = ask(request(kConnect, addr_domain(host, origin_->port())), &c);
    EXPECT_TRUE(r && r->rep == 0x00) << (r ? int(r->rep) : -1);
    EXPECT_TRUE(c->send("ping"));
    EXPECT_EQ(c->read_exact(4, 5s).value_or(""), "ping");
    return c;
  }

  std::string blocked_line_re(std::string_view protocol, std::string_view host, std::uint16_t port,
                              std::string_view reason, std::string_view source) const {
    return "INFO blocked protocol=" + std::string(protocol) + R"( client=127\.0\.0\.1:\d+ host=)" +
           std::regex_replace(std::string(host), std::regex(R"([.\[\]:])"), R"(\$&)") +
           " port=" + std::to_string(port) + " reason=" + std::string(reason) +
           " source=" + std::string(source);
  }
  std::size_t count_blocked(std::string_view protocol, std::string_view host, std::uint16_t port,
                            std::string_view reason, std::string_view source) const {
    const std::regex re(blocked_line_re(protocol, host, port, reason, source));
    const std::string text = proxy_->log();
    return static_cast<std::size_t>(
        std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
  }
  bool wait_blocked(std::string_view protocol, std::string_view host, std::uint16_t port,
                    std::string_view reason, std::string_view source, std::size_t n = 1) const {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count_blocked(protocol, host, port, reason, source) >= n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  std::unique_ptr<OriginServer> origin_;
};

// ---------------------------------------------------------------------------------------------
// curl as the client

TEST_F(Socks, CurlSocks5hFetchesAllowedOrigin) {
  origin_ = std::make_unique<OriginServer>();
  start(origin_config());
  const std::string o = authority("origin.test", origin_->port());
  auto r = curl({"-x", "socks5h://127.0.0.1:" + std::to_string(sport()), "http://" + o + "/via"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "GET /via\nhost: " + o + "\n\n");
  auto r2 = curl(
      {"--socks5-hostname", "127.0.0.1:" + std::to_string(sport()), "http://" + o + "/hostname"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(r2.out, "GET /hostname\nhost: " + o + "\n\n");
  EXPECT_EQ(origin_->request_count(), 2u);
  EXPECT_EQ(proxy_->count_in_log("blocked "), 0u) << proxy_->log();
}

TEST_F(Socks, CurlSocks5WithLocalResolutionFetchesAllowedOrigin) {
  origin_ = std::make_unique<OriginServer>();
  start(local_config());
  const std::string p = std::to_string(origin_->port());
  // socks5:// resolves locally (here from --resolve), so netfence sees ATYP IPv4 127.0.0.1.
  auto r = curl({"-x", "socks5://127.0.0.1:" + std::to_string(sport()), "--resolve",
                 "origin.test:" + p + ":127.0.0.1", "http://origin.test:" + p + "/local"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "GET /local\nhost: origin.test:" + p + "\n\n");
  auto r2 = curl(
      {"--socks5", "127.0.0.1:" + std::to_string(sport()), "http://127.0.0.1:" + p + "/literal"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(r2.out, "GET /literal\nhost: 127.0.0.1:" + p + "\n\n");
  EXPECT_EQ(proxy_->count_in_log("blocked "), 0u) << proxy_->log();
}

TEST_F(Socks, CurlRefusedHostFailsAndIsLogged) {
  origin_ = std::make_unique<OriginServer>();
  start(origin_config());
  auto r = curl({"-x", "socks5h://127.0.0.1:" + std::to_string(sport()), "http://other.test/x"});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "");
  ASSERT_TRUE(wait_blocked("socks5_tcp", "other.test", 80, "not_allowed", "baseline_policy"))
      << proxy_->log();
  EXPECT_EQ(origin_->request_count(), 0u);
  // §6.1 / §18 row 17: a name that is not allowed is never resolved.
  EXPECT_EQ(dns_->query_count("other.test"), 0u);
}

TEST_F(Socks, CurlUserPasswordWorksWithoutConfiguredPassword) {
  origin_ = std::make_unique<OriginServer>();
  start(origin_config());
  const std::string o = authority("origin.test", origin_->port());
  auto r = curl(
      {"-x", "socks5h://agent:pw@127.0.0.1:" + std::to_string(sport()), "http://" + o + "/auth"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "GET /auth\nhost: " + o + "\n\n");
}

TEST_F(Socks, CurlWithConfiguredPassword) {
  origin_ = std::make_unique<OriginServer>();
  start(origin_config("socks_password = \"s3cret\"\n"));
  const std::string o = authority("origin.test", origin_->port());
  const std::string sp = std::to_string(sport());
  auto ok = curl({"-x", "socks5h://agent:s3cret@127.0.0.1:" + sp, "http://" + o + "/ok"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "GET /ok\nhost: " + o + "\n\n");
  auto bad = curl({"-x", "socks5h://agent:wrong@127.0.0.1:" + sp, "http://" + o + "/bad"});
  EXPECT_NE(bad.exit_code, 0);
  auto none = curl({"-x", "socks5h://127.0.0.1:" + sp, "http://" + o + "/none"});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_EQ(origin_->request_count(), 1u);
  // §17: credentials never reach the log.
  const std::string log = proxy_->log();
  EXPECT_EQ(log.find("s3cret"), std::string::npos) << log;
  EXPECT_EQ(log.find("wrong"), std::string::npos) << log;
}

// ---------------------------------------------------------------------------------------------
// §9.1 negotiation, byte-exact

TEST_F(Socks, PasswordRequiredRawExchanges) {
  start_stream_origin();
  start(origin_config("socks_password = \"s3cret\"\n"));
  {  // Only "no auth" offered: no acceptable method.
    auto c = socks_client();
    ASSERT_TRUE(c->send(greeting({kNoAuth})));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 0xff})));
    EXPECT_EQ(c->read_until_close(3s).value_or("<open>"), "");
  }
  {  // Both offered: only 0x02 is acceptable; a wrong password gets 01 01 and close.
    auto c = socks_client();
    ASSERT_TRUE(c->send(greeting({kNoAuth, kUserPass})));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 2})));
    ASSERT_TRUE(c->send(credentials("agent", "s3creT")));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({1, 1})));
    EXPECT_EQ(c->read_until_close(3s).value_or("<open>"), "");
  }
  {  // A longer password sharing the prefix is wrong too.
    auto c = socks_client();
    ASSERT_TRUE(c->send(greeting({kUserPass})));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 2})));
    ASSERT_TRUE(c->send(credentials("agent", "s3cret!")));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({1, 1})));
    EXPECT_EQ(c->read_until_close(3s).value_or("<open>"), "");
  }
  {  // Sub-negotiation version other than 0x01: failure and close.
    auto c = socks_client();
    ASSERT_TRUE(c->send(greeting({kUserPass})));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 2})));
    std::string creds = credentials("agent", "s3cret");
    creds[0] = 0x05;
    ASSERT_TRUE(c->send(creds));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({1, 1})));
    EXPECT_EQ(c->read_until_close(3s).value_or("<open>"), "");
  }
  {  // An empty password is wrong.
    auto c = socks_client();
    ASSERT_TRUE(c->send(greeting({kUserPass})));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 2})));
    ASSERT_TRUE(c->send(credentials("agent", "")));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({1, 1})));
    EXPECT_EQ(c->read_until_close(3s).value_or("<open>"), "");
  }
  {  // The right password: 01 00, then a working CONNECT.
    auto c = socks_client();
    ASSERT_TRUE(c->send(greeting({kUserPass})));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 2})));
    ASSERT_TRUE(c->send(credentials("agent", "s3cret")));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({1, 0})));
    ASSERT_TRUE(c->send(request(kConnect, addr_domain("origin.test", origin_->port()))));
    auto r = read_reply(*c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->rep, 0x00);
    ASSERT_TRUE(c->send("hi"));
    EXPECT_EQ(c->read_exact(2).value_or(""), "hi");
  }
}

TEST_F(Socks, UserPasswordWithoutConfiguredPasswordLabelsBlockedEntries) {
  start(origin_config());
  {  // 0x00 is preferred when offered.
    auto c = socks_client();
    ASSERT_TRUE(c->send(greeting({kUserPass, kNoAuth})));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 0})));
  }
  {  // Only 0x02: any password is accepted; the user name labels the refusal (§14).
    auto c = socks_client();
    ASSERT_TRUE(c->send(greeting({kUserPass})));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 2})));
    ASSERT_TRUE(c->send(credentials("job-42", "")));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({1, 0})));
    ASSERT_TRUE(c->send(request(kConnect, addr_domain("other.test", 443))));
    auto r = read_reply(*c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->rep, 0x02);
    EXPECT_EQ(c->read_until_close(3s).value_or("<open>"), "");
  }
  {  // ULEN = 0 is a failed sub-negotiation.
    auto c = socks_client();
    ASSERT_TRUE(c->send(greeting({kUserPass})));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 2})));
    ASSERT_TRUE(c->send(credentials("", "pw")));
    EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({1, 1})));
    EXPECT_EQ(c->read_until_close(3s).value_or("<open>"), "");
  }
  ASSERT_TRUE(wait_blocked("socks5_tcp", "other.test", 443, "not_allowed", "baseline_policy"));
  const std::string blocked = blocked_json();
  EXPECT_NE(blocked.find(R"("host":"other.test","reason":"not_allowed","client":"127.0.0.1:)"),
            std::string::npos)
      << blocked;
  EXPECT_NE(
      blocked.find(
          R"("method":null,"mode":"full","protocol":"socks5_tcp","decision":"deny","source":"baseline_policy","port":443,"timestamp":)"),
      std::string::npos)
      << blocked;
  EXPECT_NE(blocked.find(R"("label":"job-42"})"), std::string::npos) << blocked;
}

TEST_F(Socks, OnlyGssapiOfferedGetsNoAcceptableMethod) {
  start(origin_config());
  auto c = socks_client();
  ASSERT_TRUE(c->send(greeting({kGssapi})));
  EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 0xff})));
  EXPECT_EQ(c->read_until_close(3s).value_or("<open>"), "");
  // No methods at all: the same.
  auto d = socks_client();
  ASSERT_TRUE(d->send(greeting({})));
  EXPECT_EQ(hex(d->read_exact(2).value_or("")), hex(bytes({5, 0xff})));
  EXPECT_EQ(d->read_until_close(3s).value_or("<open>"), "");
}

TEST_F(Socks, FirstOctetNotFiveClosesWithoutReply) {
  start(origin_config());
  for (const std::string& first :
       {greeting({kNoAuth}, 0x04), std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        bytes({0x16, 0x03, 0x01, 0x00, 0x05})}) {
    SCOPED_TRACE(hex(first));
    auto c = socks_client();
    ASSERT_TRUE(c->send(first));
    auto rest = c->read_until_close(3s);
    ASSERT_TRUE(rest.has_value()) << "not closed";
    EXPECT_EQ(hex(*rest), "");
  }
  // The SOCKS5 byte alone is not enough to decide: the listener keeps waiting for the rest.
  auto w = socks_client();
  ASSERT_TRUE(w->send(bytes({5})));
  EXPECT_FALSE(w->read_until_close(300ms).has_value());
}

TEST_F(Socks, GreetingAndRequestSplitByteByByte) {
  start_stream_origin();
  start(origin_config());
  auto c = socks_client();
  for (char b : greeting({kGssapi, kNoAuth})) {
    ASSERT_TRUE(c->send(std::string(1, b)));
    std::this_thread::sleep_for(15ms);
  }
  EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 0})));
  for (char b : request(kConnect, addr_domain("origin.test", origin_->port()))) {
    ASSERT_TRUE(c->send(std::string(1, b)));
    std::this_thread::sleep_for(5ms);
  }
  auto r = read_reply(*c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rep, 0x00);
  ASSERT_TRUE(c->send("split"));
  EXPECT_EQ(c->read_exact(5).value_or(""), "split");
}

TEST_F(Socks, GreetingRequestAndDataInOneWrite) {
  start_stream_origin();
  start(origin_config());
  auto c = socks_client();
  ASSERT_TRUE(c->send(greeting({kNoAuth}) +
                      request(kConnect, addr_domain("origin.test", origin_->port())) + "EARLY"));
  EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 0})));
  auto r = read_reply(*c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rep, 0x00);
  EXPECT_EQ(c->read_exact(5).value_or(""), "EARLY");
  ASSERT_TRUE(origin_->wait_for_stream(1, 5, 5s));
  EXPECT_EQ(origin_->stream_bytes(1), "EARLY");
}

// ---------------------------------------------------------------------------------------------
// §9.2 reply codes, each in its situation

// 0x00: BND is the local address of the outgoing socket (seen from the target's side).
TEST_F(Socks, ConnectSucceededBndIsTheOutgoingSocket) {
  start(local_config());
  Listener target;
  std::unique_ptr<RawClient> c;
  auto r = ask(request(kConnect, addr_ipv4("127.0.0.1", target.port())), &c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ver, 0x05);
  EXPECT_EQ(r->rep, 0x00);
  EXPECT_EQ(r->rsv, 0x00);
  EXPECT_EQ(r->atyp, 0x01);
  EXPECT_EQ(r->ip, "127.0.0.1");
  EXPECT_NE(r->port, 0);
  const std::uint16_t peer_port = target.accept_peer_port(5s);
  ASSERT_NE(peer_port, 0) << "the target saw no connection";
  EXPECT_EQ(target.peer_ip(), "127.0.0.1");
  EXPECT_EQ(r->port, peer_port) << "BND.PORT must be the outgoing socket's local port";
  // Data flows both ways.
  ASSERT_TRUE(c->send("to-target"));
  char buf[16] = {};
  pollfd p{target.accepted(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  const ssize_t n = ::recv(target.accepted(), buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "to-target");
  ASSERT_EQ(::send(target.accepted(), "back", 4, MSG_NOSIGNAL), 4);
  EXPECT_EQ(c->read_exact(4).value_or(""), "back");
}

TEST_F(Socks, ConnectByDomainRelaysAndHalfCloses) {
  start_stream_origin();
  start(origin_config());
  auto c = open_tunnel();
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(c->send("last"));
  EXPECT_EQ(c->read_exact(4).value_or(""), "last");
  c->shutdown_write();
  EXPECT_TRUE(origin_->wait_for_stream_eof(1, 5s));
  auto rest = c->read_until_close(5s);
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(*rest, "BYE");
  EXPECT_EQ(origin_->stream_bytes(1), "pinglast");
}

// 0x01: invalid host (§9.1, §18 rows 7 and 20); nothing resolved or dialled.
TEST_F(Socks, InvalidHostIsGeneralFailure) {
  start_stream_origin();
  start(config("allowed_domains = [\"*\"]\nallow_local_binding = true\n"));
  const std::uint16_t p = origin_->port();
  expect_refusal(request(kConnect, addr_domain(std::string("orig\0in.test", 12), p)), 0x01);
  expect_refusal(request(kConnect, addr_domain(std::string("127.0.0.1\0.evil.net", 19), p)), 0x01);
  expect_refusal(request(kConnect, addr_domain("", p)), 0x01);
  for (const char* bad : {"example.com:443.evil.net", "example.com%2eevil.net", "ex ample.com",
                          "a.com\r\n", "1.2.3.999", "[::ffff:1.2.3.4%x.allowed.com]"}) {
    expect_refusal(request(kConnect, addr_domain(bad, p)), 0x01);
  }
  expect_refusal(request(kConnect, addr_domain(std::string(64, 'a') + ".test", p)), 0x01);
  EXPECT_EQ(dns_->query_count(), 0u);
  EXPECT_EQ(origin_->connection_count(), 0u);
  EXPECT_EQ(proxy_->count_in_log("blocked "), 0u) << "a protocol error is not a policy decision";
}

TEST_F(Socks, BadRequestVersionIsGeneralFailure) {
  start(origin_config());
  std::string req = request(kConnect, addr_domain("origin.test", 80), 0x04);
  expect_refusal(req, 0x01);
}

// 0x02: policy refusals with their reasons.
TEST_F(Socks, PolicyRefusalsAreNotAllowed) {
  start_stream_origin();
  start(origin_config("denied_domains = [\"denied.test\", \"evil.origin.test\"]\n"));
  const std::uint16_t p = origin_->port();
  expect_refusal(request(kConnect, addr_domain("denied.test", p)), 0x02);
  expect_refusal(request(kConnect, addr_domain("other.test", p)), 0x02);
  expect_refusal(request(kConnect, addr_domain("EVIL.Origin.Test.", p)), 0x02);
  EXPECT_TRUE(wait_blocked("socks5_tcp", "denied.test", p, "denied", "baseline_policy"));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "other.test", p, "not_allowed", "baseline_policy"));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "evil.origin.test", p, "denied", "baseline_policy"));
  EXPECT_EQ(origin_->connection_count(), 0u);
  EXPECT_EQ(dns_->query_count(), 0u);
}

// §18 row 20 with a narrow allowlist: loopback spellings are not on it.
TEST_F(Socks, LoopbackSpellingsRefusedWithNarrowAllowlist) {
  start_stream_origin();
  start(
      config("allowed_domains = [\"origin.test\"]\n"
             "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"] }\n"));
  const std::uint16_t p = origin_->port();
  expect_refusal(request(kConnect, addr_domain("127.0.0.1", p)), 0x02);
  expect_refusal(request(kConnect, addr_domain("2130706433", p)), 0x02);
  expect_refusal(request(kConnect, addr_domain("0x7f.1", p)), 0x02);
  expect_refusal(request(kConnect, addr_ipv4("127.0.0.1", p)), 0x02);
  expect_refusal(request(kConnect, addr_ipv6("::ffff:127.0.0.1", p)), 0x02);
  expect_refusal(request(kConnect, addr_ipv6("::1", p)), 0x02);
  // The allowed name itself resolves to loopback, which allow_local_binding = false refuses.
  expect_refusal(request(kConnect, addr_domain("origin.test", p)), 0x02);
  EXPECT_TRUE(wait_blocked("socks5_tcp", "127.0.0.1", p, "not_allowed", "baseline_policy", 5))
      << proxy_->log();
  EXPECT_TRUE(wait_blocked("socks5_tcp", "::1", p, "not_allowed", "baseline_policy"));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "origin.test", p, "not_allowed_local", "baseline_policy"));
  EXPECT_EQ(origin_->connection_count(), 0u);
}

// §18 row 20 as the checklist states it: allowlist ["*"], allow_local_binding = false.
TEST_F(Socks, LoopbackSpellingsRefusedAsLocalWithWildcardAllowlist) {
  start_stream_origin();
  start(config("allowed_domains = [\"*\"]\n"));
  const std::uint16_t p = origin_->port();
  expect_refusal(request(kConnect, addr_domain("127.0.0.1", p)), 0x02);
  expect_refusal(request(kConnect, addr_domain("2130706433", p)), 0x02);
  expect_refusal(request(kConnect, addr_ipv6("::ffff:127.0.0.1", p)), 0x02);
  expect_refusal(request(kConnect, addr_ipv4("169.254.169.254", 80)), 0x02);
  expect_refusal(request(kConnect, addr_ipv6("::ffff:a9fe:a9fe", 80)), 0x02);
  expect_refusal(request(kConnect, addr_domain("localhost", p)), 0x02);
  EXPECT_TRUE(wait_blocked("socks5_tcp", "127.0.0.1", p, "not_allowed_local", "baseline_policy", 3))
      << proxy_->log();
  EXPECT_TRUE(
      wait_blocked("socks5_tcp", "169.254.169.254", 80, "not_allowed_local", "baseline_policy", 2));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "localhost", p, "not_allowed_local", "baseline_policy"));
  EXPECT_EQ(origin_->connection_count(), 0u);
  EXPECT_EQ(dns_->query_count(), 0u);
}

// §18 rows 2, 3, 14 over SOCKS5 (all refused before any dial, so nothing leaves the host).
TEST_F(Socks, DenyBypassMetadataAndPrivateAnswersRefused) {
  dns_->add_address("mixed.test", "93.184.216.35");
  dns_->add_address("mixed.test", "127.0.0.1");
  dns_->add_address("denied-ip.test", "93.184.216.34");
  dns_->add_address("meta.test", "169.254.169.254");
  start(
      config("allowed_domains = [\"*\"]\n"
             "denied_domains = [\"93.184.216.34\"]\n"));
  // Row 2: other spellings of a denied IP.
  expect_refusal(request(kConnect, addr_domain("1572395042", 443)), 0x02);
  expect_refusal(request(kConnect, addr_domain("0x5db8d822", 443)), 0x02);
  expect_refusal(request(kConnect, addr_ipv6("::ffff:93.184.216.34", 443)), 0x02);
  expect_refusal(request(kConnect, addr_ipv4("93.184.216.34", 443)), 0x02);
  EXPECT_TRUE(wait_blocked("socks5_tcp", "93.184.216.34", 443, "denied", "baseline_policy", 4))
      << proxy_->log();
  // §6.2 rule 4: an answer equal to a denied IP literal.
  expect_refusal(request(kConnect, addr_domain("denied-ip.test", 443)), 0x02);
  EXPECT_TRUE(wait_blocked("socks5_tcp", "denied-ip.test", 443, "denied", "baseline_policy"));
  // Row 14: one non-public answer blocks the whole name.
  expect_refusal(request(kConnect, addr_domain("mixed.test", 443)), 0x02);
  EXPECT_TRUE(
      wait_blocked("socks5_tcp", "mixed.test", 443, "not_allowed_local", "baseline_policy"));
  // Row 3: metadata in several spellings, and a name resolving to it.
  expect_refusal(request(kConnect, addr_domain("2852039166", 80)), 0x02);
  expect_refusal(request(kConnect, addr_ipv6("fd00:ec2::254", 80)), 0x02);
  expect_refusal(request(kConnect, addr_ipv6("64:ff9b::a9fe:a9fe", 80)), 0x02);
  expect_refusal(request(kConnect, addr_domain("meta.test", 80)), 0x02);
  EXPECT_TRUE(
      wait_blocked("socks5_tcp", "169.254.169.254", 80, "not_allowed_local", "baseline_policy"));
  EXPECT_TRUE(
      wait_blocked("socks5_tcp", "fd00:ec2::254", 80, "not_allowed_local", "baseline_policy"));
  EXPECT_TRUE(
      wait_blocked("socks5_tcp", "64:ff9b::a9fe:a9fe", 80, "not_allowed_local", "baseline_policy"));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "meta.test", 80, "not_allowed_local", "baseline_policy"));
}

// §18 row 3: metadata stays refused with allow_local_binding = true.
TEST_F(Socks, MetadataRefusedEvenWithLocalBinding) {
  start(config("allowed_domains = [\"*\"]\nallow_local_binding = true\n"));
  expect_refusal(request(kConnect, addr_ipv4("169.254.169.254", 80)), 0x02);
  expect_refusal(request(kConnect, addr_ipv4("168.63.129.16", 80)), 0x02);
  expect_refusal(request(kConnect, addr_domain("100.100.100.200", 80)), 0x02);
  EXPECT_TRUE(
      wait_blocked("socks5_tcp", "169.254.169.254", 80, "not_allowed_local", "baseline_policy"))
      << proxy_->log();
  EXPECT_TRUE(
      wait_blocked("socks5_tcp", "168.63.129.16", 80, "not_allowed_local", "baseline_policy"));
  EXPECT_TRUE(
      wait_blocked("socks5_tcp", "100.100.100.200", 80, "not_allowed_local", "baseline_policy"));
}

// 0x04: DNS failure of an allowed name (§6.2, §18 row 16).
TEST_F(Socks, DnsFailureIsHostUnreachable) {
  dns_->set_behaviour("fail.test", StubDnsServer::Behaviour::servfail);
  dns_->set_behaviour("empty.test", StubDnsServer::Behaviour::empty);
  start(
      config("allowed_domains = [\"nx.test\", \"fail.test\", \"empty.test\"]\n"
             "allow_local_binding = true\ndns_timeout_ms = 1000\n"));
  expect_refusal(request(kConnect, addr_domain("nx.test", 443)), 0x04);
  expect_refusal(request(kConnect, addr_domain("fail.test", 443)), 0x04);
  expect_refusal(request(kConnect, addr_domain("empty.test", 443)), 0x04);
  EXPECT_TRUE(wait_blocked("socks5_tcp", "nx.test", 443, "dns_failure", "proxy_state"))
      << proxy_->log();
  EXPECT_TRUE(wait_blocked("socks5_tcp", "fail.test", 443, "dns_failure", "proxy_state"));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "empty.test", 443, "dns_failure", "proxy_state"));
  EXPECT_GT(dns_->query_count("nx.test"), 0u) << "the stub was not asked";
}

// 0x05: an allowed target that refuses the connection; not a policy decision.
TEST_F(Socks, ClosedPortIsConnectionRefused) {
  start(local_config());
  const std::uint16_t closed = unused_port();
  expect_refusal(request(kConnect, addr_ipv4("127.0.0.1", closed)), 0x05);
  expect_refusal(request(kConnect, addr_domain("origin.test", closed)), 0x05);
  EXPECT_EQ(proxy_->count_in_log("blocked "), 0u) << proxy_->log();
}

// 0x06: connect_timeout_ms exceeded. A listener whose accept queue is full drops further SYNs
// (Linux), so the dial hangs until the budget runs out.
TEST_F(Socks, ConnectTimeoutIsTtlExpired) {
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::uint16_t port = ntohs(addr.sin_port);
  // Fill the accept queue (never accepted) with non-blocking connects.
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    const int f = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ::connect(f, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(f);
  }
  std::this_thread::sleep_for(50ms);
  start(local_config("connect_timeout_ms = 300\n"));
  const auto t0 = std::chrono::steady_clock::now();
  expect_refusal(request(kConnect, addr_ipv4("127.0.0.1", port)), 0x06);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_EQ(proxy_->count_in_log("blocked "), 0u);
  for (int f : fillers) ::close(f);
  ::close(lfd);
}

// IPv6 ATYP end to end (skipped when the host has no IPv6 loopback).
TEST_F(Socks, ConnectIpv6LoopbackBndIsIpv6) {
  const int lfd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  socklen_t len = sizeof addr;
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (lfd >= 0) ::close(lfd);
    GTEST_SKIP() << "no IPv6 loopback";
  }
  ::listen(lfd, 4);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::uint16_t port = ntohs(addr.sin6_port);
  start(config("allowed_domains = [\"::1\"]\n"));  // an exact local literal entry (§6.2)
  std::unique_ptr<RawClient> c;
  auto r = ask(request(kConnect, addr_ipv6("::1", port)), &c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rep, 0x00);
  EXPECT_EQ(r->atyp, 0x04);
  EXPECT_EQ(r->ip, "::1");
  EXPECT_NE(r->port, 0);
  pollfd p{lfd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1) << "no connection reached [::1]";
  ::close(lfd);
}

// 0x07: BIND, unknown commands, UDP ASSOCIATE when UDP is off.
TEST_F(Socks, UnsupportedCommands) {
  start(local_config());
  expect_refusal(request(kBind, addr_ipv4("127.0.0.1", 80)), 0x07);
  expect_refusal(request(kBind, addr_domain("origin.test", 80)), 0x07);
  expect_refusal(request(0x09, addr_ipv4("127.0.0.1", 80)), 0x07);
  expect_refusal(request(0x00, addr_ipv4("127.0.0.1", 80)), 0x07);
  EXPECT_EQ(proxy_->count_in_log("blocked "), 0u);
}

TEST_F(Socks, UdpAssociateWhenUdpDisabled) {
  start(local_config("enable_socks5_udp = false\n"));
  expect_refusal(request(kUdpAssociate, addr_ipv4("0.0.0.0", 0)), 0x07);
}

// 0x08: unknown ATYP; a domain DST in UDP ASSOCIATE.
TEST_F(Socks, UnsupportedAddressTypes) {
  start(local_config());
  expect_refusal(request(kConnect, bytes({0x02, 127, 0, 0, 1, 0, 80})), 0x08);
  expect_refusal(request(kConnect, bytes({0x05})), 0x08);
  expect_refusal(request(kUdpAssociate, addr_domain("origin.test", 0)), 0x08);
  expect_refusal(request(kUdpAssociate, addr_domain("localhost", 5353)), 0x08);
}

// §18 row 18 over SOCKS5: the proxy's own listeners are refused even with
// allow_local_binding = true and an allowlist that covers them.
TEST_F(Socks, SelfTargetsRefused) {
  start_stream_origin();
  start(
      config("allowed_domains = [\"*\", \"127.0.0.1\", \"localhost\"]\n"
             "allow_local_binding = true\n"
             "dns_hosts = { \"self.test\" = [\"127.0.0.1\"] }\n"));
  const std::uint16_t s = sport(), h = proxy_->port(), a = admin_port();
  ASSERT_NE(a, 0) << proxy_->log();
  expect_refusal(request(kConnect, addr_ipv4("127.0.0.1", s)), 0x02);
  expect_refusal(request(kConnect, addr_ipv4("127.0.0.1", h)), 0x02);
  expect_refusal(request(kConnect, addr_domain("127.0.0.1", s)), 0x02);
  expect_refusal(request(kConnect, addr_domain("localhost", h)), 0x02);
  expect_refusal(request(kConnect, addr_ipv6("::ffff:127.0.0.1", a)), 0x02);
  expect_refusal(request(kConnect, addr_ipv4("0.0.0.0", a)), 0x02);
  expect_refusal(request(kConnect, addr_ipv4("0.0.0.0", s)), 0x02);
  expect_refusal(request(kConnect, addr_domain("self.test", a)), 0x02);
  expect_refusal(request(kConnect, addr_ipv4("127.0.0.2", a)), 0x02);
  expect_refusal(request(kConnect, addr_ipv6("::", s)), 0x02);
  EXPECT_TRUE(wait_blocked("socks5_tcp", "127.0.0.1", s, "self_target", "proxy_state", 2))
      << proxy_->log();
  EXPECT_TRUE(wait_blocked("socks5_tcp", "127.0.0.1", h, "self_target", "proxy_state"));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "localhost", h, "self_target", "proxy_state"));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "127.0.0.1", a, "self_target", "proxy_state"));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "0.0.0.0", a, "self_target", "proxy_state"));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "self.test", a, "self_target", "proxy_state"));
  EXPECT_TRUE(wait_blocked("socks5_tcp", "::", s, "self_target", "proxy_state"));
  EXPECT_EQ(proxy_->count_in_log("reason=self_target source=proxy_state"), 10u) << proxy_->log();
  // A local target that is not one of the listeners still works.
  auto c = open_tunnel("127.0.0.1");
  EXPECT_EQ(origin_->connection_count(), 1u);
}

// §6.3 (a): the admin port on any of the host's own interface addresses is a self target, even
// though the admin API listens on loopback only (the refusal is policy, not a failed dial).
TEST_F(Socks, AdminPortOnOwnInterfaceAddressIsSelfTarget) {
  std::string own;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (ifaddrs* i = list; i && own.empty(); i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK)) {
        continue;
      }
      char text[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text,
                  sizeof text);
      own = text;
    }
    ::freeifaddrs(list);
  }
  if (own.empty()) GTEST_SKIP() << "no non-loopback IPv4 interface address";
  start(config("allowed_domains = [\"*\"]\nallow_local_binding = true\n"));
  const std::uint16_t a = admin_port();
  ASSERT_NE(a, 0);
  expect_refusal(request(kConnect, addr_ipv4(own, a)), 0x02);
  EXPECT_TRUE(wait_blocked("socks5_tcp", own, a, "self_target", "proxy_state")) << proxy_->log();
}

// ---------------------------------------------------------------------------------------------
// §9.4 limited mode

TEST_F(Socks, LimitedModeRefusesConnectAndUdpAssociate) {
  start_stream_origin();
  start(origin_config("mode = \"limited\"\ndenied_domains = [\"denied.test\"]\n"));
  EXPECT_TRUE(proxy_->wait_for_log("INFO SOCKS5 refuses every request while mode = \"limited\""))
      << proxy_->log();
  const std::uint16_t p = origin_->port();
  expect_refusal(request(kConnect, addr_domain("origin.test", p)), 0x02);
  // The mode guard runs before the host policy: a denied host is reported as the mode refusal.
  expect_refusal(request(kConnect, addr_domain("denied.test", 443)), 0x02);
  expect_refusal(request(kUdpAssociate, addr_ipv4("0.0.0.0", 0)), 0x02);
  EXPECT_TRUE(wait_blocked("socks5_tcp", "origin.test", p, "method_not_allowed", "mode_guard"))
      << proxy_->log();
  EXPECT_TRUE(wait_blocked("socks5_tcp", "denied.test", 443, "method_not_allowed", "mode_guard"));
  EXPECT_TRUE(wait_blocked("socks5_udp", "0.0.0.0", 0, "method_not_allowed", "mode_guard"));
  EXPECT_EQ(proxy_->count_in_log("reason=denied"), 0u);
  EXPECT_EQ(origin_->connection_count(), 0u);
}

// §6.1: "For SOCKS5 the mode guard is applied before step 2", and §9.4: every SOCKS5 CONNECT is
// refused with 0x02 in limited mode, so a request whose DST would fail §4 is still the mode
// refusal 0x02, not the protocol error 0x01.
TEST_F(Socks, LimitedModeGuardPrecedesHostParsing) {
  start(origin_config("mode = \"limited\"\n"));
  expect_refusal(request(kConnect, addr_domain(std::string("orig\0in.test", 12), 80)), 0x02);
  expect_refusal(request(kConnect, addr_domain("ex ample.com", 80)), 0x02);
  // The same for UDP ASSOCIATE: netfence answers a domain DST with 0x08 before the mode guard.
  expect_refusal(request(kUdpAssociate, addr_domain("origin.test", 0)), 0x02);
}

// §10.1, §18 row 24: switching to limited mode closes open SOCKS5 connections.
TEST_F(Socks, SwitchingToLimitedModeClosesOpenTunnel) {
  start_stream_origin();
  start(origin_config());
  auto c = open_tunnel();
  ASSERT_FALSE(HasFailure());
  proxy_->write_config(origin_config("mode = \"limited\"\n"));
  ASSERT_TRUE(proxy_->reload());
  ASSERT_NE(proxy_->log().find("configuration reloaded"), std::string::npos) << proxy_->log();
  EXPECT_TRUE(c->read_until_close(5s).has_value()) << "SOCKS5 tunnel still open";
  EXPECT_TRUE(origin_->wait_for_closed(1, 5s));
  expect_refusal(request(kConnect, addr_domain("origin.test", origin_->port())), 0x02);
}

// §6.1 step 1, §8.6: `enabled` turned false by a reload refuses new SOCKS5 requests with 0x02
// (proxy_disabled) and closes open tunnels.
TEST_F(Socks, DisablingTheProxyRefusesAndClosesTunnels) {
  start_stream_origin();
  const std::string cfg = origin_config();
  start(cfg);
  auto c = open_tunnel();
  ASSERT_FALSE(HasFailure());
  std::string off = cfg;
  off.replace(off.find("enabled = true"), 14, "enabled = false");
  proxy_->write_config(off);
  ASSERT_TRUE(proxy_->reload());
  ASSERT_NE(proxy_->log().find("configuration reloaded"), std::string::npos) << proxy_->log();
  EXPECT_TRUE(c->read_until_close(5s).has_value()) << "SOCKS5 tunnel still open";
  expect_refusal(request(kConnect, addr_domain("origin.test", origin_->port())), 0x02);
  expect_refusal(request(kUdpAssociate, addr_ipv4("0.0.0.0", 0)), 0x02);
  EXPECT_TRUE(
      wait_blocked("socks5_tcp", "origin.test", origin_->port(), "proxy_disabled", "proxy_state"))
      << proxy_->log();
  EXPECT_TRUE(wait_blocked("socks5_udp", "0.0.0.0", 0, "proxy_disabled", "proxy_state"));
}

// §8.7: max_connections counts HTTP and SOCKS5 together; over the limit a SOCKS5 connection is
// closed without a reply.
TEST_F(Socks, MaxConnectionsSharedWithHttp) {
  start(origin_config("max_connections = 1\n"));
  auto held = negotiated();
  ASSERT_FALSE(HasFailure());
  {
    auto over = socks_client();
    over->send(greeting({kNoAuth}));  // may already fail: the server closes at once
    auto rest = over->read_until_close(3s);
    ASSERT_TRUE(rest.has_value()) << "over-limit SOCKS5 connection not closed";
    EXPECT_EQ(hex(*rest), "");
  }
  {
    auto http = client();
    auto rest = http->read_until_close(3s);
    ASSERT_TRUE(rest.has_value());
    EXPECT_EQ(rest->rfind("HTTP/1.1 503 ", 0), 0u) << *rest;
  }
  held->close();
  bool ok = false;
  for (int i = 0; i < 50 && !ok; ++i) {
    std::this_thread::sleep_for(20ms);
    RawClient again;
    ok = again.connect(sport()) && again.send(greeting({kNoAuth})) &&
         again.read_exact(2, 1s).value_or("") == bytes({5, 0});
  }
  EXPECT_TRUE(ok) << "slot not released after the SOCKS5 client left";
}

// §8.6: an established SOCKS5 tunnel keeps its connection slot after the session hands its
// sockets to the relay, and gives it back when it closes.
TEST_F(Socks, OpenTunnelKeepsItsConnectionSlot) {
  start_stream_origin();
  start(origin_config("max_connections = 1\n"));
  auto tunnel = open_tunnel();
  ASSERT_FALSE(HasFailure());
  {
    auto over = socks_client();
    over->send(greeting({kNoAuth}));  // may already fail: the server closes at once
    auto rest = over->read_until_close(3s);
    ASSERT_TRUE(rest.has_value()) << "over-limit SOCKS5 connection not closed";
    EXPECT_EQ(hex(*rest), "");
  }
  ASSERT_TRUE(tunnel->send("pong"));
  EXPECT_EQ(tunnel->read_exact(4, 5s).value_or(""), "pong") << "the tunnel itself still works";
  tunnel->close();
  bool ok = false;
  for (int i = 0; i < 50 && !ok; ++i) {
    std::this_thread::sleep_for(20ms);
    RawClient again;
    ok = again.connect(sport()) && again.send(greeting({kNoAuth})) &&
         again.read_exact(2, 1s).value_or("") == bytes({5, 0});
  }
  EXPECT_TRUE(ok) << "slot not released after the tunnel closed";
}

// §8.4 via §9.3: an idle SOCKS5 tunnel closes after idle_timeout_s.
TEST_F(Socks, IdleTunnelClosesAfterIdleTimeout) {
  start_stream_origin();
  start(origin_config("idle_timeout_s = 1\n"));
  auto c = open_tunnel();
  ASSERT_FALSE(HasFailure());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c->read_until_close(5s).has_value()) << "idle tunnel still open";
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 800ms);
}

// §15.3: one domain event per SOCKS5 CONNECT evaluation, method "none".
TEST_F(Socks, AuditEventsForConnect) {
  start_stream_origin();
  const std::string audit = (dir_ / "audit.jsonl").string();
  start(origin_config("[network.audit]\njsonl_path = \"" + audit + "\"\n"));
  auto c = open_tunnel();
  {  // Refused for an authenticated client: the label must not reach the audit event (§15.2).
    auto r = socks_client();
    ASSERT_TRUE(r->send(greeting({kUserPass})));
    EXPECT_EQ(hex(r->read_exact(2).value_or("")), hex(bytes({5, 2})));
    ASSERT_TRUE(r->send(credentials("label-xyzzy", "pw-plugh")));
    EXPECT_EQ(hex(r->read_exact(2).value_or("")), hex(bytes({1, 0})));
    ASSERT_TRUE(r->send(request(kConnect, addr_domain("other.test", 443))));
    auto reply = read_reply(*r);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->rep, 0x02);
  }
  const auto read_audit = [&] {
    std::ifstream in(audit);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (count_in(read_audit(), "\n") < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  const std::string text = read_audit();
  ASSERT_EQ(count_in(text, "\n"), 2u) << text;
  const std::regex allow(
      R"re(\{"event\.name":"codex\.network_proxy\.policy_decision","event\.timestamp":"[0-9T:.Z-]{24}",[^\n]*"network\.policy\.scope":"domain","network\.policy\.decision":"allow","network\.policy\.source":"baseline_policy","network\.policy\.reason":"allow","network\.transport\.protocol":"socks5_tcp","server\.address":"origin\.test","server\.port":)re" +
      std::to_string(origin_->port()) +
      R"re(,"http\.request\.method":"none","client\.address":"127\.0\.0\.1:\d+","network\.policy\.override":false\})re");
  const std::regex deny(
      R"re("network\.policy\.scope":"domain","network\.policy\.decision":"deny","network\.policy\.source":"baseline_policy","network\.policy\.reason":"not_allowed","network\.transport\.protocol":"socks5_tcp","server\.address":"other\.test","server\.port":443,"http\.request\.method":"none")re");
  EXPECT_TRUE(std::regex_search(text, allow)) << text;
  EXPECT_TRUE(std::regex_search(text, deny)) << text;
  EXPECT_EQ(text.find("xyzzy"), std::string::npos) << text;
  EXPECT_EQ(text.find("plugh"), std::string::npos) << text;
  EXPECT_EQ(proxy_->log().find("plugh"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// §9.3 UDP ASSOCIATE, §18 row 21

class SocksUdp : public Socks {
 protected:
  void SetUp() override {
    Socks::SetUp();
    echo_ = std::make_unique<UdpEchoServer>();
  }
  void TearDown() override {
    Socks::TearDown();
    echo_.reset();
  }

  struct Association {
    std::unique_ptr<RawClient> control;
    std::uint16_t relay_port = 0;
  };
  // UDP ASSOCIATE with `dst`; expects success with BND = 127.0.0.1:<non-zero>.
  Association associate(const std::string& dst = addr_ipv4("0.0.0.0", 0)) {
    Association a;
    auto r = ask(request(kUdpAssociate, dst), &a.control);
    EXPECT_TRUE(r.has_value()) << "no reply to UDP ASSOCIATE";
    if (!r) return a;
    EXPECT_EQ(r->ver, 0x05);
    EXPECT_EQ(r->rep, 0x00);
    EXPECT_EQ(r->atyp, 0x01);
    EXPECT_EQ(r->ip, "127.0.0.1") << "§9.3: the relay is bound on the listener IP";
    EXPECT_NE(r->port, 0);
    a.relay_port = r->port;
    return a;
  }

  // Sends one datagram through the relay and waits for the echo.
  std::optional<UdpReply> roundtrip(UdpClient& u, std::uint16_t relay, const std::string& dst,
                                    const std::string& payload,
                                    std::chrono::milliseconds timeout = 3s) {
    if (!u.send_to(relay, udp_datagram(dst, payload))) return std::nullopt;
    auto d = u.recv(timeout);
    if (!d) return std::nullopt;
    return parse_udp(*d);
  }

  void expect_echo(UdpClient& u, std::uint16_t relay, const std::string& dst,
                   const std::string& payload) {
    SCOPED_TRACE("payload " + payload);
    auto r = roundtrip(u, relay, dst, payload);
    ASSERT_TRUE(r) << "no echo";
    EXPECT_EQ(r->frag, 0);
    EXPECT_EQ(r->atyp, 0x01);
    EXPECT_EQ(r->ip, "127.0.0.1");
    EXPECT_EQ(r->port, echo_->port());
    EXPECT_EQ(r->payload, payload);
  }

  static std::uint16_t closed_udp_port() {
    UdpClient probe;  // bound, then closed when it goes out of scope
    return probe.port();
  }

  std::string echo_dst_ip() const { return addr_ipv4("127.0.0.1", echo_->port()); }
  std::string echo_dst_name() const { return addr_domain("origin.test", echo_->port()); }

  std::unique_ptr<UdpEchoServer> echo_;
};

TEST_F(SocksUdp, AssociateAndEchoByDomainAndByAddress) {
  start(local_config());
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  EXPECT_NE(a.relay_port, sport());
  UdpClient u;
  expect_echo(u, a.relay_port, echo_dst_name(), "hello-domain");
  expect_echo(u, a.relay_port, echo_dst_ip(), "hello-ip");
  expect_echo(u, a.relay_port, echo_dst_name(), "hello-again");
  // The reply comes from the relay socket.
  EXPECT_EQ(u.last_from_port(), a.relay_port);
  // Outbound datagrams leave from a separate per-association socket, on loopback here.
  const auto got = echo_->received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].from_ip, "127.0.0.1");
  EXPECT_NE(got[0].from_port, a.relay_port);
  EXPECT_EQ(got[1].from_port, got[0].from_port);
  // Binary payloads, including NULs and a large datagram, pass unchanged.
  expect_echo(u, a.relay_port, echo_dst_ip(), std::string("\0\x01\xff\r\n", 5));
  expect_echo(u, a.relay_port, echo_dst_ip(), std::string(8000, 'x'));
  EXPECT_EQ(proxy_->count_in_log("blocked "), 0u);
  // The control connection stays open while the association lives.
  EXPECT_FALSE(a.control->read_until_close(100ms).has_value());
}

TEST_F(SocksUdp, TwoAssociationsAreIndependent) {
  start(local_config());
  auto a = associate();
  auto b = associate();
  ASSERT_FALSE(HasFailure());
  EXPECT_NE(a.relay_port, b.relay_port);
  UdpClient ua, ub;
  expect_echo(ua, a.relay_port, echo_dst_ip(), "from-a");
  expect_echo(ub, b.relay_port, echo_dst_ip(), "from-b");
  // ub is locked out of a's association.
  ASSERT_TRUE(ub.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "b-into-a")));
  expect_echo(ua, a.relay_port, echo_dst_ip(), "a-again");
  EXPECT_FALSE(ub.recv(200ms).has_value());
  EXPECT_EQ(echo_->count("b-into-a"), 0u);
}

// A refused destination is dropped and recorded once; the association continues.
TEST_F(SocksUdp, RefusedDestinationDroppedRecordedOnceAssociationContinues) {
  start(local_config());
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  // localhost resolves to loopback without DNS, so if it got through the echo server would see
  // it; it is not on the allowlist.
  const std::string to_localhost = addr_domain("localhost", echo_->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(to_localhost, "refused")));
    ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(addr_domain("other.test", 53), "other")));
  }
  ASSERT_TRUE(
      wait_blocked("socks5_udp", "localhost", echo_->port(), "not_allowed", "baseline_policy"))
      << proxy_->log();
  ASSERT_TRUE(wait_blocked("socks5_udp", "other.test", 53, "not_allowed", "baseline_policy"));
  expect_echo(u, a.relay_port, echo_dst_ip(), "still-works");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(to_localhost, "refused")));
  }
  expect_echo(u, a.relay_port, echo_dst_name(), "still-works-2");
  EXPECT_FALSE(u.recv(200ms).has_value()) << "a refused datagram got an answer";
  EXPECT_EQ(echo_->count("refused"), 0u);
  EXPECT_EQ(
      count_blocked("socks5_udp", "localhost", echo_->port(), "not_allowed", "baseline_policy"), 1u)
      << proxy_->log();
  EXPECT_EQ(count_blocked("socks5_udp", "other.test", 53, "not_allowed", "baseline_policy"), 1u);
  EXPECT_EQ(proxy_->count_in_log("blocked "), 2u) << proxy_->log();
  EXPECT_EQ(dns_->query_count("other.test"), 0u);
  // One blocked entry per destination (§14).
  const std::string blocked = blocked_json();
  EXPECT_EQ(count_in(blocked, R"("protocol":"socks5_udp")"), 2u) << blocked;
  EXPECT_EQ(count_in(blocked, R"("host":"localhost","reason":"not_allowed")"), 1u) << blocked;
  EXPECT_EQ(count_in(blocked, R"("host":"other.test","reason":"not_allowed")"), 1u) << blocked;
  EXPECT_FALSE(a.control->read_until_close(50ms).has_value()) << "association ended";
}

// §14: an association opened with username/password labels its refused destinations.
TEST_F(SocksUdp, RefusedDestinationCarriesTheAuthLabel) {
  start(local_config());
  auto c = socks_client();
  ASSERT_TRUE(c->send(greeting({kUserPass})));
  EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({5, 2})));
  ASSERT_TRUE(c->send(credentials("udp-job", "x")));
  EXPECT_EQ(hex(c->read_exact(2).value_or("")), hex(bytes({1, 0})));
  ASSERT_TRUE(c->send(request(kUdpAssociate, addr_ipv4("0.0.0.0", 0))));
  auto r = read_reply(*c);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->rep, 0x00);
  UdpClient u;
  ASSERT_TRUE(u.send_to(r->port, udp_datagram(addr_domain("other.test", 9), "x")));
  expect_echo(u, r->port, echo_dst_ip(), "labelled");
  ASSERT_TRUE(wait_blocked("socks5_udp", "other.test", 9, "not_allowed", "baseline_policy"));
  const std::string blocked = blocked_json();
  EXPECT_NE(blocked.find(R"("host":"other.test","reason":"not_allowed","client":"127.0.0.1:)"),
            std::string::npos)
      << blocked;
  EXPECT_NE(
      blocked.find(
          R"("method":null,"mode":"full","protocol":"socks5_udp","decision":"deny","source":"baseline_policy","port":9,)"),
      std::string::npos)
      << blocked;
  EXPECT_NE(blocked.find(R"("label":"udp-job"})"), std::string::npos) << blocked;
}

// §18 row 21: non-public destinations without allow_local_binding.
TEST_F(SocksUdp, NonPublicDestinationsDroppedWithoutLocalBinding) {
  // 127.0.0.1 is allowed by its exact entry; the rest only by "*", which §6.2 does not honour
  // for non-public addresses.
  start(config("allowed_domains = [\"*\", \"127.0.0.1\"]\n"));
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(addr_ipv4("127.0.0.53", 53), "dns")));
    ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(addr_ipv4("169.254.169.254", 53), "meta")));
    ASSERT_TRUE(
        u.send_to(a.relay_port, udp_datagram(addr_ipv6("::ffff:169.254.169.254", 53), "meta6")));
    ASSERT_TRUE(
        u.send_to(a.relay_port, udp_datagram(addr_domain("localhost", echo_->port()), "lh")));
  }
  ASSERT_TRUE(wait_blocked("socks5_udp", "127.0.0.53", 53, "not_allowed_local", "baseline_policy"))
      << proxy_->log();
  ASSERT_TRUE(
      wait_blocked("socks5_udp", "169.254.169.254", 53, "not_allowed_local", "baseline_policy"));
  ASSERT_TRUE(wait_blocked("socks5_udp", "localhost", echo_->port(), "not_allowed_local",
                           "baseline_policy"));
  expect_echo(u, a.relay_port, echo_dst_ip(), "exact-entry");
  // ::ffff:169.254.169.254 is the same canonical destination as 169.254.169.254.
  EXPECT_EQ(
      count_blocked("socks5_udp", "169.254.169.254", 53, "not_allowed_local", "baseline_policy"),
      1u)
      << proxy_->log();
  EXPECT_EQ(count_blocked("socks5_udp", "127.0.0.53", 53, "not_allowed_local", "baseline_policy"),
            1u);
  EXPECT_EQ(echo_->count("lh"), 0u);
  EXPECT_EQ(proxy_->count_in_log("blocked "), 3u) << proxy_->log();
}

TEST_F(SocksUdp, SelfTargetDatagramsDropped) {
  start(config("allowed_domains = [\"*\"]\nallow_local_binding = true\n"));
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(addr_ipv4("127.0.0.1", sport()), "self")));
  ASSERT_TRUE(
      u.send_to(a.relay_port, udp_datagram(addr_ipv4("127.0.0.1", proxy_->port()), "self")));
  EXPECT_TRUE(wait_blocked("socks5_udp", "127.0.0.1", sport(), "self_target", "proxy_state"))
      << proxy_->log();
  EXPECT_TRUE(
      wait_blocked("socks5_udp", "127.0.0.1", proxy_->port(), "self_target", "proxy_state"));
  expect_echo(u, a.relay_port, echo_dst_ip(), "other-local-port-ok");
}

TEST_F(SocksUdp, FragmentedAndMalformedDatagramsDropped) {
  start(local_config());
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "frag-1", 1)));
  ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "frag-ff", 0xff)));
  ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(bytes({0x02, 127, 0, 0, 1, 0, 9}), "atyp")));
  ASSERT_TRUE(u.send_to(a.relay_port, bytes({0, 0, 0, 1, 127, 0})));            // truncated
  ASSERT_TRUE(u.send_to(a.relay_port, bytes({0, 0})));                          // shorter
  ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(addr_domain("", 1), "e")));  // empty name
  // A destination with nothing listening (ICMP port unreachable) does not end the association.
  ASSERT_TRUE(u.send_to(a.relay_port,
                        udp_datagram(addr_ipv4("127.0.0.1", closed_udp_port()), "nobody-home")));
  // Same socket, same order: once this echo is back, the ones before it were handled.
  expect_echo(u, a.relay_port, echo_dst_ip(), "after-junk");
  EXPECT_FALSE(u.recv(200ms).has_value());
  EXPECT_EQ(echo_->received().size(), 1u);
  EXPECT_EQ(echo_->count("frag-1"), 0u);
  EXPECT_EQ(echo_->count("frag-ff"), 0u);
  EXPECT_EQ(proxy_->count_in_log("blocked "), 0u);
}

// §9.3: 0.0.0.0:0 in the request → the first valid datagram locks the source address:port.
TEST_F(SocksUdp, ForeignSourceDroppedAfterLock) {
  start(local_config());
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient mine, foreign;
  expect_echo(mine, a.relay_port, echo_dst_ip(), "mine");
  ASSERT_TRUE(foreign.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "foreign")));
  ASSERT_TRUE(foreign.send_to(a.relay_port, udp_datagram(echo_dst_name(), "foreign")));
  expect_echo(mine, a.relay_port, echo_dst_ip(), "mine-again");
  EXPECT_FALSE(foreign.recv(200ms).has_value());
  EXPECT_EQ(echo_->count("foreign"), 0u) << "a foreign source's payload reached the target";
}

// The first datagram must be valid to lock: a junk datagram from one socket does not lock the
// association to it.
TEST_F(SocksUdp, InvalidFirstDatagramDoesNotLock) {
  start(local_config());
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient junk, good;
  ASSERT_TRUE(junk.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "frag", 1)));
  ASSERT_TRUE(junk.send_to(a.relay_port, bytes({0, 0, 0})));
  std::this_thread::sleep_for(50ms);
  expect_echo(good, a.relay_port, echo_dst_ip(), "good-locks");
  ASSERT_TRUE(junk.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "junk-late")));
  expect_echo(good, a.relay_port, echo_dst_ip(), "good-again");
  EXPECT_EQ(echo_->count("junk-late"), 0u);
}

// §9.3: the source IP must be the control connection's peer IP (127.0.0.1 here), even for the
// first datagram of a 0.0.0.0:0 association.
TEST_F(SocksUdp, SourceIpMustBeTheControlPeer) {
  start(local_config());
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient elsewhere("127.0.0.2"), mine;
  ASSERT_TRUE(elsewhere.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "from-127.0.0.2")));
  std::this_thread::sleep_for(50ms);
  expect_echo(mine, a.relay_port, echo_dst_ip(), "from-peer");
  EXPECT_FALSE(elsewhere.recv(200ms).has_value());
  EXPECT_EQ(echo_->count("from-127.0.0.2"), 0u);
}

// §9.3: ... or the non-zero DST.ADDR the request named.
TEST_F(SocksUdp, NamedAddressMayDifferFromThePeer) {
  start(local_config());
  auto a = associate(addr_ipv4("127.0.0.2", 0));
  ASSERT_FALSE(HasFailure());
  UdpClient named("127.0.0.2"), third("127.0.0.3");
  ASSERT_TRUE(third.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "from-127.0.0.3")));
  std::this_thread::sleep_for(50ms);
  expect_echo(named, a.relay_port, echo_dst_ip(), "from-named");
  EXPECT_FALSE(third.recv(200ms).has_value());
  EXPECT_EQ(echo_->count("from-127.0.0.3"), 0u);
}

// §9.3: domain destinations are resolved (here by the stub DNS server) and judged once per
// association; a DNS failure drops that destination only.
TEST_F(SocksUdp, DomainDestinationResolvedOnceAndDnsFailureDropped) {
  dns_->add_address("udp.test", "127.0.0.1");
  start(config("allowed_domains = [\"udp.test\", \"nx.test\"]\nallow_local_binding = true\n"));
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(addr_domain("nx.test", 53), "nx")));
  }
  const std::string dst = addr_domain("udp.test", echo_->port());
  for (int i = 0; i < 4; ++i) expect_echo(u, a.relay_port, dst, "resolved-" + std::to_string(i));
  ASSERT_TRUE(wait_blocked("socks5_udp", "nx.test", 53, "dns_failure", "proxy_state"))
      << proxy_->log();
  EXPECT_EQ(dns_->query_count("udp.test", dns_wire::kTypeA), 1u);
  EXPECT_EQ(count_blocked("socks5_udp", "nx.test", 53, "dns_failure", "proxy_state"), 1u);
  // A second association judges (and resolves) again.
  auto b = associate();
  UdpClient v;
  expect_echo(v, b.relay_port, dst, "second-association");
}

// §9.3: a non-zero DST.PORT in the request → only that source port is accepted.
TEST_F(SocksUdp, NamedSourcePortOnly) {
  start(local_config());
  UdpClient named, other;
  auto a = associate(addr_ipv4("127.0.0.1", named.port()));
  ASSERT_FALSE(HasFailure());
  // The other socket speaks first and must not lock the association.
  ASSERT_TRUE(other.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "other-first")));
  std::this_thread::sleep_for(50ms);
  expect_echo(named, a.relay_port, echo_dst_ip(), "named");
  ASSERT_TRUE(other.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "other-later")));
  expect_echo(named, a.relay_port, echo_dst_ip(), "named-again");
  EXPECT_FALSE(other.recv(200ms).has_value());
  EXPECT_EQ(echo_->count("other-first"), 0u);
  EXPECT_EQ(echo_->count("other-later"), 0u);
}

// A port-only lock with 0.0.0.0 as the address: the peer IP with that port.
TEST_F(SocksUdp, NamedPortWithUnspecifiedAddress) {
  start(local_config());
  UdpClient named, other;
  auto a = associate(addr_ipv4("0.0.0.0", named.port()));
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(other.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "other-first")));
  std::this_thread::sleep_for(50ms);
  expect_echo(named, a.relay_port, echo_dst_ip(), "named");
  EXPECT_EQ(echo_->count("other-first"), 0u);
}

// §9.3: replies only from addresses the client has sent to.
TEST_F(SocksUdp, UnsolicitedRepliesNotRelayed) {
  start(local_config());
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u, stranger;
  expect_echo(u, a.relay_port, echo_dst_ip(), "hello");
  const auto got = echo_->received();
  ASSERT_EQ(got.size(), 1u);
  const std::uint16_t outbound = got[0].from_port;
  // Something else on loopback writes to the association's outbound socket.
  ASSERT_TRUE(stranger.send_to(outbound, "unsolicited"));
  EXPECT_FALSE(u.recv(300ms).has_value()) << "a datagram from an uncontacted source was relayed";
  expect_echo(u, a.relay_port, echo_dst_ip(), "still-fine");
}

TEST_F(SocksUdp, ClosingControlConnectionEndsAssociation) {
  start(local_config());
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  expect_echo(u, a.relay_port, echo_dst_ip(), "before");
  a.control->close();
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "after-close")));
  EXPECT_FALSE(u.recv(500ms).has_value());
  EXPECT_EQ(echo_->count("after-close"), 0u);
}

TEST_F(SocksUdp, IdleAssociationEndsAndClosesControl) {
  start(local_config("idle_timeout_s = 1\n"));
  auto busy = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  // Traffic keeps it alive past the idle timeout.
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) {
    expect_echo(u, busy.relay_port, echo_dst_ip(), "keepalive-" + std::to_string(i));
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1500ms);
  EXPECT_FALSE(busy.control->read_until_close(10ms).has_value()) << "busy association ended";
  // Now idle: ends within a few seconds, closing the control connection.
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_TRUE(busy.control->read_until_close(5s).has_value()) << "control connection still open";
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 4s);
  ASSERT_TRUE(u.send_to(busy.relay_port, udp_datagram(echo_dst_ip(), "after-idle")));
  EXPECT_FALSE(u.recv(300ms).has_value());
  EXPECT_EQ(echo_->count("after-idle"), 0u);
}

// §10.1: SOCKS5 connections (UDP associations included) close when the mode becomes limited.
TEST_F(SocksUdp, SwitchingToLimitedModeEndsAssociation) {
  start(local_config());
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  expect_echo(u, a.relay_port, echo_dst_ip(), "full");
  proxy_->write_config(local_config("mode = \"limited\"\n"));
  ASSERT_TRUE(proxy_->reload());
  EXPECT_TRUE(a.control->read_until_close(5s).has_value()) << "association still open";
  ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(echo_dst_ip(), "limited")));
  EXPECT_FALSE(u.recv(300ms).has_value());
  EXPECT_EQ(echo_->count("limited"), 0u);
}

// §9.3 / §15.3: no event for the ASSOCIATE itself; one per new destination.
TEST_F(SocksUdp, AuditOneEventPerDestination) {
  const std::string audit = (dir_ / "audit.jsonl").string();
  start(local_config("[network.audit]\njsonl_path = \"" + audit + "\"\n"));
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  expect_echo(u, a.relay_port, echo_dst_ip(), "1");
  expect_echo(u, a.relay_port, echo_dst_ip(), "2");
  expect_echo(u, a.relay_port, echo_dst_name(), "3");
  expect_echo(u, a.relay_port, echo_dst_name(), "4");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(addr_domain("other.test", 9), "x")));
  }
  ASSERT_TRUE(wait_blocked("socks5_udp", "other.test", 9, "not_allowed", "baseline_policy"));
  const auto read_audit = [&] {
    std::ifstream in(audit);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (count_in(read_audit(), "\n") < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  std::this_thread::sleep_for(200ms);
  const std::string text = read_audit();
  EXPECT_EQ(count_in(text, "\n"), 3u) << text;
  EXPECT_EQ(count_in(text, R"("network.transport.protocol":"socks5_udp")"), 3u) << text;
  const std::string ep = std::to_string(echo_->port());
  EXPECT_EQ(
      count_in(
          text,
          R"("network.policy.decision":"allow","network.policy.source":"baseline_policy","network.policy.reason":"allow","network.transport.protocol":"socks5_udp","server.address":"127.0.0.1","server.port":)" +
              ep + ","),
      1u)
      << text;
  EXPECT_EQ(
      count_in(
          text,
          R"("network.policy.decision":"allow","network.policy.source":"baseline_policy","network.policy.reason":"allow","network.transport.protocol":"socks5_udp","server.address":"origin.test","server.port":)" +
              ep + ","),
      1u)
      << text;
  EXPECT_EQ(
      count_in(
          text,
          R"("network.policy.decision":"deny","network.policy.source":"baseline_policy","network.policy.reason":"not_allowed","network.transport.protocol":"socks5_udp","server.address":"other.test","server.port":9,"http.request.method":"none")"),
      1u)
      << text;
  EXPECT_EQ(count_in(text, R"("server.address":"0.0.0.0")"), 0u) << text;
}

// §9.3 / §19 bounds, forced end to end (issue 10 item 6). Helpers read counters from /metrics.
class SocksUdpBounds : public SocksUdp {
 protected:
  std::string metrics_text() {
    auto r = curl({"http://127.0.0.1:" + std::to_string(admin_port()) + "/metrics"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  // The value of one sample line `<series> <value>`, 0 when absent.
  std::uint64_t sample(const std::string& series) {
    const std::string text = metrics_text();
    const auto pos = text.find("\n" + series + " ");
    if (pos == std::string::npos) return 0;
    return std::stoull(text.substr(pos + series.size() + 2));
  }
  bool wait_sample(const std::string& series, std::uint64_t want,
                   std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      if (sample(series) == want) return true;
      std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }
  static constexpr const char* kOverflow =
      R"(netfence_udp_datagrams_dropped_total{reason="pending_overflow"})";
};

// While a destination is being judged (here: its AAAA query never answers, so the A answer is
// used at the dns_timeout_ms deadline), at most 16 datagrams and 64 KiB wait for it; the rest
// are dropped and counted, and the queued ones are delivered in order once it is allowed.
TEST_F(SocksUdpBounds, PendingDatagramsAreBoundedByCountAndBytes) {
  dns_->load_script("half.test A 127.0.0.1\nhalf.test TIMEOUT AAAA\n");
  start(
      config("allowed_domains = [\"half.test\"]\n"
             "allow_local_binding = true\n"
             "dns_timeout_ms = 1500\n"));
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  const std::string dst = addr_domain("half.test", echo_->port());
  for (int i = 0; i < 20; ++i) {
    char payload[8];
    std::snprintf(payload, sizeof payload, "q%02d", i);
    ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(dst, payload)));
  }
  // The 16 queued ones arrive after the deadline, in order; q16..q19 never do.
  ASSERT_TRUE(echo_->wait_for("q15", 1, 6s)) << proxy_->log();
  std::this_thread::sleep_for(300ms);
  const auto got = echo_->received();
  ASSERT_EQ(got.size(), 16u);
  for (int i = 0; i < 16; ++i) {
    char payload[8];
    std::snprintf(payload, sizeof payload, "q%02d", i);
    EXPECT_EQ(got[static_cast<std::size_t>(i)].payload, payload);
  }
  for (int i = 0; i < 16; ++i) {
    auto d = u.recv(3s);
    ASSERT_TRUE(d) << "echo " << i;
  }
  EXPECT_FALSE(u.recv(200ms).has_value());
  EXPECT_TRUE(wait_sample(kOverflow, 4)) << metrics_text();

  // Bytes: a second destination (another port) takes two 30000-byte datagrams (60000 B), the
  // third would pass 64 KiB and is dropped, as is the fourth.
  UdpEchoServer echo2;
  const std::string dst2 = addr_domain("half.test", echo2.port());
  for (char c : {'a', 'b', 'c', 'd'}) {
    ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(dst2, std::string(30000, c))));
  }
  ASSERT_TRUE(echo2.wait_for(std::string(30000, 'b'), 1, 6s)) << proxy_->log();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(echo2.received().size(), 2u);
  EXPECT_EQ(echo2.count(std::string(30000, 'a')), 1u);
  EXPECT_TRUE(wait_sample(kOverflow, 6)) << metrics_text();
}

// Past 256 destinations the association's cache starts over (§9.3): a destination judged before
// is judged again (one more decision and audit event) and still works.
TEST_F(SocksUdpBounds, DestinationCacheStartsOverPast256) {
  start(local_config());
  auto a = associate();
  ASSERT_FALSE(HasFailure());
  UdpClient u;
  const std::string decisions =
      R"(netfence_decisions_total{protocol="socks5_udp",decision="allow",reason="allow"})";
  expect_echo(u, a.relay_port, echo_dst_ip(), "first");
  ASSERT_EQ(sample(decisions), 1u);
  expect_echo(u, a.relay_port, echo_dst_ip(), "cached");
  ASSERT_EQ(sample(decisions), 1u) << "a known destination is not judged again";
  // 255 more destinations fill the cache to 256 (closed loopback ports: the datagrams go out
  // and nothing answers).
  std::vector<std::uint16_t> ports;
  for (std::uint16_t p = 20000; ports.size() < 256; ++p) {
    if (p != echo_->port()) ports.push_back(p);
  }
  for (std::size_t i = 0; i < 255; ++i) {
    ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(addr_ipv4("127.0.0.1", ports[i]), "x")));
  }
  ASSERT_TRUE(wait_sample(decisions, 256)) << sample(decisions);
  expect_echo(u, a.relay_port, echo_dst_ip(), "still-cached");
  EXPECT_EQ(sample(decisions), 256u);
  // The 257th destination starts the cache over; the echo destination is then judged anew.
  ASSERT_TRUE(u.send_to(a.relay_port, udp_datagram(addr_ipv4("127.0.0.1", ports[255]), "x")));
  ASSERT_TRUE(wait_sample(decisions, 257)) << sample(decisions);
  expect_echo(u, a.relay_port, echo_dst_ip(), "judged-again");
  EXPECT_TRUE(wait_sample(decisions, 258)) << sample(decisions);
}

}  // namespace
}  // namespace netfence::testing
