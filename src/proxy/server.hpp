// The composition root behind NetworkProxy (SPEC §2, §3.5, §3.6, §16): builds the runtime from a
// Config, binds the listeners, runs one I/O thread per CPU, reloads, and shuts down gracefully.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "log/log.hpp"
#include "netfence/audit.hpp"
#include "netfence/blocked.hpp"
#include "netfence/config.hpp"
#include "netfence/decider.hpp"
#include "netfence/result.hpp"
#include "netfence/types.hpp"

namespace netfence::runtime {
class Runtime;
}

namespace netfence::proxy {

class ControlPlane;

/// What an embedding application adds to a configuration (SPEC §16 builder).
struct ServerOptions {
  std::optional<std::string> http_addr, socks_addr, admin_addr;  // listener overrides (§2)
  PolicyDecider decider;
  std::vector<std::shared_ptr<AuditSink>> audit_sinks;  // beside the configured ones
  BlockedObserver blocked_observer;
  std::optional<AuditMetadata> audit_metadata;  // replaces [network.audit_metadata]
};

class Server {
 public:
  /// Validates and compiles; binds nothing. `config_path` enables reloads.
  static Result<std::unique_ptr<Server>> create(Config config,
                                                std::optional<std::filesystem::path> config_path,
                                                log::Logger& logger, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds every enabled listener or none (error code "bind" naming listener and address).
  Result<void> bind();
  /// Serves until shutdown on the calling thread plus one thread per further CPU. Installs no
  /// signal handlers (the CLI maps signals to shutdown() and reloads). Returns the first fatal
  /// error, if any.
  Result<void> run();
  /// Stops accepting; closes everything left after `grace`. Thread-safe; a later call may
  /// shorten the grace period (0 = close everything now).
  void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

  /// "ip:port" (IPv6 bracketed) of each bound listener; "" when not bound.
  std::string http_addr() const;
  std::string socks_addr() const;
  std::string admin_addr() const;
  ControlPlane& control_plane();
  runtime::Runtime& runtime();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  Result<void> bind_all();
  std::unique_ptr<Impl> impl_;
};

}  // namespace netfence::proxy
