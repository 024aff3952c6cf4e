#include "proxy/config_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>

namespace netfence::proxy {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kDebounce = 250ms;

// True if the event buffer names `name` (or reports an overflow, after which anything may have
// changed).
bool mentions(const char* data, std::size_t n, const std::string& name) {
  std::size_t off = 0;
  while (off + sizeof(inotify_event) <= n) {
    inotify_event ev;
    std::memcpy(&ev, data + off, sizeof(ev));  // the buffer need not be aligned for the struct
    if (ev.mask & IN_Q_OVERFLOW) return true;
    if (ev.len > 0 && off + sizeof(inotify_event) + ev.len <= n) {
      const char* ev_name = data + off + sizeof(inotify_event);
      if (name == std::string(ev_name, strnlen(ev_name, ev.len))) return true;
    }
    off += sizeof(inotify_event) + ev.len;
  }
  return false;
}

}  // namespace

asio::awaitable<void> watch_config_file(std::filesystem::path file, log::Logger& log,
                                        std::function<void()> changed,
                                        const std::atomic<bool>& stop) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    log.warn(std::string("config file watching unavailable: ") + std::strerror(errno));
    co_return;
  }
  auto ex = co_await asio::this_coro::executor;
  asio::posix::stream_descriptor in(ex, fd);
  const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  const std::string name = file.filename().string();
  if (::inotify_add_watch(
          fd, dir.c_str(),
          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB) < 0) {
    log.warn("config file watching unavailable for " + dir.string() + ": " + std::strerror(errno));
    co_return;
  }
  alignas(inotify_event) std::array<char, 4096> buf{};
  asio::steady_timer quiet(ex);
  while (!stop.load()) {
    auto [ec, n] = co_await in.async_read_some(asio::buffer(buf), kTuple);
    if (ec) co_return;
    if (!mentions(buf.data(), n, name)) continue;
    // Debounce: wait until 250 ms pass without another event about the file.
    for (;;) {
      quiet.expires_after(kDebounce);
      auto r = co_await (in.async_read_some(asio::buffer(buf), kTuple) || quiet.async_wait(kTuple));
      if (r.index() == 1) break;
      auto [rec, rn] = std::get<0>(r);
      if (rec) co_return;
      (void)mentions(buf.data(), rn, name);  // any event in the directory restarts the wait
    }
    if (stop.load()) co_return;
    changed();
  }
}

}  // namespace netfence::proxy
