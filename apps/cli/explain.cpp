#include "explain.hpp"

#include <nlohmann/json.hpp>

#include "config/listener.hpp"
#include "core/host.hpp"
#include "core/interfaces.hpp"
#include "dns/resolver.hpp"
#include "policy/evaluate.hpp"

namespace netfence::cli {
namespace {

Error usage(std::string msg) { return make_error("usage", std::move(msg)); }

bool valid_method_token(std::string_view m) {
  if (m.empty() || m.size() > 32) return false;
  for (char c : m) {
    bool tchar = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!tchar) return false;
  }
  return true;
}

// Listener endpoints as `run` would bind them, for the self-target rule.
policy::Environment environment(const Config& cfg, std::span<const core::IpAddress> own) {
  policy::Environment env;
  env.own_addresses = own;
  auto plan = config::plan_listeners(cfg);
  if (plan) {
    auto ep =
        [](const std::optional<config::ListenerAddress>& a) -> std::optional<policy::Endpoint> {
      if (!a) return std::nullopt;
      return policy::Endpoint{a->ip, a->port};
    };
    env.http = ep(plan->http);
    env.socks5 = ep(plan->socks5);
    env.admin = ep(plan->admin);
  }
  return env;
}

}  // namespace

Result<ExplainReport> explain(const Config& cfg, const ExplainRequest& req) {
  auto protocol = parse_protocol(req.protocol);
  if (!protocol || *protocol == Protocol::https || *protocol == Protocol::unix_socket) {
    return usage("invalid --protocol \"" + req.protocol +
                 "\": expected http, https_connect, socks5_tcp or socks5_udp");
  }
  auto hp = core::parse_host_port(req.target, core::HostSource::lenient);
  if (!hp) return usage("invalid host \"" + req.target + "\": " + hp.error().message);

  const bool socks = *protocol == Protocol::socks5_tcp || *protocol == Protocol::socks5_udp;
  std::string method;
  if (socks) {
    if (req.method) return usage("--method does not apply to SOCKS5");
  } else {
    method = req.method.value_or(*protocol == Protocol::https_connect ? "CONNECT" : "GET");
    if (!valid_method_token(method)) return usage("invalid --method \"" + method + "\"");
  }

  ExplainReport report;
  report.host = hp->host.text;
  report.port = hp->port.value_or(*protocol == Protocol::http ? 80 : 443);

  auto cfg_ptr = std::make_shared<const Config>(cfg);
  auto snap = policy::compile(cfg_ptr);
  if (!snap) return snap.error();

  std::vector<core::IpAddress> own = core::read_interface_addresses();
  policy::Environment env = environment(cfg, own);

  policy::RequestFacts facts;
  facts.protocol = *protocol;
  facts.host = &hp->host;
  facts.port = report.port;
  facts.method = method;
  facts.skip_resolution = req.no_dns;

  policy::Outcome outcome = policy::evaluate(*snap.value(), env, facts);
  bool resolved = false;
  if (outcome.need == policy::Need::resolution) {
    dns::ResolverOptions opts;
    opts.servers = cfg.dns_servers;
    for (const auto& [name, addrs] : cfg.dns_hosts) {
      std::vector<core::IpAddress> ips;
      for (const auto& a : addrs) {
        if (auto ip = core::IpAddress::parse(a)) ips.push_back(*ip);
      }
      opts.static_hosts.emplace_back(name, std::move(ips));
    }
    auto resolver = dns::make_cares_resolver(opts);
    if (!resolver) return make_error("io", "resolver: " + resolver.error().message);
    auto answer = dns::resolve_blocking(**resolver, hp->host.text,
                                        std::chrono::milliseconds(cfg.dns_timeout_ms));
    facts.resolution =
        policy::Resolution{answer.ok() ? answer.addresses : std::vector<core::IpAddress>{}};
    resolved = true;
    outcome = policy::evaluate(*snap.value(), env, facts);
  }
  const policy::Decision& d = outcome.decision;
  const policy::Judgement& j = d.final();
  report.decision = std::string(to_string(j.verdict));
  report.reason = std::string(j.reason_text());
  report.source = std::string(to_string(j.source));
  if (!d.allowed()) {
    const auto& info = policy::info(j.reason);
    if (!info.x_proxy_error.empty()) report.x_proxy_error = std::string(info.x_proxy_error);
    report.message = std::string(info.message);
  }
  report.intercept = d.intercept;
  const bool skipped = req.no_dns && !hp->host.is_ip() && !resolved && d.addresses.empty() &&
                       hp->host.text != "localhost" && !hp->host.text.ends_with(".localhost");
  if (!skipped) {
    std::vector<std::string> addrs;
    for (const auto& a : d.addresses) addrs.push_back(a.to_string());
    // For a refusal, show the address set that was vetted: the answers, or the literal itself.
    if (addrs.empty() && facts.resolution) {
      for (const auto& a : facts.resolution->addresses) addrs.push_back(a.to_string());
    }
    if (addrs.empty() && hp->host.is_ip() && hp->host.ip) addrs.push_back(hp->host.ip->to_string());
    if (addrs.empty() && (hp->host.text == "localhost" || hp->host.text.ends_with(".localhost"))) {
      addrs = {"127.0.0.1", "::1"};
    }
    report.addresses = std::move(addrs);
  }
  return report;
}

std::string format_text(const ExplainReport& r) {
  std::string out;
  auto line = [&](std::string_view k, std::string_view v) {
    out.append(k).append(": ").append(v).push_back('\n');
  };
  line("decision", r.decision);
  line("reason", r.reason);
  line("source", r.source);
  line("x-proxy-error", r.x_proxy_error.value_or("(none)"));
  line("message", r.message.value_or("(none)"));
  line("host", r.host);
  line("port", std::to_string(r.port));
  if (!r.addresses) {
    line("addresses", "(skipped: --no-dns)");
  } else {
    std::string joined;
    for (const auto& a : *r.addresses) joined += (joined.empty() ? "" : ", ") + a;
    line("addresses", joined.empty() ? "(none)" : joined);
  }
  if (r.intercept)
    line("note",
         "limited mode: the tunnel is intercepted (MITM) and each inner "
         "request is judged again");
  return out;
}

std::string format_json(const ExplainReport& r) {
  nlohmann::ordered_json j;
  j["decision"] = r.decision;
  j["reason"] = r.reason;
  j["source"] = r.source;
  j["x-proxy-error"] = r.x_proxy_error ? nlohmann::ordered_json(*r.x_proxy_error) : nullptr;
  j["message"] = r.message ? nlohmann::ordered_json(*r.message) : nullptr;
  j["host"] = r.host;
  j["port"] = r.port;
  j["addresses"] = r.addresses ? nlohmann::ordered_json(*r.addresses) : nullptr;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace netfence::cli
