#include "net/relay.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <csignal>

namespace netfence::net {

std::string_view to_string(RelayEnd e) noexcept {
  switch (e) {
    case RelayEnd::eof:
      return "eof";
    case RelayEnd::idle_timeout:
      return "idle_timeout";
    case RelayEnd::error:
      return "error";
    case RelayEnd::stopped:
      return "stopped";
  }
  return "error";
}

// ---- RelayControl ------------------------------------------------------------------------------

void RelayControl::stop() {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  stopped_ = true;
  // Called under the lock: subscribers only post, and an unsubscribing relay simply waits.
  for (auto& on_stop : on_stop_) on_stop();
}

bool RelayControl::stopped() const {
  std::lock_guard lock(mutex_);
  return stopped_;
}

RelayControl::Subscription RelayControl::subscribe(const std::shared_ptr<RelayControl>& control,
                                                   std::function<void()> on_stop) {
  Subscription sub;
  std::lock_guard lock(control->mutex_);
  if (control->stopped_) return sub;
  sub.it_ = control->on_stop_.insert(control->on_stop_.end(), std::move(on_stop));
  sub.control_ = control;
  return sub;
}

RelayControl::Subscription::Subscription(Subscription&& other) noexcept
    : control_(std::move(other.control_)), it_(other.it_) {}

RelayControl::Subscription& RelayControl::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    Subscription old(std::move(*this));
    control_ = std::move(other.control_);
    it_ = other.it_;
  }
  return *this;
}

RelayControl::Subscription::~Subscription() {
  if (!control_) return;
  std::lock_guard lock(control_->mutex_);
  control_->on_stop_.erase(it_);
}

// ---- relay -------------------------------------------------------------------------------------

boost::asio::awaitable<RelayStats> relay(tcp::socket& a, tcp::socket& b, RelayOptions options) {
  return relay_streams(a, b, std::move(options));
}

void ignore_sigpipe() noexcept { std::signal(SIGPIPE, SIG_IGN); }

namespace detail {

void RelayCore::finish(RelayEnd why, boost::system::error_code ec) noexcept {
  if (ended_) return;
  ended_ = true;
  stats.end = why;
  if (why == RelayEnd::error) stats.error = ec;
  timer_.cancel();
}

boost::asio::awaitable<void> RelayCore::watchdog(std::shared_ptr<RelayCore> self) {
  namespace asio = boost::asio;
  co_await asio::this_coro::throw_if_cancelled(false);
  const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  // Traffic only moves last_activity_; the timer is re-armed when it fires, so a busy relay costs
  // one clock read per chunk and one wake-up per idle period, not a timer reset per chunk.
  for (;;) {
    if (self->ended_ || cs.cancelled() != asio::cancellation_type::none) co_return;
    auto deadline = std::chrono::steady_clock::time_point::max();
    if (self->idle_timeout_.count() > 0) {
      deadline = self->last_activity_ + self->idle_timeout_;
      if (std::chrono::steady_clock::now() >= deadline) {
        self->finish(RelayEnd::idle_timeout);
        co_return;
      }
    }
    self->timer_.expires_at(deadline);
    co_await self->timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

bool RelayCore::watch(const std::shared_ptr<RelayControl>& control) {
  if (!control) return true;
  // stop() runs on another thread: hop onto the strand, and tolerate a relay already gone.
  subscription_ = RelayControl::subscribe(control, [weak = weak_from_this(), ex = executor_] {
    boost::asio::post(ex, [weak] {
      if (auto self = weak.lock()) self->finish(RelayEnd::stopped);
    });
  });
  return subscription_.active();
}

// Why splice: a tunnel's bytes never need to be seen by netfence, so moving page references
// socket → pipe → socket inside the kernel avoids two copies through user space and keeps no
// user buffer per tunnel (SPEC §19 throughput and idle memory). Why a pipe per direction: splice
// needs a pipe at one end of every call, and a pipe holds the bytes read but not yet written;
// the two directions block independently, so sharing one would mix their in-flight bytes.
boost::system::error_code Pipe::open() noexcept {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    return {errno, boost::system::system_category()};
  }
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
  if (err == EAGAIN) return {0, boost::asio::error::would_block};
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
  if (n == 0) return {0, boost::asio::error::broken_pipe};
  return result_of(n);
}

SpliceResult drain_pipe(Pipe& pipe, char* buffer, std::size_t size) noexcept {
  ssize_t n;
  do {
    n = ::read(pipe.read_fd(), buffer, size);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return {0, boost::asio::error::eof};
  return result_of(n);
}

bool splice_unsupported(const boost::system::error_code& ec) noexcept {
  return ec.category() == boost::system::system_category() &&
         (ec.value() == EINVAL || ec.value() == ENOSYS || ec.value() == EOPNOTSUPP);
}

bool sigpipe_handled() noexcept {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) != 0) return false;
  if (current.sa_flags & SA_SIGINFO) return true;
  return current.sa_handler != SIG_DFL;
}

}  // namespace detail
}  // namespace netfence::net
