#include "core/ip_address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace netfence::core {
namespace {

std::string round_trip(std::string_view text) {
  auto ip = IpAddress::parse(text);
  return ip ? ip->to_string() : std::string("<invalid>");
}

TEST(IpAddress, DefaultIsV4Zero) {
  IpAddress a;
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.v4_value(), 0u);
  EXPECT_EQ(a.to_string(), "0.0.0.0");
}

TEST(IpAddress, V4Values) {
  IpAddress a = IpAddress::v4(0x7f000001);
  EXPECT_EQ(a.to_string(), "127.0.0.1");
  EXPECT_EQ(a.bytes()[0], 127);
  EXPECT_EQ(a.bytes()[3], 1);
  EXPECT_EQ(IpAddress::v4(0xffffffff).to_string(), "255.255.255.255");
}

TEST(IpAddress, ParseStrictV4) {
  EXPECT_EQ(round_trip("1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(round_trip("0.0.0.0"), "0.0.0.0");
  EXPECT_EQ(round_trip("255.255.255.255"), "255.255.255.255");
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04", "256.1.1.1", "1.2.3.999", "0x7f.0.0.1",
        "127.1", "2130706433", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.-4", "+1.2.3.4", "1.2.3.4 ",
        " 1.2.3.4", "1.2.3.4a", "1234.1.1.1"}) {
    EXPECT_FALSE(IpAddress::parse(bad).has_value()) << bad;
  }
}

TEST(IpAddress, ParseV6) {
  EXPECT_EQ(round_trip("::"), "::");
  EXPECT_EQ(round_trip("::1"), "::1");
  EXPECT_EQ(round_trip("0:0:0:0:0:0:0:1"), "::1");
  EXPECT_EQ(round_trip("0000::1"), "::1");
  EXPECT_EQ(round_trip("2001:DB8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  EXPECT_EQ(round_trip("1::"), "1::");
  EXPECT_EQ(round_trip("1:2:3:4:5:6:7::"), "1:2:3:4:5:6:7:0");
  EXPECT_EQ(round_trip("::2:3:4:5:6:7:8"), "0:2:3:4:5:6:7:8");
  EXPECT_EQ(round_trip("::127.0.0.1"), "::7f00:1");
  EXPECT_EQ(round_trip("::ffff:127.0.0.1"), "::ffff:127.0.0.1");
  EXPECT_EQ(round_trip("::ffff:7f00:1"), "::ffff:127.0.0.1");
  EXPECT_EQ(round_trip("1:2:3:4:5:6:1.2.3.4"), "1:2:3:4:5:6:102:304");
  for (const char* bad : {":",
                          ":::",
                          "1:2",
                          "1:2:3:4:5:6:7",
                          "1:2:3:4:5:6:7:8:9",
                          "1::2::3",
                          ":1::",
                          "1::2:",
                          "12345::",
                          "g::",
                          "::1.2.3",
                          "::1.2.3.4:5",
                          "1:2:3:4:5:6:7:1.2.3.4",
                          "::01.2.3.4",
                          "[::1]",
                          "::1%eth0",
                          "fe80::1%25eth0",
                          "::1 ",
                          "1:2:3:4:5:6:7:8::",
                          "::1:2:3:4:5:6:7:8"}) {
    EXPECT_FALSE(IpAddress::parse(bad).has_value()) << bad;
  }
}

// RFC 5952 §4: lower case, no leading zeros, longest zero run (>= 2 groups) compressed, the first
// one on ties, a single zero group not compressed.
TEST(IpAddress, Rfc5952Formatting) {
  EXPECT_EQ(round_trip("2001:0DB8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
  EXPECT_EQ(round_trip("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  EXPECT_EQ(round_trip("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
  EXPECT_EQ(round_trip("2001:db8:0:0:0:1:0:0"), "2001:db8::1:0:0");
  EXPECT_EQ(round_trip("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");
  EXPECT_EQ(round_trip("0:0:1:0:0:0:0:0"), "0:0:1::");
  EXPECT_EQ(round_trip("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789"),
            "abcd:ef01:2345:6789:abcd:ef01:2345:6789");
  EXPECT_EQ(round_trip("fe80:0:0:0:0:0:0:1"), "fe80::1");
}

TEST(IpAddress, Unmapped) {
  auto mapped = IpAddress::parse("::ffff:1.2.3.4");
  ASSERT_TRUE(mapped);
  EXPECT_TRUE(mapped->is_v6());
  IpAddress plain = mapped->unmapped();
  EXPECT_TRUE(plain.is_v4());
  EXPECT_EQ(plain.to_string(), "1.2.3.4");
  auto compat = IpAddress::parse("::1.2.3.4");
  ASSERT_TRUE(compat);
  EXPECT_TRUE(compat->unmapped().is_v6());
  EXPECT_EQ(IpAddress::v4(5).unmapped(), IpAddress::v4(5));
}

TEST(IpAddress, Ordering) {
  EXPECT_EQ(*IpAddress::parse("::1"), *IpAddress::parse("0::0:1"));
  EXPECT_NE(*IpAddress::parse("::1"), *IpAddress::parse("::2"));
  EXPECT_LT(*IpAddress::parse("1.2.3.4"), *IpAddress::parse("1.2.3.5"));
  EXPECT_NE(IpAddress::v4(0), *IpAddress::parse("::"));
}

// Differential check against glibc's inet_pton (which agrees with RFC 4291 for these inputs).
TEST(IpAddress, AgreesWithInetPton) {
  for (const char* text : {"::", "::1", "1::", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "fe80::1:2",
                           "2001:db8::", "::1:0:0:0", "1:0:0:2:0:0:0:3", "0:0:0:1::"}) {
    std::array<std::uint8_t, 16> want{};
    ASSERT_EQ(inet_pton(AF_INET6, text, want.data()), 1) << text;
    auto got = IpAddress::parse(text);
    ASSERT_TRUE(got) << text;
    EXPECT_EQ(got->bytes(), want) << text;
    char buf[INET6_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(AF_INET6, want.data(), buf, sizeof buf), nullptr);
    EXPECT_EQ(got->to_string(), buf) << text;
  }
}

}  // namespace
}  // namespace netfence::core
