// Process-wide state shared by every front end: the current policy snapshot (swapped atomically
// on reload or mode change), the facts about this process the policy needs (own addresses,
// bound listeners), the resolver, the logger, the connection limit, and the registry of open
// tunnels that must close when the mode turns limited or the proxy is disabled (SPEC §10.1,
// §8.6). Thread-safe; owned by the composition root and outliving every session.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "audit/pipeline.hpp"
#include "core/ip_address.hpp"
#include "dns/resolver.hpp"
#include "log/log.hpp"
#include "netfence/decider.hpp"
#include "observe/blocked_history.hpp"
#include "observe/metrics.hpp"
#include "policy/evaluate.hpp"
#include "policy/snapshot.hpp"
#include "runtime/unix_allowlist.hpp"
#include "upstream/upstream_proxy.hpp"

namespace netfence::net {
class PipeBudget;
}

namespace boost::asio::ssl {
class context;
}

namespace netfence::runtime {

/// What an open tunnel is, for closing the right ones on a mode or `enabled` change.
enum class TunnelKind : std::uint8_t { connect, websocket, mitm, socks5_tcp, socks5_udp };

/// The policy environment with the storage its span points into.
struct EnvironmentHold {
  std::shared_ptr<const std::vector<core::IpAddress>> own;
  policy::Environment env;
};

class Runtime {
 public:
  Runtime(log::Logger& logger, std::shared_ptr<const policy::Snapshot> snapshot,
          std::shared_ptr<dns::Resolver> resolver);

  std::shared_ptr<const policy::Snapshot> snapshot() const { return snapshot_.load(); }
  /// Installs a new snapshot (reload, mode switch). Closes tunnels that may no longer stay
  /// open: all of them when the proxy becomes disabled; raw CONNECT, WebSocket and SOCKS5 ones
  /// when the mode becomes limited.
  void set_snapshot(std::shared_ptr<const policy::Snapshot> next);

  /// §11: the unix-socket allowlist resolved when the current snapshot was installed.
  std::shared_ptr<const UnixAllowlist> unix_allowlist() const { return unix_.load(); }

  /// §12: the upstream proxy that carries a request to this target, or nullopt for a direct
  /// connection. `secure`: https/wss targets, CONNECT, MITM upstream and SOCKS5 TCP.
  std::optional<upstream::ProxyEndpoint> upstream_for(bool secure, const core::CanonicalHost& host,
                                                      std::uint16_t port) const;
  /// Re-reads HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY (start, reload, listeners bound) and
  /// logs the warnings when they changed.
  void refresh_upstream();
  /// Client TLS for https:// upstream proxies (system roots plus extra_ca_certs); owned by the
  /// composition root, null when none was set.
  boost::asio::ssl::context* proxy_tls() const { return proxy_tls_; }
  void set_proxy_tls(boost::asio::ssl::context* ctx) { proxy_tls_ = ctx; }

  std::shared_ptr<dns::Resolver> resolver() const;
  void set_resolver(std::shared_ptr<dns::Resolver> r);

  EnvironmentHold environment() const;
  void set_own_addresses(std::vector<core::IpAddress> own);
  void set_listeners(std::optional<policy::Endpoint> http, std::optional<policy::Endpoint> socks5,
                     std::optional<policy::Endpoint> admin);

  log::Logger& log() const { return logger_; }
  /// Survive reloads (SPEC §3.6): owned here, not by the snapshot.
  observe::Metrics& metrics() { return metrics_; }
  observe::BlockedHistory& blocked() { return blocked_; }
  /// The audit pipeline (null until the composition root installs one).
  std::shared_ptr<audit::Pipeline> audit() const { return audit_.load(); }
  void set_audit(std::shared_ptr<audit::Pipeline> p) { audit_.store(std::move(p)); }
  /// Library hook (SPEC §14, §16): `observer` receives each blocked entry after it is recorded,
  /// on the audit thread (directly on the recording thread when no pipeline is installed).
  void set_blocked_observer(observe::BlockedObserver observer);

  /// The library's policy decider (SPEC §6.5, §16); null when none is installed.
  std::shared_ptr<const PolicyDecider> decider() const { return decider_.load(); }
  void set_decider(PolicyDecider d) {
    decider_.store(d ? std::make_shared<const PolicyDecider>(std::move(d)) : nullptr);
  }
  /// Decider callbacks post to a session's io_context only while this gate is open; it closes
  /// before the contexts stop, so a callback arriving later (from any thread) is dropped.
  struct DeciderGate {
    std::mutex mutex;
    bool open = true;
  };
  std::shared_ptr<DeciderGate> decider_gate() const { return decider_gate_; }
  void close_decider_gate() {
    std::lock_guard lock(decider_gate_->mutex);
    decider_gate_->open = false;
  }

  /// register_label (SPEC §16): context attached to requests carrying `label`.
  void register_label(std::string label, LabelContext ctx);
  std::optional<LabelContext> label_context(const std::string& label) const;

  /// max_connections accounting (HTTP + SOCKS5). false: the caller answers 503 and closes (and
  /// the rejection is counted).
  bool try_acquire_connection(observe::Listener listener);
  void release_connection(observe::Listener listener);
  std::size_t active_connections() const { return connections_.load(); }

  /// Registers an open tunnel; `stop` is called (from any thread) when it must close. The
  /// returned id unregisters it.
  std::uint64_t register_tunnel(TunnelKind kind, std::function<void()> stop);
  void unregister_tunnel(std::uint64_t id);
  /// Stops every registered tunnel (shutdown deadline).
  void stop_all_tunnels();

  /// The process's ration of enlarged splice pipes (net::RelayOptions::pipe_budget).
  const std::shared_ptr<net::PipeBudget>& pipe_budget() const { return pipe_budget_; }

 private:
  void stop_tunnels_if(const std::function<bool(TunnelKind)>& pred);

  log::Logger& logger_;
  observe::Metrics metrics_;
  observe::BlockedHistory blocked_;
  std::atomic<std::shared_ptr<audit::Pipeline>> audit_;
  std::atomic<std::shared_ptr<const policy::Snapshot>> snapshot_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::shared_ptr<const PolicyDecider>> decider_;
  const std::shared_ptr<DeciderGate> decider_gate_ = std::make_shared<DeciderGate>();
  std::atomic<std::shared_ptr<const UnixAllowlist>> unix_;
  std::atomic<std::shared_ptr<const upstream::Settings>> upstream_;
  boost::asio::ssl::context* proxy_tls_ = nullptr;  // set once before serving
  const std::shared_ptr<net::PipeBudget> pipe_budget_;

  mutable std::mutex mutex_;  // guards the members below
  std::shared_ptr<dns::Resolver> resolver_;
  std::shared_ptr<const std::vector<core::IpAddress>> own_;
  std::optional<policy::Endpoint> http_, socks5_, admin_;
  struct Tunnel {
    TunnelKind kind;
    std::function<void()> stop;
  };
  std::unordered_map<std::uint64_t, Tunnel> tunnels_;
  std::uint64_t next_tunnel_id_ = 1;
  std::unordered_map<std::string, LabelContext> labels_;
};

/// RAII slot for one client connection under max_connections.
class ConnectionSlot {
 public:
  ConnectionSlot(Runtime& rt, observe::Listener listener)
      : rt_(&rt), listener_(listener), held_(rt.try_acquire_connection(listener)) {}
  ~ConnectionSlot() {
    if (held_) rt_->release_connection(listener_);
  }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  bool held() const { return held_; }

 private:
  Runtime* rt_;
  observe::Listener listener_;
  bool held_;
};

/// RAII registration of a tunnel.
class TunnelRegistration {
 public:
  TunnelRegistration(Runtime& rt, TunnelKind kind, std::function<void()> stop)
      : rt_(&rt), id_(rt.register_tunnel(kind, std::move(stop))) {}
  ~TunnelRegistration() { rt_->unregister_tunnel(id_); }
  TunnelRegistration(const TunnelRegistration&) = delete;
  TunnelRegistration& operator=(const TunnelRegistration&) = delete;

 private:
  Runtime* rt_;
  std::uint64_t id_;
};

}  // namespace netfence::runtime
