#include "upstream/upstream_proxy.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdlib>
#include <map>
#include <utility>

namespace netfence::upstream {
namespace {

using core::CanonicalHost;
using core::HostKind;
using core::IpAddress;

char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  c = to_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');  // + the NUL EVP_EncodeBlock writes
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

// "host:port" with IPv6 in brackets.
std::string authority(std::string_view host_text, HostKind kind, std::uint16_t port) {
  const bool brackets = kind == HostKind::ipv6;
  std::string out;
  if (brackets) out += '[';
  out += host_text;
  if (brackets) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

bool is_loopback(const IpAddress& ip) noexcept {
  if (ip.is_v4()) return (ip.v4_value() >> 24) == 127;
  return ip == *IpAddress::parse("::1");
}

bool is_unspecified(const IpAddress& ip) noexcept {
  const auto& b = ip.bytes();
  const std::size_t n = ip.is_v4() ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

// Whether a proxy at `host` would reach the listener `own`: the same address (or `localhost` for
// a loopback listener), or, for a wildcard listener, any loopback address. A wildcard `::`
// listener is dual-stack on Linux, so it also takes IPv4 loopback.
bool points_at(const CanonicalHost& host, const OwnListener& own) {
  if (host.kind == HostKind::name) {
    if (host.text != "localhost") return false;
    return is_loopback(own.ip) || is_unspecified(own.ip);
  }
  const IpAddress ip = host.ip->unmapped();
  const IpAddress mine = own.ip.unmapped();
  if (ip == mine) return true;
  if (!is_unspecified(mine) || !is_loopback(ip)) return false;
  return mine.is_v6() || ip.is_v4();
}

enum class Outcome : std::uint8_t { ok, unsupported_scheme, invalid };

struct Parsed {
  Outcome outcome = Outcome::invalid;
  ProxyEndpoint endpoint;
};

// One proxy value: `http://[user[:password]@]host[:port][/]`, `https://…` or `host:port`. The
// scheme-less form is read as an http URL whose port is mandatory, so userinfo works there too
// (as in curl).
Parsed parse_value(std::string_view value) {
  Parsed r;
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return r;  // spaces and controls: never part of a proxy URL
  }
  std::string_view rest = value;
  bool port_required = false;
  const std::size_t sep = value.find("://");
  if (sep == std::string_view::npos) {
    port_required = true;
  } else {
    const std::string_view scheme_raw = value.substr(0, sep);
    if (scheme_raw.empty() || !is_alpha(scheme_raw.front())) return r;
    std::string scheme;
    for (char c : scheme_raw) {
      if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return r;
      scheme += to_lower(c);
    }
    if (scheme == "https") {
      r.endpoint.tls = true;
    } else if (scheme != "http") {
      r.outcome = Outcome::unsupported_scheme;
      return r;
    }
    rest = value.substr(sep + 3);
  }

  const std::size_t end = rest.find_first_of("/?#");
  std::string_view auth = rest.substr(0, end);
  if (end != std::string_view::npos && rest.substr(end) != "/") return r;

  const std::size_t at = auth.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = auth.substr(0, at);
    auth.remove_prefix(at + 1);
    if (!userinfo.empty()) {
      const std::size_t colon = userinfo.find(':');
      auto user = percent_decode(userinfo.substr(0, colon));
      auto password = percent_decode(colon == std::string_view::npos ? std::string_view{}
                                                                     : userinfo.substr(colon + 1));
      if (!user || !password) return r;
      r.endpoint.authorization = "Basic " + base64(*user + ":" + *password);
    }
  }

  if (auth.empty()) return r;
  auto hp = core::parse_host_port(auth, core::HostSource::http);
  if (!hp) return r;
  if (!hp->port && port_required) return r;
  r.endpoint.host = std::move(hp->host);
  r.endpoint.port = hp->port ? *hp->port : (r.endpoint.tls ? 443 : 80);
  r.endpoint.display = std::string(r.endpoint.tls ? "https://" : "http://") +
                       authority(r.endpoint.host.text, r.endpoint.host.kind, r.endpoint.port);
  r.outcome = Outcome::ok;
  return r;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower(c);
  return out;
}

// Upper case first, then lower case; an empty value counts as unset. Returns the variable's
// name and value.
std::optional<std::pair<std::string, std::string>> lookup(const EnvLookup& env,
                                                          std::string_view upper) {
  for (std::string name : {std::string(upper), to_lower(upper)}) {
    if (auto v = env(name); v && !v->empty()) return std::pair{std::move(name), std::move(*v)};
  }
  return std::nullopt;
}

// The IPv4 network an IPv4-mapped IPv6 CIDR (`::ffff:10.0.0.0/104`) stands for, since targets
// canonicalise mapped addresses to IPv4.
void unmap_network(IpAddress& net, unsigned& prefix) {
  if (!net.is_v6() || prefix < 96) return;
  const IpAddress v4 = net.unmapped();
  if (v4.is_v4()) {
    net = v4;
    prefix -= 96;
  }
}

// Zeroes the host bits so that `10.1.2.3/8` means 10.0.0.0/8.
IpAddress mask(const IpAddress& ip, unsigned prefix) {
  std::array<std::uint8_t, 16> b = ip.bytes();
  const unsigned bits = ip.is_v4() ? 32 : 128;
  for (unsigned i = prefix; i < bits; ++i) {
    b[i / 8] = static_cast<std::uint8_t>(b[i / 8] & ~(0x80u >> (i % 8)));
  }
  if (ip.is_v4()) {
    return IpAddress::v4((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                         (std::uint32_t{b[2]} << 8) | b[3]);
  }
  return IpAddress::v6(b);
}

bool in_network(const IpAddress& ip, const IpAddress& net, unsigned prefix) {
  if (ip.family() != net.family()) return false;
  return mask(ip, prefix) == net;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  auto hp = core::parse_host_port("a:" + std::string(s), core::HostSource::http);
  if (!hp || !hp->port) return std::nullopt;
  return hp->port;
}

}  // namespace

NoProxy NoProxy::parse(std::string_view value) {
  NoProxy out;
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    std::string_view entry = trim(value.substr(0, comma));
    value.remove_prefix(comma == std::string_view::npos ? value.size() : comma + 1);
    if (entry.empty()) continue;
    if (entry == "*") {
      out.all_ = true;
      continue;
    }
    // `.example.com` and the common `*.example.com` both mean example.com and its subdomains.
    if (entry.starts_with("*.")) {
      entry.remove_prefix(2);
    } else if (entry.front() == '.') {
      entry.remove_prefix(1);
    }
    if (entry.empty()) continue;

    Rule rule;
    if (const std::size_t slash = entry.find('/'); slash != std::string_view::npos) {
      // CIDR: `10.0.0.0/8`, `fd00::/8`, `[fd00::]/8`, optionally followed by `:port`.
      std::string_view addr = entry.substr(0, slash);
      std::string_view tail = entry.substr(slash + 1);
      if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') {
        addr = addr.substr(1, addr.size() - 2);
      }
      auto ip = IpAddress::parse(addr);
      if (!ip) continue;
      const std::size_t colon = tail.find(':');
      const std::string_view digits = tail.substr(0, colon);
      if (digits.empty() || digits.size() > 3) continue;
      unsigned prefix = 0;
      bool ok = true;
      for (char c : digits) {
        ok = ok && is_digit(c);
        prefix = prefix * 10 + static_cast<unsigned>(c - '0');
      }
      if (!ok || prefix > (ip->is_v4() ? 32u : 128u)) continue;
      if (colon != std::string_view::npos) {
        rule.port = parse_port(tail.substr(colon + 1));
        if (!rule.port) continue;
      }
      unmap_network(*ip, prefix);
      rule.network = mask(*ip, prefix);
      rule.prefix = prefix;
    } else {
      auto hp = core::parse_host_port(entry, core::HostSource::lenient);
      if (!hp) continue;
      rule.port = hp->port;
      if (hp->host.is_ip()) {
        rule.network = hp->host.ip->unmapped();
        rule.prefix = rule.network->is_v4() ? 32 : 128;
      } else {
        rule.name = std::move(hp->host.text);
      }
    }
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

bool NoProxy::matches(const CanonicalHost& host, std::uint16_t port) const {
  if (all_) return true;
  for (const Rule& rule : rules_) {
    if (rule.port && *rule.port != port) continue;
    if (rule.name) {
      if (host.kind != HostKind::name) continue;
      const std::string& n = *rule.name;
      const std::string& t = host.text;
      if (t == n || (t.size() > n.size() && t.ends_with(n) && t[t.size() - n.size() - 1] == '.')) {
        return true;
      }
    } else if (rule.network && host.ip) {
      if (in_network(host.ip->unmapped(), *rule.network, rule.prefix)) return true;
    }
  }
  return false;
}

const ProxyEndpoint* Settings::choose(bool secure, const CanonicalHost& host,
                                      std::uint16_t port) const {
  const std::optional<ProxyEndpoint>& proxy = secure ? https : http;
  if (!proxy || no_proxy.matches(host, port)) return nullptr;
  return &*proxy;
}

Settings read_settings(const EnvLookup& env, const std::vector<OwnListener>& own) {
  Settings s;
  // Each variable is read and judged once, so ALL_PROXY serving both kinds warns only once.
  std::map<std::string, std::optional<ProxyEndpoint>, std::less<>> judged;
  auto usable = [&](const std::string& name,
                    const std::string& value) -> const std::optional<ProxyEndpoint>& {
    if (auto it = judged.find(name); it != judged.end()) return it->second;
    std::optional<ProxyEndpoint>& slot = judged[name];
    Parsed p = parse_value(value);
    if (p.outcome == Outcome::unsupported_scheme) {
      s.warnings.push_back("ignoring " + name +
                           ": only http and https upstream proxies are supported");
    } else if (p.outcome == Outcome::invalid) {
      s.warnings.push_back("ignoring " + name + ": invalid proxy URL");
    } else {
      for (const OwnListener& l : own) {
        if (l.port == p.endpoint.port && points_at(p.endpoint.host, l)) {
          const IpAddress ip = l.ip;
          s.warnings.push_back(
              "ignoring " + name + ": it points at netfence's own listener " +
              authority(ip.to_string(), ip.is_v4() ? HostKind::ipv4 : HostKind::ipv6, l.port));
          return slot;
        }
      }
      p.endpoint.variable = name;
      slot = std::move(p.endpoint);
    }
    return slot;
  };
  // An ignored value counts as unset: the next variable in line is tried.
  auto pick = [&](std::initializer_list<std::string_view> uppers) -> std::optional<ProxyEndpoint> {
    for (std::string_view upper : uppers) {
      for (std::string name : {std::string(upper), to_lower(upper)}) {
        auto v = env(name);
        if (!v || v->empty()) continue;
        if (const auto& ep = usable(name, *v)) return ep;
      }
    }
    return std::nullopt;
  };
  s.http = pick({"HTTP_PROXY", "ALL_PROXY"});
  s.https = pick({"HTTPS_PROXY", "ALL_PROXY"});
  if (auto np = lookup(env, "NO_PROXY")) s.no_proxy = NoProxy::parse(np->second);
  return s;
}

EnvLookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace netfence::upstream
