#include "runtime/decide.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

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
                  const Requester& who) {
  const auto& j = d.final();
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
}

asio::awaitable<policy::Decision> decide(Runtime& rt, const policy::Snapshot& snapshot,
                                         policy::RequestFacts facts, const Requester& who) {
  auto env = rt.environment();
  for (int round = 0; round < 3; ++round) {
    policy::Outcome o = policy::evaluate(snapshot, env.env, facts);
    if (o.need == policy::Need::nothing) {
      log_decision(rt, o.decision, facts, who);
      co_return std::move(o.decision);
    }
    if (o.need == policy::Need::resolution) {
      auto resolver = rt.resolver();
      const auto timeout =
          std::chrono::milliseconds(snapshot.config ? snapshot.config->dns_timeout_ms : 2000);
      dns::ResolveResult r =
          co_await async_resolve(*resolver, facts.host->text, timeout, asio::use_awaitable);
      facts.resolution =
          policy::Resolution{r.ok() ? std::move(r.addresses) : std::vector<core::IpAddress>{}};
    } else {
      // No decider is installed by the front ends yet; refuse as an unanswered decider would.
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

}  // namespace netfence::runtime
