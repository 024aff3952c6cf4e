// The public library API (SPEC §16) over proxy::Server: the builder collects what the embedding
// application adds, build() creates the Server (validation, compilation, CA), run() binds and
// serves on a background thread.
#include <mutex>
#include <thread>

#include "api/child_env.hpp"
#include "mitm/ca_store.hpp"
#include "mitm/trust_bundle.hpp"
#include "netfence/proxy.hpp"
#include "observe/blocked_history.hpp"
#include "policy/pattern.hpp"
#include "proxy/control_plane.hpp"
#include "proxy/server.hpp"
#include "runtime/runtime.hpp"

namespace netfence {

static_assert(static_cast<int>(LogLevel::trace) == static_cast<int>(log::Level::trace) &&
              static_cast<int>(LogLevel::off) == static_cast<int>(log::Level::off));

namespace detail {

struct ProxyState {
  std::unique_ptr<log::Logger> logger;
  std::unique_ptr<proxy::Server> server;

  std::mutex mutex;  // guards `started`; run() holds it while binding
  bool started = false;
  std::thread thread;          // started once under `mutex`, joined once under `join_mutex`
  std::mutex join_mutex;       // concurrent waiters: one joins, the others wait for it
  std::optional<Error> fatal;  // written by `thread`, read after the join

  void shutdown(std::chrono::milliseconds grace) { server->shutdown(grace); }

  Result<void> wait() {
    std::lock_guard lock(join_mutex);
    if (thread.joinable()) {
      // From one of the proxy's own threads (a decider or observer callback) a join would
      // wait for itself.
      if (thread.get_id() == std::this_thread::get_id()) {
        return Error{"io", "wait() called from a netfence thread"};
      }
      thread.join();
    }
    if (fatal) return *fatal;
    return {};
  }

  ~ProxyState() {
    if (server) server->shutdown(std::chrono::milliseconds(0));
    std::lock_guard lock(join_mutex);
    if (thread.joinable()) thread.join();
  }
};

}  // namespace detail

// ---- decisions ---------------------------------------------------------------------------------

Decision deny(std::string reason) {
  return Deny{reason.empty() ? std::string("policy_denied") : std::move(reason)};
}

Decision ask(std::string reason) {
  Deny d{reason.empty() ? std::string("policy_denied") : std::move(reason)};
  d.decision = PolicyDecision::ask;
  return d;
}

// ---- ProxyHandle -------------------------------------------------------------------------------

ProxyHandle::ProxyHandle(std::shared_ptr<detail::ProxyState> state) : state_(std::move(state)) {}
ProxyHandle::ProxyHandle(ProxyHandle&&) noexcept = default;
ProxyHandle& ProxyHandle::operator=(ProxyHandle&& other) noexcept {
  if (this != &other) {
    if (state_) {
      state_->shutdown(std::chrono::milliseconds(0));
      (void)state_->wait();
    }
    state_ = std::move(other.state_);
  }
  return *this;
}
ProxyHandle::~ProxyHandle() {
  if (!state_) return;
  state_->shutdown(std::chrono::milliseconds(0));
  (void)state_->wait();
}

void ProxyHandle::shutdown(std::chrono::milliseconds grace) {
  if (state_) state_->shutdown(grace);
}

Result<void> ProxyHandle::wait() {
  if (!state_) return {};
  return state_->wait();
}

// ---- builder -----------------------------------------------------------------------------------

struct NetworkProxyBuilder::Options {
  LogLevel log_level = LogLevel::info;
  Config config;
  std::optional<std::filesystem::path> config_file;
  proxy::ServerOptions server;
};

NetworkProxyBuilder::NetworkProxyBuilder() : options_(std::make_unique<Options>()) {}
NetworkProxyBuilder::~NetworkProxyBuilder() = default;
NetworkProxyBuilder::NetworkProxyBuilder(NetworkProxyBuilder&&) noexcept = default;
NetworkProxyBuilder& NetworkProxyBuilder::operator=(NetworkProxyBuilder&&) noexcept = default;

NetworkProxyBuilder& NetworkProxyBuilder::config(Config config) {
  options_->config = std::move(config);
  options_->config_file.reset();
  return *this;
}
NetworkProxyBuilder& NetworkProxyBuilder::config_file(std::filesystem::path path) {
  options_->config_file = std::move(path);
  return *this;
}
NetworkProxyBuilder& NetworkProxyBuilder::http_addr(std::string_view addr) {
  options_->server.http_addr = std::string(addr);
  return *this;
}
NetworkProxyBuilder& NetworkProxyBuilder::socks_addr(std::string_view addr) {
  options_->server.socks_addr = std::string(addr);
  return *this;
}
NetworkProxyBuilder& NetworkProxyBuilder::admin_addr(std::string_view addr) {
  options_->server.admin_addr = std::string(addr);
  return *this;
}
NetworkProxyBuilder& NetworkProxyBuilder::policy_decider(PolicyDecider decider) {
  options_->server.decider = std::move(decider);
  return *this;
}
NetworkProxyBuilder& NetworkProxyBuilder::audit_sink(std::shared_ptr<AuditSink> sink) {
  if (sink) options_->server.audit_sinks.push_back(std::move(sink));
  return *this;
}
NetworkProxyBuilder& NetworkProxyBuilder::blocked_observer(BlockedObserver observer) {
  options_->server.blocked_observer = std::move(observer);
  return *this;
}
NetworkProxyBuilder& NetworkProxyBuilder::audit_metadata(AuditMetadata metadata) {
  options_->server.audit_metadata = std::move(metadata);
  return *this;
}

NetworkProxyBuilder& NetworkProxyBuilder::log_level(LogLevel level) {
  options_->log_level = level;
  return *this;
}

Result<NetworkProxy> NetworkProxyBuilder::build() {
  auto state = std::make_shared<detail::ProxyState>();
  // The public enum mirrors log::Level value for value.
  state->logger = std::make_unique<log::Logger>(static_cast<log::Level>(options_->log_level));
  Config cfg = options_->config;
  if (!options_->config_file) {
    // A Config built in code is held to the same rules as a file (SPEC §16, §3.4).
    if (auto valid = validate_config(cfg); !valid) return valid.error();
  }
  if (options_->config_file) {
    auto loaded = load_config(*options_->config_file);
    if (!loaded) return loaded.error();
    cfg = std::move(loaded.value());
    for (const auto& w : cfg.warnings) state->logger->warn(w);
  }
  auto server = proxy::Server::create(std::move(cfg), options_->config_file, *state->logger,
                                      options_->server);
  if (!server) return server.error();
  state->server = std::move(server.value());
  return NetworkProxy(std::move(state));
}

// ---- NetworkProxy ------------------------------------------------------------------------------

NetworkProxy::NetworkProxy(std::shared_ptr<detail::ProxyState> state) : state_(std::move(state)) {}
NetworkProxy::NetworkProxy(NetworkProxy&&) noexcept = default;
NetworkProxy& NetworkProxy::operator=(NetworkProxy&&) noexcept = default;
NetworkProxy::~NetworkProxy() = default;

NetworkProxyBuilder NetworkProxy::builder() { return NetworkProxyBuilder(); }

Result<ProxyHandle> NetworkProxy::run() {
  auto& st = *state_;
  std::lock_guard lock(st.mutex);
  if (st.started) return Error{"io", "this proxy has already been run"};
  st.started = true;
  if (!st.server->control_plane().effective()->enabled) {
    st.logger->info("network.enabled is false; no listeners started");
    return ProxyHandle(state_);
  }
  if (auto bound = st.server->bind(); !bound) return bound.error();
  st.thread = std::thread([state = state_.get()] {
    auto ran = state->server->run();
    if (!ran) {
      state->logger->error(ran.error().message);
      state->fatal = ran.error();  // read by wait() after the join
    }
  });
  return ProxyHandle(state_);
}

std::string NetworkProxy::http_addr() const { return state_->server->http_addr(); }
std::string NetworkProxy::socks_addr() const { return state_->server->socks_addr(); }
std::string NetworkProxy::admin_addr() const { return state_->server->admin_addr(); }

Result<void> NetworkProxy::add_allowed_domain(std::string_view pattern) {
  return state_->server->control_plane().add_pattern(policy::PatternList::allowed, pattern);
}
Result<void> NetworkProxy::add_denied_domain(std::string_view pattern) {
  return state_->server->control_plane().add_pattern(policy::PatternList::denied, pattern);
}
Result<void> NetworkProxy::set_mode(Mode mode) {
  return state_->server->control_plane().set_mode(mode);
}
Result<void> NetworkProxy::reload() { return state_->server->control_plane().reload(); }

std::vector<BlockedRequest> NetworkProxy::blocked_snapshot() const {
  return state_->server->runtime().blocked().snapshot();
}
std::vector<BlockedRequest> NetworkProxy::drain_blocked() {
  return state_->server->runtime().blocked().drain();
}

Config NetworkProxy::current_config() const {
  Config cfg = *state_->server->control_plane().effective();
  // As GET /config: the listener URLs name the addresses really listened on.
  if (auto a = http_addr(); !a.empty()) cfg.proxy_url = "http://" + a;
  if (auto a = socks_addr(); !a.empty()) {
    const auto pos = cfg.socks_url.find("://");
    cfg.socks_url =
        (pos == std::string::npos ? "socks5h" : cfg.socks_url.substr(0, pos)) + "://" + a;
  }
  if (auto a = admin_addr(); !a.empty()) cfg.admin_url = "http://" + a;
  return cfg;
}

void NetworkProxy::register_label(std::string label, LabelContext ctx) {
  state_->server->runtime().register_label(std::move(label), std::move(ctx));
}

std::vector<std::pair<std::string, std::string>> NetworkProxy::child_environment() const {
  const Config cfg = current_config();
  api::ChildEnvInput in;
  in.http_addr = http_addr();
  if (in.http_addr.empty()) return {};  // not listening: nothing a child could use
  if (cfg.enable_socks5 && !socks_addr().empty()) in.socks_addr = socks_addr();
  in.allow_local_binding = cfg.allow_local_binding;
  if (cfg.mitm) {
    const auto dir = mitm::proxy_dir(mitm::state_home());
    auto ca = mitm::load_or_create_ca(dir, false);  // build() already created it
    if (ca) {
      const auto bundle = dir / mitm::kCaBundleFile;
      if (mitm::refresh_ca_bundle(*ca, bundle)) {
        in.ca_bundle = bundle.string();
        in.ca_cert = ca->cert_path.string();
      }
    }
  }
  return api::child_environment(in);
}

}  // namespace netfence
