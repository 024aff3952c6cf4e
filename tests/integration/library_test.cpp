// The embeddable library end to end (SPEC §16, §6.5, §3.7, §14): a NetworkProxy built in this
// process, driven with curl and raw sockets against a local origin, a stub DNS server for
// hermetic resolution, and a decider, audit sink and blocked observer written here.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "netfence/netfence.hpp"
#include "origin_server.hpp"
#include "proxy_fixture.hpp"
#include "stub_dns_server.hpp"
#include "test_pki.hpp"

namespace netfence::testing {
namespace {

using namespace std::chrono_literals;

// Collects audit events (audit thread) for the test thread.
class RecordingSink : public AuditSink {
 public:
  void write(const AuditEvent& e) noexcept override {
    std::lock_guard lock(m_);
    events_.push_back(e);
    cv_.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds t = 5s) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, t, [&] { return events_.size() >= n; });
  }
  std::vector<AuditEvent> events() {
    std::lock_guard lock(m_);
    return events_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<AuditEvent> events_;
};

class Library : public ::testing::Test {
 protected:
  void SetUp() override {
    dns_ = std::make_unique<StubDnsServer>();
    origin_ = std::make_unique<OriginServer>();
    o_ = authority("origin.test", origin_->port());
  }
  void TearDown() override {
    handle_.reset();
    proxy_.reset();
  }

  // Nothing on the allowlist: every name is `not_allowed` and goes to the decider.
  Config base(const std::string& extra = "") const {
    auto cfg = load_config_from_string(
        "[network]\nenabled = true\nallow_upstream_proxy = false\n"
        "allow_local_binding = true\n"
        "dns_servers = [\"" +
            dns_->address() +
            "\"]\n"
            "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"], \"other.test\" = [\"127.0.0.1\"] "
            "}\n" +
            extra,
        "test.toml");
    EXPECT_TRUE(cfg.ok()) << (cfg.ok() ? "" : cfg.error().message);
    return cfg.ok() ? cfg.value() : Config{};
  }

  NetworkProxyBuilder builder(Config cfg) {
    auto b = NetworkProxy::builder();
    b.config(std::move(cfg))
        .http_addr("127.0.0.1:0")
        .socks_addr("127.0.0.1:0")
        .admin_addr("127.0.0.1:0");
    return b;
  }

  void start(NetworkProxyBuilder&& b) { start(b); }
  void start(NetworkProxyBuilder& b) {
    b.audit_sink(sink_);
    auto built = b.build();
    ASSERT_TRUE(built.ok()) << built.error().message;
    proxy_ = std::make_unique<NetworkProxy>(std::move(built.value()));
    auto h = proxy_->run();
    ASSERT_TRUE(h.ok()) << h.error().message;
    handle_ = std::make_unique<ProxyHandle>(std::move(h.value()));
    ASSERT_FALSE(proxy_->http_addr().empty());
  }

  // curl through the HTTP proxy; the status on the last line.
  CurlResult get(const std::string& url, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"-x", "http://" + proxy_->http_addr(), "-w", "\n%{http_code}"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(url);
    return curl(args);
  }
  static std::string status_of(const CurlResult& r) {
    const auto nl = r.out.rfind('\n');
    return nl == std::string::npos ? r.out : r.out.substr(nl + 1);
  }

  std::unique_ptr<StubDnsServer> dns_;
  std::unique_ptr<OriginServer> origin_;
  std::string o_;
  std::shared_ptr<RecordingSink> sink_ = std::make_shared<RecordingSink>();
  std::unique_ptr<NetworkProxy> proxy_;
  std::unique_ptr<ProxyHandle> handle_;
};

// §6.5: an Allow turns not_allowed into allow (recorded as an override, source decider); the
// decider sees the canonical request.
TEST_F(Library, DeciderAllowIsAnOverride) {
  std::mutex m;
  std::vector<PolicyRequest> seen;
  start(builder(base()).policy_decider([&](const PolicyRequest& r, DecisionCallback done) {
    {
      std::lock_guard lock(m);
      seen.push_back(r);
    }
    done(Allow{});
  }));
  auto r = get("http://ORIGIN.test:" + std::to_string(origin_->port()) + "/x");
  EXPECT_EQ(status_of(r), "200") << r.out << r.err;
  EXPECT_EQ(origin_->request_count(), 1u);
  {
    std::lock_guard lock(m);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].protocol, Protocol::http);
    EXPECT_EQ(seen[0].host, "origin.test");
    EXPECT_EQ(seen[0].port, origin_->port());
    EXPECT_EQ(seen[0].method, "GET");
    ASSERT_TRUE(seen[0].client_addr);
    EXPECT_EQ(seen[0].client_addr->rfind("127.0.0.1:", 0), 0u);
    EXPECT_FALSE(seen[0].label);
  }
  ASSERT_TRUE(sink_->wait_for(1));
  const AuditEvent e = sink_->events()[0];
  EXPECT_EQ(e.decision, Verdict::allow);
  EXPECT_EQ(e.source, DecisionSource::decider);
  EXPECT_TRUE(e.override_allow);
  EXPECT_EQ(e.server_address, "origin.test");
}

// §6.5: Deny/Ask end the evaluation with source decider; reasons are normalised.
TEST_F(Library, DeciderDenyAndAsk) {
  start(builder(base()).policy_decider([](const PolicyRequest& r, DecisionCallback done) {
    if (r.host == "origin.test") return done(deny("needs approval"));
    done(ask(""));
  }));
  auto r = get("http://" + o_ + "/");
  EXPECT_EQ(status_of(r), "403");
  EXPECT_NE(
      r.out.find("\"reason\":\"needs approval\",\"decision\":\"deny\",\"source\":\"decider\""),
      std::string::npos)
      << r.out;
  r = get("http://" + authority("other.test", origin_->port()) + "/");
  EXPECT_EQ(status_of(r), "403");
  EXPECT_NE(r.out.find("\"reason\":\"policy_denied\",\"decision\":\"ask\",\"source\":\"decider\""),
            std::string::npos)
      << r.out;
  EXPECT_EQ(origin_->request_count(), 0u);
  const auto blocked = proxy_->blocked_snapshot();
  ASSERT_EQ(blocked.size(), 2u);
  EXPECT_EQ(blocked[0].reason, "needs approval");
  EXPECT_EQ(blocked[1].decision, Verdict::ask);
  EXPECT_EQ(blocked[1].source, DecisionSource::decider);
}

// §6.5: never consulted for denied, not_allowed_local, self targets, allowed hosts or mode
// refusals — only for targets that are not on the allowlist and nothing else refuses.
TEST_F(Library, DeciderOnlyForNotAllowed) {
  std::atomic<int> calls{0};
  Config cfg = base("allowed_domains = [\"origin.test\"]\ndenied_domains = [\"other.test\"]\n");
  cfg.allow_local_binding = false;
  start(builder(cfg).policy_decider([&](const PolicyRequest&, DecisionCallback done) {
    ++calls;
    done(Allow{});
  }));
  // denied
  EXPECT_EQ(status_of(get("http://" + authority("other.test", origin_->port()) + "/")), "403");
  // allowlisted, then refused as local: the decider has nothing to say
  auto r = get("http://" + o_ + "/");
  EXPECT_EQ(status_of(r), "403");
  EXPECT_NE(r.out.find("not_allowed_local"), std::string::npos) << r.out;
  // not allowlisted, but a local literal / localhost / the proxy itself: refused without asking
  EXPECT_EQ(status_of(get("http://127.0.0.1:" + std::to_string(origin_->port()) + "/")), "403");
  EXPECT_EQ(status_of(get("http://localhost:" + std::to_string(origin_->port()) + "/")), "403");
  EXPECT_EQ(status_of(get("http://" + proxy_->admin_addr() + "/mode")), "403");
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(origin_->request_count(), 0u);
}

TEST_F(Library, DeciderNotConsultedForModeRefusals) {
  std::atomic<int> calls{0};
  start(builder(base("mode = \"limited\"\n"))
            .policy_decider([&](const PolicyRequest&, DecisionCallback done) {
              ++calls;
              done(Allow{});
            }));
  // Not allowlisted and a write in limited mode: the mode guard would refuse it anyway.
  auto r = get("http://" + o_ + "/", {"-X", "POST", "-d", "x"});
  EXPECT_EQ(status_of(r), "403");
  // A CONNECT in limited mode without mitm is refused (mitm_required) whatever the decider says.
  auto c = curl({"-p", "-x", "http://" + proxy_->http_addr(), "https://" + o_ + "/"});
  EXPECT_NE(c.exit_code, 0);
  EXPECT_EQ(calls.load(), 0);
  // A GET is asked about, and then allowed.
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "200");
  EXPECT_EQ(calls.load(), 1);
}

// §16: a returned Deny is reported with source decider whatever source it set.
TEST_F(Library, DenySourceIsAlwaysDecider) {
  start(builder(base()).policy_decider([](const PolicyRequest&, DecisionCallback done) {
    Deny d{"blocked by admin"};
    d.source = DecisionSource::baseline_policy;
    done(d);
  }));
  auto r = get("http://" + o_ + "/");
  EXPECT_EQ(status_of(r), "403");
  EXPECT_NE(r.out.find("\"source\":\"decider\""), std::string::npos) << r.out;
  ASSERT_TRUE(sink_->wait_for(1));
  EXPECT_EQ(sink_->events()[0].source, DecisionSource::decider);
  EXPECT_EQ(sink_->events()[0].reason, "blocked by admin");
}

// §16: a callback kept by the embedder and called after shutdown, or after the proxy is gone,
// is ignored safely.
TEST_F(Library, CallbackAfterShutdownAndDestruction) {
  std::mutex m;
  std::vector<DecisionCallback> parked;
  start(builder(base("decider_timeout_ms = 100\n"))
            .policy_decider([&](const PolicyRequest&, DecisionCallback done) {
              std::lock_guard lock(m);
              parked.push_back(std::move(done));
            }));
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "403");
  handle_->shutdown(0ms);
  EXPECT_TRUE(handle_->wait().ok());
  {
    std::lock_guard lock(m);
    ASSERT_EQ(parked.size(), 1u);
  }
  handle_.reset();
  proxy_.reset();
  parked[0](Allow{});  // nothing left to post to: dropped
}

// §9.1/§16: the SOCKS5 user name is the label the decider sees.
TEST_F(Library, Socks5UserNameIsTheLabel) {
  std::mutex m;
  std::vector<PolicyRequest> seen;
  // With a password set only username/password auth is offered back, so curl sends the name.
  start(builder(base("socks_password = \"pw\"\n"))
            .policy_decider([&](const PolicyRequest& r, DecisionCallback done) {
              {
                std::lock_guard lock(m);
                seen.push_back(r);
              }
              done(deny("no"));
            }));
  const std::string socks = proxy_->socks_addr();
  auto c = curl({"-x", "socks5h://sock-agent:pw@" + socks, "http://" + o_ + "/"});
  EXPECT_NE(c.exit_code, 0);
  std::lock_guard lock(m);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].protocol, Protocol::socks5_tcp);
  EXPECT_EQ(seen[0].label, "sock-agent");
  EXPECT_FALSE(seen[0].method);
}

// §3.7: the overlay survives reload(); an added allow removes the file's identical deny.
TEST_F(Library, OverlaySurvivesReloadAndUpsertsAgainstTheFile) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("nf-lib-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "config.toml";
  auto write = [&](const std::string& extra) {
    std::ofstream(file) << "[network]\nenabled = true\nallow_upstream_proxy = false\n"
                           "allow_local_binding = true\ndns_servers = [\""
                        << dns_->address()
                        << "\"]\ndns_hosts = { \"origin.test\" = [\"127.0.0.1\"] }\n"
                        << extra;
  };
  write("denied_domains = [\"origin.test\"]\n");
  auto b = NetworkProxy::builder();
  b.config_file(file).http_addr("127.0.0.1:0").socks_addr("127.0.0.1:0").admin_addr("127.0.0.1:0");
  start(b);
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "403");
  ASSERT_TRUE(proxy_->add_allowed_domain("origin.test").ok());
  EXPECT_TRUE(proxy_->current_config().denied_domains.empty());
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "200");
  write("denied_domains = [\"origin.test\", \"other.test\"]\n");
  ASSERT_TRUE(proxy_->reload().ok());
  EXPECT_EQ(proxy_->current_config().denied_domains, std::vector<std::string>{"other.test"});
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "200");
  std::filesystem::remove_all(dir);
}

// §16: at the deadline every connection is closed, an idle keep-alive one included; a later
// shutdown(0ms) shortens a long grace; wait() from two threads.
TEST_F(Library, ShutdownClosesConnectionsAtTheDeadline) {
  start(builder(base("allowed_domains = [\"origin.test\"]\n")));
  const auto port = static_cast<std::uint16_t>(
      std::stoi(proxy_->http_addr().substr(proxy_->http_addr().rfind(':') + 1)));
  RawClient idle;
  ASSERT_TRUE(idle.connect(port));
  ASSERT_TRUE(idle.send("GET http://" + o_ + "/ HTTP/1.1\r\nHost: " + o_ + "\r\n\r\n"));
  ASSERT_TRUE(idle.read_response());  // keep-alive: the connection stays open, idle
  const auto t0 = std::chrono::steady_clock::now();
  handle_->shutdown(30s);
  handle_->shutdown(0ms);
  Result<void> a = Result<void>(), b2 = Result<void>();
  std::thread w1([&] { a = handle_->wait(); });
  std::thread w2([&] { b2 = handle_->wait(); });
  w1.join();
  w2.join();
  EXPECT_TRUE(a.ok());
  EXPECT_TRUE(b2.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_TRUE(idle.read_until_close(5s).has_value()) << "idle connection left open";
}

// §6.5/§16: no answer within decider_timeout_ms → policy_denied; a late callback is ignored.
TEST_F(Library, DeciderTimeoutAndLateCallback) {
  std::mutex m;
  std::vector<DecisionCallback> parked;
  start(builder(base("decider_timeout_ms = 200\n"))
            .policy_decider([&](const PolicyRequest&, DecisionCallback done) {
              std::lock_guard lock(m);
              parked.push_back(std::move(done));
            }));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = get("http://" + o_ + "/");
  EXPECT_EQ(status_of(r), "403");
  EXPECT_NE(r.out.find("\"reason\":\"policy_denied\""), std::string::npos) << r.out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  {
    std::lock_guard lock(m);
    ASSERT_EQ(parked.size(), 1u);
    parked[0](Allow{});  // too late: ignored, no crash
    parked[0](Allow{});
  }
  EXPECT_EQ(origin_->request_count(), 0u);
}

// §16: the first call counts (synchronous double call); exceptions deny.
TEST_F(Library, DeciderExactlyOnceAndExceptions) {
  start(builder(base()).policy_decider([](const PolicyRequest& r, DecisionCallback done) {
    if (r.host == "other.test") throw std::runtime_error("boom");
    done(Allow{});
    done(deny("second call"));
  }));
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "200");
  auto r = get("http://" + authority("other.test", origin_->port()) + "/");
  EXPECT_EQ(status_of(r), "403");
  EXPECT_NE(r.out.find("\"reason\":\"policy_denied\",\"decision\":\"deny\",\"source\":\"decider\""),
            std::string::npos)
      << r.out;
}

// §16: the callback may come later from another thread.
TEST_F(Library, DeciderAnswersFromAnotherThread) {
  start(builder(base()).policy_decider([](const PolicyRequest&, DecisionCallback done) {
    std::thread([done = std::move(done)] {
      std::this_thread::sleep_for(50ms);
      done(Allow{});
    }).detach();
  }));
  EXPECT_EQ(status_of(get("http://" + o_ + "/a")), "200");
  EXPECT_EQ(status_of(get("http://" + o_ + "/b")), "200");
  EXPECT_EQ(origin_->request_count(), 2u);
}

// §16 labels: the Proxy-Authorization user name is the label; register_label adds command and
// exec_policy_hint; the label reaches the blocked history; the header is not forwarded.
TEST_F(Library, LabelsReachTheDeciderAndHistory) {
  std::mutex m;
  std::vector<PolicyRequest> seen;
  start(builder(base()).policy_decider([&](const PolicyRequest& r, DecisionCallback done) {
    {
      std::lock_guard lock(m);
      seen.push_back(r);
    }
    if (r.command && r.command->starts_with("git fetch ")) return done(Allow{});
    done(ask("not_allowed"));
  }));
  proxy_->register_label("agent-7", {"git fetch origin", "approved"});
  auto r = get("http://" + o_ + "/", {"--proxy-user", "agent-7:anything"});
  EXPECT_EQ(status_of(r), "200") << r.out;
  ASSERT_EQ(origin_->request_count(), 1u);
  const auto reqs = origin_->requests();
  for (const auto& [name, value] : reqs[0].headers) {
    EXPECT_NE(name, "proxy-authorization");
  }
  r = get("http://" + o_ + "/", {"--proxy-user", "agent-8:x"});
  EXPECT_EQ(status_of(r), "403");
  std::lock_guard lock(m);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].label, "agent-7");
  EXPECT_EQ(seen[0].command, "git fetch origin");
  EXPECT_EQ(seen[0].exec_policy_hint, "approved");
  EXPECT_EQ(seen[1].label, "agent-8");
  EXPECT_FALSE(seen[1].command);
  const auto blocked = proxy_->drain_blocked();
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].label, "agent-8");
  EXPECT_EQ(blocked[0].reason, "not_allowed");
  EXPECT_EQ(blocked[0].decision, Verdict::ask);
  EXPECT_TRUE(proxy_->drain_blocked().empty());
}

// A Basic credential without the RFC 7617 ':' may be a bare secret: it never becomes a label.
TEST_F(Library, BasicCredentialWithoutColonIsNoLabel) {
  std::mutex m;
  std::vector<PolicyRequest> seen;
  start(builder(base()).policy_decider([&](const PolicyRequest& r, DecisionCallback done) {
    {
      std::lock_guard lock(m);
      seen.push_back(r);
    }
    done(ask("not_allowed"));
  }));
  auto r = get("http://" + o_ + "/", {"-H", "Proxy-Authorization: Basic c2stc2VjcmV0LXRva2Vu"});
  EXPECT_EQ(status_of(r), "403");
  std::lock_guard lock(m);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].label) << *seen[0].label;
  const auto blocked = proxy_->drain_blocked();
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_FALSE(blocked[0].label) << *blocked[0].label;
}

// §14/§16: the observer receives each entry on the audit thread.
TEST_F(Library, BlockedObserver) {
  std::mutex m;
  std::condition_variable cv;
  std::vector<BlockedRequest> got;
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> on_caller{false};
  auto b = builder(base());
  b.blocked_observer([&](const BlockedRequest& e) {
    if (std::this_thread::get_id() == caller) on_caller = true;
    std::lock_guard lock(m);
    got.push_back(e);
    cv.notify_all();
  });
  start(b);
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "403");
  std::unique_lock lock(m);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return !got.empty(); }));
  EXPECT_EQ(got[0].host, "origin.test");
  EXPECT_EQ(got[0].reason, "not_allowed");
  EXPECT_EQ(got[0].protocol, Protocol::http);
  EXPECT_FALSE(on_caller.load());
}

// §3.7/§16: the runtime overlay, with the upsert between the lists; invalid patterns refused.
TEST_F(Library, AddAllowedAndDeniedDomains) {
  start(builder(base()));
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "403");
  ASSERT_TRUE(proxy_->add_allowed_domain("ORIGIN.test").ok());
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "200");
  auto cfg = proxy_->current_config();
  EXPECT_EQ(cfg.allowed_domains, std::vector<std::string>{"origin.test"});
  ASSERT_TRUE(proxy_->add_denied_domain("origin.test").ok());
  auto r = get("http://" + o_ + "/");
  EXPECT_EQ(status_of(r), "403");
  EXPECT_NE(r.out.find("\"reason\":\"denied\""), std::string::npos) << r.out;
  cfg = proxy_->current_config();
  EXPECT_TRUE(cfg.allowed_domains.empty());
  EXPECT_EQ(cfg.denied_domains, std::vector<std::string>{"origin.test"});
  auto bad = proxy_->add_allowed_domain("exa mple.com");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "config");
  EXPECT_NE(bad.error().message.find("contains a space"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(proxy_->add_denied_domain("*").ok());
}

// §16: set_mode and current_config (real listener ports, runtime mode).
TEST_F(Library, SetModeAndCurrentConfig) {
  start(builder(base("allowed_domains = [\"origin.test\"]\n")));
  ASSERT_TRUE(proxy_->set_mode(Mode::limited).ok());
  auto r = get("http://" + o_ + "/", {"-X", "POST", "-d", "x"});
  EXPECT_EQ(status_of(r), "403");
  EXPECT_NE(r.out.find("method_not_allowed"), std::string::npos);
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "200");
  const Config cfg = proxy_->current_config();
  EXPECT_EQ(cfg.mode, Mode::limited);
  EXPECT_EQ(cfg.proxy_url, "http://" + proxy_->http_addr());
  EXPECT_EQ(cfg.admin_url, "http://" + proxy_->admin_addr());
  // The scheme is the configured one (as GET /config shows it), the address the bound one.
  EXPECT_TRUE(cfg.socks_url.ends_with("://" + proxy_->socks_addr())) << cfg.socks_url;
}

// §17 through §16: the child environment names the real ports.
TEST_F(Library, ChildEnvironment) {
  start(builder(base()));
  const auto env = proxy_->child_environment();
  ASSERT_FALSE(env.empty());
  EXPECT_EQ(env.front(),
            std::make_pair(std::string("HTTP_PROXY"), "http://" + proxy_->http_addr()));
  auto find = [&](const std::string& name) -> std::string {
    for (const auto& [n, v] : env) {
      if (n == name) return v;
    }
    return "";
  };
  EXPECT_EQ(find("ALL_PROXY"), "socks5h://" + proxy_->socks_addr());
  EXPECT_EQ(find("NETFENCE_PROXY_ACTIVE"), "1");
  EXPECT_EQ(find("CODEX_NETWORK_ALLOW_LOCAL_BINDING"), "1");
  EXPECT_EQ(find("SSL_CERT_FILE"), "");  // mitm = false
}

// §16: run() binds every listener or none.
TEST_F(Library, RunBindsAllOrNone) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string busy = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));

  auto b = builder(base());
  b.socks_addr(busy);
  auto built = b.build();
  ASSERT_TRUE(built.ok()) << built.error().message;
  auto h = built.value().run();
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, "bind");
  EXPECT_NE(h.error().message.find("SOCKS5 proxy"), std::string::npos) << h.error().message;
  EXPECT_NE(h.error().message.find(busy), std::string::npos) << h.error().message;
  EXPECT_EQ(built.value().http_addr(), "") << "the HTTP listener was left bound";
  ::close(fd);
}

// §16: enabled = false binds nothing and wait() returns at once; build errors carry §3.4 text.
TEST_F(Library, DisabledAndBuildErrors) {
  auto built = NetworkProxy::builder().build();  // Config{}: enabled = false
  ASSERT_TRUE(built.ok());
  auto h = built.value().run();
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h.value().wait().ok());
  EXPECT_EQ(built.value().http_addr(), "");
  EXPECT_FALSE(built.value().run().ok()) << "a proxy runs at most once";

  auto bad = NetworkProxy::builder().config_file("/nonexistent/netfence.toml").build();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("/nonexistent/netfence.toml"), std::string::npos);
  Config c = base();
  c.proxy_url = "http://127.0.0.1:99999";
  bad = NetworkProxy::builder().config(c).build();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "config");
  c = base();
  c.decider_timeout_ms = 0;
  bad = NetworkProxy::builder().config(c).build();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "network.decider_timeout_ms: expected an integer from 1 to 600000, got 0");
  c = base();
  c.allowed_domains = {"ok.example", "exa mple.com"};
  bad = NetworkProxy::builder().config(c).build();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("network.allowed_domains[1]: "), std::string::npos)
      << bad.error().message;
}

// §16: shutdown is idempotent, wait returns, and destroying a running handle stops the proxy.
TEST_F(Library, ShutdownSemantics) {
  start(builder(base("allowed_domains = [\"origin.test\"]\n")));
  const std::string addr = proxy_->http_addr();
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "200");
  handle_->shutdown(1s);
  handle_->shutdown(0ms);
  EXPECT_TRUE(handle_->wait().ok());
  EXPECT_TRUE(handle_->wait().ok());
  auto r = curl({"-x", "http://" + addr, "http://" + o_ + "/"});
  EXPECT_NE(r.exit_code, 0) << "still listening after shutdown";

  // A second proxy whose handle is simply destroyed.
  auto built = builder(base()).build();
  ASSERT_TRUE(built.ok());
  {
    auto h = built.value().run();
    ASSERT_TRUE(h.ok());
  }
  r = curl({"-x", "http://" + built.value().http_addr(), "http://" + o_ + "/"});
  EXPECT_NE(r.exit_code, 0) << "still listening after the handle was destroyed";
}

// §15.4 / §19 end to end (issue 10 item 6): with a sink stuck in write() and queue_size = 4,
// later events push the oldest queued ones out; every drop is counted in
// netfence_audit_events_dropped_total, nothing blocks the proxy, and once the sink moves again it
// receives the newest events in order.
TEST_F(Library, AuditQueueOverflowDropsTheOldestAndCountsThem) {
  class GatedSink : public AuditSink {
   public:
    void write(const AuditEvent& e) noexcept override {
      std::unique_lock lock(m_);
      hosts_.push_back(e.server_address);
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
    }
    void open() {
      std::lock_guard lock(m_);
      open_ = true;
      cv_.notify_all();
    }
    bool wait_for(std::size_t n, std::chrono::milliseconds t = 5s) {
      std::unique_lock lock(m_);
      return cv_.wait_for(lock, t, [&] { return hosts_.size() >= n; });
    }
    std::vector<std::string> hosts() {
      std::lock_guard lock(m_);
      return hosts_;
    }

   private:
    std::mutex m_;
    std::condition_variable cv_;
    bool open_ = false;
    std::vector<std::string> hosts_;
  };
  auto gated = std::make_shared<GatedSink>();
  auto b = builder(base("[network.audit]\nqueue_size = 4\n"));
  b.audit_sink(gated);
  start(b);
  // The first refusal's event reaches the sink and stalls the audit thread.
  EXPECT_EQ(status_of(get("http://h1.test/")), "403");
  ASSERT_TRUE(gated->wait_for(1));
  // Eleven more refusals are answered at once although nothing drains the queue.
  for (int i = 2; i <= 12; ++i) {
    EXPECT_EQ(status_of(get("http://h" + std::to_string(i) + ".test/")), "403") << i;
  }
  auto metrics = [&] { return curl({"http://" + proxy_->admin_addr() + "/metrics"}).out; };
  const std::string series = "\nnetfence_audit_events_dropped_total ";
  auto text = metrics();
  auto pos = text.find(series);
  ASSERT_NE(pos, std::string::npos) << text;
  EXPECT_EQ(std::stoull(text.substr(pos + series.size())), 7u) << "11 queued into 4 places";
  gated->open();
  ASSERT_TRUE(gated->wait_for(5));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(gated->hosts(),
            (std::vector<std::string>{"h1.test", "h9.test", "h10.test", "h11.test", "h12.test"}));
}

// §15/§16: builder audit_metadata replaces the file's metadata in events.
TEST_F(Library, AuditMetadataFromTheBuilder) {
  AuditMetadata md;
  md.conversation_id = "conv-42";
  md.model = "m-1";
  auto b = builder(base("allowed_domains = [\"origin.test\"]\n"));
  b.audit_metadata(md);
  start(b);
  EXPECT_EQ(status_of(get("http://" + o_ + "/")), "200");
  ASSERT_TRUE(sink_->wait_for(1));
  const auto e = sink_->events()[0];
  EXPECT_EQ(e.conversation_id, "conv-42");
  EXPECT_EQ(e.model, "m-1");
  EXPECT_EQ(e.decision, Verdict::allow);
  EXPECT_FALSE(e.override_allow);
}

// §6.5/§10.5: a decider Allow given for a limited-mode CONNECT is reused for the tunnel's inner
// requests instead of asking again; an ask is audited as such.
TEST_F(Library, MitmInnerRequestsReuseTheConnectAllow) {
  const auto home =
      std::filesystem::temp_directory_path() / ("nf-lib-mitm-" + std::to_string(::getpid()));
  std::filesystem::remove_all(home);
  std::filesystem::create_directories(home);
  ::setenv("NETFENCE_HOME", home.c_str(), 1);  // the CA goes here, not into the real home
  const auto pki = make_test_pki(home.string(), "origin", {"origin.test"}, {});
  OriginServer::Options opts;
  opts.tls = true;
  opts.cert_file = pki.leaf_cert;
  opts.key_file = pki.leaf_key;
  OriginServer tls_origin(opts);
  const std::string a = authority("origin.test", tls_origin.port());
  std::atomic<int> calls{0};
  start(builder(base("mode = \"limited\"\nmitm = true\nextra_ca_certs = \"" + pki.ca_cert + "\"\n"))
            .policy_decider([&](const PolicyRequest& r, DecisionCallback done) {
              ++calls;
              if (r.host == "origin.test") return done(Allow{});
              done(ask("needs a human"));
            }));
  auto r =
      curl({"-p", "-x", "http://" + proxy_->http_addr(), "--cacert",
            (home / "proxy" / "ca.pem").string(), "https://" + a + "/1", "https://" + a + "/2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "GET /1\nhost: " + a + "\n\nGET /2\nhost: " + a + "\n\n");
  EXPECT_EQ(calls.load(), 1) << "the CONNECT's Allow covers the inner requests";

  EXPECT_EQ(status_of(get("http://" + authority("other.test", origin_->port()) + "/")), "403");
  ASSERT_TRUE(sink_->wait_for(4));
  const auto events = sink_->events();
  const auto& last = events.back();
  EXPECT_EQ(last.decision, Verdict::ask);
  EXPECT_EQ(last.source, DecisionSource::decider);
  EXPECT_EQ(last.reason, "needs a human");
  EXPECT_EQ(last.server_address, "other.test");
  EXPECT_FALSE(last.override_allow);
  ::unsetenv("NETFENCE_HOME");
  std::filesystem::remove_all(home);
}

}  // namespace
}  // namespace netfence::testing
