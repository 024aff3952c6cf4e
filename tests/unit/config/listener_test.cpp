#include "config/listener.hpp"  // first: the header is self-contained

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace netfence::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string addr_of(std::string_view value, std::uint16_t default_port = 3128) {
  auto r = parse_listener_url(value, default_port);
  if (!r) return "error: " + r.error().message;
  return r->address.to_string();
}

std::vector<std::string> warnings_of(std::string_view value) {
  auto r = parse_listener_url(value, 3128);
  EXPECT_TRUE(r.ok()) << value;
  return r ? r->warnings : std::vector<std::string>{};
}

std::string error_of(std::string_view value) {
  auto r = parse_listener_url(value, 3128);
  if (r) return "ok: " + r->address.to_string();
  EXPECT_EQ(r.error().code, "config");
  return r.error().message;
}

TEST(ParseListenerUrl, SchemesAreAcceptedAndIgnored) {
  EXPECT_EQ(addr_of("http://127.0.0.1:3128"), "127.0.0.1:3128");
  EXPECT_EQ(addr_of("https://127.0.0.1:1"), "127.0.0.1:1");
  EXPECT_EQ(addr_of("socks5://127.0.0.1:1080"), "127.0.0.1:1080");
  EXPECT_EQ(addr_of("socks5h://127.0.0.1:1080"), "127.0.0.1:1080");
  EXPECT_EQ(addr_of("HTTP://127.0.0.1:9"), "127.0.0.1:9");
  EXPECT_EQ(addr_of("127.0.0.2:3129"), "127.0.0.2:3129");
  EXPECT_THAT(warnings_of("http://127.0.0.1:3128"), IsEmpty());
}

TEST(ParseListenerUrl, UnknownSchemeIsAnError) {
  EXPECT_EQ(
      error_of("ftp://127.0.0.1:21"),
      R"(expected a URL with scheme http, https, socks5 or socks5h, got "ftp://127.0.0.1:21")");
  EXPECT_EQ(error_of("://127.0.0.1"),
            R"(expected a URL with scheme http, https, socks5 or socks5h, got "://127.0.0.1")");
}

TEST(ParseListenerUrl, LocalhostIsLoopbackWithoutWarning) {
  EXPECT_EQ(addr_of("http://localhost:9000"), "127.0.0.1:9000");
  EXPECT_EQ(addr_of("LocalHost"), "127.0.0.1:3128");
  EXPECT_THAT(warnings_of("http://localhost:9000"), IsEmpty());
}

TEST(ParseListenerUrl, OtherNamesBecomeLoopbackWithWarning) {
  EXPECT_EQ(addr_of("http://proxy.local:3000"), "127.0.0.1:3000");
  EXPECT_THAT(warnings_of("http://proxy.local:3000"),
              ElementsAre(R"(host name "proxy.local" is not an IP address; using 127.0.0.1)"));
  // Non-strict IPv4 spellings are names here, never bound as something else.
  EXPECT_EQ(addr_of("0x7f.1:80"), "127.0.0.1:80");
  EXPECT_THAT(warnings_of("0x7f.1:80"), ElementsAre(::testing::HasSubstr("\"0x7f.1\"")));
}

TEST(ParseListenerUrl, Ipv6BracketedAndUnbracketed) {
  EXPECT_EQ(addr_of("http://[::1]:3128"), "[::1]:3128");
  EXPECT_EQ(addr_of("[::1]"), "[::1]:3128");
  EXPECT_EQ(addr_of("[0:0:0:0:0:0:0:1]:9"), "[::1]:9");
  EXPECT_EQ(addr_of("::1"), "[::1]:3128");
  EXPECT_EQ(addr_of("2001:db8::1"), "[2001:db8::1]:3128");
  EXPECT_EQ(addr_of("[::ffff:127.0.0.1]:5"), "127.0.0.1:5");
  EXPECT_EQ(error_of("[::1"),
            R"(expected an address of the form [scheme://]host[:port], got "[::1")");
  EXPECT_EQ(error_of("[::1]x"),
            R"(expected an address of the form [scheme://]host[:port], got "[::1]x")");
  EXPECT_EQ(error_of("[127.0.0.1]:80"),
            R"(expected an address of the form [scheme://]host[:port], got "[127.0.0.1]:80")");
  EXPECT_EQ(error_of("[fe80::1%eth0]:80"), R"(expected an IP address, got "fe80::1%eth0")");
  EXPECT_EQ(error_of("1:2:x"), R"(expected an IP address, got "1:2:x")");
}

TEST(ParseListenerUrl, MissingPortTakesTheDefault) {
  EXPECT_EQ(addr_of("http://127.0.0.1", 8081), "127.0.0.1:8081");
  EXPECT_EQ(addr_of("10.0.0.1", 8080), "10.0.0.1:8080");
  EXPECT_EQ(addr_of("http://127.0.0.1/", 8081), "127.0.0.1:8081");
}

TEST(ParseListenerUrl, PortZeroIsEphemeral) {
  EXPECT_EQ(addr_of("http://127.0.0.1:0"), "127.0.0.1:0");
  EXPECT_EQ(addr_of("127.0.0.1:65535"), "127.0.0.1:65535");
}

TEST(ParseListenerUrl, BadPortsAreErrors) {
  EXPECT_EQ(error_of("http://127.0.0.1:80a"), R"(expected a port from 0 to 65535, got "80a")");
  EXPECT_EQ(error_of("127.0.0.1:65536"), R"(expected a port from 0 to 65535, got "65536")");
  EXPECT_EQ(error_of("127.0.0.1:-1"), R"(expected a port from 0 to 65535, got "-1")");
  EXPECT_EQ(error_of("127.0.0.1:"), R"(expected a port from 0 to 65535, got "")");
  EXPECT_EQ(error_of("127.0.0.1:999999"), R"(expected a port from 0 to 65535, got "999999")");
  EXPECT_EQ(error_of("[::1]:+80"), R"(expected a port from 0 to 65535, got "+80")");
}

TEST(ParseListenerUrl, EmptyHostIsAnError) {
  EXPECT_EQ(error_of(""), R"(expected an address of the form [scheme://]host[:port], got "")");
  EXPECT_EQ(error_of("http://:3128"),
            R"(expected an address of the form [scheme://]host[:port], got "http://:3128")");
}

TEST(ParseListenerUrl, UserinfoAndPathAreIgnoredWithWarnings) {
  EXPECT_EQ(addr_of("http://user:pw@127.0.0.1:3000/some/path"), "127.0.0.1:3000");
  EXPECT_THAT(warnings_of("http://user:pw@127.0.0.1:3000/some/path"),
              ElementsAre("userinfo ignored", "path ignored"));
  EXPECT_THAT(warnings_of("http://127.0.0.1:3000?x=1"), ElementsAre("path ignored"));
}

TEST(ListenerAddress, ToStringBracketsIpv6) {
  ListenerAddress a{*core::IpAddress::parse("2001:db8::1"), 443};
  EXPECT_EQ(a.to_string(), "[2001:db8::1]:443");
  ListenerAddress b{*core::IpAddress::parse("10.1.2.3"), 0};
  EXPECT_EQ(b.to_string(), "10.1.2.3:0");
}

TEST(QuoteTomlString, EscapesLikeTomlBasicStrings) {
  EXPECT_EQ(quote_toml_string("readonly"), R"("readonly")");
  EXPECT_EQ(quote_toml_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(quote_toml_string("a\nb\tc\x01"), R"("a\nb\tc\u0001")");
  EXPECT_EQ(quote_toml_string("exämple"), "\"exämple\"");
}

Config enabled_config() {
  Config cfg;
  cfg.enabled = true;
  return cfg;
}

std::vector<std::string> log_texts(const ListenerPlan& plan, LogLevel level = LogLevel::warn) {
  std::vector<std::string> out;
  for (const auto& l : plan.log) {
    if (l.level == level) out.push_back(l.text);
  }
  return out;
}

TEST(PlanListeners, DefaultsAreLoopbackOnTheDefaultPorts) {
  auto plan = plan_listeners(enabled_config());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->http->to_string(), "127.0.0.1:3128");
  EXPECT_EQ(plan->socks5->to_string(), "127.0.0.1:8081");
  EXPECT_EQ(plan->admin->to_string(), "127.0.0.1:8080");
  EXPECT_THAT(plan->log, IsEmpty());
}

TEST(PlanListeners, MissingPortsTakeEachListenersDefault) {
  Config cfg = enabled_config();
  cfg.proxy_url = "127.0.0.1";
  cfg.socks_url = "socks5://127.0.0.1";
  cfg.admin_url = "localhost";
  auto plan = plan_listeners(cfg);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->http->port, 3128);
  EXPECT_EQ(plan->socks5->port, 8081);
  EXPECT_EQ(plan->admin->port, 8080);
}

TEST(PlanListeners, DisabledListenersAreAbsent) {
  Config cfg;  // enabled = false
  auto plan = plan_listeners(cfg);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->http || plan->socks5 || plan->admin);

  cfg.enabled = true;
  cfg.enable_socks5 = false;
  cfg.enable_admin = false;
  plan = plan_listeners(cfg);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->http.has_value());
  EXPECT_FALSE(plan->socks5.has_value());
  EXPECT_FALSE(plan->admin.has_value());
}

TEST(PlanListeners, RuleOneClampsNonLoopbackWithoutTheFlag) {
  Config cfg = enabled_config();
  cfg.proxy_url = "http://0.0.0.0:3128";
  cfg.socks_url = "[2001:db8::1]:1080";
  cfg.admin_url = "http://10.0.0.5:9000";
  auto plan = plan_listeners(cfg);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->http->to_string(), "127.0.0.1:3128");
  EXPECT_EQ(plan->socks5->to_string(), "127.0.0.1:1080");
  EXPECT_EQ(plan->admin->to_string(), "127.0.0.1:9000");
  EXPECT_THAT(
      log_texts(*plan),
      ElementsAre("HTTP proxy: non-loopback bind 0.0.0.0:3128 refused, using 127.0.0.1:3128 (set "
                  "dangerously_allow_non_loopback_proxy = true to allow it)",
                  "SOCKS5 proxy: non-loopback bind [2001:db8::1]:1080 refused, using "
                  "127.0.0.1:1080 (set dangerously_allow_non_loopback_proxy = true to allow it)",
                  "admin API: non-loopback bind 10.0.0.5:9000 refused, using 127.0.0.1:9000 (set "
                  "dangerously_allow_non_loopback_admin = true to allow it)"));
}

TEST(PlanListeners, RuleOneHonoursTheFlagsSeparately) {
  Config cfg = enabled_config();
  cfg.proxy_url = "0.0.0.0:3128";
  cfg.socks_url = "0.0.0.0:8081";
  cfg.admin_url = "0.0.0.0:8080";
  cfg.dangerously_allow_non_loopback_proxy = true;
  auto plan = plan_listeners(cfg);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->http->to_string(), "0.0.0.0:3128");
  EXPECT_EQ(plan->socks5->to_string(), "0.0.0.0:8081");
  EXPECT_EQ(plan->admin->to_string(), "127.0.0.1:8080");
  EXPECT_THAT(log_texts(*plan),
              ElementsAre("HTTP proxy is listening on non-loopback address 0.0.0.0:3128 because "
                          "dangerously_allow_non_loopback_proxy = true",
                          "SOCKS5 proxy is listening on non-loopback address 0.0.0.0:8081 because "
                          "dangerously_allow_non_loopback_proxy = true",
                          "admin API: non-loopback bind 0.0.0.0:8080 refused, using 127.0.0.1:8080 "
                          "(set dangerously_allow_non_loopback_admin = true to allow it)"));

  cfg.dangerously_allow_non_loopback_proxy = false;
  cfg.dangerously_allow_non_loopback_admin = true;
  cfg.admin_url = "[::]:8080";
  plan = plan_listeners(cfg);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->http->to_string(), "127.0.0.1:3128");
  EXPECT_EQ(plan->admin->to_string(), "[::]:8080");
  EXPECT_EQ(log_texts(*plan).back(),
            "admin API is listening on non-loopback address [::]:8080 because "
            "dangerously_allow_non_loopback_admin = true");
}

TEST(PlanListeners, LoopbackMeansAll127And6Loopback) {
  Config cfg = enabled_config();
  cfg.proxy_url = "127.45.6.7:1";
  cfg.socks_url = "[::1]:2";
  cfg.admin_url = "128.0.0.1:3";
  auto plan = plan_listeners(cfg);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->http->to_string(), "127.45.6.7:1");
  EXPECT_EQ(plan->socks5->to_string(), "[::1]:2");
  EXPECT_EQ(plan->admin->to_string(), "127.0.0.1:3");
  EXPECT_EQ(log_texts(*plan).size(), 1U);
}

TEST(PlanListeners, RuleTwoForcesLoopbackWhateverTheFlags) {
  for (bool all_sockets : {false, true}) {
    Config cfg = enabled_config();
    if (all_sockets) {
      cfg.dangerously_allow_all_unix_sockets = true;
    } else {
      cfg.allow_unix_sockets = {"/var/run/docker.sock"};
    }
    cfg.proxy_url = "0.0.0.0:3128";
    cfg.socks_url = "[::]:0";
    cfg.admin_url = "192.168.1.2:8080";
    cfg.dangerously_allow_non_loopback_proxy = true;
    cfg.dangerously_allow_non_loopback_admin = true;
    auto plan = plan_listeners(cfg);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->http->to_string(), "127.0.0.1:3128");
    EXPECT_EQ(plan->socks5->to_string(), "127.0.0.1:0");
    EXPECT_EQ(plan->admin->to_string(), "127.0.0.1:8080");
    EXPECT_THAT(log_texts(*plan),
                ElementsAre("HTTP proxy: unix-socket proxying is enabled, forcing 127.0.0.1:3128",
                            "SOCKS5 proxy: unix-socket proxying is enabled, forcing 127.0.0.1:0",
                            "admin API: unix-socket proxying is enabled, forcing 127.0.0.1:8080"));
  }
}

TEST(PlanListeners, RuleTwoLeavesLoopbackAlone) {
  Config cfg = enabled_config();
  cfg.allow_unix_sockets = {"/tmp/x.sock"};
  auto plan = plan_listeners(cfg);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->log, IsEmpty());
}

TEST(PlanListeners, ParseWarningsComeFirstAndNameTheKey) {
  Config cfg = enabled_config();
  cfg.proxy_url = "http://u@proxy.example:3128";
  auto plan = plan_listeners(cfg);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->http->to_string(), "127.0.0.1:3128");
  EXPECT_THAT(log_texts(*plan),
              ElementsAre("network.proxy_url: userinfo ignored",
                          "network.proxy_url: host name \"proxy.example\" is not an IP address; "
                          "using 127.0.0.1"));
}

TEST(PlanListeners, OverridesReplaceTheConfigAndAreClampedTheSameWay) {
  Config cfg = enabled_config();
  cfg.proxy_url = "127.0.0.1:1";
  auto plan = plan_listeners(cfg, "0.0.0.0:0", "127.0.0.1:0", "127.0.0.1:0");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->http->to_string(), "127.0.0.1:0");
  EXPECT_EQ(plan->socks5->to_string(), "127.0.0.1:0");
  EXPECT_EQ(plan->admin->to_string(), "127.0.0.1:0");
  EXPECT_THAT(log_texts(*plan),
              ElementsAre("HTTP proxy: non-loopback bind 0.0.0.0:0 refused, using 127.0.0.1:0 "
                          "(set dangerously_allow_non_loopback_proxy = true to allow it)"));

  cfg.allow_unix_sockets = {"/s"};
  cfg.dangerously_allow_non_loopback_admin = true;
  plan = plan_listeners(cfg, std::nullopt, std::nullopt, "10.0.0.1:0");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->admin->to_string(), "127.0.0.1:0");
}

TEST(PlanListeners, BadUrlsAreErrors) {
  Config cfg = enabled_config();
  cfg.socks_url = "127.0.0.1:80a";
  auto plan = plan_listeners(cfg);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, "config");
  EXPECT_EQ(plan.error().message,
            R"(network.socks_url: expected a port from 0 to 65535, got "80a")");

  plan = plan_listeners(enabled_config(), "127.0.0.1:x");
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().message,
            R"(HTTP proxy address override: expected a port from 0 to 65535, got "x")");
}

}  // namespace
}  // namespace netfence::config
