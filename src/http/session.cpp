#include "http/session.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "http/responses.hpp"
#include "http/wire/chunked.hpp"
#include "http/wire/framing.hpp"
#include "http/wire/request_head.hpp"
#include "http/wire/response_head.hpp"
#include "http/wire/target.hpp"
#include "net/dialer.hpp"
#include "net/relay.hpp"
#include "net/splice.hpp"
#include "net/stream_io.hpp"
#include "runtime/decide.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/unix_allowlist.hpp"

namespace netfence::http {
namespace {

namespace asio = boost::asio;

constexpr std::string_view kInvalidUnixSocketHeader = "invalid x-unix-socket header";
constexpr std::string_view kUnixSocketFailed = "unix socket proxy failed";
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kHeadDeadline = 30s;  // SPEC §8.7: complete request head, keep-alive idle
constexpr auto kTlsDeadline = 30s;   // SPEC §8.7: TLS handshakes
constexpr std::string_view kConnectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
constexpr std::uint64_t kDrainLimit = 64 * 1024;  // SPEC §8.3: refused bodies drained up to this
/// Head reads: a typical request or response head fits, and each read zero-fills its chunk of
/// the buffer first (std::string has no uninitialised resize before C++23).
constexpr std::size_t kHeadChunk = 4 * 1024;
/// Response body reads: large enough to take a 64 KiB body in one read, small for small bodies.
constexpr std::size_t kBodyChunkMin = 16 * 1024;
constexpr std::size_t kBodyChunkMax = 64 * 1024;
/// Sized bodies at least this large pass through with splice(2); a pipe holds 64 KiB.
constexpr std::uint64_t kSpliceBodyMin = 16 * 1024;
constexpr std::size_t kSpliceBodyMax = 64 * 1024;

using net::read_more;
using net::send;
using net::write_all;

template <class Stream>
bool is_eof(const error_code& ec) {
  if (ec == asio::error::eof) return true;
  if constexpr (!std::is_same_v<Stream, tcp::socket>) {
    // A TLS peer that closes without close_notify ends an until-close body the same way.
    if (ec == ssl::error::stream_truncated) return true;
  }
  return false;
}

// The user name of `Proxy-Authorization: Basic <base64(user:password)>`: an attribution label
// only (SPEC §16); netfence authenticates nobody and never forwards the header.
std::string proxy_auth_label(const Headers& h) {
  const Field* f = h.find("proxy-authorization");
  if (!f) return {};
  std::string_view v = f->value;
  constexpr std::string_view kBasic = "basic ";
  if (v.size() <= kBasic.size() || !iequals(v.substr(0, kBasic.size()), kBasic)) return {};
  v.remove_prefix(kBasic.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  if (v.empty() || v.size() > 1024 || v.size() % 4 != 0) return {};
  std::string decoded(v.size() / 4 * 3, '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                      reinterpret_cast<const unsigned char*>(v.data()), static_cast<int>(v.size()));
  if (n < 0) return {};
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding bytes as output: drop one per '='.
  for (std::size_t i = v.size(); i > 0 && v[i - 1] == '='; --i) --len;
  decoded.resize(len);
  // RFC 7617 user-pass needs the ':'; without it the credential may be a bare secret (a token),
  // which must never become a label printed in logs and audit events.
  const auto colon = decoded.find(':');
  if (colon == std::string::npos) return {};
  std::string user = decoded.substr(0, colon);
  // A label is for logs and deciders: no control bytes, bounded length.
  if (user.size() > 255 || std::any_of(user.begin(), user.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      })) {
    return {};
  }
  return user;
}

// RFC 9110 §9.2.2 (methods are case-sensitive).
bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

bool has_method_override(const Headers& h) {
  return h.find("x-http-method-override") || h.find("x-http-method") || h.find("x-method-override");
}

// What an intercepted CONNECT fixed for the requests inside it (SPEC §10.2, §10.5).
struct MitmTunnel {
  core::CanonicalHost host;
  std::uint16_t port = 443;
  std::vector<core::IpAddress> addresses;  // vetted by the CONNECT evaluation, reused (no lookup)
  std::optional<policy::DeciderAnswer> decider;  // a decider Allow given for the CONNECT
  std::string label;  // the CONNECT's Proxy-Authorization user name (attribution only)
};

// `Client` is tcp::socket for a proxy client connection, or ssl::stream<tcp::socket&> for the
// requests inside an intercepted CONNECT (`mitm_` engaged).
template <class Client>
class Session {
 public:
  Session(Client client, SessionContext& ctx, UpstreamPool& pool, std::string peer = {},
          std::optional<MitmTunnel> mitm = {}, std::shared_ptr<void> life = {})
      : client_(std::move(client)),
        ctx_(ctx),
        pool_(pool),
        peer_(std::move(peer)),
        mitm_(std::move(mitm)),
        life_(std::move(life)) {
    if (peer_.empty()) {
      error_code ec;
      auto ep = client_.lowest_layer().remote_endpoint(ec);
      if (!ec) peer_ = runtime::endpoint_text(ep);
    }
    if (mitm_) upstream_error_ = "mitm upstream error";
  }

  asio::awaitable<void> run() {
    while (!ctx_.stopping.load()) {
      RequestHeadParser parser;
      const auto deadline = Clock::now() + kHeadDeadline;
      HeadParseResult r;
      for (;;) {
        r = parser.feed(buf_);
        if (r.status != ParseStatus::need_more) break;
        if (co_await read_more(client_, buf_, deadline, kHeadChunk)) co_return close_client();
      }
      if (r.status == ParseStatus::error) {
        co_await send(client_, text_response(r.error.status, r.error.body, false));
        close_client();
        co_return;
      }
      RequestHead head = parser.take_head();
      buf_.erase(0, r.consumed);
      if (!co_await handle(std::move(head))) co_return close_client();
    }
    close_client();
  }

 private:
  void close_client() {
    error_code ignored;
    client_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    client_.lowest_layer().close(ignored);
    release_held();
  }

  // The held origin connection goes to this thread's shared pool (which applies its limits).
  void release_held() {
    if (!held_) return;
    pool_.give(std::move(held_->host), held_->port, held_->address, std::move(held_->socket),
               held_->since);
    held_.reset();
  }
  void hold(const std::string& host, std::uint16_t port, const core::IpAddress& address,
            tcp::socket socket) {
    release_held();
    held_.emplace(Held{host, port, address, std::move(socket), Clock::now()});
  }

  // Returns true when the connection stays usable for another request.
  asio::awaitable<bool> handle(RequestHead head) {
    if (mitm_) co_return co_await handle_inner(std::move(head));
    if (head.method == "CONNECT") co_return co_await handle_connect(std::move(head));
    if (head.headers.find("x-unix-socket")) co_return co_await handle_unix(std::move(head));
    switch (classify_target(head.target)) {
      case TargetForm::origin:
      case TargetForm::asterisk:
        co_await send(client_, text_response(400, kNotAProxyRequest.body, false));
        co_return false;
      case TargetForm::authority:
        co_await send(client_, text_response(400, kInvalidRequestTarget.body, false));
        co_return false;
      case TargetForm::absolute:
        break;
    }
    auto target = parse_absolute_target(head.target);
    if (!target) {
      co_await send(client_, text_response(target.error().status, target.error().body, false));
      co_return false;
    }
    if (auto bad =
            check_host_header(head.headers, target->host, target->port, target->default_port)) {
      co_await send(client_, text_response(bad->status, bad->body, false));
      co_return false;
    }
    auto framing = request_framing(head);
    if (!framing) {
      co_await send(client_, text_response(framing.error().status, framing.error().body, false));
      co_return false;
    }

    auto snapshot = ctx_.rt.snapshot();
    policy::RequestFacts facts;
    facts.protocol = Protocol::http;
    facts.host = &target->host;
    facts.port = target->port;
    facts.method = head.method;
    facts.via_upstream = ctx_.rt
                             .upstream_for(target->scheme == "https" || target->scheme == "wss",
                                           target->host, target->port)
                             .has_value();
    facts.has_upgrade = head.headers.find("upgrade") != nullptr;
    facts.has_method_override = has_method_override(head.headers);
    facts.has_body = framing->kind == BodyFraming::Kind::chunked ||
                     (framing->kind == BodyFraming::Kind::content_length && framing->length > 0);
    const runtime::Requester who{peer_, proxy_auth_label(head.headers)};
    policy::Decision d = co_await runtime::decide(ctx_.rt, *snapshot, facts, who);
    const bool keep_alive = wants_keep_alive(head);
    if (!d.allowed()) {
      co_return co_await refuse(head, *framing, keep_alive, d.final(), target->host.text,
                                target->port, Protocol::http);
    }
    co_return co_await forward(std::move(head), std::move(target.value()), *framing, d, keep_alive);
  }

  // SPEC §11: a request carrying `x-unix-socket` goes to that local stream socket instead of a
  // network host. The host policy does not run; evaluate_unix_socket() judges it.
  asio::awaitable<bool> handle_unix(RequestHead head) {
    auto snapshot = ctx_.rt.snapshot();
    const auto values = head.headers.values("x-unix-socket");
    const std::string path = values.size() == 1 ? std::string(values[0]) : std::string();
    const bool header_ok = values.size() == 1 && runtime::valid_unix_socket_header(path);
    if (snapshot->enabled && !header_ok) {
      co_await send(client_, text_response(400, kInvalidUnixSocketHeader, false));
      co_return false;
    }
    // Path and query of the target, "/" when it has none.
    std::string origin_form = "/";
    if (!head.target.empty() && head.target.front() == '/') {
      origin_form = head.target;
    } else if (classify_target(head.target) == TargetForm::absolute) {
      auto t = parse_absolute_target(head.target);
      if (!t) {
        co_await send(client_, text_response(t.error().status, t.error().body, false));
        co_return false;
      }
      origin_form = t->origin_form;
    } else {
      co_await send(client_, text_response(400, kInvalidRequestTarget.body, false));
      co_return false;
    }
    auto framing = request_framing(head);
    if (!framing) {
      co_await send(client_, text_response(framing.error().status, framing.error().body, false));
      co_return false;
    }

    std::optional<std::string> admitted;
    if (snapshot->enabled && header_ok) admitted = ctx_.rt.unix_allowlist()->admit(path);
    policy::UnixSocketFacts uf;
    uf.method = head.method;
    uf.has_upgrade = head.headers.find("upgrade") != nullptr;
    uf.has_method_override = has_method_override(head.headers);
    uf.has_body = framing->kind == BodyFraming::Kind::chunked ||
                  (framing->kind == BodyFraming::Kind::content_length && framing->length > 0);
    uf.platform_supported = true;  // Linux (and macOS): AF_UNIX stream sockets
    uf.admitted = admitted.has_value();
    const policy::Decision d = policy::evaluate_unix_socket(*snapshot, uf);

    // Recorded like every decision: the blocked history names the socket path, the audit event
    // the `unix-socket`/0 placeholder (§14, §15.3).
    core::CanonicalHost where;
    where.text = header_ok ? path : std::string("unix-socket");
    policy::RequestFacts facts;
    facts.protocol = Protocol::unix_socket;
    facts.host = &where;
    facts.port = 0;
    facts.method = head.method;
    const runtime::Requester who{peer_, proxy_auth_label(head.headers)};
    runtime::log_decision(ctx_.rt, d, facts, who, snapshot->mode,
                          snapshot->config ? &snapshot->config->audit_metadata : nullptr);
    const bool keep_alive = wants_keep_alive(head);
    if (!d.allowed()) {
      co_return co_await refuse(head, *framing, keep_alive, d.final(), "unix-socket", 0,
                                Protocol::unix_socket);
    }

    asio::local::stream_protocol::socket up(co_await asio::this_coro::executor);
    {
      asio::steady_timer timer(co_await asio::this_coro::executor,
                               std::chrono::milliseconds(snapshot->config->connect_timeout_ms));
      auto r =
          co_await (up.async_connect(asio::local::stream_protocol::endpoint(*admitted), kTuple) ||
                    timer.async_wait(kTuple));
      if (r.index() == 1 || std::get<0>(std::get<0>(r))) {
        co_await send(client_, text_response(502, kUnixSocketFailed, false));
        co_return false;
      }
    }
    AbsoluteTarget target;
    target.scheme = "http";
    target.host.text = "localhost";
    target.origin_form = std::move(origin_form);
    const auto* host = head.headers.find("host");
    unix_host_ = host ? std::string(host->value) : std::string("localhost");
    head.headers.remove("x-unix-socket");
    const std::string_view saved_error = std::exchange(upstream_error_, kUnixSocketFailed);
    Exchange ex =
        co_await exchange(up, head, target, *framing, keep_alive, *snapshot->config, true, false);
    upstream_error_ = saved_error;
    unix_host_.reset();
    error_code ignored;
    up.close(ignored);
    co_return ex.client_keep;
  }

  // Sends the §8.5 refusal. SPEC §8.3: the connection stays usable when the refused request's
  // body (≤ 64 KiB) can be drained, else it closes. Returns whether it stays.
  asio::awaitable<bool> refuse(const RequestHead& head, const BodyFraming& framing, bool keep_alive,
                               const policy::Judgement& j, std::string_view host,
                               std::uint16_t port, Protocol protocol) {
    const bool drainable =
        framing.kind == BodyFraming::Kind::none ||
        (framing.kind == BodyFraming::Kind::content_length && framing.length <= kDrainLimit &&
         !headers_contain_token(head.headers, "expect", "100-continue"));
    const bool stay = keep_alive && drainable && !ctx_.stopping.load();
    co_await send(client_, refusal_response(j, host, port, protocol, false, stay));
    if (!stay) co_return false;
    co_return co_await discard_body(framing);
  }

  // Reads and drops a refused request's small body so the connection can carry the next one.
  asio::awaitable<bool> discard_body(const BodyFraming& framing) {
    if (framing.kind != BodyFraming::Kind::content_length) co_return true;
    const auto deadline = Clock::now() + kHeadDeadline;
    while (buf_.size() < framing.length) {
      if (co_await read_more(client_, buf_, deadline)) co_return false;
    }
    buf_.erase(0, framing.length);
    co_return true;
  }

  asio::awaitable<bool> handle_connect(RequestHead head) {
    release_held();  // a tunnel can last for hours: the origin connection is idle elsewhere
    if (head.headers.find("x-unix-socket")) {
      co_await send(client_, text_response(400, kInvalidUnixSocketHeader, false));
      co_return false;
    }
    auto target = parse_connect_target(head.target);
    if (!target) {
      co_await send(client_, text_response(target.error().status, target.error().body, false));
      co_return false;
    }
    auto snapshot = ctx_.rt.snapshot();
    policy::RequestFacts facts;
    facts.protocol = Protocol::https_connect;
    facts.host = &target->host;
    facts.port = *target->port;
    facts.method = "CONNECT";
    facts.via_upstream = ctx_.rt.upstream_for(true, target->host, *target->port).has_value();
    const runtime::Requester who{peer_, proxy_auth_label(head.headers)};
    policy::Decision d = co_await runtime::decide(ctx_.rt, *snapshot, facts, who);
    const bool keep_alive = wants_keep_alive(head) && !ctx_.stopping.load();
    if (!d.allowed()) {
      co_await send(client_, refusal_response(d.final(), target->host.text, *target->port,
                                              Protocol::https_connect, true, keep_alive));
      co_return keep_alive;
    }
    if (d.intercept) {
      if constexpr (std::is_same_v<Client, tcp::socket>) {
        co_await intercept(std::move(target->host), *target->port, std::move(d),
                           proxy_auth_label(head.headers));
      }
      co_return false;
    }
    const auto budget = std::chrono::milliseconds(snapshot->config->connect_timeout_ms);
    net::DialResult dialed = co_await dial_secure(target->host, *target->port, d.addresses, budget);
    if (!dialed.ok()) {
      auto failure = net::to_http_failure(dialed.error);
      co_await send(client_, text_response(static_cast<int>(failure.status), failure.body, false));
      co_return false;
    }
    // SPEC §8.4: connect first, then exactly this line.
    if (co_await write_all(client_, kConnectEstablished)) co_return false;
    co_await tunnel(*dialed.socket, runtime::TunnelKind::connect, std::move(buf_),
                    std::move(dialed.early_data), snapshot->config->idle_timeout_s);
    co_return false;
  }

  // Step 9 for tunnels and TLS targets: the vetted addresses, or a CONNECT through the upstream
  // proxy that SPEC §12 picks for this target.
  asio::awaitable<net::DialResult> dial_secure(const core::CanonicalHost& host, std::uint16_t port,
                                               const std::vector<core::IpAddress>& addresses,
                                               std::chrono::milliseconds budget) {
    if (auto proxy = ctx_.rt.upstream_for(true, host, port)) {
      co_return co_await runtime::dial_through_upstream(ctx_.rt, *proxy, host, port, budget);
    }
    co_return co_await runtime::dial(ctx_.rt, addresses, port, budget);
  }

  // SPEC §10.2: `200 Connection established`, TLS terminated with a leaf for the CONNECT host,
  // then the inner requests served by a Session over the TLS stream (§10.5).
  asio::awaitable<void> intercept(core::CanonicalHost host, std::uint16_t port, policy::Decision d,
                                  std::string label) {
    if (co_await write_all(client_, kConnectEstablished)) co_return;
    std::shared_ptr<ssl::context> tls_ctx;
    if (ctx_.mitm_tls) tls_ctx = co_await ctx_.mitm_tls(host);
    if (!tls_ctx) {
      ctx_.rt.log().error("TLS interception unavailable for " + host.text + ": no certificate");
      co_return;
    }
    ssl::stream<tcp::socket&> tls(client_, *tls_ctx);
    // Bytes the client sent right after the CONNECT head are the start of its ClientHello.
    const std::string early = std::move(buf_);
    buf_.clear();
    asio::steady_timer timer(co_await asio::this_coro::executor, kTlsDeadline);
    auto r = co_await (tls.async_handshake(ssl::stream_base::server, asio::buffer(early), kTuple) ||
                       timer.async_wait(kTuple));
    if (r.index() == 1 || std::get<0>(std::get<0>(r))) {
      // §10.2: a client that rejects our certificate just closes; counted, not recorded.
      ctx_.rt.metrics().count_rejected("mitm_handshake_failed");
      co_return;
    }
    MitmTunnel tunnel;
    tunnel.host = std::move(host);
    tunnel.port = port;
    tunnel.addresses = std::move(d.addresses);
    tunnel.label = std::move(label);
    if (d.domain && d.domain->override_allow) {
      tunnel.decider = policy::DeciderAnswer{Verdict::allow, {}};
    }
    // Closing the client socket ends the inner session when the proxy is disabled.
    runtime::TunnelRegistration reg(ctx_.rt, runtime::TunnelKind::mitm, [this] {
      asio::post(client_.get_executor(), [this] {
        error_code ignored;
        client_.shutdown(tcp::socket::shutdown_both, ignored);
      });
    });
    Session<ssl::stream<tcp::socket&>> inner(std::move(tls), ctx_, pool_, peer_, std::move(tunnel));
    co_await inner.run();
  }

  // One request inside an intercepted tunnel (SPEC §10.5).
  asio::awaitable<bool> handle_inner(RequestHead head) {
    const MitmTunnel& t = *mitm_;
    if (head.method == "CONNECT") {
      co_await send(client_, text_response(405, "CONNECT not supported inside MITM", false));
      co_return false;
    }
    // The target is origin-form, or absolute-form naming the tunnel's host; the Host header (or
    // that authority) must name the CONNECT target: no domain fronting.
    AbsoluteTarget target;
    target.scheme = "https";
    target.default_port = 443;
    std::optional<core::HostPort> named;
    if (classify_target(head.target) == TargetForm::absolute) {
      auto abs = parse_absolute_target(head.target);
      if (!abs) {
        co_await send(client_, text_response(abs.error().status, abs.error().body, false));
        co_return false;
      }
      named = core::HostPort{abs->host, abs->port};
      target.origin_form = abs->origin_form;
    } else if (!head.target.empty() && head.target.front() == '/') {
      target.origin_form = head.target;
      if (const Field* h = head.headers.find("host")) {
        if (auto hp = core::parse_host_port(h->value, core::HostSource::http)) named = *hp;
      }
    } else {
      co_await send(client_, text_response(400, kInvalidRequestTarget.body, false));
      co_return false;
    }
    if (!named || named->host.text != t.host.text || named->port.value_or(443) != t.port) {
      co_await send(client_,
                    text_response(400, "Host header does not match CONNECT target", false));
      co_return false;
    }
    target.host = t.host;
    target.port = t.port;
    target.port_explicit = t.port != 443;
    // §10.5 step 5 / §11: never honoured inside MITM.
    head.headers.remove("x-unix-socket");
    auto framing = request_framing(head);
    if (!framing) {
      co_await send(client_, text_response(framing.error().status, framing.error().body, false));
      co_return false;
    }

    auto snapshot = ctx_.rt.snapshot();
    policy::RequestFacts facts;
    facts.protocol = Protocol::https;
    facts.host = &target.host;
    facts.port = target.port;
    facts.method = head.method;
    facts.has_upgrade = head.headers.find("upgrade") != nullptr;
    facts.has_method_override = has_method_override(head.headers);
    facts.has_body = framing->kind == BodyFraming::Kind::chunked ||
                     (framing->kind == BodyFraming::Kind::content_length && framing->length > 0);
    facts.resolution = policy::Resolution{t.addresses};  // no new lookup (§10.2)
    facts.via_upstream = ctx_.rt.upstream_for(true, target.host, target.port).has_value();
    facts.decider = t.decider;
    facts.decider_installed = t.decider.has_value();
    const runtime::Requester who{peer_, t.label};
    policy::Decision d = co_await runtime::decide(ctx_.rt, *snapshot, facts, who);
    const bool keep_alive = wants_keep_alive(head) && !ctx_.stopping.load();
    if (!d.allowed()) {
      const bool drainable =
          framing->kind == BodyFraming::Kind::none ||
          (framing->kind == BodyFraming::Kind::content_length && framing->length <= kDrainLimit &&
           !headers_contain_token(head.headers, "expect", "100-continue"));
      const bool stay = keep_alive && drainable;
      co_await send(client_, refusal_response(d.final(), target.host.text, target.port,
                                              Protocol::https, true, stay));
      if (!stay) co_return false;
      co_return co_await discard_body(*framing);
    }
    const Config& cfg = *snapshot->config;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = mitm_upstream_.has_value();
      if (!mitm_upstream_) {
        net::DialResult dialed =
            co_await dial_secure(target.host, target.port, d.addresses,
                                 std::chrono::milliseconds(cfg.connect_timeout_ms));
        if (!dialed.ok()) {
          const auto failure = net::to_http_failure(dialed.error);
          co_await send(
              client_,
              text_response(static_cast<int>(failure.status),
                            failure.status == 504 ? failure.body : upstream_error_, false));
          co_return false;
        }
        mitm_upstream_.emplace(std::move(*dialed.socket), ctx_.upstream_tls);
        if (!co_await tls_handshake(*mitm_upstream_, target.host)) {
          mitm_upstream_.reset();
          co_await send(client_, text_response(502, upstream_error_, false));
          co_return false;
        }
      }
      Exchange ex = co_await exchange(*mitm_upstream_, head, target, *framing, keep_alive, cfg,
                                      false, reused && framing->kind == BodyFraming::Kind::none);
      if (!ex.upstream_reusable) mitm_upstream_.reset();
      if (ex.retry) continue;  // the kept connection had closed: once more on a fresh one
      co_return ex.client_keep;
    }
    co_return false;
  }

  // Relays client <-> upstream until either side is done, registered so a mode switch or
  // `enabled = false` can close it.
  template <class Upstream>
  asio::awaitable<void> tunnel(Upstream& upstream, runtime::TunnelKind kind,
                               std::string to_upstream, std::string to_client,
                               std::uint32_t idle_timeout_s) {
    if constexpr (!std::is_same_v<Client, tcp::socket>) {
      // Upgrades inside MITM are not relayed (exchange() strips Upgrade there).
      (void)upstream, (void)kind, (void)to_upstream, (void)to_client, (void)idle_timeout_s;
      co_return;
    } else {
      release_held();  // see handle_connect
      buf_.clear();
      if constexpr (std::is_same_v<Upstream, tcp::socket>) {
        // The relay owns both sockets from here; this session's coroutines return and free
        // their frames while the tunnel stays open (SPEC §19 memory per idle tunnel).
        runtime::start_tunnel(ctx_.rt, kind, std::move(client_), std::move(upstream),
                              std::move(to_upstream), std::move(to_client),
                              std::chrono::seconds(idle_timeout_s), life_);
      } else {
        auto control = std::make_shared<net::RelayControl>();
        runtime::TunnelRegistration reg(ctx_.rt, kind, [control] { control->stop(); });
        net::RelayOptions opts;
        opts.idle_timeout = std::chrono::seconds(idle_timeout_s);
        opts.to_b = std::move(to_upstream);
        opts.to_a = std::move(to_client);
        opts.control = control;
        opts.single_threaded_executor = true;  // one io_context per I/O thread
        const net::RelayStats stats =
            co_await net::relay_streams(client_, upstream, std::move(opts));
        runtime::count_relayed(ctx_.rt, stats);
      }
    }
  }

  asio::awaitable<bool> forward(RequestHead head, AbsoluteTarget target, BodyFraming framing,
                                const policy::Decision& d, bool keep_alive) {
    auto snapshot = ctx_.rt.snapshot();
    const auto& cfg = *snapshot->config;
    const bool tls_upstream = target.scheme == "https" || target.scheme == "wss";
    const auto budget = std::chrono::milliseconds(cfg.connect_timeout_ms);
    if (!tls_upstream) {
      if (auto proxy = ctx_.rt.upstream_for(false, target.host, target.port)) {
        // SPEC §12: plain HTTP goes to the upstream proxy in absolute-form (never pooled).
        net::DialResult dialed = co_await runtime::dial_upstream_proxy(ctx_.rt, *proxy, budget);
        if (!dialed.ok()) {
          auto failure = net::to_http_failure(dialed.error);
          co_await send(client_,
                        text_response(static_cast<int>(failure.status), failure.body, false));
          co_return false;
        }
        via_proxy_ = ViaProxy{proxy->authorization};
        Exchange ex =
            co_await exchange(*dialed.socket, head, target, framing, keep_alive, cfg, true, false);
        via_proxy_.reset();
        error_code ignored;
        dialed.socket->close(ignored);
        co_return ex.client_keep;
      }
      // A reused connection (held, then pooled) may turn out closed by the origin only after the
      // request went out; the request is then retried on a fresh connection, which RFC 9110
      // §9.2.2 permits for idempotent methods only, and only a bodiless request can be re-sent.
      if (framing.kind == BodyFraming::Kind::none && idempotent(head.method)) {
        // This client's own origin connection from its previous request, under the pool's rule
        // (§8.3), nothing pending on it, idle for less than the pool's limit.
        if (held_ && Clock::now() - held_->since > pool_.idle_limit()) held_.reset();
        if (held_ && may_reuse(held_->host, held_->port, held_->address, target.host.text,
                               target.port, d.addresses)) {
          Held h = std::move(*held_);
          held_.reset();
          if (upstream_still_idle(h.socket)) {
            Exchange ex =
                co_await exchange(h.socket, head, target, framing, keep_alive, cfg, true, true);
            if (!ex.retry) {
              if (ex.upstream_reusable) hold(h.host, h.port, h.address, std::move(h.socket));
              co_return ex.client_keep;
            }
          }
        }
        while (auto pooled = pool_.take(target.host.text, target.port, d.addresses)) {
          Exchange ex =
              co_await exchange(pooled->socket, head, target, framing, keep_alive, cfg, true, true);
          if (ex.retry) continue;
          if (ex.upstream_reusable) {
            hold(target.host.text, target.port, pooled->address, std::move(pooled->socket));
          }
          co_return ex.client_keep;
        }
      }
    }
    // Not `cond ? co_await a : co_await b`: g++ 12 destroys the temporary twice.
    net::DialResult dialed;
    if (tls_upstream) {
      dialed = co_await dial_secure(target.host, target.port, d.addresses, budget);
    } else {
      dialed = co_await runtime::dial(ctx_.rt, d.addresses, target.port, budget);
    }
    if (!dialed.ok()) {
      auto failure = net::to_http_failure(dialed.error);
      co_await send(client_, text_response(static_cast<int>(failure.status), failure.body, false));
      co_return false;
    }
    if (tls_upstream) {
      ssl::stream<tcp::socket> tls(std::move(*dialed.socket), ctx_.upstream_tls);
      if (!co_await tls_handshake(tls, target.host)) {
        co_await send(client_, text_response(502, upstream_error_, false));
        co_return false;
      }
      Exchange ex = co_await exchange(tls, head, target, framing, keep_alive, cfg, false, false);
      error_code ignored;
      tls.lowest_layer().close(ignored);
      co_return ex.client_keep;
    }
    Exchange ex =
        co_await exchange(*dialed.socket, head, target, framing, keep_alive, cfg, true, false);
    if (ex.upstream_reusable) {
      hold(target.host.text, target.port, dialed.address, std::move(*dialed.socket));
    }
    co_return ex.client_keep;
  }

  asio::awaitable<bool> tls_handshake(ssl::stream<tcp::socket>& tls,
                                      const core::CanonicalHost& host) {
    if (!host.is_ip()) {
      // SNI: Asio does not set it (cpp-stack A.5-19).
      SSL_set_tlsext_host_name(tls.native_handle(), host.text.c_str());
    }
    tls.set_verify_callback(
        ssl::host_name_verification(host.is_ip() && host.ip ? host.ip->to_string() : host.text));
    asio::steady_timer timer(co_await asio::this_coro::executor, kTlsDeadline);
    auto r = co_await (tls.async_handshake(ssl::stream_base::client, kTuple) ||
                       timer.async_wait(kTuple));
    if (r.index() == 1) co_return false;
    co_return !std::get<0>(std::get<0>(r));
  }

  struct Exchange {
    bool client_keep = false;        // the client connection can carry another request
    bool upstream_reusable = false;  // the upstream connection can go back to the pool
    bool retry = false;  // a reused connection failed before any response: nothing was sent to
                         // the client, the request may go out again on a fresh connection
  };

  // Sends the request upstream and the response back (SPEC §8.3).
  template <class Upstream>
  asio::awaitable<Exchange> exchange(Upstream& up, const RequestHead& head,
                                     const AbsoluteTarget& target, const BodyFraming& framing,
                                     bool keep_alive, const Config& cfg, bool plain_upstream,
                                     bool reused) {
    Exchange result;
    const bool ws_allowed = target.scheme == "http" || target.scheme == "ws";
    const std::string& method = head.method;
    Headers headers = head.headers;
    const bool expect_continue = headers_contain_token(headers, "expect", "100-continue");
    const bool upgrade =
        strip_hop_by_hop(headers, Direction::request, ws_allowed && plain_upstream);
    if (unix_host_) {
      headers.set("Host", *unix_host_);  // §11: the client's Host, or localhost
    } else {
      headers.set("Host", format_authority(target.host, target.port, target.default_port));
    }
    if (framing.kind == BodyFraming::Kind::chunked) headers.add("Transfer-Encoding", "chunked");
    // §8.1 accepts identical repeated lengths as one; forward exactly one (§8.3 re-framing).
    if (framing.kind == BodyFraming::Kind::content_length) {
      headers.set("Content-Length", std::to_string(framing.length));
    }
    // Plain connections may be pooled (HTTP/1.1 keeps them open by default), and a MITM tunnel
    // keeps its one upstream TLS connection; other TLS ones are closed after the response.
    if (!upgrade && !plain_upstream && !mitm_) headers.add("Connection", "close");
    std::string request_target = target.origin_form;
    if (via_proxy_) {
      // SPEC §12: absolute-form with the canonical authority, and the upstream's credentials.
      request_target = target.scheme + "://" +
                       format_authority(target.host, target.port, target.default_port) +
                       target.origin_form;
      if (!via_proxy_->authorization.empty()) {
        headers.set("Proxy-Authorization", via_proxy_->authorization);
      }
    }
    if (co_await send(up, serialize_request_head(method, request_target, headers))) {
      if (reused) {
        result.retry = true;
        co_return result;
      }
      co_await send(client_, text_response(502, upstream_error_, false));
      co_return result;
    }

    const auto idle = std::chrono::seconds(cfg.idle_timeout_s);
    std::string ubuf;
    bool body_sent = framing.kind == BodyFraming::Kind::none;
    if (!expect_continue && !body_sent) {
      if (!co_await send_body(up, framing, idle)) co_return result;
      body_sent = true;
    }

    for (;;) {
      ResponseHeadParser rp;
      const auto deadline = Clock::now() + idle;
      HeadParseResult r;
      for (;;) {
        r = rp.feed(ubuf);
        if (r.status != ParseStatus::need_more) break;
        error_code ec = co_await read_more(up, ubuf, deadline, kHeadChunk);
        if (ec) {
          const bool timeout = ec == asio::error::timed_out;
          if (reused && !timeout && ubuf.empty()) {
            // The origin closed the idle connection as we reused it (a benign race).
            result.retry = true;
            co_return result;
          }
          co_await send(client_,
                        text_response(timeout ? 504 : 502,
                                      timeout ? "upstream timeout" : upstream_error_, false));
          co_return result;
        }
      }
      if (r.status == ParseStatus::error) {
        co_await send(client_, text_response(502, upstream_error_, false));
        co_return result;
      }
      ResponseHead resp = rp.take_head();
      ubuf.erase(0, r.consumed);

      if (resp.status == 101) {
        if (!upgrade) {
          co_await send(client_, text_response(502, upstream_error_, false));
          co_return result;
        }
        if constexpr (std::is_same_v<Upstream, tcp::socket> ||
                      std::is_same_v<Upstream, asio::local::stream_protocol::socket>) {
          strip_hop_by_hop(resp.headers, Direction::response, true);
          std::string out = serialize_response_head(1, 101, resp.reason, resp.headers);
          if (co_await write_all(client_, out)) co_return result;
          co_await tunnel(up, runtime::TunnelKind::websocket, std::move(buf_), std::move(ubuf),
                          cfg.idle_timeout_s);
        }
        co_return result;
      }
      if (resp.status < 200) {
        // Interim responses (100 Continue and friends) go to HTTP/1.1 clients as they come.
        if (head.version_minor >= 1) {
          strip_hop_by_hop(resp.headers, Direction::response);
          if (co_await send(client_,
                            serialize_response_head(1, resp.status, resp.reason, resp.headers))) {
            co_return result;
          }
        }
        if (resp.status == 100 && !body_sent) {
          if (!co_await send_body(up, framing, idle)) co_return result;
          body_sent = true;
        }
        continue;
      }

      auto rframing = response_framing(resp, method);
      if (!rframing) {
        co_await send(client_, text_response(502, upstream_error_, false));
        co_return result;
      }
      const bool origin_keeps = resp.version_minor >= 1 &&
                                !headers_contain_token(resp.headers, "connection", "close") &&
                                rframing->kind != BodyFraming::Kind::until_close;
      // A final answer before the body was sent (Expect: 100-continue declined): the client's
      // body is still on the wire, so the connection cannot be reused.
      bool client_keep = keep_alive && body_sent && !ctx_.stopping.load();
      strip_hop_by_hop(resp.headers, Direction::response);
      const bool http11 = head.version_minor >= 1;
      bool chunk_to_client = false;
      switch (rframing->kind) {
        case BodyFraming::Kind::none:
          break;
        case BodyFraming::Kind::content_length:
          resp.headers.set("Content-Length", std::to_string(rframing->length));
          break;
        case BodyFraming::Kind::chunked:
        case BodyFraming::Kind::until_close:
          resp.headers.remove("content-length");
          if (http11) {
            resp.headers.add("Transfer-Encoding", "chunked");
            chunk_to_client = true;
          } else {
            client_keep = false;  // HTTP/1.0: the end of the body is the end of the connection
          }
          break;
      }
      resp.headers.add("Connection", client_keep ? "keep-alive" : "close");
      std::string out = serialize_response_head(1, resp.status, resp.reason, resp.headers);
      if (rframing->kind == BodyFraming::Kind::content_length && ubuf.size() >= rframing->length) {
        // The whole body came with the head (small responses): one write for both, which saves
        // a system call and a TCP segment per request.
        const auto n = static_cast<std::size_t>(rframing->length);
        out.append(ubuf, 0, n);
        ubuf.erase(0, n);
        if (co_await send(client_, std::move(out))) co_return result;
      } else {
        // The part of a sized body that came with the head goes out with the head too.
        BodyFraming rest = *rframing;
        if (rest.kind == BodyFraming::Kind::content_length && !ubuf.empty()) {
          const auto n =
              static_cast<std::size_t>(std::min<std::uint64_t>(rest.length, ubuf.size()));
          out.append(ubuf, 0, n);
          ubuf.erase(0, n);
          rest.length -= n;
        }
        if (co_await send(client_, std::move(out))) co_return result;
        if (!co_await relay_response_body(up, ubuf, rest, chunk_to_client, idle)) {
          co_return result;
        }
      }
      result.client_keep = client_keep;
      result.upstream_reusable = (plain_upstream || mitm_) && !upgrade && origin_keeps &&
                                 body_sent && ubuf.empty() && !ctx_.stopping.load();
      co_return result;
    }
  }

  // A sized response body that passes through unchanged moves socket → pipe → socket inside the
  // kernel: no user-space copy, no zero-filled read buffer (docs/benchmarks.md, 64 KiB GET). The
  // pipe is this thread's spare (UpstreamPool). nullopt: splice was refused before a byte moved,
  // copy instead.
  asio::awaitable<std::optional<bool>> splice_body(tcp::socket& up, std::uint64_t left,
                                                   std::chrono::seconds idle) {
    net::Pipe pipe = pool_.take_pipe();
    if (!pipe.is_open() && pipe.open()) co_return std::nullopt;
    error_code ec;
    for (tcp::socket* s : {&up, &client_}) {
      if (!s->native_non_blocking()) s->native_non_blocking(true, ec);
      if (ec) co_return std::nullopt;
    }
    bool moved_any = false;
    std::size_t in_pipe = 0;
    while (left > 0 || in_pipe > 0) {
      if (in_pipe == 0) {
        const auto max = static_cast<std::size_t>(std::min<std::uint64_t>(left, kSpliceBodyMax));
        const net::SpliceResult in = net::splice_in(up.native_handle(), pipe, max);
        if (in.error == asio::error::would_block) {
          // Readiness by a one-byte peek: tried at once, then queued without an epoll re-arm.
          char byte = 0;
          asio::steady_timer deadline(client_.get_executor(), idle);
          auto [order, read_ec, n, timer_ec] =
              co_await asio::experimental::make_parallel_group(
                  up.async_receive(asio::buffer(&byte, 1), tcp::socket::message_peek,
                                   asio::deferred),
                  deadline.async_wait(asio::deferred))
                  .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
          if (n == 0) co_return false;  // deadline, EOF before the whole body, or an error
          continue;
        }
        if (in.error && !moved_any && net::splice_unsupported(in.error)) co_return std::nullopt;
        if (in.error || in.bytes == 0) co_return false;  // reset, or the origin closed early
        moved_any = true;
        in_pipe = in.bytes;
        left -= in.bytes;
      }
      const net::SpliceResult out = net::splice_out(pipe, client_.native_handle(), in_pipe);
      if (out.error == asio::error::would_block) {
        auto [wait_ec] = co_await client_.async_wait(tcp::socket::wait_write, kTuple);
        if (wait_ec) co_return false;
        continue;
      }
      if (out.error) co_return false;  // the pipe may hold bytes: it is closed, not kept
      in_pipe -= out.bytes;
    }
    pool_.give_pipe(std::move(pipe));
    co_return true;
  }

  // SIGPIPE must not be at its default action for splice (see net/splice.hpp); asked once per
  // client connection.
  bool splice_allowed() {
    if (!splice_allowed_) splice_allowed_ = net::sigpipe_handled();
    return *splice_allowed_;
  }

  // Streams the request body from the client to the upstream, re-framed (SPEC §8.3).
  template <class Upstream>
  asio::awaitable<bool> send_body(Upstream& up, const BodyFraming& framing,
                                  std::chrono::seconds idle) {
    if (framing.kind == BodyFraming::Kind::content_length) {
      std::uint64_t left = framing.length;
      while (left > 0) {
        if (buf_.empty()) {
          if (co_await read_more(client_, buf_, Clock::now() + idle)) co_return false;
        }
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf_.size()));
        if (co_await write_all(up, std::string_view(buf_).substr(0, n))) co_return false;
        buf_.erase(0, n);
        left -= n;
      }
      co_return true;
    }
    if (framing.kind == BodyFraming::Kind::chunked) {
      ChunkedDecoder decoder;
      for (;;) {
        std::string_view in = buf_;
        std::string out;
        std::size_t used = 0;
        while (!in.empty()) {
          auto step = decoder.feed(in);
          if (!step.data.empty()) out += encode_chunk(step.data);
          used += step.consumed;
          in.remove_prefix(step.consumed);
          if (step.status != ChunkedDecoder::Status::need_more) break;
          if (step.consumed == 0) break;
        }
        buf_.erase(0, used);
        if (decoder.status() == ChunkedDecoder::Status::done) out += kLastChunk;
        if (!out.empty() && co_await write_all(up, out)) co_return false;
        if (decoder.status() == ChunkedDecoder::Status::done) co_return true;
        if (decoder.status() == ChunkedDecoder::Status::error) {
          co_await send(client_, text_response(400, kMalformedRequest.body, false));
          co_return false;
        }
        if (co_await read_more(client_, buf_, Clock::now() + idle)) co_return false;
      }
    }
    co_return true;
  }

  // Streams the response body to the client. Returns false when the client connection must
  // close (an error, or a body that could not be completed).
  template <class Upstream>
  asio::awaitable<bool> relay_response_body(Upstream& up, std::string& ubuf,
                                            const BodyFraming& framing, bool chunk_to_client,
                                            std::chrono::seconds idle) {
    switch (framing.kind) {
      case BodyFraming::Kind::none:
        co_return true;
      case BodyFraming::Kind::content_length: {
        std::uint64_t left = framing.length;
        if constexpr (std::is_same_v<Client, tcp::socket> &&
                      std::is_same_v<Upstream, tcp::socket>) {
          if (!chunk_to_client && ubuf.empty() && left >= kSpliceBodyMin && splice_allowed()) {
            const std::optional<bool> spliced = co_await splice_body(up, left, idle);
            if (spliced) co_return *spliced;
          }
        }
        while (left > 0) {
          if (ubuf.empty()) {
            // Up to 64 KiB per read: a large body moves in a few reads and writes, not one per
            // 16 KiB (each read costs a deadline and a wake-up; docs/benchmarks.md, 64 KiB GET).
            const std::size_t chunk = static_cast<std::size_t>(
                std::clamp<std::uint64_t>(left, kBodyChunkMin, kBodyChunkMax));
            if (co_await read_more(up, ubuf, Clock::now() + idle, chunk)) co_return false;
          }
          const std::size_t n =
              static_cast<std::size_t>(std::min<std::uint64_t>(left, ubuf.size()));
          if (co_await write_all(client_, std::string_view(ubuf).substr(0, n))) co_return false;
          ubuf.erase(0, n);
          left -= n;
        }
        co_return true;
      }
      case BodyFraming::Kind::chunked: {
        ChunkedDecoder decoder;
        for (;;) {
          std::string_view in = ubuf;
          std::string out;
          std::size_t used = 0;
          while (!in.empty()) {
            auto step = decoder.feed(in);
            if (!step.data.empty()) {
              if (chunk_to_client) {
                out += encode_chunk(step.data);
              } else {
                out += step.data;
              }
            }
            used += step.consumed;
            in.remove_prefix(step.consumed);
            if (step.status != ChunkedDecoder::Status::need_more || step.consumed == 0) break;
          }
          ubuf.erase(0, used);
          const bool done = decoder.status() == ChunkedDecoder::Status::done;
          if (done && chunk_to_client) out += kLastChunk;
          if (!out.empty() && co_await write_all(client_, out)) co_return false;
          if (done) co_return true;
          if (decoder.status() == ChunkedDecoder::Status::error) co_return false;
          if (co_await read_more(up, ubuf, Clock::now() + idle)) co_return false;
        }
      }
      case BodyFraming::Kind::until_close: {
        for (;;) {
          if (!ubuf.empty()) {
            std::string out = chunk_to_client ? encode_chunk(ubuf) : ubuf;
            ubuf.clear();
            if (co_await write_all(client_, out)) co_return false;
          }
          error_code ec = co_await read_more(up, ubuf, Clock::now() + idle);
          if (ec && ubuf.empty()) {
            if (!is_eof<Upstream>(ec)) co_return false;
            if (chunk_to_client) co_return !co_await write_all(client_, kLastChunk);
            co_return true;
          }
        }
      }
    }
    co_return false;
  }

  Client client_;
  SessionContext& ctx_;
  UpstreamPool& pool_;  // this I/O thread's idle upstream connections
  std::string peer_;
  std::string buf_;  // client bytes received and not yet consumed
  std::optional<MitmTunnel> mitm_;
  std::shared_ptr<void> life_;  // the connection's registration: handed on to a relay
  std::optional<bool> splice_allowed_;
  std::optional<ssl::stream<tcp::socket>> mitm_upstream_;  // one per tunnel, re-opened on close
  std::optional<std::string> unix_host_;  // set while a request goes to a unix socket
  struct ViaProxy {
    std::string authorization;  // "Basic ..." or empty
  };
  std::optional<ViaProxy> via_proxy_;  // set while a request goes to an upstream HTTP proxy
  std::string_view upstream_error_ = "upstream failure";
  // The origin connection of this client's previous plain-HTTP request, kept with the client
  // connection (as squid's persistent connections are) so a keep-alive client talking to one
  // origin neither competes for the shared pool's 8 idle slots nor re-dials when more clients
  // than slots are active. It joins the pool when a later request leaves it unused for another
  // origin's connection, and when the client connection closes.
  struct Held {
    std::string host;
    std::uint16_t port = 0;
    core::IpAddress address;
    tcp::socket socket;
    Clock::time_point since;  // idle since; the pool's idle limit applies to held time too
  };
  std::optional<Held> held_;
};

}  // namespace

asio::awaitable<void> serve_http_connection(tcp::socket client, SessionContext& ctx,
                                            UpstreamPool& pool, std::shared_ptr<void> life,
                                            std::optional<tcp::endpoint> peer) {
  Session<tcp::socket> session(std::move(client), ctx, pool,
                               peer ? runtime::endpoint_text(*peer) : std::string(), {},
                               std::move(life));
  co_await session.run();
}

}  // namespace netfence::http
