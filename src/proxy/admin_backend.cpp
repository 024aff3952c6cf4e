#include "proxy/admin_backend.hpp"

#include <nlohmann/json.hpp>

#include "netfence/version.hpp"
#include "observe/blocked_history.hpp"
#include "observe/metrics.hpp"
#include "policy/snapshot.hpp"

namespace netfence::proxy {

std::string AdminBackendImpl::config_json() {
  return admin::effective_config_json(*control_.effective(), urls_, rt_.snapshot()->mode);
}

std::string AdminBackendImpl::patterns_json() {
  const auto snap = rt_.snapshot();
  nlohmann::ordered_json out;
  out["allowed"] = snap->allowed.texts();
  out["denied"] = snap->denied.texts();
  return out.dump();
}

std::string AdminBackendImpl::blocked_json(bool drain) {
  return observe::blocked_json(drain ? rt_.blocked().drain() : rt_.blocked().snapshot());
}

std::string AdminBackendImpl::metrics_text() { return rt_.metrics().render_prometheus(version()); }

void AdminBackendImpl::set_mode(Mode mode) {
  if (auto r = control_.set_mode(mode); !r) {
    rt_.log().error("mode change failed: " + r.error().message);
  }
}

Result<void> AdminBackendImpl::reload() { return control_.reload(); }

}  // namespace netfence::proxy
