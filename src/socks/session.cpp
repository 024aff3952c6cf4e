#include "socks/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <set>

#include "core/secret.hpp"
#include "net/dialer.hpp"
#include "net/relay.hpp"
#include "net/stream_io.hpp"
#include "policy/reasons.hpp"
#include "runtime/decide.hpp"
#include "runtime/endpoint.hpp"
#include "socks/wire/codec.hpp"

namespace netfence::socks {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
using wire::Reply;
using wire::Status;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kNegotiationDeadline = 30s;        // SPEC §9.1: greeting and request
constexpr std::size_t kMaxDestinations = 256;     // SPEC §9.3: cached per association
constexpr std::size_t kMaxPendingDatagrams = 16;  // per destination while it is judged
constexpr std::size_t kMaxPendingBytes = 64 * 1024;
constexpr std::size_t kDatagramBuffer = 64 * 1024;

void close_socket(tcp::socket& s) {
  error_code ignored;
  s.shutdown(tcp::socket::shutdown_both, ignored);
  s.close(ignored);
}

std::string reply_bytes(Reply r) { return wire::encode_reply(r, core::IpAddress(), 0); }

// §9.2: every policy refusal is 0x02 except a DNS failure (0x04).
Reply refusal_reply(const policy::Judgement& j) {
  return j.reason == policy::Reason::dns_failure ? Reply::host_unreachable : Reply::not_allowed;
}

// §6.1/§9.4: the `enabled` check and the SOCKS5 mode guard run before DST is parsed, so such a
// refusal needs a host for its record even when DST does not canonicalise. The raw text is kept
// printable (it reaches log lines and the blocked history); it is never resolved or matched.
core::CanonicalHost guard_host(const wire::Address& dst) {
  if (auto host = wire::canonical_host(dst)) return std::move(host.value());
  core::CanonicalHost raw;
  for (char c : dst.domain.substr(0, 255)) {
    const auto u = static_cast<unsigned char>(c);
    raw.text += (u <= 0x20 || u >= 0x7F) ? '?' : c;
  }
  return raw;
}

udp::endpoint to_udp(const core::IpAddress& ip, std::uint16_t port) {
  const tcp::endpoint ep = net::to_endpoint(ip, port);
  return {ep.address(), ep.port()};
}

udp::endpoint normalised(const udp::endpoint& ep) {
  return to_udp(net::from_asio(ep.address()).unmapped(), ep.port());
}

// One UDP ASSOCIATE (SPEC §9.3). Everything runs on the session's executor (one I/O thread), so
// the state needs no lock; destination judgements run as separate coroutines so a slow lookup
// does not hold up datagrams to other destinations.
class UdpAssociation : public std::enable_shared_from_this<UdpAssociation> {
 public:
  struct Lock {
    core::IpAddress peer_ip;                  // the control connection's peer
    std::optional<core::IpAddress> named_ip;  // a non-zero DST.ADDR of the request
    std::uint16_t named_port = 0;             // a non-zero DST.PORT: the only source port
  };

  UdpAssociation(asio::any_io_executor ex, SessionContext& ctx, Lock lock, std::string client,
                 std::string label)
      : relay_(ex),
        out4_(ex),
        out6_(ex),
        ctx_(ctx),
        lock_(lock),
        client_text_(std::move(client)),
        label_(std::move(label)) {}

  /// Binds the client-facing socket on the control connection's local IP, ephemeral port.
  error_code open(const asio::ip::address& local) {
    error_code ec;
    relay_.open(local.is_v4() ? udp::v4() : udp::v6(), ec);
    if (!ec) relay_.bind(udp::endpoint(local, 0), ec);
    if (ec) return ec;
    error_code ignored;
    out4_.open(udp::v4(), ignored);
    out6_.open(udp::v6(), ignored);
    if (out6_.is_open()) out6_.set_option(asio::ip::v6_only(true), ignored);
    return {};
  }

  udp::endpoint relay_endpoint() const {
    error_code ec;
    return relay_.local_endpoint(ec);
  }

  /// Runs until the control connection closes, the association idles out, or stop().
  asio::awaitable<void> run(tcp::socket& control, std::chrono::seconds idle) {
    last_activity_ = Clock::now();
    auto self = shared_from_this();
    co_await (watch_control(control) || client_loop() || upstream_loop(out4_) ||
              upstream_loop(out6_) || idle_watch(idle));
    close();
  }

  /// From any thread (mode switch, disable, shutdown).
  void stop() {
    asio::post(relay_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

 private:
  struct Destination {
    enum class State : std::uint8_t { pending, allowed, refused } state = State::pending;
    udp::endpoint target;
    std::vector<std::string> queue;
    std::size_t queued_bytes = 0;
  };
  using Key = std::pair<std::string, std::uint16_t>;

  void close() {
    closed_ = true;
    error_code ignored;
    relay_.close(ignored);
    out4_.close(ignored);
    out6_.close(ignored);
  }

  // `reason` is always one of our fixed strings (never peer input): it becomes a metric label.
  void dropped(std::string_view reason) {
    ctx_.rt.metrics().count_udp_dropped(reason);
    if (ctx_.rt.log().enabled(log::Level::debug)) {
      ctx_.rt.log().debug("udp datagram dropped client=" + client_text_ +
                          " reason=" + std::string(reason));
    }
  }

  bool source_allowed(const udp::endpoint& from) const {
    if (client_) return from == *client_;
    const core::IpAddress ip = net::from_asio(from.address()).unmapped();
    const bool ip_ok = ip == lock_.peer_ip || (lock_.named_ip && ip == *lock_.named_ip);
    return ip_ok && (lock_.named_port == 0 || from.port() == lock_.named_port);
  }

  asio::awaitable<void> watch_control(tcp::socket& control) {
    // The client sends nothing more on the control connection; its end ends the association.
    std::array<char, 512> sink{};
    for (;;) {
      auto [ec, n] = co_await control.async_read_some(asio::buffer(sink), kTuple);
      if (ec) co_return;
    }
  }

  asio::awaitable<void> idle_watch(std::chrono::seconds idle) {
    if (idle.count() == 0) idle = std::chrono::hours(24 * 365);
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (;;) {
      const auto deadline = last_activity_ + idle;
      if (Clock::now() >= deadline) co_return;
      t.expires_at(deadline);
      auto [ec] = co_await t.async_wait(kTuple);
      if (ec) co_return;
    }
  }

  asio::awaitable<void> client_loop() {
    std::string buf(kDatagramBuffer, '\0');
    udp::endpoint from;
    for (;;) {
      auto [ec, n] = co_await relay_.async_receive_from(asio::buffer(buf), from, kTuple);
      if (ec) {
        if (closed_ || ec == asio::error::operation_aborted) co_return;
        continue;  // ICMP errors surface here on some kernels; the association goes on
      }
      const udp::endpoint src = normalised(from);
      if (!source_allowed(src)) {
        dropped("foreign_source");
        continue;
      }
      const std::string_view datagram(buf.data(), n);
      auto header = wire::parse_udp_header(datagram);
      if (header.status != Status::done) {
        dropped("bad_header");
        continue;
      }
      if (header.value.frag != 0) {
        dropped("fragmented");
        continue;
      }
      if (!client_) client_ = src;  // §9.3: the first valid datagram locks the source
      last_activity_ = Clock::now();
      auto host = wire::canonical_host(header.value.dst);
      if (!host) {
        dropped("bad_header");
        continue;
      }
      handle_datagram(std::move(host.value()), header.value.port,
                      std::string(datagram.substr(header.consumed)));
    }
  }

  void handle_datagram(core::CanonicalHost host, std::uint16_t port, std::string payload) {
    Key key{host.text, port};
    auto it = dests_.find(key);
    if (it == dests_.end()) {
      if (dests_.size() >= kMaxDestinations) {
        // §9.3: past 256 destinations the cache starts over (re-evaluated on next use).
        dests_.clear();
        contacted_.clear();
      }
      it = dests_.emplace(key, Destination{}).first;
      it->second.queue.push_back(std::move(payload));
      it->second.queued_bytes = it->second.queue.back().size();
      asio::co_spawn(relay_.get_executor(), judge(std::move(key), std::move(host)), asio::detached);
      return;
    }
    Destination& d = it->second;
    switch (d.state) {
      case Destination::State::allowed:
        send_out(d.target, payload);
        break;
      case Destination::State::refused:
        dropped("refused_destination");
        break;
      case Destination::State::pending:
        if (d.queue.size() >= kMaxPendingDatagrams ||
            d.queued_bytes + payload.size() > kMaxPendingBytes) {
          dropped("pending_overflow");
        } else {
          d.queued_bytes += payload.size();
          d.queue.push_back(std::move(payload));
        }
        break;
    }
  }

  asio::awaitable<void> judge(Key key, core::CanonicalHost host) {
    auto self = shared_from_this();
    auto snapshot = ctx_.rt.snapshot();
    policy::RequestFacts facts;
    facts.protocol = Protocol::socks5_udp;
    facts.host = &host;
    facts.port = key.second;
    const runtime::Requester who{client_text_, label_};
    policy::Decision decision = co_await runtime::decide(ctx_.rt, *snapshot, facts, who);
    auto it = dests_.find(key);
    if (closed_ || it == dests_.end()) co_return;
    Destination& d = it->second;
    std::vector<std::string> queue = std::move(d.queue);
    d.queue.clear();
    d.queued_bytes = 0;
    if (!decision.allowed() || decision.addresses.empty()) {
      d.state = Destination::State::refused;
      for (std::size_t i = 0; i < queue.size(); ++i) dropped("refused_destination");
      co_return;
    }
    // The first vetted address whose family we can send on.
    const core::IpAddress* chosen = nullptr;
    for (const auto& a : decision.addresses) {
      const bool v4 = a.unmapped().is_v4();
      if ((v4 && out4_.is_open()) || (!v4 && out6_.is_open())) {
        chosen = &a;
        break;
      }
    }
    if (!chosen) {
      d.state = Destination::State::refused;
      for (std::size_t i = 0; i < queue.size(); ++i) dropped("no_route");
      co_return;
    }
    d.state = Destination::State::allowed;
    d.target = to_udp(chosen->unmapped(), key.second);
    for (const auto& p : queue) send_out(d.target, p);
  }

  void send_out(const udp::endpoint& target, std::string_view payload) {
    contacted_.insert(target);
    udp::socket& s = target.address().is_v4() ? out4_ : out6_;
    error_code ec;
    // UDP sends do not block for long; a full socket buffer drops the datagram as a router would.
    s.send_to(asio::buffer(payload.data(), payload.size()), target, 0, ec);
    if (ec) dropped("send_failed");
  }

  asio::awaitable<void> upstream_loop(udp::socket& s) {
    if (!s.is_open()) {
      // No socket of this family: wait until the association ends.
      asio::steady_timer forever(co_await asio::this_coro::executor, Clock::time_point::max());
      co_await forever.async_wait(kTuple);
      co_return;
    }
    std::string buf(kDatagramBuffer, '\0');
    udp::endpoint from;
    for (;;) {
      auto [ec, n] = co_await s.async_receive_from(asio::buffer(buf), from, kTuple);
      if (ec) {
        if (closed_ || ec == asio::error::operation_aborted) co_return;
        continue;  // ICMP port unreachable and friends
      }
      const udp::endpoint src = normalised(from);
      // §9.3: replies only from addresses the client has sent to.
      if (!client_ || !contacted_.contains(src)) {
        dropped("unsolicited_reply");
        continue;
      }
      last_activity_ = Clock::now();
      const std::string header = wire::encode_udp_header(net::from_asio(src.address()), src.port());
      const std::array<asio::const_buffer, 2> parts = {asio::buffer(header),
                                                       asio::buffer(buf.data(), n)};
      error_code send_ec;
      relay_.send_to(parts, *client_, 0, send_ec);
      if (send_ec) dropped("send_failed");
    }
  }

  udp::socket relay_;
  udp::socket out4_;
  udp::socket out6_;
  SessionContext& ctx_;
  Lock lock_;
  std::string client_text_;
  std::string label_;
  std::optional<udp::endpoint> client_;
  std::map<Key, Destination> dests_;
  std::set<udp::endpoint> contacted_;
  Clock::time_point last_activity_;
  bool closed_ = false;
};

class Session {
 public:
  Session(tcp::socket client, SessionContext& ctx, std::shared_ptr<void> life,
          std::optional<tcp::endpoint> peer)
      : client_(std::move(client)), ctx_(ctx), life_(std::move(life)) {
    error_code ec;
    const tcp::endpoint ep = peer ? *peer : client_.remote_endpoint(ec);
    if (!ec) {
      peer_ = runtime::endpoint_text(ep);
      peer_ip_ = net::from_asio(ep.address()).unmapped();
    }
  }

  asio::awaitable<void> run() {
    const auto deadline = Clock::now() + kNegotiationDeadline;
    auto snapshot = ctx_.rt.snapshot();
    const auto& password = snapshot->config->socks_password;

    auto greeting = co_await read_message(wire::parse_greeting, no_reply, deadline);
    if (!greeting) co_return close_socket(client_);
    const wire::Method method = wire::choose_method(greeting->value, password.has_value());
    if (co_await net::send(client_, wire::encode_method_choice(method)) ||
        method == wire::Method::none_acceptable) {
      co_return close_socket(client_);
    }
    if (method == wire::Method::user_pass) {
      auto creds = co_await read_message(wire::parse_credentials, auth_failure, deadline);
      if (!creds) co_return close_socket(client_);
      const bool ok = !password || core::secret_equals(creds->value.password, *password);
      if (co_await net::send(client_, wire::encode_auth_status(ok)) || !ok) {
        co_return close_socket(client_);
      }
      label_ = std::move(creds->value.user);
    }
    auto request = co_await read_message(wire::parse_request, request_failure, deadline);
    if (!request) co_return close_socket(client_);
    if (ctx_.stopping.load()) co_return close_socket(client_);
    const wire::Request& req = request->value;
    switch (req.command) {
      case static_cast<std::uint8_t>(wire::Command::connect):
        co_await connect(req);
        break;
      case static_cast<std::uint8_t>(wire::Command::udp_associate):
        co_await associate(req);
        break;
      default:
        co_await fail(Reply::command_not_supported);
        break;
    }
    close_socket(client_);
  }

 private:
  // Reads until `parse` completes. On a parse error sends the reply `encode_error` makes of the
  // parser's code (if it has one) and returns nothing; the caller closes.
  template <class Parse, class EncodeError>
  asio::awaitable<std::optional<std::invoke_result_t<Parse, std::string_view>>> read_message(
      Parse parse, EncodeError encode_error, Clock::time_point deadline) {
    for (;;) {
      auto p = parse(std::string_view(buf_));
      if (p.status == Status::done) {
        buf_.erase(0, p.consumed);
        co_return p;
      }
      if (p.status == Status::error) {
        if (p.reply) co_await net::send(client_, encode_error(*p.reply));
        co_return std::nullopt;
      }
      if (co_await net::read_more(client_, buf_, deadline, 1024)) co_return std::nullopt;
    }
  }

  static std::string no_reply(std::uint8_t) { return {}; }
  static std::string auth_failure(std::uint8_t) { return wire::encode_auth_status(false); }
  static std::string request_failure(std::uint8_t code) {
    return reply_bytes(static_cast<Reply>(code));
  }

  asio::awaitable<void> fail(Reply r) { co_await net::send(client_, reply_bytes(r)); }

  asio::awaitable<void> connect(const wire::Request& req) {
    auto snapshot = ctx_.rt.snapshot();
    const bool guarded = snapshot->mode == Mode::limited || !snapshot->config->enabled;
    auto host =
        guarded ? Result<core::CanonicalHost>(guard_host(req.dst)) : wire::canonical_host(req.dst);
    if (!host) co_return co_await fail(Reply::general_failure);
    policy::RequestFacts facts;
    facts.protocol = Protocol::socks5_tcp;
    facts.host = &host.value();
    facts.port = req.port;
    // §12: SOCKS5 TCP is chained through HTTPS_PROXY/ALL_PROXY like a CONNECT.
    const auto proxy = guarded ? std::nullopt : ctx_.rt.upstream_for(true, *host, req.port);
    facts.via_upstream = proxy.has_value();
    const runtime::Requester who{peer_, label_};
    policy::Decision d = co_await runtime::decide(ctx_.rt, *snapshot, facts, who);
    if (!d.allowed()) co_return co_await fail(refusal_reply(d.final()));
    const auto budget = std::chrono::milliseconds(snapshot->config->connect_timeout_ms);
    // Not `cond ? co_await a : co_await b`: g++ 12 destroys the temporary twice.
    net::DialResult dialed;
    if (proxy) {
      dialed = co_await runtime::dial_through_upstream(ctx_.rt, *proxy, *host, req.port, budget);
    } else {
      dialed = co_await runtime::dial(ctx_.rt, d.addresses, req.port, budget);
    }
    if (!dialed.ok()) {
      co_return co_await fail(static_cast<Reply>(net::to_socks5_reply(dialed.error)));
    }
    // §9.2: BND is the local address of the outgoing socket.
    error_code ec;
    const tcp::endpoint local = dialed.socket->local_endpoint(ec);
    std::string ok = wire::encode_reply(Reply::succeeded, net::from_asio(local.address()),
                                        ec ? std::uint16_t{0} : local.port());
    if (co_await net::send(client_, std::move(ok))) co_return;

    // The relay owns both sockets from here; this session's coroutines return (SPEC §19).
    runtime::start_tunnel(ctx_.rt, runtime::TunnelKind::socks5_tcp, std::move(client_),
                          std::move(*dialed.socket), std::move(buf_), std::move(dialed.early_data),
                          std::chrono::seconds(snapshot->config->idle_timeout_s), life_);
    buf_.clear();
  }

  asio::awaitable<void> associate(const wire::Request& req) {
    auto snapshot = ctx_.rt.snapshot();
    const Config& cfg = *snapshot->config;
    if (!cfg.enable_socks5_udp) co_return co_await fail(Reply::command_not_supported);
    if (snapshot->mode == Mode::limited || !cfg.enabled) {
      // §9.4: refused by the mode guard (or as disabled) before DST is even parsed; this refusal
      // is the one decision a UDP ASSOCIATE request produces.
      auto host = Result<core::CanonicalHost>(guard_host(req.dst));
      policy::RequestFacts facts;
      facts.protocol = Protocol::socks5_udp;
      facts.host = &host.value();
      facts.port = req.port;
      const runtime::Requester who{peer_, label_};
      policy::Decision d = co_await runtime::decide(ctx_.rt, *snapshot, facts, who);
      if (!d.allowed()) co_return co_await fail(refusal_reply(d.final()));
    }
    // §9.2: a domain DST cannot name the client's source address.
    if (req.dst.type == wire::AddressType::domain) {
      co_return co_await fail(Reply::address_type_not_supported);
    }

    UdpAssociation::Lock lock;
    lock.peer_ip = peer_ip_;
    const core::IpAddress named = req.dst.ip.unmapped();
    if (named != core::IpAddress() && named != core::IpAddress::v6({})) lock.named_ip = named;
    lock.named_port = req.port;
    auto assoc =
        std::make_shared<UdpAssociation>(client_.get_executor(), ctx_, lock, peer_, label_);
    error_code ec;
    const tcp::endpoint local = client_.local_endpoint(ec);
    if (!ec) ec = assoc->open(local.address());
    if (ec) {
      ctx_.rt.log().warn("SOCKS5 UDP relay socket: " + ec.message());
      co_return co_await fail(Reply::general_failure);
    }
    const udp::endpoint bnd = assoc->relay_endpoint();
    std::string ok =
        wire::encode_reply(Reply::succeeded, net::from_asio(bnd.address()), bnd.port());
    if (co_await net::send(client_, std::move(ok))) co_return;
    runtime::TunnelRegistration reg(ctx_.rt, runtime::TunnelKind::socks5_udp,
                                    [assoc] { assoc->stop(); });
    co_await assoc->run(client_, std::chrono::seconds(cfg.idle_timeout_s));
  }

  tcp::socket client_;
  SessionContext& ctx_;
  std::shared_ptr<void> life_;  // the connection's registration: handed on to a relay
  std::string peer_;
  core::IpAddress peer_ip_;
  std::string label_;
  std::string buf_;
};

}  // namespace

asio::awaitable<void> serve_socks5_connection(tcp::socket client, SessionContext& ctx,
                                              std::shared_ptr<void> life,
                                              std::optional<tcp::endpoint> peer) {
  Session s(std::move(client), ctx, std::move(life), peer);
  co_await s.run();
}

}  // namespace netfence::socks
