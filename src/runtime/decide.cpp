#include "runtime/decide.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <variant>

#include "http/wire/response_head.hpp"
#include "net/stream_io.hpp"
#include "runtime/tls_bridge.hpp"

namespace netfence::runtime {
namespace asio = boost::asio;

namespace {

// Adapts the callback Resolver to Asio: the answer arrives on the resolver's thread and is
// posted back to the caller's executor, so the session coroutine never runs on a foreign thread.
template <class Token>
auto async_resolve(dns::Resolver& resolver, std::string name, std::chrono::milliseconds timeout,
                   Token&& token) {
  return asio::async_initiate<Token, void(dns::ResolveResult)>(
      [&resolver](auto handler, std::string n, std::chrono::milliseconds t) {
        using Handler = decltype(handler);
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        // std::function needs a copyable callable; the handler is move-only.
        struct State {
          Handler handler;
          decltype(work) guard;
        };
        auto state = std::make_shared<State>(State{std::move(handler), std::move(work)});
        resolver.resolve(std::move(n), t, [state](dns::ResolveResult result) {
          auto ex = state->guard.get_executor();
          asio::post(ex, [state, r = std::move(result)]() mutable {
            state->guard.reset();
            std::move(state->handler)(std::move(r));
          });
        });
      },
      token, std::move(name), timeout);
}

}  // namespace

void log_decision(Runtime& rt, const policy::Decision& d, const policy::RequestFacts& facts,
                  const Requester& who, Mode mode, const AuditMetadata* metadata) {
  // SPEC §15.3: one event per judged outcome, queued for the audit thread.
  if (auto pipeline = rt.audit(); pipeline && pipeline->has_sinks()) {
    static const AuditMetadata kNone;
    audit::EventContext ctx;
    ctx.client = who.client;
    ctx.unix_socket = facts.protocol == Protocol::unix_socket;
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    pipeline->emit(audit::make_events(d, facts, ctx, metadata ? *metadata : kNone, now));
  }
  const auto& j = d.final();
  rt.metrics().count_decision(facts.protocol, j.verdict, j.reason_text());
  const std::string client = who.client.empty() ? "unknown" : who.client;
  if (j.verdict == Verdict::allow) {
    if (rt.log().enabled(log::Level::debug)) {
      rt.log().debug("allowed protocol=" + std::string(to_string(facts.protocol)) + " client=" +
                     client + " host=" + facts.host->text + " port=" + std::to_string(facts.port));
    }
    return;
  }
  rt.log().info("blocked protocol=" + std::string(to_string(facts.protocol)) + " client=" + client +
                " host=" + facts.host->text + " port=" + std::to_string(facts.port) + " reason=" +
                std::string(j.reason_text()) + " source=" + std::string(to_string(j.source)));
  // SPEC §14: every refusal goes to the blocked history.
  observe::BlockedEntry e;
  e.host = facts.host->text;
  e.reason = std::string(j.reason_text());
  if (!who.client.empty()) e.client = who.client;
  if (!facts.method.empty()) e.method = std::string(facts.method);
  e.mode = mode;
  e.protocol = facts.protocol;
  e.decision = j.verdict;
  e.source = j.source;
  e.port = facts.port;
  e.timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  if (!who.label.empty()) e.label = who.label;
  rt.metrics().count_blocked();
  rt.blocked().record(std::move(e));
}

namespace {

// One outstanding decider question. Lives on the session's executor; the user's callback only
// posts there, so the timer is touched on one thread only.
struct DeciderWait {
  explicit DeciderWait(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  std::optional<Decision> answer;
  bool finished = false;
};

policy::DeciderAnswer to_answer(const Decision& d) {
  if (std::holds_alternative<Allow>(d)) return {Verdict::allow, {}};
  const Deny& no = std::get<Deny>(d);
  // §16: whatever `source` the decider set, the refusal is reported with source `decider`
  // (evaluate() does that); an empty or bad reason becomes policy_denied there too.
  return {no.decision == PolicyDecision::ask ? Verdict::ask : Verdict::deny, no.reason};
}

PolicyRequest make_policy_request(Runtime& rt, const policy::RequestFacts& facts,
                                  const Requester& who) {
  PolicyRequest req;
  req.protocol = facts.protocol;
  req.host = facts.host->text;
  req.port = facts.port;
  if (!who.client.empty()) req.client_addr = who.client;
  if (!facts.method.empty()) req.method = std::string(facts.method);
  if (!who.label.empty()) {
    req.label = who.label;
    if (auto ctx = rt.label_context(who.label)) {
      req.command = std::move(ctx->command);
      req.exec_policy_hint = std::move(ctx->exec_policy_hint);
    }
  }
  return req;
}

// SPEC §6.5/§16: the decider is called here (an I/O thread) and must not block; its callback
// may come synchronously or later from any thread. The first call counts; later ones, calls
// after the deadline, a decider that throws or never answers → deny policy_denied.
asio::awaitable<policy::DeciderAnswer> ask_decider(Runtime& rt, const PolicyDecider& decider,
                                                   PolicyRequest req,
                                                   std::chrono::milliseconds timeout) {
  const auto ex = co_await asio::this_coro::executor;
  auto wait = std::make_shared<DeciderWait>(ex);
  wait->timer.expires_after(timeout);
  auto called = std::make_shared<std::atomic<bool>>(false);
  DecisionCallback done = [weak = std::weak_ptr<DeciderWait>(wait), ex, called,
                           gate = rt.decider_gate()](Decision d) mutable {
    if (called->exchange(true)) return;  // exactly once
    // Posting while holding the gate: the proxy cannot stop its contexts in between.
    std::lock_guard lock(gate->mutex);
    if (!gate->open) return;  // the proxy has shut down
    asio::post(ex, [weak, d = std::move(d)]() mutable {
      auto w = weak.lock();
      if (!w || w->finished) return;  // too late
      w->answer = std::move(d);
      w->timer.cancel();
    });
  };
  bool threw = false;
  try {
    decider(req, std::move(done));
  } catch (...) {
    threw = true;
  }
  bool timed_out = false;
  if (!threw) {
    auto [ec] = co_await wait->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    // Only a cancel (the answer arriving) counts; an answer queued behind the expiry is late.
    timed_out = ec != asio::error::operation_aborted;
  }
  wait->finished = true;
  if (timed_out) wait->answer.reset();
  if (threw) {
    rt.log().warn("policy decider threw for host=" + req.host + "; denied");
  } else if (!wait->answer) {
    rt.log().warn("policy decider did not answer within " + std::to_string(timeout.count()) +
                  " ms for host=" + req.host + "; denied");
  }
  if (threw || !wait->answer) co_return policy::DeciderAnswer{Verdict::deny, "policy_denied"};
  co_return to_answer(*wait->answer);
}

}  // namespace

asio::awaitable<policy::Decision> decide(Runtime& rt, const policy::Snapshot& snapshot,
                                         policy::RequestFacts facts, const Requester& who) {
  auto env = rt.environment();
  auto decider = rt.decider();
  if (decider) facts.decider_installed = true;
  for (int round = 0; round < 3; ++round) {
    policy::Outcome o = policy::evaluate(snapshot, env.env, facts);
    if (o.need == policy::Need::nothing) {
      log_decision(rt, o.decision, facts, who, snapshot.mode,
                   snapshot.config ? &snapshot.config->audit_metadata : nullptr);
      co_return std::move(o.decision);
    }
    if (o.need == policy::Need::resolution) {
      auto resolver = rt.resolver();
      const auto timeout =
          std::chrono::milliseconds(snapshot.config ? snapshot.config->dns_timeout_ms : 2000);
      const auto started = std::chrono::steady_clock::now();
      dns::ResolveResult r =
          co_await async_resolve(*resolver, facts.host->text, timeout, asio::use_awaitable);
      rt.metrics().observe_dns(std::chrono::steady_clock::now() - started);
      facts.resolution =
          policy::Resolution{r.ok() ? std::move(r.addresses) : std::vector<core::IpAddress>{}};
    } else if (decider) {
      const auto timeout =
          std::chrono::milliseconds(snapshot.config ? snapshot.config->decider_timeout_ms : 30000);
      facts.decider =
          co_await ask_decider(rt, *decider, make_policy_request(rt, facts, who), timeout);
    } else {
      facts.decider = policy::DeciderAnswer{Verdict::deny, "policy_denied"};
    }
  }
  // Unreachable: each Need is answered once. Fail closed all the same.
  policy::Decision d;
  policy::Judgement j;
  j.reason = policy::Reason::not_allowed;
  d.domain = j;
  co_return d;
}

asio::awaitable<net::DialResult> dial(Runtime& rt, std::span<const core::IpAddress> addresses,
                                      std::uint16_t port, std::chrono::milliseconds budget) {
  const auto started = std::chrono::steady_clock::now();
  net::DialResult r = co_await net::dial(addresses, port, budget);
  rt.metrics().observe_connect(std::chrono::steady_clock::now() - started);
  co_return r;
}

asio::awaitable<net::DialResult> dial_upstream_proxy(Runtime& rt,
                                                     const upstream::ProxyEndpoint& proxy,
                                                     std::chrono::milliseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  std::vector<core::IpAddress> addresses;
  if (proxy.host.ip) {
    addresses.push_back(*proxy.host.ip);
  } else if (proxy.host.text == "localhost" || proxy.host.text.ends_with(".localhost")) {
    addresses = {core::IpAddress::v4(0x7F000001U),
                 core::IpAddress::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})};
  } else {
    auto resolver = rt.resolver();
    dns::ResolveResult r =
        co_await async_resolve(*resolver, proxy.host.text, budget, asio::use_awaitable);
    if (!r.ok()) {
      rt.log().warn("upstream proxy " + proxy.display + ": cannot resolve " + proxy.host.text);
      net::DialResult failed;
      failed.error = net::DialError::unreachable_host;
      co_return failed;
    }
    addresses = std::move(r.addresses);
  }
  net::DialResult r = co_await dial(rt, addresses, proxy.port, budget);
  if (!r.ok() || !proxy.tls) co_return r;
  // https:// proxy: TLS to the proxy itself, behind a plain socket for the caller.
  net::DialResult failed;
  failed.error = net::DialError::other;
  if (!rt.proxy_tls()) co_return failed;
  std::string error;
  const auto snap = rt.snapshot();
  const auto idle = std::chrono::seconds(snap->config ? snap->config->idle_timeout_s : 300);
  auto bridged =
      co_await bridge_tls(std::move(*r.socket), *rt.proxy_tls(), proxy.host, deadline, idle, error);
  if (!bridged) {
    rt.log().warn("upstream proxy " + proxy.display + ": " + error);
    co_return failed;
  }
  r.socket = std::move(bridged);
  co_return r;
}

asio::awaitable<net::DialResult> dial_through_upstream(Runtime& rt,
                                                       const upstream::ProxyEndpoint& proxy,
                                                       const core::CanonicalHost& host,
                                                       std::uint16_t port,
                                                       std::chrono::milliseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  net::DialResult r = co_await dial_upstream_proxy(rt, proxy, budget);
  if (!r.ok()) co_return r;
  const std::string authority =
      (host.kind == core::HostKind::ipv6 ? "[" + host.text + "]" : host.text) + ":" +
      std::to_string(port);
  std::string request = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  if (!proxy.authorization.empty()) {
    request += "Proxy-Authorization: " + proxy.authorization + "\r\n";
  }
  request += "\r\n";
  auto fail = [&](std::string why, net::DialError e) {
    rt.log().warn("upstream proxy " + proxy.display + ": CONNECT " + authority + " failed: " + why);
    boost::system::error_code ignored;
    r.socket->close(ignored);
    net::DialResult failed;
    failed.error = e;
    return failed;
  };
  if (auto ec = co_await net::write_all(*r.socket, request)) {
    co_return fail(ec.message(), net::DialError::other);
  }
  http::ResponseHeadParser parser;
  std::string buf;
  for (;;) {
    auto step = parser.feed(buf);
    if (step.status == http::ParseStatus::done) {
      const int status = parser.head().status;
      if (status < 200 || status > 299) {
        co_return fail("answered " + std::to_string(status), net::DialError::other);
      }
      r.early_data = buf.substr(step.consumed);
      co_return r;
    }
    if (step.status == http::ParseStatus::error) {
      co_return fail("malformed answer", net::DialError::other);
    }
    if (auto ec = co_await net::read_more(*r.socket, buf, deadline, 4096)) {
      co_return fail(
          ec == asio::error::timed_out ? "timed out" : ec.message(),
          ec == asio::error::timed_out ? net::DialError::timeout : net::DialError::other);
    }
  }
}

void count_relayed(Runtime& rt, const net::RelayStats& stats) {
  rt.metrics().add_bytes(observe::Direction::client_to_target, stats.a_to_b);
  rt.metrics().add_bytes(observe::Direction::target_to_client, stats.b_to_a);
}

void start_tunnel(Runtime& rt, TunnelKind kind, net::tcp::socket client, net::tcp::socket upstream,
                  std::string to_upstream, std::string to_client, std::chrono::seconds idle_timeout,
                  std::shared_ptr<void> life) {
  auto control = std::make_shared<net::RelayControl>();
  auto reg = std::make_shared<TunnelRegistration>(rt, kind, [control] { control->stop(); });
  net::RelayOptions opts;
  opts.idle_timeout = idle_timeout;
  opts.to_b = std::move(to_upstream);
  opts.to_a = std::move(to_client);
  opts.control = std::move(control);
  opts.pipe_budget = rt.pipe_budget();
  opts.single_threaded_executor = true;  // one io_context per I/O thread
  net::start_relay(std::move(client), std::move(upstream), std::move(opts),
                   [&rt, reg = std::move(reg), life = std::move(life)](
                       const net::RelayStats& stats) { count_relayed(rt, stats); });
}

}  // namespace netfence::runtime
