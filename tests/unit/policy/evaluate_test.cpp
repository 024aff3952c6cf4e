#include "policy/evaluate.hpp"

#include <gtest/gtest.h>

namespace netfence::policy {
namespace {

using core::IpAddress;

IpAddress ip(std::string_view s) {
  auto a = IpAddress::parse(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(IpAddress{});
}

struct Fixture {
  std::shared_ptr<Config> cfg = std::make_shared<Config>();
  std::vector<IpAddress> own = {ip("127.0.0.1"), ip("192.0.2.10"), ip("::1")};
  Environment env;
  core::CanonicalHost host;

  Fixture() {
    cfg->enabled = true;
    env.own_addresses = own;
    env.http = Endpoint{ip("127.0.0.1"), 3128};
    env.socks5 = Endpoint{ip("127.0.0.1"), 8081};
    env.admin = Endpoint{ip("127.0.0.1"), 8080};
  }

  std::shared_ptr<const Snapshot> snap() {
    auto s = compile(cfg);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.value();
  }

  RequestFacts facts(std::string_view target, std::uint16_t port, Protocol p = Protocol::http,
                     std::string_view method = "GET") {
    auto h = core::canonicalize_host(target);
    EXPECT_TRUE(h.ok()) << target;
    host = h.value();
    RequestFacts f;
    f.protocol = p;
    f.host = &host;
    f.port = port;
    f.method = method;
    return f;
  }

  // Runs the pipeline to the end, answering a resolution need with `answers` (empty = failure).
  Decision run(RequestFacts f, std::vector<IpAddress> answers = {}, int* resolutions = nullptr) {
    auto s = snap();
    for (int i = 0; i < 3; ++i) {
      Outcome o = evaluate(*s, env, f);
      if (o.need == Need::nothing) return o.decision;
      if (o.need == Need::resolution) {
        if (resolutions) ++*resolutions;
        f.resolution = Resolution{answers};
      } else {
        ADD_FAILURE() << "unexpected decider need";
        f.decider = DeciderAnswer{Verdict::deny, ""};
      }
    }
    ADD_FAILURE() << "evaluation did not finish";
    return {};
  }
};

void expect_refused(const Decision& d, Reason r, DecisionSource s) {
  ASSERT_TRUE(d.domain || d.non_domain);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.final().reason, r) << to_string(d.final().reason);
  EXPECT_EQ(d.final().source, s);
  EXPECT_EQ(d.final().verdict, Verdict::deny);
}

TEST(Evaluate, DisabledIsNonDomainProxyState) {
  Fixture fx;
  fx.cfg->enabled = false;
  fx.cfg->allowed_domains = {"*"};
  auto d = fx.run(fx.facts("example.com", 80));
  expect_refused(d, Reason::proxy_disabled, DecisionSource::proxy_state);
  EXPECT_FALSE(d.domain.has_value());
}

TEST(Evaluate, EmptyAllowlistBlocksEverything) {
  Fixture fx;
  int resolutions = 0;
  auto d = fx.run(fx.facts("example.com", 80), {ip("93.184.216.34")}, &resolutions);
  expect_refused(d, Reason::not_allowed, DecisionSource::baseline_policy);
  EXPECT_TRUE(d.domain.has_value());
  EXPECT_EQ(resolutions, 0) << "a refused name must never be resolved (SPEC §18 row 17)";
}

TEST(Evaluate, DenyWinsBeforeResolution) {
  Fixture fx;
  fx.cfg->allowed_domains = {"*.example.com"};
  fx.cfg->denied_domains = {"evil.example.com"};
  int resolutions = 0;
  auto d = fx.run(fx.facts("Evil.Example.Com.", 443), {ip("93.184.216.34")}, &resolutions);
  expect_refused(d, Reason::denied, DecisionSource::baseline_policy);
  EXPECT_EQ(resolutions, 0);
  expect_refused(fx.run(fx.facts("evilexample.com", 443)), Reason::not_allowed,
                 DecisionSource::baseline_policy);
  expect_refused(fx.run(fx.facts("example.com.evil.net", 443)), Reason::not_allowed,
                 DecisionSource::baseline_policy);
  auto ok = fx.run(fx.facts("_acme-challenge.example.com", 443), {ip("93.184.216.34")});
  EXPECT_TRUE(ok.allowed());
}

TEST(Evaluate, AllowedNameResolvesOnceAndPinsAddresses) {
  Fixture fx;
  fx.cfg->allowed_domains = {"example.com"};
  int resolutions = 0;
  auto d =
      fx.run(fx.facts("example.com", 80), {ip("2606:4700::1"), ip("93.184.216.34")}, &resolutions);
  ASSERT_TRUE(d.allowed());
  EXPECT_EQ(resolutions, 1);
  EXPECT_EQ(d.final().reason, Reason::allow);
  EXPECT_EQ(d.final().source, DecisionSource::baseline_policy);
  EXPECT_FALSE(d.final().override_allow);
  EXPECT_EQ(d.addresses, (std::vector<IpAddress>{ip("2606:4700::1"), ip("93.184.216.34")}));
  EXPECT_FALSE(d.non_domain.has_value());
}

TEST(Evaluate, DnsFailure) {
  Fixture fx;
  fx.cfg->allowed_domains = {"example.com"};
  expect_refused(fx.run(fx.facts("example.com", 80), {}), Reason::dns_failure,
                 DecisionSource::proxy_state);
}

// SPEC §18 row 1.
TEST(Evaluate, LoopbackSpellingsRefusedLocal) {
  Fixture fx;
  fx.cfg->allowed_domains = {"*"};
  for (auto h : {"127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1",
                 "017700000001", "127.0.0.1.", "0", "0.0.0.0"}) {
    auto d = fx.run(fx.facts(h, 80));
    expect_refused(d, Reason::not_allowed_local, DecisionSource::baseline_policy);
  }
}

// SPEC §18 row 14: one non-public answer blocks the whole name.
TEST(Evaluate, PrivateAnswersBlockTheName) {
  Fixture fx;
  fx.cfg->allowed_domains = {"*"};
  for (auto a :
       {"127.0.0.1", "10.0.0.1", "::1", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "192.0.2.10"}) {
    auto d = fx.run(fx.facts("allowed.test", 443), {ip(a)});
    expect_refused(d, Reason::not_allowed_local, DecisionSource::baseline_policy);
  }
  auto mixed = fx.run(fx.facts("allowed.test", 443), {ip("93.184.216.34"), ip("127.0.0.1")});
  expect_refused(mixed, Reason::not_allowed_local, DecisionSource::baseline_policy);
}

TEST(Evaluate, AllowlistedNameResolvingPrivateStaysBlocked) {
  Fixture fx;
  fx.cfg->allowed_domains = {"internal.test"};
  expect_refused(fx.run(fx.facts("internal.test", 80), {ip("10.0.0.5")}), Reason::not_allowed_local,
                 DecisionSource::baseline_policy);
  fx.cfg->allow_local_binding = true;
  EXPECT_TRUE(fx.run(fx.facts("internal.test", 80), {ip("10.0.0.5")}).allowed());
}

TEST(Evaluate, ExactLocalLiteralIsAllowedAndConnects) {
  Fixture fx;
  fx.cfg->allowed_domains = {"127.0.0.1", "localhost"};
  auto d = fx.run(fx.facts("127.0.0.1", 5432));
  ASSERT_TRUE(d.allowed());
  EXPECT_EQ(d.addresses, std::vector<IpAddress>{ip("127.0.0.1")});
  auto l = fx.run(fx.facts("localhost", 5432));
  ASSERT_TRUE(l.allowed());
  EXPECT_EQ(l.addresses, (std::vector<IpAddress>{ip("127.0.0.1"), ip("::1")}));
  // "*" is not an exact entry.
  fx.cfg->allowed_domains = {"*"};
  expect_refused(fx.run(fx.facts("127.0.0.1", 5432)), Reason::not_allowed_local,
                 DecisionSource::baseline_policy);
  expect_refused(fx.run(fx.facts("db.localhost", 5432)), Reason::not_allowed_local,
                 DecisionSource::baseline_policy);
}

// SPEC §18 row 3.
TEST(Evaluate, MetadataNeedsExactIpEvenWithLocalBinding) {
  Fixture fx;
  fx.cfg->allowed_domains = {"*"};
  fx.cfg->allow_local_binding = true;
  for (auto h : {"169.254.169.254", "2852039166", "0xa9fea9fe", "169.254.43518",
                 "[::ffff:a9fe:a9fe]", "[::a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]",
                 "[2002:a9fe:a9fe::]", "[2001:0:4136:e378:8000:63bf:5601:5601]", "[fd00:ec2::254]",
                 "168.63.129.16", "100.100.100.200"}) {
    expect_refused(fx.run(fx.facts(h, 80)), Reason::not_allowed_local,
                   DecisionSource::baseline_policy);
  }
  expect_refused(fx.run(fx.facts("metadata.test", 80), {ip("169.254.169.254")}),
                 Reason::not_allowed_local, DecisionSource::baseline_policy);
  fx.cfg->allowed_domains = {"169.254.169.254"};
  EXPECT_TRUE(fx.run(fx.facts("169.254.169.254", 80)).allowed());
}

// Rule 3 adds to rule 2: an exact metadata IP entry does not open it to names resolving there.
TEST(Evaluate, MetadataIpEntryDoesNotOpenItToNames) {
  Fixture fx;
  fx.cfg->allowed_domains = {"*", "169.254.169.254", "fd00:ec2::254"};
  expect_refused(fx.run(fx.facts("attacker.example", 80), {ip("169.254.169.254")}),
                 Reason::not_allowed_local, DecisionSource::baseline_policy);
  expect_refused(fx.run(fx.facts("attacker6.example", 80), {ip("fd00:ec2::254")}),
                 Reason::not_allowed_local, DecisionSource::baseline_policy);
  EXPECT_TRUE(fx.run(fx.facts("169.254.169.254", 80)).allowed());
  // With allow_local_binding the name passes rule 2, and rule 3 through the exact IP entry.
  fx.cfg->allow_local_binding = true;
  EXPECT_TRUE(fx.run(fx.facts("attacker.example", 80), {ip("169.254.169.254")}).allowed());
}

// SPEC §18 row 2.
TEST(Evaluate, IpDenyAppliesToEverySpellingAndToAnswers) {
  Fixture fx;
  fx.cfg->allowed_domains = {"*"};
  fx.cfg->denied_domains = {"93.184.216.34"};
  for (auto h : {"1572395042", "0x5db8d822", "[::ffff:93.184.216.34]"}) {
    expect_refused(fx.run(fx.facts(h, 80)), Reason::denied, DecisionSource::baseline_policy);
  }
  expect_refused(fx.run(fx.facts("example.com", 80), {ip("93.184.216.34")}), Reason::denied,
                 DecisionSource::baseline_policy);
}

// SPEC §18 row 18.
TEST(Evaluate, SelfTargetsRefusedEvenWithLocalBinding) {
  Fixture fx;
  fx.cfg->allowed_domains = {"*", "127.0.0.1", "localhost"};
  fx.cfg->allow_local_binding = true;
  struct Case {
    const char* host;
    std::uint16_t port;
  };
  for (auto c : {Case{"127.0.0.1", 8080}, Case{"127.0.0.1", 3128}, Case{"localhost", 8080},
                 Case{"127.0.0.1", 8081}, Case{"[::ffff:127.0.0.1]", 8080}, Case{"0.0.0.0", 8080},
                 Case{"0.0.0.0", 3128}, Case{"127.0.0.2", 8080}, Case{"192.0.2.10", 8080},
                 Case{"[::]", 8081}}) {
    auto d = fx.run(fx.facts(c.host, c.port));
    expect_refused(d, Reason::self_target, DecisionSource::proxy_state);
  }
  expect_refused(fx.run(fx.facts("name.test", 8080), {ip("127.0.0.1")}), Reason::self_target,
                 DecisionSource::proxy_state);
  // Another port on loopback is fine with allow_local_binding.
  EXPECT_TRUE(fx.run(fx.facts("127.0.0.1", 5432)).allowed());
  // 127.0.0.2:3128 is not the HTTP listener's IP.
  EXPECT_TRUE(fx.run(fx.facts("127.0.0.2", 3128)).allowed());
}

TEST(Evaluate, WildcardListenerMakesEveryOwnAddressSelf) {
  Fixture fx;
  fx.cfg->allowed_domains = {"*"};
  fx.cfg->allow_local_binding = true;
  fx.env.http = Endpoint{ip("0.0.0.0"), 3128};
  expect_refused(fx.run(fx.facts("192.0.2.10", 3128)), Reason::self_target,
                 DecisionSource::proxy_state);
  expect_refused(fx.run(fx.facts("127.0.0.5", 3128)), Reason::self_target,
                 DecisionSource::proxy_state);
}

TEST(Evaluate, DeciderConsultedOnlyForNotAllowed) {
  Fixture fx;
  fx.cfg->allowed_domains = {"allowed.test"};
  fx.cfg->denied_domains = {"denied.test"};
  auto s = fx.snap();

  auto f = fx.facts("denied.test", 443);
  f.decider_installed = true;
  EXPECT_EQ(evaluate(*s, fx.env, f).need, Need::nothing);

  f = fx.facts("other.test", 443);
  f.decider_installed = true;
  EXPECT_EQ(evaluate(*s, fx.env, f).need, Need::decider);

  f.decider = DeciderAnswer{Verdict::ask, ""};
  auto o = evaluate(*s, fx.env, f);
  ASSERT_EQ(o.need, Need::nothing);
  EXPECT_EQ(o.decision.final().verdict, Verdict::ask);
  EXPECT_EQ(o.decision.final().source, DecisionSource::decider);
  EXPECT_EQ(o.decision.final().reason_text(), "policy_denied");

  f.decider = DeciderAnswer{Verdict::ask, "not_allowed"};
  o = evaluate(*s, fx.env, f);
  EXPECT_EQ(o.decision.final().verdict, Verdict::ask);
  EXPECT_EQ(o.decision.final().source, DecisionSource::decider);
  EXPECT_EQ(o.decision.final().reason_text(), "not_allowed");
  EXPECT_EQ(info(o.decision.final().reason).x_proxy_error, "blocked-by-allowlist");

  f.decider = DeciderAnswer{Verdict::deny, "allow"};  // not a refusal reason: policy row
  o = evaluate(*s, fx.env, f);
  EXPECT_EQ(info(o.decision.final().reason).x_proxy_error, "blocked-by-policy");

  f.decider = DeciderAnswer{Verdict::deny, "user_said_no"};
  o = evaluate(*s, fx.env, f);
  EXPECT_EQ(o.decision.final().reason_text(), "user_said_no");
  EXPECT_EQ(info(o.decision.final().reason).x_proxy_error, "blocked-by-policy");
}

TEST(Evaluate, DeciderAllowIsOverrideAndLaterStepsStillApply) {
  Fixture fx;
  auto s = fx.snap();
  auto f = fx.facts("other.test", 443, Protocol::https_connect, "CONNECT");
  f.decider_installed = true;
  f.decider = DeciderAnswer{Verdict::allow, ""};
  EXPECT_EQ(evaluate(*s, fx.env, f).need, Need::resolution);
  f.resolution = Resolution{{ip("93.184.216.34")}};
  auto o = evaluate(*s, fx.env, f);
  ASSERT_TRUE(o.decision.allowed());
  EXPECT_TRUE(o.decision.final().override_allow);
  EXPECT_EQ(o.decision.final().source, DecisionSource::decider);
  EXPECT_EQ(o.decision.final().reason, Reason::not_allowed);

  f.resolution = Resolution{{ip("10.0.0.1")}};
  o = evaluate(*s, fx.env, f);
  expect_refused(o.decision, Reason::not_allowed_local, DecisionSource::baseline_policy);
  EXPECT_FALSE(o.decision.final().override_allow);
}

// SPEC §18 row 22 and §10.1.
TEST(Evaluate, LimitedModeGuard) {
  Fixture fx;
  fx.cfg->allowed_domains = {"example.com"};
  fx.cfg->mode = Mode::limited;
  std::vector<IpAddress> pub = {ip("93.184.216.34")};
  for (auto m : {"GET", "HEAD", "OPTIONS"}) {
    EXPECT_TRUE(fx.run(fx.facts("example.com", 80, Protocol::http, m), pub).allowed()) << m;
  }
  for (auto m : {"POST", "PUT", "DELETE", "PATCH", "get"}) {
    auto d = fx.run(fx.facts("example.com", 80, Protocol::http, m), pub);
    expect_refused(d, Reason::method_not_allowed, DecisionSource::mode_guard);
    ASSERT_TRUE(d.domain.has_value()) << "the host policy ran first and allowed";
    EXPECT_EQ(d.domain->verdict, Verdict::allow);
  }
  auto f = fx.facts("example.com", 80);
  f.has_method_override = true;
  expect_refused(fx.run(f, pub), Reason::method_not_allowed, DecisionSource::mode_guard);
  f = fx.facts("example.com", 80);
  f.has_upgrade = true;
  expect_refused(fx.run(f, pub), Reason::method_not_allowed, DecisionSource::mode_guard);
  f = fx.facts("example.com", 80);
  f.has_body = true;
  expect_refused(fx.run(f, pub), Reason::method_not_allowed, DecisionSource::mode_guard);
  // A denylisted host in limited mode reports denied (host policy first).
  fx.cfg->denied_domains = {"example.com"};
  expect_refused(fx.run(fx.facts("example.com", 80, Protocol::http, "POST"), pub), Reason::denied,
                 DecisionSource::baseline_policy);
}

TEST(Evaluate, LimitedModeConnect) {
  Fixture fx;
  fx.cfg->allowed_domains = {"example.com"};
  fx.cfg->mode = Mode::limited;
  std::vector<IpAddress> pub = {ip("93.184.216.34")};
  auto d = fx.run(fx.facts("example.com", 443, Protocol::https_connect, "CONNECT"), pub);
  expect_refused(d, Reason::mitm_required, DecisionSource::mode_guard);
  fx.cfg->mitm = true;
  d = fx.run(fx.facts("example.com", 443, Protocol::https_connect, "CONNECT"), pub);
  EXPECT_TRUE(d.allowed());
  EXPECT_TRUE(d.intercept);
  // Full mode never intercepts, even with mitm = true (compat).
  fx.cfg->mode = Mode::full;
  d = fx.run(fx.facts("example.com", 443, Protocol::https_connect, "CONNECT"), pub);
  EXPECT_TRUE(d.allowed());
  EXPECT_FALSE(d.intercept);
}

TEST(Evaluate, Socks5InLimitedModeRefusedBeforeHostPolicy) {
  Fixture fx;
  fx.cfg->allowed_domains = {"example.com"};
  fx.cfg->denied_domains = {"evil.test"};
  fx.cfg->mode = Mode::limited;
  for (auto p : {Protocol::socks5_tcp, Protocol::socks5_udp}) {
    auto d = fx.run(fx.facts("evil.test", 443, p, ""));
    expect_refused(d, Reason::method_not_allowed, DecisionSource::mode_guard);
    EXPECT_FALSE(d.domain.has_value());
  }
}

TEST(Evaluate, NoDnsSkipsResolutionForNames) {
  Fixture fx;
  fx.cfg->allowed_domains = {"example.com"};
  auto f = fx.facts("example.com", 443);
  f.skip_resolution = true;
  auto o = evaluate(*fx.snap(), fx.env, f);
  ASSERT_EQ(o.need, Need::nothing);
  EXPECT_TRUE(o.decision.allowed());
  EXPECT_TRUE(o.decision.addresses.empty());
  // IP literals are still vetted.
  fx.cfg->allowed_domains = {"*"};
  f = fx.facts("10.0.0.1", 443);
  f.skip_resolution = true;
  expect_refused(evaluate(*fx.snap(), fx.env, f).decision, Reason::not_allowed_local,
                 DecisionSource::baseline_policy);
}

// SPEC §11 and §15.3: unix-socket requests in step order, every outcome a non_domain judgement.
TEST(EvaluateUnixSocket, StepsInOrder) {
  Fixture fx;
  UnixSocketFacts f;
  f.method = "GET";
  f.admitted = true;
  Decision d = evaluate_unix_socket(*fx.snap(), f);
  ASSERT_TRUE(d.non_domain);
  EXPECT_FALSE(d.domain);
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.final().reason, Reason::allow);
  EXPECT_EQ(d.final().source, DecisionSource::proxy_state);

  f.admitted = false;
  expect_refused(evaluate_unix_socket(*fx.snap(), f), Reason::not_allowed,
                 DecisionSource::proxy_state);
  f.platform_supported = false;
  expect_refused(evaluate_unix_socket(*fx.snap(), f), Reason::unix_socket_unsupported,
                 DecisionSource::proxy_state);

  fx.cfg->mode = Mode::limited;
  f.method = "POST";
  expect_refused(evaluate_unix_socket(*fx.snap(), f), Reason::method_not_allowed,
                 DecisionSource::mode_guard);
  f.method = "GET";
  f.has_upgrade = true;
  expect_refused(evaluate_unix_socket(*fx.snap(), f), Reason::method_not_allowed,
                 DecisionSource::mode_guard);
  f.has_upgrade = false;
  f.has_body = true;
  expect_refused(evaluate_unix_socket(*fx.snap(), f), Reason::method_not_allowed,
                 DecisionSource::mode_guard);

  fx.cfg->enabled = false;
  expect_refused(evaluate_unix_socket(*fx.snap(), f), Reason::proxy_disabled,
                 DecisionSource::proxy_state);
}

}  // namespace
}  // namespace netfence::policy
