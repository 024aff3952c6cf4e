// libFuzzer target for the admin API (SPEC §13): handle_admin_request() against a fake backend
// that records every call, reached two ways.
//
// The first input byte holds flags: bit 0 sets an admin_token, bit 1 the listener's own IP
// (192.0.2.10), bit 2 makes the backend's reload() fail, bit 3 picks the input form:
//  - clear (structured): the rest is `method \0 target \0 name \0 value \0 … \0\0 body`; the
//    fields reach the handler unvalidated (whatever the parser lets through is a subset);
//  - set (wire): the rest is raw bytes from an admin client, taken through the same pure steps
//    as admin/server.cpp (request head parser with the 8 KiB admin limit on line + fields,
//    origin-form check, strict request framing, chunked → 411, Content-Length > 8 KiB → 413
//    without reading the body), up to four pipelined requests on one keep-alive connection.
//
// Checked for every request: the status and content type are among those §13 lists; the Host
// allowlist, the Origin refusal and the bearer token are enforced before any backend call (a
// refused request makes none, /health makes none, anything else at most one, and only the one
// its route names); 401 carries `WWW-Authenticate: Bearer`; /mode records exactly the mode it
// answers; the token never appears in a response; handling is deterministic; serialize() gives a
// response that our own response parser reads back with the same status and a Content-Length
// equal to the body. __builtin_trap() on violation.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/api.hpp"
#include "core/address_class.hpp"
#include "core/host.hpp"
#include "core/ip_address.hpp"
#include "http/wire/framing.hpp"
#include "http/wire/headers.hpp"
#include "http/wire/request_head.hpp"
#include "http/wire/response_head.hpp"

namespace {

using namespace netfence;
using admin::AdminRequest;
using admin::AdminResponse;

constexpr std::string_view kToken = "fuzz-admin-token-0123456789";
constexpr std::size_t kMaxHead = 8 * 1024;  // admin/server.cpp: request line and fields together
constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4; charset=utf-8";

void check(bool ok) {
  if (!ok) __builtin_trap();
}

enum class Call { none, config, patterns, blocked, blocked_drain, metrics, mode, reload };

class FakeBackend final : public admin::AdminBackend {
 public:
  explicit FakeBackend(bool reload_fails) : reload_fails_(reload_fails) {}

  std::vector<Call> calls;
  std::optional<Mode> last_mode;

  std::string config_json() override {
    calls.push_back(Call::config);
    return R"({"network":{"enabled":true,"admin_token":"<redacted>"}})";
  }
  std::string patterns_json() override {
    calls.push_back(Call::patterns);
    return R"({"allowed":["*.example.com"],"denied":[]})";
  }
  std::string blocked_json(bool drain) override {
    calls.push_back(drain ? Call::blocked_drain : Call::blocked);
    return R"({"blocked":[]})";
  }
  std::string metrics_text() override {
    calls.push_back(Call::metrics);
    return "netfence_blocked_total 0\n";
  }
  void set_mode(Mode mode) override {
    calls.push_back(Call::mode);
    last_mode = mode;
  }
  Result<void> reload() override {
    calls.push_back(Call::reload);
    if (reload_fails_) return Error{"config", "fuzz.toml:1:1: network.mode: bad"};
    return {};
  }

 private:
  bool reload_fails_;
};

// What the handler must conclude about the security headers, derived without calling it.
bool host_ok(const http::Headers& h, const admin::AdminSecurity& sec) {
  if (h.count("host") != 1) return false;
  auto hp = core::parse_host_port(h.find("host")->value, core::HostSource::http);
  if (!hp) return false;
  if (hp->host.kind == core::HostKind::name) return hp->host.text == "localhost";
  return core::is_loopback(*hp->host.ip) || (sec.listener_ip && *hp->host.ip == *sec.listener_ip);
}

bool token_ok(const http::Headers& h, const admin::AdminSecurity& sec) {
  if (!sec.token) return true;
  if (h.count("authorization") != 1) return false;
  const std::string_view v = h.find("authorization")->value;
  return v.size() == 7 + sec.token->size() && http::iequals(v.substr(0, 7), "Bearer ") &&
         v.substr(7) == *sec.token;
}

std::optional<std::string_view> header(const AdminResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (http::iequals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

bool same(const AdminResponse& a, const AdminResponse& b) {
  return a.status == b.status && a.content_type == b.content_type && a.body == b.body &&
         a.headers == b.headers;
}

void check_serialized(const AdminResponse& r, bool keep_alive) {
  const std::string wire = admin::serialize(r, keep_alive);
  http::ResponseHeadParser p;
  const auto res = p.feed(wire);
  check(res.status == http::ParseStatus::done);
  const auto& head = p.head();
  check(head.status == r.status && head.version_minor == 1);
  check(head.headers.count("content-length") == 1);
  check(head.headers.find("content-length")->value == std::to_string(r.body.size()));
  check(http::headers_contain_token(head.headers, "connection", keep_alive ? "keep-alive" : "close"));
  check(wire.size() - res.consumed == r.body.size() && wire.substr(res.consumed) == r.body);
}

void run(const AdminRequest& req, const admin::AdminSecurity& sec, bool reload_fails) {
  FakeBackend backend(reload_fails);
  const AdminResponse r = admin::handle_admin_request(req, backend, sec);

  check(r.status == 200 || r.status == 400 || r.status == 401 || r.status == 403 ||
        r.status == 404 || r.status == 413 || r.status == 500);
  check(r.content_type == kText || r.content_type == kJson || r.content_type == kPrometheus);
  check(backend.calls.size() <= 1);
  if (sec.token) {
    check(r.body.find(*sec.token) == std::string::npos);
    for (const auto& [k, v] : r.headers) check(v.find(*sec.token) == std::string::npos);
  }

  std::string_view path = req.target;
  std::string_view query;
  if (const auto q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  const bool get = req.method == "GET";
  const bool post = req.method == "POST";

  // Hardening first: nothing reaches the backend from a refused request.
  if (!host_ok(req.headers, sec)) {
    check(r.status == 403 && r.body == "forbidden host" && backend.calls.empty());
  } else if (req.headers.count("origin") != 0) {
    check(r.status == 403 && r.body == "cross-origin requests are not allowed" &&
          backend.calls.empty());
  } else if (get && path == "/health") {
    check(r.status == 200 && r.body == "ok" && r.content_type == kText && backend.calls.empty());
  } else if (!token_ok(req.headers, sec)) {
    check(r.status == 401 && r.body == "unauthorized" && backend.calls.empty());
    check(header(r, "www-authenticate") == std::optional<std::string_view>("Bearer"));
  } else if (req.body_too_large) {
    check(r.status == 413 && r.body == "body too large" && backend.calls.empty());
  } else {
    // Routing: exactly the call the route names.
    std::optional<Call> want;
    if (get && path == "/config") want = Call::config;
    if (get && path == "/patterns") want = Call::patterns;
    if (get && path == "/blocked") want = query == "drain=true" ? Call::blocked_drain : Call::blocked;
    if (get && path == "/metrics") want = Call::metrics;
    if (post && path == "/reload") want = Call::reload;
    if (post && path == "/mode") {
      if (r.status == 200) {
        check(backend.calls.size() == 1 && backend.calls[0] == Call::mode && backend.last_mode);
        const std::string body = std::string(R"({"status":"ok","mode":")") +
                                 std::string(to_string(*backend.last_mode)) + "\"}";
        check(r.body == body && r.content_type == kJson);
      } else {
        check(r.status == 400 && backend.calls.empty());
        check(r.body == "missing body" || r.body == "invalid json" || r.body == "invalid mode");
        check(r.body != "missing body" || req.body.empty());
      }
    } else if (want) {
      check(backend.calls.size() == 1 && backend.calls[0] == *want);
      if (*want == Call::reload) {
        check(r.status == (reload_fails ? 500 : 200) && r.content_type == kJson);
      } else {
        check(r.status == 200);
        check(r.content_type == (*want == Call::metrics ? kPrometheus : kJson));
      }
    } else {
      check(r.status == 404 && r.body == "not found" && backend.calls.empty());
    }
  }
  if (r.status == 401) check(header(r, "www-authenticate").has_value());

  // Deterministic: the same request against a fresh backend gives the same answer.
  FakeBackend again_backend(reload_fails);
  check(same(admin::handle_admin_request(req, again_backend, sec), r));
  check(again_backend.calls == backend.calls);

  check_serialized(r, true);
  check_serialized(r, false);
}

// `method \0 target \0 (name \0 value \0)* \0 body`: the part before the first "\0\0" is split at
// NULs; what follows it is the body (which may hold anything, NULs included).
void structured(std::string_view in, const admin::AdminSecurity& sec, bool reload_fails) {
  std::string_view head = in;
  std::string_view body;
  bool has_body = false;
  if (const auto end = in.find(std::string_view("\0\0", 2)); end != std::string_view::npos) {
    head = in.substr(0, end);
    body = in.substr(end + 2);
    has_body = true;
  }
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t nul = head.find('\0', start);
    parts.push_back(head.substr(start, nul == std::string_view::npos ? nul : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  AdminRequest req;
  req.method = std::string(parts[0]);
  if (parts.size() > 1) req.target = std::string(parts[1]);
  for (std::size_t i = 2; i + 1 < parts.size() && i < 2 + 2 * 64; i += 2) {
    req.headers.add(std::string(parts[i]), std::string(parts[i + 1]));
  }
  if (has_body) {
    if (body.size() > admin::kMaxBody) {
      req.body_too_large = true;  // as the server does: the body stays unread
    } else {
      req.body = std::string(body);
    }
  }
  run(req, sec, reload_fails);
}

// The steps of admin/server.cpp's connection loop that need no socket.
void wire(std::string_view in, const admin::AdminSecurity& sec, bool reload_fails) {
  std::string buf(in);
  for (int n = 0; n < 4; ++n) {
    http::HeadLimits limits;
    limits.max_start_line = kMaxHead;
    limits.max_header_bytes = kMaxHead;
    http::RequestHeadParser parser(limits);
    auto r = parser.feed(buf);
    if (r.status == http::ParseStatus::done && r.consumed > kMaxHead) return;  // 431
    if (r.status != http::ParseStatus::done) {
      if (r.status == http::ParseStatus::error) {
        check(r.error.status == 400 || r.error.status == 414 || r.error.status == 431);
      }
      return;
    }
    http::RequestHead head = parser.take_head();
    buf.erase(0, r.consumed);

    AdminRequest req;
    req.method = head.method;
    req.target = head.target;
    bool keep_alive = head.version_minor >= 1 &&
                      !http::headers_contain_token(head.headers, "connection", "close");
    if (req.target.empty() || req.target.front() != '/') return;  // 400, close
    const auto framing = http::request_framing(head);
    if (!framing) {
      check(framing.error().status == 400);
      return;
    }
    if (framing->kind == http::BodyFraming::Kind::chunked) return;  // 411, close
    check(framing->kind != http::BodyFraming::Kind::until_close);
    if (framing->kind == http::BodyFraming::Kind::content_length) {
      if (framing->length > admin::kMaxBody) {
        req.body_too_large = true;
        keep_alive = false;
      } else {
        const auto len = static_cast<std::size_t>(framing->length);
        if (buf.size() < len) return;  // the server would wait for the rest
        req.body = buf.substr(0, len);
        buf.erase(0, len);
      }
    }
    req.headers = std::move(head.headers);
    run(req, sec, reload_fails);
    if (!keep_alive) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  admin::AdminSecurity sec;
  if (flags & 1) sec.token = std::string(kToken);
  if (flags & 2) sec.listener_ip = core::IpAddress::parse("192.0.2.10");
  const bool reload_fails = (flags & 4) != 0;
  if (flags & 8) {
    wire(in, sec, reload_fails);
  } else {
    structured(in, sec, reload_fails);
  }
  return 0;
}
