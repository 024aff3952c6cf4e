// The relay engine for two sockets (contract in relay.hpp).
//
// Why callbacks and not coroutines here: an established tunnel may sit idle for hours, and each
// suspended coroutine frame in the chain that set it up (session, handler, relay, pumps, `&&`,
// `||`, co_spawn entry points) stays allocated for as long: ~18 KiB per idle tunnel, against
// SPEC §19's budget. This object is the whole state of a tunnel once the session has returned:
// two sockets, two peeking receives in flight, and pipes only while bytes move.
//
// Why splice: a tunnel's bytes never need to be seen by netfence, so moving page references
// socket → pipe → socket inside the kernel avoids two copies through user space. Why a pipe per
// direction: splice needs a pipe at one end of every call, and a pipe holds the bytes read but
// not yet written; the two directions block independently.
//
// Why a MSG_PEEK receive of one byte to wait for input rather than async_wait(wait_read): Asio
// re-arms epoll (EPOLL_CTL_MOD) for every async_wait, while a receive is tried at once and then
// queued without a system call; and a peek that returns 0 is EOF, so a tunnel that closes
// without carrying a byte never creates a pipe.
#include <fcntl.h>
#include <sys/socket.h>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/intrusive/list.hpp>
#include <cerrno>
#include <limits>
#include <optional>

#include "net/relay.hpp"
#include "net/splice.hpp"

namespace netfence::net {
namespace {

namespace asio = boost::asio;
namespace bi = boost::intrusive;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

/// A new pipe's capacity on Linux (16 pages).
constexpr std::size_t kPipeSize = 64 * 1024;
/// What a direction's pipe grows to while a transfer is sustained (fewer splice calls and
/// wake-ups per GiB), if the PipeBudget allows.
constexpr int kBigPipeSize = 1 << 20;
/// Bytes one direction moves before it lets the thread's other connections run.
constexpr std::size_t kBurstBytes = 1 << 20;
/// A direction that waited longer than this for input frees its pipe and buffer before waiting
/// again: tunnels that are mostly idle hold no relay memory, busy ones keep theirs.
constexpr std::chrono::milliseconds kReleaseAfter{1000};

// ---- the relay ---------------------------------------------------------------------------------

class RelaySweeper;

class SocketRelay : public std::enable_shared_from_this<SocketRelay> {
 public:
  SocketRelay(tcp::socket a, tcp::socket b, RelayOptions&& options, RelayDone done);
  ~SocketRelay();
  SocketRelay(const SocketRelay&) = delete;
  SocketRelay& operator=(const SocketRelay&) = delete;

  const asio::any_io_executor& executor() const noexcept { return executor_; }
  /// Runs on executor().
  void start();
  /// Any thread.
  void stop();
  /// On executor(): the sweeper saw the deadline pass.
  void expire();
  /// Any thread (atomic).
  Clock::rep deadline() const noexcept {
    return last_activity_.load(std::memory_order_relaxed) + idle_;
  }

  bi::list_member_hook<bi::link_mode<bi::safe_link>> hook;

 private:
  struct Direction {
    tcp::socket* from = nullptr;
    tcp::socket* to = nullptr;
    std::string outgoing;  // the initial bytes, later pipe bytes re-sent by copying
    std::uint64_t RelayStats::*counter = nullptr;
    Pipe pipe;
    std::size_t capacity = kPipeSize;
    std::size_t in_pipe = 0;  // spliced in, not yet out
    bool big = false;         // holds a PipeBudget slot
    bool splice = true;
    bool eof = false;
    bool long_wait = false;  // the last wait for input outlasted kReleaseAfter
    bool regrow = false;     // was enlarged before its last wait: enlarge again on input
    char peek = 0;
    std::unique_ptr<char[]> buffer;  // the copying path's buffer, only while data moves
    Clock::time_point wait_started{};
  };
  enum class Step : std::uint8_t { more, wait, pending, done };

  template <class F>
  auto bind(F&& f) {
    return asio::bind_executor(executor_, std::forward<F>(f));
  }
  void begin(int i);
  /// Writes the direction's `outgoing` bytes, frees them, then continues with `next`.
  void send_outgoing(int i, void (SocketRelay::*next)(int));
  void wait(int i);
  void on_readable(int i, const error_code& ec);
  void pump(int i);
  Step splice_step(int i, std::size_t& moved);
  Step flush_pipe(int i);
  Step copy_out_of_pipe(int i);
  Step copy_step(int i);
  void half_close(int i);
  void grow(Direction& d) noexcept;
  void shrink(Direction& d) noexcept;
  void release(Direction& d) noexcept;
  void finish(RelayEnd why, const error_code& ec = {});
  bool splice_allowed() noexcept;
  void touch() noexcept {
    last_activity_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }

  tcp::socket a_;
  tcp::socket b_;
  asio::any_io_executor executor_;  // a strand, or a one-thread io_context's executor
  Direction dirs_[2];
  std::size_t buffer_size_;
  const Clock::rep idle_;  // steady_clock ticks; 0 = no idle limit
  std::shared_ptr<PipeBudget> budget_;
  std::shared_ptr<RelayControl> control_;
  RelayControl::Subscription subscription_;
  RelayDone done_;
  RelayStats stats_;
  RelaySweeper* sweeper_ = nullptr;
  std::atomic<Clock::rep> last_activity_{0};
  bool ended_ = false;
  std::int8_t sigpipe_ok_ = -1;  // checked once per relay, at its first splice
};

// One per io_context (an Asio service, so no global state): ends relays idle past their
// deadline. One timer serves every relay of the context; it is armed for the earliest deadline
// and re-armed only when a new relay's deadline comes sooner (never, with one configured
// timeout), so starting a tunnel costs no timer system call. Locked, because a multi-threaded
// io_context may run relays on several threads.
class RelaySweeper final : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;
  explicit RelaySweeper(asio::execution_context& owner) : service(owner) {}

  void add(SocketRelay& r, const asio::any_io_executor& ex) {
    std::lock_guard lock(mutex_);
    if (shut_down_) return;
    if (!timer_) timer_.emplace(ex);
    list_.push_back(r);
    arm_locked(r.deadline());
  }
  void remove(SocketRelay& r) noexcept {
    std::lock_guard lock(mutex_);
    if (r.hook.is_linked()) list_.erase(list_.iterator_to(r));
  }
  void rearm(Clock::rep at) {
    std::lock_guard lock(mutex_);
    if (!shut_down_) arm_locked(at);
  }

 private:
  void shutdown() override {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    list_.clear();
    timer_.reset();
  }

  void arm_locked(Clock::rep at) {
    if (armed_ && armed_at_ <= at) return;
    armed_ = true;
    armed_at_ = at;
    const std::uint64_t generation = ++generation_;
    timer_->expires_at(Clock::time_point(Clock::duration(at)));
    timer_->async_wait([this, generation](const error_code& ec) { on_tick(ec, generation); });
  }

  void on_tick(const error_code& ec, std::uint64_t generation) {
    if (ec == asio::error::operation_aborted) return;
    std::lock_guard lock(mutex_);
    if (shut_down_ || generation != generation_) return;
    armed_ = false;
    const Clock::rep now = Clock::now().time_since_epoch().count();
    Clock::rep next = std::numeric_limits<Clock::rep>::max();
    for (SocketRelay& r : list_) {
      const Clock::rep due = r.deadline();
      if (due > now) {
        next = std::min(next, due);
      } else if (auto self = r.weak_from_this().lock()) {  // null while it is being destroyed
        const asio::any_io_executor ex = self->executor();
        // Moved into the handler, so no relay can be destroyed here, under the lock.
        asio::post(ex, [self = std::move(self)] { self->expire(); });
      }
    }
    if (next != std::numeric_limits<Clock::rep>::max()) arm_locked(next);
  }

  using List =
      bi::list<SocketRelay,
               bi::member_hook<SocketRelay, decltype(SocketRelay::hook), &SocketRelay::hook>>;
  std::mutex mutex_;
  List list_;
  std::optional<asio::steady_timer> timer_;
  bool armed_ = false;
  bool shut_down_ = false;
  Clock::rep armed_at_ = 0;
  std::uint64_t generation_ = 0;
};

asio::any_io_executor relay_executor(tcp::socket& s, bool single_threaded) {
  if (single_threaded) return s.get_executor();
  return asio::make_strand(s.get_executor());
}

SocketRelay::SocketRelay(tcp::socket a, tcp::socket b, RelayOptions&& options, RelayDone done)
    : a_(std::move(a)),
      b_(std::move(b)),
      executor_(relay_executor(a_, options.single_threaded_executor)),
      buffer_size_(std::max<std::size_t>(options.buffer_size, 1024)),
      idle_(std::chrono::duration_cast<Clock::duration>(options.idle_timeout).count()),
      budget_(std::move(options.pipe_budget)),
      control_(std::move(options.control)),
      done_(std::move(done)) {
  dirs_[0].from = &a_;
  dirs_[0].to = &b_;
  dirs_[0].outgoing = std::move(options.to_b);
  dirs_[0].counter = &RelayStats::a_to_b;
  dirs_[1].from = &b_;
  dirs_[1].to = &a_;
  dirs_[1].outgoing = std::move(options.to_a);
  dirs_[1].counter = &RelayStats::b_to_a;
  for (auto& d : dirs_) d.splice = options.allow_splice;
}

SocketRelay::~SocketRelay() {
  if (sweeper_) sweeper_->remove(*this);
  for (auto& d : dirs_) release(d);
}

void SocketRelay::start() {
  touch();
  for (tcp::socket* s : {&a_, &b_}) {
    if (!s->is_open()) return finish(RelayEnd::error, asio::error::bad_descriptor);
    // splice(2) and recv(2) below must never block the thread.
    if (!s->native_non_blocking()) {
      error_code ec;
      s->native_non_blocking(true, ec);
      if (ec) return finish(RelayEnd::error, ec);
    }
  }
  if (control_) {
    // stop() runs on another thread: hop onto our executor, and tolerate a relay already gone.
    subscription_ = RelayControl::subscribe(control_, [weak = weak_from_this(), ex = executor_] {
      asio::post(ex, [weak] {
        if (auto self = weak.lock()) self->finish(RelayEnd::stopped);
      });
    });
    if (!subscription_.active()) return finish(RelayEnd::stopped);
  }
  if (idle_ > 0) {
    sweeper_ =
        &asio::use_service<RelaySweeper>(asio::query(a_.get_executor(), asio::execution::context));
    sweeper_->add(*this, a_.get_executor());
  }
  begin(0);
  begin(1);
}

void SocketRelay::stop() {
  asio::post(executor_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->finish(RelayEnd::stopped);
  });
}

void SocketRelay::expire() {
  if (ended_) return;
  if (Clock::now().time_since_epoch().count() >= deadline()) {
    return finish(RelayEnd::idle_timeout);
  }
  sweeper_->rearm(deadline());  // traffic moved the deadline after the sweeper looked
}

void SocketRelay::begin(int i) {
  Direction& d = dirs_[i];
  if (d.outgoing.empty()) {
    // A moved-in read buffer may be empty yet hold its capacity (16 KiB): give it back now.
    std::string().swap(d.outgoing);
    return wait(i);
  }
  send_outgoing(i, &SocketRelay::wait);
}

void SocketRelay::send_outgoing(int i, void (SocketRelay::*next)(int)) {
  asio::async_write(*dirs_[i].to, asio::buffer(dirs_[i].outgoing),
                    bind([self = shared_from_this(), i, next](const error_code& ec, std::size_t n) {
                      Direction& d = self->dirs_[i];
                      self->stats_.*d.counter += n;
                      self->touch();
                      std::string().swap(d.outgoing);  // released before a possibly long relay
                      if (self->ended_) return;
                      if (ec) return self->finish(RelayEnd::error, ec);
                      ((*self).*next)(i);
                    }));
}

void SocketRelay::wait(int i) {
  if (ended_) return;
  Direction& d = dirs_[i];
  if (d.long_wait) {
    release(d);
  } else if (d.big) {
    shrink(d);
    d.regrow = true;
  }
  d.wait_started = Clock::now();
  d.from->async_receive(asio::buffer(&d.peek, 1), tcp::socket::message_peek,
                        bind([self = shared_from_this(), i](const error_code& ec, std::size_t) {
                          self->on_readable(i, ec);
                        }));
}

void SocketRelay::on_readable(int i, const error_code& ec) {
  if (ended_) return;
  Direction& d = dirs_[i];
  d.long_wait = Clock::now() - d.wait_started > kReleaseAfter;
  if (ec == asio::error::eof) return half_close(i);
  if (ec) return finish(RelayEnd::error, ec);
  // A sustained transfer that paused briefly: take the big pipe back before the first read.
  if (d.regrow && !d.long_wait && d.pipe.is_open()) grow(d);
  d.regrow = false;
  pump(i);
}

void SocketRelay::pump(int i) {
  std::size_t moved = 0;
  while (moved < kBurstBytes) {
    if (ended_) return;
    const bool splice = dirs_[i].splice && splice_allowed();
    switch (splice ? splice_step(i, moved) : copy_step(i)) {
      case Step::more:
        continue;
      case Step::wait:
        return wait(i);
      case Step::pending:
      case Step::done:
        return;
    }
  }
  wait(i);  // lets the thread's other connections run; the peek completes at once
}

SocketRelay::Step SocketRelay::splice_step(int i, std::size_t& moved) {
  Direction& d = dirs_[i];
  if (!d.pipe.is_open()) {
    if (auto ec = d.pipe.open()) {
      finish(RelayEnd::error, ec);
      return Step::done;
    }
    d.capacity = kPipeSize;
  }
  const SpliceResult in = splice_in(d.from->native_handle(), d.pipe, d.capacity);
  if (in.error == asio::error::would_block) return Step::wait;
  if (in.error && splice_unsupported(in.error)) {
    d.splice = false;  // the pipe is empty: nothing to recover
    release(d);
    return Step::more;
  }
  if (in.error) {
    finish(RelayEnd::error, in.error);
    return Step::done;
  }
  if (in.bytes == 0) {
    half_close(i);
    return Step::done;
  }
  touch();
  stats_.spliced = true;
  moved += in.bytes;
  // Half a pipe or more in one read: a sustained transfer, worth a bigger pipe.
  const bool sustained = in.bytes >= d.capacity / 2;
  d.in_pipe = in.bytes;
  const Step out = flush_pipe(i);
  if (out != Step::more) return out;
  if (sustained && !d.big) grow(d);
  return sustained ? Step::more : Step::wait;
}

SocketRelay::Step SocketRelay::flush_pipe(int i) {
  Direction& d = dirs_[i];
  while (d.in_pipe > 0) {
    const SpliceResult out = splice_out(d.pipe, d.to->native_handle(), d.in_pipe);
    if (out.error == asio::error::would_block) {
      d.to->async_wait(tcp::socket::wait_write,
                       bind([self = shared_from_this(), i](const error_code& ec) {
                         if (self->ended_) return;
                         if (ec) return self->finish(RelayEnd::error, ec);
                         if (self->flush_pipe(i) == Step::more) self->pump(i);
                       }));
      return Step::pending;
    }
    if (out.error && splice_unsupported(out.error)) return copy_out_of_pipe(i);
    if (out.error) {
      finish(RelayEnd::error, out.error);
      return Step::done;
    }
    d.in_pipe -= out.bytes;
    stats_.*d.counter += out.bytes;
    touch();
  }
  return Step::more;
}

SocketRelay::Step SocketRelay::copy_out_of_pipe(int i) {
  // Recover the bytes already in the pipe, send them by copying, and copy from now on.
  Direction& d = dirs_[i];
  d.splice = false;
  d.outgoing.resize(d.in_pipe);
  std::size_t got = 0;
  while (got < d.outgoing.size()) {
    const SpliceResult r = drain_pipe(d.pipe, d.outgoing.data() + got, d.outgoing.size() - got);
    if (r.error) {
      finish(RelayEnd::error, r.error);
      return Step::done;
    }
    got += r.bytes;
  }
  d.in_pipe = 0;
  release(d);
  send_outgoing(i, &SocketRelay::pump);
  return Step::pending;
}

SocketRelay::Step SocketRelay::copy_step(int i) {
  Direction& d = dirs_[i];
  if (!d.buffer) d.buffer = std::make_unique<char[]>(buffer_size_);
  ssize_t n;
  do {
    n = ::recv(d.from->native_handle(), d.buffer.get(), buffer_size_, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Step::wait;
    finish(RelayEnd::error, error_code(errno, boost::system::system_category()));
    return Step::done;
  }
  if (n == 0) {
    half_close(i);
    return Step::done;
  }
  touch();
  asio::async_write(*d.to, asio::buffer(d.buffer.get(), static_cast<std::size_t>(n)),
                    bind([self = shared_from_this(), i](const error_code& ec, std::size_t w) {
                      self->stats_.*self->dirs_[i].counter += w;
                      self->touch();
                      if (self->ended_) return;
                      if (ec) return self->finish(RelayEnd::error, ec);
                      self->pump(i);
                    }));
  return Step::pending;
}

void SocketRelay::half_close(int i) {
  Direction& d = dirs_[i];
  d.eof = true;
  release(d);
  error_code ignored;
  d.to->shutdown(tcp::socket::shutdown_send, ignored);
  if (dirs_[1 - i].eof) finish(RelayEnd::eof);
}

void SocketRelay::grow(Direction& d) noexcept {
  if (!budget_ || !budget_->take()) return;
  const int size = ::fcntl(d.pipe.write_fd(), F_SETPIPE_SZ, kBigPipeSize);
  if (size > 0) {
    d.big = true;
    d.capacity = static_cast<std::size_t>(size);
  } else {
    budget_->give();  // EPERM past the user's pipe limits: stay at 64 KiB
  }
}

void SocketRelay::shrink(Direction& d) noexcept {
  // The pipe is empty whenever a direction waits for input.
  const int size = ::fcntl(d.pipe.write_fd(), F_SETPIPE_SZ, static_cast<int>(kPipeSize));
  if (size > 0) {
    d.capacity = static_cast<std::size_t>(size);
  } else {
    d.pipe.close();
  }
  d.big = false;
  budget_->give();
}

void SocketRelay::release(Direction& d) noexcept {
  if (d.big) {
    d.big = false;
    budget_->give();
  }
  d.pipe.close();
  d.in_pipe = 0;
  // The copy buffer may be in use by a pending write: only free it when none can be.
  if (!ended_) d.buffer.reset();
}

bool SocketRelay::splice_allowed() noexcept {
  if (sigpipe_ok_ < 0) sigpipe_ok_ = sigpipe_handled() ? 1 : 0;
  return sigpipe_ok_ == 1;
}

void SocketRelay::finish(RelayEnd why, const error_code& ec) {
  if (ended_) return;
  ended_ = true;
  stats_.end = why;
  if (why == RelayEnd::error) stats_.error = ec;
  // Closing cancels the pending operations: their handlers see ended_ and return.
  error_code ignored;
  a_.close(ignored);
  b_.close(ignored);
  for (auto& d : dirs_) release(d);
  subscription_ = {};
  if (sweeper_) sweeper_->remove(*this);
  // Posted: finish() may run inside start(), and the owner learns the end only once.
  asio::post(executor_, [self = shared_from_this()] {
    if (RelayDone done = std::move(self->done_)) done(self->stats_);
  });
}

std::shared_ptr<SocketRelay> launch(tcp::socket a, tcp::socket b, RelayOptions options,
                                    RelayDone done) {
  auto r = std::make_shared<SocketRelay>(std::move(a), std::move(b), std::move(options),
                                         std::move(done));
  asio::dispatch(r->executor(), [r] { r->start(); });
  return r;
}

}  // namespace

void start_relay(tcp::socket a, tcp::socket b, RelayOptions options, RelayDone done) {
  launch(std::move(a), std::move(b), std::move(options), std::move(done));
}

asio::awaitable<RelayStats> relay(tcp::socket& a, tcp::socket& b, RelayOptions options) {
  auto initiation = [](auto handler, tcp::socket* sa, tcp::socket* sb, RelayOptions opts) {
    using Handler = decltype(handler);
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto ex = asio::get_associated_executor(handler, sa->get_executor());
    // RelayDone is a std::function, which needs a copyable target.
    auto shared = std::make_shared<Handler>(std::move(handler));
    auto r = launch(std::move(*sa), std::move(*sb), std::move(opts),
                    [shared, slot, ex](const RelayStats& stats) mutable {
                      asio::dispatch(ex, [shared, slot, stats]() mutable {
                        if (slot.is_connected()) slot.clear();
                        (*shared)(stats);
                      });
                    });
    if (slot.is_connected()) {
      slot.assign([weak = std::weak_ptr<SocketRelay>(r)](asio::cancellation_type) {
        if (auto self = weak.lock()) self->stop();
      });
    }
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(RelayStats)>(
      initiation, asio::use_awaitable, &a, &b, std::move(options));
}

}  // namespace netfence::net
