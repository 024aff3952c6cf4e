// SPEC §3.1 and §3.5: which config file the CLI reads, and what happens when there is none.
#pragma once

#include <filesystem>
#include <optional>

#include "netfence/config.hpp"

namespace netfence::cli {

struct LoadedConfig {
  Config config;
  std::filesystem::path path;  // the file read, or the implicit path that was looked for
  bool found = false;          // false: implicit lookup found no file; defaults were used
};

/// `--config PATH` (must exist) if given; else $CODEX_HOME/config.toml when CODEX_HOME is set
/// and non-empty; else ~/.codex/config.toml. An implicit path that does not exist yields the
/// defaults with enabled = true (§3.5); the caller logs the warning.
Result<LoadedConfig> discover_and_load(const std::optional<std::filesystem::path>& explicit_path);

}  // namespace netfence::cli
