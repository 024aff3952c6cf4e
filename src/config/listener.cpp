// Listener bind addresses (SPEC §2). The parser is deliberately small and strict: a listener
// address is not a general URL, and a typo in the port must fail loudly rather than fall back to
// a default (divergence from the reference, SPEC §2).
#include "config/listener.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace netfence::config {
namespace {

constexpr std::string_view kProxyFlag = "dangerously_allow_non_loopback_proxy";
constexpr std::string_view kAdminFlag = "dangerously_allow_non_loopback_admin";

Error config_error(std::string message) { return make_error("config", std::move(message)); }

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

core::IpAddress loopback_v4() { return core::IpAddress::v4(0x7F000001U); }

// Digits only, 0..65535. Leading zeros are tolerated: the value is unambiguous.
std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

bool is_loopback(const core::IpAddress& ip) {
  if (ip.is_v4()) return (ip.v4_value() >> 24) == 127;
  static constexpr std::array<std::uint8_t, 16> kV6Loopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                            0, 0, 0, 0, 0, 0, 0, 1};
  return ip.bytes() == kV6Loopback;
}

struct ListenerSpec {
  std::string_view name;  // "HTTP proxy", as in the §2 log texts
  std::string_view key;   // config key, for diagnostics
  std::string_view flag;  // the dangerous flag that permits a non-loopback bind
  std::uint16_t default_port;
};

// Parses one listener value and applies the two clamping rules, appending the log lines.
Result<ListenerAddress> plan_one(const ListenerSpec& spec, std::string_view value, bool overridden,
                                 bool flag_set, bool unix_sockets_enabled,
                                 std::vector<LogLine>& log) {
  // Diagnostics for builder overrides cannot name a config key.
  std::string prefix = overridden ? std::string(spec.name) + " address override: "
                                  : "network." + std::string(spec.key) + ": ";
  auto parsed = parse_listener_url(value, spec.default_port);
  if (!parsed) return config_error(prefix + parsed.error().message);
  for (auto& w : parsed->warnings) log.push_back({LogLevel::warn, prefix + w});

  ListenerAddress addr = parsed->address;
  if (is_loopback(addr.ip)) return addr;

  const std::string port = std::to_string(addr.port);
  // Rule 2 first: when it applies the flag is irrelevant, so advising to set it would mislead.
  if (unix_sockets_enabled) {
    log.push_back(
        {LogLevel::warn,
         std::string(spec.name) + ": unix-socket proxying is enabled, forcing 127.0.0.1:" + port});
    return ListenerAddress{loopback_v4(), addr.port};
  }
  if (!flag_set) {
    log.push_back({LogLevel::warn, std::string(spec.name) + ": non-loopback bind " +
                                       addr.to_string() + " refused, using 127.0.0.1:" + port +
                                       " (set " + std::string(spec.flag) + " = true to allow it)"});
    return ListenerAddress{loopback_v4(), addr.port};
  }
  log.push_back({LogLevel::warn, non_loopback_notice(spec.name, addr, spec.flag),
                 std::string(spec.name), std::string(spec.flag)});
  return addr;
}

}  // namespace

std::string non_loopback_notice(std::string_view name, const ListenerAddress& addr,
                                std::string_view flag) {
  return std::string(name) + " is listening on non-loopback address " + addr.to_string() +
         " because " + std::string(flag) + " = true";
}

std::string quote_toml_string(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u == 0x7F) {
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string ListenerAddress::to_string() const {
  // Appended piecewise: `"[" + str` trips a GCC 12 -Wrestrict false positive.
  std::string out;
  if (ip.is_v6()) out += '[';
  out += ip.to_string();
  if (ip.is_v6()) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

Result<ParsedListener> parse_listener_url(std::string_view value, std::uint16_t default_port) {
  ParsedListener out;
  const auto malformed = [&] {
    return config_error("expected an address of the form [scheme://]host[:port], got " +
                        quote_toml_string(value));
  };

  std::string_view rest = value;
  if (auto sep = rest.find("://"); sep != std::string_view::npos) {
    std::string_view scheme = rest.substr(0, sep);
    if (!iequals(scheme, "http") && !iequals(scheme, "https") && !iequals(scheme, "socks5") &&
        !iequals(scheme, "socks5h")) {
      return config_error("expected a URL with scheme http, https, socks5 or socks5h, got " +
                          quote_toml_string(value));
    }
    rest.remove_prefix(sep + 3);
  }

  // Authority ends at the path, query or fragment. A lone "/" is what most people write after a
  // URL and carries nothing, so only a real path earns a warning.
  bool has_path = false;
  if (auto end = rest.find_first_of("/?#"); end != std::string_view::npos) {
    has_path = rest.substr(end) != "/";
    rest = rest.substr(0, end);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    out.warnings.emplace_back("userinfo ignored");
    rest.remove_prefix(at + 1);
  }

  std::string_view host;
  std::optional<std::string_view> port_text;
  bool bracketed = false;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return malformed();
    host = rest.substr(1, close - 1);
    bracketed = true;
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return malformed();
      port_text = after.substr(1);
    }
  } else if (std::count(rest.begin(), rest.end(), ':') >= 2) {
    host = rest;  // unbracketed IPv6 literal: it is the whole address, no port (SPEC §4 step 3)
  } else if (auto colon = rest.find(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
  } else {
    host = rest;
  }
  if (host.empty()) return malformed();

  out.address.port = default_port;
  if (port_text) {
    auto port = parse_port(*port_text);
    if (!port)
      return config_error("expected a port from 0 to 65535, got " + quote_toml_string(*port_text));
    out.address.port = *port;
  }

  if (auto ip = core::IpAddress::parse(host)) {
    if (bracketed && !ip->is_v6()) return malformed();
    // IPv4-mapped IPv6 is the IPv4 address everywhere else (SPEC §4 step 6); bind it as such.
    out.address.ip = ip->unmapped();
  } else if (bracketed || host.find(':') != std::string_view::npos) {
    return config_error("expected an IP address, got " + quote_toml_string(host));
  } else {
    if (!iequals(host, "localhost")) {
      out.warnings.push_back("host name " + quote_toml_string(host) +
                             " is not an IP address; using 127.0.0.1");
    }
    out.address.ip = loopback_v4();
  }
  if (has_path) out.warnings.emplace_back("path ignored");
  return out;
}

Result<ListenerPlan> plan_listeners(const Config& cfg,
                                    std::optional<std::string_view> http_override,
                                    std::optional<std::string_view> socks_override,
                                    std::optional<std::string_view> admin_override) {
  static constexpr ListenerSpec kHttp{"HTTP proxy", "proxy_url", kProxyFlag, kDefaultHttpPort};
  static constexpr ListenerSpec kSocks{"SOCKS5 proxy", "socks_url", kProxyFlag, kDefaultSocksPort};
  static constexpr ListenerSpec kAdmin{"admin API", "admin_url", kAdminFlag, kDefaultAdminPort};

  ListenerPlan plan;
  if (!cfg.enabled) return plan;
  const bool unix_on = cfg.unix_sockets_enabled();

  auto http = plan_one(kHttp, http_override.value_or(cfg.proxy_url), http_override.has_value(),
                       cfg.dangerously_allow_non_loopback_proxy, unix_on, plan.log);
  if (!http) return http.error();
  plan.http = *http;

  if (cfg.enable_socks5) {
    auto socks =
        plan_one(kSocks, socks_override.value_or(cfg.socks_url), socks_override.has_value(),
                 cfg.dangerously_allow_non_loopback_proxy, unix_on, plan.log);
    if (!socks) return socks.error();
    plan.socks5 = *socks;
  }
  if (cfg.enable_admin) {
    auto admin =
        plan_one(kAdmin, admin_override.value_or(cfg.admin_url), admin_override.has_value(),
                 cfg.dangerously_allow_non_loopback_admin, unix_on, plan.log);
    if (!admin) return admin.error();
    plan.admin = *admin;
  }
  return plan;
}

}  // namespace netfence::config
