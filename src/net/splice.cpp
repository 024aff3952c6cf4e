#include "net/splice.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <cerrno>
#include <csignal>
#include <utility>

namespace netfence::net {

namespace asio = boost::asio;
using boost::system::error_code;

Pipe::Pipe(Pipe&& other) noexcept
    : read_fd_(std::exchange(other.read_fd_, -1)), write_fd_(std::exchange(other.write_fd_, -1)) {}

Pipe& Pipe::operator=(Pipe&& other) noexcept {
  if (this != &other) {
    close();
    read_fd_ = std::exchange(other.read_fd_, -1);
    write_fd_ = std::exchange(other.write_fd_, -1);
  }
  return *this;
}

error_code Pipe::open() noexcept {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {errno, boost::system::system_category()};
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  return {};
}

void Pipe::close() noexcept {
  if (read_fd_ >= 0) ::close(read_fd_);
  if (write_fd_ >= 0) ::close(write_fd_);
  read_fd_ = write_fd_ = -1;
}

namespace {
SpliceResult result_of(ssize_t n) noexcept {
  if (n >= 0) return {static_cast<std::size_t>(n), {}};
  const int err = errno == EWOULDBLOCK ? EAGAIN : errno;
  if (err == EAGAIN) return {0, asio::error::would_block};
  return {0, {err, boost::system::system_category()}};
}
}  // namespace

SpliceResult splice_in(int socket_fd, Pipe& pipe, std::size_t max) noexcept {
  ssize_t n;
  do {
    n = ::splice(socket_fd, nullptr, pipe.write_fd(), nullptr, max,
                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  } while (n < 0 && errno == EINTR);
  return result_of(n);
}

SpliceResult splice_out(Pipe& pipe, int socket_fd, std::size_t max) noexcept {
  ssize_t n;
  do {
    n = ::splice(pipe.read_fd(), nullptr, socket_fd, nullptr, max,
                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);  // no SPLICE_F_MORE: it corks like MSG_MORE
  } while (n < 0 && errno == EINTR);
  // 0 would mean an empty pipe without writers: impossible here, but never loop on it.
  if (n == 0) return {0, asio::error::broken_pipe};
  return result_of(n);
}

SpliceResult drain_pipe(Pipe& pipe, char* buffer, std::size_t size) noexcept {
  ssize_t n;
  do {
    n = ::read(pipe.read_fd(), buffer, size);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return {0, asio::error::eof};
  return result_of(n);
}

/// splice(2) is refused for this pair of descriptors: fall back to copying.
bool splice_unsupported(const error_code& ec) noexcept {
  return ec.category() == boost::system::system_category() &&
         (ec.value() == EINVAL || ec.value() == ENOSYS || ec.value() == EOPNOTSUPP);
}

/// SIGPIPE is not at its default (terminating) action.
bool sigpipe_handled() noexcept {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) != 0) return false;
  if (current.sa_flags & SA_SIGINFO) return true;
  return current.sa_handler != SIG_DFL;
}

}  // namespace netfence::net
