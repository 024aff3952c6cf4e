#include "http/upstream_pool.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace netfence::http {

bool upstream_still_idle(boost::asio::ip::tcp::socket& s) {
  char c;
  const ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool may_reuse(std::string_view conn_host, std::uint16_t conn_port,
               const core::IpAddress& conn_address, std::string_view host, std::uint16_t port,
               std::span<const core::IpAddress> vetted) {
  return conn_port == port && conn_host == host &&
         std::find(vetted.begin(), vetted.end(), conn_address) != vetted.end();
}

namespace {

void close_quietly(boost::asio::ip::tcp::socket& s) {
  boost::system::error_code ignored;
  s.close(ignored);
}

}  // namespace

void UpstreamPool::expire(std::chrono::steady_clock::time_point now) {
  while (!entries_.empty() && now - entries_.front().since > limits_.idle) {
    close_quietly(entries_.front().socket);
    entries_.pop_front();
  }
}

std::optional<UpstreamPool::Taken> UpstreamPool::take(std::string_view host, std::uint16_t port,
                                                      std::span<const core::IpAddress> vetted) {
  expire(std::chrono::steady_clock::now());
  // Newest first: the most recently used connection is the least likely to have timed out.
  for (auto it = entries_.end(); it != entries_.begin();) {
    --it;
    if (!may_reuse(it->host, it->port, it->address, host, port, vetted)) continue;
    boost::asio::ip::tcp::socket s = std::move(it->socket);
    const core::IpAddress address = it->address;
    entries_.erase(it);
    if (upstream_still_idle(s)) return Taken{std::move(s), address};
    close_quietly(s);
    it = entries_.end();  // erase invalidated the iterators: rescan
  }
  return std::nullopt;
}

void UpstreamPool::give(std::string host, std::uint16_t port, core::IpAddress address,
                        boost::asio::ip::tcp::socket socket,
                        std::chrono::steady_clock::time_point idle_since) {
  const auto now = std::chrono::steady_clock::now();
  expire(now);
  if (now - idle_since > limits_.idle) {
    close_quietly(socket);
    return;
  }
  std::size_t same = 0;
  for (const auto& e : entries_) {
    if (e.port == port && e.host == host) ++same;
  }
  if (same >= limits_.per_key) {
    auto oldest = std::find_if(entries_.begin(), entries_.end(),
                               [&](const Entry& e) { return e.port == port && e.host == host; });
    close_quietly(oldest->socket);
    entries_.erase(oldest);
  }
  if (entries_.size() >= limits_.total) {
    close_quietly(entries_.front().socket);
    entries_.pop_front();
  }
  // Kept in idle order (expire() pops from the front); a connection released by a client
  // connection that held it may be older than the newest entries.
  const auto pos = std::upper_bound(
      entries_.begin(), entries_.end(), idle_since,
      [](std::chrono::steady_clock::time_point t, const Entry& e) { return t < e.since; });
  entries_.insert(pos, Entry{std::move(host), port, address, std::move(socket), idle_since});
}

net::Pipe UpstreamPool::take_pipe() {
  if (pipes_.empty()) return {};
  net::Pipe p = std::move(pipes_.back());
  pipes_.pop_back();
  return p;
}

void UpstreamPool::give_pipe(net::Pipe pipe) {
  constexpr std::size_t kSparePipes = 4;  // concurrent large responses per thread worth a pipe
  if (pipe.is_open() && pipes_.size() < kSparePipes) pipes_.push_back(std::move(pipe));
}

}  // namespace netfence::http
