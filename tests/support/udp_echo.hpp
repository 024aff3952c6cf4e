// A UDP echo origin on 127.0.0.1 (ephemeral port) for the SOCKS5 UDP ASSOCIATE integration tests.
// It runs on its own thread (plain POSIX sockets), echoes every datagram back to its sender and
// records what it received and from where, so a test can prove a datagram never got through.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace netfence::testing {

class UdpEchoServer {
 public:
  struct Datagram {
    std::string payload;
    std::string from_ip;  // dotted quad
    std::uint16_t from_port = 0;
  };

  /// Binds 127.0.0.1:0 and starts serving. Throws std::runtime_error when it cannot.
  UdpEchoServer();
  ~UdpEchoServer();
  UdpEchoServer(const UdpEchoServer&) = delete;
  UdpEchoServer& operator=(const UdpEchoServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }

  /// Every datagram received so far, in arrival order.
  std::vector<Datagram> received() const;
  /// How many received datagrams carried exactly `payload`.
  std::size_t count(const std::string& payload) const;
  /// Waits until at least `n` datagrams carrying `payload` arrived.
  bool wait_for(const std::string& payload, std::size_t n, std::chrono::milliseconds timeout) const;

  /// Stops serving and joins the thread; idempotent.
  void stop();

 private:
  void serve();

  std::uint16_t port_ = 0;
  int fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<Datagram> received_;
};

}  // namespace netfence::testing
