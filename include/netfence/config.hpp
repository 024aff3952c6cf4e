// The network configuration (SPEC §3): plain structs with the defaults of §3.2 in the struct.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netfence/result.hpp"
#include "netfence/types.hpp"

namespace netfence {

/// `[network.audit]` (SPEC §3.2, §15.4).
struct AuditConfig {
  std::optional<std::string> jsonl_path;                          // "-" = stderr
  std::optional<std::string> otlp_endpoint;                       // e.g. "http://127.0.0.1:4318"
  std::vector<std::pair<std::string, std::string>> otlp_headers;  // in file order
  std::uint32_t batch_size = 512;                                 // 1..8192
  std::uint32_t batch_timeout_ms = 1000;                          // 10..60000
  std::uint32_t queue_size = 8192;                                // 1..1000000
};

/// `[network.audit_metadata]` (SPEC §3.2, §15.2).
struct AuditMetadata {
  std::optional<std::string> conversation_id, app_version, user_account_id, auth_mode, originator,
      user_email, terminal_type, model, slug;
};

/// The effective network table after loading, alias merging and normalisation.
struct Config {
  bool enabled = false;
  std::string proxy_url = "http://127.0.0.1:3128";
  std::string admin_url = "http://127.0.0.1:8080";
  bool enable_socks5 = true;
  std::string socks_url = "http://127.0.0.1:8081";
  bool enable_socks5_udp = true;
  bool allow_upstream_proxy = true;
  bool dangerously_allow_non_loopback_proxy = false;
  bool dangerously_allow_non_loopback_admin = false;
  Mode mode = Mode::full;
  bool mitm = false;
  /// Effective lists (§3.3): arrays ∪ alias tables, normalised (§5), de-duplicated in first-seen
  /// order, a pattern present in both kept only in `denied_domains`.
  std::vector<std::string> allowed_domains;
  std::vector<std::string> denied_domains;
  bool allow_local_binding = false;
  std::vector<std::string> allow_unix_sockets;  // effective, absolute paths
  bool dangerously_allow_all_unix_sockets = false;
  bool enable_admin = true;
  std::uint32_t dns_timeout_ms = 2000;       // 1..60000
  std::uint32_t connect_timeout_ms = 10000;  // 1..300000
  std::uint32_t idle_timeout_s = 3600;       // 1..604800
  std::uint32_t max_connections = 4096;      // 1..1048576
  std::uint32_t decider_timeout_ms = 30000;  // 1..600000
  std::optional<std::string> extra_ca_certs;
  /// Name servers, normalised to "ip:port" (IPv6 bracketed), in order.
  std::vector<std::string> dns_servers;
  /// Static answers: canonical name -> canonical IP literals, in file order.
  std::vector<std::pair<std::string, std::vector<std::string>>> dns_hosts;
  std::optional<std::string> admin_token;
  std::optional<std::string> socks_password;
  AuditConfig audit;
  AuditMetadata audit_metadata;

  /// Where this came from: the file loaded, if any.
  std::optional<std::filesystem::path> source_path;
  /// Load warnings, each a complete log text (e.g. "<file>:<l>:<c>: unknown key network.x
  /// (ignored)"), in the order found. The caller logs them at WARN.
  std::vector<std::string> warnings;

  /// True when unix-socket proxying is enabled (forces loopback listeners, SPEC §2 rule 2).
  bool unix_sockets_enabled() const {
    return dangerously_allow_all_unix_sockets || !allow_unix_sockets.empty();
  }
};

/// Loads and validates a config file by SPEC §3 rules. Errors carry code "config" and the
/// §3.4 message `<file>:<line>:<col>: network.<key>: ...`.
Result<Config> load_config(const std::filesystem::path& path);

/// Same, from TOML text; `display_name` is used as <file> in diagnostics.
Result<Config> load_config_from_string(std::string_view toml_text, std::string_view display_name);

/// Checks a Config built in code against the §3 rules a file is held to (integer ranges,
/// patterns, socket paths); the message names the key as `network.<key>: ...`.
Result<void> validate_config(const Config& config);

}  // namespace netfence
