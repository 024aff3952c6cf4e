// An embedder of the installed library (SPEC §16): a proxy with a custom policy decider, started
// on ephemeral loopback ports, then stopped. Only <netfence/netfence.hpp> is included.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include <netfence/netfence.hpp>

namespace {

int fail(const std::string& message, int code) {
  std::cerr << "consumer: " << message << '\n';
  return code;
}

}  // namespace

int main() {
  auto cfg = netfence::load_config_from_string(R"toml(
[network]
enabled = true
allowed_domains = ["example.com"]
denied_domains = ["blocked.example.com"]
)toml",
                                               "consumer.toml");
  if (!cfg.ok()) return fail(cfg.error().message, 2);

  auto proxy =
      netfence::NetworkProxy::builder()
          .config(cfg.value())
          .http_addr("127.0.0.1:0")
          .socks_addr("127.0.0.1:0")
          .admin_addr("127.0.0.1:0")
          .policy_decider([](const netfence::PolicyRequest& req, netfence::DecisionCallback done) {
            // A command the user already approved may reach hosts outside the allowlist.
            if (req.command && req.command->starts_with("git fetch ")) {
              return done(netfence::Allow{});
            }
            done(netfence::ask("not_allowed"));
          })
          .build();
  if (!proxy.ok()) return fail(proxy.error().message, 2);

  auto handle = proxy.value().run();
  if (!handle.ok()) return fail(handle.error().message, 1);

  const std::string http = proxy.value().http_addr();
  if (http.empty() || http.ends_with(":0")) return fail("no bound HTTP address: " + http, 1);
  std::cout << "http_addr " << http << '\n'
            << "socks_addr " << proxy.value().socks_addr() << '\n'
            << "admin_addr " << proxy.value().admin_addr() << '\n'
            << "netfence " << netfence::version() << std::endl;

  handle.value().shutdown(std::chrono::milliseconds(0));
  auto stopped = handle.value().wait();
  if (!stopped.ok()) return fail(stopped.error().message, 1);
  return 0;
}
