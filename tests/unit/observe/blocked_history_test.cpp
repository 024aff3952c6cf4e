#include "observe/blocked_history.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace netfence::observe {
namespace {

BlockedEntry entry(std::string host) {
  BlockedEntry e;
  e.host = std::move(host);
  e.reason = "not_allowed";
  e.client = "127.0.0.1:53122";
  e.method = "GET";
  e.port = 80;
  e.timestamp = 1777367702;
  return e;
}

std::vector<std::string> hosts(const std::vector<BlockedEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.host);
  return out;
}

TEST(BlockedHistory, DefaultCapacityIs200) {
  BlockedHistory h;
  EXPECT_EQ(h.capacity(), 200u);
  EXPECT_EQ(h.size(), 0u);
  EXPECT_TRUE(h.snapshot().empty());
}

TEST(BlockedHistory, KeepsOrderBelowCapacity) {
  BlockedHistory h;
  for (int i = 0; i < 5; ++i) h.record(entry("h" + std::to_string(i)));
  EXPECT_EQ(h.size(), 5u);
  EXPECT_EQ(hosts(h.snapshot()), (std::vector<std::string>{"h0", "h1", "h2", "h3", "h4"}));
}

TEST(BlockedHistory, The201stEntryEvictsTheOldest) {
  BlockedHistory h;
  for (int i = 0; i < 200; ++i) h.record(entry("h" + std::to_string(i)));
  EXPECT_EQ(h.size(), 200u);
  EXPECT_EQ(h.snapshot().front().host, "h0");

  h.record(entry("h200"));
  const auto snap = h.snapshot();
  ASSERT_EQ(snap.size(), 200u);
  for (std::size_t i = 0; i < snap.size(); ++i) {
    EXPECT_EQ(snap[i].host, "h" + std::to_string(i + 1)) << i;
  }
}

TEST(BlockedHistory, WrapsManyTimesKeepingOrder) {
  BlockedHistory h(3);
  for (int i = 0; i < 11; ++i) {
    h.record(entry("h" + std::to_string(i)));
    const auto snap = hosts(h.snapshot());
    std::vector<std::string> want;
    for (int j = std::max(0, i - 2); j <= i; ++j) want.push_back("h" + std::to_string(j));
    EXPECT_EQ(snap, want) << "after " << i;
  }
}

TEST(BlockedHistory, SnapshotDoesNotEmpty) {
  BlockedHistory h;
  h.record(entry("a"));
  EXPECT_EQ(h.snapshot().size(), 1u);
  EXPECT_EQ(h.snapshot().size(), 1u);
  EXPECT_EQ(h.size(), 1u);
}

TEST(BlockedHistory, DrainReturnsOldestFirstAndEmpties) {
  BlockedHistory h(4);
  for (int i = 0; i < 6; ++i) h.record(entry("h" + std::to_string(i)));  // wrapped
  EXPECT_EQ(hosts(h.drain()), (std::vector<std::string>{"h2", "h3", "h4", "h5"}));
  EXPECT_EQ(h.size(), 0u);
  EXPECT_TRUE(h.drain().empty());

  // The ring works normally after a drain, including wrapping again.
  for (int i = 0; i < 5; ++i) h.record(entry("n" + std::to_string(i)));
  EXPECT_EQ(hosts(h.snapshot()), (std::vector<std::string>{"n1", "n2", "n3", "n4"}));
}

TEST(BlockedHistory, ZeroCapacityKeepsNothingButNotifies) {
  BlockedHistory h(0);
  int seen = 0;
  h.set_observer([&](const BlockedEntry&) { ++seen; });
  h.record(entry("a"));
  EXPECT_EQ(h.size(), 0u);
  EXPECT_TRUE(h.drain().empty());
  EXPECT_EQ(seen, 1);
}

TEST(BlockedHistory, ConcurrentRecordLosesNothingUpToCapacity) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;  // 4 × 50 = exactly the default capacity
  BlockedHistory h;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        h.record(entry("t" + std::to_string(t) + "-" + std::to_string(i)));
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();

  const auto snap = h.snapshot();
  ASSERT_EQ(snap.size(), static_cast<std::size_t>(kThreads * kPerThread));
  std::set<std::string> unique;
  std::vector<int> next(kThreads, 0);
  for (const auto& e : snap) {
    EXPECT_TRUE(unique.insert(e.host).second) << e.host;
    // Each thread's entries appear in the order that thread recorded them.
    const int t = e.host[1] - '0';
    EXPECT_EQ(e.host, "t" + std::to_string(t) + "-" + std::to_string(next[t]));
    ++next[t];
  }
}

TEST(BlockedHistory, ConcurrentDrainHandsOutEachEntryExactlyOnce) {
  constexpr int kThreads = 3;
  constexpr int kPerThread = 2000;
  BlockedHistory h(kThreads * kPerThread);  // large enough that nothing is evicted
  std::atomic<int> writers_done{0};
  std::vector<BlockedEntry> drained;
  std::thread drainer([&] {
    while (writers_done.load() < kThreads) {
      auto part = h.drain();
      drained.insert(drained.end(), part.begin(), part.end());
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        h.record(entry(std::to_string(t) + "-" + std::to_string(i)));
      }
      ++writers_done;
    });
  }
  for (auto& w : writers) w.join();
  drainer.join();
  auto rest = h.drain();
  drained.insert(drained.end(), rest.begin(), rest.end());

  ASSERT_EQ(drained.size(), static_cast<std::size_t>(kThreads * kPerThread));
  std::set<std::string> unique;
  for (const auto& e : drained) EXPECT_TRUE(unique.insert(e.host).second) << e.host;
  EXPECT_EQ(h.size(), 0u);
}

TEST(BlockedHistory, ObserverSeesEachEntryAfterItIsRecorded) {
  BlockedHistory h;
  std::vector<BlockedEntry> seen;
  std::vector<std::size_t> sizes_seen;
  h.set_observer([&](const BlockedEntry& e) {
    seen.push_back(e);
    // Called outside the lock and after recording: re-entering the history is allowed and
    // already shows the entry.
    sizes_seen.push_back(h.size());
    EXPECT_EQ(h.snapshot().back(), e);
  });
  auto a = entry("a.example");
  a.label = "job-42";
  h.record(a);
  h.record(entry("b.example"));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], a);
  EXPECT_EQ(seen[1].host, "b.example");
  EXPECT_EQ(sizes_seen, (std::vector<std::size_t>{1, 2}));
  // The stored copy is intact (the observer got a copy, not a moved-from entry).
  EXPECT_EQ(h.snapshot().front(), a);

  h.set_observer(nullptr);
  h.record(entry("c.example"));
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(h.size(), 3u);
}

TEST(BlockedHistory, ObserverExceptionIsContained) {
  BlockedHistory h;
  h.set_observer([](const BlockedEntry&) { throw std::runtime_error("user bug"); });
  EXPECT_NO_THROW(h.record(entry("a")));
  EXPECT_EQ(h.size(), 1u);
}

TEST(BlockedHistory, ObserverCalledFromEveryRecordingThread) {
  BlockedHistory h(10);  // fewer slots than records: eviction must not affect notification
  std::atomic<int> calls{0};
  h.set_observer([&](const BlockedEntry&) { ++calls; });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) h.record(entry("x"));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(calls.load(), 400);
  EXPECT_EQ(h.size(), 10u);
}

TEST(BlockedJson, SpecExampleExactly) {
  BlockedEntry e;
  e.host = "example.com";
  e.reason = "not_allowed";
  e.client = "127.0.0.1:53122";
  e.method = "GET";
  e.mode = Mode::full;
  e.protocol = Protocol::http;
  e.decision = Verdict::deny;
  e.source = DecisionSource::baseline_policy;
  e.port = 80;
  e.timestamp = 1777367702;
  e.label = "job-42";
  EXPECT_EQ(to_json(e),
            R"({"host":"example.com","reason":"not_allowed","client":"127.0.0.1:53122",)"
            R"("method":"GET","mode":"full","protocol":"http","decision":"deny",)"
            R"("source":"baseline_policy","port":80,"timestamp":1777367702,"label":"job-42"})");
}

TEST(BlockedJson, UnknownClientAndMethodAreNullAndLabelOmitted) {
  BlockedEntry e;
  e.host = "10.0.0.5";
  e.reason = "not_allowed_local";
  e.mode = Mode::limited;
  e.protocol = Protocol::socks5_udp;
  e.decision = Verdict::ask;
  e.source = DecisionSource::decider;
  e.port = 53;
  e.timestamp = 0;
  EXPECT_EQ(to_json(e),
            R"({"host":"10.0.0.5","reason":"not_allowed_local","client":null,"method":null,)"
            R"("mode":"limited","protocol":"socks5_udp","decision":"ask","source":"decider",)"
            R"("port":53,"timestamp":0})");
}

TEST(BlockedJson, ClientWithoutMethodAndEveryEnumSpelling) {
  BlockedEntry e;
  e.host = "[::1]";
  e.reason = "self_target";
  e.client = "[::1]:40000";
  e.protocol = Protocol::https_connect;
  e.source = DecisionSource::proxy_state;
  e.port = 65535;
  e.timestamp = 4102444800;  // beyond 2^31
  EXPECT_EQ(to_json(e),
            R"({"host":"[::1]","reason":"self_target","client":"[::1]:40000","method":null,)"
            R"("mode":"full","protocol":"https_connect","decision":"deny","source":"proxy_state",)"
            R"("port":65535,"timestamp":4102444800})");
}

TEST(BlockedJson, StringsAreEscapedAndInvalidUtf8Replaced) {
  BlockedEntry e = entry("example.com");
  e.reason = "decider said \"no\"\\";
  e.label = std::string("bad\xff\n");
  e.protocol = Protocol::unix_socket;
  e.source = DecisionSource::mode_guard;
  EXPECT_EQ(to_json(e),
            R"({"host":"example.com","reason":"decider said \"no\"\\","client":"127.0.0.1:53122",)"
            R"("method":"GET","mode":"full","protocol":"unix_socket","decision":"deny",)"
            R"("source":"mode_guard","port":80,"timestamp":1777367702,"label":"bad)"
            "\xEF\xBF\xBD"
            R"(\n"})");
}

TEST(BlockedJson, ListWrapper) {
  EXPECT_EQ(blocked_json({}), R"({"blocked":[]})");
  BlockedEntry a = entry("a.example");
  BlockedEntry b = entry("b.example");
  b.client.reset();
  b.method.reset();
  b.protocol = Protocol::socks5_tcp;
  b.port = 443;
  EXPECT_EQ(blocked_json({a, b}), "{\"blocked\":[" + to_json(a) + "," + to_json(b) + "]}");
}

}  // namespace
}  // namespace netfence::observe
