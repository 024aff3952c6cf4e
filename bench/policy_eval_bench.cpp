// Policy evaluation cost without DNS (SPEC §19: ≤ 2 µs per decision with 10,000 patterns), and
// host canonicalisation cost. Run: ./build/bench/bench_policy
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/address_class.hpp"
#include "core/host.hpp"
#include "policy/evaluate.hpp"

namespace {

using namespace netfence;

std::shared_ptr<const policy::Snapshot> make_snapshot(int n) {
  auto cfg = std::make_shared<Config>();
  cfg->enabled = true;
  for (int i = 0; i < n; ++i) {
    switch (i % 4) {
      case 0:
        cfg->allowed_domains.push_back("host" + std::to_string(i) + ".example.com");
        break;
      case 1:
        cfg->allowed_domains.push_back("*.svc" + std::to_string(i) + ".example.net");
        break;
      case 2:
        cfg->allowed_domains.push_back("**.zone" + std::to_string(i) + ".example.org");
        break;
      default:
        cfg->denied_domains.push_back("bad" + std::to_string(i) + ".example.com");
        break;
    }
  }
  // A few label-wise globs, which are scanned.
  for (int i = 0; i < 16; ++i)
    cfg->allowed_domains.push_back("api-?" + std::to_string(i) + ".x.io");
  return policy::compile(cfg).value();
}

void evaluate_hosts(benchmark::State& state, std::vector<std::string> hosts) {
  auto snap = make_snapshot(static_cast<int>(state.range(0)));
  std::vector<core::CanonicalHost> canon;
  for (const auto& h : hosts) canon.push_back(core::canonicalize_host(h).value());
  policy::Environment env;
  std::size_t i = 0;
  for (auto _ : state) {
    policy::RequestFacts f;
    f.host = &canon[i++ % canon.size()];
    f.port = 443;
    f.protocol = Protocol::https_connect;
    f.method = "CONNECT";
    f.skip_resolution = true;
    auto o = policy::evaluate(*snap, env, f);
    benchmark::DoNotOptimize(o);
  }
}

void BM_EvaluateAllowedName(benchmark::State& state) {
  evaluate_hosts(state, {"host4000.example.com", "a.b.svc5001.example.net", "zone6002.example.org",
                         "deep.a.b.c.zone2.example.org"});
}
BENCHMARK(BM_EvaluateAllowedName)->Arg(100)->Arg(10000);

void BM_EvaluateMiss(benchmark::State& state) {
  evaluate_hosts(state, {"nothing.here.test", "a.b.c.d.e.f.g.unknown.example", "bad3.example.com"});
}
BENCHMARK(BM_EvaluateMiss)->Arg(100)->Arg(10000);

void BM_CanonicalizeHost(benchmark::State& state) {
  const std::vector<std::string> hosts = {"Api.GitHub.com.", "0x7f.1", "[2001:DB8::1]:443",
                                          "exämple.com"};
  std::size_t i = 0;
  for (auto _ : state) {
    auto h = core::parse_host_port(hosts[i++ % hosts.size()], core::HostSource::http);
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_CanonicalizeHost);

}  // namespace
