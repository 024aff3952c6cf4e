// The netfence CLI (SPEC §17): a thin user of the library (netfence/netfence.hpp for `run`).
// CLI11 lives only here.
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

#include "admin/config_json.hpp"
#include "ca_env.hpp"
#include "config/listener.hpp"
#include "config_discovery.hpp"
#include "exit_codes.hpp"
#include "explain.hpp"
#include "log/log.hpp"
#include "net/relay.hpp"
#include "netfence/netfence.hpp"

namespace {

using netfence::cli::kExitDenied;
using netfence::cli::kExitOk;
using netfence::cli::kExitRuntime;
using netfence::cli::kExitUsage;
using netfence::log::Level;
using netfence::log::Logger;

void log_plan_lines(Logger& log, const std::vector<netfence::config::LogLine>& lines) {
  for (const auto& l : lines) {
    log.write(l.level == netfence::config::LogLevel::warn ? Level::warn : Level::info, l.text);
  }
}

// Loads the config by §3.1, logging warnings; nullopt after reporting an error.
std::optional<netfence::cli::LoadedConfig> load(Logger& log,
                                                const std::optional<std::string>& path) {
  std::optional<std::filesystem::path> p;
  if (path) p = *path;
  auto loaded = netfence::cli::discover_and_load(p);
  if (!loaded) {
    log.error(loaded.error().message);
    return std::nullopt;
  }
  if (!loaded->found) {
    log.warn("no config file at " + loaded->path.string() +
             "; running with defaults and an empty allowlist, so every request will be blocked");
  }
  for (const auto& w : loaded->config.warnings) log.warn(w);
  return std::move(loaded.value());
}

int cmd_check_config(Logger& log, const std::optional<std::string>& path) {
  auto loaded = load(log, path);
  if (!loaded) return kExitUsage;
  const auto& cfg = loaded->config;
  auto plan = netfence::config::plan_listeners(cfg);
  if (!plan) {
    log.error(plan.error().message);
    return kExitUsage;
  }
  log_plan_lines(log, plan->log);
  std::cout << netfence::admin::effective_config_json(
                   cfg, netfence::admin::ListenerUrls{cfg.proxy_url, cfg.socks_url, cfg.admin_url},
                   cfg.mode, 2)
            << std::endl;
  return kExitOk;
}

// `netfence run` through the library API (SPEC §16): SIGINT/SIGTERM shut down gracefully (a
// second one stops at once), SIGHUP reloads. Signals are taken synchronously on this thread:
// the mask is set before netfence starts any thread, so a signal that arrives at any moment
// (even right after the "listening" lines) is handled, never the default action.
int cmd_run(Logger& log, const std::optional<std::string>& path, Level level) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::optional<std::filesystem::path> p;
  if (path) p = *path;
  auto loaded = netfence::cli::discover_and_load(p);
  if (!loaded) {
    log.error(loaded.error().message);
    return kExitUsage;
  }
  const auto& cfg = loaded->config;
  if (!cfg.enabled) {
    for (const auto& w : cfg.warnings) log.warn(w);
    log.info("network.enabled is false in " + loaded->path.string() + "; no listeners started");
    return kExitOk;
  }
  // splice(2) cannot pass MSG_NOSIGNAL: a write to a reset peer must not kill the process.
  netfence::net::ignore_sigpipe();
  auto builder = netfence::NetworkProxy::builder();
  builder.log_level(static_cast<netfence::LogLevel>(level));
  if (loaded->found) {
    builder.config_file(loaded->path);  // reloads re-read it; build() logs its warnings
  } else {
    log.warn("no config file at " + loaded->path.string() +
             "; running with defaults and an empty allowlist, so every request will be blocked");
    builder.config(cfg);
  }
  auto proxy = builder.build();
  if (!proxy) {
    log.error(proxy.error().message);
    return proxy.error().code == "config" ? kExitUsage : kExitRuntime;
  }
  auto handle = proxy.value().run();
  if (!handle) {
    log.error(handle.error().message);
    return kExitRuntime;
  }

  std::atomic<bool> stopped{false};
  netfence::Result<void> result = netfence::Result<void>();
  std::thread waiter([&] {
    result = handle.value().wait();
    stopped = true;
  });
  bool draining = false;
  while (!stopped.load()) {
    const timespec tick{0, 100'000'000};
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig < 0) continue;
    if (sig == SIGHUP) {
      if (!draining) (void)proxy.value().reload();  // logs both outcomes itself
    } else if (!draining) {
      log.info("shutting down");
      handle.value().shutdown(std::chrono::seconds(5));
      draining = true;
    } else {
      // A second SIGINT/SIGTERM: the operator does not want to wait for the grace period.
      log.info("shutting down now");
      handle.value().shutdown(std::chrono::milliseconds(0));
    }
  }
  waiter.join();
  if (!result) {
    log.error(result.error().message);
    return kExitRuntime;
  }
  return kExitOk;
}

int cmd_explain(Logger& log, const std::optional<std::string>& path,
                const netfence::cli::ExplainRequest& req, bool json) {
  auto loaded = load(log, path);
  if (!loaded) return kExitUsage;
  auto report = netfence::cli::explain(loaded->config, req);
  if (!report) {
    log.error(report.error().message);
    return report.error().code == "usage" || report.error().code == "config" ? kExitUsage
                                                                             : kExitRuntime;
  }
  std::cout << (json ? netfence::cli::format_json(*report) : netfence::cli::format_text(*report))
            << std::flush;
  return report->decision == "allow" ? kExitOk : kExitDenied;
}

int cmd_ca(Logger& log, const std::optional<std::string>& path,
           const netfence::cli::CaRequest& req) {
  // The CA does not depend on the config, but an explicitly named file must still be valid.
  if (path && !load(log, path)) return kExitUsage;
  return netfence::cli::run_ca(log, req, std::cout);
}

int cmd_env(Logger& log, const std::optional<std::string>& path, const std::string& shell) {
  auto loaded = load(log, path);
  if (!loaded) return kExitUsage;
  return netfence::cli::run_env(
      log, loaded->config, loaded->path,
      shell == "fish" ? netfence::cli::Shell::fish : netfence::cli::Shell::sh, std::cout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"netfence: network-policy enforcement proxy for sandboxed programs", "netfence"};
  app.set_version_flag("--version", "netfence " + std::string(netfence::version()));
  app.require_subcommand(1);

  std::optional<std::string> config_path;
  std::string log_level = "info";

  auto* run = app.add_subcommand("run", "Serve the proxy (SPEC §3.5 start-up rules)");
  run->add_option("--config", config_path, "Config file (TOML)");
  run->add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  auto* check = app.add_subcommand("check-config", "Validate the config and print it as JSON");
  check->add_option("--config", config_path, "Config file (TOML)");

  netfence::cli::ExplainRequest req;
  bool json = false;
  auto* explain = app.add_subcommand("explain", "Show what the policy decides for HOST[:PORT]");
  explain->add_option("target", req.target, "HOST[:PORT]")->required();
  explain->add_option("--config", config_path, "Config file (TOML)");
  explain->add_option("--method", req.method,
                      "HTTP method (default GET; CONNECT for https_connect)");
  explain->add_option("--protocol", req.protocol,
                      "http (default), https_connect, socks5_tcp or socks5_udp");
  explain->add_flag("--no-dns", req.no_dns, "Do not resolve names (IP literals are still vetted)");
  explain->add_flag("--json", json, "Print one JSON object");

  netfence::cli::CaRequest ca_req;
  auto* ca = app.add_subcommand("ca", "Create, locate or print the MITM CA (<home>/proxy/ca.pem)");
  ca->require_subcommand(1);
  ca->add_option("--config", config_path, "Config file (TOML)");
  // fallthrough: `ca init --config X` hands --config to `ca`.
  auto* ca_init =
      ca->add_subcommand("init", "Create the CA if absent (or validate it); print its path")
          ->fallthrough();
  auto* ca_path = ca->add_subcommand("path", "Print the CA certificate path")->fallthrough();
  auto* ca_export = ca->add_subcommand("export", "Print the CA certificate (PEM)")->fallthrough();
  ca_export->add_flag("--bundle", ca_req.bundle, "System roots followed by the netfence CA");
  ca_export->add_option("--out", ca_req.out, "Write to FILE instead of stdout");

  std::string shell = "sh";
  auto* env = app.add_subcommand("env", "Print the environment for a sandboxed child");
  env->add_option("--config", config_path, "Config file (TOML)");
  env->add_option("--shell", shell, "sh (default) or fish")->check(CLI::IsMember({"sh", "fish"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    // CLI11 uses its own codes for bad arguments; SPEC §17 says 2 for any usage error.
    return rc == 0 ? kExitOk : kExitUsage;
  }

  Logger log(netfence::log::parse_level(log_level).value_or(Level::info));
  if (*run) return cmd_run(log, config_path, netfence::log::parse_level(log_level).value_or(Level::info));
  if (*check) return cmd_check_config(log, config_path);
  if (*explain) return cmd_explain(log, config_path, req, json);
  if (*ca) {
    ca_req.action = *ca_init   ? netfence::cli::CaAction::init
                    : *ca_path ? netfence::cli::CaAction::path
                               : netfence::cli::CaAction::export_pem;
    return cmd_ca(log, config_path, ca_req);
  }
  if (*env) return cmd_env(log, config_path, shell);
  return kExitUsage;
}
