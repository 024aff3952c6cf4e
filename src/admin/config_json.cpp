#include "admin/config_json.hpp"

#include <nlohmann/json.hpp>

namespace netfence::admin {
namespace {

using Json = nlohmann::ordered_json;

Json opt(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }
Json redacted(const std::optional<std::string>& v) {
  return v ? Json("<redacted>") : Json(nullptr);
}

}  // namespace

std::string effective_config_json(const Config& c, const ListenerUrls& urls, Mode mode,
                                  int indent) {
  Json n = Json::object();
  n["enabled"] = c.enabled;
  n["proxy_url"] = urls.proxy_url;
  n["admin_url"] = urls.admin_url;
  n["enable_socks5"] = c.enable_socks5;
  n["socks_url"] = urls.socks_url;
  n["enable_socks5_udp"] = c.enable_socks5_udp;
  n["allow_upstream_proxy"] = c.allow_upstream_proxy;
  n["dangerously_allow_non_loopback_proxy"] = c.dangerously_allow_non_loopback_proxy;
  n["dangerously_allow_non_loopback_admin"] = c.dangerously_allow_non_loopback_admin;
  n["mode"] = std::string(to_string(mode));
  n["mitm"] = c.mitm;
  n["allowed_domains"] = c.allowed_domains;
  n["denied_domains"] = c.denied_domains;
  n["allow_local_binding"] = c.allow_local_binding;
  n["allow_unix_sockets"] = c.allow_unix_sockets;
  n["dangerously_allow_all_unix_sockets"] = c.dangerously_allow_all_unix_sockets;
  n["enable_admin"] = c.enable_admin;
  n["dns_timeout_ms"] = c.dns_timeout_ms;
  n["connect_timeout_ms"] = c.connect_timeout_ms;
  n["idle_timeout_s"] = c.idle_timeout_s;
  n["max_connections"] = c.max_connections;
  n["decider_timeout_ms"] = c.decider_timeout_ms;
  n["extra_ca_certs"] = opt(c.extra_ca_certs);
  n["dns_servers"] = c.dns_servers;
  Json hosts = Json::object();
  for (const auto& [name, addrs] : c.dns_hosts) hosts[name] = addrs;
  n["dns_hosts"] = hosts;
  n["admin_token"] = redacted(c.admin_token);
  n["socks_password"] = redacted(c.socks_password);

  Json audit = Json::object();
  audit["jsonl_path"] = opt(c.audit.jsonl_path);
  audit["otlp_endpoint"] = opt(c.audit.otlp_endpoint);
  Json headers = Json::object();
  for (const auto& [k, v] : c.audit.otlp_headers) headers[k] = "<redacted>";
  audit["otlp_headers"] = headers;
  audit["batch_size"] = c.audit.batch_size;
  audit["batch_timeout_ms"] = c.audit.batch_timeout_ms;
  audit["queue_size"] = c.audit.queue_size;
  n["audit"] = audit;

  const auto& m = c.audit_metadata;
  Json meta = Json::object();
  meta["conversation_id"] = opt(m.conversation_id);
  meta["app_version"] = opt(m.app_version);
  meta["user_account_id"] = opt(m.user_account_id);
  meta["auth_mode"] = opt(m.auth_mode);
  meta["originator"] = opt(m.originator);
  meta["user_email"] = opt(m.user_email);
  meta["terminal_type"] = opt(m.terminal_type);
  meta["model"] = opt(m.model);
  meta["slug"] = opt(m.slug);
  n["audit_metadata"] = meta;

  Json root = Json::object();
  root["network"] = std::move(n);
  // Replace invalid UTF-8 rather than throw: config strings are validated, but this must not
  // be the place a stray byte takes the process down.
  return root.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace netfence::admin
