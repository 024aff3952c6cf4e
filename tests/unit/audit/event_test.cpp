// The audit event value (SPEC §15.2, §15.3): make_events for every row of both §15.3 tables the
// policy engine can produce, the event.timestamp format, the originator rule, and the JSON-lines
// encoding checked byte for byte against golden files (§15.4).
#include "audit/event.hpp"

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

using core::IpAddress;
using policy::DeciderAnswer;
using policy::Decision;
using policy::Judgement;
using policy::Reason;
using policy::RequestFacts;

// 2026-04-28T09:15:02.123456789Z: the instant of the §15.4 example line.
constexpr std::int64_t kNow = 1777367702123456789;
constexpr std::string_view kNowText = "2026-04-28T09:15:02.123Z";
constexpr std::string_view kClient = "127.0.0.1:53122";

IpAddress ip(std::string_view s) {
  auto a = IpAddress::parse(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(IpAddress{});
}

// A compiled policy, an environment with listeners on the default ports, and an evaluation loop
// that answers the engine's needs (resolution, decider) the way the front ends do.
struct Engine {
  std::shared_ptr<Config> cfg = std::make_shared<Config>();
  std::vector<IpAddress> own = {ip("127.0.0.1"), ip("::1")};
  policy::Environment env;
  core::CanonicalHost host;

  Engine() {
    cfg->enabled = true;
    env.own_addresses = own;
    env.http = policy::Endpoint{ip("127.0.0.1"), 3128};
    env.socks5 = policy::Endpoint{ip("127.0.0.1"), 8081};
    env.admin = policy::Endpoint{ip("127.0.0.1"), 8080};
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

  // `answers` empty = resolution failure; `decider` = what an installed decider answers.
  Decision run(RequestFacts f, std::vector<IpAddress> answers = {ip("93.184.216.34")},
               std::optional<DeciderAnswer> decider = std::nullopt) {
    auto compiled = policy::compile(cfg);
    EXPECT_TRUE(compiled.ok()) << (compiled.ok() ? "" : compiled.error().message);
    const auto snap = compiled.value();
    f.decider_installed = decider.has_value();
    for (int i = 0; i < 3; ++i) {
      policy::Outcome o = policy::evaluate(*snap, env, f);
      if (o.need == policy::Need::nothing) return o.decision;
      if (o.need == policy::Need::resolution) {
        f.resolution = policy::Resolution{answers};
      } else {
        f.decider = *decider;
      }
    }
    ADD_FAILURE() << "evaluation did not finish";
    return {};
  }

  std::vector<AuditEvent> events(const Decision& d, const RequestFacts& f,
                                 const AuditMetadata& meta = {}) {
    EventContext ctx;
    ctx.client = kClient;
    return make_events(d, f, ctx, meta, kNow);
  }
};

// One expected event row of the §15.3 tables.
struct Row {
  Scope scope;
  Verdict decision;
  DecisionSource source;
  std::string reason;
  bool override_allow = false;
};

void expect_row(const AuditEvent& e, const Row& r) {
  EXPECT_EQ(e.scope, r.scope);
  EXPECT_EQ(e.decision, r.decision) << to_string(e.decision);
  EXPECT_EQ(e.source, r.source) << to_string(e.source);
  EXPECT_EQ(e.reason, r.reason);
  EXPECT_EQ(e.override_allow, r.override_allow);
}

void expect_target(const AuditEvent& e, Protocol p, std::string_view address, std::uint16_t port,
                   std::string_view method) {
  EXPECT_EQ(e.protocol, p) << to_string(e.protocol);
  EXPECT_EQ(e.server_address, address);
  EXPECT_EQ(e.server_port, port);
  EXPECT_EQ(e.method, method);
  EXPECT_EQ(e.client_address, kClient);
  EXPECT_EQ(e.timestamp, kNowText);
  EXPECT_EQ(e.time_unix_nano, kNow);
}

// ---------------------------------------------------------------------------------------------
// §15.3, first table: exactly one `domain` event per host policy evaluation.

TEST(MakeEvents, AllowedByTheLists) {
  Engine en;
  en.cfg->allowed_domains = {"example.com"};
  auto f = en.facts("Example.COM.", 80);
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::allow, DecisionSource::baseline_policy, "allow"});
  expect_target(ev[0], Protocol::http, "example.com", 80, "GET");
}

TEST(MakeEvents, DeciderAllowIsAnOverrideOfNotAllowed) {
  Engine en;  // empty allowlist: every host misses step 4 and goes to the decider
  auto f = en.facts("api.example.com", 443, Protocol::https_connect, "CONNECT");
  auto d = en.run(f, {ip("93.184.216.34")}, DeciderAnswer{Verdict::allow, "ignored"});
  auto ev = en.events(d, f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::allow, DecisionSource::decider, "not_allowed", true});
  expect_target(ev[0], Protocol::https_connect, "api.example.com", 443, "CONNECT");
}

TEST(MakeEvents, DeciderDenyCarriesTheDecidersReason) {
  Engine en;
  auto f = en.facts("example.net", 80);
  auto ev = en.events(en.run(f, {}, DeciderAnswer{Verdict::deny, "blocked_by_admin"}), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::decider, "blocked_by_admin"});
  expect_target(ev[0], Protocol::http, "example.net", 80, "GET");
}

TEST(MakeEvents, DeciderAskCarriesTheDecidersReason) {
  Engine en;
  auto f = en.facts("example.net", 80);
  auto ev = en.events(en.run(f, {}, DeciderAnswer{Verdict::ask, "needs_user_approval"}), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::ask, DecisionSource::decider, "needs_user_approval"});
}

TEST(MakeEvents, DeciderAnsweringWithASpecReasonKeepsIt) {
  // The §16 example asks with "not_allowed": the event says what the decider said.
  Engine en;
  auto f = en.facts("example.net", 80);
  auto ev = en.events(en.run(f, {}, DeciderAnswer{Verdict::ask, "not_allowed"}), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::ask, DecisionSource::decider, "not_allowed"});
}

TEST(MakeEvents, DeciderTimeoutIsDenyPolicyDenied) {
  // A timeout (or exception) reaches the engine as a deny without a reason (§6.5).
  Engine en;
  auto f = en.facts("example.net", 80);
  auto ev = en.events(en.run(f, {}, DeciderAnswer{Verdict::deny, ""}), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::decider, "policy_denied"});
}

TEST(MakeEvents, DeciderReasonsThatAreTooLongOrNotPrintableBecomePolicyDenied) {
  Engine en;
  auto f = en.facts("example.net", 80);
  for (const std::string& reason :
       {std::string(129, 'r'), std::string("tab\there"), std::string("nl\nx"),
        std::string("del\x7f"), std::string("nul\0x", 5)}) {
    auto ev = en.events(en.run(f, {}, DeciderAnswer{Verdict::deny, reason}), f);
    ASSERT_EQ(ev.size(), 1u);
    expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::decider, "policy_denied"});
  }
  // 128 bytes is still the decider's own text.
  auto ev = en.events(en.run(f, {}, DeciderAnswer{Verdict::deny, std::string(128, 'r')}), f);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].reason, std::string(128, 'r'));
}

TEST(MakeEvents, AllowlistMissWithoutDecider) {
  Engine en;
  en.cfg->allowed_domains = {"example.com"};
  auto f = en.facts("evil.net", 8080);
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::baseline_policy, "not_allowed"});
  expect_target(ev[0], Protocol::http, "evil.net", 8080, "GET");
}

TEST(MakeEvents, Denied) {
  Engine en;
  en.cfg->allowed_domains = {"*.example.com"};
  en.cfg->denied_domains = {"evil.example.com"};
  auto f = en.facts("evil.example.com", 443, Protocol::socks5_tcp, "");
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::baseline_policy, "denied"});
  expect_target(ev[0], Protocol::socks5_tcp, "evil.example.com", 443, "none");
}

TEST(MakeEvents, DeniedAfterADeciderAllowIsBaselineWithoutOverride) {
  // §6.2 rule 4: an IP deny entry applies to the resolved address after the decider's Allow.
  Engine en;
  en.cfg->denied_domains = {"93.184.216.34"};
  auto f = en.facts("example.org", 80);
  auto d = en.run(f, {ip("93.184.216.34")}, DeciderAnswer{Verdict::allow, ""});
  auto ev = en.events(d, f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::baseline_policy, "denied"});
}

TEST(MakeEvents, NotAllowedLocal) {
  Engine en;
  en.cfg->allowed_domains = {"*"};
  auto f = en.facts("10.0.0.5", 5432, Protocol::https_connect, "CONNECT");
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0],
             {Scope::domain, Verdict::deny, DecisionSource::baseline_policy, "not_allowed_local"});
  expect_target(ev[0], Protocol::https_connect, "10.0.0.5", 5432, "CONNECT");
}

TEST(MakeEvents, NotAllowedLocalAfterADeciderAllowIsBaselineWithoutOverride) {
  Engine en;
  auto f = en.facts("internal.example", 80);
  auto d = en.run(f, {ip("10.1.2.3")}, DeciderAnswer{Verdict::allow, ""});
  auto ev = en.events(d, f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0],
             {Scope::domain, Verdict::deny, DecisionSource::baseline_policy, "not_allowed_local"});
}

TEST(MakeEvents, DnsFailure) {
  Engine en;
  en.cfg->allowed_domains = {"example.com"};
  auto f = en.facts("example.com", 80);
  auto ev = en.events(en.run(f, {}), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::proxy_state, "dns_failure"});
  expect_target(ev[0], Protocol::http, "example.com", 80, "GET");
}

TEST(MakeEvents, SelfTarget) {
  Engine en;
  en.cfg->allowed_domains = {"*"};
  en.cfg->allow_local_binding = true;
  auto f = en.facts("127.0.0.1", 8080, Protocol::http, "POST");
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::proxy_state, "self_target"});
  expect_target(ev[0], Protocol::http, "127.0.0.1", 8080, "POST");
}

// §6.5: the decider is not asked about a target a later step refuses without DNS (here the
// proxy itself): the allowlist miss is the refusal, and no override is recorded.
TEST(MakeEvents, SelfTargetIsNotReferredToTheDecider) {
  Engine en;
  en.cfg->allow_local_binding = true;
  auto f = en.facts("localhost", 3128, Protocol::https_connect, "CONNECT");
  auto d = en.run(f, {}, DeciderAnswer{Verdict::allow, ""});
  auto ev = en.events(d, f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::baseline_policy, "not_allowed"});
  expect_target(ev[0], Protocol::https_connect, "localhost", 3128, "CONNECT");
}

// ---------------------------------------------------------------------------------------------
// §15.3, second table: `non_domain` events (override always false).

TEST(MakeEvents, ProxyDisabledForHttpConnectAndSocks) {
  Engine en;
  en.cfg->enabled = false;
  en.cfg->allowed_domains = {"*"};
  struct Case {
    Protocol p;
    std::string_view method, expected_method;
    std::uint16_t port;
  };
  for (const Case& c :
       {Case{Protocol::http, "PUT", "PUT", 80},
        Case{Protocol::https_connect, "CONNECT", "CONNECT", 443},
        Case{Protocol::socks5_tcp, "", "none", 22}, Case{Protocol::socks5_udp, "", "none", 53}}) {
    SCOPED_TRACE(std::string(to_string(c.p)));
    auto f = en.facts("example.com", c.port, c.p, c.method);
    auto ev = en.events(en.run(f), f);
    ASSERT_EQ(ev.size(), 1u) << "no domain event: the host policy did not run";
    expect_row(ev[0],
               {Scope::non_domain, Verdict::deny, DecisionSource::proxy_state, "proxy_disabled"});
    expect_target(ev[0], c.p, "example.com", c.port, c.expected_method);
  }
}

TEST(MakeEvents, ModeGuardMethodAfterAnAllowDomainEvent) {
  Engine en;
  en.cfg->mode = Mode::limited;
  en.cfg->allowed_domains = {"example.com"};
  auto f = en.facts("example.com", 80, Protocol::http, "POST");
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 2u);
  expect_row(ev[0], {Scope::domain, Verdict::allow, DecisionSource::baseline_policy, "allow"});
  expect_row(ev[1],
             {Scope::non_domain, Verdict::deny, DecisionSource::mode_guard, "method_not_allowed"});
  for (const auto& e : ev) expect_target(e, Protocol::http, "example.com", 80, "POST");
}

TEST(MakeEvents, ModeGuardOnHeadersAndBodiesAlsoGivesTwoEvents) {
  Engine en;
  en.cfg->mode = Mode::limited;
  en.cfg->allowed_domains = {"example.com"};
  for (int which = 0; which < 3; ++which) {
    auto f = en.facts("example.com", 80, Protocol::http, "GET");
    f.has_upgrade = which == 0;
    f.has_method_override = which == 1;
    f.has_body = which == 2;
    auto ev = en.events(en.run(f), f);
    ASSERT_EQ(ev.size(), 2u) << which;
    EXPECT_EQ(ev[0].scope, Scope::domain);
    expect_row(ev[1], {Scope::non_domain, Verdict::deny, DecisionSource::mode_guard,
                       "method_not_allowed"});
    EXPECT_EQ(ev[1].method, "GET");
  }
  // A read-only request in limited mode: one allow event and nothing else.
  auto f = en.facts("example.com", 80, Protocol::http, "HEAD");
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::allow, DecisionSource::baseline_policy, "allow"});
}

TEST(MakeEvents, MitmInnerRequestMethodGuardUsesProtocolHttps) {
  Engine en;
  en.cfg->mode = Mode::limited;
  en.cfg->mitm = true;
  en.cfg->allowed_domains = {"example.com"};
  auto f = en.facts("example.com", 443, Protocol::https, "DELETE");
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 2u);
  expect_row(ev[0], {Scope::domain, Verdict::allow, DecisionSource::baseline_policy, "allow"});
  expect_row(ev[1],
             {Scope::non_domain, Verdict::deny, DecisionSource::mode_guard, "method_not_allowed"});
  for (const auto& e : ev) expect_target(e, Protocol::https, "example.com", 443, "DELETE");
}

// §6.5: a write in limited mode is refused by the mode guard whatever the decider says, so the
// decider is not asked; a read is, and the mode guard then has nothing to refuse.
TEST(MakeEvents, ModeGuardRefusalsAreNotReferredToTheDecider) {
  Engine en;
  en.cfg->mode = Mode::limited;
  auto f = en.facts("example.com", 80, Protocol::http, "PATCH");
  auto ev = en.events(en.run(f, {ip("93.184.216.34")}, DeciderAnswer{Verdict::allow, ""}), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::baseline_policy, "not_allowed"});
  auto g = en.facts("example.com", 80, Protocol::http, "GET");
  ev = en.events(en.run(g, {ip("93.184.216.34")}, DeciderAnswer{Verdict::allow, ""}), g);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::allow, DecisionSource::decider, "not_allowed", true});
}

TEST(MakeEvents, MitmRequiredAfterAnAllowDomainEvent) {
  Engine en;
  en.cfg->mode = Mode::limited;
  en.cfg->allowed_domains = {"example.com"};
  auto f = en.facts("example.com", 443, Protocol::https_connect, "CONNECT");
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 2u);
  expect_row(ev[0], {Scope::domain, Verdict::allow, DecisionSource::baseline_policy, "allow"});
  expect_row(ev[1],
             {Scope::non_domain, Verdict::deny, DecisionSource::mode_guard, "mitm_required"});
  for (const auto& e : ev) expect_target(e, Protocol::https_connect, "example.com", 443, "CONNECT");
}

TEST(MakeEvents, LimitedConnectWithMitmIsOneAllowEvent) {
  Engine en;
  en.cfg->mode = Mode::limited;
  en.cfg->mitm = true;
  en.cfg->allowed_domains = {"example.com"};
  auto f = en.facts("example.com", 443, Protocol::https_connect, "CONNECT");
  auto d = en.run(f);
  EXPECT_TRUE(d.intercept);
  auto ev = en.events(d, f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::allow, DecisionSource::baseline_policy, "allow"});
}

TEST(MakeEvents, Socks5InLimitedModeIsOneNonDomainEventWithMethodNone) {
  Engine en;
  en.cfg->mode = Mode::limited;
  en.cfg->allowed_domains = {"example.com"};
  for (Protocol p : {Protocol::socks5_tcp, Protocol::socks5_udp}) {
    SCOPED_TRACE(std::string(to_string(p)));
    // Even a denylisted or unknown host: the mode guard runs before the host policy (§9.4).
    for (std::string_view target : {"example.com", "evil.net", "0.0.0.0"}) {
      auto f = en.facts(target, 443, p, "");
      auto ev = en.events(en.run(f), f);
      ASSERT_EQ(ev.size(), 1u) << target;
      expect_row(ev[0], {Scope::non_domain, Verdict::deny, DecisionSource::mode_guard,
                         "method_not_allowed"});
      expect_target(ev[0], p, f.host->text, 443, "none");
    }
  }
}

TEST(MakeEvents, DeniedHostInLimitedModeReportsOnlyDenied) {
  // §10.1: a denylisted host in limited mode reports `denied` (host policy first), one event.
  Engine en;
  en.cfg->mode = Mode::limited;
  en.cfg->allowed_domains = {"*"};
  en.cfg->denied_domains = {"evil.net"};
  auto f = en.facts("evil.net", 80, Protocol::http, "POST");
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 1u);
  expect_row(ev[0], {Scope::domain, Verdict::deny, DecisionSource::baseline_policy, "denied"});
}

// Unix-socket requests (§11): the host policy does not run; the front end builds a non_domain
// judgement and sets EventContext::unix_socket.
TEST(MakeEvents, UnixSocketRowsUsePlaceholderEndpointAndProtocolHttp) {
  struct Case {
    Verdict v;
    DecisionSource s;
    Reason r;
    std::string_view method, expected_reason;
  };
  const Case cases[] = {
      {Verdict::deny, DecisionSource::proxy_state, Reason::proxy_disabled, "GET", "proxy_disabled"},
      {Verdict::deny, DecisionSource::mode_guard, Reason::method_not_allowed, "POST",
       "method_not_allowed"},
      {Verdict::deny, DecisionSource::proxy_state, Reason::unix_socket_unsupported, "GET",
       "unix_socket_unsupported"},
      {Verdict::deny, DecisionSource::proxy_state, Reason::not_allowed, "DELETE", "not_allowed"},
      {Verdict::allow, DecisionSource::proxy_state, Reason::allow, "GET", "allow"},
  };
  auto host = core::canonicalize_host("localhost");
  ASSERT_TRUE(host.ok());
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.expected_reason));
    Decision d;
    Judgement j;
    j.verdict = c.v;
    j.source = c.s;
    j.reason = c.r;
    d.non_domain = j;
    RequestFacts f;
    f.protocol = Protocol::unix_socket;
    f.host = &host.value();
    f.port = 80;
    f.method = c.method;
    EventContext ctx;
    ctx.client = kClient;
    ctx.unix_socket = true;
    auto ev = make_events(d, f, ctx, {}, kNow);
    ASSERT_EQ(ev.size(), 1u);
    expect_row(ev[0], {Scope::non_domain, c.v, c.s, std::string(c.expected_reason)});
    expect_target(ev[0], Protocol::http, "unix-socket", 0, c.method);
    EXPECT_EQ(ev[0].server_address, kUnixSocketAddress);
  }
}

TEST(MakeEvents, UnixSocketProtocolIsReportedAsHttpEvenWithoutTheContextFlag) {
  auto host = core::canonicalize_host("localhost");
  ASSERT_TRUE(host.ok());
  Decision d;
  Judgement j;
  j.reason = Reason::not_allowed;
  j.source = DecisionSource::proxy_state;
  d.non_domain = j;
  RequestFacts f;
  f.protocol = Protocol::unix_socket;
  f.host = &host.value();
  f.method = "GET";
  auto ev = make_events(d, f, {}, {}, kNow);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].protocol, Protocol::http);
}

// ---------------------------------------------------------------------------------------------
// Fields that do not depend on the row.

TEST(MakeEvents, UnknownClientAndMethodNone) {
  Engine en;
  en.cfg->allowed_domains = {"*"};
  auto f = en.facts("example.com", 443, Protocol::socks5_udp, "");
  auto d = en.run(f);
  auto ev = make_events(d, f, {}, {}, kNow);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].client_address, "unknown");
  EXPECT_EQ(ev[0].method, "none");
  EXPECT_EQ(ev[0].protocol, Protocol::socks5_udp);
}

TEST(MakeEvents, IPv6TargetsUseTheCanonicalHostWithoutBrackets) {
  Engine en;
  en.cfg->allowed_domains = {"*"};
  auto f = en.facts("[2606:4700:4700:0:0:0:0:1111]", 443, Protocol::https_connect, "CONNECT");
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].server_address, "2606:4700:4700::1111");
}

TEST(MakeEvents, MetadataIsCopiedAndTheOriginatorSanitised) {
  Engine en;
  en.cfg->allowed_domains = {"example.com"};
  en.cfg->mode = Mode::limited;
  AuditMetadata meta;
  meta.conversation_id = "conv-1";
  meta.app_version = "0.42.0";
  meta.user_account_id = "acct-9";
  meta.auth_mode = "api_key";
  meta.originator = "codex cli";  // a space: replaced
  meta.user_email = "dev@example.com";
  meta.terminal_type = "xterm";
  meta.model = "gpt-5";
  meta.slug = "s";
  auto f = en.facts("example.com", 80, Protocol::http, "POST");
  auto ev = en.events(en.run(f), f, meta);
  ASSERT_EQ(ev.size(), 2u);
  for (const auto& e : ev) {  // both events of one request carry the metadata
    EXPECT_EQ(e.conversation_id, "conv-1");
    EXPECT_EQ(e.app_version, "0.42.0");
    EXPECT_EQ(e.user_account_id, "acct-9");
    EXPECT_EQ(e.auth_mode, "api_key");
    EXPECT_EQ(e.originator, "netfence");
    EXPECT_EQ(e.user_email, "dev@example.com");
    EXPECT_EQ(e.terminal_type, "xterm");
    EXPECT_EQ(e.model, "gpt-5");
    EXPECT_EQ(e.slug, "s");
  }
  meta.originator = "codex_cli_rs";
  EXPECT_EQ(en.events(en.run(f), f, meta)[0].originator, "codex_cli_rs");
}

TEST(MakeEvents, UnsetMetadataStaysUnset) {
  Engine en;
  en.cfg->allowed_domains = {"example.com"};
  auto f = en.facts("example.com", 80);
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 1u);
  const AuditEvent& e = ev[0];
  EXPECT_FALSE(e.conversation_id || e.app_version || e.auth_mode || e.originator ||
               e.user_account_id || e.user_email || e.terminal_type || e.model || e.slug);
}

// ---------------------------------------------------------------------------------------------
// event.timestamp (§15.2): RFC 3339 UTC, milliseconds, Z, exactly 24 characters, truncated.

constexpr std::int64_t kSec = 1'000'000'000;

TEST(FormatTimestamp, Epoch) { EXPECT_EQ(format_timestamp(0), "1970-01-01T00:00:00.000Z"); }

TEST(FormatTimestamp, TruncatesNeverRounds) {
  EXPECT_EQ(format_timestamp(999'999'999), "1970-01-01T00:00:00.999Z");
  EXPECT_EQ(format_timestamp(999'999), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(1'999'999), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(format_timestamp(kNow), kNowText);
  // The last nanosecond of a year must not roll over into the next one.
  EXPECT_EQ(format_timestamp(1735689599 * kSec + 999'999'999), "2024-12-31T23:59:59.999Z");
  EXPECT_EQ(format_timestamp(946684799 * kSec + 999'500'000), "1999-12-31T23:59:59.999Z");
}

TEST(FormatTimestamp, LeapYears) {
  EXPECT_EQ(format_timestamp(1709210096 * kSec + 789'000'000), "2024-02-29T12:34:56.789Z");
  // 2000 is a leap year (divisible by 400), 2100 is not (divisible by 100).
  EXPECT_EQ(format_timestamp(951868799 * kSec), "2000-02-29T23:59:59.000Z");
  EXPECT_EQ(format_timestamp(951868799 * kSec + kSec), "2000-03-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(4107542399 * kSec), "2100-02-28T23:59:59.000Z");
  EXPECT_EQ(format_timestamp(4107542399 * kSec + kSec), "2100-03-01T00:00:00.000Z");
  // Day 366 of a leap year, and 2023 (not leap) going from Feb 28 to Mar 1.
  EXPECT_EQ(format_timestamp((1735689599 - 86399) * kSec), "2024-12-31T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(1677628800 * kSec - 1), "2023-02-28T23:59:59.999Z");
}

TEST(FormatTimestamp, AlwaysExactly24CharactersInTheRfc3339Shape) {
  const std::int64_t samples[] = {0,
                                  1,
                                  999'999'999,
                                  kNow,
                                  1709210096 * kSec + 5'000'000,
                                  4107542399 * kSec + 999'999'999,
                                  INT64_MAX};  // the last representable instant
  for (std::int64_t ns : samples) {
    const std::string t = format_timestamp(ns);
    EXPECT_EQ(t.size(), 24u) << t;
    EXPECT_THAT(t, ::testing::MatchesRegex(
                       "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"))
        << ns;
  }
  EXPECT_EQ(format_timestamp(INT64_MAX), "2262-04-11T23:47:16.854Z");
}

// ---------------------------------------------------------------------------------------------
// Originator (§15.2): 1–64 characters of [A-Za-z0-9._-] kept, anything else → "netfence".

TEST(SanitizeOriginator, ValidValuesAreKept) {
  EXPECT_EQ(sanitize_originator("codex_cli_rs"), "codex_cli_rs");
  EXPECT_EQ(sanitize_originator("a"), "a");
  EXPECT_EQ(sanitize_originator("Codex-VSCode.1_2"), "Codex-VSCode.1_2");
  EXPECT_EQ(sanitize_originator("..."), "...");
  const std::string all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
  ASSERT_EQ(all.size(), 65u);
  EXPECT_EQ(sanitize_originator(all.substr(0, 64)), all.substr(0, 64));
  EXPECT_EQ(sanitize_originator(all.substr(1)), all.substr(1));
  EXPECT_EQ(sanitize_originator(std::string(64, 'x')), std::string(64, 'x'));
}

TEST(SanitizeOriginator, InvalidValuesBecomeNetfence) {
  using namespace std::string_view_literals;
  for (std::string_view bad :
       {""sv, "a b"sv, " codex"sv, "codex "sv, "caf\xc3\xa9"sv, "\xe2\x9c\x93"sv, "a/b"sv, "/"sv,
        "a+b"sv, "a:b"sv, "a@b"sv, "a\nb"sv, "a\tb"sv, "a\0b"sv, "\xff"sv, "a\"b"sv, "a\\b"sv}) {
    EXPECT_EQ(sanitize_originator(bad), "netfence") << "input: " << bad;
  }
  EXPECT_EQ(sanitize_originator(std::string(65, 'x')), "netfence");
  EXPECT_EQ(sanitize_originator(std::string(1000, 'x')), "netfence");
  EXPECT_EQ(kDefaultOriginator, "netfence");
}

// ---------------------------------------------------------------------------------------------
// JSON lines (§15.4). Golden files hold the exact bytes the JSON-lines sink writes for one
// event: encode_jsonl() followed by "\n".

std::string read_golden(std::string_view name) {
  const std::string path =
      std::string(NETFENCE_SOURCE_DIR) + "/tests/unit/audit/golden/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing golden file " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The §15.4 example line.
AuditEvent spec_example_event() {
  AuditEvent e;
  e.timestamp = "2026-04-28T09:15:02.123Z";
  e.time_unix_nano = kNow;
  e.scope = Scope::domain;
  e.decision = Verdict::deny;
  e.source = DecisionSource::baseline_policy;
  e.reason = "not_allowed";
  e.protocol = Protocol::https_connect;
  e.server_address = "example.com";
  e.server_port = 443;
  e.method = "CONNECT";
  e.client_address = "127.0.0.1:53122";
  e.override_allow = false;
  return e;
}

AuditEvent all_metadata_event() {
  AuditEvent e;
  e.timestamp = "2024-02-29T23:59:59.999Z";
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

AuditEvent minimal_event() {
  AuditEvent e;
  e.timestamp = "1970-01-01T00:00:00.000Z";
  e.scope = Scope::non_domain;
  e.decision = Verdict::deny;
  e.source = DecisionSource::mode_guard;
  e.reason = "method_not_allowed";
  e.protocol = Protocol::https;
  e.server_address = "unix-socket";
  e.server_port = 0;
  e.method = "POST";
  e.client_address = "unknown";
  return e;
}

TEST(EncodeJsonl, SpecExampleLineIsReproducedExactly) {
  const std::string spec_line =
      R"({"event.name":"codex.network_proxy.policy_decision","event.timestamp":"2026-04-28T09:15:02.123Z","network.policy.scope":"domain","network.policy.decision":"deny","network.policy.source":"baseline_policy","network.policy.reason":"not_allowed","network.transport.protocol":"https_connect","server.address":"example.com","server.port":443,"http.request.method":"CONNECT","client.address":"127.0.0.1:53122","network.policy.override":false})";
  EXPECT_EQ(encode_jsonl(spec_example_event()), spec_line);
  EXPECT_EQ(encode_jsonl(spec_example_event()) + "\n", read_golden("jsonl_spec_example.txt"));
}

TEST(EncodeJsonl, AllMetadataGolden) {
  EXPECT_EQ(encode_jsonl(all_metadata_event()) + "\n", read_golden("jsonl_all_metadata.txt"));
}

TEST(EncodeJsonl, MinimalGolden) {
  EXPECT_EQ(encode_jsonl(minimal_event()) + "\n", read_golden("jsonl_minimal.txt"));
}

TEST(EncodeJsonl, OneLineNoTrailingNewline) {
  for (const auto& e : {spec_example_event(), all_metadata_event(), minimal_event()}) {
    const std::string line = encode_jsonl(e);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(line.find('\r'), std::string::npos);
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
  }
}

TEST(EncodeJsonl, KeysAreExactlyTheSpecFieldsInOrder) {
  const std::vector<std::string> all = {"event.name",
                                        "event.timestamp",
                                        "conversation.id",
                                        "app.version",
                                        "auth_mode",
                                        "originator",
                                        "user.account_id",
                                        "user.email",
                                        "terminal.type",
                                        "model",
                                        "slug",
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
  auto keys_of = [](const AuditEvent& e) {
    std::vector<std::string> keys;
    const auto j = nlohmann::ordered_json::parse(encode_jsonl(e));
    for (const auto& [k, v] : j.items()) keys.push_back(k);
    return keys;
  };
  EXPECT_EQ(keys_of(all_metadata_event()), all);
  std::vector<std::string> without_metadata = all;
  without_metadata.erase(without_metadata.begin() + 2, without_metadata.begin() + 11);
  EXPECT_EQ(keys_of(minimal_event()), without_metadata);

  // Each optional field alone appears in its place and only it.
  AuditEvent e = minimal_event();
  e.user_email = "x@example.com";
  auto keys = keys_of(e);
  ASSERT_EQ(keys.size(), without_metadata.size() + 1);
  EXPECT_EQ(keys[2], "user.email");
}

TEST(EncodeJsonl, PortIsANumberAndOverrideABoolean) {
  for (std::uint16_t port : std::initializer_list<std::uint16_t>{0, 1, 80, 443, 65535}) {
    AuditEvent e = spec_example_event();
    e.server_port = port;
    const auto j = nlohmann::json::parse(encode_jsonl(e));
    ASSERT_TRUE(j["server.port"].is_number_integer());
    EXPECT_EQ(j["server.port"].get<int>(), port);
    EXPECT_NE(encode_jsonl(e).find("\"server.port\":" + std::to_string(port) + ","),
              std::string::npos);
  }
  for (bool b : {false, true}) {
    AuditEvent e = spec_example_event();
    e.override_allow = b;
    const auto j = nlohmann::json::parse(encode_jsonl(e));
    ASSERT_TRUE(j["network.policy.override"].is_boolean());
    EXPECT_EQ(j["network.policy.override"].get<bool>(), b);
    EXPECT_TRUE(encode_jsonl(e).ends_with(b ? "\"network.policy.override\":true}"
                                            : "\"network.policy.override\":false}"));
  }
}

TEST(EncodeJsonl, EnumValuesUseTheSpecSpellings) {
  AuditEvent e = spec_example_event();
  auto field = [&](const char* key) {
    return nlohmann::json::parse(encode_jsonl(e))[key].get<std::string>();
  };
  e.decision = Verdict::ask;
  EXPECT_EQ(field("network.policy.decision"), "ask");
  e.source = DecisionSource::proxy_state;
  EXPECT_EQ(field("network.policy.source"), "proxy_state");
  e.source = DecisionSource::mode_guard;
  EXPECT_EQ(field("network.policy.source"), "mode_guard");
  e.source = DecisionSource::decider;
  EXPECT_EQ(field("network.policy.source"), "decider");
  e.scope = Scope::non_domain;
  EXPECT_EQ(field("network.policy.scope"), "non_domain");
  const std::pair<Protocol, const char*> protocols[] = {{Protocol::http, "http"},
                                                        {Protocol::https_connect, "https_connect"},
                                                        {Protocol::https, "https"},
                                                        {Protocol::socks5_tcp, "socks5_tcp"},
                                                        {Protocol::socks5_udp, "socks5_udp"}};
  for (const auto& [p, text] : protocols) {
    e.protocol = p;
    EXPECT_EQ(field("network.transport.protocol"), text);
  }
  EXPECT_EQ(field("event.name"), kEventName);
  EXPECT_EQ(kEventName, "codex.network_proxy.policy_decision");
  EXPECT_EQ(kScopeName, "codex_otel.network_proxy");
}

TEST(EncodeJsonl, InvalidUtf8IsReplacedNotThrown) {
  AuditEvent e = spec_example_event();
  e.reason = "bad\xff\xfe reason \xc3";  // invalid bytes and a truncated sequence
  e.model = std::string("m\x80");
  std::string line;
  ASSERT_NO_THROW(line = encode_jsonl(e));
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(line)) << line;
  const std::string reason = j["network.policy.reason"].get<std::string>();
  EXPECT_TRUE(reason.starts_with("bad")) << reason;
  EXPECT_NE(reason.find("\xef\xbf\xbd"), std::string::npos) << "U+FFFD expected: " << reason;
  EXPECT_NE(reason.find(" reason "), std::string::npos);
  EXPECT_EQ(line.find('\xff'), std::string::npos);
  EXPECT_EQ(line.find('\x80'), std::string::npos);
  // The rest of the event is intact.
  EXPECT_EQ(j["server.address"], "example.com");
  EXPECT_EQ(j["server.port"], 443);
}

TEST(EncodeJsonl, StringsAreEscaped) {
  AuditEvent e = spec_example_event();
  e.reason = "quote\" backslash\\ newline\n nul" + std::string(1, '\0') + " ctl\x01";
  const std::string line = encode_jsonl(e);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\0'), std::string::npos);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["network.policy.reason"].get<std::string>(), e.reason);
}

TEST(EncodeJsonl, EventsFromMakeEventsEncodeAsExpected) {
  // End to end inside the module: a refused CONNECT becomes the §15.4 example line.
  Engine en;
  en.cfg->allowed_domains = {"other.example"};
  auto f = en.facts("example.com", 443, Protocol::https_connect, "CONNECT");
  auto ev = en.events(en.run(f), f);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(encode_jsonl(ev[0]) + "\n", read_golden("jsonl_spec_example.txt"));
}

}  // namespace
}  // namespace netfence::audit
