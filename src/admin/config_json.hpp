// The effective configuration as JSON (SPEC §13 `/config` shape), shared by `GET /config` and
// `netfence check-config`. nlohmann stays inside the .cpp (cpp-stack pitfall 11).
#pragma once

#include <string>

#include "netfence/config.hpp"

namespace netfence::admin {

struct ListenerUrls {
  std::string proxy_url, socks_url, admin_url;  // e.g. "http://127.0.0.1:3128"
};

/// {"network":{...}} with every §3.2 key in table order. Secrets (admin_token, socks_password,
/// and otlp_headers values, which typically carry credentials) appear as "<redacted>" when set,
/// null otherwise. `mode` is the runtime mode in force.
std::string effective_config_json(const Config& cfg, const ListenerUrls& urls, Mode mode,
                                  int indent = -1);

}  // namespace netfence::admin
