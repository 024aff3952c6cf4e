// The admin API's pure request handling (SPEC §13): hardening (Host allowlist, Origin refusal,
// bearer token), routing, content types, /mode and /reload bodies, and serialize(), all against
// a fake AdminBackend that records every call.
#include "admin/api.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace netfence::admin {
namespace {

constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kToken = "s3cret-admin-token-0123456789";

class FakeBackend final : public AdminBackend {
 public:
  std::string config_body = R"({"network":{"enabled":true}})";
  std::string patterns_body = R"({"allowed":["*.example.com"],"denied":[]})";
  std::string metrics_body =
      "# HELP netfence_blocked_total x\n# TYPE netfence_blocked_total counter\n"
      "netfence_blocked_total 0\n";
  std::optional<Error> reload_error;

  int config_calls = 0, patterns_calls = 0, metrics_calls = 0, reload_calls = 0;
  std::vector<bool> blocked_calls;  // the drain flag of each call
  std::vector<Mode> modes;

  std::string config_json() override {
    ++config_calls;
    return config_body;
  }
  std::string patterns_json() override {
    ++patterns_calls;
    return patterns_body;
  }
  std::string blocked_json(bool drain) override {
    blocked_calls.push_back(drain);
    return drain ? R"({"blocked":[{"host":"drained"}]})" : R"({"blocked":[]})";
  }
  std::string metrics_text() override {
    ++metrics_calls;
    return metrics_body;
  }
  void set_mode(Mode mode) override { modes.push_back(mode); }
  Result<void> reload() override {
    ++reload_calls;
    if (reload_error) return *reload_error;
    return {};
  }

  int total_calls() const {
    return config_calls + patterns_calls + metrics_calls + reload_calls +
           static_cast<int>(blocked_calls.size() + modes.size());
  }
};

using HeaderPairs = std::vector<std::pair<std::string, std::string>>;

AdminRequest request(std::string method, std::string target,
                     HeaderPairs headers = {{"Host", "127.0.0.1:8080"}}, std::string body = "") {
  AdminRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  for (auto& [k, v] : headers) r.headers.add(k, v);
  r.body = std::move(body);
  return r;
}

std::optional<std::string> header(const AdminResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (http::iequals(k, name)) return v;
  }
  return std::nullopt;
}

class AdminApi : public ::testing::Test {
 protected:
  AdminResponse handle(const AdminRequest& req) {
    return handle_admin_request(req, backend_, security_);
  }
  AdminResponse get(std::string target, HeaderPairs headers = {{"Host", "127.0.0.1:8080"}}) {
    return handle(request("GET", std::move(target), std::move(headers)));
  }
  AdminResponse post(std::string target, std::string body,
                     HeaderPairs headers = {{"Host", "127.0.0.1:8080"}}) {
    return handle(request("POST", std::move(target), std::move(headers), std::move(body)));
  }
  static void expect_text(const AdminResponse& r, int status, std::string_view body) {
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.content_type, kText);
    EXPECT_EQ(r.body, body);
  }

  FakeBackend backend_;
  AdminSecurity security_;
};

// ---- Host allowlist (§13 hardening) ---------------------------------------------------------

TEST_F(AdminApi, HostLocalhostLoopbackAndListenerIpAccepted) {
  security_.listener_ip = core::IpAddress::parse("192.0.2.10");
  ASSERT_TRUE(security_.listener_ip);
  for (const std::string host :
       {"localhost", "localhost:1234", "LocalHost:8080", "127.0.0.1", "127.0.0.1:8080",
        "127.9.8.7:1", "[::1]", "[::1]:8080", "192.0.2.10", "192.0.2.10:65535"}) {
    SCOPED_TRACE(host);
    expect_text(get("/health", {{"Host", host}}), 200, "ok");
  }
}

TEST_F(AdminApi, HostAnythingElseIsForbidden) {
  security_.listener_ip = core::IpAddress::parse("192.0.2.10");
  for (const std::string host :
       {"evil.example", "evil.example:8080", "localhost.evil.example", "sub.localhost",
        "192.0.2.11", "10.0.0.1:8080", "0.0.0.0:8080", "[::2]:8080", "[::]", "", "exa mple"}) {
    SCOPED_TRACE(host);
    expect_text(get("/health", {{"Host", host}}), 403, "forbidden host");
    expect_text(get("/config", {{"Host", host}}), 403, "forbidden host");
  }
  EXPECT_EQ(backend_.total_calls(), 0);
}

TEST_F(AdminApi, HostMissingOrDuplicatedIsForbidden) {
  expect_text(get("/health", {}), 403, "forbidden host");
  expect_text(get("/health", {{"X-Other", "localhost"}}), 403, "forbidden host");
  expect_text(get("/health", {{"Host", "localhost"}, {"Host", "evil.example"}}), 403,
              "forbidden host");
  expect_text(get("/health", {{"Host", "localhost"}, {"Host", "localhost"}}), 403,
              "forbidden host");
}

TEST_F(AdminApi, ListenerIpOnlyAcceptedWhenItIsTheListener) {
  // No listener IP known: a non-loopback address is just another host.
  expect_text(get("/health", {{"Host", "192.0.2.10:8080"}}), 403, "forbidden host");
  security_.listener_ip = core::IpAddress::parse("2001:db8::5");
  expect_text(get("/health", {{"Host", "[2001:db8::5]:8080"}}), 200, "ok");
  expect_text(get("/health", {{"Host", "[2001:db8::6]:8080"}}), 403, "forbidden host");
}

TEST_F(AdminApi, ForbiddenHostBeatsAValidToken) {
  security_.token = std::string(kToken);
  const std::string bearer = "Bearer " + std::string(kToken);
  expect_text(
      post("/mode", R"({"mode":"limited"})", {{"Host", "evil.example"}, {"Authorization", bearer}}),
      403, "forbidden host");
  EXPECT_TRUE(backend_.modes.empty());
}

// ---- Origin ----------------------------------------------------------------------------------

TEST_F(AdminApi, AnyOriginHeaderIsRefused) {
  for (const std::string origin : {"http://localhost:8080", "http://evil.example", "null", ""}) {
    SCOPED_TRACE(origin);
    expect_text(get("/health", {{"Host", "localhost"}, {"Origin", origin}}), 403,
                "cross-origin requests are not allowed");
    expect_text(post("/mode", R"({"mode":"limited"})", {{"Host", "localhost"}, {"origin", origin}}),
                403, "cross-origin requests are not allowed");
  }
  EXPECT_TRUE(backend_.modes.empty());
}

TEST_F(AdminApi, OriginRefusedEvenWithTheToken) {
  security_.token = std::string(kToken);
  expect_text(post("/reload", "",
                   {{"Host", "localhost"},
                    {"Authorization", "Bearer " + std::string(kToken)},
                    {"Origin", "http://localhost"}}),
              403, "cross-origin requests are not allowed");
  EXPECT_EQ(backend_.reload_calls, 0);
}

// ---- bearer token ------------------------------------------------------------------------------

TEST_F(AdminApi, HealthNeedsNoToken) {
  security_.token = std::string(kToken);
  expect_text(get("/health", {{"Host", "localhost"}}), 200, "ok");
  expect_text(get("/health", {{"Host", "localhost"}, {"Authorization", "Bearer wrong"}}), 200,
              "ok");
}

TEST_F(AdminApi, MissingOrWrongTokenIs401WithChallenge) {
  security_.token = std::string(kToken);
  const std::string t(kToken);
  const std::vector<std::optional<std::string>> bad = {
      std::nullopt,                 // no Authorization at all
      "",                           // empty
      "Bearer",                     // scheme only
      "Bearer ",                    // empty credentials
      "Bearer wrong",               // wrong token
      "Bearer " + t + "x",          // token plus a suffix
      "Bearer " + t.substr(0, 10),  // a prefix of the token
      "Bearer  " + t,               // two spaces
      "Basic " + t,                 // another scheme
      "Basic dXNlcjpwYXNz",         // user:pass
      "Token " + t,                 // another scheme
      t,                            // no scheme
      "Bearer" + t,                 // no separator
  };
  for (const std::string target : {"/config", "/patterns", "/blocked", "/metrics", "/nope"}) {
    for (const auto& auth : bad) {
      SCOPED_TRACE(target + " with " + auth.value_or("<none>"));
      HeaderPairs h = {{"Host", "localhost"}};
      if (auth) h.emplace_back("Authorization", *auth);
      const AdminResponse r = get(target, h);
      expect_text(r, 401, "unauthorized");
      EXPECT_EQ(header(r, "WWW-Authenticate"), "Bearer");
    }
  }
  for (const auto& auth : bad) {
    HeaderPairs h = {{"Host", "localhost"}};
    if (auth) h.emplace_back("Authorization", *auth);
    expect_text(post("/mode", R"({"mode":"limited"})", h), 401, "unauthorized");
    expect_text(post("/reload", "", h), 401, "unauthorized");
  }
  EXPECT_EQ(backend_.total_calls(), 0) << "an unauthorised request reached the backend";
}

TEST_F(AdminApi, DuplicateAuthorizationIsRefused) {
  security_.token = std::string(kToken);
  const std::string good = "Bearer " + std::string(kToken);
  expect_text(get("/config",
                  {{"Host", "localhost"}, {"Authorization", good}, {"Authorization", "Bearer x"}}),
              401, "unauthorized");
  expect_text(get("/config",
                  {{"Host", "localhost"}, {"Authorization", "Bearer x"}, {"Authorization", good}}),
              401, "unauthorized");
}

TEST_F(AdminApi, RightTokenOpensEveryEndpoint) {
  security_.token = std::string(kToken);
  const HeaderPairs h = {{"Host", "localhost"}, {"Authorization", "Bearer " + std::string(kToken)}};
  EXPECT_EQ(get("/config", h).status, 200);
  EXPECT_EQ(get("/patterns", h).status, 200);
  EXPECT_EQ(get("/blocked", h).status, 200);
  EXPECT_EQ(get("/metrics", h).status, 200);
  EXPECT_EQ(post("/mode", R"({"mode":"limited"})", h).status, 200);
  EXPECT_EQ(post("/reload", "", h).status, 200);
  expect_text(get("/nope", h), 404, "not found");
  EXPECT_EQ(backend_.config_calls, 1);
  EXPECT_EQ(backend_.patterns_calls, 1);
  EXPECT_EQ(backend_.blocked_calls.size(), 1u);
  EXPECT_EQ(backend_.metrics_calls, 1);
  EXPECT_EQ(backend_.modes, std::vector<Mode>{Mode::limited});
  EXPECT_EQ(backend_.reload_calls, 1);
}

// RFC 7235 §2.1: the auth-scheme is case-insensitive; the token itself is not.
TEST_F(AdminApi, BearerSchemeIsCaseInsensitiveTokenIsNot) {
  security_.token = std::string(kToken);
  const std::string t(kToken);
  for (const std::string scheme : {"Bearer", "bearer", "BEARER", "bEaReR"}) {
    SCOPED_TRACE(scheme);
    EXPECT_EQ(get("/config", {{"Host", "localhost"}, {"Authorization", scheme + " " + t}}).status,
              200);
  }
  std::string upper = t;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_NE(upper, t);
  EXPECT_EQ(get("/config", {{"Host", "localhost"}, {"Authorization", "Bearer " + upper}}).status,
            401);
  // The header name is case-insensitive too.
  EXPECT_EQ(get("/config", {{"Host", "localhost"}, {"authorization", "Bearer " + t}}).status, 200);
}

TEST_F(AdminApi, WithoutATokenAuthorizationIsIgnored) {
  EXPECT_EQ(get("/config", {{"Host", "localhost"}}).status, 200);
  EXPECT_EQ(get("/config", {{"Host", "localhost"}, {"Authorization", "Basic eDp5"}}).status, 200);
}

// ---- routes and content types ----------------------------------------------------------------

TEST_F(AdminApi, HealthIsPlainOk) {
  const AdminResponse r = get("/health");
  expect_text(r, 200, "ok");
  EXPECT_TRUE(r.headers.empty());
  EXPECT_EQ(backend_.total_calls(), 0);
}

TEST_F(AdminApi, ConfigAndPatternsAreBackendJson) {
  AdminResponse r = get("/config");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kJson);
  EXPECT_EQ(r.body, backend_.config_body);
  r = get("/patterns");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kJson);
  EXPECT_EQ(r.body, backend_.patterns_body);
  EXPECT_EQ(backend_.config_calls, 1);
  EXPECT_EQ(backend_.patterns_calls, 1);
}

TEST_F(AdminApi, BlockedDrainsOnlyWithDrainTrue) {
  AdminResponse r = get("/blocked");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kJson);
  EXPECT_EQ(r.body, R"({"blocked":[]})");
  r = get("/blocked?drain=true");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kJson);
  EXPECT_EQ(r.body, R"({"blocked":[{"host":"drained"}]})");
  EXPECT_EQ(get("/blocked?drain=false").status, 200);
  EXPECT_EQ(get("/blocked?").status, 200);
  EXPECT_EQ(backend_.blocked_calls, (std::vector<bool>{false, true, false, false}));
}

TEST_F(AdminApi, MetricsHasThePrometheusContentType) {
  const AdminResponse r = get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kPrometheus);
  EXPECT_EQ(r.body, backend_.metrics_body);
  EXPECT_EQ(backend_.metrics_calls, 1);
}

TEST_F(AdminApi, UnknownPathsAndWrongMethodsAre404) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"GET", "/"},         {"GET", "/nope"},       {"GET", "/health/"},   {"GET", "/HEALTH"},
      {"GET", "/config/"},  {"GET", "/mode"},       {"GET", "/reload"},    {"GET", "//health"},
      {"POST", "/health"},  {"POST", "/config"},    {"POST", "/patterns"}, {"POST", "/blocked"},
      {"POST", "/metrics"}, {"PUT", "/mode"},       {"PATCH", "/mode"},    {"DELETE", "/blocked"},
      {"HEAD", "/health"},  {"OPTIONS", "/config"}, {"get", "/health"},    {"post", "/reload"},
      {"GET", "/metricsx"},
  };
  for (const auto& [method, target] : cases) {
    SCOPED_TRACE(method + " " + target);
    const AdminResponse r =
        handle(request(method, target, {{"Host", "localhost"}}, R"({"mode":"limited"})"));
    expect_text(r, 404, "not found");
  }
  EXPECT_EQ(backend_.total_calls(), 0);
}

// ---- POST /mode --------------------------------------------------------------------------------

TEST_F(AdminApi, ModeSetsFullAndLimited) {
  AdminResponse r = post("/mode", R"({"mode":"limited"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kJson);
  EXPECT_EQ(r.body, R"({"status":"ok","mode":"limited"})");
  r = post("/mode", R"({"mode":"full"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ok","mode":"full"})");
  // §13: an unchanged mode still answers 200.
  r = post("/mode", " { \"mode\" : \"full\" } ");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ok","mode":"full"})");
  EXPECT_EQ(backend_.modes, (std::vector<Mode>{Mode::limited, Mode::full, Mode::full}));
}

TEST_F(AdminApi, ModeMissingBody) {
  expect_text(post("/mode", ""), 400, "missing body");
  EXPECT_TRUE(backend_.modes.empty());
}

TEST_F(AdminApi, ModeInvalidJson) {
  for (const std::string body : {"{", "mode=limited", "{\"mode\":\"full\"", "{'mode':'full'}", " ",
                                 "{\"mode\":\"full\"} x"}) {
    SCOPED_TRACE(body);
    expect_text(post("/mode", body), 400, "invalid json");
  }
  EXPECT_TRUE(backend_.modes.empty());
}

TEST_F(AdminApi, ModeInvalidMode) {
  for (const std::string body :
       {R"({"mode":"readonly"})", R"({"mode":1})", "[]", "{}", R"(["full"])", R"("full")", "null",
        "42", R"({"mode":null})", R"({"mode":true})", R"({"mode":["full"]})", R"({"mode":"FULL"})",
        R"({"mode":"Limited"})", R"({"mode":""})", R"({"mode":"full "})", R"({"Mode":"full"})"}) {
    SCOPED_TRACE(body);
    expect_text(post("/mode", body), 400, "invalid mode");
  }
  EXPECT_TRUE(backend_.modes.empty());
}

TEST_F(AdminApi, BodyTooLargeIs413) {
  AdminRequest req = request("POST", "/mode");
  req.body_too_large = true;
  expect_text(handle(req), 413, "body too large");
  EXPECT_TRUE(backend_.modes.empty());
  // The token still comes first: an unauthenticated client learns nothing more.
  security_.token = std::string(kToken);
  expect_text(handle(req), 401, "unauthorized");
}

// ---- POST /reload ------------------------------------------------------------------------------

TEST_F(AdminApi, ReloadSuccess) {
  const AdminResponse r = post("/reload", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kJson);
  EXPECT_EQ(r.body, R"({"status":"reloaded"})");
  EXPECT_EQ(backend_.reload_calls, 1);
}

TEST_F(AdminApi, ReloadFailureIs500WithTheDiagnostic) {
  backend_.reload_error = make_error(
      "config",
      "/etc/netfence/config.toml:7:8: network.mode: expected \"full\" or \"limited\", got "
      "\"readonly\"");
  const AdminResponse r = post("/reload", "");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.content_type, kJson);
  EXPECT_EQ(
      r.body,
      R"({"status":"error","error":"/etc/netfence/config.toml:7:8: network.mode: expected \"full\" or \"limited\", got \"readonly\""})");
  EXPECT_EQ(backend_.reload_calls, 1);
}

TEST_F(AdminApi, ReloadDiagnosticWithControlCharactersIsValidJson) {
  backend_.reload_error = make_error("config", "a\tb\nc\\d");
  const AdminResponse r = post("/reload", "");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"status":"error","error":"a\tb\nc\\d"})");
}

// ---- serialize() -------------------------------------------------------------------------------

TEST(AdminSerialize, KeepAliveTextResponse) {
  AdminResponse r;
  r.status = 200;
  r.content_type = std::string(kText);
  r.body = "ok";
  EXPECT_EQ(serialize(r, true),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 2\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: keep-alive\r\n"
            "\r\n"
            "ok");
}

TEST(AdminSerialize, CloseWithExtraHeaders) {
  AdminResponse r;
  r.status = 401;
  r.content_type = std::string(kText);
  r.body = "unauthorized";
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  EXPECT_EQ(serialize(r, false),
            "HTTP/1.1 401 Unauthorized\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 12\r\n"
            "WWW-Authenticate: Bearer\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n"
            "\r\n"
            "unauthorized");
}

TEST(AdminSerialize, ReasonPhrasesAndByteLength) {
  const std::vector<std::pair<int, std::string>> cases = {{400, "Bad Request"},
                                                          {403, "Forbidden"},
                                                          {404, "Not Found"},
                                                          {413, "Payload Too Large"},
                                                          {431, "Request Header Fields Too Large"},
                                                          {500, "Internal Server Error"},
                                                          {503, "Service Unavailable"}};
  for (const auto& [status, reason] : cases) {
    AdminResponse r;
    r.status = status;
    r.content_type = std::string(kJson);
    r.body = "{\"x\":\"\xC3\xA9\"}";  // 2-byte UTF-8: Content-Length counts bytes
    const std::string out = serialize(r, false);
    EXPECT_EQ(out.substr(0, out.find("\r\n")), "HTTP/1.1 " + std::to_string(status) + " " + reason);
    EXPECT_NE(out.find("\r\nContent-Length: 10\r\n"), std::string::npos) << out;
    EXPECT_EQ(out.substr(out.size() - r.body.size()), r.body);
  }
}

TEST(AdminSerialize, EmptyBody) {
  AdminResponse r;
  r.status = 200;
  r.content_type = std::string(kJson);
  const std::string out = serialize(r, true);
  EXPECT_NE(out.find("\r\nContent-Length: 0\r\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

}  // namespace
}  // namespace netfence::admin
