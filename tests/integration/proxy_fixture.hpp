// Harness for the HTTP proxy's integration tests: the real `netfence run` binary started with a
// config in a temp dir (stderr captured to a file), a raw TCP client for byte-exact checks, a
// curl wrapper, and a gtest fixture that ties them to a stub DNS server and origin servers.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "origin_server.hpp"
#include "process.hpp"
#include "stub_dns_server.hpp"

namespace netfence::testing {

using namespace std::chrono_literals;

/// One `netfence run --config <dir>/config.toml` process.
class NetfenceProcess {
 public:
  explicit NetfenceProcess(std::filesystem::path dir);
  ~NetfenceProcess();
  NetfenceProcess(const NetfenceProcess&) = delete;
  NetfenceProcess& operator=(const NetfenceProcess&) = delete;

  /// Writes the config, starts the binary and waits (bounded) for `HTTP proxy listening on`.
  /// Returns an empty string on success, else what went wrong (with the log).
  std::string start(const std::string& config_text,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void write_config(const std::string& config_text) const;
  /// An environment variable for the next start() (after the proxy variables were cleared).
  void set_env(std::string name, std::string value) {
    env_.emplace_back(std::move(name), std::move(value));
  }
  /// SIGHUP, then waits for one more `configuration reloaded` (or `config reload failed`) line.
  bool reload(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  std::uint16_t port() const { return port_; }
  /// The SOCKS5 listener's port (from its `SOCKS5 proxy listening on` line); 0 if none.
  std::uint16_t socks_port();
  pid_t pid() const { return pid_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string config_path() const { return (dir_ / "config.toml").string(); }

  /// Everything netfence wrote to stderr so far.
  std::string log() const;
  std::size_t count_in_log(std::string_view needle) const;
  bool wait_for_log(std::string_view needle, std::size_t count = 1,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  bool running();
  /// Waits for the process to exit on its own (no signal sent). Returns its exit code, -1 when
  /// it died from a signal, or nullopt when it is still running after `timeout`.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);
  /// Sends `sig` (SIGTERM by default) and waits up to `grace`, then SIGKILL. Returns the exit
  /// code, or -1 when it had to be killed or died from a signal. Idempotent.
  int stop(int sig = 15, std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t socks_port_ = 0;
  int exit_code_ = -1;
  std::vector<std::pair<std::string, std::string>> env_;
};

/// A parsed HTTP response read by RawClient.
struct HttpResponse {
  std::string version;
  int status = 0;
  std::string reason;
  HeaderList headers;
  std::string head;  // raw head bytes including the final CRLFCRLF
  std::string body;  // decoded body
  bool chunked = false;

  std::optional<std::string> header(std::string_view name) const;
  std::size_t header_count(std::string_view name) const;
};

/// Blocking TCP client with bounded waits, for byte-exact exchanges with the proxy.
class RawClient {
 public:
  RawClient() = default;
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connect(std::uint16_t port);
  bool send(std::string_view bytes);
  void shutdown_write();
  void close();

  /// Reads one response (head and body; 1xx responses have no body). nullopt on timeout, EOF
  /// before a complete response, or garbage.
  std::optional<HttpResponse> read_response(std::chrono::milliseconds timeout = 10s,
                                            bool head_request = false);
  /// Reads exactly `n` bytes (buffered bytes first).
  std::optional<std::string> read_exact(std::size_t n, std::chrono::milliseconds timeout = 10s);
  /// Reads until EOF; nullopt when the peer did not close within `timeout`. Connection resets
  /// count as a close.
  std::optional<std::string> read_until_close(std::chrono::milliseconds timeout = 10s);
  /// Waits until the unconsumed bytes contain `needle` (nothing is consumed).
  bool wait_for(std::string_view needle, std::chrono::milliseconds timeout);
  /// Bytes received but not consumed yet.
  const std::string& buffered() const { return buf_; }

 private:
  // Reads more into buf_; 1 = data, 0 = EOF/reset, -1 = timeout.
  int fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buf_;
};

struct CurlResult {
  int exit_code = -1;
  std::string out, err;
};

/// Runs /usr/bin/curl -sS with `args` and a clean proxy environment.
CurlResult curl(const std::vector<std::string>& args,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
std::uint16_t unused_port();

/// Per-test temp dir, a stub DNS server, and helpers to start netfence and build configs.
class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// `[network]` with enabled, an ephemeral proxy_url, no upstream proxy, the stub DNS server,
  /// then `extra` (TOML lines inside the network table).
  std::string config(const std::string& extra) const;
  /// allowed_domains = ["origin.test"], allow_local_binding and dns_hosts origin.test →
  /// 127.0.0.1, then `extra`.
  std::string origin_config(const std::string& extra = "") const;
  /// Starts netfence with config(extra); fails the test (fatal) on error.
  void start(const std::string& config_text);

  /// Raw client connected to the proxy.
  std::unique_ptr<RawClient> client();
  /// Sends `request` on a new connection, expects a text/plain `status` answer with exactly
  /// `body` and no x-proxy-error; with `must_close`, the connection closed after it (§8.1).
  void expect_text_error(const std::string& request, int status, std::string_view body,
                         bool must_close = false);
  /// Sends `request` on a new connection and reads one response.
  std::optional<HttpResponse> exchange(const std::string& request,
                                       std::chrono::milliseconds timeout = 10s);

  std::filesystem::path dir_;
  std::unique_ptr<StubDnsServer> dns_;
  std::unique_ptr<NetfenceProcess> proxy_;
};

/// `origin.test:<port>` style authority.
inline std::string authority(std::string_view host, std::uint16_t port) {
  return std::string(host) + ":" + std::to_string(port);
}

/// §8.5 JSON body, keys in order.
std::string refusal_json(std::string_view status, std::string_view host, std::string_view reason,
                         std::string_view source, std::string_view protocol, std::uint16_t port,
                         std::string_view message);

// §6.4 messages.
inline constexpr std::string_view kMsgNotAllowed =
    "Blocked: this host is not on the allowlist. Add it to allowed_domains to permit it.";
inline constexpr std::string_view kMsgNotAllowedLocal =
    "Blocked: local, private and cloud-metadata addresses are off limits. Allowlist the exact "
    "address or set allow_local_binding = true.";
inline constexpr std::string_view kMsgDenied =
    "Blocked: this host is on the denylist. Remove it from denied_domains to permit it.";
inline constexpr std::string_view kMsgMethod =
    "Blocked: limited mode permits only GET, HEAD and OPTIONS. Switch mode to \"full\" to allow "
    "this.";
inline constexpr std::string_view kMsgMitm =
    "Blocked: HTTPS in limited mode needs TLS interception. Set mitm = true or switch mode to "
    "\"full\".";
inline constexpr std::string_view kMsgSelf =
    "Blocked: the proxy's own listeners cannot be reached through the proxy.";
inline constexpr std::string_view kMsgDns =
    "The host name could not be resolved. Check the spelling or try again later.";

/// JSON-escapes `s` (quotes and backslashes; the messages have nothing else to escape).
std::string json_escape(std::string_view s);

}  // namespace netfence::testing
