// The environment of a sandboxed child (SPEC §17 `env`, §16 child_environment): the proxy
// variables every common tool reads, in the documented order. Pure: no files, no listeners.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace netfence::api {

struct ChildEnvInput {
  std::string http_addr;                 // "ip:port" of the HTTP proxy
  std::optional<std::string> socks_addr;  // "ip:port" when SOCKS5 is enabled
  bool allow_local_binding = false;
  /// With mitm = true: `<home>/proxy/ca-bundle.pem` and `<home>/proxy/ca.pem`.
  std::optional<std::string> ca_bundle, ca_cert;
};

std::vector<std::pair<std::string, std::string>> child_environment(const ChildEnvInput& in);

}  // namespace netfence::api
