#include "proxy/control_plane.hpp"

#include <algorithm>

#include "core/address_class.hpp"
#include "core/interfaces.hpp"
#include "policy/snapshot.hpp"

namespace netfence::proxy {

Result<std::shared_ptr<dns::Resolver>> make_resolver(const Config& cfg) {
  dns::ResolverOptions opts;
  opts.servers = cfg.dns_servers;
  for (const auto& [name, addrs] : cfg.dns_hosts) {
    std::vector<core::IpAddress> ips;
    for (const auto& a : addrs) {
      if (auto ip = core::IpAddress::parse(a)) ips.push_back(*ip);
    }
    opts.static_hosts.emplace_back(name, std::move(ips));
  }
  auto r = dns::make_cares_resolver(opts);
  if (!r) return make_error("config", "resolver: " + r.error().message);
  return std::shared_ptr<dns::Resolver>(std::move(r.value()));
}

ControlPlane::ControlPlane(log::Logger& log, runtime::Runtime& rt,
                           std::shared_ptr<const Config> file_config,
                           std::optional<std::filesystem::path> path)
    : log_(log),
      rt_(rt),
      path_(std::move(path)),
      file_(file_config),
      effective_(std::move(file_config)) {}

std::shared_ptr<const Config> ControlPlane::effective() const {
  std::lock_guard lock(mutex_);
  return effective_;
}

std::shared_ptr<const Config> ControlPlane::apply_overrides(const Config& file) const {
  auto out = std::make_shared<Config>(file);
  if (mode_override_) out->mode = mode_override_->mode;
  if (metadata_) out->audit_metadata = *metadata_;
  // The overlay in the order it was added; each entry wins over an identical pattern in the
  // other list (the reference's upsert). File entries are compared in normalised form.
  auto normalised = [](const std::string& raw, policy::PatternList list) {
    auto c = policy::compile_pattern(raw, list);
    return c ? c->pattern.text() : raw;
  };
  for (const auto& e : overlay_) {
    auto& mine =
        e.list == policy::PatternList::allowed ? out->allowed_domains : out->denied_domains;
    auto& other =
        e.list == policy::PatternList::allowed ? out->denied_domains : out->allowed_domains;
    const auto other_list = e.list == policy::PatternList::allowed ? policy::PatternList::denied
                                                                   : policy::PatternList::allowed;
    std::erase_if(other,
                  [&](const std::string& p) { return normalised(p, other_list) == e.pattern; });
    const bool present = std::any_of(mine.begin(), mine.end(), [&](const std::string& p) {
      return normalised(p, e.list) == e.pattern;
    });
    if (!present) mine.push_back(e.pattern);
  }
  return out;
}

Result<void> ControlPlane::add_pattern(policy::PatternList list, std::string_view pattern) {
  auto compiled = policy::compile_pattern(pattern, list);
  const char* key = list == policy::PatternList::allowed ? "allowed_domains" : "denied_domains";
  if (!compiled) return make_error("config", std::string(key) + ": " + compiled.error().message);
  std::lock_guard lock(mutex_);
  const std::string text = compiled->pattern.text();
  auto previous = overlay_;
  std::erase_if(overlay_, [&](const OverlayEntry& e) { return e.pattern == text; });
  overlay_.push_back({list, text});
  if (auto r = install(apply_overrides(*file_), false); !r) {
    overlay_ = std::move(previous);
    return r.error();
  }
  log_.info(std::string("runtime ") + key + " += " + text);
  return {};
}

void ControlPlane::set_audit_metadata(AuditMetadata metadata) {
  std::lock_guard lock(mutex_);
  metadata_ = std::move(metadata);
}

Result<void> ControlPlane::install(std::shared_ptr<const Config> effective, bool new_resolver) {
  auto snap = policy::compile(effective);
  if (!snap) return snap.error();
  if (new_resolver) {
    auto resolver = make_resolver(*effective);
    if (!resolver) return resolver.error();
    rt_.set_resolver(resolver.value());
  }
  effective_ = effective;
  rt_.set_snapshot(snap.value());
  return {};
}

Result<void> ControlPlane::reload() {
  std::lock_guard lock(mutex_);
  auto fail = [&](const Error& e) -> Result<void> {
    log_.error("config reload failed: " + e.message + "; keeping the previous configuration");
    if (on_reload_) on_reload_(false);
    return e;
  };
  if (!path_) {
    // Library use without a file: re-apply the in-memory configuration (§13).
    auto effective = apply_overrides(*file_);
    if (before_install_) {
      if (auto r = before_install_(*effective); !r) return fail(r.error());
    }
    if (auto r = install(effective, true); !r) return fail(r.error());
    log_.info("configuration re-applied (no config file)");
    if (on_reload_) on_reload_(true);
    return {};
  }
  auto loaded = load_config(*path_);
  if (!loaded) return fail(loaded.error());
  for (const auto& w : loaded->warnings) log_.warn(w);
  const Config& old = *file_;
  auto next = std::make_shared<const Config>(std::move(loaded.value()));
  auto warn_fixed = [&](const char* key, bool changed) {
    if (changed) log_.warn(std::string(key) + " changed; restart netfence to apply it");
  };
  warn_fixed("proxy_url", next->proxy_url != old.proxy_url);
  warn_fixed("socks_url", next->socks_url != old.socks_url);
  warn_fixed("admin_url", next->admin_url != old.admin_url);
  warn_fixed("enable_socks5", next->enable_socks5 != old.enable_socks5);
  warn_fixed("enable_admin", next->enable_admin != old.enable_admin);
  warn_fixed("dangerously_allow_non_loopback_proxy", next->dangerously_allow_non_loopback_proxy !=
                                                         old.dangerously_allow_non_loopback_proxy);
  warn_fixed("dangerously_allow_non_loopback_admin", next->dangerously_allow_non_loopback_admin !=
                                                         old.dangerously_allow_non_loopback_admin);

  // §3.6: unix-socket proxying needs loopback listeners (§2 rule 2), and listeners are not
  // re-bound on reload, so such a reload fails as a whole.
  if (next->unix_sockets_enabled()) {
    const auto env = rt_.environment();
    const std::pair<const char*, const std::optional<policy::Endpoint>*> listeners[] = {
        {"HTTP proxy", &env.env.http},
        {"SOCKS5 proxy", &env.env.socks5},
        {"admin API", &env.env.admin}};
    for (const auto& [name, ep] : listeners) {
      if (*ep && !core::is_loopback((*ep)->ip)) {
        return fail(make_error("config", path_->string() +
                                             ": unix-socket proxying requires loopback "
                                             "listeners, but the " +
                                             name + " listens on " + (*ep)->ip.to_string() +
                                             "; restart netfence to apply it"));
      }
    }
  }

  // §3.7: the runtime mode survives while the file's own `mode` is unchanged.
  std::optional<ModeOverride> kept = mode_override_;
  if (kept && next->mode != kept->file_mode) kept.reset();
  std::swap(mode_override_, kept);
  auto effective = apply_overrides(*next);
  if (before_install_) {
    if (auto r = before_install_(*effective); !r) {
      std::swap(mode_override_, kept);
      return fail(r.error());
    }
  }
  if (auto r = install(effective, true); !r) {
    std::swap(mode_override_, kept);
    return fail(r.error());
  }
  file_ = next;
  if (on_installed_) on_installed_(*effective);
  rt_.set_own_addresses(core::read_interface_addresses());
  log_.info("configuration reloaded from " + path_->string());
  if (on_reload_) on_reload_(true);
  return {};
}

Result<void> ControlPlane::set_mode(Mode mode) {
  std::lock_guard lock(mutex_);
  std::optional<ModeOverride> previous = mode_override_;
  mode_override_ = ModeOverride{mode, file_->mode};
  if (auto r = install(apply_overrides(*file_), false); !r) {
    mode_override_ = previous;
    return r.error();
  }
  log_.info("mode set to " + std::string(to_string(mode)));
  return {};
}

}  // namespace netfence::proxy
