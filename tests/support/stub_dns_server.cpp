#include "stub_dns_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace netfence::testing {
namespace {

constexpr std::size_t kMaxTcpConnections = 64;
constexpr std::size_t kMaxTcpOutput = 1 << 20;  // a client that never reads is dropped
constexpr int kMaxCnameHops = 8;

std::string normalise(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

bool bind_loopback(int fd, std::uint16_t port) {
  const sockaddr_in addr = loopback(port);
  return ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
}

}  // namespace

std::string format_query(const StubQuery& query) {
  return std::string(query.transport == DnsTransport::udp ? "udp " : "tcp ") +
         dns_wire::type_name(query.type) + " " + query.name;
}

struct StubDnsServer::TcpConnection {
  int fd = -1;
  std::vector<std::uint8_t> in;
  std::vector<std::uint8_t> out;
};

StubDnsServer::StubDnsServer(std::uint16_t port) {
  // UDP first on the wanted port, then TCP on the same number; with port 0 another process may
  // hold that TCP port, so retry with a fresh UDP port.
  for (int attempt = 0; attempt < 50 && tcp_fd_ < 0; ++attempt) {
    udp_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (udp_fd_ < 0) throw std::runtime_error("stub dns: socket() failed");
    if (!bind_loopback(udp_fd_, port)) {
      close_fd(udp_fd_);
      throw std::runtime_error(std::string("stub dns: cannot bind UDP: ") + std::strerror(errno));
    }
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    ::getsockname(udp_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.sin_port);

    tcp_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(tcp_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (tcp_fd_ < 0 || !bind_loopback(tcp_fd_, port_) || ::listen(tcp_fd_, 64) != 0) {
      const int saved = errno;
      close_fd(tcp_fd_);
      close_fd(udp_fd_);
      if (port != 0) {
        throw std::runtime_error(std::string("stub dns: cannot bind TCP: ") + std::strerror(saved));
      }
    }
  }
  if (tcp_fd_ < 0) throw std::runtime_error("stub dns: no port free for both UDP and TCP");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    close_fd(tcp_fd_);
    close_fd(udp_fd_);
    throw std::runtime_error("stub dns: eventfd() failed");
  }
  thread_ = std::thread([this] { serve(); });
}

StubDnsServer::~StubDnsServer() { stop(); }

std::string StubDnsServer::address() const { return "127.0.0.1:" + std::to_string(port_); }

void StubDnsServer::stop() {
  if (stopping_.exchange(true)) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  close_fd(udp_fd_);
  close_fd(tcp_fd_);
  close_fd(wake_fd_);
}

StubDnsServer::Address StubDnsServer::parse_address(std::string_view ip, std::uint32_t ttl) {
  Address a;
  a.ttl = ttl;
  const std::string text(ip);
  if (::inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) return a;
  if (::inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
    a.v6 = true;
    return a;
  }
  throw std::invalid_argument("not an IP address: " + text);
}

void StubDnsServer::add_address(std::string_view name, std::string_view ip, std::uint32_t ttl) {
  Address a = parse_address(ip, ttl);
  std::lock_guard lock(mutex_);
  rules_[normalise(name)].addresses.push_back(a);
}

void StubDnsServer::add_cname(std::string_view name, std::string_view target, std::uint32_t ttl) {
  std::vector<std::uint8_t> probe;
  if (!dns_wire::append_name(target, probe)) {
    throw std::invalid_argument("bad CNAME target: " + std::string(target));
  }
  std::lock_guard lock(mutex_);
  Rule& rule = rules_[normalise(name)];
  rule.cname = normalise(target);
  rule.cname_ttl = ttl;
}

void StubDnsServer::set_behaviour(std::string_view name, Behaviour behaviour, std::uint16_t type) {
  std::lock_guard lock(mutex_);
  Rule& rule = rules_[normalise(name)];
  if (type == 0) {
    rule.behaviour = behaviour;
  } else {
    rule.typed_behaviour[type] = behaviour;
  }
}

void StubDnsServer::set_rebind(std::string_view name, std::string_view first_ip,
                               std::string_view later_ip) {
  const Address first = parse_address(first_ip, 0);
  const Address later = parse_address(later_ip, 0);
  std::lock_guard lock(mutex_);
  Rule& rule = rules_[normalise(name)];
  rule.rebind = true;
  rule.rebind_first = first;
  rule.rebind_later = later;
}

void StubDnsServer::set_truncate(std::string_view name, bool truncate) {
  std::lock_guard lock(mutex_);
  rules_[normalise(name)].truncate = truncate;
}

void StubDnsServer::load_script(std::string_view text) {
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (const auto hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);

    std::vector<std::string> words;
    std::size_t pos = 0;
    while (pos < line.size()) {
      const std::size_t start = line.find_first_not_of(" \t\r", pos);
      if (start == std::string_view::npos) break;
      std::size_t end = line.find_first_of(" \t\r", start);
      if (end == std::string_view::npos) end = line.size();
      words.emplace_back(line.substr(start, end - start));
      pos = end;
    }
    if (words.empty()) continue;

    const auto fail = [&](const std::string& why) {
      throw std::invalid_argument("line " + std::to_string(line_no) + ": " + why);
    };
    std::uint32_t ttl = 60;
    if (words.size() > 2 && words.back().rfind("ttl=", 0) == 0) {
      try {
        const unsigned long value = std::stoul(words.back().substr(4));
        if (value > 0x7FFFFFFF) fail("ttl out of range");
        ttl = static_cast<std::uint32_t>(value);
      } catch (const std::logic_error&) {
        fail("bad ttl: " + words.back());
      }
      words.pop_back();
    }
    if (words.size() < 2) fail("expected NAME TYPE ...");
    const std::string& name = words[0];
    const std::string kind = upper(words[1]);
    const std::size_t nargs = words.size() - 2;
    try {
      if (kind == "A" || kind == "AAAA") {
        if (nargs == 0) fail(kind + " needs an address");
        for (std::size_t i = 2; i < words.size(); ++i) {
          if (parse_address(words[i], ttl).v6 != (kind == "AAAA")) {
            fail("address family does not match " + kind + ": " + words[i]);
          }
          add_address(name, words[i], ttl);
        }
      } else if (kind == "CNAME") {
        if (nargs != 1) fail("CNAME needs one target");
        add_cname(name, words[2], ttl);
      } else if (kind == "REBIND") {
        if (nargs != 2) fail("REBIND needs two addresses");
        set_rebind(name, words[2], words[3]);
      } else if (kind == "TRUNCATE") {
        if (nargs != 0) fail("TRUNCATE takes no arguments");
        set_truncate(name);
      } else {
        static const std::map<std::string, Behaviour, std::less<>> kBehaviours = {
            {"NXDOMAIN", Behaviour::nxdomain},
            {"SERVFAIL", Behaviour::servfail},
            {"REFUSED", Behaviour::refused},
            {"TIMEOUT", Behaviour::timeout},
            {"EMPTY", Behaviour::empty}};
        const auto it = kBehaviours.find(kind);
        if (it == kBehaviours.end()) fail("unknown type: " + words[1]);
        std::uint16_t only = 0;
        if (nargs == 1 && upper(words[2]) == "A") {
          only = dns_wire::kTypeA;
        } else if (nargs == 1 && upper(words[2]) == "AAAA") {
          only = dns_wire::kTypeAaaa;
        } else if (nargs != 0) {
          fail(kind + " takes no arguments but an optional A or AAAA");
        }
        set_behaviour(name, it->second, only);
      }
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      if (what.rfind("line ", 0) == 0) throw;
      fail(what);
    }
  }
}

std::size_t StubDnsServer::query_count() const {
  std::lock_guard lock(mutex_);
  return queries_.size();
}

std::size_t StubDnsServer::query_count(std::string_view name) const {
  const std::string wanted = normalise(name);
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& q : queries_) n += q.name == wanted ? 1 : 0;
  return n;
}

std::size_t StubDnsServer::query_count(std::string_view name, std::uint16_t type) const {
  const std::string wanted = normalise(name);
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& q : queries_) n += (q.name == wanted && q.type == type) ? 1 : 0;
  return n;
}

std::vector<StubQuery> StubDnsServer::queries() const {
  std::lock_guard lock(mutex_);
  return queries_;
}

std::size_t StubDnsServer::malformed_count() const {
  std::lock_guard lock(mutex_);
  return malformed_;
}

void StubDnsServer::set_observer(std::function<void(const StubQuery&)> observer) {
  std::lock_guard lock(mutex_);
  observer_ = std::move(observer);
}

StubDnsServer::Reply StubDnsServer::handle_packet(std::span<const std::uint8_t> packet,
                                                  DnsTransport transport) {
  using dns_wire::Rcode;
  const dns_wire::ParseResult parsed = dns_wire::parse_query(packet);
  Reply reply;
  if (!parsed.query) {
    std::lock_guard lock(mutex_);
    ++malformed_;
    if (parsed.error != dns_wire::ParseError::too_short &&
        parsed.error != dns_wire::ParseError::is_response) {
      reply.send = true;
      const auto id = static_cast<std::uint16_t>((packet[0] << 8) | packet[1]);
      reply.bytes = dns_wire::encode_error_header(id, Rcode::formerr);
    }
    return reply;
  }
  const dns_wire::Query& query = *parsed.query;
  const StubQuery record{query.question.name(), query.question.type, transport};
  std::function<void(const StubQuery&)> observer;

  std::vector<dns_wire::Record> answers;
  Rcode rcode = Rcode::noerror;
  bool truncated = false;
  reply.send = true;
  {
    std::lock_guard lock(mutex_);
    queries_.push_back(record);
    observer = observer_;
    const std::uint16_t type = query.question.type;
    const auto matches = [type](const Address& a) {
      return (type == dns_wire::kTypeA && !a.v6) || (type == dns_wire::kTypeAaaa && a.v6);
    };
    const auto add = [&answers](const std::string& owner, const Address& a, std::uint32_t ttl) {
      if (a.v6) {
        answers.push_back(dns_wire::make_aaaa(owner, a.bytes, ttl));
      } else {
        answers.push_back(
            dns_wire::make_a(owner, {a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]}, ttl));
      }
    };
    if (query.opcode() != 0 || query.question.qclass != dns_wire::kClassIn) {
      rcode = Rcode::notimp;
    } else {
      std::string current = record.name;
      int hop = 0;
      for (; hop <= kMaxCnameHops; ++hop) {
        const auto it = rules_.find(current);
        if (it == rules_.end()) {
          rcode = Rcode::nxdomain;
          break;
        }
        const Rule& rule = it->second;
        const auto typed = rule.typed_behaviour.find(type);
        const Behaviour behaviour =
            typed != rule.typed_behaviour.end() ? typed->second : rule.behaviour;
        if (behaviour == Behaviour::timeout) {
          reply.send = false;
          break;
        }
        if (behaviour == Behaviour::nxdomain) rcode = Rcode::nxdomain;
        if (behaviour == Behaviour::servfail) rcode = Rcode::servfail;
        if (behaviour == Behaviour::refused) rcode = Rcode::refused;
        if (behaviour != Behaviour::answer) break;  // errors and EMPTY
        if (rule.truncate && transport == DnsTransport::udp) {
          truncated = true;
          answers.clear();
          break;
        }
        if (rule.rebind) {
          const std::size_t seen = rebind_seen_[{current, type}]++;
          const Address& a = seen == 0 ? rule.rebind_first : rule.rebind_later;
          if (matches(a)) add(current, a, 0);
          break;
        }
        if (!rule.cname.empty()) {
          answers.push_back(dns_wire::make_cname(current, rule.cname, rule.cname_ttl));
          current = rule.cname;
          continue;
        }
        for (const Address& a : rule.addresses) {
          if (matches(a)) add(current, a, a.ttl);
        }
        break;
      }
      if (hop > kMaxCnameHops) {
        answers.clear();
        rcode = Rcode::servfail;  // CNAME loop
      }
    }
  }
  if (reply.send) reply.bytes = dns_wire::encode_response(query, rcode, truncated, answers);
  if (observer) observer(record);
  return reply;
}

void StubDnsServer::serve() {
  std::vector<TcpConnection> connections;
  std::vector<pollfd> fds;
  while (!stopping_.load()) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({udp_fd_, POLLIN, 0});
    fds.push_back({tcp_fd_, POLLIN, 0});
    for (const auto& c : connections) {
      fds.push_back({c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) break;
    if (fds[1].revents != 0) serve_udp();
    // Connections first: accept_tcp() may append to the vector the indices below refer to.
    std::vector<bool> keep(connections.size(), true);
    for (std::size_t i = 0; i < connections.size(); ++i) {
      if (fds[3 + i].revents != 0) keep[i] = serve_tcp(connections[i]);
    }
    for (std::size_t i = connections.size(); i-- > 0;) {
      if (!keep[i]) {
        close_fd(connections[i].fd);
        connections.erase(connections.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    if (fds[2].revents != 0) accept_tcp(connections);
  }
  for (auto& c : connections) close_fd(c.fd);
}

void StubDnsServer::serve_udp() {
  std::array<std::uint8_t, 65536> buffer;
  for (int i = 0; i < 64; ++i) {  // drain a burst, then let TCP have a turn
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    const ssize_t n = ::recvfrom(udp_fd_, buffer.data(), buffer.size(), 0,
                                 reinterpret_cast<sockaddr*>(&peer), &peer_len);
    if (n < 0) return;  // EAGAIN or a transient error
    const Reply reply =
        handle_packet({buffer.data(), static_cast<std::size_t>(n)}, DnsTransport::udp);
    if (reply.send) {
      ::sendto(udp_fd_, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&peer), peer_len);
    }
  }
}

void StubDnsServer::accept_tcp(std::vector<TcpConnection>& connections) {
  while (true) {
    const int fd = ::accept4(tcp_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (connections.size() >= kMaxTcpConnections) {
      ::close(fd);
      continue;
    }
    connections.push_back(TcpConnection{fd, {}, {}});
  }
}

bool StubDnsServer::serve_tcp(TcpConnection& c) {
  std::array<std::uint8_t, 4096> buffer;
  const ssize_t n = ::recv(c.fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
  if (n == 0) return false;
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
  if (n > 0) c.in.insert(c.in.end(), buffer.begin(), buffer.begin() + n);
  // RFC 1035 §4.2.2: each message is preceded by a two-octet length.
  while (c.in.size() >= 2) {
    const std::size_t len = (std::size_t{c.in[0]} << 8) | c.in[1];
    if (c.in.size() < 2 + len) break;
    const std::vector<std::uint8_t> message(c.in.begin() + 2,
                                            c.in.begin() + static_cast<std::ptrdiff_t>(2 + len));
    c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(2 + len));
    const Reply reply = handle_packet(message, DnsTransport::tcp);
    if (reply.send && reply.bytes.size() <= 0xFFFF) {
      c.out.push_back(static_cast<std::uint8_t>(reply.bytes.size() >> 8));
      c.out.push_back(static_cast<std::uint8_t>(reply.bytes.size() & 0xFF));
      c.out.insert(c.out.end(), reply.bytes.begin(), reply.bytes.end());
    }
  }
  if (c.out.size() > kMaxTcpOutput) return false;
  if (!c.out.empty()) {
    const ssize_t sent = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    if (sent > 0) c.out.erase(c.out.begin(), c.out.begin() + sent);
  }
  return true;
}

}  // namespace netfence::testing
