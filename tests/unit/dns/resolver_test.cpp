// The c-ares resolver against the stub DNS server on loopback (SPEC §6.6, §18 rows 14-17).
// Hermetic: every query goes to the stub; the system configuration is only used in the
// hosts-file tests, and only for names the temporary hosts file answers.
#include "dns/resolver.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "stub_dns_server.hpp"

namespace netfence::dns {
namespace {

using namespace std::chrono_literals;
using netfence::testing::DnsTransport;
using netfence::testing::StubDnsServer;
using netfence::testing::dns_wire::kTypeA;
using netfence::testing::dns_wire::kTypeAaaa;

constexpr auto kTimeout = 2000ms;

std::vector<std::string> texts(const ResolveResult& result) {
  std::vector<std::string> out;
  for (const auto& a : result.addresses) out.push_back(a.to_string());
  return out;
}

core::IpAddress ip(std::string_view text) {
  const auto parsed = core::IpAddress::parse(text);
  if (!parsed) throw std::invalid_argument(std::string(text));
  return *parsed;
}

/// "n<i>.test" (built with += : g++ 12 warns falsely on "literal" + std::string&&, PR 105329).
std::string numbered(std::size_t i) {
  std::string name = "n";
  name += std::to_string(i);
  name += ".test";
  return name;
}

std::string numbered_ip(std::size_t i) {
  std::string text = "192.0.2.";
  text += std::to_string(i + 1);
  return text;
}

std::unique_ptr<Resolver> make_resolver(ResolverOptions options) {
  auto made = make_cares_resolver(options);
  if (!made.ok()) throw std::runtime_error(made.error().message);
  return std::move(made).value();
}

std::unique_ptr<Resolver> resolver_for(const StubDnsServer& server) {
  ResolverOptions options;
  options.servers = {server.address()};
  return make_resolver(options);
}

/// Collects callbacks and checks each arrives exactly once.
class Collector {
 public:
  explicit Collector(std::size_t expected) : results_(expected), calls_(expected) {}

  ResolveCallback callback(std::size_t index) {
    return [this, index](ResolveResult result) {
      std::lock_guard lock(mutex_);
      results_[index] = std::move(result);
      if (++calls_[index] == 1) ++done_;
      cv_.notify_all();
    };
  }
  bool wait_all(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [this] { return done_ == results_.size(); });
  }
  std::size_t done() {
    std::lock_guard lock(mutex_);
    return done_;
  }
  bool each_exactly_once() {
    std::lock_guard lock(mutex_);
    return std::all_of(calls_.begin(), calls_.end(), [](int n) { return n == 1; });
  }
  ResolveResult result(std::size_t index) {
    std::lock_guard lock(mutex_);
    return results_[index];
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<ResolveResult> results_;
  std::vector<int> calls_;
  std::size_t done_ = 0;
};

TEST(Resolver, ErrorNames) {
  EXPECT_EQ(to_string(ResolveError::none), "none");
  EXPECT_EQ(to_string(ResolveError::nxdomain), "nxdomain");
  EXPECT_EQ(to_string(ResolveError::no_data), "no_data");
  EXPECT_EQ(to_string(ResolveError::timeout), "timeout");
}

TEST(Resolver, RejectsBadServerAddresses) {
  for (const std::string bad : {"dns.example", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:", "[::1",
                                "[::1]x", "[::1]:", "1.2.3.4:5x", "999.1.1.1"}) {
    ResolverOptions options;
    options.servers = {bad};
    const auto made = make_cares_resolver(options);
    EXPECT_FALSE(made.ok()) << bad;
    if (!made.ok()) {
      EXPECT_EQ(made.error().code, "config");
    }
  }
  ResolverOptions options;
  options.servers = {"127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1"};
  EXPECT_TRUE(make_cares_resolver(options).ok());
}

TEST(Resolver, StaticHostsComeFirstInConfiguredOrder) {
  StubDnsServer server;
  server.add_address("pinned.test", "192.0.2.99");
  ResolverOptions options;
  options.servers = {server.address()};
  options.static_hosts = {{"pinned.test", {ip("203.0.113.7"), ip("2001:db8::7")}},
                          {"nothing.test", {}}};
  auto resolver = make_resolver(options);

  const auto result = resolve_blocking(*resolver, "pinned.test", kTimeout);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(texts(result), (std::vector<std::string>{"203.0.113.7", "2001:db8::7"}));
  const auto empty = resolve_blocking(*resolver, "nothing.test", kTimeout);
  EXPECT_EQ(empty.error, ResolveError::no_data);
  EXPECT_TRUE(empty.addresses.empty());
  EXPECT_EQ(server.query_count(), 0u);
}

class HostsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/netfence_resolver_test_hosts_" + std::to_string(::getpid());
    std::ofstream(path_) << "# test hosts file\n"
                            "10.1.2.3\tfilehost.test  Alias.Test # trailing comment\n"
                            "::1 filehost.test\n"
                            "fe80::1%eth0 filehost.test\n"
                            "192.0.2.5 other.test\n"
                            "10.1.2.3 filehost.test\n";
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
};

TEST_F(HostsFile, AnswersWhenNoServersAreConfigured) {
  ResolverOptions options;  // servers empty: static hosts, hosts file, then the system servers
  options.hosts_file = path_;
  auto resolver = make_resolver(options);
  EXPECT_EQ(texts(resolve_blocking(*resolver, "filehost.test", kTimeout)),
            (std::vector<std::string>{"::1", "10.1.2.3"}));  // interleaved, deduplicated
  EXPECT_EQ(texts(resolve_blocking(*resolver, "alias.test", kTimeout)),
            (std::vector<std::string>{"10.1.2.3"}));
  EXPECT_EQ(texts(resolve_blocking(*resolver, "other.test.", kTimeout)),
            (std::vector<std::string>{"192.0.2.5"}));
}

TEST_F(HostsFile, IsIgnoredWhenServersAreConfigured) {
  StubDnsServer server;
  ResolverOptions options;
  options.servers = {server.address()};
  options.hosts_file = path_;
  auto resolver = make_resolver(options);
  EXPECT_EQ(resolve_blocking(*resolver, "filehost.test", kTimeout).error, ResolveError::nxdomain);
  EXPECT_EQ(server.query_count("filehost.test"), 2u);
}

TEST(Resolver, AOnly) {
  StubDnsServer server;
  server.add_address("v4.test", "93.184.216.34");
  auto resolver = resolver_for(server);
  const auto result = resolve_blocking(*resolver, "v4.test", kTimeout);
  EXPECT_EQ(result.error, ResolveError::none);  // A ok + AAAA NODATA → ok
  EXPECT_EQ(texts(result), std::vector<std::string>{"93.184.216.34"});
  EXPECT_EQ(server.query_count("v4.test", kTypeA), 1u);
  EXPECT_EQ(server.query_count("v4.test", kTypeAaaa), 1u);
}

TEST(Resolver, AaaaOnly) {
  StubDnsServer server;
  server.add_address("v6.test", "2606:4700::1");
  auto resolver = resolver_for(server);
  const auto result = resolve_blocking(*resolver, "v6.test", kTimeout);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(texts(result), std::vector<std::string>{"2606:4700::1"});
}

TEST(Resolver, BothFamiliesInterleavedInAnswerOrder) {
  StubDnsServer server;
  server.load_script(R"(
both.test A 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.1
both.test AAAA 2001:db8::2 2001:db8::1
)");
  auto resolver = resolver_for(server);
  const auto result = resolve_blocking(*resolver, "both.test", kTimeout);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(texts(result), (std::vector<std::string>{"2001:db8::2", "192.0.2.1", "2001:db8::1",
                                                     "192.0.2.2", "192.0.2.3"}));
}

TEST(Resolver, FollowsCnameChains) {
  StubDnsServer server;
  server.load_script(R"(
www.alias.test CNAME edge.alias.test
edge.alias.test CNAME target.test
target.test A 10.0.0.1
target.test AAAA ::ffff:127.0.0.1
)");
  auto resolver = resolver_for(server);
  const auto result = resolve_blocking(*resolver, "www.alias.test", kTimeout);
  EXPECT_TRUE(result.ok());
  // Only the final addresses; the vetting stage sees the private ones (SPEC §18 row 14).
  EXPECT_EQ(texts(result), (std::vector<std::string>{"::ffff:127.0.0.1", "10.0.0.1"}));
  EXPECT_EQ(server.query_count("target.test"), 0u);  // the server resolved the chain
}

TEST(Resolver, CnameToNothingIsNoData) {
  StubDnsServer server;
  server.load_script("dangling.test CNAME empty.test\nempty.test EMPTY\n");
  auto resolver = resolver_for(server);
  const auto result = resolve_blocking(*resolver, "dangling.test", kTimeout);
  EXPECT_EQ(result.error, ResolveError::no_data);
  EXPECT_TRUE(result.addresses.empty());
}

struct ErrorCase {
  const char* rule;
  ResolveError expected;
};

class ResolverErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ResolverErrors, MapToTheirError) {
  StubDnsServer server;
  server.load_script(std::string("name.test ") + GetParam().rule + "\n");
  auto resolver = resolver_for(server);
  const auto result = resolve_blocking(*resolver, "name.test", kTimeout);
  EXPECT_EQ(result.error, GetParam().expected) << to_string(result.error);
  EXPECT_TRUE(result.addresses.empty());
  EXPECT_FALSE(result.ok());
  // One query per family: SERVFAIL/REFUSED from the only server are not retried.
  EXPECT_EQ(server.query_count("name.test", kTypeA), 1u);
  EXPECT_EQ(server.query_count("name.test", kTypeAaaa), 1u);
}

INSTANTIATE_TEST_SUITE_P(Rules, ResolverErrors,
                         ::testing::Values(ErrorCase{"NXDOMAIN", ResolveError::nxdomain},
                                           ErrorCase{"SERVFAIL", ResolveError::servfail},
                                           ErrorCase{"REFUSED", ResolveError::refused},
                                           ErrorCase{"EMPTY", ResolveError::no_data}));

TEST(Resolver, UnknownNameIsNxdomain) {
  StubDnsServer server;
  auto resolver = resolver_for(server);
  EXPECT_EQ(resolve_blocking(*resolver, "unknown.test", kTimeout).error, ResolveError::nxdomain);
}

TEST(Resolver, TimeoutCoversAllAttempts) {
  StubDnsServer server;
  server.load_script("slow.test TIMEOUT\n");
  auto resolver = resolver_for(server);
  const auto start = std::chrono::steady_clock::now();
  const auto result = resolve_blocking(*resolver, "slow.test", 300ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result.error, ResolveError::timeout);
  EXPECT_TRUE(result.addresses.empty());
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 1300ms);
  EXPECT_GE(server.query_count("slow.test", kTypeA), 1u);
}

TEST(Resolver, OneFamilyTimingOutStillAnswersWithTheOther) {
  StubDnsServer server;
  server.load_script("half.test AAAA 2001:db8::5\nhalf.test TIMEOUT A\n");
  auto resolver = resolver_for(server);
  auto result = resolve_blocking(*resolver, "half.test", 300ms);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(texts(result), std::vector<std::string>{"2001:db8::5"});
}

TEST(Resolver, WhenBothFamiliesFailTheMoreSpecificErrorWins) {
  StubDnsServer server;
  server.load_script(R"(
nx.test NXDOMAIN A
nx.test SERVFAIL AAAA
sf.test EMPTY A
sf.test SERVFAIL AAAA
nd.test TIMEOUT A
nd.test EMPTY AAAA
)");
  auto resolver = resolver_for(server);
  EXPECT_EQ(resolve_blocking(*resolver, "nx.test", kTimeout).error, ResolveError::nxdomain);
  EXPECT_EQ(resolve_blocking(*resolver, "sf.test", kTimeout).error, ResolveError::servfail);
  EXPECT_EQ(resolve_blocking(*resolver, "nd.test", 300ms).error, ResolveError::no_data);
}

TEST(Resolver, UnreachableServerFailsWithinTheDeadline) {
  std::string address;
  {
    StubDnsServer server;
    address = server.address();
  }  // nothing listens there any more
  ResolverOptions options;
  options.servers = {address};
  auto resolver = make_resolver(options);
  const auto start = std::chrono::steady_clock::now();
  const auto result = resolve_blocking(*resolver, "any.test", 300ms);
  EXPECT_FALSE(result.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1300ms);
}

TEST(Resolver, RebindingNeedsTwoLookups) {
  StubDnsServer server;
  server.load_script("rebind.test REBIND 93.184.216.34 127.0.0.1\n");
  auto resolver = resolver_for(server);
  const auto first = resolve_blocking(*resolver, "rebind.test", kTimeout);
  EXPECT_EQ(texts(first), std::vector<std::string>{"93.184.216.34"});
  // One resolution is exactly one A and one AAAA query (no second lookup, SPEC §18 row 15).
  EXPECT_EQ(server.query_count("rebind.test", kTypeA), 1u);
  EXPECT_EQ(server.query_count("rebind.test", kTypeAaaa), 1u);
  const auto second = resolve_blocking(*resolver, "rebind.test", kTimeout);
  EXPECT_EQ(texts(second), std::vector<std::string>{"127.0.0.1"});  // TTL 0: nothing cached
  EXPECT_EQ(server.query_count("rebind.test", kTypeA), 2u);
}

TEST(Resolver, FallsBackToTcpOnTruncation) {
  StubDnsServer server;
  server.load_script("big.test TRUNCATE\nbig.test A 192.0.2.10 192.0.2.11\nbig.test AAAA ::2\n");
  auto resolver = resolver_for(server);
  const auto result = resolve_blocking(*resolver, "big.test", kTimeout);
  EXPECT_EQ(texts(result), (std::vector<std::string>{"::2", "192.0.2.10", "192.0.2.11"}));
  std::size_t udp = 0;
  std::size_t tcp = 0;
  for (const auto& q : server.queries()) (q.transport == DnsTransport::udp ? udp : tcp)++;
  EXPECT_EQ(udp, 2u);
  EXPECT_EQ(tcp, 2u);
}

TEST(Resolver, ManyConcurrentResolutionsCompleteOnce) {
  StubDnsServer server;
  for (std::size_t i = 0; i < 50; ++i) {
    server.add_address(numbered(i), numbered_ip(i));
  }
  auto resolver = resolver_for(server);
  constexpr std::size_t kCount = 200;
  Collector collector(kCount);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < kCount; i += 4) {
        resolver->resolve(numbered(i % 50), 5s, collector.callback(i));
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(collector.wait_all(10s)) << collector.done();
  EXPECT_TRUE(collector.each_exactly_once());
  for (std::size_t i = 0; i < kCount; ++i) {
    EXPECT_EQ(texts(collector.result(i)), std::vector<std::string>{numbered_ip(i % 50)});
  }
}

TEST(Resolver, DestructionCompletesEveryCallbackOnce) {
  StubDnsServer server;
  server.load_script("slow.test TIMEOUT\nfast.test A 192.0.2.1\n");
  constexpr std::size_t kCount = 50;
  Collector collector(kCount);
  const auto start = std::chrono::steady_clock::now();
  {
    auto resolver = resolver_for(server);
    for (std::size_t i = 0; i < kCount; ++i) {
      resolver->resolve(i % 5 == 0 ? "fast.test" : "slow.test", 30s, collector.callback(i));
    }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // nobody waited for the 30 s
  EXPECT_EQ(collector.done(), kCount);
  EXPECT_TRUE(collector.each_exactly_once());
  for (std::size_t i = 0; i < kCount; ++i) {
    const auto result = collector.result(i);
    if (!result.ok()) {
      EXPECT_TRUE(result.error == ResolveError::other || result.error == ResolveError::timeout);
    }
  }
  EXPECT_FALSE(collector.result(1).ok());
}

TEST(Resolver, PendingRequestsAreBounded) {
  StubDnsServer server;
  server.load_script("slow.test TIMEOUT\n");
  ResolverOptions options;
  options.servers = {server.address()};
  options.max_outstanding = 4;
  Collector collector(10);
  {
    auto resolver = make_resolver(options);
    for (std::size_t i = 0; i < 10; ++i) resolver->resolve("slow.test", 30s, collector.callback(i));
    // The six beyond the bound were refused at once, before any answer could arrive.
    EXPECT_EQ(collector.done(), 6u);
    for (std::size_t i = 4; i < 10; ++i) EXPECT_EQ(collector.result(i).error, ResolveError::other);
  }
  EXPECT_EQ(collector.done(), 10u);
  EXPECT_TRUE(collector.each_exactly_once());
}

TEST(Resolver, CallbacksMayResolveAgain) {
  StubDnsServer server;
  server.add_address("a.test", "192.0.2.1");
  server.add_address("b.test", "192.0.2.2");
  auto resolver = resolver_for(server);
  std::promise<ResolveResult> second;
  resolver->resolve("a.test", kTimeout, [&](ResolveResult first) {
    EXPECT_TRUE(first.ok());
    resolver->resolve("b.test", kTimeout,
                      [&](ResolveResult result) { second.set_value(std::move(result)); });
  });
  auto future = second.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(texts(future.get()), std::vector<std::string>{"192.0.2.2"});
}

TEST(Resolver, ThrowingCallbackDoesNotStopTheResolver) {
  StubDnsServer server;
  server.add_address("a.test", "192.0.2.1");
  auto resolver = resolver_for(server);
  resolver->resolve("a.test", kTimeout, [](ResolveResult) { throw std::runtime_error("boom"); });
  EXPECT_TRUE(resolve_blocking(*resolver, "a.test", kTimeout).ok());
}

TEST(Resolver, ResolvesAfterTheStubSawGarbage) {
  StubDnsServer server;
  server.add_address("ok.test", "192.0.2.1");
  {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const std::uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12};
    for (int i = 0; i < 10; ++i) {
      ::sendto(fd, junk, sizeof junk - static_cast<std::size_t>(i), 0,
               reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    }
    ::close(fd);
  }
  auto resolver = resolver_for(server);
  EXPECT_TRUE(resolve_blocking(*resolver, "ok.test", kTimeout).ok());
}

}  // namespace
}  // namespace netfence::dns
