// The admin API's request handling (SPEC §13), without sockets: a parsed request in, a response
// out. Hardening (Host allowlist, Origin refusal, bearer token) and routing live here so they
// are unit-testable; the socket side is admin/server.cpp and the state behind each endpoint is
// an AdminBackend supplied by the composition root.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ip_address.hpp"
#include "http/wire/headers.hpp"
#include "netfence/result.hpp"
#include "netfence/types.hpp"

namespace netfence::admin {

inline constexpr std::size_t kMaxBody = 8 * 1024;  // SPEC §13: larger bodies → 413

struct AdminRequest {
  std::string method;
  std::string target;  // as received (origin-form expected)
  http::Headers headers;
  std::string body;
  /// The body was longer than kMaxBody (not read; the connection closes after the answer).
  bool body_too_large = false;
};

struct AdminResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields
};

/// What the endpoints read and change. Called on the control thread, never on an I/O thread:
/// reload() reads and compiles a file.
class AdminBackend {
 public:
  virtual ~AdminBackend() = default;
  virtual std::string config_json() = 0;
  virtual std::string patterns_json() = 0;
  virtual std::string blocked_json(bool drain) = 0;
  virtual std::string metrics_text() = 0;
  virtual void set_mode(Mode mode) = 0;
  /// The §3.4 diagnostic on failure.
  virtual Result<void> reload() = 0;
};

struct AdminSecurity {
  std::optional<std::string> token;  // admin_token
  /// The admin listener's own IP (also accepted in Host, any port).
  std::optional<core::IpAddress> listener_ip;
};

AdminResponse handle_admin_request(const AdminRequest& req, AdminBackend& backend,
                                   const AdminSecurity& security);

/// Serialises a response (HTTP/1.1, Content-Length, `Connection: close` when !keep_alive).
std::string serialize(const AdminResponse& r, bool keep_alive);

}  // namespace netfence::admin
