// Upstream proxy settings (SPEC §12): which upstream HTTP(S) proxy, if any, carries a request,
// read from the process environment (HTTP_PROXY / HTTPS_PROXY / ALL_PROXY, upper case first)
// and NO_PROXY. Pure: the environment comes in through a lookup function; no sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/host.hpp"
#include "core/ip_address.hpp"

namespace netfence::upstream {

/// One upstream proxy from a variable's value.
struct ProxyEndpoint {
  bool tls = false;          // https:// URL: TLS to the proxy itself
  core::CanonicalHost host;  // canonical (SPEC §4)
  std::uint16_t port = 0;    // explicit, else 80 (http://, host:port needs one) / 443 (https://)
  /// `Basic <base64(user:password)>` from the URL's userinfo (percent-decoded), else empty.
  std::string authorization;
  /// "http://host:port" without credentials, for log lines.
  std::string display;
  std::string variable;  // the variable it came from, e.g. "HTTPS_PROXY"
};

/// NO_PROXY / no_proxy (SPEC §12): comma-separated entries, surrounding spaces ignored, empty
/// entries skipped. `*` matches every host; a name matches that host and its subdomains (a
/// leading '.' is ignored; names are canonicalised, so case and IDNA do not matter); an IP or
/// CIDR entry (`10.0.0.0/8`, `fd00::/8`, `[::1]`) matches IP-literal targets in range; any entry
/// with `:port` (`example.com:8080`, `[::1]:443`, `10.0.0.1:80`) matches only that port.
/// Entries that parse as nothing are ignored.
class NoProxy {
 public:
  static NoProxy parse(std::string_view value);
  bool matches(const core::CanonicalHost& host, std::uint16_t port) const;
  bool empty() const noexcept { return !all_ && rules_.empty(); }

 private:
  struct Rule {
    std::optional<std::string> name;  // canonical name (subdomains match too)
    std::optional<core::IpAddress> network;
    unsigned prefix = 0;  // with network: CIDR prefix length (32/128 for a single address)
    std::optional<std::uint16_t> port;
  };
  bool all_ = false;
  std::vector<Rule> rules_;
};

/// A listener of this process, for loop protection.
struct OwnListener {
  core::IpAddress ip;
  std::uint16_t port = 0;
};

struct Settings {
  std::optional<ProxyEndpoint> http;   // http/ws targets: HTTP_PROXY, else ALL_PROXY
  std::optional<ProxyEndpoint> https;  // https/wss, CONNECT, MITM upstream, SOCKS5 TCP:
                                       // HTTPS_PROXY, else ALL_PROXY
  NoProxy no_proxy;
  /// WARN lines, exactly: `ignoring <VAR>: only http and https upstream proxies are supported`,
  /// `ignoring <VAR>: invalid proxy URL`, `ignoring <VAR>: it points at netfence's own
  /// listener <ip:port>`.
  std::vector<std::string> warnings;

  bool active() const { return http.has_value() || https.has_value(); }
  /// The proxy for a target, or null for a direct connection (none configured, or NO_PROXY).
  /// `secure`: https/wss targets, CONNECT, MITM upstream and SOCKS5 TCP.
  const ProxyEndpoint* choose(bool secure, const core::CanonicalHost& host,
                              std::uint16_t port) const;
};

/// Returns the value of an environment variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

/// Reads HTTP_PROXY/HTTPS_PROXY/ALL_PROXY (each upper case first, then lower case; an empty
/// value counts as unset) and NO_PROXY/no_proxy. Accepted values: `http://` and `https://` URLs
/// (userinfo allowed, path `/` or empty), or `host:port` (taken as http). A value naming one
/// of `own` (IP literal, or `localhost` = 127.0.0.1/::1, same port) is ignored with a warning.
Settings read_settings(const EnvLookup& env, const std::vector<OwnListener>& own = {});

/// The process environment (getenv).
EnvLookup process_environment();

}  // namespace netfence::upstream
