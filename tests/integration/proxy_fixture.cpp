#include "proxy_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

namespace netfence::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

const char* const kProxyVars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                  "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};

}  // namespace

// ---------------------------------------------------------------------------------------------
// NetfenceProcess

NetfenceProcess::NetfenceProcess(std::filesystem::path dir) : dir_(std::move(dir)) {}

NetfenceProcess::~NetfenceProcess() { stop(SIGTERM, std::chrono::seconds(5)); }

void NetfenceProcess::write_config(const std::string& config_text) const {
  // Write-then-rename so a reload never sees half a file.
  const auto tmp = dir_ / "config.toml.tmp";
  {
    std::ofstream out(tmp);
    out << config_text;
  }
  fs::rename(tmp, dir_ / "config.toml");
}

std::string NetfenceProcess::start(const std::string& config_text,
                                   std::chrono::milliseconds timeout) {
  write_config(config_text);
  const std::string log_path = (dir_ / "netfence.stderr").string();
  const std::string cfg = config_path();
  const std::string home = dir_.string();
  const std::string binary = NETFENCE_CLI_PATH;
  // The environment is built before fork() (see environment_with()).
  std::vector<std::pair<std::string, std::string>> set = {
      {"HOME", home}, {"CODEX_HOME", home}, {"NETFENCE_HOME", home}};
  set.insert(set.end(), env_.begin(), env_.end());
  auto env_strings =
      environment_with(set, std::vector<std::string>(std::begin(kProxyVars), std::end(kProxyVars)));
  auto envp = envp_of(env_strings);
  pid_ = ::fork();
  if (pid_ < 0) return "fork failed";
  if (pid_ == 0) {
    int err = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(err, 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const char* argv[] = {binary.c_str(), "run", "--config", cfg.c_str(), nullptr};
    ::execve(binary.c_str(), const_cast<char* const*>(argv), envp.data());
    ::_exit(127);
  }
  const std::regex listening(R"(INFO HTTP proxy listening on 127\.0\.0\.1:(\d+))");
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    std::smatch m;
    const std::string text = log();
    if (std::regex_search(text, m, listening)) {
      port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
      return {};
    }
    if (!running()) return "netfence exited with " + std::to_string(exit_code_) + ":\n" + text;
    std::this_thread::sleep_for(10ms);
  }
  return "netfence did not report its listener within the deadline:\n" + log();
}

std::uint16_t NetfenceProcess::socks_port() {
  if (socks_port_ != 0) return socks_port_;
  // Logged right after the HTTP listener line, in the same start-up step.
  const std::regex listening(R"(INFO SOCKS5 proxy listening on 127\.0\.0\.1:(\d+))");
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    std::smatch m;
    const std::string text = log();
    if (std::regex_search(text, m, listening)) {
      socks_port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  return socks_port_;
}

bool NetfenceProcess::reload(std::chrono::milliseconds timeout) {
  const std::size_t before =
      count_in_log("configuration reloaded") + count_in_log("config reload failed");
  ::kill(pid_, SIGHUP);
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (count_in_log("configuration reloaded") + count_in_log("config reload failed") > before) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

std::string NetfenceProcess::log() const {
  std::ifstream in(dir_ / "netfence.stderr", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t NetfenceProcess::count_in_log(std::string_view needle) const {
  const std::string text = log();
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

bool NetfenceProcess::wait_for_log(std::string_view needle, std::size_t count,
                                   std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (count_in_log(needle) >= count) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

bool NetfenceProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  exit_code_ = (r == pid_ && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  pid_ = -1;
  return false;
}

std::optional<int> NetfenceProcess::wait_for_exit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (!running()) return exit_code_;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

int NetfenceProcess::stop(int sig, std::chrono::milliseconds grace) {
  if (!running()) return exit_code_;
  ::kill(pid_, sig);
  const auto deadline = Clock::now() + grace;
  while (Clock::now() < deadline) {
    if (!running()) return exit_code_;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  exit_code_ = -1;
  return exit_code_;
}

// ---------------------------------------------------------------------------------------------
// RawClient

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

std::size_t HttpResponse::header_count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const auto& kv) { return iequals(kv.first, name); }));
}

RawClient::~RawClient() { close(); }

bool RawClient::connect(std::uint16_t port) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close();
    return false;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

bool RawClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void RawClient::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void RawClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int RawClient::fill(Clock::time_point deadline) {
  if (fd_ < 0) return 0;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return -1;
  pollfd p{fd_, POLLIN, 0};
  const int r = ::poll(&p, 1, static_cast<int>(left.count()));
  if (r == 0) return -1;
  if (r < 0) return 0;
  char tmp[64 * 1024];
  const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) return 0;
  buf_.append(tmp, static_cast<std::size_t>(n));
  return 1;
}

std::optional<std::string> RawClient::read_exact(std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (buf_.size() < n) {
    if (fill(deadline) != 1) return std::nullopt;
  }
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

bool RawClient::wait_for(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (buf_.find(needle) == std::string::npos) {
    if (fill(deadline) != 1) return false;
  }
  return true;
}

std::optional<std::string> RawClient::read_until_close(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const int r = fill(deadline);
    if (r == -1) return std::nullopt;
    if (r == 0) break;
  }
  std::string out = std::move(buf_);
  buf_.clear();
  return out;
}

std::optional<HttpResponse> RawClient::read_response(std::chrono::milliseconds timeout,
                                                     bool head_request) {
  const auto deadline = Clock::now() + timeout;
  std::size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (fill(deadline) != 1) return std::nullopt;
  }
  HttpResponse r;
  r.head = buf_.substr(0, end + 4);
  buf_.erase(0, end + 4);
  std::istringstream lines(r.head);
  std::string line;
  if (!std::getline(lines, line)) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  {
    const auto sp1 = line.find(' ');
    if (sp1 == std::string::npos) return std::nullopt;
    r.version = line.substr(0, sp1);
    const auto sp2 = line.find(' ', sp1 + 1);
    r.status = std::atoi(line.substr(sp1 + 1, sp2 - sp1 - 1).c_str());
    r.reason = sp2 == std::string::npos ? "" : line.substr(sp2 + 1);
  }
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string::npos) return std::nullopt;
    r.headers.emplace_back(line.substr(0, colon), trim(std::string_view(line).substr(colon + 1)));
  }
  if ((r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304 || head_request) {
    return r;
  }
  const auto te = r.header("transfer-encoding");
  if (te && iequals(*te, "chunked")) {
    r.chunked = true;
    for (;;) {
      std::size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos) {
        if (fill(deadline) != 1) return std::nullopt;
      }
      const std::size_t size = std::strtoul(buf_.substr(0, eol).c_str(), nullptr, 16);
      buf_.erase(0, eol + 2);
      if (size == 0) {
        // Trailers until an empty line.
        for (;;) {
          while ((eol = buf_.find("\r\n")) == std::string::npos) {
            if (fill(deadline) != 1) return std::nullopt;
          }
          buf_.erase(0, eol + 2);
          if (eol == 0) break;
        }
        break;
      }
      auto data = read_exact(
          size + 2, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (!data || data->substr(size) != "\r\n") return std::nullopt;
      r.body += data->substr(0, size);
    }
    return r;
  }
  if (const auto cl = r.header("content-length")) {
    auto data =
        read_exact(std::stoul(*cl),
                   std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (!data) return std::nullopt;
    r.body = std::move(*data);
    return r;
  }
  auto rest = read_until_close(
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  if (!rest) return std::nullopt;
  r.body = std::move(*rest);
  return r;
}

// ---------------------------------------------------------------------------------------------
// curl and helpers

CurlResult curl(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "--max-time", "15"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::pair<std::string, std::string>> env;
  for (const char* v : kProxyVars) env.emplace_back(v, "");
  env.emplace_back("CURL_HOME", "/nonexistent");
  auto r = run_process(argv, env, timeout);
  return {r.exit_code, std::move(r.out), std::move(r.err)};
}

std::uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string refusal_json(std::string_view status, std::string_view host, std::string_view reason,
                         std::string_view source, std::string_view protocol, std::uint16_t port,
                         std::string_view message) {
  std::string decision = "deny";
  return R"({"status":")" + std::string(status) + R"(","host":")" + json_escape(host) +
         R"(","reason":")" + std::string(reason) + R"(","decision":")" + decision +
         R"(","source":")" + std::string(source) + R"(","protocol":")" + std::string(protocol) +
         R"(","port":)" + std::to_string(port) + R"(,"message":")" + json_escape(message) + R"("})";
}

// ---------------------------------------------------------------------------------------------
// ProxyTest

void ProxyTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  dir_ = fs::temp_directory_path() / ("netfence-http-" + std::to_string(::getpid()) + "-" +
                                      info->test_suite_name() + "." + info->name());
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  dns_ = std::make_unique<StubDnsServer>();
  proxy_ = std::make_unique<NetfenceProcess>(dir_);
}

void ProxyTest::TearDown() {
  proxy_->stop();
  if (HasFailure()) {
    std::cerr << "---- netfence stderr ----\n" << proxy_->log() << "-------------------------\n";
  }
  proxy_.reset();
  dns_.reset();
  fs::remove_all(dir_);
}

std::string ProxyTest::config(const std::string& extra) const {
  // Every listener on an ephemeral port (tests run in parallel) unless the test names one.
  const std::string socks =
      extra.find("socks_url") == std::string::npos ? "socks_url = \"socks5h://127.0.0.1:0\"\n" : "";
  const std::string admin =
      extra.find("admin_url") == std::string::npos ? "admin_url = \"http://127.0.0.1:0\"\n" : "";
  return "[network]\n"
         "enabled = true\n"
         "proxy_url = \"http://127.0.0.1:0\"\n" +
         socks + admin +
         "allow_upstream_proxy = false\n"
         "dns_servers = [\"" +
         dns_->address() + "\"]\n" + extra + "\n";
}

std::string ProxyTest::origin_config(const std::string& extra) const {
  return config(
      "allowed_domains = [\"origin.test\"]\n"
      "allow_local_binding = true\n"
      "dns_hosts = { \"origin.test\" = [\"127.0.0.1\"] }\n" +
      extra);
}

void ProxyTest::start(const std::string& config_text) {
  const std::string error = proxy_->start(config_text);
  ASSERT_EQ(error, "") << "config:\n" << config_text;
}

std::unique_ptr<RawClient> ProxyTest::client() {
  auto c = std::make_unique<RawClient>();
  EXPECT_TRUE(c->connect(proxy_->port()));
  return c;
}

void ProxyTest::expect_text_error(const std::string& request, int status, std::string_view body,
                                  bool must_close) {
  SCOPED_TRACE("request: " + request.substr(0, 200));
  auto c = client();
  ASSERT_TRUE(c->send(request));
  auto r = c->read_response();
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, status);
  EXPECT_EQ(r->header("content-type").value_or(""), "text/plain");
  EXPECT_EQ(r->body, body);
  EXPECT_EQ(r->header("x-proxy-error"), std::nullopt);
  if (must_close) {
    auto rest = c->read_until_close(3s);
    EXPECT_TRUE(rest.has_value()) << "connection not closed after the error";
  }
}

std::optional<HttpResponse> ProxyTest::exchange(const std::string& request,
                                                std::chrono::milliseconds timeout) {
  auto c = client();
  if (!c->send(request)) return std::nullopt;
  return c->read_response(timeout);
}

}  // namespace netfence::testing
