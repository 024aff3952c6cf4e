#include "socks_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace netfence::testing::socks5 {
namespace {

void put_port(std::string& out, std::uint16_t port) {
  out.push_back(static_cast<char>(port >> 8));
  out.push_back(static_cast<char>(port & 0xff));
}

std::uint16_t get_port(std::string_view b) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(b[0]) << 8) |
                                    static_cast<std::uint8_t>(b[1]));
}

std::string ntop(int family, std::string_view raw) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family, raw.data(), text, sizeof text);
  return text;
}

// Parses ATYP ADDR PORT at the start of `b`; returns bytes used, 0 if incomplete/unknown.
std::size_t parse_address(std::string_view b, std::uint8_t& atyp, std::string& ip,
                          std::uint16_t& port) {
  if (b.empty()) return 0;
  atyp = static_cast<std::uint8_t>(b[0]);
  std::size_t len = 0, off = 1;
  if (atyp == 0x01) {
    len = 4;
  } else if (atyp == 0x04) {
    len = 16;
  } else if (atyp == 0x03) {
    if (b.size() < 2) return 0;
    len = static_cast<std::uint8_t>(b[1]);
    off = 2;
  } else {
    return 0;
  }
  if (b.size() < off + len + 2) return 0;
  const std::string_view raw = b.substr(off, len);
  ip = atyp == 0x01 ? ntop(AF_INET, raw) : atyp == 0x04 ? ntop(AF_INET6, raw) : std::string(raw);
  port = get_port(b.substr(off + len, 2));
  return off + len + 2;
}

}  // namespace

std::string greeting(const std::vector<std::uint8_t>& methods, std::uint8_t version) {
  std::string out;
  out.push_back(static_cast<char>(version));
  out.push_back(static_cast<char>(methods.size()));
  for (auto m : methods) out.push_back(static_cast<char>(m));
  return out;
}

std::string credentials(std::string_view user, std::string_view password) {
  std::string out("\x01", 1);
  out.push_back(static_cast<char>(user.size()));
  out += user;
  out.push_back(static_cast<char>(password.size()));
  out += password;
  return out;
}

std::string addr_ipv4(std::string_view dotted, std::uint16_t port) {
  in_addr a{};
  if (::inet_pton(AF_INET, std::string(dotted).c_str(), &a) != 1) {
    throw std::invalid_argument("not an IPv4 literal");
  }
  std::string out("\x01", 1);
  out.append(reinterpret_cast<const char*>(&a), 4);
  put_port(out, port);
  return out;
}

std::string addr_ipv6(std::string_view text, std::uint16_t port) {
  in6_addr a{};
  if (::inet_pton(AF_INET6, std::string(text).c_str(), &a) != 1) {
    throw std::invalid_argument("not an IPv6 literal");
  }
  std::string out("\x04", 1);
  out.append(reinterpret_cast<const char*>(&a), 16);
  put_port(out, port);
  return out;
}

std::string addr_domain(std::string_view name, std::uint16_t port) {
  std::string out("\x03", 1);
  out.push_back(static_cast<char>(name.size()));
  out += name;
  put_port(out, port);
  return out;
}

std::string request(std::uint8_t command, std::string_view address, std::uint8_t version) {
  std::string out;
  out.push_back(static_cast<char>(version));
  out.push_back(static_cast<char>(command));
  out.push_back('\0');
  out += address;
  return out;
}

std::optional<Reply> read_reply(RawClient& c, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
  };
  auto head = c.read_exact(4, timeout);
  if (!head) return std::nullopt;
  Reply r;
  r.ver = static_cast<std::uint8_t>((*head)[0]);
  r.rep = static_cast<std::uint8_t>((*head)[1]);
  r.rsv = static_cast<std::uint8_t>((*head)[2]);
  r.atyp = static_cast<std::uint8_t>((*head)[3]);
  std::size_t rest = 0;
  std::string prefix;
  if (r.atyp == 0x01) {
    rest = 6;
  } else if (r.atyp == 0x04) {
    rest = 18;
  } else if (r.atyp == 0x03) {
    auto n = c.read_exact(1, left());
    if (!n) return std::nullopt;
    prefix = *n;
    rest = static_cast<std::uint8_t>((*n)[0]) + 2u;
  } else {
    return std::nullopt;
  }
  auto tail = c.read_exact(rest, left());
  if (!tail) return std::nullopt;
  std::string addr = std::string(1, static_cast<char>(r.atyp)) + prefix + *tail;
  std::uint8_t atyp = 0;
  if (parse_address(addr, atyp, r.ip, r.port) == 0) return std::nullopt;
  return r;
}

std::string udp_datagram(std::string_view address, std::string_view payload, std::uint8_t frag) {
  std::string out(2, '\0');
  out.push_back(static_cast<char>(frag));
  out += address;
  out += payload;
  return out;
}

std::optional<UdpReply> parse_udp(std::string_view d) {
  if (d.size() < 4 || d[0] != '\0' || d[1] != '\0') return std::nullopt;
  UdpReply r;
  r.frag = static_cast<std::uint8_t>(d[2]);
  const std::size_t used = parse_address(d.substr(3), r.atyp, r.ip, r.port);
  if (used == 0) return std::nullopt;
  r.payload = std::string(d.substr(3 + used));
  return r;
}

UdpClient::UdpClient(std::string_view bind_ip) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, std::string(bind_ip).c_str(), &addr.sin_addr);
  socklen_t len = sizeof addr;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("udp client: cannot bind " + std::string(bind_ip));
  }
  port_ = ntohs(addr.sin_port);
}

UdpClient::~UdpClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool UdpClient::send_to(std::uint16_t port, std::string_view bytes, std::string_view ip) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, std::string(ip).c_str(), &addr.sin_addr);
  addr.sin_port = htons(port);
  return ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&addr),
                  sizeof addr) == static_cast<ssize_t>(bytes.size());
}

std::optional<std::string> UdpClient::recv(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r == 0) return std::nullopt;
    if (r < 0) continue;
    char buf[65536];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n =
        ::recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) continue;  // e.g. ICMP port unreachable surfacing as ECONNREFUSED
    last_from_port_ = ntohs(from.sin_port);
    return std::string(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace netfence::testing::socks5
