// The configuration lifecycle (SPEC §3.6, §3.7): reloads from the file, runtime mode overrides,
// and the swap of one compiled snapshot into the Runtime. Every method blocks (file I/O,
// compilation, resolver set-up): call them from the control thread, never from an I/O thread.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "dns/resolver.hpp"
#include "log/log.hpp"
#include "netfence/config.hpp"
#include "policy/pattern.hpp"
#include "netfence/result.hpp"
#include "runtime/runtime.hpp"

namespace netfence::proxy {

/// Builds the resolver a configuration asks for (dns_servers, dns_hosts).
Result<std::shared_ptr<dns::Resolver>> make_resolver(const Config& cfg);

class ControlPlane {
 public:
  /// `file_config` is the configuration as loaded (the runtime already runs a snapshot of it).
  ControlPlane(log::Logger& log, runtime::Runtime& rt, std::shared_ptr<const Config> file_config,
               std::optional<std::filesystem::path> path);

  /// Re-reads the file (or, without one, re-applies the in-memory configuration). On failure the
  /// previous configuration stays and the error carries the §3.4 diagnostic; both outcomes are
  /// logged as §3.6 says.
  Result<void> reload();

  /// POST /mode: remembered with the file's `mode` at this moment (§3.7).
  Result<void> set_mode(Mode mode);

  /// Library overlay (SPEC §3.7, §16): validates and normalises `pattern` (§5), removes an
  /// identical pattern from the other list, and re-applies it on top of every reloaded file.
  Result<void> add_pattern(policy::PatternList list, std::string_view pattern);
  /// Builder audit_metadata(): replaces the file's [network.audit_metadata], also on reload.
  void set_audit_metadata(AuditMetadata metadata);

  /// The configuration in force (file + runtime overrides).
  std::shared_ptr<const Config> effective() const;

  /// Called after each reload attempt with its outcome (metrics).
  void on_reload(std::function<void(bool ok)> f) { on_reload_ = std::move(f); }
  /// Called by reload() with the configuration about to be installed; an error fails the reload
  /// and keeps the previous configuration (the MITM CA, §10.3).
  void before_install(std::function<Result<void>(const Config&)> f) {
    before_install_ = std::move(f);
  }
  /// Called with each configuration installed by reload() (audit sinks follow the file).
  void on_installed(std::function<void(const Config&)> f) { on_installed_ = std::move(f); }

 private:
  std::shared_ptr<const Config> apply_overrides(const Config& file) const;
  Result<void> install(std::shared_ptr<const Config> effective, bool new_resolver);

  log::Logger& log_;
  runtime::Runtime& rt_;
  std::optional<std::filesystem::path> path_;
  std::function<void(bool)> on_reload_;
  std::function<void(const Config&)> on_installed_;
  std::function<Result<void>(const Config&)> before_install_;

  mutable std::mutex mutex_;  // guards everything below
  std::shared_ptr<const Config> file_;
  std::shared_ptr<const Config> effective_;
  struct ModeOverride {
    Mode mode;
    Mode file_mode;  // the file's value when the override was set
  };
  std::optional<ModeOverride> mode_override_;
  struct OverlayEntry {
    policy::PatternList list;
    std::string pattern;  // normalised
  };
  std::vector<OverlayEntry> overlay_;
  std::optional<AuditMetadata> metadata_;
};

}  // namespace netfence::proxy
