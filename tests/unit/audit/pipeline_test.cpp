// Delivery of audit events (SPEC §15.4): the bounded drop-oldest queue, the audit thread, tasks
// ordered after earlier events, sink replacement, shutdown, and the JSON-lines sink (0600,
// append).
#include "audit/pipeline.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace netfence::audit {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

AuditEvent event(std::string reason) {
  AuditEvent e;
  e.timestamp = "2026-04-28T09:15:02.123Z";
  e.reason = std::move(reason);
  e.server_address = "example.com";
  e.server_port = 80;
  e.method = "GET";
  e.client_address = "127.0.0.1:1";
  return e;
}

std::vector<AuditEvent> one(std::string reason) { return {event(std::move(reason))}; }

// Records every event and flush; optionally blocks inside the first write until released, so
// the queue behind it fills up.
class RecordingSink : public AuditSink {
 public:
  explicit RecordingSink(bool block_first_write = false) : block_(block_first_write) {}

  void write(const std::vector<AuditEvent>& events) override {
    std::unique_lock lock(mutex_);
    EXPECT_FALSE(events.empty()) << "sinks are never handed an empty batch";
    writer_ids_.push_back(std::this_thread::get_id());
    if (block_) {
      block_ = false;
      in_write_ = true;
      changed_.notify_all();
      changed_.wait(lock, [&] { return released_; });
    }
    for (const auto& e : events) reasons_.push_back(e.reason);
    ++writes_;
    changed_.notify_all();
  }
  void flush(Clock::time_point deadline) override {
    std::lock_guard lock(mutex_);
    ++flushes_;
    last_deadline_ = deadline;
    changed_.notify_all();
  }

  bool wait_in_write(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return in_write_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  bool wait_for_events(std::size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return reasons_.size() >= n; });
  }
  bool wait_for_flushes(int n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return flushes_ >= n; });
  }
  std::vector<std::string> reasons() const {
    std::lock_guard lock(mutex_);
    return reasons_;
  }
  int flushes() const {
    std::lock_guard lock(mutex_);
    return flushes_;
  }
  Clock::time_point last_deadline() const {
    std::lock_guard lock(mutex_);
    return last_deadline_;
  }
  std::vector<std::thread::id> writer_ids() const {
    std::lock_guard lock(mutex_);
    return writer_ids_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool block_;
  bool in_write_ = false;
  bool released_ = false;
  std::vector<std::string> reasons_;
  std::vector<std::thread::id> writer_ids_;
  int writes_ = 0;
  int flushes_ = 0;
  Clock::time_point last_deadline_{};
};

// netfence_audit_events_dropped_total as /metrics shows it.
std::uint64_t dropped_total(const observe::Metrics& m) {
  const std::string text = m.render_prometheus("test");
  std::smatch match;
  const std::regex line(R"((?:^|\n)netfence_audit_events_dropped_total ([0-9]+)\n)");
  if (!std::regex_search(text, match, line)) {
    ADD_FAILURE() << "netfence_audit_events_dropped_total missing from:\n" << text;
    return ~std::uint64_t{0};
  }
  return std::stoull(match[1].str());
}

std::vector<std::string> names(std::initializer_list<int> ids) {
  std::vector<std::string> out;
  for (int i : ids) out.push_back("e" + std::to_string(i));
  return out;
}

TEST(Pipeline, EventsReachEverySinkInEmissionOrder) {
  observe::Metrics metrics;
  Pipeline p(8192, metrics);
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  p.set_sinks({a, b});
  std::vector<std::string> expected;
  for (int i = 0; i < 500; ++i) {
    expected.push_back("e" + std::to_string(i));
    if (i % 5 == 0) {
      // Multi-event emissions (one request's domain + non_domain events) stay together.
      expected.push_back("e" + std::to_string(i) + "b");
      p.emit({event("e" + std::to_string(i)), event("e" + std::to_string(i) + "b")});
    } else {
      p.emit(one("e" + std::to_string(i)));
    }
  }
  ASSERT_TRUE(a->wait_for_events(expected.size()));
  ASSERT_TRUE(b->wait_for_events(expected.size()));
  EXPECT_EQ(a->reasons(), expected);
  EXPECT_EQ(b->reasons(), expected);
  EXPECT_EQ(dropped_total(metrics), 0u);
  // Delivered on the audit thread, never on the emitting one.
  for (auto id : a->writer_ids()) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(Pipeline, EmitFromManyThreadsKeepsEachThreadsOrder) {
  observe::Metrics metrics;
  Pipeline p(100000, metrics);
  auto sink = std::make_shared<RecordingSink>();
  p.set_sinks({sink});
  constexpr int kThreads = 4, kEach = 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&p, t] {
      for (int i = 0; i < kEach; ++i) p.emit(one(std::to_string(t) + ":" + std::to_string(i)));
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(sink->wait_for_events(kThreads * kEach));
  std::vector<int> next(kThreads, 0);
  for (const auto& r : sink->reasons()) {
    const int t = std::stoi(r.substr(0, r.find(':')));
    const int i = std::stoi(r.substr(r.find(':') + 1));
    EXPECT_EQ(i, next[t]) << r;
    next[t] = i + 1;
  }
  EXPECT_EQ(dropped_total(metrics), 0u);
}

TEST(Pipeline, EmptyEmissionIsIgnored) {
  observe::Metrics metrics;
  Pipeline p(4, metrics);
  auto sink = std::make_shared<RecordingSink>();
  p.set_sinks({sink});
  p.emit({});
  p.emit(one("e1"));
  ASSERT_TRUE(sink->wait_for_events(1));
  p.shutdown(1s);
  EXPECT_EQ(sink->reasons(), names({1}));
}

TEST(Pipeline, FullQueueDropsTheOldestAndCountsThem) {
  observe::Metrics metrics;
  Pipeline p(4, metrics);
  auto sink = std::make_shared<RecordingSink>(/*block_first_write=*/true);
  p.set_sinks({sink});
  p.emit(one("e0"));
  // e0 is now inside the sink, which blocks: everything else waits in the queue (capacity 4).
  ASSERT_TRUE(sink->wait_in_write());
  for (int i = 1; i <= 10; ++i) p.emit(one("e" + std::to_string(i)));
  EXPECT_EQ(dropped_total(metrics), 6u) << "e1..e6 dropped";
  // Emitting never waited for the blocked sink: we got here while it is still blocked.
  sink->release();
  ASSERT_TRUE(sink->wait_for_events(5));
  p.shutdown(1s);
  EXPECT_EQ(sink->reasons(), names({0, 7, 8, 9, 10})) << "the newest events survive";
  EXPECT_EQ(dropped_total(metrics), 6u);
}

TEST(Pipeline, DropOldestSplitsAMultiEventEmission) {
  observe::Metrics metrics;
  Pipeline p(3, metrics);
  auto sink = std::make_shared<RecordingSink>(true);
  p.set_sinks({sink});
  p.emit(one("e0"));
  ASSERT_TRUE(sink->wait_in_write());
  p.emit({event("e1"), event("e2")});
  p.emit({event("e3"), event("e4")});  // 4 queued > 3: e1 goes
  EXPECT_EQ(dropped_total(metrics), 1u);
  p.emit({event("e5"), event("e6"), event("e7"), event("e8")});  // keeps e6..e8
  EXPECT_EQ(dropped_total(metrics), 5u);
  sink->release();
  ASSERT_TRUE(sink->wait_for_events(4));
  p.shutdown(1s);
  EXPECT_EQ(sink->reasons(), names({0, 6, 7, 8}));
}

TEST(Pipeline, SetQueueSizeAppliesToLaterEmissions) {
  observe::Metrics metrics;
  Pipeline p(100, metrics);
  auto sink = std::make_shared<RecordingSink>(true);
  p.set_sinks({sink});
  p.emit(one("e0"));
  ASSERT_TRUE(sink->wait_in_write());
  p.set_queue_size(2);
  for (int i = 1; i <= 5; ++i) p.emit(one("e" + std::to_string(i)));
  EXPECT_EQ(dropped_total(metrics), 3u);
  sink->release();
  ASSERT_TRUE(sink->wait_for_events(3));
  p.shutdown(1s);
  EXPECT_EQ(sink->reasons(), names({0, 4, 5}));
}

TEST(Pipeline, PostedTasksRunAfterEarlierEventsOnTheAuditThread) {
  observe::Metrics metrics;
  Pipeline p(8192, metrics);
  auto sink = std::make_shared<RecordingSink>();
  p.set_sinks({sink});
  std::mutex m;
  std::vector<std::vector<std::string>> seen;  // what the sink had when each task ran
  std::vector<std::thread::id> task_threads;
  auto task = [&] {
    std::lock_guard lock(m);
    seen.push_back(sink->reasons());
    task_threads.push_back(std::this_thread::get_id());
  };
  p.emit(one("e1"));
  p.emit(one("e2"));
  p.post(task);
  p.emit(one("e3"));
  p.post(task);
  ASSERT_TRUE(sink->wait_for_events(3));
  p.shutdown(2s);
  std::lock_guard lock(m);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], names({1, 2}));
  EXPECT_EQ(seen[1], names({1, 2, 3}));
  ASSERT_FALSE(sink->writer_ids().empty());
  for (auto id : task_threads) {
    EXPECT_NE(id, std::this_thread::get_id());
    EXPECT_EQ(id, sink->writer_ids().front()) << "tasks run on the audit thread";
  }
}

TEST(Pipeline, AThrowingTaskDoesNotStopDelivery) {
  observe::Metrics metrics;
  Pipeline p(16, metrics);
  auto sink = std::make_shared<RecordingSink>();
  p.set_sinks({sink});
  p.post([] { throw std::runtime_error("library callback failed"); });
  p.emit(one("e1"));
  std::atomic<bool> ran{false};
  p.post([&] { ran = true; });
  ASSERT_TRUE(sink->wait_for_events(1));
  p.shutdown(1s);
  EXPECT_TRUE(ran.load());
}

// SPEC §15.4 and §19: the audit queue is bounded by queue_size whatever else waits in it. A
// posted task (a blocked observer's call) must neither be lost (§14: the observer receives each
// entry) nor stop the oldest events from being dropped when the queue is full.
TEST(Pipeline, TasksAreKeptAndEventsStillBoundedWhenATaskIsOldest) {
  observe::Metrics metrics;
  Pipeline p(2, metrics);
  auto sink = std::make_shared<RecordingSink>(true);
  p.set_sinks({sink});
  p.emit(one("e0"));
  ASSERT_TRUE(sink->wait_in_write());
  std::atomic<int> ran{0};
  p.post([&] { ++ran; });  // the oldest item in the queue is now a task
  for (int i = 1; i <= 6; ++i) p.emit(one("e" + std::to_string(i)));
  p.post([&] { ++ran; });
  EXPECT_EQ(dropped_total(metrics), 4u) << "6 events queued with room for 2";
  sink->release();
  p.shutdown(2s);
  EXPECT_EQ(ran.load(), 2) << "tasks are never dropped";
  EXPECT_EQ(sink->reasons(), names({0, 5, 6})) << "the newest events survive";
}

TEST(Pipeline, TasksBehindEventsDoNotCountAgainstTheQueue) {
  observe::Metrics metrics;
  Pipeline p(2, metrics);
  auto sink = std::make_shared<RecordingSink>(true);
  p.set_sinks({sink});
  p.emit(one("e0"));
  ASSERT_TRUE(sink->wait_in_write());
  std::atomic<int> ran{0};
  p.emit(one("e1"));
  p.post([&] { ++ran; });
  p.emit(one("e2"));
  p.post([&] { ++ran; });
  EXPECT_EQ(dropped_total(metrics), 0u);
  p.emit(one("e3"));  // third queued event: e1 goes
  EXPECT_EQ(dropped_total(metrics), 1u);
  sink->release();
  p.shutdown(2s);
  EXPECT_EQ(ran.load(), 2);
  EXPECT_EQ(sink->reasons(), names({0, 2, 3}));
}

TEST(Pipeline, SetSinksSwapsAndRetiresTheOldSinks) {
  observe::Metrics metrics;
  Pipeline p(8192, metrics);
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  p.set_sinks({a});
  p.emit(one("e1"));
  ASSERT_TRUE(a->wait_for_events(1));
  p.set_sinks({b});
  p.emit(one("e2"));
  ASSERT_TRUE(b->wait_for_events(1));
  EXPECT_TRUE(a->wait_for_flushes(1)) << "a retired sink is flushed";
  p.shutdown(1s);
  EXPECT_EQ(a->reasons(), names({1}));
  EXPECT_EQ(b->reasons(), names({2}));
  EXPECT_EQ(b->flushes(), 1) << "the current sink is flushed once, at shutdown";
}

TEST(Pipeline, SetSinksWithNoSinksDiscardsQuietly) {
  observe::Metrics metrics;
  Pipeline p(8192, metrics);
  p.emit(one("lost"));  // no sinks installed yet
  std::atomic<bool> synced{false};
  p.post([&] { synced = true; });
  p.shutdown(1s);
  EXPECT_TRUE(synced.load());
  EXPECT_EQ(dropped_total(metrics), 0u) << "no sink is not a full queue";
}

TEST(Pipeline, ShutdownDeliversWhatIsQueuedAndFlushesWithinTheBudget) {
  observe::Metrics metrics;
  Pipeline p(8192, metrics);
  auto sink = std::make_shared<RecordingSink>();
  p.set_sinks({sink});
  for (int i = 0; i < 1000; ++i) p.emit(one("e" + std::to_string(i)));
  const auto before = Clock::now();
  p.shutdown(1500ms);
  // Everything emitted before shutdown reached the sink; no wait needed afterwards.
  EXPECT_EQ(sink->reasons().size(), 1000u);
  EXPECT_EQ(sink->reasons().back(), "e999");
  EXPECT_EQ(sink->flushes(), 1);
  EXPECT_GE(sink->last_deadline(), before + 1500ms);
  EXPECT_LE(sink->last_deadline(), Clock::now() + 1500ms);
}

TEST(Pipeline, ShutdownIsIdempotentAndLaterEmitsAreHarmless) {
  observe::Metrics metrics;
  auto p = std::make_unique<Pipeline>(8192, metrics);
  auto sink = std::make_shared<RecordingSink>();
  p->set_sinks({sink});
  p->emit(one("e1"));
  p->shutdown(1s);
  p->shutdown(1s);
  p->emit(one("late"));
  p->emit({event("late2"), event("late3")});
  std::atomic<bool> ran{false};
  p->post([&] { ran = true; });
  p->set_sinks({std::make_shared<RecordingSink>()});
  p->set_queue_size(1);
  p->shutdown(1s);
  p.reset();  // the destructor shuts down once more
  EXPECT_EQ(sink->reasons(), names({1}));
  EXPECT_EQ(sink->flushes(), 1);
  EXPECT_FALSE(ran.load()) << "tasks posted after shutdown do not run";
  EXPECT_EQ(dropped_total(metrics), 0u);
}

TEST(Pipeline, DestructorFlushesLikeShutdown) {
  observe::Metrics metrics;
  auto sink = std::make_shared<RecordingSink>();
  {
    Pipeline p(8192, metrics);
    p.set_sinks({sink});
    for (int i = 0; i < 10; ++i) p.emit(one("e" + std::to_string(i)));
  }
  EXPECT_EQ(sink->reasons().size(), 10u);
  EXPECT_EQ(sink->flushes(), 1);
}

// Pipeline::shutdown is idempotent and safe to call from two threads at once.
TEST(Pipeline, ConcurrentShutdownCalls) {
  observe::Metrics metrics;
  Pipeline p(8192, metrics);
  auto sink = std::make_shared<RecordingSink>();
  p.set_sinks({sink});
  for (int i = 0; i < 100; ++i) p.emit(one("e" + std::to_string(i)));
  std::thread t1([&] { p.shutdown(1s); });
  std::thread t2([&] { p.shutdown(1s); });
  t1.join();
  t2.join();
  EXPECT_EQ(sink->reasons().size(), 100u);
  EXPECT_EQ(sink->flushes(), 1);
}

// ---------------------------------------------------------------------------------------------
// The JSON-lines sink.

class JsonlSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("netfence-audit-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static unsigned mode_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }

  fs::path dir_;
};

TEST_F(JsonlSinkTest, CreatesTheFileWithMode0600) {
  const fs::path path = dir_ / "audit.jsonl";
  // Whatever the umask lets through, the file must not be group/world readable.
  const mode_t old = ::umask(0);
  auto sink = make_jsonl_sink(path.string());
  ::umask(old);
  ASSERT_TRUE(sink.ok()) << sink.error().message;
  ASSERT_TRUE(fs::exists(path)) << "created at once, before the first event";
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(read(path), "");
}

TEST_F(JsonlSinkTest, WritesOneLinePerEvent) {
  const fs::path path = dir_ / "audit.jsonl";
  auto sink = make_jsonl_sink(path.string());
  ASSERT_TRUE(sink.ok());
  const std::vector<AuditEvent> batch = {event("a"), event("b"), event("c")};
  sink.value()->write(batch);
  sink.value()->write({event("d")});
  std::string expected;
  for (const auto& e : batch) expected += encode_jsonl(e) + "\n";
  expected += encode_jsonl(event("d")) + "\n";
  EXPECT_EQ(read(path), expected);
}

TEST_F(JsonlSinkTest, AppendsKeepingExistingContent) {
  const fs::path path = dir_ / "audit.jsonl";
  {
    std::ofstream out(path, std::ios::binary);
    out << "{\"previous\":\"line\"}\n";
  }
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  {
    auto sink = make_jsonl_sink(path.string());
    ASSERT_TRUE(sink.ok());
    sink.value()->write({event("first")});
  }
  {
    // A second sink (a restart, a reload) appends too.
    auto sink = make_jsonl_sink(path.string());
    ASSERT_TRUE(sink.ok());
    sink.value()->write({event("second")});
  }
  EXPECT_EQ(read(path), "{\"previous\":\"line\"}\n" + encode_jsonl(event("first")) + "\n" +
                            encode_jsonl(event("second")) + "\n");
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST_F(JsonlSinkTest, ThroughThePipelineTheFileHoldsTheGoldenBytes) {
  const fs::path path = dir_ / "audit.jsonl";
  auto sink = make_jsonl_sink(path.string());
  ASSERT_TRUE(sink.ok());
  observe::Metrics metrics;
  Pipeline p(16, metrics);
  p.set_sinks({sink.value()});
  AuditEvent e;
  e.timestamp = "2026-04-28T09:15:02.123Z";
  e.scope = Scope::domain;
  e.decision = Verdict::deny;
  e.source = DecisionSource::baseline_policy;
  e.reason = "not_allowed";
  e.protocol = Protocol::https_connect;
  e.server_address = "example.com";
  e.server_port = 443;
  e.method = "CONNECT";
  e.client_address = "127.0.0.1:53122";
  p.emit({e});
  p.shutdown(1s);
  std::ifstream golden(
      std::string(NETFENCE_SOURCE_DIR) + "/tests/unit/audit/golden/jsonl_spec_example.txt",
      std::ios::binary);
  std::stringstream ss;
  ss << golden.rdbuf();
  ASSERT_FALSE(ss.str().empty());
  EXPECT_EQ(read(path), ss.str());
}

TEST_F(JsonlSinkTest, UnopenablePathIsAnErrorNamingTheKey) {
  auto sink = make_jsonl_sink((dir_ / "missing-dir" / "audit.jsonl").string());
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.error().message.find("network.audit.jsonl_path"), std::string::npos)
      << sink.error().message;
  EXPECT_NE(sink.error().message.find("missing-dir"), std::string::npos) << sink.error().message;
}

TEST_F(JsonlSinkTest, DashMeansStderr) {
  auto sink = make_jsonl_sink("-");
  ASSERT_TRUE(sink.ok());
  EXPECT_FALSE(fs::exists("-")) << "no file named '-' is created";
  ::testing::internal::CaptureStderr();
  sink.value()->write({event("to-stderr")});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, encode_jsonl(event("to-stderr")) + "\n");
}

}  // namespace
}  // namespace netfence::audit
