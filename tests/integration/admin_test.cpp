// The admin API end to end against the real netfence binary (SPEC §13): every endpoint with its
// exact status, body and content type; /config and /patterns; runtime mode (§3.7); the blocked
// history (§14) from the HTTP, CONNECT and SOCKS5 front ends; /metrics (validated with the
// strict Prometheus checker); reloads by POST /reload, SIGHUP and file change (§3.6), failed
// reloads, reloads under open tunnels; hardening (§18 row 19), limits, and the admin listener
// being unreachable through the proxy listeners (§6.3, §18 row 18).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "prometheus_validator.hpp"
#include "proxy_fixture.hpp"

namespace netfence::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
using Labels = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";

// The admin listener's real port, from the §2 log line (`admin API listening on <addr>`); 0 when
// it does not appear within the deadline.
std::uint16_t admin_port_of(const NetfenceProcess& p,
                            const std::string& ip_regex = R"(127\.0\.0\.1)",
                            std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const std::regex listening("INFO admin API listening on " + ip_regex + R"(:(\d+)\n)");
  const auto deadline = Clock::now() + timeout;
  do {
    std::smatch m;
    const std::string text = p.log();
    if (std::regex_search(text, m, listening)) {
      return static_cast<std::uint16_t>(std::stoi(m[1].str()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (Clock::now() < deadline);
  return 0;
}

bool eventually(const std::function<bool()>& cond,
                std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<std::string> keys_of(const Json& j) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  return keys;
}

const std::vector<std::string> kEntryKeys = {"host", "reason",   "client",   "method",
                                             "mode", "protocol", "decision", "source",
                                             "port", "timestamp"};
std::vector<std::string> entry_keys_with_label() {
  auto k = kEntryKeys;
  k.push_back("label");
  return k;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Checks one §14 entry: exact key order, the given fields, a loopback client, a recent timestamp.
void expect_entry(const Json& e, std::string_view host, std::string_view reason, const Json& method,
                  std::string_view mode, std::string_view protocol, std::string_view source,
                  int port, const std::optional<std::string>& label = std::nullopt) {
  SCOPED_TRACE(e.dump());
  EXPECT_EQ(keys_of(e), label ? entry_keys_with_label() : kEntryKeys);
  EXPECT_EQ(e.value("host", ""), host);
  EXPECT_EQ(e.value("reason", ""), reason);
  ASSERT_TRUE(e.contains("client") && e["client"].is_string());
  EXPECT_TRUE(
      std::regex_match(e["client"].get<std::string>(), std::regex(R"(127\.0\.0\.1:\d{1,5})")));
  EXPECT_EQ(e["method"], method);
  EXPECT_EQ(e.value("mode", ""), mode);
  EXPECT_EQ(e.value("protocol", ""), protocol);
  EXPECT_EQ(e.value("decision", ""), "deny");
  EXPECT_EQ(e.value("source", ""), source);
  EXPECT_EQ(e["port"], port);
  ASSERT_TRUE(e["timestamp"].is_number_integer());
  EXPECT_LE(std::abs(e["timestamp"].get<std::int64_t>() - unix_now()), 30);
  if (label) {
    EXPECT_EQ(e.value("label", ""), *label);
  }
}

class Admin : public ProxyTest {
 protected:
  void TearDown() override {
    ProxyTest::TearDown();
    origin_.reset();
  }

  // Starts netfence and learns the admin port. The GET /health round trip also proves the
  // event loop runs, so the SIGHUP handler and the config-file watcher are installed (both are
  // set up when the loop starts, after the listener lines are logged).
  void start_admin(const std::string& cfg) {
    config_text_ = cfg;
    start(cfg);
    if (HasFatalFailure()) return;
    admin_ = admin_port_of(*proxy_);
    ASSERT_NE(admin_, 0) << proxy_->log();
    auto h = call("GET", "/health");
    ASSERT_EQ(h.status, 200) << h.head;
  }

  std::string request(const std::string& method, const std::string& target,
                      const std::optional<std::string>& body = std::nullopt,
                      const std::string& extra = "", bool with_token = true) const {
    std::string r =
        method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(admin_) + "\r\n";
    if (with_token && token_) r += "Authorization: Bearer " + *token_ + "\r\n";
    r += extra;
    if (body) {
      r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body->size()) +
           "\r\n";
    }
    r += "Connection: close\r\n\r\n";
    if (body) r += *body;
    return r;
  }

  // One request on a new admin connection; status 0 when nothing (parsable) came back.
  HttpResponse raw(const std::string& bytes) {
    RawClient c;
    HttpResponse none;
    if (!c.connect(admin_)) {
      ADD_FAILURE() << "cannot connect to the admin port " << admin_;
      return none;
    }
    if (!c.send(bytes)) return none;
    auto r = c.read_response(10s);
    if (!r) {
      ADD_FAILURE() << "no response to " << bytes.substr(0, 120);
      return none;
    }
    return *r;
  }

  HttpResponse call(const std::string& method, const std::string& target,
                    const std::optional<std::string>& body = std::nullopt,
                    const std::string& extra = "", bool with_token = true) {
    return raw(request(method, target, body, extra, with_token));
  }

  Json get_json(const std::string& target) {
    auto r = call("GET", target);
    EXPECT_EQ(r.status, 200) << target << "\n" << r.head << r.body;
    EXPECT_EQ(r.header("content-type"), kJson) << target;
    Json j = Json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << target << ": " << r.body;
    return j.is_discarded() ? Json() : j;
  }

  std::string mode() {
    Json j = get_json("/config");
    return j.contains("network") ? j["network"].value("mode", "") : "";
  }

  HttpResponse set_mode(const std::string& m) {
    return call("POST", "/mode", "{\"mode\":\"" + m + "\"}");
  }

  observe::prom::Exposition metrics() {
    auto r = call("GET", "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), kPrometheus);
    auto x = observe::prom::validate_prometheus(r.body);
    EXPECT_TRUE(x.errors.empty()) << ::testing::PrintToString(x.errors) << "\n" << r.body;
    return x;
  }
  double metric(const std::string& name, Labels labels = {}) {
    return metrics().value(name, std::move(labels));
  }

  // §3.6 failure/success lines so far.
  std::size_t reloads_logged() const { return proxy_->count_in_log("configuration reloaded"); }

  // Points config.toml at real/config.toml through a symlink (one watched reload, waited for),
  // so write_unwatched() can change the file without the watcher noticing: POST /reload and
  // SIGHUP are then the only triggers and each test counts exactly its own reloads.
  void make_config_unwatched() {
    fs::create_directories(dir_ / "real");
    { std::ofstream(dir_ / "real" / "config.toml") << config_text_; }
    const std::size_t before = reloads_logged();
    fs::create_symlink(dir_ / "real" / "config.toml", dir_ / "link.tmp");
    fs::rename(dir_ / "link.tmp", dir_ / "config.toml");
    ASSERT_TRUE(proxy_->wait_for_log("configuration reloaded", before + 1, 3s)) << proxy_->log();
  }
  void write_unwatched(const std::string& text) {
    { std::ofstream(dir_ / "real" / "config.toml.tmp") << text; }
    fs::rename(dir_ / "real" / "config.toml.tmp", dir_ / "real" / "config.toml");
  }

  // HTTP proxy helpers.
  std::optional<HttpResponse> via_proxy(const std::string& bytes) { return exchange(bytes); }
  static std::string get_req(const std::string& url, const std::string& host) {
    return "GET " + url + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
  }
  static std::string post_req(const std::string& url, const std::string& host,
                              const std::string& body) {
    return "POST " + url + " HTTP/1.1\r\nHost: " + host +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  }
  static std::string connect_req(const std::string& target) {
    return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
  }

  // A stream-echo origin and a config that allows tunnels to it (127.0.0.1).
  void start_stream_origin() {
    OriginServer::Options opts;
    opts.stream_echo = true;
    origin_ = std::make_unique<OriginServer>(opts);
  }
  std::string tunnel_config(const std::string& extra = "") const {
    return config("allowed_domains = [\"127.0.0.1\"]\nallow_local_binding = true\n" + extra);
  }
  std::unique_ptr<RawClient> open_tunnel() {
    auto c = client();
    EXPECT_TRUE(c->send(connect_req(authority("127.0.0.1", origin_->port()))));
    EXPECT_EQ(c->read_exact(kEstablished.size()).value_or("<nothing>"), kEstablished);
    return c;
  }
  static void expect_echo(RawClient& c, const std::string& bytes) {
    ASSERT_TRUE(c.send(bytes));
    EXPECT_EQ(c.read_exact(bytes.size(), 5s).value_or("<closed>"), bytes);
  }

  // SOCKS5 CONNECT without authentication; returns the reply code (-1 on failure).
  int socks_connect(const std::string& atyp_and_addr, std::uint16_t port) {
    RawClient c;
    if (!c.connect(proxy_->socks_port())) return -1;
    if (!c.send(std::string("\x05\x01\x00", 3))) return -1;
    if (c.read_exact(2, 5s).value_or("") != std::string("\x05\x00", 2)) return -1;
    std::string req("\x05\x01\x00", 3);
    req += atyp_and_addr;
    req += static_cast<char>(port >> 8);
    req += static_cast<char>(port & 0xff);
    if (!c.send(req)) return -1;
    auto reply = c.read_exact(2, 5s);
    if (!reply || (*reply)[0] != 0x05) return -1;
    return static_cast<unsigned char>((*reply)[1]);
  }
  static std::string socks_ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return std::string{'\x01', static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                       static_cast<char>(d)};
  }
  static std::string socks_domain(const std::string& name) {
    std::string out(1, '\x03');
    out.push_back(static_cast<char>(name.size()));
    out.append(name);
    return out;
  }

  std::uint16_t admin_ = 0;
  std::optional<std::string> token_;
  std::string config_text_;
  std::unique_ptr<OriginServer> origin_;
};

// ---- endpoints ---------------------------------------------------------------------------------

TEST_F(Admin, ListenerLineAndHealth) {
  start_admin(config(""));
  EXPECT_TRUE(std::regex_search(
      proxy_->log(),
      std::regex(
          R"((^|\n)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO admin API listening on 127\.0\.0\.1:)" +
          std::to_string(admin_) + "\n")))
      << proxy_->log();
  auto r = call("GET", "/health");
  EXPECT_EQ(r.head.substr(0, r.head.find("\r\n")), "HTTP/1.1 200 OK");
  EXPECT_EQ(r.header("content-type"), kText);
  EXPECT_EQ(r.header("content-length"), "2");
  EXPECT_EQ(r.body, "ok");
  // A real client, too.
  auto c = curl({"-i", "http://127.0.0.1:" + std::to_string(admin_) + "/health"});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("200"), std::string::npos) << c.out;
  EXPECT_TRUE(c.out.ends_with("\r\n\r\nok")) << c.out;
}

TEST_F(Admin, EveryEndpointExact) {
  start_admin(config("allowed_domains = [\"api.test\"]\n"));
  {
    auto r = call("GET", "/patterns");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), kJson);
    EXPECT_EQ(r.body, R"({"allowed":["api.test"],"denied":[]})");
  }
  {
    auto r = call("GET", "/blocked");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), kJson);
    EXPECT_EQ(r.body, R"({"blocked":[]})");
    r = call("GET", "/blocked?drain=true");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"blocked":[]})");
  }
  {
    auto r = call("GET", "/config");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), kJson);
  }
  (void)metrics();
  {
    auto r = set_mode("full");  // §13: an unchanged mode still answers 200
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), kJson);
    EXPECT_EQ(r.body, R"({"status":"ok","mode":"full"})");
    r = set_mode("limited");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"status":"ok","mode":"limited"})");
    r = set_mode("full");
    EXPECT_EQ(r.body, R"({"status":"ok","mode":"full"})");
    // A real client with its default form content type.
    auto c = curl(
        {"-d", R"({"mode":"limited"})", "http://127.0.0.1:" + std::to_string(admin_) + "/mode"});
    EXPECT_EQ(c.out, R"({"status":"ok","mode":"limited"})") << c.err;
    EXPECT_EQ(mode(), "limited");
  }
  {
    auto r = call("POST", "/reload");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), kJson);
    EXPECT_EQ(r.body, R"({"status":"reloaded"})");
    r = call("POST", "/reload", "");
    EXPECT_EQ(r.status, 200) << "Content-Length: 0";
  }
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/"},
                                                        {"GET", "/nope"},
                                                        {"GET", "/mode"},
                                                        {"GET", "/reload"},
                                                        {"POST", "/health"},
                                                        {"POST", "/config"},
                                                        {"PUT", "/mode"},
                                                        {"DELETE", "/blocked"},
                                                        {"GET", "/health/x"}}) {
    SCOPED_TRACE(method + " " + target);
    auto r = call(method, target);
    EXPECT_EQ(r.head.substr(0, r.head.find("\r\n")), "HTTP/1.1 404 Not Found");
    EXPECT_EQ(r.header("content-type"), kText);
    EXPECT_EQ(r.body, "not found");
  }
}

TEST_F(Admin, ModeErrorsOverTheWire) {
  start_admin(config(""));
  auto expect_400 = [&](const std::optional<std::string>& body, std::string_view text) {
    SCOPED_TRACE(body.value_or("<no body>"));
    auto r = call("POST", "/mode", body);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.header("content-type"), kText);
    EXPECT_EQ(r.body, text);
  };
  expect_400(std::nullopt, "missing body");
  expect_400("", "missing body");
  expect_400("{\"mode\":", "invalid json");
  expect_400("mode=limited", "invalid json");
  expect_400(R"({"mode":"readonly"})", "invalid mode");
  expect_400(R"({"mode":1})", "invalid mode");
  expect_400("[]", "invalid mode");
  expect_400(R"({"mode":"LIMITED"})", "invalid mode");
  EXPECT_EQ(mode(), "full");
  EXPECT_EQ(proxy_->count_in_log("mode set to"), 0u);
}

TEST_F(Admin, KeepAliveServesSeveralRequests) {
  start_admin(config(""));
  RawClient c;
  ASSERT_TRUE(c.connect(admin_));
  const std::string host = "Host: localhost:" + std::to_string(admin_) + "\r\n";
  ASSERT_TRUE(
      c.send("GET /health HTTP/1.1\r\n" + host + "\r\nGET /patterns HTTP/1.1\r\n" + host + "\r\n"));
  auto a = c.read_response(5s);
  auto b = c.read_response(5s);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "ok");
  EXPECT_EQ(b->body, R"({"allowed":[],"denied":[]})");
  ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n"));
  auto d = c.read_response(5s);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->header("connection"), "close");
  EXPECT_TRUE(c.read_until_close(5s).has_value());
}

// ---- /config and /patterns -------------------------------------------------------------------

TEST_F(Admin, ConfigShapeRealPortsRuntimeModeAndRedaction) {
  const std::string token = "tok-0123456789abcdef-xyz";
  start_admin(
      config("allowed_domains = [\"Example.COM\"]\n"
             "domains = { \"pypi.org\" = \"allow\", \"evil.test\" = \"deny\" }\n"
             "admin_token = \"" +
             token +
             "\"\n"
             "socks_password = \"hunter2-socks\"\n"));
  token_ = token;
  auto r = call("GET", "/config");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), kJson);
  EXPECT_EQ(r.body.find(token), std::string::npos) << "admin_token leaked";
  EXPECT_EQ(r.body.find("hunter2-socks"), std::string::npos) << "socks_password leaked";
  Json j = Json::parse(r.body);
  EXPECT_EQ(keys_of(j), std::vector<std::string>{"network"});
  const Json& n = j["network"];
  const std::vector<std::string> expected = {"enabled",
                                             "proxy_url",
                                             "admin_url",
                                             "enable_socks5",
                                             "socks_url",
                                             "enable_socks5_udp",
                                             "allow_upstream_proxy",
                                             "dangerously_allow_non_loopback_proxy",
                                             "dangerously_allow_non_loopback_admin",
                                             "mode",
                                             "mitm",
                                             "allowed_domains",
                                             "denied_domains",
                                             "allow_local_binding",
                                             "allow_unix_sockets",
                                             "dangerously_allow_all_unix_sockets",
                                             "enable_admin",
                                             "dns_timeout_ms",
                                             "connect_timeout_ms",
                                             "idle_timeout_s",
                                             "max_connections",
                                             "decider_timeout_ms",
                                             "extra_ca_certs",
                                             "dns_servers",
                                             "dns_hosts",
                                             "admin_token",
                                             "socks_password",
                                             "audit",
                                             "audit_metadata"};
  EXPECT_EQ(keys_of(n), expected);
  EXPECT_EQ(n["enabled"], true);
  EXPECT_EQ(n["proxy_url"], "http://127.0.0.1:" + std::to_string(proxy_->port()));
  EXPECT_EQ(n["socks_url"], "socks5h://127.0.0.1:" + std::to_string(proxy_->socks_port()));
  EXPECT_EQ(n["admin_url"], "http://127.0.0.1:" + std::to_string(admin_));
  EXPECT_EQ(n["mode"], "full");
  EXPECT_EQ(n["allowed_domains"], Json({"example.com", "pypi.org"}));
  EXPECT_EQ(n["denied_domains"], Json({"evil.test"}));
  EXPECT_EQ(n["admin_token"], "<redacted>");
  EXPECT_EQ(n["socks_password"], "<redacted>");
  EXPECT_EQ(n["allow_upstream_proxy"], false);
  EXPECT_EQ(n["dns_servers"], Json({dns_->address()}));
  EXPECT_TRUE(n["audit"].is_object());
  EXPECT_TRUE(n["audit_metadata"].is_object());
  EXPECT_FALSE(n.contains("domains"));
  EXPECT_FALSE(n.contains("unix_sockets"));

  ASSERT_EQ(set_mode("limited").status, 200);
  EXPECT_EQ(mode(), "limited") << "§13: /config reports the runtime mode";
  ASSERT_EQ(set_mode("full").status, 200);
  EXPECT_EQ(mode(), "full");
}

TEST_F(Admin, ConfigSecretsAreNullWhenUnset) {
  start_admin(config(""));
  Json n = get_json("/config")["network"];
  EXPECT_TRUE(n["admin_token"].is_null());
  EXPECT_TRUE(n["socks_password"].is_null());
}

TEST_F(Admin, PatternsAreNormalised) {
  start_admin(
      config("allowed_domains = [\"*.EXAMPLE.com\", \"API.Test.\", \"exämple.com\"]\n"
             "denied_domains = [\"Bad.Example.COM\"]\n"
             "domains = { \"pypi.org\" = \"allow\", \"api.test\" = \"deny\" }\n"));
  auto r = call("GET", "/patterns");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), kJson);
  // §3.3: a pattern in both lists after normalisation stays only in the denylist.
  EXPECT_EQ(
      r.body,
      R"({"allowed":["*.example.com","xn--exmple-cua.com","pypi.org"],"denied":["bad.example.com","api.test"]})");
}

// ---- runtime mode (§3.7, §10.1) ----------------------------------------------------------------

TEST_F(Admin, ModeLimitedRefusesPostThroughTheProxyGetStillAllowed) {
  origin_ = std::make_unique<OriginServer>();
  const std::string o = authority("origin.test", origin_->port());
  start_admin(origin_config());
  ASSERT_EQ(set_mode("limited").status, 200);
  EXPECT_TRUE(proxy_->wait_for_log("mode set to limited"));
  auto refused = via_proxy(post_req("http://" + o + "/x", o, "{}"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(refused->header("x-proxy-error"), "blocked-by-method-policy");
  EXPECT_EQ(refused->body, refusal_json("blocked", "origin.test", "method_not_allowed",
                                        "mode_guard", "http", origin_->port(), kMsgMethod));
  auto ok = via_proxy(get_req("http://" + o + "/y", o));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(origin_->request_count(), 1u);

  Json b = get_json("/blocked")["blocked"];
  ASSERT_EQ(b.size(), 1u);
  expect_entry(b[0], "origin.test", "method_not_allowed", "POST", "limited", "http", "mode_guard",
               origin_->port());

  ASSERT_EQ(set_mode("full").status, 200);
  auto posted = via_proxy(post_req("http://" + o + "/z", o, "{}"));
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 200);
}

// §3.7: the override survives reloads while the file's own mode is unchanged; when the file's
// mode changes the file wins and the override is gone for good.
TEST_F(Admin, RuntimeModeSurvivesReloadUntilTheFileModeChanges) {
  origin_ = std::make_unique<OriginServer>();
  const std::string o = authority("origin.test", origin_->port());
  start_admin(origin_config());
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(set_mode("limited").status, 200);

  // 1. File changed, but not its mode (still the default "full"): the override stays.
  write_unwatched(origin_config("denied_domains = [\"one.test\"]\n"));
  ASSERT_EQ(call("POST", "/reload").status, 200);
  EXPECT_EQ(get_json("/patterns")["denied"], Json({"one.test"})) << "reload not applied";
  EXPECT_EQ(mode(), "limited");
  auto r = via_proxy(post_req("http://" + o + "/", o, "{}"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->header("x-proxy-error"), "blocked-by-method-policy");

  // Also with an explicit `mode = "full"` (same value as before) and via SIGHUP.
  write_unwatched(origin_config("mode = \"full\"\ndenied_domains = [\"two.test\"]\n"));
  ASSERT_TRUE(proxy_->reload());
  EXPECT_EQ(get_json("/patterns")["denied"], Json({"two.test"}));
  EXPECT_EQ(mode(), "limited");

  // 2. The file's mode changes (to limited): the file wins, the override is dropped.
  write_unwatched(origin_config("mode = \"limited\"\n"));
  ASSERT_EQ(call("POST", "/reload").status, 200);
  EXPECT_EQ(mode(), "limited");
  // 3. Back to full in the file: had the override survived (it was taken while the file said
  //    "full"), it would apply again here.
  write_unwatched(origin_config("mode = \"full\"\n"));
  ASSERT_EQ(call("POST", "/reload").status, 200);
  EXPECT_EQ(mode(), "full");
  r = via_proxy(post_req("http://" + o + "/", o, "{}"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(Admin, RuntimeFullOverridesAFileLimitedMode) {
  origin_ = std::make_unique<OriginServer>();
  const std::string o = authority("origin.test", origin_->port());
  start_admin(origin_config("mode = \"limited\"\n"));
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(mode(), "limited");
  ASSERT_EQ(set_mode("full").status, 200);
  write_unwatched(origin_config("mode = \"limited\"\ndenied_domains = [\"x.test\"]\n"));
  ASSERT_EQ(call("POST", "/reload").status, 200);
  EXPECT_EQ(mode(), "full");
  auto r = via_proxy(post_req("http://" + o + "/", o, "{}"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// ---- blocked history (§14) ---------------------------------------------------------------------

TEST_F(Admin, BlockedRecordsHttpConnectAndSocks5) {
  start_admin(
      config("allowed_domains = [\"allowed.test\"]\n"
             "denied_domains = [\"denied.test\"]\n"
             "socks_password = \"sockspw\"\n"));
  auto a = via_proxy(get_req("http://blocked.test/p", "blocked.test"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 403);
  auto b = via_proxy(post_req("http://denied.test:8081/", "denied.test:8081", "{}"));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 403);
  auto c = via_proxy(connect_req("blocked.test:443"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, 403);
  auto s =
      curl({"-x", "socks5h://agent-7:sockspw@127.0.0.1:" + std::to_string(proxy_->socks_port()),
            "http://blocked.test:8080/"});
  EXPECT_NE(s.exit_code, 0) << "curl got through a refused SOCKS5 request: " << s.out;

  Json list = get_json("/blocked")["blocked"];
  ASSERT_EQ(list.size(), 4u) << list.dump();
  expect_entry(list[0], "blocked.test", "not_allowed", "GET", "full", "http", "baseline_policy",
               80);
  expect_entry(list[1], "denied.test", "denied", "POST", "full", "http", "baseline_policy", 8081);
  expect_entry(list[2], "blocked.test", "not_allowed", "CONNECT", "full", "https_connect",
               "baseline_policy", 443);
  expect_entry(list[3], "blocked.test", "not_allowed", nullptr, "full", "socks5_tcp",
               "baseline_policy", 8080, "agent-7");
  // The raw bytes carry the keys in §14 order too (not just the parsed object).
  auto raw_body = call("GET", "/blocked").body;
  EXPECT_TRUE(std::regex_search(
      raw_body,
      std::regex(
          R"re(^\{"blocked":\[\{"host":"blocked\.test","reason":"not_allowed","client":"127\.0\.0\.1:\d+","method":"GET","mode":"full","protocol":"http","decision":"deny","source":"baseline_policy","port":80,"timestamp":\d+\},)re")))
      << raw_body;
  EXPECT_TRUE(std::regex_search(
      raw_body,
      std::regex(
          R"re(\{"host":"blocked\.test","reason":"not_allowed","client":"127\.0\.0\.1:\d+","method":null,"mode":"full","protocol":"socks5_tcp","decision":"deny","source":"baseline_policy","port":8080,"timestamp":\d+,"label":"agent-7"\}\]\}$)re")))
      << raw_body;
}

TEST_F(Admin, BlockedRingKeepsTheLast200AndDrainEmptiesIt) {
  start_admin(config("allowed_domains = [\"allowed.test\"]\n"));
  auto c = client();
  for (int i = 0; i <= 200; ++i) {
    std::string host = std::to_string(i);
    host.insert(0, 1, 'h');
    host += ".test";
    ASSERT_TRUE(c->send(get_req("http://" + host + "/", host))) << i;
    auto r = c->read_response(5s);
    ASSERT_TRUE(r) << i;
    ASSERT_EQ(r->status, 403) << i;
  }
  Json list = get_json("/blocked")["blocked"];
  ASSERT_EQ(list.size(), 200u);
  EXPECT_EQ(list.front()["host"], "h1.test") << "the oldest entry (h0) should be gone";
  EXPECT_EQ(list.back()["host"], "h200.test");
  for (std::size_t i = 0; i < list.size(); ++i) {
    ASSERT_EQ(list[i]["host"], "h" + std::to_string(i + 1) + ".test") << i;
  }
  EXPECT_EQ(metric("netfence_blocked_total"), 201);

  auto drained = call("GET", "/blocked?drain=true");
  EXPECT_EQ(drained.status, 200);
  Json d = Json::parse(drained.body)["blocked"];
  EXPECT_EQ(d.size(), 200u);
  EXPECT_EQ(d.front()["host"], "h1.test");
  EXPECT_EQ(call("GET", "/blocked").body, R"({"blocked":[]})");
  EXPECT_EQ(call("GET", "/blocked?drain=true").body, R"({"blocked":[]})");
  EXPECT_EQ(metric("netfence_blocked_total"), 201) << "draining is not uncounting";

  // New refusals after a drain start a fresh history.
  ASSERT_TRUE(c->send(get_req("http://again.test/", "again.test")));
  ASSERT_TRUE(c->read_response(5s));
  Json again = get_json("/blocked")["blocked"];
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0]["host"], "again.test");
}

TEST_F(Admin, BlockedHistoryAndMetricsSurviveReload) {
  start_admin(config("allowed_domains = [\"allowed.test\"]\n"));
  auto r = via_proxy(get_req("http://kept.test/", "kept.test"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 403);
  proxy_->write_config(config("allowed_domains = [\"other.test\"]\n"));
  ASSERT_TRUE(proxy_->wait_for_log("configuration reloaded", 1, 3s));
  ASSERT_EQ(call("POST", "/reload").status, 200);
  EXPECT_EQ(get_json("/patterns")["allowed"], Json({"other.test"}));
  Json list = get_json("/blocked")["blocked"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["host"], "kept.test");
  auto x = metrics();
  EXPECT_EQ(x.value("netfence_blocked_total"), 1);
  EXPECT_EQ(x.value("netfence_decisions_total",
                    {{"protocol", "http"}, {"decision", "deny"}, {"reason", "not_allowed"}}),
            1);
}

// ---- metrics -----------------------------------------------------------------------------------

TEST_F(Admin, MetricsAreValidAndMove) {
  start_stream_origin();
  start_admin(tunnel_config());
  {
    auto x = metrics();
    EXPECT_EQ(x.value("netfence_blocked_total"), 0);
    EXPECT_TRUE(std::isnan(
        x.value("netfence_decisions_total",
                {{"protocol", "http"}, {"decision", "deny"}, {"reason", "not_allowed"}})));
    EXPECT_EQ(x.value("netfence_tunnels_active", {{"kind", "connect"}}), 0);
    EXPECT_EQ(x.value("netfence_config_reloads_total", {{"result", "ok"}}), 0);
    EXPECT_EQ(x.value("netfence_config_reloads_total", {{"result", "error"}}), 0);
    EXPECT_EQ(x.value("netfence_bytes_relayed_total", {{"direction", "client_to_target"}}), 0);
    const auto* build = x.family("netfence_build_info");
    ASSERT_NE(build, nullptr);
    ASSERT_EQ(build->samples.size(), 1u);
    EXPECT_EQ(build->samples[0].value, 1);
    for (const std::string f :
         {"netfence_connections_active", "netfence_dns_lookup_seconds", "netfence_connect_seconds",
          "netfence_audit_events_dropped_total", "netfence_audit_export_failures_total"}) {
      EXPECT_NE(x.family(f), nullptr) << f;
    }
  }

  // A deny on a connection that stays open.
  auto held = client();
  ASSERT_TRUE(held->send(get_req("http://blocked.test/", "blocked.test")));
  auto denied = held->read_response(5s);
  ASSERT_TRUE(denied);
  ASSERT_EQ(denied->status, 403);
  {
    auto x = metrics();
    EXPECT_EQ(x.value("netfence_decisions_total",
                      {{"protocol", "http"}, {"decision", "deny"}, {"reason", "not_allowed"}}),
              1);
    EXPECT_EQ(x.value("netfence_blocked_total"), 1);
    EXPECT_EQ(x.value("netfence_connections_active", {{"listener", "http"}}), 1);
  }
  EXPECT_TRUE(eventually([&] {
    return metric("netfence_connections_active", {{"listener", "admin"}}) == 1;
  })) << "the scraping connection itself is the one admin connection";
  held.reset();
  EXPECT_TRUE(eventually([&] {
    return metric("netfence_connections_active", {{"listener", "http"}}) == 0;
  }));

  // A CONNECT tunnel: counted while open, its bytes once closed.
  auto t = open_tunnel();
  ASSERT_FALSE(HasFailure());
  expect_echo(*t, "hello");
  {
    auto x = metrics();
    EXPECT_EQ(x.value("netfence_tunnels_active", {{"kind", "connect"}}), 1);
    EXPECT_EQ(x.value("netfence_connections_active", {{"listener", "http"}}), 1);
    // One allow decision for the CONNECT, whatever its reason label.
    double allows = 0;
    if (const auto* f = x.family("netfence_decisions_total")) {
      for (const auto& s : f->samples) {
        bool https = false, allow = false;
        for (const auto& [k, v] : s.labels) {
          https |= k == "protocol" && v == "https_connect";
          allow |= k == "decision" && v == "allow";
        }
        if (https && allow) allows += s.value;
      }
    }
    EXPECT_EQ(allows, 1);
    EXPECT_GE(x.value("netfence_connect_seconds_count"), 1);
  }
  t->shutdown_write();
  EXPECT_EQ(t->read_until_close(5s).value_or("<open>"), "BYE");
  t.reset();
  EXPECT_TRUE(eventually([&] {
    return metric("netfence_tunnels_active", {{"kind", "connect"}}) == 0;
  }));
  {
    auto x = metrics();
    EXPECT_EQ(x.value("netfence_bytes_relayed_total", {{"direction", "client_to_target"}}), 5);
    EXPECT_EQ(x.value("netfence_bytes_relayed_total", {{"direction", "target_to_client"}}), 8);
  }

  // Reloads, ok and error.
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  const double ok0 = metric("netfence_config_reloads_total", {{"result", "ok"}});
  EXPECT_EQ(ok0, 1) << "the watched reload of make_config_unwatched()";
  ASSERT_EQ(call("POST", "/reload").status, 200);
  EXPECT_EQ(metric("netfence_config_reloads_total", {{"result", "ok"}}), ok0 + 1);
  write_unwatched(config("mode = \"bogus\"\n"));
  ASSERT_EQ(call("POST", "/reload").status, 500);
  ASSERT_TRUE(proxy_->reload());
  auto x = metrics();
  EXPECT_EQ(x.value("netfence_config_reloads_total", {{"result", "ok"}}), ok0 + 1);
  EXPECT_EQ(x.value("netfence_config_reloads_total", {{"result", "error"}}), 2);
}

// ---- reload triggers (§3.6) --------------------------------------------------------------------

TEST_F(Admin, ReloadByPostAppliesTheFile) {
  start_admin(config("allowed_domains = [\"one.test\"]\n"));
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  write_unwatched(config("allowed_domains = [\"two.test\"]\n"));
  std::this_thread::sleep_for(400ms);  // longer than the debounce: the watcher saw nothing
  EXPECT_EQ(get_json("/patterns")["allowed"], Json({"one.test"}));
  const std::size_t before = reloads_logged();
  auto r = call("POST", "/reload");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"reloaded"})");
  EXPECT_EQ(reloads_logged(), before + 1) << "logged before the answer";
  EXPECT_EQ(get_json("/patterns")["allowed"], Json({"two.test"}));
  EXPECT_TRUE(std::regex_search(
      proxy_->log(),
      std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO configuration reloaded)")));
}

TEST_F(Admin, ReloadBySighup) {
  start_admin(config("allowed_domains = [\"one.test\"]\n"));
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  write_unwatched(config("allowed_domains = [\"two.test\"]\n"));
  ASSERT_TRUE(proxy_->reload());
  EXPECT_EQ(get_json("/patterns")["allowed"], Json({"two.test"}));
  EXPECT_TRUE(proxy_->running());
}

TEST_F(Admin, ReloadOnFileChange) {
  start_admin(config("allowed_domains = [\"one.test\"]\n"));
  // Write-temp-and-rename (what editors and the fixture do).
  proxy_->write_config(config("allowed_domains = [\"two.test\"]\n"));
  ASSERT_TRUE(proxy_->wait_for_log("configuration reloaded", 1, 2s)) << proxy_->log();
  EXPECT_EQ(get_json("/patterns")["allowed"], Json({"two.test"}));
  // An in-place rewrite.
  {
    std::ofstream(proxy_->config_path(), std::ios::trunc)
        << config("allowed_domains = [\"three.test\"]\n");
  }
  ASSERT_TRUE(proxy_->wait_for_log("configuration reloaded", 2, 2s)) << proxy_->log();
  EXPECT_EQ(get_json("/patterns")["allowed"], Json({"three.test"}));
  EXPECT_TRUE(eventually([&] {
    return metric("netfence_config_reloads_total", {{"result", "ok"}}) == 2;
  }));
}

TEST_F(Admin, FailedReloadKeepsTheOldConfig) {
  origin_ = std::make_unique<OriginServer>();
  const std::string o = authority("origin.test", origin_->port());
  start_admin(origin_config());
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  const std::string bad = origin_config("mode = \"readonly\"\n");
  // The line of the bad value, as §3.4 reports it.
  const auto at = bad.find("mode = \"readonly\"");
  const int line = 1 + static_cast<int>(std::count(bad.begin(), bad.begin() + at, '\n'));
  write_unwatched(bad);
  auto r = call("POST", "/reload");
  EXPECT_EQ(r.head.substr(0, r.head.find("\r\n")), "HTTP/1.1 500 Internal Server Error");
  EXPECT_EQ(r.header("content-type"), kJson);
  const std::string diag = proxy_->config_path() + ":" + std::to_string(line) +
                           ":8: network.mode: expected \"full\" or \"limited\", got \"readonly\"";
  EXPECT_EQ(r.body, R"({"status":"error","error":")" + json_escape(diag) + R"("})");
  EXPECT_TRUE(std::regex_search(
      proxy_->log(),
      std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR config reload failed: )")))
      << proxy_->log();
  EXPECT_NE(proxy_->log().find("ERROR config reload failed: " + diag +
                               "; keeping the previous configuration\n"),
            std::string::npos)
      << proxy_->log();
  // The previous configuration is still the one in force.
  EXPECT_EQ(mode(), "full");
  EXPECT_EQ(get_json("/patterns")["allowed"], Json({"origin.test"}));
  auto ok = via_proxy(post_req("http://" + o + "/", o, "{}"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);

  // A TOML syntax error and an invalid pattern fail the same way.
  write_unwatched(origin_config("allowed_domains = [\n"));
  r = call("POST", "/reload");
  EXPECT_EQ(r.status, 500);
  Json e = Json::parse(r.body, nullptr, false);
  ASSERT_FALSE(e.is_discarded()) << r.body;
  EXPECT_EQ(keys_of(e), (std::vector<std::string>{"status", "error"}));
  EXPECT_EQ(e["status"], "error");
  EXPECT_EQ(e.value("error", "").rfind(proxy_->config_path() + ":", 0), 0u) << r.body;
  write_unwatched(config("allowed_domains = [\"exa mple.com\"]\n"));
  r = call("POST", "/reload");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(
      r.body.find(
          "network.allowed_domains[0]: invalid pattern \\\"exa mple.com\\\": contains a space"),
      std::string::npos)
      << r.body;
  EXPECT_EQ(get_json("/patterns")["allowed"], Json({"origin.test"}));
  // A runtime mode survives a failed reload.
  ASSERT_EQ(set_mode("limited").status, 200);
  ASSERT_TRUE(proxy_->reload());
  EXPECT_EQ(mode(), "limited");
  EXPECT_EQ(metric("netfence_config_reloads_total", {{"result", "error"}}), 4);
  // And a good file afterwards applies.
  write_unwatched(config("allowed_domains = [\"fixed.test\"]\n"));
  EXPECT_EQ(call("POST", "/reload").status, 200);
  EXPECT_EQ(get_json("/patterns")["allowed"], Json({"fixed.test"}));
}

// §3.6: connections keep the snapshot they started with; a full-mode reload leaves open tunnels
// alone, even one the new file would refuse.
TEST_F(Admin, ReloadKeepsAnOpenTunnelInFullMode) {
  start_stream_origin();
  start_admin(tunnel_config());
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  auto t = open_tunnel();
  ASSERT_FALSE(HasFailure());
  expect_echo(*t, "before");
  write_unwatched(config("allowed_domains = [\"elsewhere.test\"]\nallow_local_binding = true\n"));
  ASSERT_EQ(call("POST", "/reload").status, 200);
  expect_echo(*t, "after-post");
  ASSERT_TRUE(proxy_->reload());
  expect_echo(*t, "after-sighup");
  EXPECT_EQ(metric("netfence_tunnels_active", {{"kind", "connect"}}), 1);
  // New tunnels follow the new file.
  auto r = via_proxy(connect_req(authority("127.0.0.1", origin_->port())));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->body, kMsgNotAllowed);
  expect_echo(*t, "still");
}

// §10.1, §18 row 24: a reload that turns the mode limited closes raw CONNECT tunnels.
TEST_F(Admin, ReloadToLimitedClosesTheTunnel) {
  start_stream_origin();
  start_admin(tunnel_config());
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  auto t = open_tunnel();
  ASSERT_FALSE(HasFailure());
  expect_echo(*t, "x");
  write_unwatched(tunnel_config("mode = \"limited\"\n"));
  ASSERT_EQ(call("POST", "/reload").status, 200);
  EXPECT_TRUE(t->read_until_close(5s).has_value()) << "tunnel still open";
  EXPECT_TRUE(origin_->wait_for_closed(1, 5s));
  EXPECT_EQ(mode(), "limited");
}

TEST_F(Admin, PostModeLimitedClosesTheTunnel) {
  start_stream_origin();
  start_admin(tunnel_config());
  auto t = open_tunnel();
  ASSERT_FALSE(HasFailure());
  expect_echo(*t, "x");
  ASSERT_EQ(set_mode("limited").status, 200);
  EXPECT_TRUE(t->read_until_close(5s).has_value()) << "tunnel still open";
  EXPECT_TRUE(eventually([&] {
    return metric("netfence_tunnels_active", {{"kind", "connect"}}) == 0;
  }));
  auto r = via_proxy(connect_req(authority("127.0.0.1", origin_->port())));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->body, kMsgMitm);
}

// ---- hardening (§13, §18 row 19) and limits ----------------------------------------------------

TEST_F(Admin, HardeningEndToEnd) {
  const std::string token = "tok-0123456789abcdef-xyz";
  start_admin(config("admin_token = \"" + token + "\"\n"));
  const std::string port = std::to_string(admin_);
  auto send = [&](const std::string& head) { return raw(head + "Connection: close\r\n\r\n"); };
  const std::string bearer = "Authorization: Bearer " + token + "\r\n";

  auto r = send("GET /config HTTP/1.1\r\nHost: evil.example\r\n" + bearer);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.header("content-type"), kText);
  EXPECT_EQ(r.body, "forbidden host");
  r = send("GET /health HTTP/1.1\r\nHost: evil.example:" + port + "\r\n");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "forbidden host");
  r = send("GET /health HTTP/1.1\r\n");
  EXPECT_EQ(r.status, 403) << "missing Host";
  EXPECT_EQ(r.body, "forbidden host");

  r = send("GET /config HTTP/1.1\r\nHost: localhost:" + port +
           "\r\nOrigin: http://localhost:" + port + "\r\n" + bearer);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.header("content-type"), kText);
  EXPECT_EQ(r.body, "cross-origin requests are not allowed");

  r = send("GET /config HTTP/1.1\r\nHost: localhost:" + port + "\r\n");
  EXPECT_EQ(r.head.substr(0, r.head.find("\r\n")), "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(r.header("content-type"), kText);
  EXPECT_EQ(r.header("www-authenticate"), "Bearer");
  EXPECT_EQ(r.body, "unauthorized");
  r = send(
      "POST /mode HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer wrong\r\n"
      "Content-Length: 18\r\n\r\n{\"mode\":\"limited\"}");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(proxy_->count_in_log("mode set to"), 0u);

  r = send("GET /health HTTP/1.1\r\nHost: localhost:" + port + "\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  r = send("GET /config HTTP/1.1\r\nHost: [::1]:" + port + "\r\n" + bearer);
  EXPECT_EQ(r.status, 200);
  r = send("GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: bearer " + token + "\r\n");
  EXPECT_EQ(r.status, 200) << "RFC 7235: the auth-scheme is case-insensitive";

  // curl with and without the token.
  const std::string url = "http://127.0.0.1:" + port + "/patterns";
  auto c = curl({"-w", "\n%{http_code}", url});
  EXPECT_TRUE(c.out.ends_with("\n401")) << c.out;
  c = curl({"-w", "\n%{http_code}", "-H", "Authorization: Bearer " + token, url});
  EXPECT_EQ(c.out, "{\"allowed\":[],\"denied\":[]}\n200");
}

TEST_F(Admin, TokenChangesOnReload) {
  const std::string one = "tok-one-0123456789abcdef";
  const std::string two = "tok-two-0123456789abcdef";
  start_admin(config("admin_token = \"" + one + "\"\n"));
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  token_ = one;
  write_unwatched(config("admin_token = \"" + two + "\"\n"));
  ASSERT_EQ(call("POST", "/reload").status, 200);
  EXPECT_EQ(call("GET", "/config").status, 401) << "the old token still works";
  token_ = two;
  EXPECT_EQ(call("GET", "/config").status, 200);
}

TEST_F(Admin, HeadAndBodyLimits) {
  start_admin(config(""));
  const std::string host = "Host: localhost\r\n";
  {
    RawClient c;
    ASSERT_TRUE(c.connect(admin_));
    ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\n" + host + "X-Big: " + std::string(9000, 'a') +
                       "\r\n\r\n"));
    auto r = c.read_response(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->head.substr(0, r->head.find("\r\n")),
              "HTTP/1.1 431 Request Header Fields Too Large");
    EXPECT_TRUE(c.read_until_close(5s).has_value()) << "connection left open";
  }
  {
    std::string many;
    for (int i = 0; i < 40; ++i)
      many += "X-F" + std::to_string(i) + ": " + std::string(250, 'b') + "\r\n";
    ASSERT_GT(many.size(), 8u * 1024);
    auto r = raw("GET /health HTTP/1.1\r\n" + host + many + "\r\n");
    EXPECT_EQ(r.status, 431);
  }
  {
    // A head just under the limit is fine.
    auto r = raw("GET /health HTTP/1.1\r\n" + host + "X-Big: " + std::string(7000, 'a') +
                 "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r.status, 200);
  }
  {
    // Body over 8 KiB: 413 and the connection closes (the body is never read).
    RawClient c;
    ASSERT_TRUE(c.connect(admin_));
    const std::string body = "{\"mode\":\"limited\"}" + std::string(9000, ' ');
    ASSERT_TRUE(c.send("POST /mode HTTP/1.1\r\n" + host +
                       "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
    auto r = c.read_response(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->head.substr(0, r->head.find("\r\n")), "HTTP/1.1 413 Payload Too Large");
    EXPECT_EQ(r->header("content-type"), kText);
    EXPECT_EQ(r->body, "body too large");
    EXPECT_TRUE(c.read_until_close(5s).has_value());
  }
  EXPECT_EQ(mode(), "full");
  {
    // Exactly 8 KiB is allowed; one byte more is not.
    std::string body = "{\"mode\":\"limited\"}";
    body += std::string(8192 - body.size(), ' ');
    auto r = raw("POST /mode HTTP/1.1\r\n" + host +
                 "Content-Length: 8192\r\nConnection: close\r\n\r\n" + body);
    EXPECT_EQ(r.status, 200) << r.body;
    body += ' ';
    r = raw("POST /mode HTTP/1.1\r\n" + host + "Content-Length: 8193\r\nConnection: close\r\n\r\n" +
            body);
    EXPECT_EQ(r.status, 413);
  }
  EXPECT_EQ(mode(), "limited");
}

// ---- the admin API through the proxy listeners (§6.3, §18 row 18) ------------------------------

TEST_F(Admin, UnreachableThroughTheProxyListeners) {
  start_admin(
      config("allow_local_binding = true\n"
             "allowed_domains = [\"127.0.0.1\", \"localhost\", \"admin.test\", \"0.0.0.0\",\n"
             "                   \"[::ffff:127.0.0.1]\"]\n"
             "dns_hosts = { \"admin.test\" = [\"127.0.0.1\"] }\n"));
  const std::string a = authority("127.0.0.1", admin_);
  auto r = via_proxy(post_req("http://" + a + "/mode", a, R"({"mode":"limited"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->header("content-type"), "application/json");
  EXPECT_EQ(r->header("x-proxy-error"), "blocked-by-policy");
  EXPECT_EQ(r->body, refusal_json("blocked", "127.0.0.1", "self_target", "proxy_state", "http",
                                  admin_, kMsgSelf));
  const std::string via_name = authority("admin.test", admin_);
  r = via_proxy(post_req("http://" + via_name + "/reload", via_name, ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  for (const std::string& target : {a, authority("localhost", admin_)}) {
    SCOPED_TRACE(target);
    r = via_proxy(connect_req(target));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(r->header("x-proxy-error"), "blocked-by-policy");
    EXPECT_EQ(r->body, kMsgSelf);
  }
  EXPECT_EQ(socks_connect(socks_ipv4(127, 0, 0, 1), admin_), 0x02);
  EXPECT_EQ(socks_connect(socks_domain("localhost"), admin_), 0x02);
  EXPECT_EQ(socks_connect(socks_domain("admin.test"), admin_), 0x02);
  // ATYP IPv6 ::ffff:127.0.0.1 and the unspecified address (§18 row 18).
  std::string mapped(1, '\x04');
  mapped += std::string(10, '\0') + "\xff\xff" + std::string("\x7f\x00\x00\x01", 4);
  EXPECT_EQ(socks_connect(mapped, admin_), 0x02);
  EXPECT_EQ(socks_connect(socks_ipv4(0, 0, 0, 0), admin_), 0x02);

  EXPECT_EQ(mode(), "full") << "the mode changed through the proxy";
  EXPECT_EQ(proxy_->count_in_log("mode set to"), 0u);
  EXPECT_EQ(proxy_->count_in_log("configuration reloaded"), 0u);

  Json list = get_json("/blocked")["blocked"];
  ASSERT_EQ(list.size(), 9u) << list.dump();
  expect_entry(list[0], "127.0.0.1", "self_target", "POST", "full", "http", "proxy_state", admin_);
  expect_entry(list[1], "admin.test", "self_target", "POST", "full", "http", "proxy_state", admin_);
  expect_entry(list[2], "127.0.0.1", "self_target", "CONNECT", "full", "https_connect",
               "proxy_state", admin_);
  expect_entry(list[3], "localhost", "self_target", "CONNECT", "full", "https_connect",
               "proxy_state", admin_);
  expect_entry(list[4], "127.0.0.1", "self_target", nullptr, "full", "socks5_tcp", "proxy_state",
               admin_);
  expect_entry(list[5], "localhost", "self_target", nullptr, "full", "socks5_tcp", "proxy_state",
               admin_);
  expect_entry(list[6], "admin.test", "self_target", nullptr, "full", "socks5_tcp", "proxy_state",
               admin_);
  for (std::size_t i = 7; i < 9; ++i) {
    EXPECT_EQ(list[i]["reason"], "self_target") << list[i].dump();
    EXPECT_EQ(list[i]["protocol"], "socks5_tcp") << list[i].dump();
    EXPECT_EQ(list[i]["port"], admin_) << list[i].dump();
  }
}

// ---- more of §14: which refusals are recorded --------------------------------------------------

TEST_F(Admin, BlockedRecordsDnsFailureLimitedSocksAndDisabledButNotFramingErrors) {
  start_admin(config("allowed_domains = [\"nxdomain.test\", \"allowed.test\"]\n"));
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  // Framing and syntax errors are not policy decisions (§14).
  auto bad = via_proxy("GET http://exa%20mple.test/ HTTP/1.1\r\nHost: exa%20mple.test\r\n\r\n");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  bad = via_proxy(
      "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(call("GET", "/blocked").body, R"({"blocked":[]})");

  // dns_failure (502) is recorded.
  auto r = via_proxy(get_req("http://nxdomain.test/", "nxdomain.test"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(r->header("x-proxy-error"), "dns-failure");
  EXPECT_GE(metric("netfence_dns_lookup_seconds_count"), 1);

  // §9.4: in limited mode every SOCKS5 CONNECT is refused by the mode guard, before the host
  // policy (so even a host that is not on the allowlist reports method_not_allowed).
  ASSERT_EQ(set_mode("limited").status, 200);
  EXPECT_EQ(socks_connect(socks_domain("notlisted.test"), 443), 0x02);
  ASSERT_EQ(set_mode("full").status, 200);
  EXPECT_EQ(socks_connect(socks_domain("notlisted.test"), 443), 0x02);

  // proxy_disabled (503) after a reload with enabled = false; the admin API stays up.
  std::string off = config("allowed_domains = [\"allowed.test\"]\n");
  off.replace(off.find("enabled = true"), 14, "enabled = false");
  write_unwatched(off);
  ASSERT_EQ(call("POST", "/reload").status, 200);
  r = via_proxy(get_req("http://allowed.test/", "allowed.test"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "network proxy is disabled");
  EXPECT_EQ(call("GET", "/health").body, "ok");
  EXPECT_EQ(get_json("/config")["network"]["enabled"], false);

  Json list = get_json("/blocked")["blocked"];
  ASSERT_EQ(list.size(), 4u) << list.dump();
  expect_entry(list[0], "nxdomain.test", "dns_failure", "GET", "full", "http", "proxy_state", 80);
  expect_entry(list[1], "notlisted.test", "method_not_allowed", nullptr, "limited", "socks5_tcp",
               "mode_guard", 443);
  expect_entry(list[2], "notlisted.test", "not_allowed", nullptr, "full", "socks5_tcp",
               "baseline_policy", 443);
  expect_entry(list[3], "allowed.test", "proxy_disabled", "GET", "full", "http", "proxy_state", 80);
}

// §10.1 via the admin API: switching to limited closes SOCKS5 connections opened in full mode.
TEST_F(Admin, PostModeLimitedClosesSocks5Connections) {
  start_stream_origin();
  start_admin(tunnel_config());
  RawClient c;
  ASSERT_TRUE(c.connect(proxy_->socks_port()));
  ASSERT_TRUE(c.send(std::string("\x05\x01\x00", 3)));
  ASSERT_EQ(c.read_exact(2, 5s).value_or(""), std::string("\x05\x00", 2));
  std::string req("\x05\x01\x00", 3);
  req += socks_ipv4(127, 0, 0, 1);
  req += static_cast<char>(origin_->port() >> 8);
  req += static_cast<char>(origin_->port() & 0xff);
  ASSERT_TRUE(c.send(req));
  auto reply = c.read_exact(10, 5s);
  ASSERT_TRUE(reply);
  ASSERT_EQ((*reply)[1], 0x00) << "SOCKS5 CONNECT refused";
  expect_echo(c, "socks");
  EXPECT_EQ(metric("netfence_tunnels_active", {{"kind", "socks5_tcp"}}), 1);
  ASSERT_EQ(set_mode("limited").status, 200);
  EXPECT_TRUE(c.read_until_close(5s).has_value()) << "SOCKS5 connection still open";
  EXPECT_TRUE(eventually([&] {
    return metric("netfence_tunnels_active", {{"kind", "socks5_tcp"}}) == 0;
  }));
}

// ---- non-reloadable keys (§3.6)
// ------------------------------------------------------------------

TEST_F(Admin, AdminListenerKeysAreNotReloadable) {
  start_admin(config("dns_timeout_ms = 2000\n"));
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  const std::string other = std::to_string(unused_port());
  std::string next = config("admin_url = \"http://127.0.0.1:" + other +
                            "\"\nenable_admin = false\ndns_timeout_ms = 1500\n");
  write_unwatched(next);
  ASSERT_EQ(call("POST", "/reload").status, 200);
  EXPECT_NE(proxy_->log().find("WARN admin_url changed; restart netfence to apply it\n"),
            std::string::npos)
      << proxy_->log();
  EXPECT_NE(proxy_->log().find("WARN enable_admin changed; restart netfence to apply it\n"),
            std::string::npos)
      << proxy_->log();
  // The rest of the file applied; the admin API still answers on its original port and reports
  // the address it really listens on.
  Json n = get_json("/config")["network"];
  EXPECT_EQ(n["dns_timeout_ms"], 1500);
  EXPECT_EQ(n["admin_url"], "http://127.0.0.1:" + std::to_string(admin_));
  RawClient probe;
  EXPECT_FALSE(probe.connect(static_cast<std::uint16_t>(std::stoi(other))))
      << "a new admin listener was bound on reload";
}

// ---- the 64-connection limit (§13)
// ---------------------------------------------------------------

TEST_F(Admin, SixtyFourConcurrentConnections) {
  start_admin(config(""));
  std::vector<std::unique_ptr<RawClient>> held;
  const std::string ping = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
  for (int i = 0; i < 64; ++i) {
    auto c = std::make_unique<RawClient>();
    ASSERT_TRUE(c->connect(admin_)) << i;
    ASSERT_TRUE(c->send(ping)) << i;
    auto r = c->read_response(5s);
    ASSERT_TRUE(r) << i;
    ASSERT_EQ(r->status, 200) << i;  // accepted and counted: its keep-alive connection stays
    held.push_back(std::move(c));
  }
  auto over = raw("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(over.status, 503);
  EXPECT_EQ(over.body, "too many connections");
  // The held ones still work, and a freed slot is usable again.
  ASSERT_TRUE(held[0]->send(ping));
  auto again = held[0]->read_response(5s);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  held.pop_back();
  EXPECT_TRUE(eventually([&] {
    RawClient c;
    if (!c.connect(admin_)) return false;
    c.send("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    auto r = c.read_response(2s);
    return r && r->status == 200;
  }));
}

// ---- head limit counts the whole head (§13 "head 8 KiB")
// -----------------------------------------

// SPEC §13 limits the admin head to 8 KiB: request line and fields together.
TEST_F(Admin, HeadLimitCountsRequestLineAndFieldsTogether) {
  start_admin(config(""));
  const std::string head = "GET /health?" + std::string(6000, 'q') +
                           " HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + std::string(6000, 'p') +
                           "\r\nConnection: close\r\n\r\n";
  ASSERT_GT(head.size(), 8u * 1024);
  auto r = raw(head);
  EXPECT_EQ(r.status, 431) << r.head;
}

TEST_F(Admin, AbsoluteFormIsNotServed) {
  start_admin(config(""));
  const std::string a = authority("127.0.0.1", admin_);
  auto r = raw("POST http://" + a + "/mode HTTP/1.1\r\nHost: " + a +
               "\r\nContent-Length: 18\r\nConnection: close\r\n\r\n{\"mode\":\"limited\"}");
  EXPECT_GE(r.status, 400);
  EXPECT_NE(r.status, 200);
  EXPECT_EQ(mode(), "full");
}

// ---- /config sub-objects
// -------------------------------------------------------------------------

TEST_F(Admin, ConfigAuditSubObjects) {
  start_admin(
      config("[network.audit]\nbatch_size = 7\notlp_endpoint = \"http://127.0.0.1:1\"\n"
             "otlp_headers = { authorization = \"Bearer otlp-secret\" }\n"
             "[network.audit_metadata]\nmodel = \"m-1\"\n"));
  auto r = call("GET", "/config");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("otlp-secret"), std::string::npos);
  Json n = Json::parse(r.body)["network"];
  EXPECT_EQ(keys_of(n["audit"]),
            (std::vector<std::string>{"jsonl_path", "otlp_endpoint", "otlp_headers", "batch_size",
                                      "batch_timeout_ms", "queue_size"}));
  EXPECT_EQ(n["audit"]["batch_size"], 7);
  EXPECT_EQ(n["audit"]["otlp_endpoint"], "http://127.0.0.1:1");
  EXPECT_TRUE(n["audit"]["jsonl_path"].is_null());
  EXPECT_EQ(
      keys_of(n["audit_metadata"]),
      (std::vector<std::string>{"conversation_id", "app_version", "user_account_id", "auth_mode",
                                "originator", "user_email", "terminal_type", "model", "slug"}));
  EXPECT_EQ(n["audit_metadata"]["model"], "m-1");
  EXPECT_TRUE(n["audit_metadata"]["slug"].is_null());
}

// ---- admin listeners other than 127.0.0.1
// --------------------------------------------------------

std::string first_non_loopback_ipv4() {
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
  return own;
}

bool ipv6_loopback_available() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// §13: the listener's own IP is an accepted Host (any port); other names are not.
TEST_F(Admin, NonLoopbackListenerAcceptsItsOwnIpAsHost) {
  const std::string ip = first_non_loopback_ipv4();
  if (ip.empty()) GTEST_SKIP() << "no non-loopback IPv4 interface address";
  start(config("admin_url = \"http://" + ip +
               ":0\"\ndangerously_allow_non_loopback_admin = true\n"
               "allow_local_binding = true\nallowed_domains = [\"" +
               ip + "\"]\n"));
  std::string ip_re = std::regex_replace(ip, std::regex(R"(\.)"), R"(\.)");
  admin_ = admin_port_of(*proxy_, ip_re);
  ASSERT_NE(admin_, 0) << proxy_->log();
  const std::string base = "http://" + ip + ":" + std::to_string(admin_);
  auto c = curl({"-w", "\n%{http_code}", base + "/health"});
  EXPECT_EQ(c.out, "ok\n200") << c.err;
  c = curl({"-w", "\n%{http_code}", "-H", "Host: " + ip, base + "/config"});
  EXPECT_TRUE(c.out.ends_with("\n200")) << c.out;
  Json n = Json::parse(c.out.substr(0, c.out.rfind('\n')), nullptr, false)["network"];
  EXPECT_EQ(n["admin_url"], base);
  c = curl({"-w", "\n%{http_code}", "-H", "Host: localhost", base + "/health"});
  EXPECT_EQ(c.out, "ok\n200");
  c = curl({"-w", "\n%{http_code}", "-H", "Host: evil.example", base + "/health"});
  EXPECT_EQ(c.out, "forbidden host\n403");
  c = curl({"-w", "\n%{http_code}", "-H", "Host: 10.255.255.1", base + "/health"});
  EXPECT_EQ(c.out, "forbidden host\n403");
  // §6.3 (a): the admin port on an own-host address is a self target through the proxy.
  auto r = via_proxy(connect_req(authority(ip, admin_)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->body, kMsgSelf);

  // §3.6: a reload that would enable unix-socket proxying while the admin listener is
  // non-loopback fails as a whole.
  config_text_ =
      config("admin_url = \"http://" + ip + ":0\"\ndangerously_allow_non_loopback_admin = true\n");
  make_config_unwatched();
  ASSERT_FALSE(HasFatalFailure());
  write_unwatched(config("admin_url = \"http://" + ip +
                         ":0\"\ndangerously_allow_non_loopback_admin = true\n"
                         "allowed_domains = [\"changed.test\"]\n"
                         "allow_unix_sockets = [\"/tmp/netfence-admin-test.sock\"]\n"));
  c = curl({"-w", "\n%{http_code}", "-X", "POST", base + "/reload"});
  ASSERT_TRUE(c.out.ends_with("\n500")) << c.out;
  Json e = Json::parse(c.out.substr(0, c.out.rfind('\n')), nullptr, false);
  ASSERT_FALSE(e.is_discarded()) << c.out;
  EXPECT_EQ(e["status"], "error");
  const std::string msg = e.value("error", "");
  EXPECT_EQ(msg.rfind(proxy_->config_path(), 0), 0u) << msg;
  EXPECT_NE(msg.find("admin API"), std::string::npos) << msg;
  EXPECT_NE(msg.find(ip), std::string::npos) << msg;
  c = curl({base + "/patterns"});
  EXPECT_EQ(c.out, "{\"allowed\":[],\"denied\":[]}") << "the failed reload applied in part";
}

// SPEC §2: "Port 0 binds an ephemeral port and every log line and API reports the real port."
TEST_F(Admin, DangerousFlagWarningReportsTheRealPort) {
  const std::string ip = first_non_loopback_ipv4();
  if (ip.empty()) GTEST_SKIP() << "no non-loopback IPv4 interface address";
  start(
      config("admin_url = \"http://" + ip + ":0\"\ndangerously_allow_non_loopback_admin = true\n"));
  admin_ = admin_port_of(*proxy_, std::regex_replace(ip, std::regex(R"(\.)"), R"(\.)"));
  ASSERT_NE(admin_, 0) << proxy_->log();
  EXPECT_NE(proxy_->log().find("WARN admin API is listening on non-loopback address " + ip + ":" +
                               std::to_string(admin_) +
                               " because dangerously_allow_non_loopback_admin = true\n"),
            std::string::npos)
      << proxy_->log();
}

TEST_F(Admin, Ipv6LoopbackListener) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback";
  start(config("admin_url = \"http://[::1]:0\"\n"));
  admin_ = admin_port_of(*proxy_, R"(\[::1\])");
  ASSERT_NE(admin_, 0) << proxy_->log();
  const std::string base = "http://[::1]:" + std::to_string(admin_);
  auto c = curl({"-g", "-w", "\n%{http_code}", base + "/config"});
  ASSERT_TRUE(c.out.ends_with("\n200")) << c.out << c.err;
  Json n = Json::parse(c.out.substr(0, c.out.rfind('\n')), nullptr, false)["network"];
  EXPECT_EQ(n["admin_url"], base);
  c = curl({"-g", "-w", "\n%{http_code}", "-H", "Host: evil.example", base + "/health"});
  EXPECT_EQ(c.out, "forbidden host\n403");
}

// ---- listener set-up ---------------------------------------------------------------------------

TEST_F(Admin, EnableAdminFalseStartsNoAdminListener) {
  start(config("enable_admin = false\n"));
  ASSERT_NE(proxy_->socks_port(), 0);  // start-up finished
  EXPECT_EQ(proxy_->count_in_log("admin API listening on"), 0u) << proxy_->log();
}

// §2 rule 1 and §13: a non-loopback admin_url without the dangerous flag is clamped, and /config
// reports the address really listened on.
TEST_F(Admin, ClampedAdminUrlIsReportedWithTheRealAddress) {
  start_admin(config("admin_url = \"http://10.1.2.3:0\"\n"));
  EXPECT_NE(proxy_->log().find("WARN admin API: non-loopback bind 10.1.2.3:0 refused, using "
                               "127.0.0.1:"),
            std::string::npos)
      << proxy_->log();
  EXPECT_EQ(get_json("/config")["network"]["admin_url"],
            "http://127.0.0.1:" + std::to_string(admin_));
}

// §3.2: a set (non-empty) admin_token shorter than 16 characters is accepted with a WARN.
TEST_F(Admin, ShortTokenWarns) {
  start_admin(config("admin_token = \"short\"\n"));
  EXPECT_TRUE(std::regex_search(proxy_->log(), std::regex(R"(WARN [^\n]*admin_token)")))
      << proxy_->log();
  EXPECT_EQ(call("GET", "/config").status, 401);
  token_ = "short";
  EXPECT_EQ(call("GET", "/config").status, 200);
}

// §3.2: "If set (non-empty)": an empty admin_token means no token.
TEST_F(Admin, EmptyTokenMeansNone) {
  start_admin(config("admin_token = \"\"\n"));
  EXPECT_EQ(call("GET", "/config").status, 200) << "an empty admin_token must not lock the API";
}

}  // namespace
}  // namespace netfence::testing
