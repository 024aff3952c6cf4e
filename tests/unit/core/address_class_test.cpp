#include "core/address_class.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/host.hpp"

namespace netfence::core {
namespace {

IpAddress ip(std::string_view text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

bool non_public(std::string_view text) { return is_non_public(ip(text)); }

// ---- §7.4 boundary examples ----------------------------------------------------------------

TEST(AddressClassBoundary, MustBePublic) {
  for (const char* t : {"172.15.255.255", "172.32.0.0", "100.63.255.255", "100.128.0.0", "8.8.8.8",
                        "2606:4700:4700::1111", "64:ff9c::1", "64:ff9b::808:808"}) {
    EXPECT_FALSE(non_public(t)) << t;
    EXPECT_FALSE(is_metadata(ip(t))) << t;
  }
}

TEST(AddressClassBoundary, MustBeNonPublic) {
  for (const char* t :
       {"172.16.0.0", "172.31.255.255", "100.64.0.0", "100.127.255.255", "64:ff9b::7f00:1",
        "2002:7f00:1::", "::a9fe:a9fe", "fec0::1", "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "2001:0:4136:e378:8000:63bf:5601:5601"}) {
    EXPECT_TRUE(non_public(t)) << t;
  }
}

// ---- §7.1 ranges: first and last address inside, neighbours outside ---------------------------

struct Range {
  const char* first;
  const char* last;
  const char* before;  // nullptr when the range starts at the bottom of the space
  const char* after;   // nullptr when the range ends at the top or touches another range
};

TEST(AddressClassV4, RangeBoundaries) {
  const std::vector<Range> ranges = {
      {"0.0.0.0", "0.255.255.255", nullptr, "1.0.0.0"},
      {"10.0.0.0", "10.255.255.255", "9.255.255.255", "11.0.0.0"},
      {"172.16.0.0", "172.31.255.255", "172.15.255.255", "172.32.0.0"},
      {"192.168.0.0", "192.168.255.255", "192.167.255.255", "192.169.0.0"},
      {"100.64.0.0", "100.127.255.255", "100.63.255.255", "100.128.0.0"},
      {"127.0.0.0", "127.255.255.255", "126.255.255.255", "128.0.0.0"},
      {"169.254.0.0", "169.254.255.255", "169.253.255.255", "169.255.0.0"},
      {"192.0.0.0", "192.0.0.255", "191.255.255.255", "192.0.1.0"},
      {"192.88.99.0", "192.88.99.255", "192.88.98.255", "192.88.100.0"},
      {"198.18.0.0", "198.19.255.255", "198.17.255.255", "198.20.0.0"},
      {"192.0.2.0", "192.0.2.255", "192.0.1.255", "192.0.3.0"},
      {"198.51.100.0", "198.51.100.255", "198.51.99.255", "198.51.101.0"},
      {"203.0.113.0", "203.0.113.255", "203.0.112.255", "203.0.114.0"},
      {"224.0.0.0", "239.255.255.255", "223.255.255.255", nullptr},  // 240/4 follows
      {"240.0.0.0", "255.255.255.255", nullptr, nullptr},
      {"168.63.129.16", "168.63.129.16", "168.63.129.15", "168.63.129.17"},
      {"100.100.100.200", "100.100.100.200", nullptr, nullptr},  // inside 100.64.0.0/10
  };
  for (const auto& r : ranges) {
    EXPECT_TRUE(non_public(r.first)) << r.first;
    EXPECT_TRUE(non_public(r.last)) << r.last;
    if (r.before) {
      EXPECT_FALSE(non_public(r.before)) << r.before;
    }
    if (r.after) {
      EXPECT_FALSE(non_public(r.after)) << r.after;
    }
    // The mapped form is judged as IPv4.
    std::string mapped = std::string("::ffff:") + r.first;
    EXPECT_TRUE(non_public(mapped)) << mapped;
  }
  EXPECT_FALSE(non_public("1.1.1.1"));
  EXPECT_FALSE(non_public("::ffff:8.8.8.8"));
  EXPECT_FALSE(non_public("223.255.255.255"));
}

// ---- §7.2 ranges -----------------------------------------------------------------------------

TEST(AddressClassV6, FixedRanges) {
  const std::vector<Range> ranges = {
      {"::", "::", nullptr, nullptr},
      {"::1", "::1", nullptr, nullptr},
      {"64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "64:ff9b:0:ffff:ffff:ffff:ffff:ffff",
       "64:ff9b:2::"},
      {"100::", "100::ffff:ffff:ffff:ffff", "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "100:0:0:1::"},
      {"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
       "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"},
      {"fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
       "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe00::"},
      {"fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
       "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nullptr},                     // fec0::/10 follows
      {"fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nullptr, nullptr},  // ff00::/8 follows
      {"ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nullptr, nullptr},
  };
  for (const auto& r : ranges) {
    EXPECT_TRUE(non_public(r.first)) << r.first;
    EXPECT_TRUE(non_public(r.last)) << r.last;
    if (r.before) {
      EXPECT_FALSE(non_public(r.before)) << r.before;
    }
    if (r.after) {
      EXPECT_FALSE(non_public(r.after)) << r.after;
    }
  }
  EXPECT_FALSE(non_public("2001:4860:4860::8888"));
  EXPECT_FALSE(non_public("fe00::1"));
}

TEST(AddressClassV6, CompatibleJudgedByLast32Bits) {
  EXPECT_TRUE(non_public("::2"));  // 0.0.0.2 in 0.0.0.0/8
  EXPECT_TRUE(non_public("::127.0.0.1"));
  EXPECT_TRUE(non_public("::10.0.0.1"));
  EXPECT_TRUE(non_public("::a9fe:a9fe"));
  EXPECT_FALSE(non_public("::8.8.8.8"));
  EXPECT_FALSE(non_public("::1.0.0.0"));
  EXPECT_TRUE(non_public("::0.255.255.255"));
}

TEST(AddressClassV6, MappedJudgedAsIpv4) {
  EXPECT_TRUE(non_public("::ffff:127.0.0.1"));
  EXPECT_TRUE(non_public("::ffff:192.168.1.1"));
  EXPECT_FALSE(non_public("::ffff:93.184.216.34"));
}

TEST(AddressClassV6, TranslatedJudgedByLast32Bits) {
  EXPECT_TRUE(non_public("::ffff:0:7f00:1"));
  EXPECT_TRUE(non_public("::ffff:0:a9fe:a9fe"));
  EXPECT_FALSE(non_public("::ffff:0:808:808"));
}

TEST(AddressClassV6, Nat64) {
  EXPECT_TRUE(non_public("64:ff9b::7f00:1"));
  EXPECT_TRUE(non_public("64:ff9b::a00:1"));
  EXPECT_TRUE(non_public("64:ff9b::ffff:ffff"));
  EXPECT_FALSE(non_public("64:ff9b::808:808"));
  EXPECT_FALSE(non_public("64:ff9b::1.0.0.0"));
  // Outside the /96 (bits 64-95 set) the last 32 bits are not an embedding.
  EXPECT_FALSE(non_public("64:ff9b::1:0:808:808"));
  EXPECT_FALSE(non_public("64:ff9c::1"));
  EXPECT_FALSE(non_public("64:ff9a::7f00:1"));
  // Local-use NAT64 is always non-public, even with a public embedded address.
  EXPECT_TRUE(non_public("64:ff9b:1::808:808"));
  EXPECT_TRUE(non_public("64:ff9b:1::a00:1"));
}

TEST(AddressClassV6, SixToFour) {
  EXPECT_TRUE(non_public("2002:7f00:1::"));
  EXPECT_TRUE(non_public("2002:a00:1::1"));
  EXPECT_TRUE(non_public("2002:c0a8:101::"));
  EXPECT_TRUE(non_public("2002:a9fe:a9fe::"));
  EXPECT_FALSE(non_public("2002:808:808::"));
  EXPECT_FALSE(non_public("2002:808:808:7f00:1::7f00:1"));  // only bits 16-47 count
  EXPECT_TRUE(non_public("2002::"));                        // 0.0.0.0
  EXPECT_FALSE(non_public("2003:7f00:1::"));
  EXPECT_FALSE(non_public("2001:7f00:1::"));
}

TEST(AddressClassV6, Teredo) {
  // Server 65.54.227.120, client 127.0.0.1 stored inverted.
  EXPECT_TRUE(non_public("2001:0:4136:e378:8000:63bf:80ff:fffe"));
  // Client 169.254.169.254.
  EXPECT_TRUE(non_public("2001:0:4136:e378:8000:63bf:5601:5601"));
  // Public server, public client 8.8.8.8 (inverted f7f7:f7f7).
  EXPECT_FALSE(non_public("2001:0:4136:e378:8000:63bf:f7f7:f7f7"));
  // Non-public server 10.0.0.1, public client.
  EXPECT_TRUE(non_public("2001:0:a00:1:8000:63bf:f7f7:f7f7"));
  // The client field read without inversion would be 127.0.0.1 but is 128.255.255.254.
  EXPECT_FALSE(non_public("2001:0:4136:e378:8000:63bf:7f00:1"));
  // Not Teredo: 2001:1::/32.
  EXPECT_FALSE(non_public("2001:1:a00:1:8000:63bf:80ff:fffe"));
}

TEST(AddressClassV6, EmbeddedOwnInterfaceAddress) {
  std::vector<IpAddress> own = {ip("93.184.216.34")};
  EXPECT_TRUE(is_non_public(ip("64:ff9b::5db8:d822"), own));
  EXPECT_TRUE(is_non_public(ip("2002:5db8:d822::"), own));
  EXPECT_FALSE(is_non_public(ip("64:ff9b::5db8:d822")));
}

// ---- own interfaces (§7.3) ---------------------------------------------------------------------

TEST(AddressClassOwn, OwnInterfacesAreNonPublic) {
  std::vector<IpAddress> own = {ip("93.184.216.34"), ip("2606:2800:220:1::248")};
  EXPECT_TRUE(is_non_public(ip("93.184.216.34"), own));
  EXPECT_TRUE(is_non_public(ip("::ffff:93.184.216.34"), own));
  EXPECT_TRUE(is_non_public(ip("2606:2800:220:1::248"), own));
  EXPECT_FALSE(is_non_public(ip("93.184.216.35"), own));
  EXPECT_FALSE(is_non_public(ip("93.184.216.34")));
  // A mapped own-interface entry matches the plain IPv4 address too.
  std::vector<IpAddress> mapped_own = {ip("::ffff:93.184.216.34")};
  EXPECT_TRUE(is_non_public(ip("93.184.216.34"), mapped_own));
}

TEST(AddressClassOwn, OwnHostSet) {
  std::vector<IpAddress> own = {ip("192.0.2.10"), ip("2001:db8::10")};
  for (const char* t :
       {"127.0.0.1", "127.255.255.255", "127.0.0.0", "::1", "0.0.0.0", "::", "::ffff:127.0.0.1",
        "::ffff:0.0.0.0", "192.0.2.10", "::ffff:192.0.2.10", "2001:db8::10"}) {
    EXPECT_TRUE(is_own_host(ip(t), own)) << t;
  }
  for (const char* t : {"128.0.0.0", "126.255.255.255", "::2", "0.0.0.1", "192.0.2.11",
                        "2001:db8::11", "10.0.0.1", "::127.0.0.1"}) {
    EXPECT_FALSE(is_own_host(ip(t), own)) << t;
  }
}

TEST(AddressClassOwn, UnspecifiedAndLoopback) {
  EXPECT_TRUE(is_unspecified(ip("0.0.0.0")));
  EXPECT_TRUE(is_unspecified(ip("::")));
  EXPECT_TRUE(is_unspecified(ip("::ffff:0.0.0.0")));
  EXPECT_TRUE(is_unspecified(IpAddress{}));
  EXPECT_FALSE(is_unspecified(ip("0.0.0.1")));
  EXPECT_FALSE(is_unspecified(ip("::1")));
  EXPECT_TRUE(is_loopback(ip("127.0.0.1")));
  EXPECT_TRUE(is_loopback(ip("127.255.255.255")));
  EXPECT_TRUE(is_loopback(ip("127.0.0.0")));
  EXPECT_TRUE(is_loopback(ip("::1")));
  EXPECT_TRUE(is_loopback(ip("::ffff:127.1.2.3")));
  EXPECT_FALSE(is_loopback(ip("128.0.0.0")));
  EXPECT_FALSE(is_loopback(ip("126.255.255.255")));
  EXPECT_FALSE(is_loopback(ip("::2")));
  EXPECT_FALSE(is_loopback(ip("::")));
}

// ---- metadata (§7.3) ---------------------------------------------------------------------------

TEST(AddressClassMetadata, Set) {
  for (const char* t : {"169.254.0.0",
                        "169.254.169.254",
                        "169.254.255.255",
                        "168.63.129.16",
                        "100.100.100.200",
                        "192.0.0.192",
                        "fd00:ec2::",
                        "fd00:ec2::254",
                        "fd00:ec2:ffff:ffff:ffff:ffff:ffff:ffff",
                        "fd20:ce::254",
                        "::ffff:169.254.169.254",
                        "::a9fe:a9fe",
                        "::ffff:0:a9fe:a9fe",
                        "64:ff9b::a9fe:a9fe",
                        "2002:a9fe:a9fe::",
                        "2001:0:4136:e378:8000:63bf:5601:5601",
                        "2001:0:a9fe:a9fe::",
                        "::ffff:168.63.129.16",
                        "64:ff9b::c000:c0",
                        "64:ff9b:1::a9fe:a9fe",
                        "64:ff9b:1:a9fe:0:a9fe::"}) {
    EXPECT_TRUE(is_metadata(ip(t))) << t;
    EXPECT_TRUE(non_public(t)) << t;
  }
  for (const char* t : {"169.253.255.255",
                        "169.255.0.0",
                        "168.63.129.15",
                        "168.63.129.17",
                        "100.100.100.199",
                        "100.100.100.201",
                        "192.0.0.191",
                        "192.0.0.193",
                        "127.0.0.1",
                        "10.0.0.1",
                        "fd00:ec1:ffff:ffff:ffff:ffff:ffff:ffff",
                        "fd00:ec3::",
                        "fd20:ce::253",
                        "fd20:ce::255",
                        "fd20:ce:0:1::254",
                        "::1",
                        "::",
                        "8.8.8.8",
                        "64:ff9b::808:808",
                        "fe80::1",
                        "64:ff9b:1::808:808"}) {
    EXPECT_FALSE(is_metadata(ip(t))) << t;
  }
}

// ---- §18 rows 1-5 end to end through canonicalisation --------------------------------------

bool canonical_non_public(std::string_view host) {
  auto h = parse_host_port(host, HostSource::http);
  EXPECT_TRUE(h) << host;
  if (!h || !h->host.ip) return false;
  return is_non_public(*h->host.ip);
}

TEST(AddressClassSecurity, Row1Ipv4Spellings) {
  for (const char* t : {"127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1",
                        "017700000001", "127.0.0.1.", "0", "0.0.0.0"}) {
    EXPECT_TRUE(canonical_non_public(t)) << t;
  }
}

TEST(AddressClassSecurity, Row3Metadata) {
  for (const char* t : {"169.254.169.254", "2852039166", "0xa9fea9fe", "169.254.43518",
                        "[::ffff:a9fe:a9fe]", "[::a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]",
                        "[2002:a9fe:a9fe::]", "[2001:0:4136:e378:8000:63bf:5601:5601]",
                        "[fd00:ec2::254]", "168.63.129.16", "100.100.100.200"}) {
    auto h = parse_host_port(t, HostSource::http);
    ASSERT_TRUE(h) << t;
    ASSERT_TRUE(h->host.ip) << t;
    EXPECT_TRUE(is_metadata(*h->host.ip)) << t;
    EXPECT_TRUE(is_non_public(*h->host.ip)) << t;
  }
}

TEST(AddressClassSecurity, Row4Ipv6Local) {
  for (const char* t : {"[::1]", "[0:0:0:0:0:0:0:1]", "[::]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
                        "[64:ff9b:1::a00:1]", "[2002:7f00:1::]", "[fc00::1]", "[fec0::1]",
                        "[ff02::1]", "[fe80::1%25eth0]"}) {
    EXPECT_TRUE(canonical_non_public(t)) << t;
  }
}

TEST(AddressClassSecurity, Row14DnsAnswers) {
  for (const char* t : {"127.0.0.1", "10.0.0.1", "::1", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe"}) {
    EXPECT_TRUE(non_public(t)) << t;
  }
}

}  // namespace
}  // namespace netfence::core
