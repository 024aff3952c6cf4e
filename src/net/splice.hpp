// splice(2) building blocks shared by the tunnel relay (socket_relay.cpp) and the HTTP session's
// pass-through response bodies: a non-blocking pipe and one-call wrappers that report
// would_block instead of blocking.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstddef>

namespace netfence::net {

/// A non-blocking, close-on-exec pipe; empty until open().
class Pipe {
 public:
  Pipe() = default;
  Pipe(Pipe&& other) noexcept;
  Pipe& operator=(Pipe&& other) noexcept;
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() { close(); }
  bool is_open() const noexcept { return read_fd_ >= 0; }
  boost::system::error_code open() noexcept;
  void close() noexcept;
  int read_fd() const noexcept { return read_fd_; }
  int write_fd() const noexcept { return write_fd_; }

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

/// One splice(2) or read(2): bytes moved (0 with no error = EOF on a socket input) or an error
/// (would_block included).
struct SpliceResult {
  std::size_t bytes = 0;
  boost::system::error_code error;
};

/// Socket → pipe, at most `max` bytes.
SpliceResult splice_in(int socket_fd, Pipe& pipe, std::size_t max) noexcept;
/// Pipe → socket, at most `max` bytes.
SpliceResult splice_out(Pipe& pipe, int socket_fd, std::size_t max) noexcept;
/// Reads what is left in the pipe into `buffer` (used when splice_out is refused).
SpliceResult drain_pipe(Pipe& pipe, char* buffer, std::size_t size) noexcept;
/// splice(2) is refused for this pair of descriptors: fall back to copying.
bool splice_unsupported(const boost::system::error_code& ec) noexcept;
/// SIGPIPE is not at its default (terminating) action. splice(2) cannot pass MSG_NOSIGNAL, so a
/// splice into a reset socket would kill the process unless this holds.
bool sigpipe_handled() noexcept;

}  // namespace netfence::net
