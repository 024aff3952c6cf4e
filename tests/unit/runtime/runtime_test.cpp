#include "runtime/runtime.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "policy/snapshot.hpp"

namespace netfence::runtime {
namespace {

std::shared_ptr<const policy::Snapshot> snapshot(std::size_t max_connections = 2) {
  auto cfg = std::make_shared<Config>();
  cfg->enabled = true;
  cfg->max_connections = static_cast<std::uint32_t>(max_connections);
  auto snap = policy::compile(cfg);
  EXPECT_TRUE(snap.ok());
  return snap.value();
}

observe::BlockedEntry entry(std::string host) {
  observe::BlockedEntry e;
  e.host = std::move(host);
  e.reason = "not_allowed";
  e.port = 443;
  return e;
}

TEST(Runtime, BlockedObserverRunsOnTheAuditThreadAfterRecording) {
  log::Logger logger;
  Runtime rt(logger, snapshot(), nullptr);
  auto pipeline = std::make_shared<audit::Pipeline>(16, rt.metrics());
  rt.set_audit(pipeline);
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> seen;
  std::thread::id observer_thread;
  rt.set_blocked_observer([&](const observe::BlockedEntry& e) {
    std::lock_guard lock(m);
    seen.push_back(e.host);
    observer_thread = std::this_thread::get_id();
    // Recorded before the observer runs (§14).
    EXPECT_GE(rt.blocked().size(), seen.size());
    cv.notify_all();
  });
  rt.blocked().record(entry("a.example"));
  rt.blocked().record(entry("b.example"));
  std::unique_lock lock(m);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return seen.size() == 2; }));
  EXPECT_EQ(seen, (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_NE(observer_thread, std::this_thread::get_id());
  lock.unlock();
  pipeline->shutdown(std::chrono::milliseconds(100));
}

TEST(Runtime, BlockedObserverWithoutPipelineRunsInline) {
  log::Logger logger;
  Runtime rt(logger, snapshot(), nullptr);
  int calls = 0;
  rt.set_blocked_observer([&](const observe::BlockedEntry&) { ++calls; });
  rt.blocked().record(entry("a.example"));
  EXPECT_EQ(calls, 1);
  rt.set_blocked_observer({});
  rt.blocked().record(entry("b.example"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(rt.blocked().size(), 2u);
}

TEST(Runtime, ConnectionLimitIsSharedAndCounted) {
  log::Logger logger;
  Runtime rt(logger, snapshot(2), nullptr);
  EXPECT_TRUE(rt.try_acquire_connection(observe::Listener::http));
  EXPECT_TRUE(rt.try_acquire_connection(observe::Listener::socks5));
  EXPECT_FALSE(rt.try_acquire_connection(observe::Listener::http));
  EXPECT_EQ(rt.metrics().rejected("max_connections"), 1u);
  EXPECT_EQ(rt.metrics().connections_active(observe::Listener::http), 1);
  EXPECT_EQ(rt.metrics().connections_active(observe::Listener::socks5), 1);
  rt.release_connection(observe::Listener::http);
  EXPECT_TRUE(rt.try_acquire_connection(observe::Listener::http));
}

TEST(Runtime, LimitedModeClosesRawTunnelsButNotMitm) {
  log::Logger logger;
  Runtime rt(logger, snapshot(), nullptr);
  int connect_stops = 0, socks_stops = 0, mitm_stops = 0;
  TunnelRegistration a(rt, TunnelKind::connect, [&] { ++connect_stops; });
  TunnelRegistration b(rt, TunnelKind::socks5_udp, [&] { ++socks_stops; });
  TunnelRegistration c(rt, TunnelKind::mitm, [&] { ++mitm_stops; });
  EXPECT_EQ(rt.metrics().tunnels_active(observe::TunnelKind::connect), 1);
  auto cfg = std::make_shared<Config>(*rt.snapshot()->config);
  cfg->mode = Mode::limited;
  rt.set_snapshot(policy::compile(cfg).value());
  EXPECT_EQ(connect_stops, 1);
  EXPECT_EQ(socks_stops, 1);
  EXPECT_EQ(mitm_stops, 0);
  auto off = std::make_shared<Config>(*cfg);
  off->enabled = false;
  rt.set_snapshot(policy::compile(off).value());
  EXPECT_EQ(mitm_stops, 1);
}

}  // namespace
}  // namespace netfence::runtime
