// The unix-socket allowlist of SPEC §11: header validation, lexical normalisation, and the
// entries resolved (symlinks followed) when a configuration is installed, so a symlink planted
// later at an allowed path cannot redirect a connection.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netfence/config.hpp"

namespace netfence::runtime {

/// `sun_path` holds 108 bytes including the terminating NUL.
inline constexpr std::size_t kMaxUnixPath = 107;

/// §11 step 1: absolute, valid UTF-8, no control characters, fits sun_path, not abstract.
bool valid_unix_socket_header(std::string_view value);

/// Repeated '/' collapsed, "." removed, ".." resolved (never above "/"). `path` is absolute.
std::string lexically_normal_unix_path(std::string_view path);

/// realpath(3) of an absolute lexical path; the lexical form when it does not resolve.
std::string resolve_unix_path(const std::string& lexical);

struct UnixAllowlist {
  bool allow_all = false;              // dangerously_allow_all_unix_sockets
  std::vector<std::string> resolved;  // entries resolved when the config was installed

  /// Reads the filesystem (realpath); call it off the I/O threads (config install).
  static UnixAllowlist from(const Config& cfg);

  /// The path to connect to when `header_path` (already validated) is allowed: its resolved
  /// form. Reads the filesystem (one realpath).
  std::optional<std::string> admit(std::string_view header_path) const;
};

}  // namespace netfence::runtime
