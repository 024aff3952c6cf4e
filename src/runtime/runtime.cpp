#include "runtime/runtime.hpp"

#include "net/relay.hpp"

namespace netfence::runtime {
namespace {

observe::TunnelKind metrics_kind(TunnelKind k) {
  switch (k) {
    case TunnelKind::connect:
      return observe::TunnelKind::connect;
    case TunnelKind::websocket:
      return observe::TunnelKind::websocket;
    case TunnelKind::mitm:
      return observe::TunnelKind::mitm;
    case TunnelKind::socks5_tcp:
      return observe::TunnelKind::socks5_tcp;
    case TunnelKind::socks5_udp:
      return observe::TunnelKind::socks5_udp;
  }
  return observe::TunnelKind::connect;
}

}  // namespace

Runtime::Runtime(log::Logger& logger, std::shared_ptr<const policy::Snapshot> snapshot,
                 std::shared_ptr<dns::Resolver> resolver)
    : logger_(logger),
      snapshot_(std::move(snapshot)),
      // 16 MiB of enlarged pipes: a quarter of the default per-user pipe-user-pages-soft.
      pipe_budget_(std::make_shared<net::PipeBudget>(16)),
      resolver_(std::move(resolver)),
      own_(std::make_shared<const std::vector<core::IpAddress>>()) {
  auto snap = snapshot_.load();
  unix_.store(std::make_shared<const UnixAllowlist>(
      snap && snap->config ? UnixAllowlist::from(*snap->config) : UnixAllowlist{}));
  upstream_.store(std::make_shared<const upstream::Settings>());
  refresh_upstream();
}

void Runtime::refresh_upstream() {
  auto snap = snapshot_.load();
  auto next = std::make_shared<upstream::Settings>();
  if (snap && snap->config && snap->config->allow_upstream_proxy) {
    std::vector<upstream::OwnListener> own;
    {
      std::lock_guard lock(mutex_);
      for (const auto* ep : {&http_, &socks5_, &admin_}) {
        if (*ep) own.push_back({(*ep)->ip, (*ep)->port});
      }
    }
    *next = upstream::read_settings(upstream::process_environment(), own);
  }
  auto prev = upstream_.exchange(next);
  if (!prev || prev->warnings != next->warnings) {
    for (const auto& w : next->warnings) logger_.warn(w);
  }
  const bool was = prev && prev->active();
  if (next->active() && (!was || prev->http.has_value() != next->http.has_value() ||
                         prev->https.has_value() != next->https.has_value())) {
    std::string text = "upstream proxy:";
    if (next->http) text += " http via " + next->http->display;
    if (next->https) text += " https via " + next->https->display;
    logger_.info(text);
  }
}

std::optional<upstream::ProxyEndpoint> Runtime::upstream_for(bool secure,
                                                             const core::CanonicalHost& host,
                                                             std::uint16_t port) const {
  auto settings = upstream_.load();
  if (!settings) return std::nullopt;
  const upstream::ProxyEndpoint* p = settings->choose(secure, host, port);
  if (!p) return std::nullopt;
  return *p;
}

void Runtime::set_snapshot(std::shared_ptr<const policy::Snapshot> next) {
  // §11: entries are resolved now, at install time (this runs on the control thread).
  if (next->config)
    unix_.store(std::make_shared<const UnixAllowlist>(UnixAllowlist::from(*next->config)));
  auto prev = snapshot_.exchange(next);
  refresh_upstream();  // §12: read at start and on each reload
  if (!next->enabled) {
    stop_tunnels_if([](TunnelKind) { return true; });
  } else if (next->mode == Mode::limited && (!prev || prev->mode != Mode::limited)) {
    // MITM tunnels stay: each inner request is checked against the current mode (§10.1).
    stop_tunnels_if([](TunnelKind k) { return k != TunnelKind::mitm; });
  }
}

std::shared_ptr<dns::Resolver> Runtime::resolver() const {
  std::lock_guard lock(mutex_);
  return resolver_;
}

void Runtime::set_resolver(std::shared_ptr<dns::Resolver> r) {
  std::lock_guard lock(mutex_);
  resolver_ = std::move(r);
}

EnvironmentHold Runtime::environment() const {
  std::lock_guard lock(mutex_);
  EnvironmentHold hold;
  hold.own = own_;
  hold.env.own_addresses = *hold.own;
  hold.env.http = http_;
  hold.env.socks5 = socks5_;
  hold.env.admin = admin_;
  return hold;
}

void Runtime::set_own_addresses(std::vector<core::IpAddress> own) {
  auto next = std::make_shared<const std::vector<core::IpAddress>>(std::move(own));
  std::lock_guard lock(mutex_);
  own_ = std::move(next);
}

void Runtime::set_listeners(std::optional<policy::Endpoint> http,
                            std::optional<policy::Endpoint> socks5,
                            std::optional<policy::Endpoint> admin) {
  {
    std::lock_guard lock(mutex_);
    http_ = http;
    socks5_ = socks5;
    admin_ = admin;
  }
  refresh_upstream();  // loop protection needs the bound ports
}

bool Runtime::try_acquire_connection(observe::Listener listener) {
  const std::size_t limit = snapshot()->config ? snapshot()->config->max_connections : 4096;
  std::size_t cur = connections_.load();
  while (cur < limit) {
    if (connections_.compare_exchange_weak(cur, cur + 1)) {
      metrics_.connection_opened(listener);
      return true;
    }
  }
  metrics_.count_rejected("max_connections");
  return false;
}

void Runtime::release_connection(observe::Listener listener) {
  connections_.fetch_sub(1);
  metrics_.connection_closed(listener);
}

std::uint64_t Runtime::register_tunnel(TunnelKind kind, std::function<void()> stop) {
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_tunnel_id_++;
    tunnels_.emplace(id, Tunnel{kind, stop});
    metrics_.tunnel_opened(metrics_kind(kind));
  }
  // A snapshot installed between the decision and this registration may already forbid the
  // tunnel; set_snapshot() stores before it scans, so one of the two always sees the other.
  const auto snap = snapshot_.load();
  if (!snap->enabled || (snap->mode == Mode::limited && kind != TunnelKind::mitm)) stop();
  return id;
}

void Runtime::unregister_tunnel(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = tunnels_.find(id);
  if (it == tunnels_.end()) return;
  metrics_.tunnel_closed(metrics_kind(it->second.kind));
  tunnels_.erase(it);
}

void Runtime::stop_all_tunnels() {
  stop_tunnels_if([](TunnelKind) { return true; });
}

void Runtime::stop_tunnels_if(const std::function<bool(TunnelKind)>& pred) {
  // Collect under the lock, call outside it: a stop function may unregister synchronously.
  std::vector<std::function<void()>> stops;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, t] : tunnels_) {
      if (pred(t.kind)) stops.push_back(t.stop);
    }
  }
  for (auto& s : stops) s();
}

void Runtime::set_blocked_observer(observe::BlockedObserver observer) {
  if (!observer) {
    blocked_.set_observer({});
    return;
  }
  blocked_.set_observer([this, obs = std::move(observer)](const observe::BlockedEntry& e) {
    if (auto pipeline = audit()) {
      pipeline->post([obs, e] { obs(e); });
    } else {
      obs(e);
    }
  });
}

void Runtime::register_label(std::string label, LabelContext ctx) {
  std::lock_guard lock(mutex_);
  labels_[std::move(label)] = std::move(ctx);
}

std::optional<LabelContext> Runtime::label_context(const std::string& label) const {
  std::lock_guard lock(mutex_);
  auto it = labels_.find(label);
  if (it == labels_.end()) return std::nullopt;
  return it->second;
}

}  // namespace netfence::runtime
