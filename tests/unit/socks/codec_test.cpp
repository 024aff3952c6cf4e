// Tests for the pure SOCKS5 codec (SPEC §9, host canonicalisation §4). Every message is parsed
// whole, at every split point (each proper prefix must ask for more; UDP headers, which arrive
// whole, must be complete-or-error) and with trailing bytes that must be left unconsumed.
// Outcomes are rendered as strings so a mismatch prints both sides.
#include "socks/wire/codec.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace netfence::socks::wire {
namespace {

using core::HostKind;
using core::IpAddress;

// ---------------------------------------------------------------------------------------------
// helpers

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out.push_back(static_cast<char>(b));
  return out;
}

IpAddress ip(std::string_view text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

std::string hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (!out.empty()) out.push_back(' ');
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::string render_address(const Address& a) {
  switch (a.type) {
    case AddressType::ipv4:
      return "v4 " + a.ip.to_string() + (a.ip.is_v4() ? "" : " (family v6!)");
    case AddressType::ipv6:
      return "v6 " + a.ip.to_string() + (a.ip.is_v6() ? "" : " (family v4!)");
    case AddressType::domain:
      return "domain [" + hex(a.domain) + "]";
  }
  return "atyp?";
}

template <class T>
std::string render_status(const Parsed<T>& p) {
  switch (p.status) {
    case Status::need_more:
      return "need_more";
    case Status::error:
      return "error reply=" + (p.reply ? std::to_string(*p.reply) : std::string("none"));
    case Status::done:
      break;
  }
  return "done " + std::to_string(p.consumed);
}

std::string render(const Parsed<Greeting>& p) {
  auto s = render_status(p);
  if (p.status != Status::done) return s;
  return s + (p.value.offers_no_auth ? " no_auth" : "") +
         (p.value.offers_user_pass ? " user_pass" : "");
}

std::string render(const Parsed<Credentials>& p) {
  auto s = render_status(p);
  if (p.status != Status::done) return s;
  return s + " user=[" + p.value.user + "] pass=[" + p.value.password + "]";
}

std::string render(const Parsed<Request>& p) {
  auto s = render_status(p);
  if (p.status != Status::done) return s;
  return s + " cmd=" + std::to_string(p.value.command) + " " + render_address(p.value.dst) +
         " port=" + std::to_string(p.value.port);
}

std::string render(const Parsed<UdpHeader>& p) {
  auto s = render_status(p);
  if (p.status != Status::done) return s;
  return s + " frag=" + std::to_string(p.value.frag) + " " + render_address(p.value.dst) +
         " port=" + std::to_string(p.value.port);
}

std::string greeting(std::string_view b) { return render(parse_greeting(b)); }
std::string credentials(std::string_view b) { return render(parse_credentials(b)); }
std::string request(std::string_view b) { return render(parse_request(b)); }
std::string udp(std::string_view b) { return render(parse_udp_header(b)); }

constexpr std::string_view kTrailing = "\x05\x01\x00\x01trailing";

/// A stream message (greeting, credentials, request): every proper prefix needs more, the whole
/// message is done with consumed == its size, and bytes after it are left unconsumed with the
/// same result. Returns the rendered outcome of the whole message.
template <class Fn>
std::string grind(Fn parse, std::string_view msg) {
  for (std::size_t k = 0; k < msg.size(); ++k) {
    const auto r = parse(msg.substr(0, k));
    EXPECT_EQ(r, "need_more") << "prefix of " << k << " of " << msg.size() << " bytes";
    if (r != "need_more") break;
  }
  const auto whole = parse(msg);
  const std::string longer = std::string(msg) + std::string(kTrailing);
  EXPECT_EQ(parse(longer), whole) << "with trailing bytes";
  return whole;
}

/// A stream message that is bad: prefixes before the offending byte need more, from the first
/// error on every longer prefix gives the same error. Returns the error and where it appears.
template <class Fn>
std::string grind_error(Fn parse, std::string_view msg, std::size_t* first_error = nullptr) {
  std::optional<std::string> err;
  for (std::size_t k = 0; k <= msg.size(); ++k) {
    const auto r = parse(msg.substr(0, k));
    if (!err) {
      if (r == "need_more") continue;
      EXPECT_EQ(r.rfind("error", 0), 0u) << "prefix of " << k << ": " << r;
      err = r;
      if (first_error) *first_error = k;
    } else {
      EXPECT_EQ(r, *err) << "prefix of " << k;
    }
  }
  if (!err) return "need_more";
  EXPECT_EQ(parse(std::string(msg) + std::string(kTrailing)), *err) << "with trailing bytes";
  return *err;
}

/// A UDP datagram: every prefix shorter than the header is an error (never need_more); the
/// header alone and the header followed by payload parse alike with consumed == header size.
std::string grind_udp(std::string_view header) {
  for (std::size_t k = 0; k < header.size(); ++k) {
    const auto r = parse_udp_header(header.substr(0, k));
    EXPECT_EQ(r.status, Status::error) << "prefix of " << k << ": " << render(r);
  }
  const auto whole = udp(header);
  EXPECT_EQ(udp(std::string(header) + "payload \x00\x05 bytes"), whole) << "with payload";
  return whole;
}

std::string domain_request(std::uint8_t cmd, std::string_view name, int port_hi, int port_lo) {
  std::string m = bytes({0x05, cmd, 0x00, 0x03, static_cast<int>(name.size())});
  m += name;
  m += bytes({port_hi, port_lo});
  return m;
}

const std::string kV6Bytes =  // 2001:db8::1
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01});
const std::string kMappedBytes =  // ::ffff:192.0.2.7
    bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xc0, 0x00, 0x02, 0x07});

// ---------------------------------------------------------------------------------------------
// greeting (§9.1)

TEST(SocksGreeting, ParsesWholeAndAtEverySplit) {
  EXPECT_EQ(grind(greeting, bytes({0x05, 0x01, 0x00})), "done 3 no_auth");
  EXPECT_EQ(grind(greeting, bytes({0x05, 0x01, 0x02})), "done 3 user_pass");
  EXPECT_EQ(grind(greeting, bytes({0x05, 0x02, 0x00, 0x02})), "done 4 no_auth user_pass");
  EXPECT_EQ(grind(greeting, bytes({0x05, 0x02, 0x02, 0x00})), "done 4 no_auth user_pass");
  EXPECT_EQ(grind(greeting, bytes({0x05, 0x03, 0x01, 0x03, 0x80})), "done 5");
  // Repeated methods are harmless.
  EXPECT_EQ(grind(greeting, bytes({0x05, 0x03, 0x02, 0x02, 0x02})), "done 5 user_pass");
}

TEST(SocksGreeting, NoMethodsIsDoneWithNothingOffered) {
  EXPECT_EQ(grind(greeting, bytes({0x05, 0x00})), "done 2");
  // The byte after NMETHODS=0 is not a method.
  EXPECT_EQ(greeting(bytes({0x05, 0x00, 0x00})), "done 2");
}

TEST(SocksGreeting, AllMethods) {
  std::string m = bytes({0x05, 0xff});
  for (int i = 0xfe; i >= 0; --i) m.push_back(static_cast<char>(i));  // 0x00 is the last one
  EXPECT_EQ(grind(greeting, m), "done 257 no_auth user_pass");
  std::string none = bytes({0x05, 0xff});
  for (int i = 0; i < 0xff; ++i) none.push_back(static_cast<char>(0x03 + i % 0xfc));
  EXPECT_EQ(grind(greeting, none), "done 257");
}

TEST(SocksGreeting, WrongVersionClosesWithoutReply) {
  for (int ver : {0x00, 0x01, 0x04, 0x06, 0xff, int{'C'}, int{'G'}}) {
    std::size_t at = 99;
    EXPECT_EQ(grind_error(greeting, bytes({ver, 0x01, 0x00}), &at), "error reply=none") << ver;
    EXPECT_EQ(at, 1u) << "the first octet alone decides, ver " << ver;
    const auto p = parse_greeting(bytes({ver}));
    EXPECT_FALSE(p.reply.has_value());
    EXPECT_FALSE(p.error.empty());
  }
  // A SOCKS4 request and an HTTP request.
  EXPECT_EQ(greeting(bytes({0x04, 0x01, 0x00, 0x50, 0x7f, 0, 0, 1, 0})), "error reply=none");
  EXPECT_EQ(greeting("GET / HTTP/1.1\r\n\r\n"), "error reply=none");
}

TEST(SocksGreeting, EmptyNeedsMore) { EXPECT_EQ(greeting(""), "need_more"); }

// ---------------------------------------------------------------------------------------------
// choose_method (§9.1)

TEST(SocksMethod, ChoiceTable) {
  struct Row {
    bool no_auth, user_pass, password_required;
    Method want;
  };
  const Row rows[] = {
      // without a configured password: 00 if offered, else 02 if offered, else FF
      {true, false, false, Method::no_auth},
      {false, true, false, Method::user_pass},
      {true, true, false, Method::no_auth},
      {false, false, false, Method::none_acceptable},
      // with a configured password only 02 is acceptable
      {true, false, true, Method::none_acceptable},
      {false, true, true, Method::user_pass},
      {true, true, true, Method::user_pass},
      {false, false, true, Method::none_acceptable},
  };
  for (const auto& r : rows) {
    Greeting g;
    g.offers_no_auth = r.no_auth;
    g.offers_user_pass = r.user_pass;
    EXPECT_EQ(choose_method(g, r.password_required), r.want)
        << "no_auth=" << r.no_auth << " user_pass=" << r.user_pass
        << " password_required=" << r.password_required;
  }
}

TEST(SocksMethod, FromParsedGreetings) {
  auto choose = [](std::string_view b, bool pw) {
    const auto p = parse_greeting(b);
    EXPECT_EQ(p.status, Status::done);
    return encode_method_choice(choose_method(p.value, pw));
  };
  EXPECT_EQ(choose(bytes({0x05, 0x01, 0x00}), false), bytes({0x05, 0x00}));
  EXPECT_EQ(choose(bytes({0x05, 0x01, 0x02}), false), bytes({0x05, 0x02}));
  EXPECT_EQ(choose(bytes({0x05, 0x02, 0x02, 0x00}), false), bytes({0x05, 0x00}));
  EXPECT_EQ(choose(bytes({0x05, 0x01, 0x01}), false), bytes({0x05, 0xff}));  // GSSAPI only
  EXPECT_EQ(choose(bytes({0x05, 0x00}), false), bytes({0x05, 0xff}));
  EXPECT_EQ(choose(bytes({0x05, 0x01, 0x00}), true), bytes({0x05, 0xff}));
  EXPECT_EQ(choose(bytes({0x05, 0x02, 0x00, 0x02}), true), bytes({0x05, 0x02}));
  EXPECT_EQ(choose(bytes({0x05, 0x00}), true), bytes({0x05, 0xff}));
}

// ---------------------------------------------------------------------------------------------
// RFC 1929 credentials (§9.1)

TEST(SocksCredentials, ParsesWholeAndAtEverySplit) {
  EXPECT_EQ(grind(credentials, bytes({0x01, 0x04}) + "user" + bytes({0x06}) + "secret"),
            "done 13 user=[user] pass=[secret]");
  EXPECT_EQ(grind(credentials, bytes({0x01, 0x01, 'u', 0x01, 'p'})), "done 5 user=[u] pass=[p]");
}

TEST(SocksCredentials, EmptyPasswordAccepted) {
  EXPECT_EQ(grind(credentials, bytes({0x01, 0x05}) + "agent" + bytes({0x00})),
            "done 8 user=[agent] pass=[]");
}

TEST(SocksCredentials, MaximalLengths) {
  const std::string user(255, 'u');
  const std::string pass(255, 'p');
  EXPECT_EQ(grind(credentials, bytes({0x01, 0xff}) + user + bytes({0xff}) + pass),
            "done 513 user=[" + user + "] pass=[" + pass + "]");
  EXPECT_EQ(grind(credentials, bytes({0x01, 0xff}) + user + bytes({0x00})),
            "done 258 user=[" + user + "] pass=[]");
}

TEST(SocksCredentials, OctetsAreKeptAsSent) {
  // RFC 1929 fields are opaque octets: NUL, high bytes and ':' pass through.
  const std::string user = bytes({'a', 0x00, 0xff, ':'});
  const std::string pass = bytes({0x00, 0x01});
  const auto p = parse_credentials(bytes({0x01, 0x04}) + user + bytes({0x02}) + pass);
  ASSERT_EQ(p.status, Status::done);
  EXPECT_EQ(p.consumed, 9u);
  EXPECT_EQ(p.value.user, user);
  EXPECT_EQ(p.value.password, pass);
}

TEST(SocksCredentials, EmptyUserIsFailure) {
  std::size_t at = 99;
  EXPECT_EQ(grind_error(credentials, bytes({0x01, 0x00, 0x04}) + "pass", &at), "error reply=1");
  EXPECT_EQ(at, 2u);
  EXPECT_EQ(credentials(bytes({0x01, 0x00, 0x00})), "error reply=1");
}

TEST(SocksCredentials, WrongVersionIsFailure) {
  for (int ver : {0x00, 0x02, 0x05, 0xff}) {
    std::size_t at = 99;
    EXPECT_EQ(grind_error(credentials, bytes({ver, 0x01, 'u', 0x01, 'p'}), &at), "error reply=1")
        << ver;
    EXPECT_EQ(at, 1u);
  }
}

TEST(SocksCredentials, EmptyNeedsMore) { EXPECT_EQ(credentials(""), "need_more"); }

// ---------------------------------------------------------------------------------------------
// request (§9.1, §9.2)

TEST(SocksRequest, Ipv4) {
  EXPECT_EQ(grind(request, bytes({0x05, 0x01, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0x01, 0xbb})),
            "done 10 cmd=1 v4 127.0.0.1 port=443");
  EXPECT_EQ(grind(request, bytes({0x05, 0x01, 0x00, 0x01, 0xc0, 0x00, 0x02, 0xff, 0xab, 0xcd})),
            "done 10 cmd=1 v4 192.0.2.255 port=43981");
  // UDP ASSOCIATE with the all-zero address.
  EXPECT_EQ(grind(request, bytes({0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0, 0})),
            "done 10 cmd=3 v4 0.0.0.0 port=0");
}

TEST(SocksRequest, Domain) {
  EXPECT_EQ(grind(request, domain_request(0x01, "example.com", 0x00, 0x50)),
            "done 18 cmd=1 domain [" + hex("example.com") + "] port=80");
  EXPECT_EQ(grind(request, domain_request(0x01, "a", 0xff, 0xff)),
            "done 8 cmd=1 domain [61] port=65535");
  // Domains are raw octets here; canonical_host() judges them.
  const std::string odd = bytes({'A', 0x00, ' ', 0xc3, 0xa4, '.'});
  EXPECT_EQ(grind(request, domain_request(0x01, odd, 0x00, 0x01)),
            "done 13 cmd=1 domain [" + hex(odd) + "] port=1");
}

TEST(SocksRequest, MaximalDomain) {
  const std::string name(255, 'x');
  EXPECT_EQ(grind(request, domain_request(0x01, name, 0x01, 0xbb)),
            "done 262 cmd=1 domain [" + hex(name) + "] port=443");
}

TEST(SocksRequest, Ipv6) {
  EXPECT_EQ(grind(request, bytes({0x05, 0x01, 0x00, 0x04}) + kV6Bytes + bytes({0x1f, 0x90})),
            "done 22 cmd=1 v6 2001:db8::1 port=8080");
  // IPv4-mapped stays an IPv6 address on the wire; canonical_host() unmaps it.
  EXPECT_EQ(grind(request, bytes({0x05, 0x01, 0x00, 0x04}) + kMappedBytes + bytes({0x00, 0x50})),
            "done 22 cmd=1 v6 ::ffff:192.0.2.7 port=80");
}

TEST(SocksRequest, ReservedByteIgnored) {
  EXPECT_EQ(grind(request, bytes({0x05, 0x01, 0xff, 0x01, 10, 0, 0, 1, 0, 22})),
            "done 10 cmd=1 v4 10.0.0.1 port=22");
}

TEST(SocksRequest, CommandReturnedAsSent) {
  for (int cmd : {0x01, 0x02, 0x03, 0x00, 0x04, 0x7f, 0xff}) {
    EXPECT_EQ(grind(request, bytes({0x05, cmd, 0x00, 0x01, 1, 2, 3, 4, 0, 80})),
              "done 10 cmd=" + std::to_string(cmd) + " v4 1.2.3.4 port=80");
  }
  const auto p = parse_request(bytes({0x05, 0x02, 0x00, 0x01, 1, 2, 3, 4, 0, 80}));
  EXPECT_EQ(p.value.command, static_cast<std::uint8_t>(Command::bind));
}

TEST(SocksRequest, WrongVersionIsGeneralFailure) {
  for (int ver : {0x00, 0x01, 0x04, 0xff}) {
    std::size_t at = 99;
    EXPECT_EQ(grind_error(request, bytes({ver, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80}), &at),
              "error reply=1")
        << ver;
    EXPECT_EQ(at, 1u);
  }
}

TEST(SocksRequest, UnknownAddressTypeIs08) {
  for (int atyp : {0x00, 0x02, 0x05, 0xff}) {
    std::size_t at = 99;
    EXPECT_EQ(grind_error(request, bytes({0x05, 0x01, 0x00, atyp, 1, 2, 3, 4, 0, 80}), &at),
              "error reply=8")
        << atyp;
    EXPECT_EQ(at, 4u) << "decided by the ATYP octet, atyp " << atyp;
    EXPECT_EQ(parse_request(bytes({0x05, 0x01, 0x00, atyp})).reply,
              std::optional<std::uint8_t>(0x08));
  }
}

TEST(SocksRequest, EmptyDomainIsGeneralFailure) {
  std::size_t at = 99;
  EXPECT_EQ(grind_error(request, bytes({0x05, 0x01, 0x00, 0x03, 0x00, 0x00, 0x50}), &at),
            "error reply=1");
  EXPECT_EQ(at, 5u);
}

TEST(SocksRequest, EmptyNeedsMore) { EXPECT_EQ(request(""), "need_more"); }

// ---------------------------------------------------------------------------------------------
// UDP relay header (§9.3)

TEST(SocksUdp, Ipv4) {
  EXPECT_EQ(grind_udp(bytes({0x00, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x35})),
            "done 10 frag=0 v4 192.0.2.1 port=53");
  const auto p = parse_udp_header(bytes({0, 0, 0, 0x01, 8, 8, 8, 8, 0, 53}) + "dns query");
  ASSERT_EQ(p.status, Status::done);
  EXPECT_EQ(p.consumed, 10u);
}

TEST(SocksUdp, Domain) {
  const std::string h = bytes({0, 0, 0, 0x03, 0x0b}) + "example.com" + bytes({0x01, 0xbb});
  EXPECT_EQ(grind_udp(h), "done 18 frag=0 domain [" + hex("example.com") + "] port=443");
  const std::string max = bytes({0, 0, 0, 0x03, 0xff}) + std::string(255, 'y') + bytes({0, 1});
  EXPECT_EQ(grind_udp(max), "done 262 frag=0 domain [" + hex(std::string(255, 'y')) + "] port=1");
}

TEST(SocksUdp, Ipv6) {
  EXPECT_EQ(grind_udp(bytes({0, 0, 0, 0x04}) + kV6Bytes + bytes({0x00, 0x7b})),
            "done 22 frag=0 v6 2001:db8::1 port=123");
}

TEST(SocksUdp, FragmentReturnedNotJudged) {
  EXPECT_EQ(grind_udp(bytes({0, 0, 0x01, 0x01, 1, 2, 3, 4, 0, 80})),
            "done 10 frag=1 v4 1.2.3.4 port=80");
  EXPECT_EQ(grind_udp(bytes({0, 0, 0x81, 0x01, 1, 2, 3, 4, 0, 80})),
            "done 10 frag=129 v4 1.2.3.4 port=80");
}

TEST(SocksUdp, ReservedBytesIgnored) {
  EXPECT_EQ(grind_udp(bytes({0xff, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80})),
            "done 10 frag=0 v4 1.2.3.4 port=80");
}

TEST(SocksUdp, TruncatedIsErrorNeverNeedMore) {
  EXPECT_EQ(udp(""), "error reply=none");
  EXPECT_EQ(udp(bytes({0, 0, 0})), "error reply=none");
  EXPECT_EQ(udp(bytes({0, 0, 0, 0x01})), "error reply=none");
  EXPECT_EQ(udp(bytes({0, 0, 0, 0x01, 1, 2, 3, 4, 0})), "error reply=none");
  EXPECT_EQ(udp(bytes({0, 0, 0, 0x03})), "error reply=none");
  EXPECT_EQ(udp(bytes({0, 0, 0, 0x03, 0x05, 'a', 'b', 'c', 'd', 'e', 0})), "error reply=none");
  EXPECT_EQ(udp(bytes({0, 0, 0, 0x04}) + kV6Bytes), "error reply=none");
}

TEST(SocksUdp, BadAddressIsError) {
  for (int atyp : {0x00, 0x02, 0x05, 0xff}) {
    EXPECT_EQ(parse_udp_header(bytes({0, 0, 0, atyp, 1, 2, 3, 4, 0, 80})).status, Status::error)
        << atyp;
  }
  EXPECT_EQ(parse_udp_header(bytes({0, 0, 0, 0x03, 0x00, 0x00, 0x50})).status, Status::error);
}

// ---------------------------------------------------------------------------------------------
// canonical_host (§4, §9.1)

Address domain(std::string_view name) {
  Address a;
  a.type = AddressType::domain;
  a.domain = std::string(name);
  return a;
}

Address ip_address(std::string_view text) {
  Address a;
  a.ip = ip(text);
  a.type = a.ip.is_v4() ? AddressType::ipv4 : AddressType::ipv6;
  return a;
}

std::string canon(const Address& a) {
  auto r = canonical_host(a);
  if (!r.ok()) return "error " + r.error().code;
  const char* kind = r->kind == HostKind::name   ? "name"
                     : r->kind == HostKind::ipv4 ? "ipv4"
                                                 : "ipv6";
  std::string out = std::string(kind) + " " + r->text;
  if (r->is_ip() != r->ip.has_value()) out += " (ip field inconsistent)";
  return out;
}

TEST(SocksCanonicalHost, DomainSpellingAnIpIsTheIp) {
  EXPECT_EQ(canon(domain("2130706433")), "ipv4 127.0.0.1");
  auto r = canonical_host(domain("2130706433"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_ip());
  EXPECT_EQ(r->ip, ip("127.0.0.1"));
  EXPECT_EQ(canon(domain("0x7f.1")), "ipv4 127.0.0.1");
  EXPECT_EQ(canon(domain("0177.0.0.1")), "ipv4 127.0.0.1");
  EXPECT_EQ(canon(domain("1.2.3.999")), "error invalid_host");
}

TEST(SocksCanonicalHost, Names) {
  EXPECT_EQ(canon(domain("EXAMPLE.com.")), "name example.com");
  EXPECT_EQ(canon(domain("example.com")), "name example.com");
  EXPECT_EQ(canon(domain("_acme-challenge.Example.COM")), "name _acme-challenge.example.com");
  EXPECT_EQ(canon(domain("ex\xc3\xa4mple.com")), "name xn--exmple-cua.com");
}

TEST(SocksCanonicalHost, BadDomainsFail) {
  for (std::string bad :
       {std::string("exa\0mple.com", 12), std::string("\0", 1), std::string("example.com\0", 12),
        std::string("a\x01.com"), std::string("a\x1f.com"), std::string("a\x7f.com"),
        std::string("a.com\r\n"), std::string("a\tb.com"), std::string("ex ample.com"),
        std::string("."), std::string("a..b"), std::string("   "), std::string("example.com:443"),
        std::string("example.com/x"), std::string("user@example.com"), std::string("\xff\xfe.com"),
        std::string("*.example.com"), std::string(64, 'a') + ".com"}) {
    EXPECT_EQ(canon(domain(bad)), "error invalid_host") << hex(bad);
  }
}

TEST(SocksCanonicalHost, DomainSpellingIpv6) {
  EXPECT_EQ(canon(domain("::1")), "ipv6 ::1");
  EXPECT_EQ(canon(domain("0:0:0:0:0:0:0:1")), "ipv6 ::1");
  EXPECT_EQ(canon(domain("2001:DB8:0:0:1:0:0:1")), "ipv6 2001:db8::1:0:0:1");
  EXPECT_EQ(canon(domain("::ffff:127.0.0.1")), "ipv4 127.0.0.1");
}

TEST(SocksCanonicalHost, IpAddresses) {
  EXPECT_EQ(canon(ip_address("192.0.2.1")), "ipv4 192.0.2.1");
  EXPECT_EQ(canon(ip_address("0.0.0.0")), "ipv4 0.0.0.0");
  EXPECT_EQ(canon(ip_address("2001:db8::1")), "ipv6 2001:db8::1");
  EXPECT_EQ(canon(ip_address("::")), "ipv6 ::");
  EXPECT_EQ(canon(ip_address("fe80::1")), "ipv6 fe80::1");
}

TEST(SocksCanonicalHost, MappedIpv6IsIpv4) {
  const auto p = parse_request(bytes({0x05, 0x01, 0x00, 0x04}) + kMappedBytes + bytes({0, 80}));
  ASSERT_EQ(p.status, Status::done);
  EXPECT_EQ(p.value.dst.type, AddressType::ipv6);
  auto r = canonical_host(p.value.dst);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "192.0.2.7");
  EXPECT_EQ(r->kind, HostKind::ipv4);
  EXPECT_EQ(r->ip, ip("192.0.2.7"));
}

TEST(SocksCanonicalHost, FromParsedRequests) {
  const auto p = parse_request(domain_request(0x01, "2130706433", 0x01, 0xbb));
  ASSERT_EQ(p.status, Status::done);
  EXPECT_EQ(canon(p.value.dst), "ipv4 127.0.0.1");
  const auto q = parse_request(domain_request(0x01, std::string("a\0b", 3), 0x01, 0xbb));
  ASSERT_EQ(q.status, Status::done);  // the wire is fine, the host is not
  EXPECT_EQ(canon(q.value.dst), "error invalid_host");
  const auto v6 = parse_request(bytes({0x05, 0x01, 0x00, 0x04}) + kV6Bytes + bytes({0, 80}));
  ASSERT_EQ(v6.status, Status::done);
  EXPECT_EQ(canon(v6.value.dst), "ipv6 2001:db8::1");
}

// ---------------------------------------------------------------------------------------------
// encoders

TEST(SocksEncode, MethodChoice) {
  EXPECT_EQ(encode_method_choice(Method::no_auth), bytes({0x05, 0x00}));
  EXPECT_EQ(encode_method_choice(Method::user_pass), bytes({0x05, 0x02}));
  EXPECT_EQ(encode_method_choice(Method::none_acceptable), bytes({0x05, 0xff}));
}

TEST(SocksEncode, AuthStatus) {
  EXPECT_EQ(encode_auth_status(true), bytes({0x01, 0x00}));
  EXPECT_EQ(encode_auth_status(false), bytes({0x01, 0x01}));
}

TEST(SocksEncode, ReplyIpv4) {
  EXPECT_EQ(hex(encode_reply(Reply::succeeded, ip("192.0.2.1"), 0x1f90)),
            hex(bytes({0x05, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x01, 0x1f, 0x90})));
  EXPECT_EQ(hex(encode_reply(Reply::not_allowed, IpAddress{}, 0)),
            hex(bytes({0x05, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0})));
  EXPECT_EQ(hex(encode_reply(Reply::address_type_not_supported, ip("255.255.255.255"), 65535)),
            hex(bytes({0x05, 0x08, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})));
}

TEST(SocksEncode, ReplyIpv6) {
  EXPECT_EQ(hex(encode_reply(Reply::succeeded, ip("2001:db8::1"), 0xabcd)),
            hex(bytes({0x05, 0x00, 0x00, 0x04}) + kV6Bytes + bytes({0xab, 0xcd})));
  EXPECT_EQ(hex(encode_reply(Reply::general_failure, ip("::"), 1)),
            hex(bytes({0x05, 0x01, 0x00, 0x04}) + std::string(16, '\0') + bytes({0x00, 0x01})));
}

TEST(SocksEncode, ReplyMappedIpv6IsSentAsIpv4) {
  EXPECT_EQ(hex(encode_reply(Reply::succeeded, ip("::ffff:192.0.2.7"), 443)),
            hex(bytes({0x05, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x07, 0x01, 0xbb})));
}

TEST(SocksEncode, ReplyCodes) {
  for (int code = 0; code <= 8; ++code) {
    const auto out = encode_reply(static_cast<Reply>(code), ip("10.0.0.1"), 80);
    ASSERT_EQ(out.size(), 10u);
    EXPECT_EQ(static_cast<std::uint8_t>(out[1]), code);
  }
}

TEST(SocksEncode, UdpHeader) {
  EXPECT_EQ(hex(encode_udp_header(ip("192.0.2.1"), 53)),
            hex(bytes({0x00, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x35})));
  EXPECT_EQ(hex(encode_udp_header(ip("2001:db8::1"), 0x1234)),
            hex(bytes({0x00, 0x00, 0x00, 0x04}) + kV6Bytes + bytes({0x12, 0x34})));
  EXPECT_EQ(hex(encode_udp_header(ip("::ffff:192.0.2.7"), 0x1234)),
            hex(bytes({0x00, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x07, 0x12, 0x34})));
}

TEST(SocksEncode, RoundTrips) {
  for (const char* text :
       {"0.0.0.0", "192.0.2.1", "255.255.255.255", "::", "::1", "2001:db8::1", "fe80::1",
        "::ffff:10.1.2.3", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}) {
    for (int p : {0, 1, 80, 0x1234, 0xff00, 65535}) {
      const auto port = static_cast<std::uint16_t>(p);
      {
        const IpAddress a = ip(text);
        const auto want_type = a.unmapped().is_v4() ? AddressType::ipv4 : AddressType::ipv6;

        const auto h = encode_udp_header(a, port);
        const auto u = parse_udp_header(h + "data");
        ASSERT_EQ(u.status, Status::done) << text;
        EXPECT_EQ(u.consumed, h.size()) << text;
        EXPECT_EQ(u.value.frag, 0);
        EXPECT_EQ(u.value.dst.type, want_type) << text;
        EXPECT_EQ(u.value.dst.ip, a.unmapped()) << text;
        EXPECT_EQ(u.value.port, port) << text;

        // A reply has the request's layout, REP in the CMD position.
        const auto r = encode_reply(Reply::connection_refused, a, port);
        const auto q = parse_request(r);
        ASSERT_EQ(q.status, Status::done) << text;
        EXPECT_EQ(q.consumed, r.size());
        EXPECT_EQ(q.value.command, 0x05);
        EXPECT_EQ(q.value.dst.type, want_type) << text;
        EXPECT_EQ(q.value.dst.ip, a.unmapped()) << text;
        EXPECT_EQ(q.value.port, port) << text;
      }
    }
  }
}

}  // namespace
}  // namespace netfence::socks::wire
