#include "policy/pattern.hpp"

#include <gtest/gtest.h>

#include "core/host.hpp"

namespace netfence::policy {
namespace {

bool match(std::string_view pattern, std::string_view host) {
  auto p = compile_pattern(pattern, PatternList::allowed);
  EXPECT_TRUE(p.ok()) << pattern << ": " << (p.ok() ? "" : p.error().message);
  auto h = core::canonicalize_host(host);
  EXPECT_TRUE(h.ok()) << host << ": " << (h.ok() ? "" : h.error().message);
  if (!p.ok() || !h.ok()) return false;
  return p->pattern.matches(*h);
}

std::string error_of(std::string_view pattern, PatternList list = PatternList::allowed) {
  auto p = compile_pattern(pattern, list);
  return p.ok() ? "<ok: " + p->pattern.text() + ">" : p.error().message;
}

// SPEC §5 table, rows 1–25.
TEST(Pattern, SpecTableRows) {
  EXPECT_TRUE(match("example.com", "example.com"));                             // 1
  EXPECT_TRUE(match("example.com", "EXAMPLE.com."));                            // 2
  EXPECT_TRUE(match("*.example.com", "www.example.com"));                       // 3
  EXPECT_TRUE(match("*.example.com", "a.b.example.com"));                       // 4
  EXPECT_FALSE(match("*.example.com", "example.com"));                          // 5
  EXPECT_FALSE(match("*.example.com", "evilexample.com"));                      // 6
  EXPECT_FALSE(match("*.example.com", "example.com.evil.net"));                 // 7
  EXPECT_TRUE(match("*.example.com", "_acme-challenge.example.com"));           // 8
  EXPECT_TRUE(match("**.example.com", "example.com"));                          // 9
  EXPECT_TRUE(match("*", "anything.test"));                                     // 10
  EXPECT_TRUE(match("*", "10.0.0.1"));                                          // 11
  EXPECT_TRUE(match("region*.v2.example.net", "region1.v2.example.net"));       // 12
  EXPECT_TRUE(match("region*.v2.example.net", "region.v2.example.net"));        // 13
  EXPECT_FALSE(match("region*.v2.example.net", "region.evil.v2.example.net"));  // 14
  EXPECT_TRUE(match("api-?.example.com", "api-1.example.com"));                 // 15
  EXPECT_FALSE(match("api-?.example.com", "api-12.example.com"));               // 16
  EXPECT_TRUE(match("api.*.example.com", "api.eu.example.com"));                // 17
  EXPECT_FALSE(match("api.*.example.com", "api.a.b.example.com"));              // 18
  EXPECT_TRUE(match("example.com:8443", "example.com"));                        // 19
  EXPECT_TRUE(match("xn--exmple-cua.com", "exämple.com"));                      // 20
  EXPECT_TRUE(match("exämple.com", "xn--exmple-cua.com"));                      // 21
  EXPECT_TRUE(match("127.0.0.1", "0x7f.1"));                                    // 22
  EXPECT_TRUE(match("::1", "[0:0:0:0:0:0:0:1]"));                               // 23
  EXPECT_TRUE(match("fe80::1", "fe80::1%eth1"));                                // 24
  EXPECT_FALSE(match("fe80::1%eth0", "fe80::1%eth1"));                          // 24
  EXPECT_TRUE(match("fe80::1%eth0", "fe80::1%eth0"));
  EXPECT_FALSE(compile_pattern("*.1.2.3", PatternList::allowed).ok());  // 25
}

TEST(Pattern, ApexAndSubdomainsAtAnyDepth) {
  EXPECT_TRUE(match("**.example.com", "a.b.c.example.com"));
  EXPECT_FALSE(match("**.example.com", "notexample.com"));
}

TEST(Pattern, NormalisedText) {
  auto text = [](std::string_view p) {
    auto c = compile_pattern(p, PatternList::allowed);
    return c.ok() ? c->pattern.text() : "<error>";
  };
  EXPECT_EQ(text("  Example.COM. "), "example.com");
  EXPECT_EQ(text("*.EXÄMPLE.com"), "*.xn--exmple-cua.com");
  EXPECT_EQ(text("0x7f.1"), "127.0.0.1");
  EXPECT_EQ(text("[::1]"), "::1");
  EXPECT_EQ(text("API-?.Example.com"), "api-?.example.com");
  EXPECT_EQ(text("**.example.com"), "**.example.com");
  EXPECT_EQ(text("*"), "*");
}

TEST(Pattern, PortIsIgnoredAndReported) {
  auto c = compile_pattern("example.com:8443", PatternList::allowed);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->port_ignored);
  EXPECT_EQ(c->pattern.text(), "example.com");
  auto w = compile_pattern("*.example.com:443", PatternList::denied);
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->port_ignored);
  EXPECT_FALSE(compile_pattern("example.com", PatternList::allowed)->port_ignored);
}

TEST(Pattern, WildcardsNeverMatchIpLiterals) {
  EXPECT_FALSE(compile_pattern("*.1", PatternList::allowed).ok());
  EXPECT_FALSE(match("**.example.com", "127.0.0.1"));
  EXPECT_FALSE(match("api.*.example.com", "::1"));
}

TEST(Pattern, ValidationErrors) {
  EXPECT_EQ(error_of("exa mple.com"), "invalid pattern \"exa mple.com\": contains a space");
  EXPECT_EQ(error_of(""), "invalid pattern \"\": empty pattern");
  EXPECT_EQ(
      error_of("a.**.example.com"),
      "invalid pattern \"a.**.example.com\": \"**\" is allowed only as the whole first label");
  EXPECT_EQ(error_of("a**.example.com"),
            "invalid pattern \"a**.example.com\": \"**\" is allowed only as the whole first label");
  EXPECT_EQ(error_of("*."), "invalid pattern \"*.\": nothing after \"*.\"");
  EXPECT_EQ(error_of("**."), "invalid pattern \"**.\": nothing after \"*.\"");
  EXPECT_EQ(error_of("*.1.2.3"),
            "invalid pattern \"*.1.2.3\": wildcards cannot be used in an IP address");
  EXPECT_EQ(error_of("10.0.0.*"),
            "invalid pattern \"10.0.0.*\": wildcards cannot be used in an IP address");
  EXPECT_EQ(error_of("*.0x10"),
            "invalid pattern \"*.0x10\": wildcards cannot be used in an IP address");
  // Full-width digits become ASCII digits under IDNA; the IP check sees the normalised label
  // (fuzz_pattern found "**.example.\uFF16" compiling to text that no longer compiled).
  EXPECT_EQ(error_of("**.example.\xEF\xBC\x96"),
            "invalid pattern \"**.example.\xEF\xBC\x96\": wildcards cannot be used in an IP "
            "address");
  EXPECT_EQ(error_of("*.\xEF\xBC\x91.\xEF\xBC\x92"),
            "invalid pattern \"*.\xEF\xBC\x91.\xEF\xBC\x92\": wildcards cannot be used in an "
            "IP address");
  for (auto glob : {"[ab].example.com", "{a,b}.example.com", "!example.com", "a[b.com"}) {
    EXPECT_NE(error_of(glob).find("glob syntax"), std::string::npos) << glob;
  }
  EXPECT_NE(error_of("exa/mple.com").find("invalid pattern"), std::string::npos);
  EXPECT_NE(error_of("a..b.com").find("invalid pattern"), std::string::npos);
  EXPECT_NE(error_of("*.a..b.com").find("empty label"), std::string::npos);
  EXPECT_NE(error_of("ex@mple*.com").find("invalid pattern"), std::string::npos);
  EXPECT_NE(error_of("example.com:0").find("invalid pattern"), std::string::npos);
  EXPECT_NE(error_of("*.example.com:99999").find("invalid port"), std::string::npos);
}

TEST(Pattern, GlobalPatternsInDenylistAreRejected) {
  for (auto p : {"*", "**", "*.*", "?*", "**.*", "*.?", "*.*.*"}) {
    EXPECT_EQ(error_of(p, PatternList::denied),
              std::string("pattern \"") + p +
                  "\" would match every host; use a concrete domain such as \"*.example.com\"")
        << p;
  }
}

TEST(Pattern, GlobalPatternsInAllowlistOnlyBareStar) {
  EXPECT_TRUE(compile_pattern("*", PatternList::allowed).ok());
  for (auto p : {"**", "*.*", "?*", "**.*", "*.?"}) {
    EXPECT_EQ(
        error_of(p, PatternList::allowed),
        std::string("pattern \"") + p + "\" would match every host; use \"*\" to allow every host")
        << p;
  }
}

TEST(Pattern, LeadingStarWithMidLabelGlob) {
  EXPECT_TRUE(match("*.api-?.example.com", "x.api-1.example.com"));
  EXPECT_TRUE(match("*.api-?.example.com", "x.y.api-1.example.com"));
  EXPECT_FALSE(match("*.api-?.example.com", "api-1.example.com"));
  EXPECT_TRUE(match("**.api-?.example.com", "api-1.example.com"));
}

TEST(Pattern, GlobStarMatchesEmptyAndBacktracks) {
  EXPECT_TRUE(match("a*b*c.example.com", "abc.example.com"));
  EXPECT_TRUE(match("a*b*c.example.com", "axxbyyc.example.com"));
  EXPECT_FALSE(match("a*b*c.example.com", "axxbyy.example.com"));
  EXPECT_TRUE(match("*-cdn.example.com", "-cdn.example.com"));
}

TEST(Pattern, IdnLookalikesDoNotMatch) {
  // Cyrillic "а" (U+0430) is not Latin "a" (SPEC §18 row 8).
  EXPECT_FALSE(match("apple.com", "\xD0\xB0pple.com"));
  EXPECT_TRUE(match("example.com",
                    "\xEF\xBD\x85\xEF\xBD\x98\xEF\xBD\x81\xEF\xBD\x8D\xEF\xBD\x90"
                    "\xEF\xBD\x8C\xEF\xBD\x85\xEF\xBC\x8E\xEF\xBD\x83\xEF\xBD\x8F"
                    "\xEF\xBD\x8D"));
}

}  // namespace
}  // namespace netfence::policy
