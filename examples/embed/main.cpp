// Embedding netfence (SPEC §16): an agent runtime starts the proxy in-process, lets commands the
// user already approved reach hosts outside the allowlist, and asks (refuses with "ask") for the
// rest. Run: netfence_embed_example <config.toml>; stop with Ctrl-C.
//
// Sandboxed commands identify themselves with a proxy user name (the label), e.g.
//   curl -x http://build-bot:x@127.0.0.1:3128 https://registry.npmjs.org/
#include <signal.h>

#include <iostream>
#include <netfence/netfence.hpp>
#include <string>

namespace {

int fail(const std::string& message, int code) {
  std::cerr << "netfence_embed_example: " << message << '\n';
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return fail("usage: netfence_embed_example <config.toml>", 2);

  // The proxy's threads inherit this mask, so SIGINT/SIGTERM reach only sigwait() below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto proxy = netfence::NetworkProxy::builder()
                   .config_file(argv[1])
                   .policy_decider([](const netfence::PolicyRequest& req,
                                      netfence::DecisionCallback done) {
                     // Must not block: answer now (or hand `done` to another thread).
                     if (req.exec_policy_hint == "approved" && req.command) {
                       return done(netfence::Allow{});
                     }
                     done(netfence::ask("not_allowed"));
                   })
                   .build();
  if (!proxy.ok()) return fail(proxy.error().message, 2);

  // Commands the user approved earlier, known by the label their sandbox uses.
  proxy.value().register_label("build-bot", {"npm install", "approved"});

  auto handle = proxy.value().run();
  if (!handle.ok()) return fail(handle.error().message, 1);
  if (proxy.value().http_addr().empty()) {
    std::cout << "network.enabled is false: nothing to serve\n";
    return handle.value().wait().ok() ? 0 : 1;
  }
  std::cout << "# environment for sandboxed children\n";
  for (const auto& [name, value] : proxy.value().child_environment()) {
    std::cout << "export " << name << "='" << value << "'\n";
  }
  std::cout << std::flush;

  int sig = 0;
  sigwait(&stop_signals, &sig);
  handle.value().shutdown(std::chrono::seconds(5));
  auto done = handle.value().wait();
  for (const auto& b : proxy.value().drain_blocked()) {
    std::cerr << "blocked " << b.host << ":" << b.port << " (" << b.reason << ")\n";
  }
  return done.ok() ? 0 : 1;
}
