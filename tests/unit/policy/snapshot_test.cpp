#include "policy/snapshot.hpp"

#include <gtest/gtest.h>

namespace netfence::policy {
namespace {

std::shared_ptr<const Snapshot> make(std::vector<std::string> allow,
                                     std::vector<std::string> deny) {
  auto cfg = std::make_shared<Config>();
  cfg->allowed_domains = std::move(allow);
  cfg->denied_domains = std::move(deny);
  auto s = compile(cfg);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? s.value() : nullptr;
}

core::CanonicalHost host(std::string_view h) {
  auto c = core::canonicalize_host(h);
  EXPECT_TRUE(c.ok()) << h;
  return c.ok() ? c.value() : core::CanonicalHost{};
}

TEST(PatternSet, IndexedMatchingAgreesWithPatterns) {
  auto s = make(
      {"example.com", "*.github.com", "**.pypi.org", "api-?.x.net", "10.1.2.3", "fe80::1%eth0"},
      {});
  EXPECT_TRUE(s->allowed.matches(host("example.com")));
  EXPECT_FALSE(s->allowed.matches(host("www.example.com")));
  EXPECT_TRUE(s->allowed.matches(host("api.github.com")));
  EXPECT_FALSE(s->allowed.matches(host("github.com")));
  EXPECT_TRUE(s->allowed.matches(host("pypi.org")));
  EXPECT_TRUE(s->allowed.matches(host("a.b.pypi.org")));
  EXPECT_TRUE(s->allowed.matches(host("api-7.x.net")));
  EXPECT_FALSE(s->allowed.matches(host("api-77.x.net")));
  EXPECT_TRUE(s->allowed.matches(host("10.1.2.3")));
  EXPECT_FALSE(s->allowed.matches(host("10.1.2.4")));
  EXPECT_TRUE(s->allowed.matches(host("[fe80::1%25eth0]")));
  EXPECT_FALSE(s->allowed.matches(host("[fe80::1%25eth1]")));
}

TEST(PatternSet, ExactEntries) {
  auto s = make({"*.example.com", "localhost", "127.0.0.1", "fe80::1"}, {});
  EXPECT_TRUE(s->allowed.matches_exact(host("localhost")));
  EXPECT_TRUE(s->allowed.matches_exact(host("0x7f.1")));
  EXPECT_FALSE(s->allowed.matches_exact(host("a.example.com")));
  // A zone-less entry also counts for a zoned address (SPEC §6.2 rule 2).
  EXPECT_TRUE(s->allowed.matches_exact(host("fe80::1%eth3")));
  EXPECT_TRUE(s->allowed.contains_ip(*host("127.0.0.1").ip));
  EXPECT_FALSE(s->allowed.contains_ip(*host("127.0.0.2").ip));
}

TEST(PatternSet, StarMatchesEverythingIncludingIps) {
  auto s = make({"*"}, {});
  EXPECT_TRUE(s->allowed.matches(host("anything.test")));
  EXPECT_TRUE(s->allowed.matches(host("10.0.0.1")));
  EXPECT_TRUE(s->allowed.matches(host("[::1]")));
  // but "*" is not an exact entry.
  EXPECT_FALSE(s->allowed.matches_exact(host("10.0.0.1")));
}

TEST(PatternSet, TextsKeepOrder) {
  auto s = make({"b.com", "a.com", "*.c.com"}, {"evil.com"});
  EXPECT_EQ(s->allowed.texts(), (std::vector<std::string>{"b.com", "a.com", "*.c.com"}));
  EXPECT_EQ(s->denied.texts(), (std::vector<std::string>{"evil.com"}));
}

TEST(Snapshot, HandBuiltBadPatternIsAnError) {
  auto cfg = std::make_shared<Config>();
  cfg->denied_domains = {"ok.com", "*"};
  auto s = compile(cfg);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "network.denied_domains[1]: pattern \"*\" would match every host; use a concrete "
            "domain such as \"*.example.com\"");
}

TEST(Snapshot, CopiesSettings) {
  auto cfg = std::make_shared<Config>();
  cfg->enabled = true;
  cfg->mode = Mode::limited;
  cfg->mitm = true;
  cfg->allow_local_binding = true;
  auto s = compile(cfg);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s.value()->enabled);
  EXPECT_EQ(s.value()->mode, Mode::limited);
  EXPECT_TRUE(s.value()->mitm);
  EXPECT_TRUE(s.value()->allow_local_binding);
  EXPECT_EQ(s.value()->config, cfg);
}

}  // namespace
}  // namespace netfence::policy
