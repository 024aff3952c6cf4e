#include "proxy/server.hpp"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <limits>
#include <thread>
#include <unordered_map>

#include "admin/server.hpp"
#include "audit/otlp.hpp"
#include "audit/pipeline.hpp"
#include "config/listener.hpp"
#include "core/interfaces.hpp"
#include "http/responses.hpp"
#include "http/session.hpp"
#include "mitm/ca_store.hpp"
#include "policy/snapshot.hpp"
#include "proxy/admin_backend.hpp"
#include "proxy/config_watcher.hpp"
#include "proxy/control_plane.hpp"
#include "proxy/mitm_provider.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/runtime.hpp"
#include "socks/session.hpp"

namespace netfence::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Client-side TLS for https:// absolute-form targets (SPEC §8.2): TLS 1.2+, peer verification
// against the system store plus extra_ca_certs.
Result<void> configure_upstream_tls(asio::ssl::context& ctx, const Config& cfg) {
  boost::system::error_code ec;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1,
                  ec);
  // §10.4: towards the origin we speak HTTP/1.1 and say so (ALPN); same for https:// targets.
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx.native_handle(), kAlpn, sizeof kAlpn);
  ctx.set_default_verify_paths(ec);
  if (ec) return make_error("config", "cannot load the system trust store: " + ec.message());
  if (cfg.extra_ca_certs) {
    ctx.load_verify_file(*cfg.extra_ca_certs, ec);
    if (ec) {
      return make_error("config", "network.extra_ca_certs: cannot load " + *cfg.extra_ca_certs +
                                      ": " + ec.message());
    }
  }
  ctx.set_verify_mode(asio::ssl::verify_peer, ec);
  return {};
}

tcp::endpoint to_endpoint(const config::ListenerAddress& a) {
  const auto& b = a.ip.bytes();
  if (a.ip.is_v4()) {
    return {asio::ip::address_v4(a.ip.v4_value()), a.port};
  }
  asio::ip::address_v6::bytes_type bytes;
  std::copy(b.begin(), b.end(), bytes.begin());
  return {asio::ip::address_v6(bytes), a.port};
}

Result<tcp::acceptor> listen(asio::io_context& io, const config::ListenerAddress& where,
                             std::string_view what) {
  const tcp::endpoint ep = to_endpoint(where);
  tcp::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error("bind", std::string(what) + ": cannot listen on " + where.to_string() + ": " +
                                  ec.message());
  }
  return acceptor;
}

// The sinks [network.audit] asks for. A sink that cannot be set up is reported and skipped: the
// audit trail must not stop the proxy (an unwritable path is a config error at start-up).
std::vector<std::shared_ptr<audit::AuditSink>> audit_sinks(const Config& cfg,
                                                           observe::Metrics& metrics,
                                                           log::Logger& log,
                                                           std::optional<Error>* first_error) {
  std::vector<std::shared_ptr<audit::AuditSink>> sinks;
  if (cfg.audit.jsonl_path) {
    auto s = audit::make_jsonl_sink(*cfg.audit.jsonl_path);
    if (s) {
      sinks.push_back(s.value());
    } else {
      log.error(s.error().message);
      if (first_error && !*first_error) *first_error = s.error();
    }
  }
  if (cfg.audit.otlp_endpoint) {
    auto s = audit::make_otlp_sink(cfg.audit, metrics, log);
    if (s && s.value()) {
      sinks.push_back(s.value());
    } else if (!s) {
      log.error(s.error().message);
      if (first_error && !*first_error) *first_error = s.error();
    }
  }
  return sinks;
}

// An embedding application's sink on the audit thread (SPEC §16).
class PublicSinkAdapter final : public audit::AuditSink {
 public:
  explicit PublicSinkAdapter(std::shared_ptr<::netfence::AuditSink> sink)
      : sink_(std::move(sink)) {}
  void write(const std::vector<AuditEvent>& events) override {
    for (const auto& e : events) sink_->write(e);
  }

 private:
  std::shared_ptr<::netfence::AuditSink> sink_;
};

// "ip:port" with IPv6 bracketed, for the /config listener URLs.
std::string endpoint_url_host(const policy::Endpoint& ep) {
  const std::string ip = ep.ip.to_string();
  return (ep.ip.is_v6() ? "[" + ip + "]" : ip) + ":" + std::to_string(ep.port);
}

// The scheme of a configured listener URL, or `fallback` when it has none.
std::string url_scheme(const std::string& url, std::string_view fallback) {
  const auto pos = url.find("://");
  return pos == std::string::npos ? std::string(fallback) : url.substr(0, pos);
}

std::optional<policy::Endpoint> policy_endpoint(const tcp::endpoint& ep) {
  auto ip = core::IpAddress::parse(ep.address().to_string());
  if (!ip) return std::nullopt;
  return policy::Endpoint{*ip, ep.port()};
}

}  // namespace

// Parameters by value: the coroutine runs on the mint pool after the caller's frame moved on.
static asio::awaitable<std::shared_ptr<asio::ssl::context>> server_context_for(
    std::shared_ptr<MitmProvider> mitm, core::CanonicalHost host) {
  co_return mitm->server_context(host);
}

struct Server::Impl {
  std::shared_ptr<const Config> config;
  std::optional<std::filesystem::path> config_path;
  log::Logger& log;
  config::ListenerPlan plan;
  std::unique_ptr<runtime::Runtime> rt;
  asio::ssl::context upstream_tls{asio::ssl::context::tls_client};
  std::atomic<bool> stopping{false};

  // Declared before `contexts`, so they outlive it: a relay or session frame still queued when
  // a context is destroyed unregisters its connection from here.
  std::mutex conn_mutex;  // guards conn_fds and next_conn
  std::unordered_map<std::uint64_t, int> conn_fds;
  std::uint64_t next_conn = 1;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<std::unique_ptr<http::UpstreamPool>> pools;  // one per context
  // Blocking control-plane work (reading and compiling a reloaded config, getifaddrs) runs here,
  // never on an I/O thread (SPEC §2, §3.6).
  asio::thread_pool control{1};
  // Leaf minting for intercepted CONNECTs (~1 ms of signing per new host): off the I/O threads,
  // and apart from the control thread so a burst of new hosts does not stall the admin API.
  asio::thread_pool mint{1};
  std::shared_ptr<MitmProvider> mitm;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::optional<tcp::acceptor> http_acceptor;
  std::optional<tcp::acceptor> socks_acceptor;
  std::unique_ptr<http::SessionContext> session_ctx;
  std::unique_ptr<socks::SessionContext> socks_ctx;
  std::optional<tcp::acceptor> admin_acceptor;
  // For I/O threads 1..n-1: an acceptor on a dup() of the HTTP / SOCKS5 listening socket, owned
  // by that thread's context, so every thread accepts for itself.
  std::vector<std::unique_ptr<tcp::acceptor>> thread_acceptors;
  std::unique_ptr<ControlPlane> control_plane;
  std::unique_ptr<AdminBackendImpl> admin_backend;
  std::unique_ptr<admin::AdminContext> admin_ctx;
  std::once_flag shutdown_once;
  ServerOptions options;
  mutable std::mutex bound_mutex;  // guards the three strings below (bind() vs readers)
  std::string http_bound, socks_bound, admin_bound;
  std::mutex error_mutex;  // guards fatal
  std::optional<Error> fatal;
  std::atomic<std::chrono::steady_clock::rep> drain_deadline{
      std::numeric_limits<std::chrono::steady_clock::rep>::max()};

  explicit Impl(log::Logger& l) : log(l) {}
  ~Impl() {
    if (rt) rt->close_decider_gate();  // before the io_contexts go away
    // Tasks on the control and mint threads use control_plane, mitm and the contexts: join both
    // threads before any member is destroyed.
    control.stop();
    mint.stop();
    control.join();
    mint.join();
  }

  asio::io_context& main() { return *contexts.front(); }

  // Every client connection, so the shutdown deadline can close them from any thread:
  // shutdown(2) on the descriptor wakes the session's pending read, and it then closes itself.
  class ConnectionRegistration {
   public:
    ConnectionRegistration(Impl& im, int fd) : im_(im) {
      std::lock_guard lock(im_.conn_mutex);
      id_ = im_.next_conn++;
      im_.conn_fds.emplace(id_, fd);
    }
    ~ConnectionRegistration() {
      std::lock_guard lock(im_.conn_mutex);
      im_.conn_fds.erase(id_);
    }
    ConnectionRegistration(const ConnectionRegistration&) = delete;
    ConnectionRegistration& operator=(const ConnectionRegistration&) = delete;

   private:
    Impl& im_;
    std::uint64_t id_ = 0;
  };

  void close_connections() {
    std::lock_guard lock(conn_mutex);
    for (const auto& [id, fd] : conn_fds) ::shutdown(fd, SHUT_RDWR);
  }
  std::size_t open_connections() {
    std::lock_guard lock(conn_mutex);
    return conn_fds.size();
  }

  // A proxy connection's registration and its max_connections slot (§8.6). Shared: the session
  // holds it and, once a tunnel is established, so does the relay the session hands its sockets
  // to, so open tunnels keep counting after the session's coroutines have returned.
  struct ConnectionLife {
    ConnectionLife(Impl& im, int fd, observe::Listener listener)
        : reg(im, fd), slot(*im.rt, listener) {}
    ConnectionRegistration reg;
    runtime::ConnectionSlot slot;
  };

  asio::awaitable<void> handle(tcp::socket socket, tcp::endpoint peer, http::UpstreamPool& pool) {
    auto life =
        std::make_shared<ConnectionLife>(*this, socket.native_handle(), observe::Listener::http);
    if (!life->slot.held()) {
      // §8.6: sent and closed right after accept.
      auto reply = http::text_response(503, "too many connections", false);
      co_await asio::async_write(socket, asio::buffer(reply), kTuple);
      boost::system::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    co_await http::serve_http_connection(std::move(socket), *session_ctx, pool, std::move(life),
                                         peer);
  }

  asio::awaitable<void> handle_socks(tcp::socket socket, tcp::endpoint peer) {
    auto life =
        std::make_shared<ConnectionLife>(*this, socket.native_handle(), observe::Listener::socks5);
    if (!life->slot.held()) {
      // SOCKS5 has no reply before the greeting: over the limit, the connection just closes.
      boost::system::error_code ignored;
      socket.close(ignored);
      co_return;
    }
    co_await socks::serve_socks5_connection(std::move(socket), *socks_ctx, std::move(life), peer);
  }

  asio::awaitable<void> handle_admin(tcp::socket socket) {
    ConnectionRegistration reg(*this, socket.native_handle());
    rt->metrics().connection_opened(observe::Listener::admin);
    co_await admin::serve_admin_connection(std::move(socket), *admin_ctx);
    rt->metrics().connection_closed(observe::Listener::admin);
  }

  enum class Listener : std::uint8_t { http, socks5, admin };

  // Accepts for `kind`. With `own` set, this loop's acceptor belongs to contexts[*own] and the
  // connection is served there (the proxy listeners: one such loop per I/O thread over the same
  // listening socket, so a connection never crosses threads); otherwise connections are dealt
  // out round-robin (the admin listener).
  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Listener kind,
                                    std::optional<std::size_t> own = std::nullopt) {
    std::size_t next = 0;
    while (!stopping.load()) {
      const std::size_t i = own ? *own : next++ % contexts.size();
      auto& ctx = *contexts[i];
      // The peer's address comes with accept(2): no getpeername per connection.
      tcp::endpoint peer;
      auto [ec, socket] = co_await acceptor.async_accept(ctx.get_executor(), peer, kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping.load()) break;
        // EMFILE and friends: back off instead of spinning on a hot error.
        log.warn("accept failed: " + ec.message());
        asio::steady_timer t(co_await asio::this_coro::executor, 100ms);
        co_await t.async_wait(kTuple);
        continue;
      }
      // Responses go out as separate head and body writes; without TCP_NODELAY the second write
      // waits for the client's delayed ACK (~40 ms per keep-alive exchange).
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      switch (kind) {
        case Listener::http:
          asio::co_spawn(ctx, handle(std::move(socket), peer, *pools[i]), asio::detached);
          break;
        case Listener::socks5:
          asio::co_spawn(ctx, handle_socks(std::move(socket), peer), asio::detached);
          break;
        case Listener::admin:
          asio::co_spawn(ctx, handle_admin(std::move(socket)), asio::detached);
          break;
      }
    }
  }

  // §7.3: the own-address set is re-read at least every 30 s.
  asio::awaitable<void> refresh_own_addresses() {
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (!stopping.load()) {
      t.expires_after(30s);
      auto [ec] = co_await t.async_wait(kTuple);
      if (ec || stopping.load()) break;
      asio::post(control, [this] { rt->set_own_addresses(core::read_interface_addresses()); });
    }
  }

  void reload() { (void)control_plane->reload(); }

  void begin_shutdown(std::chrono::milliseconds grace) {
    // A later call may only shorten the grace period (a second Ctrl-C: stop now).
    const auto deadline = (std::chrono::steady_clock::now() + grace).time_since_epoch().count();
    auto current = drain_deadline.load();
    while (deadline < current && !drain_deadline.compare_exchange_weak(current, deadline)) {
    }
    std::call_once(shutdown_once, [&] {
      stopping.store(true);
      asio::post(main(), [this] {
        boost::system::error_code ignored;
        // shutdown(2) on a listening socket ends listening for every dup of it at once: the
        // other threads' accept loops fail and end (`stopping` is set), and their acceptors are
        // closed once the I/O threads are joined (Asio objects are not thread-safe).
        if (http_acceptor) ::shutdown(http_acceptor->native_handle(), SHUT_RD);
        if (socks_acceptor) ::shutdown(socks_acceptor->native_handle(), SHUT_RD);
        if (http_acceptor) http_acceptor->close(ignored);
        if (socks_acceptor) socks_acceptor->close(ignored);
        if (admin_acceptor) admin_acceptor->close(ignored);
        asio::co_spawn(main(), drain(), asio::detached);
      });
    });
  }

  // In-flight requests may finish; whatever is left at the deadline is closed.
  asio::awaitable<void> drain() {
    asio::steady_timer t(main());
    auto before_deadline = [this] {
      return std::chrono::steady_clock::now().time_since_epoch().count() < drain_deadline.load();
    };
    while (rt->active_connections() > 0 && before_deadline()) {
      t.expires_after(25ms);
      co_await t.async_wait(kTuple);
    }
    rt->stop_all_tunnels();
    // §16: at the deadline every connection is closed too; sessions notice and finish (bounded).
    close_connections();
    const auto settle = std::chrono::steady_clock::now() + 1s;
    while (open_connections() > 0 && std::chrono::steady_clock::now() < settle) {
      t.expires_after(10ms);
      co_await t.async_wait(kTuple);
    }
    rt->close_decider_gate();  // late decider callbacks must not post to stopped contexts
    // §15.4: what is queued reaches the sinks (≤ 2 s) before the process exits.
    if (auto pipeline = rt->audit()) pipeline->shutdown(2s);
    control.stop();
    mint.stop();
    for (auto& g : guards) g.reset();
    for (auto& c : contexts) c->stop();
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::create(Config config,
                                               std::optional<std::filesystem::path> config_path,
                                               log::Logger& logger, ServerOptions options) {
  auto impl = std::make_unique<Impl>(logger);
  impl->config_path = std::move(config_path);
  impl->options = std::move(options);
  const ServerOptions& opts = impl->options;
  if (opts.audit_metadata) config.audit_metadata = *opts.audit_metadata;
  auto plan = config::plan_listeners(config, opts.http_addr, opts.socks_addr, opts.admin_addr);
  if (!plan) return plan.error();
  impl->plan = std::move(plan.value());
  auto shared = std::make_shared<const Config>(std::move(config));
  auto snap = policy::compile(shared);
  if (!snap) return snap.error();
  auto resolver = make_resolver(*shared);
  if (!resolver) return resolver.error();
  if (auto tls = configure_upstream_tls(impl->upstream_tls, *shared); !tls) return tls.error();
  impl->config = shared;
  impl->rt = std::make_unique<runtime::Runtime>(logger, snap.value(), resolver.value());
  impl->rt->set_proxy_tls(&impl->upstream_tls);  // §12: https:// upstream proxies
  impl->control_plane =
      std::make_unique<ControlPlane>(logger, *impl->rt, shared, impl->config_path);
  if (opts.audit_metadata) impl->control_plane->set_audit_metadata(*opts.audit_metadata);
  impl->rt->set_decider(opts.decider);
  if (opts.blocked_observer) impl->rt->set_blocked_observer(opts.blocked_observer);
  std::vector<std::shared_ptr<audit::AuditSink>> public_sinks;
  for (const auto& s : opts.audit_sinks) {
    if (s) public_sinks.push_back(std::make_shared<PublicSinkAdapter>(s));
  }
  {
    std::optional<Error> audit_error;
    auto sinks = audit_sinks(*shared, impl->rt->metrics(), logger, &audit_error);
    if (audit_error) return *audit_error;
    sinks.insert(sinks.end(), public_sinks.begin(), public_sinks.end());
    auto pipeline =
        std::make_shared<audit::Pipeline>(shared->audit.queue_size, impl->rt->metrics());
    pipeline->set_sinks(std::move(sinks));
    impl->rt->set_audit(std::move(pipeline));
  }
  // Sinks are rebuilt only when [network.audit] changed, so a reload does not reconnect them.
  impl->control_plane->on_installed([rt = impl->rt.get(), &logger, public_sinks,
                                     last = std::make_shared<AuditConfig>(shared->audit)](
                                        const Config& next) {
    auto pipeline = rt->audit();
    if (!pipeline) return;
    pipeline->set_queue_size(next.audit.queue_size);
    const AuditConfig& a = next.audit;
    const bool same = a.jsonl_path == last->jsonl_path && a.otlp_endpoint == last->otlp_endpoint &&
                      a.otlp_headers == last->otlp_headers && a.batch_size == last->batch_size &&
                      a.batch_timeout_ms == last->batch_timeout_ms;
    if (same) return;
    *last = a;
    auto sinks = audit_sinks(next, rt->metrics(), logger, nullptr);
    sinks.insert(sinks.end(), public_sinks.begin(), public_sinks.end());
    pipeline->set_sinks(std::move(sinks));
  });
  impl->control_plane->on_reload(
      [rt = impl->rt.get()](bool ok) { rt->metrics().count_reload(ok); });
  impl->rt->set_own_addresses(core::read_interface_addresses());
  // §10.3: the CA is loaded (or created) whenever mitm = true, at start and at each reload; an
  // error makes the start fail (exit 1) or the reload fail.
  impl->mitm = std::make_shared<MitmProvider>(mitm::proxy_dir(mitm::state_home()));
  if (auto r = impl->mitm->configure(*shared); !r) return r.error();
  impl->control_plane->before_install(
      [mitm = impl->mitm](const Config& next) { return mitm->configure(next); });

  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) {
    impl->contexts.push_back(std::make_unique<asio::io_context>(1));
    // SPEC §8.3: at most 1024 idle upstream connections in total, split across the threads.
    http::UpstreamPool::Limits limits;
    limits.total = std::max<std::size_t>(8, 1024 / threads);
    impl->pools.push_back(std::make_unique<http::UpstreamPool>(limits));
    impl->guards.push_back(asio::make_work_guard(*impl->contexts.back()));
  }
  impl->session_ctx = std::unique_ptr<http::SessionContext>(
      new http::SessionContext{*impl->rt, impl->upstream_tls, impl->stopping, {}});
  impl->session_ctx->mitm_tls =
      [mitm = impl->mitm, pool = impl->mint.get_executor()](const core::CanonicalHost& host) {
        return asio::co_spawn(pool, server_context_for(mitm, host), asio::use_awaitable);
      };
  impl->socks_ctx =
      std::unique_ptr<socks::SessionContext>(new socks::SessionContext{*impl->rt, impl->stopping});
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Result<void> Server::bind() {
  auto bound = bind_all();
  if (!bound) {
    // §16: every listener or none; the ones already bound are closed again.
    auto& im = *impl_;
    im.http_acceptor.reset();
    im.socks_acceptor.reset();
    im.admin_acceptor.reset();
    std::lock_guard lock(im.bound_mutex);
    im.http_bound.clear();
    im.socks_bound.clear();
    im.admin_bound.clear();
  }
  return bound;
}

Result<void> Server::bind_all() {
  auto& im = *impl_;
  for (const auto& line : im.plan.log) {
    if (line.after_bind_of.empty()) {
      im.log.write(line.level == config::LogLevel::warn ? log::Level::warn : log::Level::info,
                   line.text);
    }
  }
  // "listening" lines are printed only once every listener is bound (all or none, §16).
  std::vector<std::pair<log::Level, std::string>> pending;
  auto write = [&pending](const config::LogLine& line, const std::string& text) {
    pending.emplace_back(line.level == config::LogLevel::warn ? log::Level::warn : log::Level::info,
                         text);
  };
  // The dangerous-flag notices name the port really listened on, so they follow the bind.
  auto bound_notices = [&](std::string_view name, const std::optional<policy::Endpoint>& ep) {
    for (const auto& line : im.plan.log) {
      if (line.after_bind_of != name) continue;
      write(line, ep ? config::non_loopback_notice(name, config::ListenerAddress{ep->ip, ep->port},
                                                   line.flag)
                     : line.text);
    }
  };
  std::optional<policy::Endpoint> http_ep, socks_ep, admin_ep;
  if (im.plan.http) {
    auto acceptor = listen(im.main(), *im.plan.http, "HTTP proxy");
    if (!acceptor) return acceptor.error();
    boost::system::error_code ec;
    const auto bound = acceptor->local_endpoint(ec);
    {
      std::lock_guard lock(im.bound_mutex);
      im.http_bound = runtime::endpoint_text(bound);
    }
    pending.emplace_back(log::Level::info,
                         "HTTP proxy listening on " + runtime::endpoint_text(bound));
    http_ep = policy_endpoint(bound);
    bound_notices("HTTP proxy", http_ep);
    im.http_acceptor.emplace(std::move(acceptor.value()));
  }
  if (im.plan.socks5) {
    auto acceptor = listen(im.main(), *im.plan.socks5, "SOCKS5 proxy");
    if (!acceptor) return acceptor.error();
    boost::system::error_code ec;
    const auto bound = acceptor->local_endpoint(ec);
    {
      std::lock_guard lock(im.bound_mutex);
      im.socks_bound = runtime::endpoint_text(bound);
    }
    pending.emplace_back(log::Level::info,
                         "SOCKS5 proxy listening on " + runtime::endpoint_text(bound));
    socks_ep = policy_endpoint(bound);
    bound_notices("SOCKS5 proxy", socks_ep);
    im.socks_acceptor.emplace(std::move(acceptor.value()));
  }
  if (im.plan.socks5 && im.config->mode == Mode::limited) {
    pending.emplace_back(log::Level::info, "SOCKS5 refuses every request while mode = \"limited\"");
  }
  admin::ListenerUrls urls{im.config->proxy_url, im.config->socks_url, im.config->admin_url};
  if (http_ep) urls.proxy_url = "http://" + endpoint_url_host(*http_ep);
  if (socks_ep)
    urls.socks_url =
        url_scheme(im.config->socks_url, "socks5h") + "://" + endpoint_url_host(*socks_ep);
  if (im.plan.admin) {
    auto acceptor = listen(im.main(), *im.plan.admin, "admin API");
    if (!acceptor) return acceptor.error();
    boost::system::error_code ec;
    const auto bound = acceptor->local_endpoint(ec);
    {
      std::lock_guard lock(im.bound_mutex);
      im.admin_bound = runtime::endpoint_text(bound);
    }
    pending.emplace_back(log::Level::info,
                         "admin API listening on " + runtime::endpoint_text(bound));
    admin_ep = policy_endpoint(bound);
    bound_notices("admin API", admin_ep);
    im.admin_acceptor.emplace(std::move(acceptor.value()));
    urls.admin_url = "http://" + endpoint_url_host(*admin_ep);
  }
  im.admin_backend = std::make_unique<AdminBackendImpl>(*im.control_plane, *im.rt, urls);
  im.admin_ctx = std::unique_ptr<admin::AdminContext>(new admin::AdminContext{
      *im.admin_backend, im.control.get_executor(),
      [rt = im.rt.get()] { return rt->snapshot()->config->admin_token; },
      admin_ep ? std::optional<core::IpAddress>(admin_ep->ip) : std::nullopt, im.log});
  im.rt->set_listeners(http_ep, socks_ep, admin_ep);
  for (const auto& [level, text] : pending) im.log.write(level, text);
  return {};
}

Result<void> Server::run() {
  auto& im = *impl_;
  // One accept loop per I/O thread and proxy listener, over dup()s of one listening socket:
  // whichever thread is free takes the connection and serves it, with no cross-thread hand-off
  // (measured: the hand-off's wake-up was a fixed cost of every tunnel set-up). Not
  // SO_REUSEPORT: that would let any process of the same user bind the port beside us.
  auto per_thread = [&im](tcp::acceptor& main_acceptor, Impl::Listener kind) {
    asio::co_spawn(im.main(), im.accept_loop(main_acceptor, kind, 0), asio::detached);
    for (std::size_t i = 1; i < im.contexts.size(); ++i) {
      const int fd = ::fcntl(main_acceptor.native_handle(), F_DUPFD_CLOEXEC, 0);
      if (fd < 0) continue;  // this thread just does not accept; the others still do
      boost::system::error_code ec;
      auto a = std::make_unique<tcp::acceptor>(*im.contexts[i]);
      a->assign(main_acceptor.local_endpoint(ec).protocol(), fd, ec);
      if (ec) {
        ::close(fd);
        continue;
      }
      asio::co_spawn(*im.contexts[i], im.accept_loop(*a, kind, i), asio::detached);
      im.thread_acceptors.push_back(std::move(a));
    }
  };
  if (im.http_acceptor) per_thread(*im.http_acceptor, Impl::Listener::http);
  if (im.socks_acceptor) per_thread(*im.socks_acceptor, Impl::Listener::socks5);
  if (im.admin_acceptor) {
    asio::co_spawn(im.main(), im.accept_loop(*im.admin_acceptor, Impl::Listener::admin),
                   asio::detached);
  }
  if (im.config_path) {
    asio::co_spawn(im.main(),
                   watch_config_file(
                       *im.config_path, im.log,
                       [&im] { asio::post(im.control, [&im] { im.reload(); }); }, im.stopping),
                   asio::detached);
  }
  asio::co_spawn(im.main(), im.refresh_own_addresses(), asio::detached);
  // An exception escaping a handler is a bug; it stops the proxy with an error instead of the
  // process (SPEC §16: wait() returns the first fatal error).
  auto serve = [&im](asio::io_context& ctx) {
    for (;;) {
      try {
        ctx.run();
        return;
      } catch (const std::exception& e) {
        {
          std::lock_guard lock(im.error_mutex);
          if (!im.fatal) im.fatal = Error{"io", std::string("internal error: ") + e.what()};
        }
        im.log.error(std::string("internal error: ") + e.what() + "; shutting down");
        im.begin_shutdown(std::chrono::milliseconds(0));
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < im.contexts.size(); ++i) {
    threads.emplace_back([&serve, ctx = im.contexts[i].get()] { serve(*ctx); });
  }
  serve(im.main());
  for (auto& t : threads) t.join();
  // drain() stopped both pools; wait for a task they were running (a reload, a mint) to end.
  im.control.join();
  im.mint.join();
  im.thread_acceptors.clear();  // closed here, on the only thread left (see begin_shutdown)
  std::lock_guard lock(im.error_mutex);
  if (im.fatal) return *im.fatal;
  return {};
}

void Server::shutdown(std::chrono::milliseconds grace) { impl_->begin_shutdown(grace); }

std::string Server::http_addr() const {
  std::lock_guard lock(impl_->bound_mutex);
  return impl_->http_bound;
}
std::string Server::socks_addr() const {
  std::lock_guard lock(impl_->bound_mutex);
  return impl_->socks_bound;
}
std::string Server::admin_addr() const {
  std::lock_guard lock(impl_->bound_mutex);
  return impl_->admin_bound;
}
ControlPlane& Server::control_plane() { return *impl_->control_plane; }
runtime::Runtime& Server::runtime() { return *impl_->rt; }

}  // namespace netfence::proxy
