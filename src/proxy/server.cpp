#include "proxy/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "config/listener.hpp"
#include "core/interfaces.hpp"
#include "http/responses.hpp"
#include "http/session.hpp"
#include "socks/session.hpp"
#include "policy/snapshot.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/runtime.hpp"

namespace netfence::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

Result<std::shared_ptr<dns::Resolver>> make_resolver(const Config& cfg) {
  dns::ResolverOptions opts;
  opts.servers = cfg.dns_servers;
  for (const auto& [name, addrs] : cfg.dns_hosts) {
    std::vector<core::IpAddress> ips;
    for (const auto& a : addrs) {
      if (auto ip = core::IpAddress::parse(a)) ips.push_back(*ip);
    }
    opts.static_hosts.emplace_back(name, std::move(ips));
  }
  auto r = dns::make_cares_resolver(opts);
  if (!r) return make_error("config", "resolver: " + r.error().message);
  return std::shared_ptr<dns::Resolver>(std::move(r.value()));
}

// Client-side TLS for https:// absolute-form targets (SPEC §8.2): TLS 1.2+, peer verification
// against the system store plus extra_ca_certs.
Result<void> configure_upstream_tls(asio::ssl::context& ctx, const Config& cfg) {
  boost::system::error_code ec;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1,
                  ec);
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
    return make_error("bind", std::string(what) + ": cannot listen on " + where.to_string() +
                                  ": " + ec.message());
  }
  return acceptor;
}

std::optional<policy::Endpoint> policy_endpoint(const tcp::endpoint& ep) {
  auto ip = core::IpAddress::parse(ep.address().to_string());
  if (!ip) return std::nullopt;
  return policy::Endpoint{*ip, ep.port()};
}

}  // namespace

struct Server::Impl {
  std::shared_ptr<const Config> config;
  std::optional<std::filesystem::path> config_path;
  log::Logger& log;
  config::ListenerPlan plan;
  std::unique_ptr<runtime::Runtime> rt;
  asio::ssl::context upstream_tls{asio::ssl::context::tls_client};
  std::atomic<bool> stopping{false};

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<std::unique_ptr<http::UpstreamPool>> pools;  // one per context
  // Blocking control-plane work (reading and compiling a reloaded config, getifaddrs) runs here,
  // never on an I/O thread (SPEC §2, §3.6).
  asio::thread_pool control{1};
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::optional<tcp::acceptor> http_acceptor;
  std::optional<tcp::acceptor> socks_acceptor;
  std::unique_ptr<http::SessionContext> session_ctx;
  std::unique_ptr<socks::SessionContext> socks_ctx;
  std::once_flag shutdown_once;

  explicit Impl(log::Logger& l) : log(l) {}

  asio::io_context& main() { return *contexts.front(); }

  asio::awaitable<void> handle(tcp::socket socket, http::UpstreamPool& pool) {
    runtime::ConnectionSlot slot(*rt);
    if (!slot.held()) {
      // §8.6: sent and closed right after accept.
      auto reply = http::text_response(503, "too many connections", false);
      co_await asio::async_write(socket, asio::buffer(reply), kTuple);
      boost::system::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    co_await http::serve_http_connection(std::move(socket), *session_ctx, pool);
  }

  asio::awaitable<void> handle_socks(tcp::socket socket) {
    runtime::ConnectionSlot slot(*rt);
    if (!slot.held()) {
      // SOCKS5 has no reply before the greeting: over the limit, the connection just closes.
      boost::system::error_code ignored;
      socket.close(ignored);
      co_return;
    }
    co_await socks::serve_socks5_connection(std::move(socket), *socks_ctx);
  }

  enum class Listener : std::uint8_t { http, socks5 };

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Listener kind) {
    std::size_t next = 0;
    while (!stopping.load()) {
      const std::size_t i = next++ % contexts.size();
      auto& ctx = *contexts[i];
      auto [ec, socket] = co_await acceptor.async_accept(ctx.get_executor(), kTuple);
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
      if (kind == Listener::http) {
        asio::co_spawn(ctx, handle(std::move(socket), *pools[i]), asio::detached);
      } else {
        asio::co_spawn(ctx, handle_socks(std::move(socket)), asio::detached);
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

  void reload() {
    if (!config_path) {
      log.info("reload requested; no config file, keeping the in-memory configuration");
      return;
    }
    auto loaded = load_config(*config_path);
    if (!loaded) {
      log.error("config reload failed: " + loaded.error().message +
                "; keeping the previous configuration");
      return;
    }
    for (const auto& w : loaded->warnings) log.warn(w);
    const Config& old = *config;
    Config next = std::move(loaded.value());
    auto warn_fixed = [&](const char* key, bool changed) {
      if (changed) log.warn(std::string(key) + " changed; restart netfence to apply it");
    };
    warn_fixed("proxy_url", next.proxy_url != old.proxy_url);
    warn_fixed("socks_url", next.socks_url != old.socks_url);
    warn_fixed("admin_url", next.admin_url != old.admin_url);
    warn_fixed("enable_socks5", next.enable_socks5 != old.enable_socks5);
    warn_fixed("enable_admin", next.enable_admin != old.enable_admin);
    warn_fixed(
        "dangerously_allow_non_loopback_proxy",
        next.dangerously_allow_non_loopback_proxy != old.dangerously_allow_non_loopback_proxy);
    warn_fixed(
        "dangerously_allow_non_loopback_admin",
        next.dangerously_allow_non_loopback_admin != old.dangerously_allow_non_loopback_admin);
    auto shared = std::make_shared<const Config>(std::move(next));
    auto snap = policy::compile(shared);
    if (!snap) {
      log.error("config reload failed: " + snap.error().message +
                "; keeping the previous configuration");
      return;
    }
    auto resolver = make_resolver(*shared);
    if (!resolver) {
      log.error("config reload failed: " + resolver.error().message +
                "; keeping the previous configuration");
      return;
    }
    config = shared;
    rt->set_resolver(resolver.value());
    rt->set_snapshot(snap.value());
    rt->set_own_addresses(core::read_interface_addresses());
    log.info("configuration reloaded from " + config_path->string());
  }

  asio::awaitable<void> signals() {
    asio::signal_set set(main(), SIGINT, SIGTERM, SIGHUP);
    while (!stopping.load()) {
      auto [ec, sig] = co_await set.async_wait(kTuple);
      if (ec) break;
      if (sig == SIGHUP) {
        asio::post(control, [this] { reload(); });
      } else {
        log.info("shutting down");
        begin_shutdown(5s);
        break;
      }
    }
  }

  void begin_shutdown(std::chrono::milliseconds grace) {
    std::call_once(shutdown_once, [&] {
      stopping.store(true);
      asio::post(main(), [this, grace] {
        boost::system::error_code ignored;
        if (http_acceptor) http_acceptor->close(ignored);
        if (socks_acceptor) socks_acceptor->close(ignored);
        asio::co_spawn(main(), drain(grace), asio::detached);
      });
    });
  }

  // In-flight requests may finish; whatever is left at the deadline is closed.
  asio::awaitable<void> drain(std::chrono::milliseconds grace) {
    asio::steady_timer t(main());
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (rt->active_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
      t.expires_after(25ms);
      co_await t.async_wait(kTuple);
    }
    rt->stop_all_tunnels();
    control.stop();
    for (auto& g : guards) g.reset();
    for (auto& c : contexts) c->stop();
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::create(Config config,
                                               std::optional<std::filesystem::path> config_path,
                                               log::Logger& logger) {
  auto impl = std::make_unique<Impl>(logger);
  impl->config_path = std::move(config_path);
  auto plan = config::plan_listeners(config);
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
  impl->rt->set_own_addresses(core::read_interface_addresses());

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
      new http::SessionContext{*impl->rt, impl->upstream_tls, impl->stopping});
  impl->socks_ctx =
      std::unique_ptr<socks::SessionContext>(new socks::SessionContext{*impl->rt, impl->stopping});
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Result<void> Server::bind() {
  auto& im = *impl_;
  for (const auto& line : im.plan.log) {
    im.log.write(line.level == config::LogLevel::warn ? log::Level::warn : log::Level::info,
                 line.text);
  }
  std::optional<policy::Endpoint> http_ep, socks_ep, admin_ep;
  if (im.plan.http) {
    auto acceptor = listen(im.main(), *im.plan.http, "HTTP proxy");
    if (!acceptor) return acceptor.error();
    boost::system::error_code ec;
    const auto bound = acceptor->local_endpoint(ec);
    im.log.info("HTTP proxy listening on " + runtime::endpoint_text(bound));
    http_ep = policy_endpoint(bound);
    im.http_acceptor.emplace(std::move(acceptor.value()));
  }
  if (im.plan.socks5) {
    auto acceptor = listen(im.main(), *im.plan.socks5, "SOCKS5 proxy");
    if (!acceptor) return acceptor.error();
    boost::system::error_code ec;
    const auto bound = acceptor->local_endpoint(ec);
    im.log.info("SOCKS5 proxy listening on " + runtime::endpoint_text(bound));
    socks_ep = policy_endpoint(bound);
    im.socks_acceptor.emplace(std::move(acceptor.value()));
  }
  // The admin API arrives with later work; its port is still protected as a self target so
  // that nothing else bound there later can be reached through the proxy.
  if (im.plan.admin) {
    admin_ep = policy::Endpoint{im.plan.admin->ip, im.plan.admin->port};
    im.log.info("admin API is not available in this build; not listening on " +
                im.plan.admin->to_string());
  }
  im.rt->set_listeners(http_ep, socks_ep, admin_ep);
  return {};
}

Result<void> Server::run() {
  auto& im = *impl_;
  if (im.http_acceptor) {
    asio::co_spawn(im.main(), im.accept_loop(*im.http_acceptor, Impl::Listener::http),
                   asio::detached);
  }
  if (im.socks_acceptor) {
    asio::co_spawn(im.main(), im.accept_loop(*im.socks_acceptor, Impl::Listener::socks5),
                   asio::detached);
  }
  asio::co_spawn(im.main(), im.signals(), asio::detached);
  asio::co_spawn(im.main(), im.refresh_own_addresses(), asio::detached);
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < im.contexts.size(); ++i) {
    threads.emplace_back([ctx = im.contexts[i].get()] { ctx->run(); });
  }
  im.main().run();
  for (auto& t : threads) t.join();
  return {};
}

void Server::shutdown(std::chrono::milliseconds grace) { impl_->begin_shutdown(grace); }

}  // namespace netfence::proxy
