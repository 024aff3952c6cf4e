// Operator logs on stderr in the SPEC §2 format: `<RFC 3339 UTC ms Z> <LEVEL> <text>`.
// A Logger is an object passed to whoever logs (no global logger), so an embedding application
// can run several proxies or route the lines elsewhere.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace netfence::log {

enum class Level : std::uint8_t { trace, debug, info, warn, error, off };

/// "trace" | "debug" | "info" | "warn" | "error" | "off".
std::optional<Level> parse_level(std::string_view s) noexcept;

class Logger {
 public:
  /// Writes to stderr.
  explicit Logger(Level level = Level::info);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void set_level(Level level);
  bool enabled(Level level) const noexcept;
  void write(Level level, std::string_view text);

  void trace(std::string_view t) { write(Level::trace, t); }
  void debug(std::string_view t) { write(Level::debug, t); }
  void info(std::string_view t) { write(Level::info, t); }
  void warn(std::string_view t) { write(Level::warn, t); }
  void error(std::string_view t) { write(Level::error, t); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace netfence::log
