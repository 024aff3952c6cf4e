// Fuzzes the SOCKS5 wire codec (SPEC §9): every parser sees the input, and the results must be
// consistent. Stream messages (greeting, credentials, request): over growing prefixes the outcome
// is need_more until the first decisive length, then one fixed done/error result (so a buffer
// holding a complete message never asks for more, and parsing the first `consumed` bytes gives
// the same done result). UDP headers are complete-or-error. Parsed IP addresses re-encode and
// re-parse to themselves; canonical_host() is total and meets §4/§9.1. std::abort() on violation.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "core/host.hpp"
#include "socks/wire/codec.hpp"

namespace {

using namespace netfence::socks::wire;  // NOLINT(google-build-using-namespace)

// Longest stream messages: a buffer this long always holds a whole message.
constexpr std::size_t kMaxGreeting = 2 + 255;
constexpr std::size_t kMaxCredentials = 1 + 1 + 255 + 1 + 255;
constexpr std::size_t kMaxRequest = 4 + 1 + 255 + 2;

void check(bool ok) {
  if (!ok) std::abort();
}

bool same_address(const Address& a, const Address& b) {
  if (a.type != b.type) return false;
  return a.type == AddressType::domain ? a.domain == b.domain : a.ip == b.ip;
}

bool same(const Parsed<Greeting>& a, const Parsed<Greeting>& b) {
  return a.value.offers_no_auth == b.value.offers_no_auth &&
         a.value.offers_user_pass == b.value.offers_user_pass;
}
bool same(const Parsed<Credentials>& a, const Parsed<Credentials>& b) {
  return a.value.user == b.value.user && a.value.password == b.value.password;
}
bool same(const Parsed<Request>& a, const Parsed<Request>& b) {
  return a.value.command == b.value.command && a.value.port == b.value.port &&
         same_address(a.value.dst, b.value.dst);
}
bool same(const Parsed<UdpHeader>& a, const Parsed<UdpHeader>& b) {
  return a.value.frag == b.value.frag && a.value.port == b.value.port &&
         same_address(a.value.dst, b.value.dst);
}

template <class T>
bool same_outcome(const Parsed<T>& a, const Parsed<T>& b) {
  if (a.status != b.status) return false;
  if (a.status == Status::error) return a.reply == b.reply;
  if (a.status == Status::done) return a.consumed == b.consumed && same(a, b);
  return true;
}

// The parsed address is exactly what the wire at `off` (ATYP onwards) says: type, length
// octet, address octets and port. Returns the offset just past DST.PORT.
std::size_t check_wire(std::string_view in, std::size_t off, const Address& a, std::uint16_t port) {
  auto octet = [&](std::size_t i) {
    check(i < in.size());
    return static_cast<std::uint8_t>(in[i]);
  };
  check(octet(off) == static_cast<std::uint8_t>(a.type));
  std::size_t pos = off + 1;
  switch (a.type) {
    case AddressType::ipv4:
    case AddressType::ipv6: {
      const std::size_t len = a.type == AddressType::ipv4 ? 4 : 16;
      check(a.type == AddressType::ipv4 ? a.ip.is_v4() : a.ip.is_v6());
      for (std::size_t i = 0; i < len; ++i) check(octet(pos + i) == a.ip.bytes()[i]);
      pos += len;
      break;
    }
    case AddressType::domain: {
      const std::size_t len = octet(pos);
      check(len != 0 && a.domain.size() == len);
      check(in.substr(pos + 1, len) == a.domain);
      pos += 1 + len;
      break;
    }
    default:
      std::abort();
  }
  check(port == ((octet(pos) << 8) | octet(pos + 1)));
  return pos + 2;
}

bool is_trim(char c) { return c == ' ' || c == '\t'; }

// canonical_host() is total; IPs always canonicalise to themselves (mapped ones to IPv4); a
// domain with NUL/control octets inside (after §4 trimming) never passes; output is stable.
void check_canonical(const Address& a) {
  auto r = canonical_host(a);
  if (a.type != AddressType::domain) {
    check(r.ok());
    const auto want = a.ip.unmapped();
    check(r->is_ip() && r->ip.has_value() && *r->ip == want);
    check((r->kind == netfence::core::HostKind::ipv4) == want.is_v4());
    check(r->text == want.to_string());
    return;
  }
  if (!r.ok()) return;
  std::string_view d = a.domain;
  while (!d.empty() && is_trim(d.front())) d.remove_prefix(1);
  while (!d.empty() && is_trim(d.back())) d.remove_suffix(1);
  for (char c : d) {
    const auto b = static_cast<unsigned char>(c);
    check(b >= 0x21 && b != 0x7f);
  }
  check(!r->text.empty());
  auto again = netfence::core::canonicalize_host(r->text);
  check(again.ok() && again->text == r->text && again->kind == r->kind);
}

// A parsed IP address re-encodes (UDP header and reply) and re-parses to itself.
void check_reencode(const Address& a, std::uint16_t port) {
  if (a.type == AddressType::domain) return;
  const auto want = a.ip.unmapped();
  const auto want_type = want.is_v4() ? AddressType::ipv4 : AddressType::ipv6;

  const std::string h = encode_udp_header(a.ip, port);
  const auto u = parse_udp_header(h);
  check(u.status == Status::done && u.consumed == h.size() && u.value.frag == 0);
  check(u.value.dst.type == want_type && u.value.dst.ip == want && u.value.port == port);

  const std::string r = encode_reply(Reply::succeeded, a.ip, port);
  const auto q = parse_request(r);
  check(q.status == Status::done && q.consumed == r.size() && q.value.command == 0);
  check(q.value.dst.type == want_type && q.value.dst.ip == want && q.value.port == port);
}

// need_more* then one fixed outcome over growing prefixes; done only at exactly `consumed`.
template <class T, class Fn>
Parsed<T> check_stream(std::string_view in, std::size_t max_message, Fn parse) {
  const std::size_t n = std::min(in.size(), max_message + 8);
  std::optional<Parsed<T>> decided;
  std::size_t decided_at = 0;
  for (std::size_t k = 0; k <= n; ++k) {
    auto p = parse(in.substr(0, k));
    if (!decided) {
      if (p.status == Status::need_more) {
        check(k < max_message);
        continue;
      }
      if (p.status == Status::done) check(p.consumed == k);  // the first decisive length
      if (p.status == Status::error) check(!p.error.empty());
      decided = std::move(p);
      decided_at = k;
    } else {
      check(same_outcome(p, *decided));
    }
  }
  auto whole = parse(in);
  if (decided) {
    check(same_outcome(whole, *decided));
  } else {
    check(whole.status == Status::need_more);
  }
  if (whole.status == Status::done) {
    check(whole.consumed <= in.size() && whole.consumed == decided_at);
    check(same_outcome(parse(in.substr(0, whole.consumed)), whole));
  }
  return whole;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // Greeting: VER ≠ 5 closes without a reply; done consumes 2 + NMETHODS.
  const auto g = check_stream<Greeting>(in, kMaxGreeting, parse_greeting);
  if (g.status == Status::error) check(!g.reply && static_cast<std::uint8_t>(in[0]) != kVersion);
  if (g.status == Status::done) {
    check(g.consumed == 2 + static_cast<std::uint8_t>(in[1]));
    const std::string_view methods = in.substr(2, g.consumed - 2);
    check(g.value.offers_no_auth == (methods.find('\x00') != std::string_view::npos));
    check(g.value.offers_user_pass == (methods.find('\x02') != std::string_view::npos));
    for (bool pw : {false, true}) {
      const Method m = choose_method(g.value, pw);
      if (pw) check(m == (g.value.offers_user_pass ? Method::user_pass : Method::none_acceptable));
      if (!pw && g.value.offers_no_auth) check(m == Method::no_auth);
      const std::string out = encode_method_choice(m);
      check(out.size() == 2 && out[0] == '\x05' && out[1] == static_cast<char>(m));
    }
  }

  // Credentials: every error answers 01 01.
  const auto c = check_stream<Credentials>(in, kMaxCredentials, parse_credentials);
  if (c.status == Status::error) check(c.reply == std::optional<std::uint8_t>(0x01));
  if (c.status == Status::done) {
    check(!c.value.user.empty() && c.value.user.size() <= 255 && c.value.password.size() <= 255);
    check(c.consumed == 3 + c.value.user.size() + c.value.password.size());
    check(in.substr(2, c.value.user.size()) == c.value.user);
    check(in.substr(3 + c.value.user.size(), c.value.password.size()) == c.value.password);
  }

  // Request: errors answer 0x01 or 0x08.
  const auto r = check_stream<Request>(in, kMaxRequest, parse_request);
  if (r.status == Status::error)
    check(r.reply == std::uint8_t{0x01} || r.reply == std::uint8_t{0x08});
  if (r.status == Status::done) {
    check(r.consumed == check_wire(in, 3, r.value.dst, r.value.port));
    check(r.value.command == static_cast<std::uint8_t>(in[1]));
    check_canonical(r.value.dst);
    check_reencode(r.value.dst, r.value.port);
  }

  // UDP header: never need_more; shorter prefixes than the header are errors.
  const auto u = parse_udp_header(in);
  check(u.status != Status::need_more);
  if (u.status == Status::error) check(!u.error.empty());
  if (u.status == Status::done) {
    check(u.consumed <= in.size());
    check(u.consumed == check_wire(in, 3, u.value.dst, u.value.port));
    check(u.value.frag == static_cast<std::uint8_t>(in[2]));
    check(same_outcome(parse_udp_header(in.substr(0, u.consumed)), u));
    for (std::size_t k = 0; k < u.consumed; ++k) {
      check(parse_udp_header(in.substr(0, k)).status == Status::error);
    }
    check_canonical(u.value.dst);
    check_reencode(u.value.dst, u.value.port);
  } else if (u.reply) {
    // A bad ATYP or an empty domain (unlike truncation) stays bad whatever follows.
    check(parse_udp_header(std::string(in) + "xxxxxxxxxxxxxxxxxxxx").status == Status::error);
  }
  return 0;
}
