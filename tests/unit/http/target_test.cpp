#include "http/wire/target.hpp"

#include <gtest/gtest.h>

#include <string>

#include "grind.hpp"

namespace netfence::http {
namespace {

std::string absolute(std::string_view target) {
  const auto r = parse_absolute_target(target);
  if (!r) return std::to_string(r.error().status) + " " + std::string(r.error().body);
  return r->scheme + " " + r->host.text + " " + std::to_string(r->port) +
         (r->port_explicit ? "!" : "") + " " + r->origin_form;
}

std::string connect(std::string_view target) {
  const auto r = parse_connect_target(target);
  if (!r) return std::to_string(r.error().status) + " " + std::string(r.error().body);
  return r->host.text + " " + std::to_string(r->port.value_or(0));
}

TEST(Target, Classify) {
  EXPECT_EQ(classify_target("*"), TargetForm::asterisk);
  EXPECT_EQ(classify_target("/"), TargetForm::origin);
  EXPECT_EQ(classify_target("/a?b"), TargetForm::origin);
  EXPECT_EQ(classify_target("http://example.com/"), TargetForm::absolute);
  EXPECT_EQ(classify_target("HTTPS://example.com"), TargetForm::absolute);
  EXPECT_EQ(classify_target("ftp://example.com/"), TargetForm::absolute);
  EXPECT_EQ(classify_target("example.com:443"), TargetForm::authority);
  EXPECT_EQ(classify_target("localhost:80"), TargetForm::authority);
  EXPECT_EQ(classify_target("[::1]:443"), TargetForm::authority);
  EXPECT_EQ(classify_target("**"), TargetForm::authority);
  EXPECT_EQ(classify_target(""), TargetForm::authority);
}

TEST(Target, AbsoluteValid) {
  EXPECT_EQ(absolute("http://example.com/"), "http example.com 80 /");
  EXPECT_EQ(absolute("http://example.com"), "http example.com 80 /");
  EXPECT_EQ(absolute("HTTP://Example.COM:8080/a/b?c=d&e"), "http example.com 8080! /a/b?c=d&e");
  EXPECT_EQ(absolute("http://example.com?q=1"), "http example.com 80 /?q=1");
  EXPECT_EQ(absolute("http://example.com:80/"), "http example.com 80! /");
  EXPECT_EQ(absolute("https://example.com/x"), "https example.com 443 /x");
  EXPECT_EQ(absolute("ws://example.com/chat"), "ws example.com 80 /chat");
  EXPECT_EQ(absolute("WsS://example.com:65535"), "wss example.com 65535! /");
  EXPECT_EQ(absolute("http://example.com./"), "http example.com 80 /");
  EXPECT_EQ(absolute("http://127.1/"), "http 127.0.0.1 80 /");
  EXPECT_EQ(absolute("http://[::1]:8080/"), "http ::1 8080! /");
  EXPECT_EQ(absolute("http://[fe80::1%25eth0]/"), "http fe80::1%eth0 80 /");
  EXPECT_EQ(absolute("http://example.com/%2e%2e/a"), "http example.com 80 /%2e%2e/a");
  const auto r = parse_absolute_target("https://example.com:8443/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->default_port, 443);
}

TEST(Target, RequestLineDifferentials) {
  // §18 row 9.
  const std::string bad_target = "400 invalid request target";
  EXPECT_EQ(absolute("http://example.com@evil.net/"), bad_target);
  EXPECT_EQ(absolute("http://user:pass@example.com/"), bad_target);
  EXPECT_EQ(absolute("http://evil.net#@example.com/"), bad_target);
  EXPECT_EQ(absolute("http://evil.net\\@example.com/"), bad_target);
  EXPECT_EQ(absolute("ftp://example.com/"), "400 unsupported URL scheme");
  for (const char* port : {"0", "65536", "+443", "0443", "-1", "", "abc", "80a", "99999999"}) {
    EXPECT_EQ(absolute("http://example.com:" + std::string(port) + "/"), bad_target) << port;
  }
}

TEST(Target, AbsoluteInvalid) {
  const std::string bad_target = "400 invalid request target";
  for (const char* t : {"http://example.com/#frag", "http://example.com/a\\b", "http:/example.com/",
                        "http:example.com", "http://", "http:///", "http://:80/", "http://?q",
                        "http://exa mple.com/", "http://example.com/ a", "http://example.com/\x01",
                        "http://example.com/\xC3\xA4", "http://example.com/\x7F", "://example.com/",
                        "1http://example.com/", "", "*", "http://[::1]@evil/", "http://a@/"}) {
    EXPECT_EQ(absolute(t), bad_target) << testing::PrintToString(std::string(t));
  }
  for (const char* t :
       {"ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "httpx://example.com/",
        "data:text/plain,hi", "javascript://x", "h2c://example.com/"}) {
    EXPECT_EQ(absolute(t), "400 unsupported URL scheme") << t;
  }
}

TEST(Target, AbsoluteInvalidHost) {
  // §18 rows 5 and 7.
  for (const char* t :
       {"http://example.com:443.evil.net/", "http://example.com%2eevil.net/",
        "http://example.com%00.evil.net/", "http://1.2.3.999/", "http://a..b/", "http://::1/",
        "http://[::1/", "http://[::1]x/", "http://[]/", "http://[::ffff:1.2.3.4%x.allowed.com]/",
        "http://[fd00::1%25eth0]/", "http://exa_mple!.com/", "http://256.1.1.1/",
        "http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com/"}) {
    EXPECT_EQ(absolute(t), "400 invalid host") << t;
  }
}

// §18 row 8: a U-label authority reaches §4 canonicalisation; invalid UTF-8 is a bad host.
TEST(Target, NonAsciiAuthority) {
  EXPECT_EQ(connect("ex\xC3\xA4mple.com:443"), "xn--exmple-cua.com 443");
  EXPECT_EQ(connect("EX\xC3\x84MPLE.com:443"), "xn--exmple-cua.com 443");
  EXPECT_EQ(connect("ex\xC3mple.com:443"), "400 invalid host");
  EXPECT_EQ(connect("ex\xFF.com:443"), "400 invalid host");
  EXPECT_EQ(absolute("http://ex\xC3\xA4mple.com/"), absolute("http://xn--exmple-cua.com/"));
  EXPECT_EQ(absolute("http://ex\xC3mple.com/"), "400 invalid host");
  EXPECT_EQ(absolute("http://ex\xC3\xA4mple.com/\xC3\xA4"), "400 invalid request target");
}

TEST(Target, Connect) {
  EXPECT_EQ(connect("example.com:443"), "example.com 443");
  EXPECT_EQ(connect("EXAMPLE.com.:8443"), "example.com 8443");
  EXPECT_EQ(connect("[::1]:443"), "::1 443");
  EXPECT_EQ(connect("[::ffff:127.0.0.1]:443"), "127.0.0.1 443");
  EXPECT_EQ(connect("2130706433:443"), "127.0.0.1 443");
  // §18 row 11.
  const std::string bad = "400 invalid CONNECT target";
  EXPECT_EQ(connect("example.com"), bad);
  EXPECT_EQ(connect("::1:443"), bad);
  EXPECT_EQ(connect("example.com:443@evil.net:443"), bad);
  for (const char* t : {"http://example.com:443",
                        "example.com:443/",
                        "example.com:443/x",
                        "example.com:443?x",
                        "example.com:443#x",
                        "example.com:0",
                        "example.com:65536",
                        "example.com:+443",
                        "example.com:0443",
                        "example.com:-1",
                        "example.com:",
                        ":443",
                        "[::1]",
                        "[::1]443",
                        "[::1]:",
                        "user@example.com:443",
                        "exa mple.com:443",
                        "example.com :443",
                        "example.com:443 ",
                        "",
                        "*",
                        "/",
                        "example.com:%34%34%33",
                        "example.com\\:443",
                        "ex\x7Fmple.com:443"}) {
    EXPECT_EQ(connect(t), bad) << testing::PrintToString(std::string(t));
  }
  // A structurally correct target whose host fails §4 (§18 row 7).
  for (const char* t : {"example.com%2eevil.net:443", "1.2.3.999:443", "example.com:443.evil.net",
                        "[fd00::1%25eth0]:443", "a..b:443", "[::1x]:443"}) {
    EXPECT_EQ(connect(t), "400 invalid host") << t;
  }
}

core::CanonicalHost canon(std::string_view h) {
  auto r = core::canonicalize_host(h);
  EXPECT_TRUE(r.ok()) << h;
  return r.ok() ? r.value() : core::CanonicalHost{};
}

std::string host_check(std::vector<std::string> values, std::string_view target_host,
                       std::uint16_t port, std::uint16_t default_port) {
  Headers h;
  h.add("Accept", "*/*");
  for (auto& v : values) h.add("Host", v);
  const auto e = check_host_header(h, canon(target_host), port, default_port);
  return e ? std::to_string(e->status) + " " + std::string(e->body) : "ok";
}

TEST(Target, HostHeader) {
  // §18 row 10.
  const std::string mismatch = "400 Host header does not match request target";
  const std::string invalid = "400 invalid Host header";
  EXPECT_EQ(host_check({}, "example.com", 80, 80), "ok");
  EXPECT_EQ(host_check({"example.com"}, "example.com", 80, 80), "ok");
  EXPECT_EQ(host_check({"Example.COM"}, "example.com", 80, 80), "ok");
  EXPECT_EQ(host_check({"example.com."}, "example.com", 80, 80), "ok");
  EXPECT_EQ(host_check({"example.com:80"}, "example.com", 80, 80), "ok");
  EXPECT_EQ(host_check({"example.com:8080"}, "example.com", 8080, 80), "ok");
  EXPECT_EQ(host_check({"example.com"}, "example.com", 443, 443), "ok");
  EXPECT_EQ(host_check({"[::1]:8080"}, "::1", 8080, 80), "ok");
  EXPECT_EQ(host_check({"127.1"}, "127.0.0.1", 80, 80), "ok");
  EXPECT_EQ(host_check({"evil.net"}, "example.com", 80, 80), mismatch);
  EXPECT_EQ(host_check({"example.com:8080"}, "example.com", 80, 80), mismatch);
  EXPECT_EQ(host_check({"example.com"}, "example.com", 8080, 80), mismatch);
  EXPECT_EQ(host_check({"example.com:443"}, "example.com", 80, 80), mismatch);
  EXPECT_EQ(host_check({"example.com", "example.com"}, "example.com", 80, 80), invalid);
  EXPECT_EQ(host_check({"exa mple.com"}, "example.com", 80, 80), invalid);
  EXPECT_EQ(host_check({""}, "example.com", 80, 80), invalid);
  EXPECT_EQ(host_check({"::1"}, "::1", 80, 80), invalid);
  EXPECT_EQ(host_check({"example.com:0"}, "example.com", 80, 80), invalid);
  EXPECT_EQ(host_check({"example.com:443.evil.net"}, "example.com", 443, 80), invalid);
  EXPECT_EQ(host_check({"user@example.com"}, "example.com", 80, 80), invalid);
}

TEST(Target, HostHeaderEndToEnd) {
  // Duplicate Host never reaches the check: the head parser refuses it (§8.1).
  EXPECT_EQ(test::grind_request("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n"
                                "Host: evil.net\r\n\r\n"),
            "error 400 malformed request");
  RequestHeadParser p;
  ASSERT_EQ(p.feed("GET http://example.com/ HTTP/1.1\r\nHost: example.com.\r\n\r\n").status,
            ParseStatus::done);
  const auto t = parse_absolute_target(p.head().target);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(check_host_header(p.head().headers, t->host, t->port, t->default_port).has_value());
}

TEST(Target, FormatAuthority) {
  EXPECT_EQ(format_authority(canon("example.com"), 80, 80), "example.com");
  EXPECT_EQ(format_authority(canon("example.com"), 8080, 80), "example.com:8080");
  EXPECT_EQ(format_authority(canon("[::1]"), 443, 443), "[::1]");
  EXPECT_EQ(format_authority(canon("[::1]"), 8443, 443), "[::1]:8443");
  EXPECT_EQ(format_authority(canon("[fe80::1%25eth0]"), 80, 80), "[fe80::1%25eth0]");
  EXPECT_EQ(format_authority(canon("127.1"), 81, 80), "127.0.0.1:81");
  // Round trip: the formatted authority parses back to the same host and port.
  const auto back = core::parse_host_port(format_authority(canon("[fe80::1%eth0]"), 8080, 80),
                                          core::HostSource::http);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->host.text, "fe80::1%eth0");
  EXPECT_EQ(back->port, 8080);
}

}  // namespace
}  // namespace netfence::http
