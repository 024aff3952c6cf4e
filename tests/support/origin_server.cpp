#include "origin_server.hpp"

#include <csignal>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <stdexcept>

namespace netfence::testing {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string websocket_accept(const std::string& key) {
  const std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

}  // namespace

std::optional<std::string> OriginRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

std::size_t OriginRequest::header_count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const auto& kv) { return iequals(kv.first, name); }));
}

OriginResponse OriginResponse::text(std::string body, int status, std::string reason) {
  OriginResponse r;
  r.kind = Kind::fixed;
  r.status = status;
  r.reason = std::move(reason);
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "text/plain");
  return r;
}

OriginResponse OriginResponse::chunked_body(std::vector<std::string> chunks) {
  OriginResponse r;
  r.kind = Kind::chunked;
  r.chunks = std::move(chunks);
  return r;
}

OriginResponse OriginResponse::until_close_body(std::string body) {
  OriginResponse r;
  r.kind = Kind::until_close;
  r.body = std::move(body);
  return r;
}

OriginResponse OriginResponse::echo() {
  OriginResponse r;
  r.kind = Kind::echo;
  return r;
}

OriginResponse OriginResponse::raw_bytes(std::string bytes) {
  OriginResponse r;
  r.kind = Kind::raw;
  r.raw = std::move(bytes);
  return r;
}

OriginResponse OriginResponse::never() {
  OriginResponse r;
  r.kind = Kind::never;
  return r;
}

OriginResponse OriginResponse::websocket() {
  OriginResponse r;
  r.kind = Kind::websocket;
  return r;
}

std::string echo_body(const OriginRequest& r) {
  return r.method + " " + r.target + "\nhost: " + r.header("host").value_or("") + "\n\n" + r.body;
}

struct OriginServer::Connection {
  int fd = -1;
  SSL* ssl = nullptr;
  std::size_t id = 0;
  std::string buf;

  ~Connection() {
    if (ssl) SSL_free(ssl);
  }

  // Reads more bytes into buf; false at EOF or on an error.
  bool fill() {
    char tmp[64 * 1024];
    long n;
    if (ssl) {
      n = SSL_read(ssl, tmp, sizeof tmp);
    } else {
      n = ::recv(fd, tmp, sizeof tmp, 0);
    }
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  bool write(std::string_view data) {
    while (!data.empty()) {
      long n;
      if (ssl) {
        n = SSL_write(ssl, data.data(),
                      static_cast<int>(std::min<std::size_t>(data.size(), 1 << 20)));
      } else {
        n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      }
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads a CRLF-terminated line (without the CRLF).
  bool line(std::string& out) {
    std::size_t pos;
    while ((pos = buf.find("\r\n")) == std::string::npos) {
      if (!fill()) return false;
    }
    out = buf.substr(0, pos);
    buf.erase(0, pos + 2);
    return true;
  }

  bool exactly(std::size_t n, std::string& out) {
    while (buf.size() < n) {
      if (!fill()) return false;
    }
    out.append(buf, 0, n);
    buf.erase(0, n);
    return true;
  }
};

struct OriginServer::State {
  mutable std::mutex m;
  mutable std::condition_variable cv;
  std::vector<OriginRequest> requests;
  std::size_t connections = 0;
  std::map<std::size_t, std::string> stream;
  std::set<std::size_t> eof, closed;
  std::vector<std::shared_ptr<Connection>> open;
  std::vector<std::thread> threads;
  std::function<OriginResponse(const OriginRequest&)> handler;
  OriginResponse fixed = OriginResponse::echo();
  bool stopping = false;
};

OriginServer::OriginServer() : OriginServer(Options{}) {}

OriginServer::OriginServer(Options options)
    : options_(std::move(options)), state_(std::make_shared<State>()) {
  // OpenSSL writes with plain write(2): a client that hung up must not kill the test binary.
  static const bool sigpipe_ignored = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;
  if (options_.tls) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, options_.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ctx) SSL_CTX_free(ctx);
      throw std::runtime_error("origin: cannot load the TLS certificate or key");
    }
    ssl_ctx_ = ctx;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 128) != 0) {
    throw std::runtime_error("origin: cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

OriginServer::~OriginServer() {
  stop();
  if (ssl_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

void OriginServer::respond_with(OriginResponse response) {
  std::lock_guard lock(state_->m);
  state_->fixed = std::move(response);
}

void OriginServer::set_handler(std::function<OriginResponse(const OriginRequest&)> handler) {
  std::lock_guard lock(state_->m);
  state_->handler = std::move(handler);
}

std::vector<OriginRequest> OriginServer::requests() const {
  std::lock_guard lock(state_->m);
  return state_->requests;
}

std::size_t OriginServer::request_count() const {
  std::lock_guard lock(state_->m);
  return state_->requests.size();
}

std::size_t OriginServer::connection_count() const {
  std::lock_guard lock(state_->m);
  return state_->connections;
}

bool OriginServer::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->m);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->requests.size() >= n; });
}

bool OriginServer::wait_for_connections(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->m);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->connections >= n; });
}

std::string OriginServer::stream_bytes(std::size_t id) const {
  std::lock_guard lock(state_->m);
  auto it = state_->stream.find(id);
  return it == state_->stream.end() ? std::string() : it->second;
}

bool OriginServer::stream_eof(std::size_t id) const {
  std::lock_guard lock(state_->m);
  return state_->eof.count(id) > 0;
}

bool OriginServer::wait_for_stream(std::size_t id, std::size_t n,
                                   std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->m);
  return state_->cv.wait_for(lock, timeout, [&] {
    auto it = state_->stream.find(id);
    return it != state_->stream.end() && it->second.size() >= n;
  });
}

bool OriginServer::wait_for_stream_eof(std::size_t id, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->m);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->eof.count(id) > 0; });
}

bool OriginServer::wait_for_closed(std::size_t id, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->m);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->closed.count(id) > 0; });
}

void OriginServer::stop() {
  {
    std::lock_guard lock(state_->m);
    if (state_->stopping) return;
    state_->stopping = true;
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto w = ::write(wake_fd_, &one, sizeof one);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(state_->m);
    for (auto& c : state_->open) {
      if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);
    }
    threads = std::move(state_->threads);
  }
  for (auto& t : threads) t.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void OriginServer::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto c = std::make_shared<Connection>();
    c->fd = fd;
    std::lock_guard lock(state_->m);
    if (state_->stopping) {
      ::close(fd);
      return;
    }
    c->id = ++state_->connections;
    state_->open.push_back(c);
    state_->threads.emplace_back([this, c] { serve(c); });
    state_->cv.notify_all();
  }
}

void OriginServer::serve(std::shared_ptr<Connection> c) {
  bool ok = true;
  if (ssl_ctx_) {
    c->ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
    SSL_set_fd(c->ssl, c->fd);
    ok = SSL_accept(c->ssl) == 1;
    ERR_clear_error();
  }
  if (ok) {
    if (!options_.stream_greeting_then_half_close.empty()) {
      if (c->write(options_.stream_greeting_then_half_close)) {
        if (c->ssl) SSL_shutdown(c->ssl);
        ::shutdown(c->fd, SHUT_WR);
        for (;;) {
          c->buf.clear();
          if (!c->fill()) break;
          std::lock_guard lock(state_->m);
          state_->stream[c->id] += c->buf;
          state_->cv.notify_all();
        }
        std::lock_guard lock(state_->m);
        state_->eof.insert(c->id);
        state_->cv.notify_all();
      }
    } else if (options_.stream_echo) {
      serve_stream(*c, {});
    } else {
      serve_http(*c);
    }
  }
  if (c->ssl) SSL_shutdown(c->ssl);
  std::lock_guard lock(state_->m);
  ::close(c->fd);
  c->fd = -1;
  state_->closed.insert(c->id);
  state_->cv.notify_all();
}

void OriginServer::serve_stream(Connection& c, std::string initial) {
  {
    std::lock_guard lock(state_->m);
    state_->stream[c.id] += initial;
    state_->cv.notify_all();
  }
  if (!initial.empty() && !c.write(initial)) return;
  for (;;) {
    c.buf.clear();
    if (!c.fill()) break;
    {
      std::lock_guard lock(state_->m);
      state_->stream[c.id] += c.buf;
      state_->cv.notify_all();
    }
    if (!c.write(c.buf)) return;
  }
  {
    std::lock_guard lock(state_->m);
    state_->eof.insert(c.id);
    state_->cv.notify_all();
  }
  c.write(options_.stream_farewell);
}

void OriginServer::serve_http(Connection& c) {
  for (;;) {
    OriginRequest req;
    req.connection_id = c.id;
    std::string request_line;
    if (!c.line(request_line)) return;
    {
      const auto sp1 = request_line.find(' ');
      const auto sp2 = request_line.rfind(' ');
      if (sp1 == std::string::npos || sp2 == sp1) return;
      req.method = request_line.substr(0, sp1);
      req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
      req.version = request_line.substr(sp2 + 1);
    }
    for (;;) {
      std::string l;
      if (!c.line(l)) return;
      if (l.empty()) break;
      const auto colon = l.find(':');
      if (colon == std::string::npos) return;
      req.headers.emplace_back(l.substr(0, colon), trim(std::string_view(l).substr(colon + 1)));
    }
    if (options_.continue_with_100 &&
        icontains(req.header("expect").value_or(""), "100-continue")) {
      if (!c.write("HTTP/1.1 100 Continue\r\n\r\n")) return;
    }
    if (icontains(req.header("transfer-encoding").value_or(""), "chunked")) {
      req.chunked = true;
      for (;;) {
        std::string size_line;
        if (!c.line(size_line)) return;
        const std::size_t size = std::stoul(size_line.substr(0, size_line.find(';')), nullptr, 16);
        if (size == 0) {
          std::string trailer;
          do {
            if (!c.line(trailer)) return;
          } while (!trailer.empty());
          break;
        }
        if (!c.exactly(size, req.body)) return;
        std::string crlf;
        if (!c.line(crlf) || !crlf.empty()) return;
      }
    } else if (auto cl = req.header("content-length")) {
      if (!c.exactly(std::stoul(*cl), req.body)) return;
    }
    OriginResponse resp;
    {
      std::lock_guard lock(state_->m);
      state_->requests.push_back(req);
      state_->cv.notify_all();
      resp = state_->handler ? state_->handler(req) : state_->fixed;
    }
    const bool close_after =
        icontains(req.header("connection").value_or(""), "close") || req.version == "HTTP/1.0";
    auto head = [&](const HeaderList& extra) {
      std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + resp.reason + "\r\n";
      for (const auto& [k, v] : resp.headers) out += k + ": " + v + "\r\n";
      for (const auto& [k, v] : extra) out += k + ": " + v + "\r\n";
      if (close_after) out += "Connection: close\r\n";
      return out + "\r\n";
    };
    using Kind = OriginResponse::Kind;
    switch (resp.kind) {
      case Kind::echo:
        resp.body = echo_body(req);
        resp.headers.emplace_back("Content-Type", "text/plain");
        [[fallthrough]];
      case Kind::fixed: {
        HeaderList extra;
        bool has_length = false;
        for (const auto& kv : resp.headers) has_length |= iequals(kv.first, "content-length");
        if (!has_length && resp.status != 204 && resp.status != 304)
          extra.emplace_back("Content-Length", std::to_string(resp.body.size()));
        std::string out = head(extra);
        if (req.method != "HEAD") out += resp.body;
        if (!c.write(out)) return;
        break;
      }
      case Kind::chunked: {
        std::string out = head({{"Transfer-Encoding", "chunked"}});
        char size[32];
        for (std::size_t i = 0; i < resp.chunks.size(); ++i) {
          const auto& chunk = resp.chunks[i];
          std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
          out += size + chunk + "\r\n";
          if (resp.chunk_delay.count() > 0 && i + 1 < resp.chunks.size()) {
            if (!c.write(out)) return;
            out.clear();
            std::this_thread::sleep_for(resp.chunk_delay);
          }
        }
        out += "0\r\n\r\n";
        if (!c.write(out)) return;
        break;
      }
      case Kind::until_close: {
        c.write(head({}) + resp.body);
        return;
      }
      case Kind::raw:
        c.write(resp.raw);
        return;
      case Kind::never:
        while (c.fill()) c.buf.clear();
        return;
      case Kind::websocket: {
        if (!iequals(req.header("upgrade").value_or(""), "websocket")) {
          c.write(
              "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
          return;
        }
        std::string out =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
            websocket_accept(req.header("sec-websocket-key").value_or("")) + "\r\n\r\n";
        if (!c.write(out)) return;
        std::string rest = std::move(c.buf);
        c.buf.clear();
        serve_stream(c, std::move(rest));
        return;
      }
    }
    if (close_after || !options_.keep_alive) return;
  }
}

}  // namespace netfence::testing
