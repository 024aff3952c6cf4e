#include "upstream/upstream_proxy.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace netfence::upstream {
namespace {

using core::HostKind;
using core::IpAddress;
using Vars = std::map<std::string, std::string>;

EnvLookup env_of(Vars vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Settings read(Vars vars, std::vector<OwnListener> own = {}) {
  return read_settings(env_of(std::move(vars)), own);
}

core::CanonicalHost host(std::string_view text) {
  auto h = core::canonicalize_host(text);
  EXPECT_TRUE(h.ok()) << text;
  return h.ok() ? *h : core::CanonicalHost{};
}

OwnListener own(std::string_view ip, std::uint16_t port) {
  return OwnListener{*IpAddress::parse(ip), port};
}

std::string unsupported(std::string_view var) {
  return "ignoring " + std::string(var) + ": only http and https upstream proxies are supported";
}
std::string invalid(std::string_view var) {
  return "ignoring " + std::string(var) + ": invalid proxy URL";
}

// The single endpoint an HTTP_PROXY value yields, or nullopt (with the warnings in `warnings`).
std::optional<ProxyEndpoint> http_proxy(std::string value,
                                        std::vector<std::string>* warnings = nullptr) {
  Settings s = read({{"HTTP_PROXY", std::move(value)}});
  if (warnings) *warnings = s.warnings;
  EXPECT_FALSE(s.https.has_value());
  return s.http;
}

// ---- warnings ------------------------------------------------------------------------------

TEST(UpstreamWarnings, OtherSchemesAreUnsupported) {
  for (const char* v : {"socks5://127.0.0.1:1080", "socks5h://proxy:1080", "socks4://proxy:1080",
                        "SOCKS5://proxy:1080", "ftp://proxy:21", "socks5://", "file:///tmp/x"}) {
    std::vector<std::string> w;
    EXPECT_FALSE(http_proxy(v, &w)) << v;
    EXPECT_EQ(w, std::vector<std::string>{unsupported("HTTP_PROXY")}) << v;
  }
  Settings s = read({{"https_proxy", "socks5://proxy:1080"}});
  EXPECT_EQ(s.warnings, std::vector<std::string>{unsupported("https_proxy")});
  EXPECT_FALSE(s.active());
}

TEST(UpstreamWarnings, UnparsableValuesAreInvalid) {
  for (const char* v : {
           "http://",                     // no host
           "http://:3128",                // empty host
           "https:///",                   // empty host, path
           "http://user:pw@",             // userinfo, no host
           "http://proxy:0",              // bad ports
           "http://proxy:65536",          //
           "http://proxy:-1",             //
           "http://proxy:03128",          //
           "http://proxy:abc",            //
           "http://proxy:",               //
           "http://proxy:3128/path",      // junk path, query, fragment
           "http://proxy:3128//",         //
           "http://proxy:3128/?",         //
           "http://proxy:3128?x=1",       //
           "http://proxy:3128#frag",      //
           "http://pro xy:3128",          // spaces and controls
           " http://proxy:3128",          //
           "http://proxy:3128 ",          //
           "http://proxy:3128\n",         //
           "http://proxy\t:3128",         //
           "proxy",                       // host:port needs the port
           "proxy.corp",                  //
           "proxy:",                      //
           "proxy:3128/x",                //
           "::1:3128",                    // IPv6 must be bracketed
           "http://::1:3128",             //
           "http://[::1",                 //
           "http://[::1]x:3128",          //
           "http://[1.2.3.4]:3128",       //
           "://proxy:3128",               // bad schemes
           "1http://proxy:3128",          //
           "ht_tp://proxy:3128",          //
           "http:proxy:3128",             //
           "http:/proxy:3128",            //
           "http://a..b:3128",            // bad hosts
           "http://1.2.3.999:3128",       //
           "http://exa*mple.com:3128",    //
           "http://us%zzer@proxy:3128",   // bad percent-encoding in userinfo
           "http://user:pw%4@proxy:3128"  //
       }) {
    std::vector<std::string> w;
    EXPECT_FALSE(http_proxy(v, &w)) << v;
    EXPECT_EQ(w, std::vector<std::string>{invalid("HTTP_PROXY")}) << v;
  }
}

TEST(UpstreamWarnings, OwnListenerText) {
  Settings v4 = read({{"HTTP_PROXY", "http://127.0.0.1:3128"}}, {own("127.0.0.1", 3128)});
  EXPECT_FALSE(v4.http);
  EXPECT_EQ(v4.warnings,
            std::vector<std::string>{"ignoring HTTP_PROXY: it points at netfence's own listener "
                                     "127.0.0.1:3128"});
  Settings v6 = read({{"https_proxy", "https://[::1]:8443"}}, {own("::1", 8443)});
  EXPECT_FALSE(v6.https);
  EXPECT_EQ(v6.warnings,
            std::vector<std::string>{"ignoring https_proxy: it points at netfence's own listener "
                                     "[::1]:8443"});
}

TEST(UpstreamWarnings, NoneForUnsetOrValid) {
  Settings s = read({});
  EXPECT_FALSE(s.active());
  EXPECT_TRUE(s.warnings.empty());
  EXPECT_TRUE(s.no_proxy.empty());
  s = read({{"HTTP_PROXY", "http://proxy:3128"}, {"NO_PROXY", "junk entry,*.,[,1.2.3.4/99"}});
  EXPECT_TRUE(s.warnings.empty());
}

// ---- variable choice -----------------------------------------------------------------------

TEST(UpstreamChoice, UpperCaseBeforeLowerCase) {
  Settings s = read({{"HTTP_PROXY", "upper:1"},
                     {"http_proxy", "lower:2"},
                     {"HTTPS_PROXY", "upper-s:3"},
                     {"https_proxy", "lower-s:4"}});
  ASSERT_TRUE(s.http && s.https);
  EXPECT_EQ(s.http->host.text, "upper");
  EXPECT_EQ(s.http->variable, "HTTP_PROXY");
  EXPECT_EQ(s.https->host.text, "upper-s");
  EXPECT_EQ(s.https->variable, "HTTPS_PROXY");

  s = read({{"http_proxy", "lower:2"}, {"https_proxy", "lower-s:4"}});
  ASSERT_TRUE(s.http && s.https);
  EXPECT_EQ(s.http->variable, "http_proxy");
  EXPECT_EQ(s.https->variable, "https_proxy");
  EXPECT_EQ(s.https->host.text, "lower-s");
}

TEST(UpstreamChoice, LowerCaseIsNotReadWhenUpperCaseIsUsable) {
  Settings s = read({{"HTTP_PROXY", "upper:1"}, {"http_proxy", "socks5://x:1"}});
  ASSERT_TRUE(s.http);
  EXPECT_EQ(s.http->variable, "HTTP_PROXY");
  EXPECT_TRUE(s.warnings.empty());
}

TEST(UpstreamChoice, IgnoredUpperCaseFallsBackToLowerCase) {
  Settings s = read({{"HTTP_PROXY", "socks5://x:1"}, {"http_proxy", "lower:2"}});
  ASSERT_TRUE(s.http);
  EXPECT_EQ(s.http->variable, "http_proxy");
  EXPECT_EQ(s.warnings, std::vector<std::string>{unsupported("HTTP_PROXY")});
}

TEST(UpstreamChoice, EmptyValuesCountAsUnset) {
  Settings s = read({{"HTTP_PROXY", ""}, {"http_proxy", "lower:2"}});
  ASSERT_TRUE(s.http);
  EXPECT_EQ(s.http->variable, "http_proxy");
  EXPECT_TRUE(s.warnings.empty());

  s = read({{"HTTPS_PROXY", ""}, {"https_proxy", ""}, {"ALL_PROXY", "all:9"}});
  ASSERT_TRUE(s.https);
  EXPECT_EQ(s.https->variable, "ALL_PROXY");

  s = read({{"HTTP_PROXY", ""}, {"HTTPS_PROXY", ""}, {"ALL_PROXY", ""}, {"all_proxy", ""}});
  EXPECT_FALSE(s.active());
  EXPECT_TRUE(s.warnings.empty());

  s = read({{"HTTP_PROXY", "p:1"}, {"NO_PROXY", ""}, {"no_proxy", "example.com"}});
  EXPECT_TRUE(s.no_proxy.matches(host("example.com"), 80));
}

TEST(UpstreamChoice, AllProxyServesBothKinds) {
  Settings s = read({{"ALL_PROXY", "http://all:9"}});
  ASSERT_TRUE(s.http && s.https);
  EXPECT_EQ(s.http->variable, "ALL_PROXY");
  EXPECT_EQ(s.https->variable, "ALL_PROXY");
  EXPECT_EQ(s.https->port, 9);

  s = read({{"all_proxy", "all:9"}});
  ASSERT_TRUE(s.http && s.https);
  EXPECT_EQ(s.http->variable, "all_proxy");
}

TEST(UpstreamChoice, AllProxyOnlyFillsWhatIsMissing) {
  Settings s = read({{"HTTP_PROXY", "web:1"}, {"ALL_PROXY", "all:9"}});
  ASSERT_TRUE(s.http && s.https);
  EXPECT_EQ(s.http->variable, "HTTP_PROXY");
  EXPECT_EQ(s.https->variable, "ALL_PROXY");

  s = read({{"https_proxy", "sec:2"}, {"all_proxy", "all:9"}});
  ASSERT_TRUE(s.http && s.https);
  EXPECT_EQ(s.http->variable, "all_proxy");
  EXPECT_EQ(s.https->variable, "https_proxy");

  s = read({{"HTTPS_PROXY", "sec:2"}});
  EXPECT_FALSE(s.http);
  ASSERT_TRUE(s.https);
  EXPECT_TRUE(s.active());
}

TEST(UpstreamChoice, IgnoredValueFallsBackToAllProxy) {
  Settings s = read({{"HTTPS_PROXY", "socks5://x:1"}, {"ALL_PROXY", "all:9"}});
  ASSERT_TRUE(s.https);
  EXPECT_EQ(s.https->variable, "ALL_PROXY");
  EXPECT_EQ(s.warnings, std::vector<std::string>{unsupported("HTTPS_PROXY")});

  s = read({{"HTTP_PROXY", "http://bad:0"}, {"ALL_PROXY", "all:9"}});
  ASSERT_TRUE(s.http);
  EXPECT_EQ(s.http->variable, "ALL_PROXY");
  EXPECT_EQ(s.warnings, std::vector<std::string>{invalid("HTTP_PROXY")});
}

TEST(UpstreamChoice, BadAllProxyWarnsOnce) {
  Settings s = read({{"ALL_PROXY", "socks5h://x:1"}});
  EXPECT_FALSE(s.active());
  EXPECT_EQ(s.warnings, std::vector<std::string>{unsupported("ALL_PROXY")});

  s = read({{"ALL_PROXY", "socks5h://x:1"}, {"all_proxy", "http://ok:3"}});
  ASSERT_TRUE(s.http && s.https);
  EXPECT_EQ(s.https->variable, "all_proxy");
  EXPECT_EQ(s.warnings, std::vector<std::string>{unsupported("ALL_PROXY")});
}

// ---- value forms ---------------------------------------------------------------------------

TEST(UpstreamValue, HostPortIsHttp) {
  auto p = http_proxy("Proxy.Corp.:3128");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->tls);
  EXPECT_EQ(p->host.text, "proxy.corp");
  EXPECT_EQ(p->host.kind, HostKind::name);
  EXPECT_EQ(p->port, 3128);
  EXPECT_EQ(p->display, "http://proxy.corp:3128");
  EXPECT_EQ(p->authorization, "");
  EXPECT_EQ(p->variable, "HTTP_PROXY");

  p = http_proxy("10.0.0.1:8080/");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host.kind, HostKind::ipv4);
  EXPECT_EQ(p->display, "http://10.0.0.1:8080");

  p = http_proxy("[2001:db8::1]:3128");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->display, "http://[2001:db8::1]:3128");
}

TEST(UpstreamValue, DefaultPorts) {
  auto p = http_proxy("http://proxy.corp");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->tls);
  EXPECT_EQ(p->port, 80);
  EXPECT_EQ(p->display, "http://proxy.corp:80");

  p = http_proxy("https://proxy.corp");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->tls);
  EXPECT_EQ(p->port, 443);
  EXPECT_EQ(p->display, "https://proxy.corp:443");

  p = http_proxy("https://proxy.corp:8443/");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->tls);
  EXPECT_EQ(p->port, 8443);
}

TEST(UpstreamValue, SchemeIsCaseInsensitive) {
  auto p = http_proxy("HTTP://proxy:3128/");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->tls);
  p = http_proxy("HtTpS://PROXY");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->tls);
  EXPECT_EQ(p->host.text, "proxy");
  EXPECT_EQ(p->display, "https://proxy:443");
}

TEST(UpstreamValue, HostsAreCanonical) {
  auto p = http_proxy("http://EXÄMPLE.com:1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host.text, "xn--exmple-cua.com");
  p = http_proxy("http://0x7f.1:1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host.text, "127.0.0.1");
  EXPECT_EQ(p->host.kind, HostKind::ipv4);
}

TEST(UpstreamValue, BracketedIpv6) {
  auto p = http_proxy("http://[2001:DB8:0:0:1:0:0:1]:3128");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host.kind, HostKind::ipv6);
  EXPECT_EQ(p->host.text, "2001:db8::1:0:0:1");
  EXPECT_EQ(p->display, "http://[2001:db8::1:0:0:1]:3128");

  p = http_proxy("https://[::1]");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->port, 443);
  EXPECT_EQ(p->display, "https://[::1]:443");

  p = http_proxy("http://[::ffff:10.0.0.1]:3128");  // mapped → IPv4 (SPEC §4)
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host.kind, HostKind::ipv4);
  EXPECT_EQ(p->display, "http://10.0.0.1:3128");
}

TEST(UpstreamValue, UserinfoBecomesBasicCredentials) {
  auto p = http_proxy("http://alice:s3cret@proxy:3128");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authorization, "Basic YWxpY2U6czNjcmV0");  // alice:s3cret
  EXPECT_EQ(p->display, "http://proxy:3128");             // never the credentials
  EXPECT_EQ(p->host.text, "proxy");

  p = http_proxy("https://al%69ce:p%40ss%3Aw0rd@proxy/");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authorization, "Basic YWxpY2U6cEBzczp3MHJk");  // alice:p@ss:w0rd
  EXPECT_EQ(p->display, "https://proxy:443");

  p = http_proxy("http://alice@proxy:3128");  // user without password
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authorization, "Basic YWxpY2U6");  // alice:

  p = http_proxy("http://alice:p@ss@proxy:3128");  // the last '@' ends the userinfo
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authorization, "Basic YWxpY2U6cEBzcw==");  // alice:p@ss
  EXPECT_EQ(p->host.text, "proxy");

  p = http_proxy("http://%C3%BC:x@[::1]:3128");  // UTF-8 user
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authorization, "Basic w7w6eA==");
  EXPECT_EQ(p->display, "http://[::1]:3128");

  p = http_proxy("http://:pw@proxy:3128");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authorization, "Basic OnB3");  // :pw

  p = http_proxy("http://@proxy:3128");  // empty userinfo: no credentials
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authorization, "");

  p = http_proxy("alice:s3cret@proxy:3128");  // host:port form, read as an http URL
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authorization, "Basic YWxpY2U6czNjcmV0");
  EXPECT_EQ(p->display, "http://proxy:3128");
}

// ---- loop protection -----------------------------------------------------------------------

TEST(UpstreamLoop, OwnListenerIsIgnored) {
  const std::vector<OwnListener> mine{own("127.0.0.1", 3128)};
  for (const char* v :
       {"http://127.0.0.1:3128", "127.0.0.1:3128", "localhost:3128", "http://LOCALHOST.:3128/",
        "http://127.1:3128", "https://127.0.0.1:3128", "http://[::ffff:127.0.0.1]:3128"}) {
    Settings s = read({{"HTTP_PROXY", v}}, mine);
    EXPECT_FALSE(s.http) << v;
    EXPECT_EQ(s.warnings,
              std::vector<std::string>{"ignoring HTTP_PROXY: it points at netfence's own listener "
                                       "127.0.0.1:3128"})
        << v;
  }
}

TEST(UpstreamLoop, OtherPortsAndHostsAreKept) {
  const std::vector<OwnListener> mine{own("127.0.0.1", 3128)};
  for (const char* v : {"http://127.0.0.1:3129", "localhost:8080", "http://127.0.0.2:3128",
                        "http://[::1]:3128", "http://localhost", "proxy.corp:3128"}) {
    Settings s = read({{"HTTP_PROXY", v}}, mine);
    EXPECT_TRUE(s.http) << v;
    EXPECT_TRUE(s.warnings.empty()) << v;
  }
}

TEST(UpstreamLoop, LocalhostAndIpv6Listeners) {
  Settings s = read({{"HTTP_PROXY", "localhost:3128"}}, {own("::1", 3128)});
  EXPECT_FALSE(s.http);
  EXPECT_EQ(s.warnings,
            std::vector<std::string>{
                "ignoring HTTP_PROXY: it points at netfence's own listener [::1]:3128"});
  // Several listeners: the one that matches is named.
  s = read({{"HTTPS_PROXY", "http://10.1.2.3:1080"}},
           {own("127.0.0.1", 3128), own("10.1.2.3", 1080)});
  EXPECT_FALSE(s.https);
  EXPECT_EQ(s.warnings, std::vector<std::string>{"ignoring HTTPS_PROXY: it points at netfence's "
                                                 "own listener 10.1.2.3:1080"});
}

TEST(UpstreamLoop, WildcardListenerCoversLoopback) {
  Settings s = read({{"HTTP_PROXY", "http://127.0.0.1:3128"}}, {own("0.0.0.0", 3128)});
  EXPECT_FALSE(s.http);
  EXPECT_EQ(s.warnings, std::vector<std::string>{"ignoring HTTP_PROXY: it points at netfence's "
                                                 "own listener 0.0.0.0:3128"});
  s = read({{"HTTP_PROXY", "localhost:3128"}}, {own("::", 3128)});
  EXPECT_FALSE(s.http);
  s = read({{"HTTP_PROXY", "http://[::1]:3128"}}, {own("0.0.0.0", 3128)});
  EXPECT_TRUE(s.http);  // an IPv4 wildcard does not listen on ::1
}

TEST(UpstreamLoop, LoopFallsBackToTheNextVariable) {
  Settings s = read({{"HTTPS_PROXY", "localhost:3128"}, {"ALL_PROXY", "proxy.corp:3128"}},
                    {own("127.0.0.1", 3128)});
  ASSERT_TRUE(s.https);
  EXPECT_EQ(s.https->variable, "ALL_PROXY");
  EXPECT_EQ(s.https->host.text, "proxy.corp");
  EXPECT_EQ(s.warnings.size(), 1u);
}

// ---- NO_PROXY ------------------------------------------------------------------------------

bool no_proxy(std::string_view list, std::string_view target, std::uint16_t port = 443) {
  return NoProxy::parse(list).matches(host(target), port);
}

TEST(UpstreamNoProxy, Star) {
  EXPECT_TRUE(no_proxy("*", "example.com"));
  EXPECT_TRUE(no_proxy("*", "10.0.0.1", 80));
  EXPECT_TRUE(no_proxy("*", "::1"));
  EXPECT_TRUE(no_proxy("foo.com, * ", "example.com"));
  EXPECT_FALSE(NoProxy::parse("*").empty());
}

TEST(UpstreamNoProxy, NamesMatchThemselvesAndSubdomains) {
  EXPECT_TRUE(no_proxy("example.com", "example.com"));
  EXPECT_TRUE(no_proxy("example.com", "www.example.com"));
  EXPECT_TRUE(no_proxy("example.com", "a.b.example.com"));
  EXPECT_FALSE(no_proxy("example.com", "evil-example.com"));
  EXPECT_FALSE(no_proxy("example.com", "example.com.evil.net"));
  EXPECT_FALSE(no_proxy("example.com", "xample.com"));
  EXPECT_FALSE(no_proxy("www.example.com", "example.com"));
  EXPECT_FALSE(no_proxy("example.com", "example.org"));
}

TEST(UpstreamNoProxy, LeadingDotIsIgnored) {
  EXPECT_TRUE(no_proxy(".example.com", "example.com"));
  EXPECT_TRUE(no_proxy(".example.com", "www.example.com"));
  EXPECT_FALSE(no_proxy(".example.com", "evil-example.com"));
  EXPECT_TRUE(no_proxy("*.example.com", "www.example.com"));  // the common spelling
  EXPECT_FALSE(no_proxy("*.example.com", "evilexample.com"));
  EXPECT_FALSE(no_proxy("..example.com", "example.com"));  // empty label: junk
}

TEST(UpstreamNoProxy, NamesAreCanonical) {
  EXPECT_TRUE(no_proxy("EXAMPLE.Com.", "www.example.com"));
  EXPECT_TRUE(no_proxy("example.com", "WWW.EXAMPLE.COM"));
  EXPECT_TRUE(no_proxy("exämple.com", "www.xn--exmple-cua.com"));
  EXPECT_TRUE(no_proxy("xn--exmple-cua.com", "EXÄMPLE.com"));
  EXPECT_TRUE(no_proxy("ｅｘａｍｐｌｅ．ｃｏｍ", "example.com"));
}

TEST(UpstreamNoProxy, NamesDoNotMatchIpTargets) {
  EXPECT_FALSE(no_proxy("localhost", "127.0.0.1"));
  EXPECT_TRUE(no_proxy("localhost", "localhost"));
}

TEST(UpstreamNoProxy, Ipv4SingleAndCidr) {
  EXPECT_TRUE(no_proxy("10.0.0.1", "10.0.0.1"));
  EXPECT_FALSE(no_proxy("10.0.0.1", "10.0.0.2"));
  EXPECT_TRUE(no_proxy("10.0.0.0/8", "10.255.1.2"));
  EXPECT_FALSE(no_proxy("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(no_proxy("192.168.1.0/24", "192.168.1.200"));
  EXPECT_FALSE(no_proxy("192.168.1.0/24", "192.168.2.1"));
  EXPECT_TRUE(no_proxy("10.1.2.3/8", "10.9.9.9"));  // host bits are ignored
  EXPECT_TRUE(no_proxy("0.0.0.0/0", "8.8.8.8"));
  EXPECT_FALSE(no_proxy("0.0.0.0/0", "::1"));
  EXPECT_TRUE(no_proxy("127.1", "127.0.0.1"));  // inet_aton spelling as a single address
  EXPECT_TRUE(no_proxy("10.0.0.0/8", "[::ffff:10.0.0.1]"));
  EXPECT_FALSE(no_proxy("10.0.0.0/8", "ten.example"));
}

TEST(UpstreamNoProxy, Ipv6SingleAndCidr) {
  EXPECT_TRUE(no_proxy("::1", "::1"));
  EXPECT_TRUE(no_proxy("[::1]", "[0:0:0:0:0:0:0:1]"));
  EXPECT_FALSE(no_proxy("::1", "::2"));
  EXPECT_TRUE(no_proxy("fd00::/8", "fd12:3456::1"));
  EXPECT_FALSE(no_proxy("fd00::/8", "fe80::1"));
  EXPECT_TRUE(no_proxy("[fd00::]/8", "fdff::1"));
  EXPECT_TRUE(no_proxy("2001:DB8::/32", "2001:db8:ffff::1"));
  EXPECT_FALSE(no_proxy("2001:db8::/32", "2001:db9::1"));
  EXPECT_TRUE(no_proxy("fe80::/10", "fe80::1%eth0"));
  EXPECT_FALSE(no_proxy("fd00::/8", "10.0.0.1"));
  EXPECT_TRUE(no_proxy("::ffff:10.0.0.0/104", "10.1.2.3"));  // mapped CIDR covers IPv4
  EXPECT_TRUE(no_proxy("::/0", "2600::1"));
}

TEST(UpstreamNoProxy, Ports) {
  EXPECT_TRUE(no_proxy("example.com:8080", "example.com", 8080));
  EXPECT_TRUE(no_proxy("example.com:8080", "www.example.com", 8080));
  EXPECT_FALSE(no_proxy("example.com:8080", "example.com", 443));
  EXPECT_TRUE(no_proxy("[::1]:443", "::1", 443));
  EXPECT_FALSE(no_proxy("[::1]:443", "::1", 80));
  EXPECT_TRUE(no_proxy("10.0.0.1:80", "10.0.0.1", 80));
  EXPECT_FALSE(no_proxy("10.0.0.1:80", "10.0.0.1", 81));
  EXPECT_TRUE(no_proxy("10.0.0.0/8:80", "10.2.3.4", 80));
  EXPECT_FALSE(no_proxy("10.0.0.0/8:80", "10.2.3.4", 443));
  EXPECT_TRUE(no_proxy(".example.com:8080", "a.example.com", 8080));
  EXPECT_TRUE(no_proxy("example.com", "example.com", 1));  // no port: every port
  // Bad ports make the entry junk.
  EXPECT_FALSE(no_proxy("example.com:0", "example.com", 443));
  EXPECT_FALSE(no_proxy("example.com:99999", "example.com", 443));
  EXPECT_FALSE(no_proxy("10.0.0.0/8:x", "10.0.0.1", 443));
}

TEST(UpstreamNoProxy, SpacesAndEmptyEntries) {
  EXPECT_TRUE(no_proxy(" example.com ,\tfoo.org\t", "foo.org"));
  EXPECT_TRUE(no_proxy(",,example.com,,", "example.com"));
  EXPECT_TRUE(no_proxy("a.com,  , ,10.0.0.0/8", "10.0.0.1"));
  EXPECT_TRUE(NoProxy::parse("").empty());
  EXPECT_TRUE(NoProxy::parse(" , ,, ").empty());
  EXPECT_FALSE(NoProxy::parse("").matches(host("example.com"), 443));
}

TEST(UpstreamNoProxy, JunkEntriesAreIgnored) {
  const NoProxy np = NoProxy::parse(
      "ex ample.com,exa*mple.com,1.2.3.999,10.0.0.0/33,fd00::/129,10.0.0.0/,/8,[,[::1,"
      "http://example.org,a..b,.,*.,**,10.0.0.0/8x,::1/-1,example.org/8,good.net");
  EXPECT_FALSE(np.empty());
  EXPECT_TRUE(np.matches(host("good.net"), 443));
  EXPECT_FALSE(np.matches(host("example.org"), 443));
  EXPECT_FALSE(np.matches(host("10.0.0.1"), 443));
  EXPECT_FALSE(np.matches(host("fd00::1"), 443));
  EXPECT_FALSE(np.matches(host("::1"), 443));
  EXPECT_FALSE(np.matches(host("1.2.3.4"), 443));
  EXPECT_TRUE(NoProxy::parse("ex ample.com,1.2.3.999,:80").empty());
}

TEST(UpstreamNoProxy, FromTheEnvironment) {
  Settings s = read({{"no_proxy", "internal.corp"}, {"HTTPS_PROXY", "p:1"}});
  EXPECT_TRUE(s.no_proxy.matches(host("git.internal.corp"), 443));
  s = read({{"NO_PROXY", "upper.corp"}, {"no_proxy", "lower.corp"}});
  EXPECT_TRUE(s.no_proxy.matches(host("upper.corp"), 443));
  EXPECT_FALSE(s.no_proxy.matches(host("lower.corp"), 443));
}

// ---- choose() ------------------------------------------------------------------------------

TEST(UpstreamChoose, SecureAndInsecureTargets) {
  Settings s = read({{"HTTP_PROXY", "web:1"}, {"HTTPS_PROXY", "https://sec:2"}});
  const ProxyEndpoint* p = s.choose(false, host("example.com"), 80);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->host.text, "web");
  EXPECT_EQ(p, &*s.http);
  p = s.choose(true, host("example.com"), 443);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->host.text, "sec");
  EXPECT_TRUE(p->tls);
  EXPECT_EQ(p, &*s.https);
}

TEST(UpstreamChoose, MissingKindIsDirect) {
  Settings s = read({{"HTTP_PROXY", "web:1"}});
  EXPECT_NE(s.choose(false, host("example.com"), 80), nullptr);
  EXPECT_EQ(s.choose(true, host("example.com"), 443), nullptr);
  s = read({{"https_proxy", "sec:2"}});
  EXPECT_EQ(s.choose(false, host("example.com"), 80), nullptr);
  EXPECT_NE(s.choose(true, host("example.com"), 443), nullptr);
  s = read({});
  EXPECT_EQ(s.choose(false, host("example.com"), 80), nullptr);
  EXPECT_EQ(s.choose(true, host("example.com"), 443), nullptr);
}

TEST(UpstreamChoose, NoProxyMakesItDirect) {
  Settings s =
      read({{"ALL_PROXY", "all:9"}, {"NO_PROXY", "internal.corp, 10.0.0.0/8, example.com:8443"}});
  EXPECT_EQ(s.choose(true, host("git.internal.corp"), 443), nullptr);
  EXPECT_EQ(s.choose(false, host("internal.corp"), 80), nullptr);
  EXPECT_EQ(s.choose(false, host("10.1.1.1"), 80), nullptr);
  EXPECT_EQ(s.choose(true, host("example.com"), 8443), nullptr);
  EXPECT_NE(s.choose(true, host("example.com"), 443), nullptr);
  EXPECT_NE(s.choose(true, host("evil-internal.corp"), 443), nullptr);
  EXPECT_NE(s.choose(false, host("11.0.0.1"), 80), nullptr);

  s = read({{"ALL_PROXY", "all:9"}, {"no_proxy", "*"}});
  EXPECT_TRUE(s.active());
  EXPECT_EQ(s.choose(true, host("example.com"), 443), nullptr);
  EXPECT_EQ(s.choose(false, host("example.com"), 80), nullptr);
}

// ---- the process environment ---------------------------------------------------------------

TEST(UpstreamEnvironment, ReadsGetenv) {
  ASSERT_EQ(::setenv("NETFENCE_UPSTREAM_TEST_VAR", "http://proxy:3128", 1), 0);
  ::unsetenv("NETFENCE_UPSTREAM_TEST_UNSET");
  EnvLookup env = process_environment();
  EXPECT_EQ(env("NETFENCE_UPSTREAM_TEST_VAR"), "http://proxy:3128");
  EXPECT_EQ(env("NETFENCE_UPSTREAM_TEST_UNSET"), std::nullopt);
  ::unsetenv("NETFENCE_UPSTREAM_TEST_VAR");
}

}  // namespace
}  // namespace netfence::upstream
