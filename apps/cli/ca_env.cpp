#include "ca_env.hpp"

#include <sys/stat.h>

#include <array>
#include <fstream>
#include <ostream>
#include <utility>
#include <vector>

#include "api/child_env.hpp"
#include "config/listener.hpp"
#include "exit_codes.hpp"
#include "mitm/ca_store.hpp"
#include "mitm/trust_bundle.hpp"

namespace netfence::cli {
namespace {

namespace fs = std::filesystem;

void warn_if_no_roots(log::Logger& log, const std::optional<fs::path>& roots,
                      const std::string& where) {
  if (!roots) {
    log.warn("no system root certificates found; " + where + " holds only the netfence CA");
  }
}

// `> FILE` semantics: created 0644 (umask applies) or truncated, symlinks followed.
bool write_file(const fs::path& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
  f.close();
  return static_cast<bool>(f);
}

int ca_export(log::Logger& log, const CaRequest& req, const fs::path& dir, std::ostream& out) {
  auto ca = mitm::load_or_create_ca(dir, false);
  if (!ca) {
    log.error(ca.error().message);
    return kExitRuntime;
  }
  std::string text;
  if (req.bundle) {
    auto bundle = mitm::build_ca_bundle(*ca, mitm::system_roots_file());
    if (!bundle) {
      log.error(bundle.error().message);
      return kExitRuntime;
    }
    warn_if_no_roots(log, bundle->roots, "the bundle");
    text = std::move(bundle->pem);
  } else {
    text = ca->cert_pem();
  }
  if (req.out) {
    if (!write_file(*req.out, text)) {
      log.error("cannot write " + *req.out);
      return kExitRuntime;
    }
    return kExitOk;
  }
  out << text << std::flush;
  return out ? kExitOk : kExitRuntime;
}

}  // namespace

int run_ca(log::Logger& log, const CaRequest& req, std::ostream& out) {
  const fs::path dir = mitm::proxy_dir(mitm::state_home());
  const fs::path cert_path = dir / mitm::kCaCertFile;
  switch (req.action) {
    case CaAction::init: {
      auto ca = mitm::load_or_create_ca(dir, true);
      if (!ca) {
        log.error(ca.error().message);
        return kExitRuntime;
      }
      if (ca->created) {
        log.info("created MITM CA " + ca->cert_path.string() + " (key " + ca->key_path.string() +
                 ")");
      }
      out << ca->cert_path.string() << '\n' << std::flush;
      return kExitOk;
    }
    case CaAction::path: {
      struct stat st {};
      if (::stat(cert_path.c_str(), &st) != 0) {
        log.error("no CA at " + cert_path.string() + " (run \"netfence ca init\" to create one)");
        return kExitRuntime;
      }
      out << cert_path.string() << '\n' << std::flush;
      return kExitOk;
    }
    case CaAction::export_pem:
      return ca_export(log, req, dir, out);
  }
  return kExitUsage;
}

std::string shell_assignment(Shell shell, std::string_view name, std::string_view value) {
  std::string out = shell == Shell::sh ? "export " : "set -gx ";
  out += name;
  out += shell == Shell::sh ? "='" : " '";
  for (char c : value) {
    if (c == '\'') {
      // sh: close, escaped quote, reopen; fish: backslash escapes inside single quotes.
      out += shell == Shell::sh ? "'\\''" : "\\'";
    } else if (c == '\\' && shell == Shell::fish) {
      out += "\\\\";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

int run_env(log::Logger& log, const Config& cfg, const fs::path& config_path, Shell shell,
            std::ostream& out) {
  if (!cfg.enabled) {
    log.warn("network.enabled is false in " + config_path.string() +
             "; netfence run will not start listeners");
  }
  // The addresses `run` binds; plan_listeners() plans nothing for a disabled config.
  Config as_run = cfg;
  as_run.enabled = true;
  auto plan = config::plan_listeners(as_run);
  if (!plan) {
    log.error(plan.error().message);
    return kExitUsage;
  }
  for (const auto& line : plan->log) {
    log.write(line.level == config::LogLevel::warn ? log::Level::warn : log::Level::info,
              line.text);
  }
  if (!plan->http || plan->http->port == 0) {
    log.error("proxy_url uses port 0, so clients cannot be told the proxy address; set a port");
    return kExitUsage;
  }
  const bool socks = cfg.enable_socks5 && plan->socks5.has_value();
  if (socks && plan->socks5->port == 0) {
    log.error("socks_url uses port 0, so clients cannot be told the proxy address; set a port");
    return kExitUsage;
  }

  api::ChildEnvInput input;
  input.http_addr = plan->http->to_string();
  if (socks) input.socks_addr = plan->socks5->to_string();
  input.allow_local_binding = cfg.allow_local_binding;
  if (cfg.mitm) {
    const fs::path dir = mitm::proxy_dir(mitm::state_home());
    auto ca = mitm::load_or_create_ca(dir, true);
    if (!ca) {
      log.error(ca.error().message);
      return kExitRuntime;
    }
    if (ca->created) {
      log.info("created MITM CA " + ca->cert_path.string() + " (key " + ca->key_path.string() +
               ")");
    }
    const fs::path bundle_path = dir / mitm::kCaBundleFile;
    auto refreshed = mitm::refresh_ca_bundle(*ca, bundle_path);
    if (!refreshed) {
      log.error(refreshed.error().message);
      return kExitRuntime;
    }
    if (refreshed->rewritten) warn_if_no_roots(log, refreshed->roots, bundle_path.string());
    input.ca_bundle = bundle_path.string();
    input.ca_cert = ca->cert_path.string();
  }
  const auto vars = api::child_environment(input);

  std::string text;
  for (const auto& [name, value] : vars) {
    text += shell_assignment(shell, name, value);
    text += '\n';
  }
  out << text << std::flush;
  return out ? kExitOk : kExitRuntime;
}

}  // namespace netfence::cli
