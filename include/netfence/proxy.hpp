// The embeddable proxy (SPEC §16): build a NetworkProxy from a Config or a config file, run it
// (listeners on their own threads), steer it at runtime, and shut it down. Only standard and
// netfence types appear here. Every NetworkProxy member function is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netfence/audit.hpp"
#include "netfence/blocked.hpp"
#include "netfence/config.hpp"
#include "netfence/decider.hpp"
#include "netfence/result.hpp"
#include "netfence/types.hpp"

namespace netfence {

class NetworkProxy;

/// Verbosity of the operator log lines netfence writes to stderr (SPEC §2 format).
enum class LogLevel : std::uint8_t { trace, debug, info, warn, error, off };

namespace detail {
struct ProxyState;
}

/// Stops and waits for a running proxy. Destroying a handle of a running proxy calls
/// shutdown(0ms) and waits.
class ProxyHandle {
 public:
  ProxyHandle(ProxyHandle&&) noexcept;
  ProxyHandle& operator=(ProxyHandle&&) noexcept;
  ~ProxyHandle();

  /// Stops accepting at once; in-flight plain requests may finish; at the deadline every tunnel
  /// and connection is closed; the audit queue is flushed for up to 2 s. Idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));
  /// Blocks until the proxy has stopped; returns the first fatal error, if any.
  Result<void> wait();

 private:
  friend class NetworkProxy;
  explicit ProxyHandle(std::shared_ptr<detail::ProxyState> state);
  std::shared_ptr<detail::ProxyState> state_;
};

class NetworkProxyBuilder {
 public:
  NetworkProxyBuilder();
  ~NetworkProxyBuilder();
  NetworkProxyBuilder(NetworkProxyBuilder&&) noexcept;
  NetworkProxyBuilder& operator=(NetworkProxyBuilder&&) noexcept;

  /// The configuration (default: Config{}, so enabled = false).
  NetworkProxyBuilder& config(Config config);
  /// Loads the file at build(); the file form enables reload (SIGHUP is the host's business:
  /// the library installs no signal handlers) and reload on file change.
  NetworkProxyBuilder& config_file(std::filesystem::path path);
  /// Listener address overrides ("127.0.0.1:0" picks a free port), clamped as in SPEC §2.
  NetworkProxyBuilder& http_addr(std::string_view addr);
  NetworkProxyBuilder& socks_addr(std::string_view addr);
  NetworkProxyBuilder& admin_addr(std::string_view addr);
  NetworkProxyBuilder& policy_decider(PolicyDecider decider);
  /// Repeatable: every sink receives every event.
  NetworkProxyBuilder& audit_sink(std::shared_ptr<AuditSink> sink);
  NetworkProxyBuilder& blocked_observer(BlockedObserver observer);
  /// Replaces [network.audit_metadata] (also across reloads).
  NetworkProxyBuilder& audit_metadata(AuditMetadata metadata);
  /// Default info.
  NetworkProxyBuilder& log_level(LogLevel level);

  /// Validates, compiles and loads the CA (mitm = true); binds nothing. Errors carry the same
  /// messages as the CLI (code "config" or "ca").
  Result<NetworkProxy> build();

 private:
  struct Options;
  std::unique_ptr<Options> options_;
};

class NetworkProxy {
 public:
  static NetworkProxyBuilder builder();

  NetworkProxy(NetworkProxy&&) noexcept;
  NetworkProxy& operator=(NetworkProxy&&) noexcept;
  ~NetworkProxy();

  /// Binds every listener or none (error code "bind" naming listener and address) and starts
  /// serving on background threads. With enabled = false binds nothing; the handle's wait()
  /// returns at once. A proxy runs at most once.
  Result<ProxyHandle> run();

  /// "ip:port" of the bound listeners ("" before run() or when not listening).
  std::string http_addr() const;
  std::string socks_addr() const;
  std::string admin_addr() const;

  /// Runtime overlay (SPEC §3.7): validated and normalised (§5), removes an identical pattern
  /// from the other list, survives reloads. Deny patterns still win.
  Result<void> add_allowed_domain(std::string_view pattern);
  Result<void> add_denied_domain(std::string_view pattern);
  Result<void> set_mode(Mode mode);
  /// Re-reads the config file (or re-applies the in-memory config) as SIGHUP does for the CLI
  /// (SPEC §3.6); on failure the previous configuration stays and the error says why.
  Result<void> reload();

  std::vector<BlockedRequest> blocked_snapshot() const;
  std::vector<BlockedRequest> drain_blocked();
  /// The configuration in force (file + runtime overrides), as GET /config shows it.
  Config current_config() const;

  /// Requests whose proxy-auth or SOCKS5 user name equals `label` carry `ctx` in PolicyRequest.
  void register_label(std::string label, LabelContext ctx);

  /// The environment a sandboxed child should get (SPEC §17 `env`), with the real bound ports.
  std::vector<std::pair<std::string, std::string>> child_environment() const;

 private:
  friend class NetworkProxyBuilder;
  explicit NetworkProxy(std::shared_ptr<detail::ProxyState> state);
  std::shared_ptr<detail::ProxyState> state_;
};

}  // namespace netfence
