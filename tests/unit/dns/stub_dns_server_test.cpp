// The stub DNS server itself, spoken to with raw packets (no resolver involved), and the
// stub_dns executable.
#include "stub_dns_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace netfence::testing {
namespace {

using Bytes = std::vector<std::uint8_t>;
using dns_wire::kTypeA;
using dns_wire::kTypeAaaa;
using dns_wire::Rcode;

constexpr int kWaitMs = 3000;

/// A per-process temporary path, so that parallel runs of this binary do not collide.
std::string temp_path(const std::string& stem) {
  return ::testing::TempDir() + "/" + stem + "_" + std::to_string(::getpid());
}

sockaddr_in stub_address(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool wait_readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

/// Sends one UDP packet; returns the reply or nullopt when none arrives within `ms`.
std::optional<Bytes> udp_exchange(std::uint16_t port, const Bytes& packet, int ms = kWaitMs) {
  Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const sockaddr_in addr = stub_address(port);
  ::sendto(fd.get(), packet.data(), packet.size(), 0, reinterpret_cast<const sockaddr*>(&addr),
           sizeof addr);
  if (!wait_readable(fd.get(), ms)) return std::nullopt;
  Bytes reply(65536);
  const ssize_t n = ::recv(fd.get(), reply.data(), reply.size(), 0);
  if (n < 0) return std::nullopt;
  reply.resize(static_cast<std::size_t>(n));
  return reply;
}

int tcp_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in addr = stub_address(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("connect failed");
  }
  return fd;
}

std::optional<Bytes> tcp_exchange(std::uint16_t port, const Bytes& packet) {
  Fd fd(tcp_connect(port));
  Bytes framed = {static_cast<std::uint8_t>(packet.size() >> 8),
                  static_cast<std::uint8_t>(packet.size())};
  framed.insert(framed.end(), packet.begin(), packet.end());
  ::send(fd.get(), framed.data(), framed.size(), MSG_NOSIGNAL);
  Bytes in;
  std::array<std::uint8_t, 4096> buf;
  while (in.size() < 2 || in.size() < 2 + ((std::size_t{in[0]} << 8) | in[1])) {
    if (!wait_readable(fd.get(), kWaitMs)) return std::nullopt;
    const ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n <= 0) return std::nullopt;
    in.insert(in.end(), buf.begin(), buf.begin() + n);
  }
  return Bytes(in.begin() + 2, in.end());
}

dns_wire::Response ask(StubDnsServer& server, std::string_view name, std::uint16_t type,
                       bool tcp = false) {
  static std::uint16_t next_id = 100;
  const Bytes query = dns_wire::encode_query(++next_id, name, type);
  const auto reply = tcp ? tcp_exchange(server.port(), query) : udp_exchange(server.port(), query);
  if (!reply) throw std::runtime_error("no reply");
  auto response = dns_wire::parse_response(*reply);
  if (!response) throw std::runtime_error("unparsable reply");
  EXPECT_EQ(response->id, next_id);
  return *response;
}

TEST(StubDnsServer, AnswersOnlyTheQuestionAsked) {
  StubDnsServer server;
  server.add_address("allowed.test", "93.184.216.34", 120);
  server.add_address("allowed.test", "2606:4700::1");

  const auto a = ask(server, "Allowed.Test", kTypeA);
  EXPECT_EQ(a.rcode, Rcode::noerror);
  ASSERT_EQ(a.answers.size(), 1u);
  EXPECT_EQ(a.answers[0].type, kTypeA);
  EXPECT_EQ(a.answers[0].rdata, (Bytes{93, 184, 216, 34}));
  EXPECT_EQ(a.answers[0].ttl, 120u);

  const auto aaaa = ask(server, "allowed.test", kTypeAaaa, /*tcp=*/true);
  ASSERT_EQ(aaaa.answers.size(), 1u);
  EXPECT_EQ(aaaa.answers[0].type, kTypeAaaa);
  EXPECT_EQ(aaaa.answers[0].rdata.size(), 16u);

  server.add_address("v4only.test", "192.0.2.1");
  const auto nodata = ask(server, "v4only.test", kTypeAaaa);
  EXPECT_EQ(nodata.rcode, Rcode::noerror);
  EXPECT_TRUE(nodata.answers.empty());

  EXPECT_EQ(ask(server, "unknown.test", kTypeA).rcode, Rcode::nxdomain);

  const auto log = server.queries();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(format_query(log[0]), "udp A allowed.test");
  EXPECT_EQ(format_query(log[1]), "tcp AAAA allowed.test");
  EXPECT_EQ(server.query_count(), 4u);
  EXPECT_EQ(server.query_count("ALLOWED.test."), 2u);
  EXPECT_EQ(server.query_count("allowed.test", kTypeAaaa), 1u);
}

TEST(StubDnsServer, ScriptedBehaviours) {
  StubDnsServer server;
  server.load_script(R"(# every rule kind
alias.test   CNAME  mid.test
mid.test     cname  target.test ttl=5
target.test  A      192.0.2.7 192.0.2.8 ttl=30
bad.test     NXDOMAIN
fail.test    SERVFAIL
refused.test REFUSED
slow.test    TIMEOUT    # never answers
empty.test   EMPTY
loop1.test   CNAME loop2.test
loop2.test   CNAME loop1.test
)");
  const auto chain = ask(server, "alias.test", kTypeA);
  EXPECT_EQ(chain.rcode, Rcode::noerror);
  ASSERT_EQ(chain.answers.size(), 4u);
  EXPECT_EQ(chain.answers[0].owner, "alias.test");
  EXPECT_EQ(chain.answers[0].target, "mid.test");
  EXPECT_EQ(chain.answers[1].target, "target.test");
  EXPECT_EQ(chain.answers[1].ttl, 5u);
  EXPECT_EQ(chain.answers[2].owner, "target.test");
  EXPECT_EQ(chain.answers[3].rdata, (Bytes{192, 0, 2, 8}));

  EXPECT_EQ(ask(server, "bad.test", kTypeA).rcode, Rcode::nxdomain);
  EXPECT_EQ(ask(server, "fail.test", kTypeA).rcode, Rcode::servfail);
  EXPECT_EQ(ask(server, "refused.test", kTypeAaaa).rcode, Rcode::refused);
  const auto empty = ask(server, "empty.test", kTypeA);
  EXPECT_EQ(empty.rcode, Rcode::noerror);
  EXPECT_TRUE(empty.answers.empty());
  EXPECT_EQ(ask(server, "loop1.test", kTypeA).rcode, Rcode::servfail);

  EXPECT_FALSE(udp_exchange(server.port(), dns_wire::encode_query(1, "slow.test", kTypeA), 300));
  EXPECT_EQ(server.query_count("slow.test"), 1u);
}

TEST(StubDnsServer, BehaviourCanTargetOneQuestionType) {
  StubDnsServer server;
  server.load_script("half.test A 192.0.2.1\nhalf.test SERVFAIL aaaa\n");
  EXPECT_EQ(ask(server, "half.test", kTypeA).answers.size(), 1u);
  EXPECT_EQ(ask(server, "half.test", kTypeAaaa).rcode, Rcode::servfail);
}

TEST(StubDnsServer, RebindCountsPerNameAndType) {
  StubDnsServer server;
  server.load_script("rebind.test REBIND 93.184.216.34 127.0.0.1\n");
  EXPECT_TRUE(ask(server, "rebind.test", kTypeAaaa).answers.empty());  // v4 rule, v6 question
  const auto first = ask(server, "rebind.test", kTypeA);
  ASSERT_EQ(first.answers.size(), 1u);
  EXPECT_EQ(first.answers[0].rdata, (Bytes{93, 184, 216, 34}));
  EXPECT_EQ(first.answers[0].ttl, 0u);
  for (int i = 0; i < 2; ++i) {
    const auto later = ask(server, "rebind.test", kTypeA);
    ASSERT_EQ(later.answers.size(), 1u);
    EXPECT_EQ(later.answers[0].rdata, (Bytes{127, 0, 0, 1}));
  }
}

TEST(StubDnsServer, TruncatesOverUdpOnly) {
  StubDnsServer server;
  server.load_script("big.test TRUNCATE\nbig.test A 192.0.2.1\n");
  const auto udp = ask(server, "big.test", kTypeA);
  EXPECT_TRUE(udp.truncated);
  EXPECT_TRUE(udp.answers.empty());
  const auto tcp = ask(server, "big.test", kTypeA, /*tcp=*/true);
  EXPECT_FALSE(tcp.truncated);
  ASSERT_EQ(tcp.answers.size(), 1u);
}

TEST(StubDnsServer, ScriptErrorsNameTheLine) {
  StubDnsServer server;
  const std::vector<std::string> bad = {
      "x.test A",
      "x.test A 2001:db8::1",
      "x.test AAAA 192.0.2.1",
      "x.test MX mail",
      "x.test A 1.2.3.4 ttl=abc",
      "x.test CNAME",
      "x.test REBIND 1.2.3.4",
      "x.test NXDOMAIN now",
      "lonely",
  };
  for (const auto& line : bad) {
    try {
      server.load_script("# header\n" + line + "\n");
      ADD_FAILURE() << "accepted: " << line;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).rfind("line 2: ", 0), 0u) << e.what();
    }
  }
}

TEST(StubDnsServer, SurvivesGarbage) {
  StubDnsServer server;
  server.add_address("ok.test", "192.0.2.1");
  std::mt19937 rng(4242);
  const Bytes valid = dns_wire::encode_query(9, "ok.test", kTypeA);
  {
    Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const sockaddr_in addr = stub_address(server.port());
    for (int i = 0; i < 2000; ++i) {
      // Small bursts, each followed by a round trip, so the socket buffer never overflows
      // (which would drop packets, including the checks).
      if (i % 50 == 49) {
        EXPECT_EQ(ask(server, "ok.test", kTypeA).answers.size(), 1u);
      }
      Bytes packet;
      if (i % 2 == 0) {
        packet.resize(rng() % 600);
        for (auto& b : packet) b = static_cast<std::uint8_t>(rng());
      } else {
        packet = valid;
        packet[rng() % packet.size()] = static_cast<std::uint8_t>(rng());
        packet.resize(rng() % (packet.size() + 1));
      }
      ::sendto(fd.get(), packet.data(), packet.size(), 0, reinterpret_cast<const sockaddr*>(&addr),
               sizeof addr);
    }
  }
  // TCP: a bogus length prefix followed by noise, an empty message, and a half-sent one.
  for (const Bytes& junk : {Bytes{0xFF, 0xFF, 1, 2, 3}, Bytes{0, 0, 0, 3, 1}, Bytes{0x00}}) {
    Fd fd(tcp_connect(server.port()));
    ::send(fd.get(), junk.data(), junk.size(), MSG_NOSIGNAL);
  }
  // A header-sized packet with a bad question gets FORMERR.
  Bytes no_question = valid;
  no_question.resize(dns_wire::kHeaderSize);
  const auto formerr = udp_exchange(server.port(), no_question);
  ASSERT_TRUE(formerr);
  EXPECT_EQ(dns_wire::parse_response(*formerr)->rcode, Rcode::formerr);

  // Still serving both transports.
  EXPECT_EQ(ask(server, "ok.test", kTypeA).answers.size(), 1u);
  EXPECT_EQ(ask(server, "ok.test", kTypeA, /*tcp=*/true).answers.size(), 1u);
  EXPECT_GT(server.malformed_count(), 0u);
}

TEST(StubDnsServer, StopIsIdempotentAndFreesThePort) {
  auto server = std::make_unique<StubDnsServer>();
  const std::uint16_t port = server->port();
  server->stop();
  server->stop();
  server.reset();
  // Same port can be bound again for both transports.
  StubDnsServer again(port);
  EXPECT_EQ(again.port(), port);
}

#ifdef STUB_DNS_PATH
TEST(StubDnsExecutable, ServesScriptLogsAndStopsOnSigterm) {
  const std::string script = temp_path("stub_dns_test_script.txt");
  const std::string log = temp_path("stub_dns_test_log.txt");
  std::remove(log.c_str());
  std::ofstream(script) << "allowed.test A 93.184.216.34 ttl=60\n";

  int out_pipe[2];
  int in_pipe[2];
  ASSERT_EQ(::pipe(out_pipe), 0);
  ASSERT_EQ(::pipe(in_pipe), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(in_pipe[0], 0);
    ::close(out_pipe[0]);
    ::close(in_pipe[1]);
    ::execl(STUB_DNS_PATH, "stub_dns", "--script", script.c_str(), "--log", log.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(in_pipe[0]);
  std::string first_line;
  char c = 0;
  while (wait_readable(out_pipe[0], kWaitMs) && ::read(out_pipe[0], &c, 1) == 1 && c != '\n') {
    first_line.push_back(c);
  }
  ASSERT_EQ(first_line.rfind("port=", 0), 0u) << first_line;
  const auto port = static_cast<std::uint16_t>(std::stoi(first_line.substr(5)));

  const auto reply = udp_exchange(port, dns_wire::encode_query(5, "allowed.test", kTypeA));
  ASSERT_TRUE(reply);
  EXPECT_EQ(dns_wire::parse_response(*reply)->answers.size(), 1u);

  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ::close(out_pipe[0]);
  ::close(in_pipe[1]);

  std::ifstream log_file(log);
  std::stringstream contents;
  contents << log_file.rdbuf();
  EXPECT_EQ(contents.str(), "udp A allowed.test\n");
  std::remove(log.c_str());
  std::remove(script.c_str());
}

TEST(StubDnsExecutable, ExitsOnStdinEof) {
  const std::string script = temp_path("stub_dns_test_script2.txt");
  std::ofstream(script) << "# nothing\n";
  int in_pipe[2];
  int out_pipe[2];
  ASSERT_EQ(::pipe(in_pipe), 0);
  ASSERT_EQ(::pipe(out_pipe), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    ::execl(STUB_DNS_PATH, "stub_dns", "--script", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  char c = 0;
  ASSERT_TRUE(wait_readable(out_pipe[0], kWaitMs));  // started
  ASSERT_EQ(::read(out_pipe[0], &c, 1), 1);
  ::close(in_pipe[1]);  // EOF on its stdin
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ::close(out_pipe[0]);
  std::remove(script.c_str());
}

TEST(StubDnsExecutable, RejectsBadScripts) {
  const std::string script = temp_path("stub_dns_test_script3.txt");
  std::ofstream(script) << "x.test BOGUS\n";
  const std::string command =
      std::string(STUB_DNS_PATH) + " --script " + script + " --ignore-stdin >/dev/null 2>&1";
  const int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  std::remove(script.c_str());
}
#endif

}  // namespace
}  // namespace netfence::testing
