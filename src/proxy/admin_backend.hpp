// What the admin API reads and changes, in the proxy process: the control plane (reload, mode),
// the runtime's snapshot, blocked history and metrics (SPEC §13).
#pragma once

#include "admin/api.hpp"
#include "admin/config_json.hpp"
#include "proxy/control_plane.hpp"
#include "runtime/runtime.hpp"

namespace netfence::proxy {

class AdminBackendImpl final : public admin::AdminBackend {
 public:
  /// `urls`: the listener URLs after clamping, with the real bound ports.
  AdminBackendImpl(ControlPlane& control, runtime::Runtime& rt, admin::ListenerUrls urls)
      : control_(control), rt_(rt), urls_(std::move(urls)) {}

  std::string config_json() override;
  std::string patterns_json() override;
  std::string blocked_json(bool drain) override;
  std::string metrics_text() override;
  void set_mode(Mode mode) override;
  Result<void> reload() override;

 private:
  ControlPlane& control_;
  runtime::Runtime& rt_;
  admin::ListenerUrls urls_;
};

}  // namespace netfence::proxy
