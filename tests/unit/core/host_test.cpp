#include "core/host.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace netfence::core {
namespace {

// Canonical text of a host or "<invalid: reason>".
std::string canon(std::string_view in, HostSource source = HostSource::lenient) {
  auto r = parse_host_port(in, source);
  if (!r) {
    EXPECT_EQ(r.error().code, "invalid_host");
    return "<invalid: " + r.error().message + ">";
  }
  return r->host.text;
}

std::string reason(std::string_view in, HostSource source = HostSource::lenient) {
  auto r = parse_host_port(in, source);
  if (r) return "<valid: " + r->host.text + ">";
  return r.error().message;
}

bool invalid(std::string_view in, HostSource source = HostSource::lenient) {
  return !parse_host_port(in, source).ok();
}

// ---- SPEC §4 table, row by row ------------------------------------------------------------

TEST(HostSpecTable, Row1TrimCaseTrailingDotPort) {
  auto a = parse_host_port("  ExAmPlE.CoM.  ", HostSource::http);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host.text, "example.com");
  EXPECT_EQ(a->host.kind, HostKind::name);
  EXPECT_FALSE(a->port.has_value());
  EXPECT_FALSE(a->host.ip.has_value());
  EXPECT_EQ(canon("\t ExAmPlE.CoM.\t "), "example.com");

  auto b = parse_host_port("example.com.:443", HostSource::http);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host.text, "example.com");
  EXPECT_EQ(b->port, 443);
}

TEST(HostSpecTable, Row2Idn) {
  EXPECT_EQ(canon("exämple.com"), "xn--exmple-cua.com");
  EXPECT_EQ(canon("EXÄMPLE.com"), "xn--exmple-cua.com");
  EXPECT_EQ(canon("exämple.com", HostSource::http), "xn--exmple-cua.com");
}

TEST(HostSpecTable, Row3FullwidthAndIdeographicDots) {
  EXPECT_EQ(canon("ｅｘａｍｐｌｅ．ｃｏｍ"), "example.com");
  EXPECT_EQ(canon("example。com"), "example.com");
  EXPECT_EQ(canon("example｡com"), "example.com");
  EXPECT_EQ(canon("example．com"), "example.com");
}

TEST(HostSpecTable, Row4Ipv4Spellings) {
  for (const char* in :
       {"127.1", "0x7f.1", "2130706433", "0177.0.0.1", "[::ffff:7f00:1]", "[::ffff:127.0.0.1]"}) {
    auto r = parse_host_port(in, HostSource::http);
    ASSERT_TRUE(r) << in << ": " << r.error().message;
    EXPECT_EQ(r->host.text, "127.0.0.1") << in;
    EXPECT_EQ(r->host.kind, HostKind::ipv4) << in;
    ASSERT_TRUE(r->host.ip) << in;
    EXPECT_EQ(*r->host.ip, IpAddress::v4(0x7f000001)) << in;
  }
}

TEST(HostSpecTable, Row5Ipv6Spellings) {
  EXPECT_EQ(canon("[0:0:0:0:0:0:0:1]", HostSource::http), "::1");
  auto r = parse_host_port("[0000::1]:443", HostSource::http);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host.text, "::1");
  EXPECT_EQ(r->host.kind, HostKind::ipv6);
  EXPECT_EQ(r->port, 443);
  EXPECT_EQ(canon("[2001:DB8:0:0:1:0:0:1]", HostSource::http), "2001:db8::1:0:0:1");
}

TEST(HostSpecTable, Row6Zones) {
  for (const char* in : {"[fe80::1%25eth0]", "fe80::1%eth0"}) {
    auto r = parse_host_port(in, HostSource::lenient);
    ASSERT_TRUE(r) << in << ": " << r.error().message;
    EXPECT_EQ(r->host.text, "fe80::1%eth0");
    EXPECT_EQ(r->host.zone, "eth0");
    EXPECT_EQ(r->host.kind, HostKind::ipv6);
    EXPECT_EQ(r->host.ip->to_string(), "fe80::1");
  }
  EXPECT_EQ(canon("[fe80::1%25eth0]:8080", HostSource::http), "fe80::1%eth0");
  EXPECT_EQ(canon("[fe80::1%eth0]", HostSource::http), "fe80::1%eth0");
}

TEST(HostSpecTable, Row7Invalid) {
  const std::string label64(64, 'a');
  for (const std::string& in :
       {std::string("[::ffff:1.2.3.4%x.allowed.com]"), std::string("[fd00::1%eth0]"),
        std::string("example.com%2eevil.net"), std::string("ex ample.com"),
        std::string("a.com\r\n"), std::string("example.com:443.evil.net"), std::string("1.2.3.999"),
        label64 + ".com"}) {
    EXPECT_TRUE(invalid(in, HostSource::http)) << in;
    EXPECT_TRUE(invalid(in, HostSource::lenient)) << in;
  }
}

// ---- Error reasons -------------------------------------------------------------------------

TEST(HostErrors, Reasons) {
  EXPECT_EQ(reason("ex ample.com"), "contains a space");
  EXPECT_EQ(reason("exa mple.com"), "contains a space");
  EXPECT_EQ(reason("exa mple.com:443"), "contains a space");
  EXPECT_EQ(reason("a.com\r\n"), "contains a control character");
  EXPECT_EQ(reason(std::string("a\0b.com", 7)), "contains a control character");
  EXPECT_EQ(reason("a\tb.com"), "contains a control character");
  EXPECT_EQ(reason("a\x7f.com"), "contains a control character");
  EXPECT_EQ(reason("example.com%2eevil.net"), "contains a forbidden character '%'");
  EXPECT_EQ(reason("example.com@evil.net"), "contains a forbidden character '@'");
  EXPECT_EQ(reason("example.com:443.evil.net"), "invalid port");
  EXPECT_EQ(reason("1.2.3.999"), "invalid IPv4 address");
  EXPECT_EQ(reason("256.1.1.1"), "invalid IPv4 address");
  EXPECT_EQ(reason(std::string(64, 'a') + ".com"), "label longer than 63 octets");
  EXPECT_EQ(reason("a..b"), "empty label");
  EXPECT_EQ(reason("a.com.."), "empty label");
  EXPECT_EQ(reason("[fd00::1%eth0]"), "zone id only allowed on link-local addresses");
  EXPECT_EQ(reason("[::ffff:1.2.3.4%x.allowed.com]"),
            "zone id only allowed on link-local addresses");
  EXPECT_EQ(reason("[::g]"), "invalid IPv6 address");
  EXPECT_EQ(reason("::1", HostSource::http), "IPv6 address must be in brackets");
  EXPECT_EQ(reason("a\xff.com"), "invalid UTF-8");
  EXPECT_EQ(reason(""), "empty host");
  EXPECT_EQ(reason("   "), "empty host");
  EXPECT_EQ(reason(":443"), "empty host");
  EXPECT_EQ(reason("a$b.com"), "contains a forbidden character '$'");
}

TEST(HostErrors, ForbiddenCharacters) {
  for (char c : std::string("/\\@#%?*[]{}!,;\"'<>^|~+$&()=`")) {
    std::string in = std::string("exa") + c + "mple.com";
    EXPECT_TRUE(invalid(in)) << in;
    EXPECT_TRUE(invalid(in, HostSource::http)) << in;
  }
  for (int c = 0; c < 0x21; ++c) {
    std::string in = std::string("exa") + static_cast<char>(c) + "mple.com";
    EXPECT_TRUE(invalid(in)) << c;
  }
  EXPECT_TRUE(invalid("exa\x7fmple.com"));
}

TEST(HostErrors, InvalidUtf8) {
  for (const std::string& in : {std::string("\xc3"), std::string("\xc0\xae.com"),  // overlong '.'
                                std::string("\xed\xa0\x80.com"),                   // surrogate
                                std::string("\xf4\x90\x80\x80.com"),               // > U+10FFFF
                                std::string("\xe0\x80\xae.com"), std::string("a\x80.com"),
                                std::string("\xf8\x88\x80\x80\x80.com")}) {
    EXPECT_EQ(reason(in), "invalid UTF-8") << in;
  }
}

// ---- Ports (§4 step 3, §18 row 9) ----------------------------------------------------------

TEST(HostPorts, Valid) {
  EXPECT_EQ(parse_host_port("a.com:1", HostSource::http)->port, 1);
  EXPECT_EQ(parse_host_port("a.com:65535", HostSource::http)->port, 65535);
  EXPECT_EQ(parse_host_port("[::1]:80", HostSource::http)->port, 80);
  EXPECT_EQ(parse_host_port("1.2.3.4:8080", HostSource::http)->port, 8080);
  EXPECT_FALSE(parse_host_port("a.com", HostSource::http)->port.has_value());
  // A trailing SP is trimmed before the port is read.
  EXPECT_EQ(parse_host_port("a.com:443 ", HostSource::http)->port, 443);
}

TEST(HostPorts, Invalid) {
  for (const char* in : {"a.com:", "a.com:0", "a.com:65536", "a.com:+443", "a.com:0443", "a.com:-1",
                         "a.com:123456", "a.com:44a", "[::1]:", "[::1]:0", "[::1]:99999",
                         "[::1]443", "[::1]x", "a.com:٣", "a.com:00", "a.com: 1"}) {
    EXPECT_TRUE(invalid(in, HostSource::http)) << in;
  }
  EXPECT_EQ(reason("a.com:0443"), "invalid port");
  EXPECT_EQ(reason("a.com:65536"), "invalid port");
  EXPECT_EQ(reason("a.com:"), "invalid port");
  EXPECT_EQ(reason("a.com:+443"), "invalid port");
}

// ---- Brackets and colons (§4 step 3) ----------------------------------------------------------

TEST(HostBrackets, Ipv6NeedsBracketsOnlyForHttp) {
  EXPECT_TRUE(invalid("::1", HostSource::http));
  EXPECT_TRUE(invalid("fe80::1%eth0", HostSource::http));
  EXPECT_TRUE(invalid("::1:443", HostSource::http));
  EXPECT_EQ(canon("::1", HostSource::lenient), "::1");
  EXPECT_EQ(canon("2001:DB8::1", HostSource::lenient), "2001:db8::1");
  // Unbracketed IPv6 takes every colon: no port can be split off.
  auto r = parse_host_port("::1:443", HostSource::lenient);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host.text, "::1:443");
  EXPECT_FALSE(r->port.has_value());
}

TEST(HostBrackets, Malformed) {
  for (const char* in : {"[::1", "::1]", "[]", "[127.0.0.1]", "[example.com]", "[[::1]]", "x[::1]",
                         "[::1]]", "[::1]:80:80", "[:]", "a]b.com", "[::1]:80]"}) {
    EXPECT_TRUE(invalid(in, HostSource::http)) << in;
    EXPECT_TRUE(invalid(in, HostSource::lenient)) << in;
  }
}

// ---- Trailing dot and empty labels (§4 step 4) ------------------------------------------------

TEST(HostDots, OneTrailingDot) {
  EXPECT_EQ(canon("example.com."), "example.com");
  EXPECT_EQ(canon("127.0.0.1."), "127.0.0.1");
  EXPECT_EQ(canon("example.com。"), "example.com");
  EXPECT_TRUE(invalid("example.com.."));
  EXPECT_TRUE(invalid("a..b"));
  EXPECT_TRUE(invalid(".example.com"));
  EXPECT_TRUE(invalid("."));
  EXPECT_TRUE(invalid(".."));
  EXPECT_TRUE(invalid("127.0.0.1.."));
  EXPECT_TRUE(invalid("example.com.。"));
}

// ---- IPv4 (§4 step 5, §18 rows 1-3) --------------------------------------------------------

TEST(HostIpv4, Row1Spellings) {
  for (const char* in : {"127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1",
                         "017700000001", "127.0.0.1.", "127.0.0.1", "0X7F.1", "0x7F.0x0.0x0.0x1"}) {
    EXPECT_EQ(canon(in, HostSource::http), "127.0.0.1") << in;
  }
  EXPECT_EQ(canon("0"), "0.0.0.0");
  EXPECT_EQ(canon("0.0.0.0"), "0.0.0.0");
  EXPECT_EQ(canon("0x"), "0.0.0.0");
  EXPECT_EQ(canon("00"), "0.0.0.0");
  EXPECT_EQ(canon("1.2.3.0x"), "1.2.3.0");  // "0x" is 0, as in glibc and WHATWG URL
}

TEST(HostIpv4, Row2DenyBypassSpellings) {
  for (const char* in :
       {"93.184.216.34", "1572395042", "0x5db8d822", "[::ffff:93.184.216.34]", "[::ffff:5db8:d822]",
        "93.12113954", "93.184.55330", "0135.0270.0330.042"}) {
    EXPECT_EQ(canon(in, HostSource::http), "93.184.216.34") << in;
  }
}

TEST(HostIpv4, Row3MetadataSpellings) {
  for (const char* in :
       {"169.254.169.254", "2852039166", "0xa9fea9fe", "169.254.43518", "[::ffff:a9fe:a9fe]"}) {
    EXPECT_EQ(canon(in, HostSource::http), "169.254.169.254") << in;
  }
  EXPECT_EQ(canon("[::a9fe:a9fe]", HostSource::http), "::a9fe:a9fe");
  EXPECT_EQ(canon("[64:ff9b::a9fe:a9fe]", HostSource::http), "64:ff9b::a9fe:a9fe");
  EXPECT_EQ(canon("[2002:a9fe:a9fe::]", HostSource::http), "2002:a9fe:a9fe::");
  EXPECT_EQ(canon("[2001:0:4136:e378:8000:63bf:5601:5601]", HostSource::http),
            "2001:0:4136:e378:8000:63bf:5601:5601");
  EXPECT_EQ(canon("[fd00:ec2::254]", HostSource::http), "fd00:ec2::254");
  EXPECT_EQ(canon("168.63.129.16"), "168.63.129.16");
  EXPECT_EQ(canon("100.100.100.200"), "100.100.100.200");
}

TEST(HostIpv4, RangesPerPartCount) {
  EXPECT_EQ(canon("4294967295"), "255.255.255.255");
  EXPECT_EQ(canon("0xffffffff"), "255.255.255.255");
  EXPECT_EQ(canon("037777777777"), "255.255.255.255");
  EXPECT_EQ(canon("1.16777215"), "1.255.255.255");
  EXPECT_EQ(canon("1.2.65535"), "1.2.255.255");
  EXPECT_EQ(canon("255.255.255.255"), "255.255.255.255");
  for (const char* in :
       {"4294967296", "0x100000000", "040000000000", "1.16777216", "1.2.65536", "1.2.3.256",
        "256.1.1.1", "256.1", "1.256.1", "1.2.3.4.5", "08", "0.09", "99999999999999999999999",
        "1.2.3.4.5.6", "0x00000000000000000000000100000000", "1.2.3.999", "0x.0x.0x.0x.0x"}) {
    EXPECT_EQ(reason(in), "invalid IPv4 address") << in;
  }
  // "0x1g" is not a number (g is not hex), so it is a name.
  EXPECT_EQ(canon("0x1g"), "0x1g");
  // Many leading zeros are still one small number.
  EXPECT_EQ(canon("0000000000000000000001.0.0.1"), "1.0.0.1");
  EXPECT_EQ(canon("0x0000000000000000000007f.1"), "127.0.0.1");
}

TEST(HostIpv4, NumericLastLabelForcesIpv4) {
  EXPECT_EQ(reason("example.123"), "invalid IPv4 address");
  EXPECT_EQ(reason("example.0x12"), "invalid IPv4 address");
  EXPECT_EQ(reason("exämple.123"), "invalid IPv4 address");
  EXPECT_EQ(canon("123.example"), "123.example");
  EXPECT_EQ(canon("example.1a"), "example.1a");
  EXPECT_EQ(canon("example.0xg"), "example.0xg");
  // Fullwidth digits map to ASCII digits and then are an address, not a name.
  EXPECT_EQ(canon("１２７.０.０.１"), "127.0.0.1");
  auto r = parse_host_port("１２７.１", HostSource::http);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host.kind, HostKind::ipv4);
  EXPECT_EQ(r->host.text, "127.0.0.1");
}

// ---- IPv6 (§4 step 6, §18 rows 4-5) --------------------------------------------------------

TEST(HostIpv6, Row4LocalSpellings) {
  EXPECT_EQ(canon("[::1]", HostSource::http), "::1");
  EXPECT_EQ(canon("[0:0:0:0:0:0:0:1]", HostSource::http), "::1");
  EXPECT_EQ(canon("[::]", HostSource::http), "::");
  EXPECT_EQ(canon("[::127.0.0.1]", HostSource::http), "::7f00:1");
  EXPECT_EQ(canon("[64:ff9b::7f00:1]", HostSource::http), "64:ff9b::7f00:1");
  EXPECT_EQ(canon("[64:ff9b::127.0.0.1]", HostSource::http), "64:ff9b::7f00:1");
  EXPECT_EQ(canon("[64:ff9b:1::a00:1]", HostSource::http), "64:ff9b:1::a00:1");
  EXPECT_EQ(canon("[2002:7f00:1::]", HostSource::http), "2002:7f00:1::");
  EXPECT_EQ(canon("[fc00::1]", HostSource::http), "fc00::1");
  EXPECT_EQ(canon("[fec0::1]", HostSource::http), "fec0::1");
  EXPECT_EQ(canon("[ff02::1]", HostSource::http), "ff02::1");
  EXPECT_EQ(canon("[fe80::1%25eth0]", HostSource::http), "fe80::1%eth0");
  EXPECT_EQ(canon("[FE80::1%25eth0]", HostSource::http), "fe80::1%eth0");
}

TEST(HostIpv6, Row5ZoneTricks) {
  EXPECT_TRUE(invalid("[::ffff:1.2.3.4%x.allowed.com]", HostSource::http));
  EXPECT_TRUE(invalid("[fd00::1%eth0]", HostSource::http));
  EXPECT_TRUE(invalid("::ffff:1.2.3.4%x.allowed.com", HostSource::lenient));
  EXPECT_TRUE(invalid("fd00::1%eth0", HostSource::lenient));
}

TEST(HostIpv6, Zones) {
  EXPECT_EQ(canon("fe80::1%25"), "fe80::1%25");  // "%25" alone is the zone "25"
  EXPECT_EQ(canon("fe80::1%2525"), "fe80::1%25");
  EXPECT_EQ(canon("febf::1%a"), "febf::1%a");  // last /10 block still link-local
  EXPECT_EQ(canon("fe80::1%Eth_0.1-x"), "fe80::1%Eth_0.1-x");
  EXPECT_EQ(canon("fe80::1%abcdefghijklmno"), "fe80::1%abcdefghijklmno");  // 15 chars
  EXPECT_EQ(reason("fe80::1%abcdefghijklmnop"), "invalid zone id");        // 16 chars
  EXPECT_EQ(reason("fe80::1%"), "invalid zone id");
  EXPECT_EQ(reason("fe80::1%25%25"), "invalid zone id");
  EXPECT_EQ(reason("fe80::1%et@h0"), "invalid zone id");
  EXPECT_EQ(reason("fe80::1%eth0%1"), "invalid zone id");
  EXPECT_EQ(reason("fe80::1%25251"), "ambiguous zone id");
  EXPECT_EQ(reason("fec0::1%eth0"), "zone id only allowed on link-local addresses");
  EXPECT_EQ(reason("::1%eth0"), "zone id only allowed on link-local addresses");
  EXPECT_EQ(reason("fe80::1%ä"), "invalid zone id");
  auto r = canonicalize_host("[fe80::1%25eth0]");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->zone, "eth0");
  EXPECT_EQ(r->text, "fe80::1%eth0");
  EXPECT_EQ(r->ip->to_string(), "fe80::1");
}

TEST(HostIpv6, MappedBecomesIpv4) {
  auto r = parse_host_port("[::ffff:10.0.0.1]:80", HostSource::http);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host.kind, HostKind::ipv4);
  EXPECT_EQ(r->host.text, "10.0.0.1");
  EXPECT_TRUE(r->host.ip->is_v4());
  // Translated (::ffff:0:a.b.c.d) and compatible forms stay IPv6.
  EXPECT_EQ(canon("[::ffff:0:7f00:1]"), "::ffff:0:7f00:1");
}

TEST(HostIpv6, Invalid) {
  for (const char* in :
       {"[::1::]", "[1:2:3:4:5:6:7:8:9]", "[::1.2.3]", "[::01.2.3.4]", "[12345::]",
        "[::ffff:127.1]", "[fe80::1%]", "[::1%25]", "[ ::1]", "[::1 ]", "[::ä]", "[::1/64]"}) {
    EXPECT_TRUE(invalid(in, HostSource::http)) << in;
  }
}

// ---- Names (§4 step 7, §18 rows 6-8) -------------------------------------------------------

TEST(HostNames, AsciiLowerCased) {
  EXPECT_EQ(canon("Evil.Example.Com."), "evil.example.com");
  EXPECT_EQ(canon("_acme-challenge.example.com"), "_acme-challenge.example.com");
  EXPECT_EQ(canon("ab--cd.example.com"), "ab--cd.example.com");  // CheckHyphens off
  EXPECT_EQ(canon("-a-.example.com"), "-a-.example.com");
  EXPECT_EQ(canon("localhost"), "localhost");
  EXPECT_EQ(canon("a"), "a");
}

TEST(HostNames, Row7HostSyntax) {
  EXPECT_EQ(reason("example.com:443.evil.net", HostSource::http), "invalid port");
  EXPECT_TRUE(invalid("example.com%2eevil.net", HostSource::http));
  EXPECT_TRUE(invalid("example.com%00.evil.net", HostSource::http));
  EXPECT_TRUE(invalid(std::string("example.com\0.evil.net", 21), HostSource::http));
  EXPECT_TRUE(invalid("ex ample.com", HostSource::http));
  EXPECT_TRUE(invalid("example.com\r\nHost: evil.net", HostSource::http));
  EXPECT_TRUE(invalid("example.com\r", HostSource::http));
  EXPECT_TRUE(invalid("1.2.3.999", HostSource::http));
}

TEST(HostNames, Lengths) {
  const std::string l63(63, 'a');
  EXPECT_EQ(canon(l63 + ".com"), l63 + ".com");
  EXPECT_EQ(reason(std::string(64, 'a') + ".com"), "label longer than 63 octets");
  // 253 octets: 63+1+63+1+63+1+61.
  std::string n253 = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
  ASSERT_EQ(n253.size(), 253u);
  EXPECT_EQ(canon(n253), n253);
  EXPECT_EQ(canon(n253 + "."), n253);  // the root dot does not count
  std::string n254 = l63 + "." + l63 + "." + l63 + "." + std::string(62, 'b');
  ASSERT_EQ(n254.size(), 254u);
  EXPECT_EQ(reason(n254), "name longer than 253 octets");
  // Length counts the A-label form: xn-- + 55 a + "-uve" = 63 octets; one more 'a' is 64.
  EXPECT_EQ(canon(std::string(55, 'a') + "ä.com").size(), 63u + 4u);
  EXPECT_EQ(reason(std::string(56, 'a') + "ä.com"), "label longer than 63 octets");
  EXPECT_EQ(reason(std::string(58, 'a') + "ä.com"), "label longer than 63 octets");
}

TEST(HostNames, Row8Idn) {
  EXPECT_EQ(canon("exämple.com"), "xn--exmple-cua.com");
  EXPECT_EQ(canon("xn--exmple-cua.com"), "xn--exmple-cua.com");
  EXPECT_EQ(canon("XN--EXMPLE-CUA.COM"), "xn--exmple-cua.com");
  // Cyrillic 'а' (U+0430) stays distinct from Latin 'a'.
  std::string cyr = canon("аpple.com");
  EXPECT_NE(cyr, "apple.com");
  EXPECT_EQ(cyr, "xn--pple-43d.com");
  EXPECT_EQ(canon("ｅｘａｍｐｌｅ．ｃｏｍ"), "example.com");
  // ZWJ / ZWNJ inside a label: CheckJoiners.
  EXPECT_TRUE(invalid("exa\u200dmple.com"));
  EXPECT_TRUE(invalid("exa\u200cmple.com"));
  EXPECT_TRUE(invalid("ex\u200dämple.com"));
  EXPECT_TRUE(reason("exa\u200dmple.com").starts_with("invalid international domain name"));
}

TEST(HostNames, IdnDetails) {
  EXPECT_EQ(canon("_acme-challenge.exämple.com"), "_acme-challenge.xn--exmple-cua.com");
  // ASCII labels in a non-ASCII name skip libidn2, so its hyphen checks don't apply to them.
  EXPECT_EQ(canon("ab--cd.exämple.com"), "ab--cd.xn--exmple-cua.com");
  EXPECT_EQ(canon("bücher.example"), "xn--bcher-kva.example");
  EXPECT_EQ(canon("faß.de"), "xn--fa-hia.de");  // non-transitional: ß kept
  EXPECT_EQ(canon("ς.gr"), "xn--3xa.gr");
  EXPECT_EQ(canon("שלום.com"), "xn--9dbne9b.com");
  EXPECT_EQ(canon("ＥＸＡＭＰＬＥ.com"), "example.com");
  EXPECT_EQ(canon("ｘｎ－－ｅｘｍｐｌｅ－ｃｕａ.com"), "xn--exmple-cua.com");
  EXPECT_TRUE(invalid("a.\u00ad.com"));  // soft hyphen maps to nothing: empty label
  EXPECT_EQ(canon("a\u00adb.com"), "ab.com");
  // Bidi rule: a right-to-left label may not start with a digit.
  EXPECT_TRUE(invalid("1שלום.com"));
  // Mapped characters that would introduce forbidden ASCII are refused.
  for (const char* in : {"ä／b.com", "ä＠b.com", "exa＠mple.com", "℀.com", "⒈ä.com", "ä：80",
                         "\u0301a.com", "ä%b", "ä:b"}) {
    EXPECT_TRUE(invalid(in)) << in;
  }
  // An xn-- label must decode to a valid U-label.
  for (const char* in :
       {"xn--a.com", "xn--abc-.com", "xn--.com", "xn--zz.com", "xn--7ba.com", "xn--ab-r13a.com",
        "xn--ab-m1t.com", "xn--ls8h.la", "a.xn--a-wbb", "xn--abc.com", "ä.xn--zz"}) {
    EXPECT_TRUE(reason(in).starts_with("invalid international domain name"))
        << in << ": " << reason(in);
  }
}

// ---- canonicalize_host / canonicalize_name -------------------------------------------------

TEST(CanonicalizeHost, NoPort) {
  EXPECT_EQ(canonicalize_host("Example.COM.")->text, "example.com");
  EXPECT_EQ(canonicalize_host("[::1]")->text, "::1");
  EXPECT_EQ(canonicalize_host("::1")->text, "::1");
  EXPECT_EQ(canonicalize_host("0x7f.1")->text, "127.0.0.1");
  EXPECT_FALSE(canonicalize_host("example.com:443").ok());
  EXPECT_FALSE(canonicalize_host("[::1]:443").ok());
  EXPECT_EQ(canonicalize_host("example.com:443").error().code, "invalid_host");
}

TEST(CanonicalizeName, Names) {
  EXPECT_EQ(canonicalize_name("Example.COM").value(), "example.com");
  EXPECT_EQ(canonicalize_name("exämple").value(), "xn--exmple-cua");
  EXPECT_EQ(canonicalize_name("_acme-challenge").value(), "_acme-challenge");
  EXPECT_EQ(canonicalize_name("123").value(), "123");  // a label, not an address
  EXPECT_EQ(canonicalize_name("example。com").value(), "example.com");
  EXPECT_FALSE(canonicalize_name("example.com.").ok());  // no trailing-dot stripping
  EXPECT_FALSE(canonicalize_name("").ok());
  EXPECT_FALSE(canonicalize_name("a*b").ok());
  EXPECT_FALSE(canonicalize_name("[::1]").ok());
  EXPECT_FALSE(canonicalize_name("a:b").ok());
  EXPECT_FALSE(canonicalize_name("exa mple").ok());
  EXPECT_EQ(canonicalize_name("exa mple").error().message, "contains a space");
  EXPECT_EQ(canonicalize_name("exa mple").error().code, "invalid_host");
  EXPECT_FALSE(canonicalize_name(std::string(64, 'a')).ok());
  EXPECT_FALSE(canonicalize_name("a\u200db").ok());
}

// ---- Idempotence ---------------------------------------------------------------------------

TEST(HostIdempotence, CanonicalOutputIsAFixedPoint) {
  const std::vector<std::string> inputs = {"  ExAmPlE.CoM.  ",
                                           "exämple.com",
                                           "ｅｘａｍｐｌｅ．ｃｏｍ",
                                           "example。com",
                                           "127.1",
                                           "0x7f.1",
                                           "2130706433",
                                           "0177.0.0.1",
                                           "[::ffff:7f00:1]",
                                           "[0:0:0:0:0:0:0:1]",
                                           "[2001:DB8:0:0:1:0:0:1]",
                                           "[fe80::1%25eth0]",
                                           "fe80::1%eth0",
                                           "fe80::1%2525",
                                           "fe80::1%25",
                                           "аpple.com",
                                           "_acme-challenge.example.com",
                                           "[::]",
                                           "[::127.0.0.1]",
                                           "[::ffff:0:7f00:1]",
                                           "１２７.１",
                                           "[64:ff9b::a9fe:a9fe]",
                                           "a-b--c.xn--exmple-cua.com"};
  for (const auto& in : inputs) {
    auto first = canonicalize_host(in);
    ASSERT_TRUE(first) << in << ": " << first.error().message;
    auto second = canonicalize_host(first->text);
    ASSERT_TRUE(second) << first->text;
    EXPECT_EQ(second->text, first->text);
    EXPECT_EQ(second->kind, first->kind);
    EXPECT_EQ(second->ip, first->ip);
    EXPECT_EQ(second->zone, first->zone);
    // The HTTP form of a canonical IPv6 host is the bracketed text.
    std::string http = first->kind == HostKind::ipv6 ? "[" + first->text + "]" : first->text;
    auto third = parse_host_port(http, HostSource::http);
    ASSERT_TRUE(third) << http;
    EXPECT_EQ(third->host.text, first->text);
  }
}

}  // namespace
}  // namespace netfence::core

namespace netfence::core {
namespace {

// Hostile sizes are refused early (a 64 KiB Host header is within the §8.1 head limit).
TEST(HostLimits, OversizedInputIsRejectedCheaply) {
  std::string big;
  while (big.size() < 64 * 1024) big += "\xC3\xA4.";  // "ä." repeated
  auto r = parse_host_port(big, HostSource::http);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "host longer than 1024 bytes");
  EXPECT_FALSE(canonicalize_name(big).ok());
  // Just under the cap, the 253-octet rule still applies and stops at the first excess label.
  std::string many;
  while (many.size() < 1000) many += "\xC3\xA4.";
  auto m = canonicalize_host(many.substr(0, many.size() - 1));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, "name longer than 253 octets");
}

}  // namespace
}  // namespace netfence::core
