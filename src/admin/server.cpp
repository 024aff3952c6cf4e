#include "admin/server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/wire/framing.hpp"
#include "http/wire/request_head.hpp"
#include "net/stream_io.hpp"

namespace netfence::admin {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kRequestDeadline = 10s;  // SPEC §13: per request, head to answer
constexpr std::size_t kMaxHead = 8 * 1024;  // SPEC §13: request line and fields together

void close_socket(tcp::socket& s) {
  boost::system::error_code ignored;
  s.shutdown(tcp::socket::shutdown_both, ignored);
  s.close(ignored);
}

AdminResponse plain(int status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

// Runs on the control executor. Parameters by value: they must outlive the hop between threads.
asio::awaitable<AdminResponse> run_handler(AdminRequest req, AdminBackend* backend,
                                           AdminSecurity security) {
  co_return handle_admin_request(req, *backend, security);
}

class Connection {
 public:
  Connection(tcp::socket socket, AdminContext& ctx) : socket_(std::move(socket)), ctx_(ctx) {}

  asio::awaitable<void> run() {
    for (;;) {
      const auto deadline = Clock::now() + kRequestDeadline;
      http::HeadLimits limits;
      limits.max_start_line = kMaxHead;
      limits.max_header_bytes = kMaxHead;
      http::RequestHeadParser parser(limits);
      http::HeadParseResult r;
      for (;;) {
        r = parser.feed(buf_);
        if (r.status != http::ParseStatus::need_more) break;
        if (buf_.size() > kMaxHead) break;  // unfinished head already over the limit
        if (co_await net::read_more(socket_, buf_, deadline, 4096)) co_return close_socket(socket_);
      }
      // The parser bounds the line and the fields separately; the admin limit is on their sum.
      if (r.status == http::ParseStatus::done && r.consumed > kMaxHead) {
        r.status = http::ParseStatus::need_more;
      }
      if (r.status != http::ParseStatus::done) {
        const int status = r.status == http::ParseStatus::error ? r.error.status : 431;
        const std::string body =
            r.status == http::ParseStatus::error ? std::string(r.error.body) : "head too large";
        co_await net::send(socket_, serialize(plain(status, body), false));
        co_return close_socket(socket_);
      }
      http::RequestHead head = parser.take_head();
      buf_.erase(0, r.consumed);

      AdminRequest req;
      req.method = head.method;
      req.target = head.target;
      bool keep_alive = head.version_minor >= 1 &&
                        !http::headers_contain_token(head.headers, "connection", "close");
      if (req.target.empty() || req.target.front() != '/') {
        co_await net::send(socket_, serialize(plain(400, "origin-form requests only"), false));
        co_return close_socket(socket_);
      }
      auto framing = http::request_framing(head);
      if (!framing) {
        co_await net::send(
            socket_,
            serialize(plain(framing.error().status, std::string(framing.error().body)), false));
        co_return close_socket(socket_);
      }
      if (framing->kind == http::BodyFraming::Kind::chunked) {
        co_await net::send(socket_,
                           serialize(plain(411, "a Content-Length body is required"), false));
        co_return close_socket(socket_);
      }
      if (framing->kind == http::BodyFraming::Kind::content_length) {
        if (framing->length > kMaxBody) {
          req.body_too_large = true;
          keep_alive = false;  // the body stays unread
        } else {
          const auto len = static_cast<std::size_t>(framing->length);
          while (buf_.size() < len) {
            if (co_await net::read_more(socket_, buf_, deadline, 4096)) {
              co_return close_socket(socket_);
            }
          }
          req.body = buf_.substr(0, len);
          buf_.erase(0, len);
        }
      }
      req.headers = std::move(head.headers);

      AdminSecurity security;
      security.token = ctx_.token();
      security.listener_ip = ctx_.listener_ip;
      auto handler = run_handler(std::move(req), &ctx_.backend, std::move(security));
      AdminResponse resp =
          co_await asio::co_spawn(ctx_.control, std::move(handler), asio::use_awaitable);
      if (co_await net::send(socket_, serialize(resp, keep_alive)) || !keep_alive) {
        co_return close_socket(socket_);
      }
    }
  }

 private:
  tcp::socket socket_;
  AdminContext& ctx_;
  std::string buf_;
};

}  // namespace

asio::awaitable<void> serve_admin_connection(tcp::socket socket, AdminContext& ctx) {
  struct Count {
    std::atomic<int>& n;
    ~Count() { n.fetch_sub(1); }
  } count{ctx.connections};
  if (ctx.connections.fetch_add(1) >= kMaxAdminConnections) {
    co_await net::send(socket, serialize(plain(503, "too many connections"), false));
    co_return close_socket(socket);
  }
  Connection c(std::move(socket), ctx);
  co_await c.run();
}

}  // namespace netfence::admin
