#include "net/relay.hpp"

#include <boost/asio/post.hpp>
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

}  // namespace detail
}  // namespace netfence::net
