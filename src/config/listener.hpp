// Listener bind addresses (SPEC §2): URL parsing and the two loopback-clamping rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip_address.hpp"
#include "netfence/config.hpp"
#include "netfence/result.hpp"

namespace netfence::config {

/// Default ports when a listener value has none (SPEC §2).
inline constexpr std::uint16_t kDefaultHttpPort = 3128;
inline constexpr std::uint16_t kDefaultSocksPort = 8081;
inline constexpr std::uint16_t kDefaultAdminPort = 8080;

struct ListenerAddress {
  core::IpAddress ip;
  std::uint16_t port = 0;
  /// "ip:port", IPv6 bracketed.
  std::string to_string() const;
  bool operator==(const ListenerAddress&) const = default;
};

struct ParsedListener {
  ListenerAddress address;
  /// Compat warnings, complete texts without the key prefix, e.g.
  /// "host name \"proxy.local\" is not an IP address; using 127.0.0.1",
  /// "userinfo ignored", "path ignored".
  std::vector<std::string> warnings;
};

/// Parses "[scheme://][userinfo@]host[:port][/path]" (schemes http, https, socks5, socks5h are
/// ignored). `localhost` → 127.0.0.1; IP literals as is (IPv6 bracketed, or unbracketed when it
/// is the whole value); other names → 127.0.0.1 with a warning. Missing port → default_port;
/// port 0 allowed (ephemeral). A non-numeric or out-of-range port is an Error (code "config")
/// whose message is the part after "network.<key>: ", e.g. `expected a port from 0 to 65535,
/// got "80a"`.
Result<ParsedListener> parse_listener_url(std::string_view value, std::uint16_t default_port);

enum class LogLevel : std::uint8_t { info, warn };
struct LogLine {
  LogLevel level;
  std::string text;
  /// Set on the "... is listening on non-loopback address" notice: the listener it belongs to
  /// ("HTTP proxy", "SOCKS5 proxy", "admin API") prints it once bound, so an ephemeral port (0)
  /// is reported as the port really listened on. `text` holds the configured address.
  std::string after_bind_of{};
  std::string flag{};  // with after_bind_of: the dangerous flag named by the notice
};

/// "<name> is listening on non-loopback address <addr> because <flag> = true" (§2).
std::string non_loopback_notice(std::string_view name, const ListenerAddress& addr,
                                std::string_view flag);

struct ListenerPlan {
  std::optional<ListenerAddress> http;    // absent when enabled = false
  std::optional<ListenerAddress> socks5;  // absent when enable_socks5 = false or disabled
  std::optional<ListenerAddress> admin;   // absent when enable_admin = false or disabled
  /// The §2 log lines in order: parse warnings, clamp warnings (rule 1 / rule 2) and
  /// "... because <flag> = true" notices. (Bind lines are logged by the listeners.)
  std::vector<LogLine> log;
};

/// Applies §2: parses the three URLs of an already validated Config, then the clamping rules.
/// Optional overrides (library builder) replace the config URLs and are clamped the same way.
Result<ListenerPlan> plan_listeners(const Config& cfg,
                                    std::optional<std::string_view> http_override = {},
                                    std::optional<std::string_view> socks_override = {},
                                    std::optional<std::string_view> admin_override = {});

/// Quotes `s` as a TOML basic string ("a\"b", control characters escaped) for diagnostics, so
/// a value shows up in a message exactly as it could be written in the file.
std::string quote_toml_string(std::string_view s);

}  // namespace netfence::config
