// `netfence ca init|path|export` and `netfence env` (SPEC §17, §10.3). The CA lives in
// `<state home>/proxy/` (§3.1); no CLI11 here (main.cpp parses the arguments).
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "log/log.hpp"
#include "netfence/config.hpp"

namespace netfence::cli {

enum class CaAction : std::uint8_t { init, path, export_pem };

struct CaRequest {
  CaAction action = CaAction::path;
  bool bundle = false;             // export: system roots followed by the netfence CA
  std::optional<std::string> out;  // export: write this file instead of stdout
};

/// Runs one `ca` action against the state home and returns the exit code:
///   init   — creates the CA if absent or validates it; prints the certificate path;
///   path   — prints `<home>/proxy/ca.pem`, exit 1 when it does not exist;
///   export — prints the CA PEM (validated, never created) or writes it to `out`; with
///            `bundle`, the system roots first.
/// CA and I/O failures are logged and give 1.
int run_ca(log::Logger& log, const CaRequest& req, std::ostream& out);

enum class Shell : std::uint8_t { sh, fish };

/// One assignment line without the newline: `export NAME='value'` (sh) or
/// `set -gx NAME 'value'` (fish), quoted so any value survives.
std::string shell_assignment(Shell shell, std::string_view name, std::string_view value);

/// Prints the child environment of §17 for `cfg` (listeners as `run` would bind them, loopback
/// clamping included). `config_path` names the file in the `enabled = false` warning. With
/// `mitm = true` the CA is created when absent and `<home>/proxy/ca-bundle.pem` is rewritten
/// when older than the system roots or the CA. Exit 2 when a needed listener uses port 0 or the
/// listener URLs are invalid, 1 for a CA or I/O failure.
int run_env(log::Logger& log, const Config& cfg, const std::filesystem::path& config_path,
            Shell shell, std::ostream& out);

}  // namespace netfence::cli
