// The OTLP/HTTP logs exporter (SPEC §15.4) against a local collector stand-in: the scriptable
// OriginServer on 127.0.0.1 records every POST and answers from a per-test script.
//
// Direct tests drive the sink (make_otlp_sink with a 10 ms backoff base) the way the audit
// thread does: batching by size and by time, request shape and headers, keep-alive reuse and a
// silently closed keep-alive connection, retries on 503 / 429 + Retry-After / connection errors,
// giving up after 5 attempts (netfence_audit_export_failures_total), no retry on 400, flush on
// shutdown, a hung collector not wedging flush or destruction, name resolution and HTTPS.
// End-to-end tests run the real netfence binary with `[network.audit] otlp_endpoint` and drive
// a refused request through the HTTP proxy.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "audit/otlp.hpp"
#include "audit/pipeline.hpp"
#include "origin_server.hpp"
#include "proxy_fixture.hpp"
#include "test_pki.hpp"

namespace netfence::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using audit::AuditEvent;
using audit::AuditSink;

// ---------------------------------------------------------------------------------------------
// Helpers

// A collector stand-in: answers from a script (then `fallback`) and notes when each POST came.
class Collector {
 public:
  explicit Collector(OriginServer::Options options = {}) : server_(std::move(options)) {
    server_.set_handler([this](const OriginRequest&) {
      std::lock_guard lock(m_);
      arrivals_.push_back(Clock::now());
      if (!script_.empty()) {
        OriginResponse r = script_.front();
        script_.pop_front();
        return r;
      }
      return fallback_;
    });
  }

  static OriginResponse answer(int status, std::string reason = "",
                               std::vector<std::pair<std::string, std::string>> headers = {}) {
    OriginResponse r;
    r.kind = OriginResponse::Kind::fixed;
    r.status = status;
    r.reason = reason.empty() ? "Whatever" : std::move(reason);
    r.headers = std::move(headers);
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = status == 200 ? "{}" : R"({"code":3,"message":"nope"})";
    return r;
  }

  void script(std::vector<OriginResponse> answers) {
    std::lock_guard lock(m_);
    script_.assign(answers.begin(), answers.end());
  }
  void fallback(OriginResponse r) {
    std::lock_guard lock(m_);
    fallback_ = std::move(r);
  }
  std::vector<Clock::time_point> arrivals() const {
    std::lock_guard lock(m_);
    return arrivals_;
  }

  std::uint16_t port() const { return server_.port(); }
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }
  OriginServer& server() { return server_; }

 private:
  OriginServer server_;
  mutable std::mutex m_;
  std::deque<OriginResponse> script_;
  OriginResponse fallback_ = answer(200, "OK");
  std::vector<Clock::time_point> arrivals_;
};

AuditEvent event(int i, std::string host = "blocked.test") {
  AuditEvent e;
  e.time_unix_nano = 1777367702123000000 + i * 1'000'000;
  e.timestamp = audit::format_timestamp(e.time_unix_nano);
  e.scope = audit::Scope::domain;
  e.decision = Verdict::deny;
  e.source = DecisionSource::baseline_policy;
  e.reason = "not_allowed";
  e.protocol = Protocol::http;
  e.server_address = std::move(host);
  e.server_port = static_cast<std::uint16_t>(1000 + i);
  e.method = "GET";
  e.client_address = "127.0.0.1:40000";
  return e;
}

// The logRecords of one posted body.
Json records_of(const OriginRequest& r) {
  const Json j = Json::parse(r.body);
  return j.at("resourceLogs").at(0).at("scopeLogs").at(0).at("logRecords");
}

// key → value object of one record's attributes.
std::map<std::string, Json> attributes_of(const Json& record) {
  std::map<std::string, Json> out;
  for (const auto& a : record.at("attributes")) out[a.at("key")] = a.at("value");
  return out;
}

std::vector<std::uint16_t> ports_of(const OriginRequest& r) {
  std::vector<std::uint16_t> out;
  for (const auto& rec : records_of(r)) {
    out.push_back(static_cast<std::uint16_t>(
        std::stoi(attributes_of(rec).at("server.port").at("intValue").get<std::string>())));
  }
  return out;
}

std::uint64_t counter(const observe::Metrics& m, const std::string& name) {
  const std::string text = m.render_prometheus("test");
  const std::string needle = "\n" + name + " ";
  const auto at = text.find(needle);
  if (at == std::string::npos) return ~0ull;
  return std::stoull(text.substr(at + needle.size()));
}

// Polls `pred` until true or the timeout; the collector records a request before answering it,
// so what the sink does with the answer shows up a moment later.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

long ms_between(Clock::time_point a, Clock::time_point b) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
}

// Redirects fd 2 to a file while alive (the Logger writes to stderr).
class StderrCapture {
 public:
  StderrCapture() {
    path_ =
        fs::temp_directory_path() / ("netfence-otlp-stderr-" + std::to_string(::getpid()) + ".txt");
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() {
    restore();
    fs::remove(path_);
  }
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::string text() const {
    std::fflush(stderr);
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  fs::path path_;
  int saved_ = -1;
};

class OtlpSinkTest : public ::testing::Test {
 protected:
  // Fast delays for tests; the defaults (1 s doubling to 30 s) are checked in unit_audit.
  static audit::OtlpOptions fast() {
    audit::OtlpOptions o;
    o.backoff_base = std::chrono::milliseconds(10);
    o.backoff_max = std::chrono::milliseconds(300);
    o.request_timeout = std::chrono::milliseconds(2000);
    return o;
  }

  std::shared_ptr<AuditSink> make(const std::string& endpoint, std::uint32_t batch_size,
                                  std::uint32_t batch_timeout_ms,
                                  audit::OtlpOptions options = fast(),
                                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    AuditConfig cfg;
    cfg.otlp_endpoint = endpoint;
    cfg.otlp_headers = std::move(headers);
    cfg.batch_size = batch_size;
    cfg.batch_timeout_ms = batch_timeout_ms;
    auto r = audit::make_otlp_sink(cfg, metrics_, logger_, options);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : nullptr;
  }

  std::uint64_t failures() const {
    return counter(metrics_, "netfence_audit_export_failures_total");
  }

  observe::Metrics metrics_;
  log::Logger logger_{log::Level::warn};
};

// ---------------------------------------------------------------------------------------------
// Shape and batching

TEST_F(OtlpSinkTest, PostsJsonToV1LogsWithConfiguredHeaders) {
  Collector collector;
  auto sink = make(collector.url(), 2, 60000, fast(),
                   {{"authorization", "Bearer t0k3n"}, {"X-Scope-OrgID", "tenant-7"}});
  ASSERT_TRUE(sink);
  AuditEvent e = event(1);
  e.conversation_id = "conv-1";
  e.override_allow = true;
  sink->write({e, event(2)});
  ASSERT_TRUE(collector.server().wait_for_requests(1, std::chrono::seconds(5)));
  const OriginRequest r = collector.server().requests().at(0);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/v1/logs");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("authorization"), "Bearer t0k3n");
  EXPECT_EQ(r.header("x-scope-orgid"), "tenant-7");
  EXPECT_EQ(r.header("host"), "127.0.0.1:" + std::to_string(collector.port()));
  EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));
  EXPECT_FALSE(r.chunked);
  ASSERT_TRUE(Json::accept(r.body));
  const Json j = Json::parse(r.body);
  const Json& resource = j["resourceLogs"][0]["resource"]["attributes"];
  EXPECT_EQ(resource[0]["key"], "service.name");
  EXPECT_EQ(resource[0]["value"]["stringValue"], "netfence");
  EXPECT_EQ(resource[1]["key"], "service.version");
  EXPECT_EQ(j["resourceLogs"][0]["scopeLogs"][0]["scope"]["name"], "codex_otel.network_proxy");
  const Json records = records_of(r);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["timeUnixNano"], std::to_string(e.time_unix_nano));
  const auto a = attributes_of(records[0]);
  EXPECT_EQ(a.at("conversation.id")["stringValue"], "conv-1");
  EXPECT_EQ(a.at("server.port")["intValue"], "1001");
  EXPECT_EQ(a.at("network.policy.override")["boolValue"], true);
  EXPECT_EQ(a.at("server.address")["stringValue"], "blocked.test");
  EXPECT_EQ(failures(), 0u);
}

TEST_F(OtlpSinkTest, EndpointPathPrefixAndTrailingSlash) {
  Collector collector;
  auto sink = make(collector.url("/otel/ingest/"), 1, 60000);
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  ASSERT_TRUE(collector.server().wait_for_requests(1, std::chrono::seconds(5)));
  EXPECT_EQ(collector.server().requests().at(0).target, "/otel/ingest/v1/logs");
}

TEST_F(OtlpSinkTest, BatchesBySize) {
  Collector collector;
  auto sink = make(collector.url(), 3, 60000);
  ASSERT_TRUE(sink);
  for (int i = 0; i < 7; ++i) sink->write({event(i)});
  ASSERT_TRUE(collector.server().wait_for_requests(2, std::chrono::seconds(5)));
  // The seventh event waits for more company (the timer is a minute away).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto requests = collector.server().requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(ports_of(requests[0]), (std::vector<std::uint16_t>{1000, 1001, 1002}));
  EXPECT_EQ(ports_of(requests[1]), (std::vector<std::uint16_t>{1003, 1004, 1005}));
  // One write bigger than a batch is cut into batches too.
  std::vector<AuditEvent> many;
  for (int i = 7; i < 12; ++i) many.push_back(event(i));
  sink->write(many);
  ASSERT_TRUE(collector.server().wait_for_requests(4, std::chrono::seconds(5)));
  requests = collector.server().requests();
  EXPECT_EQ(ports_of(requests[2]), (std::vector<std::uint16_t>{1006, 1007, 1008}));
  EXPECT_EQ(ports_of(requests[3]), (std::vector<std::uint16_t>{1009, 1010, 1011}));
  // Keep-alive: every batch went over the one connection.
  EXPECT_EQ(collector.server().connection_count(), 1u);
}

TEST_F(OtlpSinkTest, BatchesByTime) {
  Collector collector;
  auto sink = make(collector.url(), 100, 300);
  ASSERT_TRUE(sink);
  const auto t0 = Clock::now();
  sink->write({event(1)});
  sink->write({event(2), event(3)});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(collector.server().request_count(), 0u) << "sent before batch_timeout_ms";
  ASSERT_TRUE(collector.server().wait_for_requests(1, std::chrono::seconds(5)));
  const auto arrived = collector.arrivals().at(0);
  EXPECT_GE(ms_between(t0, arrived), 280);
  EXPECT_LT(ms_between(t0, arrived), 2000);
  EXPECT_EQ(ports_of(collector.server().requests().at(0)),
            (std::vector<std::uint16_t>{1001, 1002, 1003}));
  // The timer restarts with the next event.
  const auto t1 = Clock::now();
  sink->write({event(4)});
  ASSERT_TRUE(collector.server().wait_for_requests(2, std::chrono::seconds(5)));
  EXPECT_GE(ms_between(t1, collector.arrivals().at(1)), 280);
}

// ---------------------------------------------------------------------------------------------
// Retries

TEST_F(OtlpSinkTest, Retries503ThenDeliversOnce) {
  Collector collector;
  collector.script({Collector::answer(503), Collector::answer(503)});
  auto sink = make(collector.url(), 1, 60000);
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  ASSERT_TRUE(collector.server().wait_for_requests(3, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const auto requests = collector.server().requests();
  ASSERT_EQ(requests.size(), 3u) << "delivered once: no request after the 200";
  EXPECT_EQ(requests[0].body, requests[1].body);
  EXPECT_EQ(requests[1].body, requests[2].body);
  // Backoff 10 ms then 20 ms (the test base): each retry waits at least that long.
  const auto at = collector.arrivals();
  EXPECT_GE(ms_between(at[0], at[1]), 9);
  EXPECT_GE(ms_between(at[1], at[2]), 19);
  EXPECT_EQ(failures(), 0u);
}

TEST_F(OtlpSinkTest, RetriesEveryRetryableStatus) {
  Collector collector;
  collector.script({Collector::answer(429), Collector::answer(502), Collector::answer(504)});
  auto sink = make(collector.url(), 1, 60000);
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  ASSERT_TRUE(collector.server().wait_for_requests(4, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(collector.server().request_count(), 4u);
  EXPECT_EQ(failures(), 0u);
}

TEST_F(OtlpSinkTest, RetryAfterIsHonoured) {
  Collector collector;
  collector.script({Collector::answer(429, "Too Many Requests", {{"Retry-After", "1"}}),
                    Collector::answer(503, "Service Unavailable", {{"Retry-After", "0"}})});
  auto sink = make(collector.url(), 1, 60000);  // backoff base 10 ms
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  ASSERT_TRUE(collector.server().wait_for_requests(3, std::chrono::seconds(5)));
  const auto at = collector.arrivals();
  EXPECT_GE(ms_between(at[0], at[1]), 990) << "Retry-After: 1 replaces the 10 ms backoff";
  EXPECT_LT(ms_between(at[1], at[2]), 900) << "Retry-After: 0 retries at once";
  EXPECT_TRUE(eventually([&] { return failures() == 0u; }));
}

TEST_F(OtlpSinkTest, FiveFailuresDropTheBatchAndCountIt) {
  Collector collector;
  collector.fallback(Collector::answer(503));
  auto sink = make(collector.url(), 1, 60000);
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  ASSERT_TRUE(collector.server().wait_for_requests(5, std::chrono::seconds(5)));
  ASSERT_TRUE(eventually([&] { return failures() == 1u; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // > the whole backoff ladder
  EXPECT_EQ(collector.server().request_count(), 5u) << "at most 5 attempts";
  EXPECT_EQ(failures(), 1u);
  // The exporter carries on with the next batch once the collector recovers.
  collector.fallback(Collector::answer(200, "OK"));
  sink->write({event(2)});
  ASSERT_TRUE(collector.server().wait_for_requests(6, std::chrono::seconds(5)));
  EXPECT_EQ(ports_of(collector.server().requests().at(5)), (std::vector<std::uint16_t>{1002}));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(failures(), 1u);
}

TEST_F(OtlpSinkTest, ConnectionErrorsAreRetriedThenCounted) {
  const std::uint16_t port = unused_port();
  auto sink = make("http://127.0.0.1:" + std::to_string(port), 1, 60000);
  ASSERT_TRUE(sink);
  const auto t0 = Clock::now();
  sink->write({event(1)});
  ASSERT_TRUE(eventually([&] { return failures() == 1u; }));
  // 10 + 20 + 40 + 80 ms of backoff between the 5 attempts.
  EXPECT_GE(ms_between(t0, Clock::now()), 145);
}

TEST_F(OtlpSinkTest, BadRequestIsDroppedWithoutRetryAndOneWarnLine) {
  Collector collector;
  collector.script({Collector::answer(400, "Bad Request")});
  StderrCapture capture;
  auto sink = make(collector.url(), 1, 60000);
  ASSERT_TRUE(sink);
  sink->write({event(1, "very-secret-host.example")});
  ASSERT_TRUE(collector.server().wait_for_requests(1, std::chrono::seconds(5)));
  ASSERT_TRUE(eventually([&] { return failures() == 1u; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(collector.server().request_count(), 1u) << "400 is not retried";
  sink.reset();
  const std::string log = capture.text();
  capture.restore();
  std::size_t warn_lines = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" WARN ") != std::string::npos) {
      ++warn_lines;
      EXPECT_NE(line.find("HTTP 400"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(warn_lines, 1u) << log;
  EXPECT_EQ(log.find("very-secret-host"), std::string::npos) << "no event content: " << log;
  EXPECT_EQ(log.find("nope"), std::string::npos) << "collector bodies only at DEBUG: " << log;
}

TEST_F(OtlpSinkTest, OtherServerErrorsAreNotRetried) {
  Collector collector;
  collector.script({Collector::answer(500), Collector::answer(501)});
  auto sink = make(collector.url(), 1, 60000);
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  sink->write({event(2)});
  ASSERT_TRUE(eventually([&] { return failures() == 2u; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(collector.server().request_count(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Connections

TEST_F(OtlpSinkTest, SilentlyClosedKeepAliveConnectionIsReopened) {
  OriginServer::Options options;
  options.keep_alive = false;  // closes after each answer without saying so
  Collector collector(options);
  auto sink = make(collector.url(), 1, 60000);
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  ASSERT_TRUE(collector.server().wait_for_requests(1, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the close arrive
  sink->write({event(2)});
  ASSERT_TRUE(collector.server().wait_for_requests(2, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(collector.server().request_count(), 2u);
  EXPECT_EQ(collector.server().connection_count(), 2u);
  EXPECT_EQ(failures(), 0u);
}

TEST_F(OtlpSinkTest, HostNameIsResolved) {
  Collector collector;  // 127.0.0.1 only: a ::1 answer for localhost is refused, then v4 works
  auto sink = make("http://localhost:" + std::to_string(collector.port()), 1, 60000);
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  ASSERT_TRUE(collector.server().wait_for_requests(1, std::chrono::seconds(5)));
  EXPECT_EQ(collector.server().requests().at(0).header("host"),
            "localhost:" + std::to_string(collector.port()));
}

TEST_F(OtlpSinkTest, HttpsWithTheTrustStore) {
  // The OriginServer's TLS side writes with write(2) (OpenSSL's socket BIO); after the sink
  // hangs up on an untrusted certificate that raises SIGPIPE in this process. The sink itself
  // sends with MSG_NOSIGNAL (Asio), and netfence ignores SIGPIPE at start-up anyway.
  struct IgnoreSigpipe {
    void (*old)(int) = std::signal(SIGPIPE, SIG_IGN);
    ~IgnoreSigpipe() { std::signal(SIGPIPE, old); }
  } ignore_sigpipe;
  const fs::path dir =
      fs::temp_directory_path() / ("netfence-otlp-pki-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const TestPki pki = make_test_pki(dir.string(), "otlp", {"localhost"}, {"127.0.0.1"});
  OriginServer::Options options;
  options.tls = true;
  options.cert_file = pki.leaf_cert;
  options.key_file = pki.leaf_key;
  Collector collector(options);
  const std::string url = "https://127.0.0.1:" + std::to_string(collector.port());

  // Not trusted by the system store: the handshake fails, which is retried, then counted.
  {
    auto sink = make(url, 1, 60000);
    ASSERT_TRUE(sink);
    sink->write({event(1)});
    ASSERT_TRUE(eventually([&] { return failures() == 1u; }));
    EXPECT_EQ(collector.server().request_count(), 0u);
  }
  // OpenSSL's default verify paths honour SSL_CERT_FILE: trust the test CA through it.
  const char* old = std::getenv("SSL_CERT_FILE");
  const std::string saved = old ? old : "";
  ::setenv("SSL_CERT_FILE", pki.ca_cert.c_str(), 1);
  auto sink = make(url, 1, 60000);
  if (old) {
    ::setenv("SSL_CERT_FILE", saved.c_str(), 1);
  } else {
    ::unsetenv("SSL_CERT_FILE");
  }
  ASSERT_TRUE(sink);
  sink->write({event(2)});
  ASSERT_TRUE(collector.server().wait_for_requests(1, std::chrono::seconds(5)));
  const OriginRequest r = collector.server().requests().at(0);
  EXPECT_EQ(r.target, "/v1/logs");
  EXPECT_EQ(ports_of(r), (std::vector<std::uint16_t>{1002}));
  sink.reset();
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Flush and shutdown

TEST_F(OtlpSinkTest, FlushDeliversAPendingPartialBatch) {
  Collector collector;
  auto sink = make(collector.url(), 100, 60000);
  ASSERT_TRUE(sink);
  sink->write({event(1), event(2)});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(collector.server().request_count(), 0u);
  const auto t0 = Clock::now();
  sink->flush(t0 + std::chrono::seconds(2));
  EXPECT_LT(ms_between(t0, Clock::now()), 1000);
  ASSERT_EQ(collector.server().request_count(), 1u) << "flush returns once delivered";
  EXPECT_EQ(ports_of(collector.server().requests().at(0)),
            (std::vector<std::uint16_t>{1001, 1002}));
  sink.reset();
  EXPECT_EQ(failures(), 0u);
}

TEST_F(OtlpSinkTest, PipelineShutdownFlushesTheSink) {
  Collector collector;
  auto sink = make(collector.url(), 100, 60000);
  ASSERT_TRUE(sink);
  {
    audit::Pipeline pipeline(100, metrics_);
    pipeline.set_sinks({sink});
    pipeline.emit({event(1)});
    pipeline.emit({event(2), event(3)});
    sink.reset();  // the pipeline holds the last reference
    pipeline.shutdown(std::chrono::seconds(2));
  }
  ASSERT_EQ(collector.server().request_count(), 1u);
  EXPECT_EQ(ports_of(collector.server().requests().at(0)),
            (std::vector<std::uint16_t>{1001, 1002, 1003}));
}

TEST_F(OtlpSinkTest, FlushAbandonsRetriesAtTheDeadline) {
  Collector collector;
  collector.fallback(Collector::answer(503, "Service Unavailable", {{"Retry-After", "10"}}));
  auto sink = make(collector.url(), 100, 60000);
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  const auto t0 = Clock::now();
  sink->flush(t0 + std::chrono::milliseconds(500));
  const long took = ms_between(t0, Clock::now());
  EXPECT_LT(took, 700) << "a 10 s Retry-After does not outlive the flush deadline";
  EXPECT_EQ(collector.server().request_count(), 1u);
  EXPECT_TRUE(eventually([&] { return failures() == 1u; }));
}

TEST_F(OtlpSinkTest, HungCollectorDoesNotWedgeFlushOrDestruction) {
  Collector collector;
  collector.fallback(OriginResponse::never());
  audit::OtlpOptions options = fast();
  options.request_timeout = std::chrono::seconds(5);
  auto sink = make(collector.url(), 1, 60000, options);
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  ASSERT_TRUE(collector.server().wait_for_requests(1, std::chrono::seconds(5)));
  auto t0 = Clock::now();
  sink->flush(t0 + std::chrono::milliseconds(300));
  EXPECT_LT(ms_between(t0, Clock::now()), 600);
  EXPECT_TRUE(eventually([&] { return failures() == 1u; }, std::chrono::seconds(1)))
      << "the request in flight is abandoned at the flush deadline";
  // A new request hangs again; destruction does not wait for its 5 s timeout.
  sink->write({event(2)});
  ASSERT_TRUE(collector.server().wait_for_requests(2, std::chrono::seconds(5)));
  t0 = Clock::now();
  sink.reset();
  EXPECT_LT(ms_between(t0, Clock::now()), 500);
}

TEST_F(OtlpSinkTest, RequestTimeoutCountsAsAConnectionError) {
  Collector collector;
  collector.script({OriginResponse::never()});
  audit::OtlpOptions options = fast();
  options.request_timeout = std::chrono::milliseconds(200);
  auto sink = make(collector.url(), 1, 60000, options);
  ASSERT_TRUE(sink);
  sink->write({event(1)});
  ASSERT_TRUE(collector.server().wait_for_requests(2, std::chrono::seconds(5)));
  const auto at = collector.arrivals();
  EXPECT_GE(ms_between(at[0], at[1]), 190);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(collector.server().request_count(), 2u);
  EXPECT_EQ(failures(), 0u);
}

TEST_F(OtlpSinkTest, WriteNeverWaitsForTheCollector) {
  Collector collector;
  collector.fallback(OriginResponse::never());
  AuditConfig cfg;
  cfg.otlp_endpoint = collector.url();
  cfg.batch_size = 1;
  cfg.batch_timeout_ms = 60000;
  cfg.queue_size = 10;
  auto r = audit::make_otlp_sink(cfg, metrics_, logger_, fast());
  ASSERT_TRUE(r.ok());
  auto sink = r.value();
  sink->write({event(0)});
  ASSERT_TRUE(collector.server().wait_for_requests(1, std::chrono::seconds(5)));
  const auto t0 = Clock::now();
  for (int i = 1; i <= 25; ++i) sink->write({event(i)});
  EXPECT_LT(ms_between(t0, Clock::now()), 200);
  // Bounded: past queue_size the oldest are dropped and counted.
  EXPECT_EQ(counter(metrics_, "netfence_audit_events_dropped_total"), 15u);
  const auto t1 = Clock::now();
  sink.reset();
  EXPECT_LT(ms_between(t1, Clock::now()), 500);
}

// ---------------------------------------------------------------------------------------------
// End to end: the netfence binary with an OTLP endpoint

class OtlpEndToEnd : public ProxyTest {
 protected:
  std::string audit_tables(const Collector& c, std::uint32_t batch_size,
                           std::uint32_t timeout_ms) const {
    return "[network.audit]\n"
           "otlp_endpoint = \"" +
           c.url() +
           "\"\n"
           "batch_size = " +
           std::to_string(batch_size) +
           "\n"
           "batch_timeout_ms = " +
           std::to_string(timeout_ms) +
           "\n"
           "\n[network.audit.otlp_headers]\n"
           "authorization = \"Bearer e2e-token\"\n"
           "x-scope-orgid = \"tenant-7\"\n"
           "\n[network.audit_metadata]\n"
           "conversation_id = \"conv-e2e\"\n"
           "originator = \"netfence_test\"\n";
  }
};

void expect_refusal_record(const OriginRequest& r) {
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/v1/logs");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("authorization"), "Bearer e2e-token");
  EXPECT_EQ(r.header("x-scope-orgid"), "tenant-7");
  ASSERT_TRUE(Json::accept(r.body)) << r.body;
  EXPECT_EQ(r.body.find("/secret/path"), std::string::npos) << "never a URL path";
  const Json records = records_of(r);
  ASSERT_EQ(records.size(), 1u) << r.body;
  EXPECT_EQ(records[0]["severityNumber"], 9);
  EXPECT_EQ(records[0]["body"]["stringValue"], "codex.network_proxy.policy_decision");
  const auto a = attributes_of(records[0]);
  EXPECT_EQ(a.at("event.name")["stringValue"], "codex.network_proxy.policy_decision");
  EXPECT_EQ(a.at("conversation.id")["stringValue"], "conv-e2e");
  EXPECT_EQ(a.at("originator")["stringValue"], "netfence_test");
  EXPECT_EQ(a.at("network.policy.scope")["stringValue"], "domain");
  EXPECT_EQ(a.at("network.policy.decision")["stringValue"], "deny");
  EXPECT_EQ(a.at("network.policy.source")["stringValue"], "baseline_policy");
  EXPECT_EQ(a.at("network.policy.reason")["stringValue"], "not_allowed");
  EXPECT_EQ(a.at("network.transport.protocol")["stringValue"], "http");
  EXPECT_EQ(a.at("server.address")["stringValue"], "blocked.test");
  EXPECT_EQ(a.at("server.port")["intValue"], "80");
  EXPECT_EQ(a.at("http.request.method")["stringValue"], "GET");
  EXPECT_EQ(a.at("client.address")["stringValue"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(a.at("network.policy.override")["boolValue"], false);
}

constexpr const char* kRefusedRequest =
    "GET http://blocked.test/secret/path?q=1 HTTP/1.1\r\nHost: blocked.test\r\n\r\n";

TEST_F(OtlpEndToEnd, RefusedRequestIsExported) {
  Collector collector;
  start(config("") + audit_tables(collector, 1, 50));
  auto r = exchange(kRefusedRequest);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  ASSERT_TRUE(collector.server().wait_for_requests(1, std::chrono::seconds(10))) << proxy_->log();
  expect_refusal_record(collector.server().requests().at(0));
  EXPECT_EQ(proxy_->log().find("blocked.test/secret"), std::string::npos);
}

TEST_F(OtlpEndToEnd, ShutdownFlushesAPartialBatch) {
  Collector collector;
  start(config("") + audit_tables(collector, 100, 60000));
  auto r = exchange(kRefusedRequest);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(collector.server().request_count(), 0u) << "held for the batch";
  const auto t0 = Clock::now();
  EXPECT_EQ(proxy_->stop(), 0);
  EXPECT_LT(ms_between(t0, Clock::now()), 5000);
  ASSERT_EQ(collector.server().request_count(), 1u) << proxy_->log();
  expect_refusal_record(collector.server().requests().at(0));
}

}  // namespace
}  // namespace netfence::testing
