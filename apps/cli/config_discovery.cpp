#include "config_discovery.hpp"

#include <cstdlib>
#include <system_error>

namespace netfence::cli {
namespace {

std::filesystem::path implicit_config_path() {
  if (const char* codex = std::getenv("CODEX_HOME"); codex && *codex) {
    return std::filesystem::path(codex) / "config.toml";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/") / ".codex" / "config.toml";
}

}  // namespace

Result<LoadedConfig> discover_and_load(const std::optional<std::filesystem::path>& explicit_path) {
  LoadedConfig out;
  if (explicit_path) {
    out.path = *explicit_path;
    std::error_code ec;
    if (!std::filesystem::exists(out.path, ec)) {
      return make_error("config", "config file " + out.path.string() + " does not exist");
    }
  } else {
    out.path = implicit_config_path();
    std::error_code ec;
    if (!std::filesystem::exists(out.path, ec)) {
      out.config.enabled = true;  // §3.5: run with defaults and an empty allowlist
      return out;
    }
  }
  auto cfg = load_config(out.path);
  if (!cfg) return cfg.error();
  out.config = std::move(cfg.value());
  out.found = true;
  return out;
}

}  // namespace netfence::cli
