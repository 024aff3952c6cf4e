#include "socks/wire/codec.hpp"

#include <array>

namespace netfence::socks::wire {
namespace {

std::uint8_t at(std::string_view b, std::size_t i) { return static_cast<std::uint8_t>(b[i]); }

template <class T>
Parsed<T> fail(std::optional<std::uint8_t> reply, std::string why) {
  Parsed<T> p;
  p.status = Status::error;
  p.reply = reply;
  p.error = std::move(why);
  return p;
}

constexpr std::uint8_t code(Reply r) { return static_cast<std::uint8_t>(r); }

// ATYP DST.ADDR DST.PORT starting at `off`. Returns the end offset, 0 when more bytes are needed
// (never a valid end: an address is at least 7 bytes), or sets an error.
template <class T>
std::size_t parse_address(std::string_view b, std::size_t off, Address& out, std::uint16_t& port,
                          Parsed<T>& err) {
  if (b.size() <= off) return 0;
  const std::uint8_t atyp = at(b, off);
  std::size_t addr_len = 0;
  std::size_t addr_off = off + 1;
  switch (atyp) {
    case static_cast<std::uint8_t>(AddressType::ipv4):
      addr_len = 4;
      break;
    case static_cast<std::uint8_t>(AddressType::ipv6):
      addr_len = 16;
      break;
    case static_cast<std::uint8_t>(AddressType::domain):
      if (b.size() <= off + 1) return 0;
      addr_len = at(b, off + 1);
      addr_off = off + 2;
      if (addr_len == 0) {
        err = fail<T>(code(Reply::general_failure), "empty domain name");
        return 0;
      }
      break;
    default:
      err = fail<T>(code(Reply::address_type_not_supported),
                    "unsupported address type " + std::to_string(atyp));
      return 0;
  }
  const std::size_t end = addr_off + addr_len + 2;
  if (b.size() < end) return 0;
  out.type = static_cast<AddressType>(atyp);
  if (atyp == static_cast<std::uint8_t>(AddressType::ipv4)) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | at(b, addr_off + i);
    out.ip = core::IpAddress::v4(v);
  } else if (atyp == static_cast<std::uint8_t>(AddressType::ipv6)) {
    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t i = 0; i < 16; ++i) bytes[i] = at(b, addr_off + i);
    out.ip = core::IpAddress::v6(bytes);
  } else {
    out.domain.assign(b.substr(addr_off, addr_len));
  }
  port = static_cast<std::uint16_t>((at(b, end - 2) << 8) | at(b, end - 1));
  return end;
}

void append_address(std::string& out, const core::IpAddress& ip, std::uint16_t port) {
  const core::IpAddress a = ip.unmapped();
  const auto& bytes = a.bytes();
  if (a.is_v4()) {
    out.push_back(static_cast<char>(AddressType::ipv4));
    out.append(reinterpret_cast<const char*>(bytes.data()), 4);
  } else {
    out.push_back(static_cast<char>(AddressType::ipv6));
    out.append(reinterpret_cast<const char*>(bytes.data()), 16);
  }
  out.push_back(static_cast<char>(port >> 8));
  out.push_back(static_cast<char>(port & 0xff));
}

}  // namespace

Parsed<Greeting> parse_greeting(std::string_view b) {
  Parsed<Greeting> p;
  if (b.empty()) return p;
  if (at(b, 0) != kVersion) return fail<Greeting>(std::nullopt, "not a SOCKS5 greeting");
  if (b.size() < 2) return p;
  const std::size_t n = at(b, 1);
  if (b.size() < 2 + n) return p;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t m = at(b, 2 + i);
    if (m == static_cast<std::uint8_t>(Method::no_auth)) p.value.offers_no_auth = true;
    if (m == static_cast<std::uint8_t>(Method::user_pass)) p.value.offers_user_pass = true;
  }
  p.status = Status::done;
  p.consumed = 2 + n;
  return p;
}

Method choose_method(const Greeting& g, bool password_required) noexcept {
  if (password_required) return g.offers_user_pass ? Method::user_pass : Method::none_acceptable;
  if (g.offers_no_auth) return Method::no_auth;
  if (g.offers_user_pass) return Method::user_pass;
  return Method::none_acceptable;
}

Parsed<Credentials> parse_credentials(std::string_view b) {
  Parsed<Credentials> p;
  constexpr std::uint8_t kFailure = 0x01;
  if (b.empty()) return p;
  if (at(b, 0) != kAuthVersion) return fail<Credentials>(kFailure, "bad auth version");
  if (b.size() < 2) return p;
  const std::size_t ulen = at(b, 1);
  if (ulen == 0) return fail<Credentials>(kFailure, "empty user name");
  if (b.size() < 2 + ulen + 1) return p;
  const std::size_t plen = at(b, 2 + ulen);
  const std::size_t end = 3 + ulen + plen;
  if (b.size() < end) return p;
  p.value.user.assign(b.substr(2, ulen));
  p.value.password.assign(b.substr(3 + ulen, plen));
  p.status = Status::done;
  p.consumed = end;
  return p;
}

Parsed<Request> parse_request(std::string_view b) {
  Parsed<Request> p;
  if (b.empty()) return p;
  if (at(b, 0) != kVersion) {
    return fail<Request>(code(Reply::general_failure), "bad request version");
  }
  if (b.size() < 4) return p;
  p.value.command = at(b, 1);
  const std::size_t end = parse_address(b, 3, p.value.dst, p.value.port, p);
  if (p.status == Status::error || end == 0) return p;
  p.status = Status::done;
  p.consumed = end;
  return p;
}

Parsed<UdpHeader> parse_udp_header(std::string_view d) {
  Parsed<UdpHeader> p;
  if (d.size() < 4) return fail<UdpHeader>(std::nullopt, "truncated header");
  p.value.frag = at(d, 2);
  const std::size_t end = parse_address(d, 3, p.value.dst, p.value.port, p);
  if (p.status == Status::error) return p;
  if (end == 0) return fail<UdpHeader>(std::nullopt, "truncated header");
  p.status = Status::done;
  p.consumed = end;
  return p;
}

Result<core::CanonicalHost> canonical_host(const Address& a) {
  if (a.type == AddressType::domain) {
    // §4 rejects NUL and control characters; the length byte already bounds it to 255.
    return core::canonicalize_host(a.domain);
  }
  return core::canonicalize_host(a.ip.to_string());
}

std::string encode_method_choice(Method m) {
  std::string out;
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(m));
  return out;
}

std::string encode_auth_status(bool ok) {
  std::string out;
  out.push_back(static_cast<char>(kAuthVersion));
  out.push_back(static_cast<char>(ok ? 0x00 : 0x01));
  return out;
}

std::string encode_reply(Reply r, const core::IpAddress& bnd, std::uint16_t port) {
  std::string out;
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(r));
  out.push_back('\0');
  append_address(out, bnd, port);
  return out;
}

std::string encode_udp_header(const core::IpAddress& src, std::uint16_t port) {
  std::string out(3, '\0');
  append_address(out, src, port);
  return out;
}

}  // namespace netfence::socks::wire
