#include "admin/api.hpp"

#include <nlohmann/json.hpp>

#include "core/address_class.hpp"
#include "core/host.hpp"
#include "core/secret.hpp"
#include "http/responses.hpp"

namespace netfence::admin {
namespace {

constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4; charset=utf-8";

AdminResponse text(int status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.content_type = kText;
  r.body = std::move(body);
  return r;
}

AdminResponse json(int status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.content_type = kJson;
  r.body = std::move(body);
  return r;
}

// §13: localhost, a loopback literal, or the listener's own IP, with any port. Anything else
// (including no Host at all) may be a browser talking to a rebound DNS name.
bool host_allowed(const http::Headers& headers, const AdminSecurity& sec) {
  const http::Field* host = headers.find("host");
  if (!host || headers.count("host") != 1) return false;
  auto hp = core::parse_host_port(host->value, core::HostSource::http);
  if (!hp) return false;
  if (hp->host.text == "localhost") return true;
  if (!hp->host.ip) return false;
  return core::is_loopback(*hp->host.ip) || (sec.listener_ip && *hp->host.ip == *sec.listener_ip);
}

bool token_ok(const http::Headers& headers, const std::string& token) {
  const http::Field* auth = headers.find("authorization");
  if (!auth || headers.count("authorization") != 1) return false;
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view v = auth->value;
  if (v.size() < kBearer.size() || !http::iequals(v.substr(0, kBearer.size()), kBearer)) {
    return false;
  }
  v.remove_prefix(kBearer.size());
  return core::secret_equals(v, token);
}

AdminResponse set_mode(const AdminRequest& req, AdminBackend& backend) {
  if (req.body.empty()) return text(400, "missing body");
  const auto j = nlohmann::json::parse(req.body, nullptr, false);
  if (j.is_discarded()) return text(400, "invalid json");
  const auto it = j.is_object() ? j.find("mode") : j.end();
  if (it == j.end() || !it->is_string()) return text(400, "invalid mode");
  const auto mode = parse_mode(it->get<std::string>());
  if (!mode) return text(400, "invalid mode");
  backend.set_mode(*mode);
  nlohmann::ordered_json out;
  out["status"] = "ok";
  out["mode"] = std::string(to_string(*mode));
  return json(200, out.dump());
}

AdminResponse reload(AdminBackend& backend) {
  auto r = backend.reload();
  nlohmann::ordered_json out;
  if (r) {
    out["status"] = "reloaded";
    return json(200, out.dump());
  }
  out["status"] = "error";
  out["error"] = r.error().message;
  return json(500, out.dump());
}

}  // namespace

AdminResponse handle_admin_request(const AdminRequest& req, AdminBackend& backend,
                                   const AdminSecurity& security) {
  if (!host_allowed(req.headers, security)) return text(403, "forbidden host");
  if (req.headers.find("origin")) return text(403, "cross-origin requests are not allowed");

  std::string_view path = req.target;
  std::string_view query;
  if (auto q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  const bool get = req.method == "GET";
  const bool post = req.method == "POST";
  if (get && path == "/health") return text(200, "ok");

  if (security.token && !token_ok(req.headers, *security.token)) {
    AdminResponse r = text(401, "unauthorized");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  if (req.body_too_large) return text(413, "body too large");
  if (get && path == "/config") return json(200, backend.config_json());
  if (get && path == "/patterns") return json(200, backend.patterns_json());
  if (get && path == "/blocked") {
    const bool drain = query == "drain=true";
    return json(200, backend.blocked_json(drain));
  }
  if (get && path == "/metrics") {
    AdminResponse r = text(200, backend.metrics_text());
    r.content_type = kPrometheus;
    return r;
  }
  if (post && path == "/mode") return set_mode(req, backend);
  if (post && path == "/reload") return reload(backend);
  return text(404, "not found");
}

std::string serialize(const AdminResponse& r, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " ";
  out += http::status_reason(r.status);
  out += "\r\nContent-Type: ";
  out += r.content_type;
  out += "\r\nContent-Length: " + std::to_string(r.body.size());
  for (const auto& [name, value] : r.headers) out += "\r\n" + name + ": " + value;
  out += "\r\nCache-Control: no-store\r\nConnection: ";
  out += keep_alive ? "keep-alive" : "close";
  out += "\r\n\r\n";
  out += r.body;
  return out;
}

}  // namespace netfence::admin
