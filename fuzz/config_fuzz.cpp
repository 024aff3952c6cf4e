// libFuzzer target for the config loader (SPEC §3): arbitrary bytes as a config file. The loader
// must never crash or throw; a successful load must satisfy the §3.3 merge invariants, and the
// listener planner must accept whatever the loader accepted.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/listener.hpp"
#include "netfence/config.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

bool unique(const std::vector<std::string>& v) {
  return std::set<std::string>(v.begin(), v.end()).size() == v.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = netfence::load_config_from_string(text, "fuzz.toml");
  if (!result) {
    check(result.error().code == "config");
    check(result.error().message.rfind("fuzz.toml", 0) == 0);
    return 0;
  }
  netfence::Config& cfg = *result;
  check(unique(cfg.allowed_domains) && unique(cfg.denied_domains) &&
        unique(cfg.allow_unix_sockets));
  for (const auto& p : cfg.allowed_domains) {
    check(std::find(cfg.denied_domains.begin(), cfg.denied_domains.end(), p) ==
          cfg.denied_domains.end());
  }
  for (const auto& p : cfg.allow_unix_sockets) check(!p.empty() && p.front() == '/');
  for (const auto& w : cfg.warnings) check(w.rfind("fuzz.toml:", 0) == 0);

  // URLs the loader validated must plan without error (clamping cannot fail).
  cfg.enabled = true;
  auto plan = netfence::config::plan_listeners(cfg);
  check(plan.ok());
  return 0;
}
