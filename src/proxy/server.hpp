// The composition root of `netfence run` (SPEC §2, §3.5, §3.6, §17): builds the runtime from a
// Config, binds the listeners, runs one I/O thread per CPU, reloads on SIGHUP and shuts down
// gracefully on SIGINT/SIGTERM.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>

#include "log/log.hpp"
#include "netfence/config.hpp"
#include "netfence/result.hpp"

namespace netfence::proxy {

class Server {
 public:
  /// Validates and compiles; binds nothing. `config_path` enables reloads.
  static Result<std::unique_ptr<Server>> create(Config config,
                                                std::optional<std::filesystem::path> config_path,
                                                log::Logger& logger);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds every enabled listener or none (error code "bind" naming listener and address).
  Result<void> bind();
  /// Serves until shutdown; handles SIGINT/SIGTERM (graceful) and SIGHUP (reload) itself.
  /// Returns the first fatal error, if any.
  Result<void> run();
  /// Stops accepting; closes everything left after `grace`. Thread-safe, idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netfence::proxy
