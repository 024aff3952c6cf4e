// A scriptable HTTP/1.1 origin server on 127.0.0.1 (ephemeral port) for the proxy's integration
// tests. It runs on its own threads (one accept thread, one thread per connection, plain POSIX
// sockets), optionally speaks TLS (OpenSSL), records every request it receives and answers
// from a script:
//
//   fixed            status, headers, body with Content-Length (none for 204 and 304)
//   chunked          the body in the given chunks, Transfer-Encoding: chunked
//   until_close      no length: the body, then the connection is closed
//   echo             200 with a body describing the request (see echo_body())
//   raw              the bytes of `raw` verbatim, then close (malformed responses)
//   never            read the request, never answer (for timeouts)
//   websocket        101 Switching Protocols (Upgrade: websocket), then echo every byte
//
// A request carrying `Expect: 100-continue` gets `HTTP/1.1 100 Continue` before its body is
// read (unless `continue_with_100` is off). A connection whose request says `Connection: close`
// is closed after the answer; otherwise it serves further requests (keep-alive).
//
// Stream mode (`Options::stream_echo`) is for CONNECT tunnels: every byte received is recorded
// and echoed back; when the client half-closes, the server writes `stream_farewell` and closes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace netfence::testing {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct OriginRequest {
  std::size_t connection_id = 0;  // 1, 2, ... in accept order
  std::string method, target, version;
  HeaderList headers;  // in arrival order, names as received
  std::string body;    // decoded (chunked bodies de-chunked)
  bool chunked = false;

  /// First value of the header (case-insensitive name), if present.
  std::optional<std::string> header(std::string_view name) const;
  std::size_t header_count(std::string_view name) const;
};

struct OriginResponse {
  enum class Kind : std::uint8_t { fixed, chunked, until_close, echo, raw, never, websocket };
  Kind kind = Kind::fixed;
  int status = 200;
  std::string reason = "OK";
  HeaderList headers;
  std::string body;                 // fixed, until_close
  std::vector<std::string> chunks;  // chunked
  std::string raw;                  // raw
  /// chunked: pause between chunks (each chunk is written separately), to prove streaming.
  std::chrono::milliseconds chunk_delay{0};

  static OriginResponse text(std::string body, int status = 200, std::string reason = "OK");
  static OriginResponse chunked_body(std::vector<std::string> chunks);
  static OriginResponse until_close_body(std::string body);
  static OriginResponse echo();
  static OriginResponse raw_bytes(std::string bytes);
  static OriginResponse never();
  static OriginResponse websocket();
};

/// The body an `echo` answer carries: "<METHOD> <target>\nhost: <Host>\n\n<body>".
std::string echo_body(const OriginRequest& r);

class OriginServer {
 public:
  struct Options {
    bool tls = false;
    std::string cert_file, key_file;  // PEM; required when tls
    bool continue_with_100 = true;
    bool stream_echo = false;
    /// false: close the connection after every answer without saying so (no
    /// `Connection: close`), like a server whose keep-alive timer fired.
    bool keep_alive = true;
    std::string stream_farewell = "BYE";
    /// Stream mode, server speaks first: when non-empty, each connection gets this greeting,
    /// then the server shuts down its write side and only records what arrives until EOF.
    std::string stream_greeting_then_half_close;
  };

  OriginServer();
  explicit OriginServer(Options options);
  ~OriginServer();
  OriginServer(const OriginServer&) = delete;
  OriginServer& operator=(const OriginServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }

  /// Every request gets this answer (default: echo).
  void respond_with(OriginResponse response);
  /// Per-request answers; overrides respond_with.
  void set_handler(std::function<OriginResponse(const OriginRequest&)> handler);

  std::vector<OriginRequest> requests() const;
  std::size_t request_count() const;
  std::size_t connection_count() const;
  /// Waits until at least `n` requests were recorded.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;
  bool wait_for_connections(std::size_t n, std::chrono::milliseconds timeout) const;

  /// Stream mode and websocket relays: bytes received on connection `id` (after the 101 for
  /// websockets) and whether that connection saw EOF from its peer.
  std::string stream_bytes(std::size_t id) const;
  bool stream_eof(std::size_t id) const;
  /// Waits until connection `id` has received at least `n` stream bytes (or EOF when n == 0).
  bool wait_for_stream(std::size_t id, std::size_t n, std::chrono::milliseconds timeout) const;
  bool wait_for_stream_eof(std::size_t id, std::chrono::milliseconds timeout) const;
  /// Waits until connection `id` was closed (by either side) and its thread finished.
  bool wait_for_closed(std::size_t id, std::chrono::milliseconds timeout) const;

  void stop();

 private:
  struct Connection;
  struct State;
  void accept_loop();
  void serve(std::shared_ptr<Connection> c);
  void serve_http(Connection& c);
  void serve_stream(Connection& c, std::string initial);

  Options options_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*
  std::thread accept_thread_;
  std::shared_ptr<State> state_;
};

}  // namespace netfence::testing
