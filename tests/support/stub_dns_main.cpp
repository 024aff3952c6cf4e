// stub_dns: the stub DNS server as a process, for integration tests driven from outside.
//
//   stub_dns --script FILE [--port N] [--log FILE] [--ignore-stdin]
//
// Prints `port=<n>` as its first stdout line once both sockets are bound, then serves until
// SIGTERM/SIGINT or EOF on stdin (so it dies with a parent that holds its stdin pipe). Use
// --ignore-stdin when stdin is /dev/null. --log appends `<transport> <type> <name>` per query.
// The script format is documented in stub_dns_server.hpp and README.md.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>

#include "stub_dns_server.hpp"

namespace {

int usage() {
  std::cerr << "usage: stub_dns --script FILE [--port N] [--log FILE] [--ignore-stdin]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string script_path;
  std::string log_path;
  long port = 0;
  bool watch_stdin = true;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--script" && has_value) {
      script_path = argv[++i];
    } else if (arg == "--log" && has_value) {
      log_path = argv[++i];
    } else if (arg == "--port" && has_value) {
      char* end = nullptr;
      port = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || port < 0 || port > 65535) return usage();
    } else if (arg == "--ignore-stdin") {
      watch_stdin = false;
    } else {
      return usage();
    }
  }
  if (script_path.empty()) return usage();

  std::ifstream script_file(script_path);
  if (!script_file) {
    std::cerr << "stub_dns: cannot read " << script_path << "\n";
    return 1;
  }
  std::stringstream script;
  script << script_file.rdbuf();

  std::ofstream log;
  if (!log_path.empty()) {
    log.open(log_path, std::ios::app);
    if (!log) {
      std::cerr << "stub_dns: cannot open " << log_path << "\n";
      return 1;
    }
  }

  // Block the signals before the server thread exists so that only the signalfd sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  sigdelset(&signals, SIGPIPE);
  const int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::cerr << "stub_dns: signalfd failed\n";
    return 1;
  }

  std::mutex log_mutex;  // declared before the server, which calls into it until stopped
  try {
    netfence::testing::StubDnsServer server(static_cast<std::uint16_t>(port));
    server.load_script(script.str());
    if (log.is_open()) {
      server.set_observer([&log, &log_mutex](const netfence::testing::StubQuery& q) {
        std::lock_guard lock(log_mutex);
        log << netfence::testing::format_query(q) << std::endl;  // flushed: tests read it live
      });
    }
    std::cout << "port=" << server.port() << std::endl;

    while (true) {
      pollfd fds[2] = {{signal_fd, POLLIN, 0}, {watch_stdin ? 0 : -1, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[0].revents != 0) break;
      if (fds[1].revents != 0) {
        char buf[256];
        const ssize_t n = ::read(0, buf, sizeof buf);
        if (n <= 0) break;  // EOF (or error): the parent is gone
      }
    }
    server.stop();
  } catch (const std::exception& e) {
    std::cerr << "stub_dns: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
