// OTLP/JSON encoding (SPEC §15.4) and the exporter's pure helpers: endpoint parsing, Retry-After
// and backoff. The sink with its worker thread and HTTP client is in otlp_exporter.cpp.
#include "audit/otlp.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace netfence::audit {
namespace {

using json = nlohmann::ordered_json;

json attribute(std::string_view key, json value) {
  json a;
  a["key"] = key;
  a["value"] = std::move(value);
  return a;
}

json string_value(std::string_view s) {
  json v;
  v["stringValue"] = s;
  return v;
}

// The §15.2 fields in order, optional metadata only when set; the same keys as encode_jsonl.
json attributes(const AuditEvent& e) {
  json out = json::array();
  auto str = [&](std::string_view key, std::string_view value) {
    out.push_back(attribute(key, string_value(value)));
  };
  auto opt = [&](std::string_view key, const std::optional<std::string>& v) {
    if (v) str(key, *v);
  };
  str("event.name", kEventName);
  str("event.timestamp", e.timestamp);
  opt("conversation.id", e.conversation_id);
  opt("app.version", e.app_version);
  opt("auth_mode", e.auth_mode);
  opt("originator", e.originator);
  opt("user.account_id", e.user_account_id);
  opt("user.email", e.user_email);
  opt("terminal.type", e.terminal_type);
  opt("model", e.model);
  opt("slug", e.slug);
  str("network.policy.scope", to_string(e.scope));
  str("network.policy.decision", to_string(e.decision));
  str("network.policy.source", to_string(e.source));
  str("network.policy.reason", e.reason);
  str("network.transport.protocol", to_string(e.protocol));
  str("server.address", e.server_address);
  json port;
  port["intValue"] = std::to_string(e.server_port);  // OTLP/JSON: 64-bit integers as strings
  out.push_back(attribute("server.port", std::move(port)));
  str("http.request.method", e.method);
  str("client.address", e.client_address);
  json override_value;
  override_value["boolValue"] = e.override_allow;
  out.push_back(attribute("network.policy.override", std::move(override_value)));
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

bool path_char(char c) {
  // Visible ASCII; '?' and '#' were split off before.
  return c > 0x20 && c < 0x7f;
}

Error endpoint_error(std::string_view what) {
  return make_error("audit", "network.audit.otlp_endpoint: " + std::string(what));
}

}  // namespace

std::string encode_otlp(const std::vector<AuditEvent>& events, std::string_view service_version,
                        std::int64_t observed_nanos) {
  json records = json::array();
  const std::string observed = std::to_string(observed_nanos);
  for (const auto& e : events) {
    json r;
    r["timeUnixNano"] = std::to_string(e.time_unix_nano);
    r["observedTimeUnixNano"] = observed;
    r["severityNumber"] = 9;  // SEVERITY_NUMBER_INFO
    r["severityText"] = "INFO";
    r["body"] = string_value(kEventName);
    r["attributes"] = attributes(e);
    records.push_back(std::move(r));
  }
  json resource_attributes = json::array();
  resource_attributes.push_back(attribute("service.name", string_value("netfence")));
  resource_attributes.push_back(attribute("service.version", string_value(service_version)));
  json scope;
  scope["name"] = kScopeName;
  json scope_logs;
  scope_logs["scope"] = std::move(scope);
  scope_logs["logRecords"] = std::move(records);
  json resource;
  resource["attributes"] = std::move(resource_attributes);
  json resource_logs;
  resource_logs["resource"] = std::move(resource);
  resource_logs["scopeLogs"] = json::array({std::move(scope_logs)});
  json root;
  root["resourceLogs"] = json::array({std::move(resource_logs)});
  // Replace rather than throw on bytes that are not UTF-8 (a decider's reason, metadata).
  return root.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<OtlpEndpoint> parse_otlp_endpoint(std::string_view url) {
  OtlpEndpoint ep;
  auto starts_with_ci = [&](std::string_view prefix) {
    return url.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), url.begin(), [](char a, char b) {
             return a == std::tolower(static_cast<unsigned char>(b));
           });
  };
  std::string_view rest;
  if (starts_with_ci("http://")) {
    rest = url.substr(7);
  } else if (starts_with_ci("https://")) {
    ep.tls = true;
    rest = url.substr(8);
  } else {
    return endpoint_error("expected an http:// or https:// URL");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return endpoint_error("a query or fragment is not supported");
  }
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    // Not repeated: it may hold a password.
    return endpoint_error("credentials in the URL are not supported; use otlp_headers");
  }
  std::string_view host_part, port_part;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return endpoint_error("unterminated IPv6 literal");
    host_part = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return endpoint_error("bad authority");
      has_port = true;
      port_part = after.substr(1);
    }
    if (host_part.empty() || !std::all_of(host_part.begin(), host_part.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        })) {
      return endpoint_error("bad IPv6 literal");
    }
  } else {
    const std::size_t colon = authority.find(':');
    host_part = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_part = authority.substr(colon + 1);
    }
    if (host_part.empty()) return endpoint_error("missing host");
    if (!std::all_of(host_part.begin(), host_part.end(), host_char)) {
      return endpoint_error("bad host name");
    }
  }
  ep.port = ep.tls ? 443 : 80;
  if (has_port && !port_part.empty()) {
    if (port_part.size() > 5 || !std::all_of(port_part.begin(), port_part.end(), is_digit)) {
      return endpoint_error("bad port");
    }
    const unsigned long p = std::stoul(std::string(port_part));
    if (p == 0 || p > 65535) return endpoint_error("bad port");
    ep.port = static_cast<std::uint16_t>(p);
  }
  if (!std::all_of(path.begin(), path.end(), path_char)) {
    return endpoint_error("bad path");
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  ep.host = std::string(host_part);
  ep.target = std::string(path) + "/v1/logs";
  const bool v6 = host_part.find(':') != std::string_view::npos;
  const std::string bracketed = v6 ? "[" + ep.host + "]" : ep.host;
  const bool default_port = ep.port == (ep.tls ? 443 : 80);
  ep.host_header =
      has_port && !port_part.empty() ? bracketed + ":" + std::to_string(ep.port) : bracketed;
  ep.display = std::string(ep.tls ? "https://" : "http://") + bracketed +
               (default_port ? "" : ":" + std::to_string(ep.port)) + ep.target;
  return ep;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || !std::all_of(value.begin(), value.end(), is_digit)) return std::nullopt;
  // Anything past a day is as good as "a long time": clamp instead of overflowing.
  if (value.size() > 9) return std::chrono::seconds(86400);
  return std::chrono::seconds(std::min<long>(std::stol(std::string(value)), 86400));
}

std::chrono::milliseconds otlp_backoff(unsigned attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds max) {
  std::chrono::milliseconds d = base;
  for (unsigned i = 1; i < attempt && d < max; ++i) d *= 2;
  return std::min(d, max);
}

}  // namespace netfence::audit
