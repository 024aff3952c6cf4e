// The OTLP/HTTP exporter's pure parts (SPEC §15.4): the OTLP/JSON encoding checked against a
// hand-written golden file, attribute order and value types, the endpoint URL rules, Retry-After
// parsing and the backoff schedule, and the sink factory's refusals.
#include "audit/otlp.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace netfence::audit {
namespace {

using json = nlohmann::ordered_json;
using namespace std::chrono_literals;

constexpr std::int64_t kObserved = 1777367702123456789;

std::string read_golden(const std::string& name) {
  std::ifstream in(std::string(NETFENCE_SOURCE_DIR) + "/tests/unit/audit/golden/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every metadata field set, a decider override (§15.3 row 2).
AuditEvent full_event() {
  AuditEvent e;
  e.timestamp = "2024-02-29T23:59:59.999Z";
  e.time_unix_nano = 1709251199999123456;
  e.conversation_id = "conv-7f3a";
  e.app_version = "0.42.1";
  e.auth_mode = "chatgpt";
  e.originator = "codex_cli_rs";
  e.user_account_id = "acct-123";
  e.user_email = "dev@example.com";
  e.terminal_type = "xterm-256color";
  e.model = "gpt-5";
  e.slug = "say \"hi\"";
  e.scope = Scope::domain;
  e.decision = Verdict::allow;
  e.source = DecisionSource::decider;
  e.reason = "not_allowed";
  e.protocol = Protocol::socks5_udp;
  e.server_address = "api.example.com";
  e.server_port = 65535;
  e.method = "none";
  e.client_address = "[::1]:40000";
  e.override_allow = true;
  return e;
}

// No metadata: the §15.4 example's event.
AuditEvent minimal_event() {
  AuditEvent e;
  e.timestamp = "2026-04-28T09:15:02.123Z";
  e.time_unix_nano = 1777367702123000000;
  e.scope = Scope::domain;
  e.decision = Verdict::deny;
  e.source = DecisionSource::baseline_policy;
  e.reason = "not_allowed";
  e.protocol = Protocol::https_connect;
  e.server_address = "example.com";
  e.server_port = 443;
  e.method = "CONNECT";
  e.client_address = "127.0.0.1:53122";
  return e;
}

std::vector<std::string> attribute_keys(const json& record) {
  std::vector<std::string> keys;
  for (const auto& a : record.at("attributes")) keys.push_back(a.at("key").get<std::string>());
  return keys;
}

const std::vector<std::string> kRequiredKeys = {"event.name",
                                                "event.timestamp",
                                                "network.policy.scope",
                                                "network.policy.decision",
                                                "network.policy.source",
                                                "network.policy.reason",
                                                "network.transport.protocol",
                                                "server.address",
                                                "server.port",
                                                "http.request.method",
                                                "client.address",
                                                "network.policy.override"};

TEST(EncodeOtlp, MatchesHandWrittenGolden) {
  const std::string out = encode_otlp({full_event(), minimal_event()}, "1.0.0", kObserved);
  // The golden file is pretty-printed for review; compact and in order it must be identical.
  const json golden = json::parse(read_golden("otlp_two_events.json"));
  EXPECT_EQ(out, golden.dump());
  // Order-sensitive structural equality as a second opinion (ordered_json compares in order).
  EXPECT_EQ(json::parse(out), golden);
}

TEST(EncodeOtlp, IsValidJsonWithTheDocumentedShape) {
  const std::string out = encode_otlp({minimal_event()}, "0.1.0", kObserved);
  ASSERT_TRUE(json::accept(out));
  const json j = json::parse(out);
  ASSERT_EQ(j.size(), 1u);
  ASSERT_EQ(j.at("resourceLogs").size(), 1u);
  const json& rl = j["resourceLogs"][0];
  EXPECT_EQ(rl.at("resource").at("attributes"),
            json::parse(R"([{"key":"service.name","value":{"stringValue":"netfence"}},)"
                        R"({"key":"service.version","value":{"stringValue":"0.1.0"}}])"));
  ASSERT_EQ(rl.at("scopeLogs").size(), 1u);
  EXPECT_EQ(rl["scopeLogs"][0].at("scope"), json::parse(R"({"name":"codex_otel.network_proxy"})"));
  const json& rec = rl["scopeLogs"][0].at("logRecords").at(0);
  std::vector<std::string> fields;
  for (const auto& [k, v] : rec.items()) fields.push_back(k);
  EXPECT_THAT(fields,
              ::testing::ElementsAre("timeUnixNano", "observedTimeUnixNano", "severityNumber",
                                     "severityText", "body", "attributes"));
  EXPECT_EQ(rec["timeUnixNano"], "1777367702123000000");
  EXPECT_EQ(rec["observedTimeUnixNano"], "1777367702123456789");
  EXPECT_TRUE(rec["timeUnixNano"].is_string());
  EXPECT_EQ(rec["severityNumber"], 9);
  EXPECT_TRUE(rec["severityNumber"].is_number_integer());
  EXPECT_EQ(rec["severityText"], "INFO");
  EXPECT_EQ(rec["body"], json::parse(R"({"stringValue":"codex.network_proxy.policy_decision"})"));
}

TEST(EncodeOtlp, AttributesFollowSpecOrderAndOmitUnsetMetadata) {
  const json j = json::parse(encode_otlp({full_event(), minimal_event()}, "1.0.0", kObserved));
  const json& records = j["resourceLogs"][0]["scopeLogs"][0]["logRecords"];
  ASSERT_EQ(records.size(), 2u);
  EXPECT_THAT(
      attribute_keys(records[0]),
      ::testing::ElementsAre(
          "event.name", "event.timestamp", "conversation.id", "app.version", "auth_mode",
          "originator", "user.account_id", "user.email", "terminal.type", "model", "slug",
          "network.policy.scope", "network.policy.decision", "network.policy.source",
          "network.policy.reason", "network.transport.protocol", "server.address", "server.port",
          "http.request.method", "client.address", "network.policy.override"));
  EXPECT_EQ(attribute_keys(records[1]), kRequiredKeys);

  // Some metadata only: the present ones keep their relative place.
  AuditEvent partial = minimal_event();
  partial.model = "m";
  partial.app_version = "v";
  const json p = json::parse(encode_otlp({partial}, "1.0.0", kObserved));
  EXPECT_THAT(attribute_keys(p["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]),
              ::testing::ElementsAre(
                  "event.name", "event.timestamp", "app.version", "model", "network.policy.scope",
                  "network.policy.decision", "network.policy.source", "network.policy.reason",
                  "network.transport.protocol", "server.address", "server.port",
                  "http.request.method", "client.address", "network.policy.override"));
}

TEST(EncodeOtlp, ValueTypes) {
  const json j = json::parse(encode_otlp({full_event(), minimal_event()}, "1.0.0", kObserved));
  for (const auto& rec : j["resourceLogs"][0]["scopeLogs"][0]["logRecords"]) {
    for (const auto& a : rec["attributes"]) {
      const std::string key = a["key"];
      ASSERT_EQ(a["value"].size(), 1u) << key;
      if (key == "server.port") {
        ASSERT_TRUE(a["value"].contains("intValue")) << key;
        EXPECT_TRUE(a["value"]["intValue"].is_string()) << "OTLP/JSON int64 is a string";
      } else if (key == "network.policy.override") {
        ASSERT_TRUE(a["value"].contains("boolValue")) << key;
        EXPECT_TRUE(a["value"]["boolValue"].is_boolean());
      } else {
        ASSERT_TRUE(a["value"].contains("stringValue")) << key;
        EXPECT_TRUE(a["value"]["stringValue"].is_string());
      }
    }
  }
  // Port 0 (unix sockets) is "0", not omitted.
  AuditEvent unix_event = minimal_event();
  unix_event.server_address = "unix-socket";
  unix_event.server_port = 0;
  const json u = json::parse(encode_otlp({unix_event}, "1.0.0", kObserved));
  EXPECT_EQ(u["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"][8],
            json::parse(R"({"key":"server.port","value":{"intValue":"0"}})"));
}

TEST(EncodeOtlp, NonUtf8IsReplacedNotThrown) {
  AuditEvent e = minimal_event();
  e.reason = std::string("bad \xff\xfe reason");
  e.slug = std::string("\xc3");
  std::string out;
  ASSERT_NO_THROW(out = encode_otlp({e}, "1.0.0", kObserved));
  EXPECT_TRUE(json::accept(out));
}

TEST(EncodeOtlp, EmptyBatchIsStillAValidRequest) {
  const json j = json::parse(encode_otlp({}, "1.0.0", kObserved));
  EXPECT_TRUE(j["resourceLogs"][0]["scopeLogs"][0]["logRecords"].is_array());
  EXPECT_TRUE(j["resourceLogs"][0]["scopeLogs"][0]["logRecords"].empty());
}

TEST(OtlpEndpoint, PlainHostAndPort) {
  auto ep = parse_otlp_endpoint("http://127.0.0.1:4318");
  ASSERT_TRUE(ep.ok()) << ep.error().message;
  EXPECT_FALSE(ep->tls);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 4318);
  EXPECT_EQ(ep->target, "/v1/logs");
  EXPECT_EQ(ep->host_header, "127.0.0.1:4318");
  EXPECT_EQ(ep->display, "http://127.0.0.1:4318/v1/logs");
}

TEST(OtlpEndpoint, TrailingSlashAndPathPrefix) {
  auto a = parse_otlp_endpoint("http://collector:4318/");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->target, "/v1/logs");
  auto b = parse_otlp_endpoint("http://collector:4318/otel/ingest");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->target, "/otel/ingest/v1/logs");
  auto c = parse_otlp_endpoint("http://collector:4318/otel//");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->target, "/otel/v1/logs");
}

TEST(OtlpEndpoint, DefaultPortsAndSchemeCase) {
  auto a = parse_otlp_endpoint("HTTPS://otel.example.com");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->tls);
  EXPECT_EQ(a->port, 443);
  EXPECT_EQ(a->host_header, "otel.example.com");
  EXPECT_EQ(a->display, "https://otel.example.com/v1/logs");
  auto b = parse_otlp_endpoint("http://otel.example.com/p");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->tls);
  EXPECT_EQ(b->port, 80);
  auto c = parse_otlp_endpoint("http://otel.example.com:/p");  // empty port = default
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, 80);
}

TEST(OtlpEndpoint, Ipv6Literal) {
  auto ep = parse_otlp_endpoint("http://[::1]:4318/x/");
  ASSERT_TRUE(ep.ok()) << ep.error().message;
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, 4318);
  EXPECT_EQ(ep->host_header, "[::1]:4318");
  EXPECT_EQ(ep->target, "/x/v1/logs");
  EXPECT_EQ(ep->display, "http://[::1]:4318/x/v1/logs");
}

TEST(OtlpEndpoint, Refusals) {
  for (const char* url :
       {"", "127.0.0.1:4318", "ftp://collector", "grpc://collector:4317", "http://", "http://:4318",
        "http://collector:0", "http://collector:65536", "http://collector:12ab",
        "http://collector:4318?x=1", "http://collector:4318/#frag", "http://[::1:4318",
        "http://[zz]:4318", "http://[::1]x", "http://coll ector", "http://collector/a b",
        "http://collector/a\r\nX: y", "http://bad\nhost/"}) {
    auto ep = parse_otlp_endpoint(url);
    EXPECT_FALSE(ep.ok()) << url;
    if (!ep.ok()) {
      EXPECT_EQ(ep.error().code, "audit");
    }
  }
}

TEST(OtlpEndpoint, CredentialsAreRefusedAndNotRepeated) {
  auto ep = parse_otlp_endpoint("https://user:s3cret@collector:4318");
  ASSERT_FALSE(ep.ok());
  EXPECT_EQ(ep.error().message.find("s3cret"), std::string::npos) << ep.error().message;
}

TEST(RetryAfter, DeltaSeconds) {
  EXPECT_EQ(parse_retry_after("5"), std::chrono::seconds(5));
  EXPECT_EQ(parse_retry_after(" 7 "), std::chrono::seconds(7));
  EXPECT_EQ(parse_retry_after("0"), std::chrono::seconds(0));
  EXPECT_EQ(parse_retry_after("99999999999999999999"), std::chrono::seconds(86400));
  EXPECT_EQ(parse_retry_after(""), std::nullopt);
  EXPECT_EQ(parse_retry_after("-1"), std::nullopt);
  EXPECT_EQ(parse_retry_after("1.5"), std::nullopt);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
}

TEST(Backoff, DoublesFromBaseToCap) {
  std::vector<long> got;
  for (unsigned attempt = 1; attempt <= 8; ++attempt) {
    got.push_back(static_cast<long>(otlp_backoff(attempt, 1000ms, 30000ms).count()));
  }
  EXPECT_THAT(got, ::testing::ElementsAre(1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000));
  EXPECT_EQ(otlp_backoff(3, 10ms, 300ms), 40ms);
  EXPECT_EQ(otlp_backoff(100, 10ms, 300ms), 300ms);
}

TEST(OtlpOptions, DefaultsAreTheSpecValues) {
  const OtlpOptions o;
  EXPECT_EQ(o.backoff_base, 1000ms);
  EXPECT_EQ(o.backoff_max, 30000ms);
  EXPECT_EQ(o.max_attempts, 5u);
  EXPECT_LE(o.request_timeout, 5000ms);
}

TEST(MakeOtlpSink, RefusesUnusableConfig) {
  observe::Metrics metrics;
  log::Logger logger(log::Level::off);
  AuditConfig cfg;
  EXPECT_FALSE(make_otlp_sink(cfg, metrics, logger).ok()) << "no endpoint";
  cfg.otlp_endpoint = "udp://127.0.0.1:4318";
  EXPECT_FALSE(make_otlp_sink(cfg, metrics, logger).ok());
  cfg.otlp_endpoint = "http://127.0.0.1:4318";
  cfg.otlp_headers = {{"bad name", "x"}};
  EXPECT_FALSE(make_otlp_sink(cfg, metrics, logger).ok());
  cfg.otlp_headers = {{"authorization", "Bearer a\r\nX-Injected: 1"}};
  auto r = make_otlp_sink(cfg, metrics, logger);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("Bearer"), std::string::npos) << "values are secrets";
}

TEST(MakeOtlpSink, BuildsAndStopsWithoutTraffic) {
  observe::Metrics metrics;
  log::Logger logger(log::Level::off);
  AuditConfig cfg;
  cfg.otlp_endpoint = "http://127.0.0.1:9/";
  cfg.otlp_headers = {{"authorization", "Bearer x"}, {"content-type", "text/plain"}};
  auto r = make_otlp_sink(cfg, metrics, logger);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r.value());
  const auto t0 = std::chrono::steady_clock::now();
  r.value()->flush(t0 + 2s);  // nothing buffered: returns at once
  r.value().reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
}

}  // namespace
}  // namespace netfence::audit
