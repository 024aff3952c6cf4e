// The c-ares resolver (SPEC §6.6): one dedicated thread runs a poll() loop over the c-ares
// sockets and an eventfd that resolve() uses to hand over requests. All c-ares calls happen on
// that thread (a channel is not thread-safe), so resolve() only queues and never touches the
// network. Lookup order: static hosts (synchronously, in resolve()), the hosts file (only when
// no servers are configured; read on the resolver thread), then A and AAAA queries in parallel.
//
// Deadlines are ours, not c-ares': a request is answered when both families have an answer or
// when its deadline passes, whichever comes first; c-ares' per-try timeout and tries are sized so
// its retries fit inside the deadline, and answers arriving later are dropped. c-ares 1.18 can
// only cancel every query of a channel at once, so a channel's queries are cancelled when no
// unanswered request uses it any more.
//
// Error rule when neither family yields an address: the more specific error wins, in the order
// nxdomain > servfail > refused > no_data > timeout > other (with several servers, c-ares 1.18
// reports "every server said SERVFAIL/REFUSED" as ECONNREFUSED, which maps to other). If one family
// has addresses they are the answer, whatever happened to the other (including its deadline
// expiring).
#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "dns/resolver.hpp"

namespace netfence::dns {
namespace {

using Clock = std::chrono::steady_clock;
using core::IpAddress;

constexpr int kTries = 2;  // per server; c-ares doubles the per-try timeout on each round
constexpr std::chrono::milliseconds kMinTryTimeout{10};
constexpr std::size_t kMaxChannels = 8;
constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(1);
constexpr int kClassIn = 1;  // RFC 1035 §3.2.4
constexpr int kTypeA = 1;
constexpr int kTypeAaaa = 28;  // RFC 3596

// ares_library_init is process-global (reference counted) state that c-ares requires before
// the first channel; a function-local static runs it exactly once, thread-safely, and it is
// never cleaned up because other code in the process may use c-ares too.
bool cares_library_ready() {
  static const int status = ares_library_init(ARES_LIB_INIT_ALL);
  return status == ARES_SUCCESS;
}

ResolveError map_status(int status) {
  switch (status) {
    case ARES_ENOTFOUND:
      return ResolveError::nxdomain;
    case ARES_ENODATA:
      return ResolveError::no_data;
    case ARES_ESERVFAIL:
      return ResolveError::servfail;
    case ARES_EREFUSED:
      return ResolveError::refused;
    case ARES_ETIMEOUT:
      return ResolveError::timeout;
    default:
      return ResolveError::other;
  }
}

int error_rank(ResolveError e) {
  switch (e) {
    case ResolveError::nxdomain:
      return 0;
    case ResolveError::servfail:
      return 1;
    case ResolveError::refused:
      return 2;
    case ResolveError::no_data:
      return 3;
    case ResolveError::timeout:
      return 4;
    default:
      return 5;
  }
}

IpAddress from_in_addr(const in_addr& a) { return IpAddress::v4(ntohl(a.s_addr)); }

IpAddress from_bytes16(const unsigned char* p) {
  std::array<std::uint8_t, 16> bytes{};
  std::copy(p, p + 16, bytes.begin());
  return IpAddress::v6(bytes);
}

/// RFC 8305 §4: first AAAA, first A, second AAAA, ...; duplicates dropped (first one kept).
std::vector<IpAddress> interleave(const std::vector<IpAddress>& v6,
                                  const std::vector<IpAddress>& v4) {
  std::vector<IpAddress> out;
  out.reserve(v6.size() + v4.size());
  const auto push = [&out](const IpAddress& a) {
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  };
  for (std::size_t i = 0; i < std::max(v6.size(), v4.size()); ++i) {
    if (i < v6.size()) push(v6[i]);
    if (i < v4.size()) push(v4[i]);
  }
  return out;
}

std::string lower_no_dot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

/// Looks `name` up in a hosts(5) file: every line naming it contributes its address, in file
/// order. nullopt when the file has no such name (or cannot be read).
std::optional<std::pair<std::vector<IpAddress>, std::vector<IpAddress>>> lookup_hosts_file(
    const std::string& path, const std::string& name) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  const std::string wanted = lower_no_dot(name);
  std::vector<IpAddress> v6;
  std::vector<IpAddress> v4;
  bool found = false;
  std::string line;
  while (std::getline(file, line)) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::vector<std::string_view> words;
    std::string_view rest = line;
    while (true) {
      const auto start = rest.find_first_not_of(" \t\r");
      if (start == std::string_view::npos) break;
      rest.remove_prefix(start);
      const auto end = std::min(rest.find_first_of(" \t\r"), rest.size());
      words.push_back(rest.substr(0, end));
      rest.remove_prefix(end);
    }
    if (words.size() < 2) continue;
    const bool names_it = std::any_of(words.begin() + 1, words.end(), [&](std::string_view w) {
      return lower_no_dot(w) == wanted;
    });
    if (!names_it) continue;
    const std::string ip(words[0]);
    in_addr a4{};
    std::array<unsigned char, 16> a6{};
    if (::inet_pton(AF_INET, ip.c_str(), &a4) == 1) {
      v4.push_back(from_in_addr(a4));
      found = true;
    } else if (::inet_pton(AF_INET6, ip.c_str(), a6.data()) == 1) {
      v6.push_back(from_bytes16(a6.data()));
      found = true;
    }  // anything else (zoned addresses, typos) is skipped like the C library does
  }
  if (!found) return std::nullopt;
  return std::make_pair(std::move(v6), std::move(v4));
}

/// "ip", "ip:port", "[v6]" or "[v6]:port" (a bare IPv6 address means port 53) → c-ares node.
std::optional<ares_addr_port_node> parse_server(std::string_view text) {
  std::string_view host = text;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    const std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port_text = after.substr(1);
      if (port_text.empty()) return std::nullopt;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (port_text.empty()) return std::nullopt;
  }
  int port = 53;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(),
                                             [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535) return std::nullopt;
  }
  ares_addr_port_node node{};
  const std::string host_text(host);
  if (::inet_pton(AF_INET, host_text.c_str(), &node.addr.addr4) == 1) {
    node.family = AF_INET;
  } else if (::inet_pton(AF_INET6, host_text.c_str(), &node.addr.addr6) == 1) {
    node.family = AF_INET6;
  } else {
    return std::nullopt;
  }
  node.udp_port = port;
  node.tcp_port = port;
  return node;
}

class CaresResolver final : public Resolver {
 public:
  CaresResolver(const ResolverOptions& options, std::vector<ares_addr_port_node> servers,
                int wake_fd)
      : servers_(std::move(servers)),
        hosts_file_(options.servers.empty() ? options.hosts_file : std::string()),
        max_outstanding_(options.max_outstanding),
        wake_fd_(wake_fd) {
    for (const auto& [name, addresses] : options.static_hosts) {
      static_hosts_.emplace(name, addresses);  // the first entry for a name wins
    }
  }

  // Creates one channel up front so that a bad configuration fails make_cares_resolver().
  std::optional<Error> prepare() {
    if (!cares_library_ready()) return make_error("config", "dns: ares_library_init failed");
    nservers_ = servers_.empty() ? count_system_servers() : servers_.size();
    if (channel_for(std::chrono::milliseconds(2000)) == nullptr) {
      return make_error("config", "dns: cannot initialise c-ares: " + last_error_);
    }
    thread_ = std::thread([this] { run(); });
    return std::nullopt;
  }

  /// Must not run on the resolver thread (i.e. not from inside a callback).
  ~CaresResolver() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake();
    if (thread_.joinable()) thread_.join();
    ::close(wake_fd_);
  }

  void resolve(std::string name, std::chrono::milliseconds timeout, ResolveCallback done) override {
    if (const auto it = static_hosts_.find(name); it != static_hosts_.end()) {
      ResolveResult result;
      result.addresses = it->second;
      result.error = result.addresses.empty() ? ResolveError::no_data : ResolveError::none;
      deliver(done, std::move(result));
      return;
    }
    auto request = std::make_shared<Request>();
    request->name = std::move(name);
    // Clamped so that c-ares' int millisecond timeouts cannot overflow (config allows 60 s).
    request->timeout = std::clamp(timeout, std::chrono::milliseconds(1), kMaxTimeout);
    request->deadline = Clock::now() + request->timeout;
    request->done = std::move(done);
    {
      std::lock_guard lock(mutex_);
      if (!stopping_ && outstanding_ < max_outstanding_) {
        ++outstanding_;
        queue_.push_back(std::move(request));
        request = nullptr;
      }
    }
    if (request) {
      deliver(request->done, ResolveResult{{}, ResolveError::other});
      return;
    }
    wake();
  }

 private:
  struct Family {
    bool pending = true;
    ResolveError error = ResolveError::none;
    std::vector<IpAddress> addresses;
  };

  struct Channel {
    CaresResolver* owner = nullptr;
    ares_channel handle = nullptr;
    std::size_t live = 0;       // unanswered requests using this channel
    std::size_t in_flight = 0;  // ares_query calls whose callback has not run yet
  };

  struct Request {
    std::string name;
    Clock::time_point deadline;
    std::chrono::milliseconds timeout{0};
    ResolveCallback done;
    Family v6;
    Family v4;
    bool finished = false;
    Channel* channel = nullptr;
    std::multimap<Clock::time_point, std::shared_ptr<Request>>::iterator deadline_entry;
  };

  struct QueryContext {
    std::shared_ptr<Request> request;
    Channel* channel;
    bool v6;
  };

  struct SocketInterest {
    Channel* channel;
    bool read;
    bool write;
  };

  static void deliver(ResolveCallback& done, ResolveResult result) {
    if (!done) return;
    try {
      done(std::move(result));
    } catch (...) {
      // A throwing callback must not take the resolver thread (and every other lookup) down.
    }
  }

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  }

  static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* channel = static_cast<Channel*>(data);
    auto& sockets = channel->owner->sockets_;
    if (readable == 0 && writable == 0) {
      sockets.erase(fd);
    } else {
      sockets[fd] = SocketInterest{channel, readable != 0, writable != 0};
    }
  }

  /// How many servers c-ares takes from the system configuration (at least 1: it falls back to
  /// 127.0.0.1 when resolv.conf lists none).
  static std::size_t count_system_servers() {
    ares_channel probe = nullptr;
    if (ares_init(&probe) != ARES_SUCCESS) return 1;
    std::size_t n = 0;
    ares_addr_port_node* list = nullptr;
    if (ares_get_servers_ports(probe, &list) == ARES_SUCCESS) {
      for (const ares_addr_port_node* node = list; node != nullptr; node = node->next) ++n;
      ares_free_data(list);
    }
    ares_destroy(probe);
    return std::max<std::size_t>(n, 1);
  }

  /// The channel for a deadline: per-try timeout and tries depend on it, and c-ares sets them
  /// per channel, so requests share a channel per distinct timeout (normally just one).
  Channel* channel_for(std::chrono::milliseconds timeout) {
    const auto key = timeout.count();
    if (const auto it = channels_.find(key); it != channels_.end()) return it->second.get();
    if (channels_.size() >= kMaxChannels) {
      for (auto it = channels_.begin(); it != channels_.end();) {
        if (it->second->live == 0 && it->second->in_flight == 0) {
          ares_destroy(it->second->handle);
          it = channels_.erase(it);
        } else {
          ++it;
        }
      }
      if (channels_.size() >= kMaxChannels) {  // all busy: borrow the nearest timeout's channel
        auto best = channels_.begin();
        for (auto it = channels_.begin(); it != channels_.end(); ++it) {
          if (std::llabs(it->first - key) < std::llabs(best->first - key)) best = it;
        }
        return best->second.get();
      }
    }
    auto channel = std::make_unique<Channel>();
    channel->owner = this;

    // All attempts together (servers × tries, with c-ares doubling the per-try timeout after
    // each round over the servers) must fit in the deadline: n·T + n·2T = 3·n·T.
    const auto per_try = std::max(kMinTryTimeout, timeout / static_cast<long>(3 * nservers_));
    ares_options opts{};
    const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
    // NOSEARCH/NOALIASES: never append search domains or honour HOSTALIASES (ares_query does not
    // anyway; belt and braces against leaking names to other domains).
    opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    // c-ares 1.18 treats SERVFAIL/REFUSED as "try another server" and, once every attempt is
    // spent, reports ECONNREFUSED. With several servers that failover is worth the vague error;
    // with one it only re-asks the same server, so take its answer as final and keep the code.
    if (nservers_ == 1) opts.flags |= ARES_FLAG_NOCHECKRESP;
    opts.timeout = static_cast<int>(per_try.count());
    opts.tries = kTries;
    opts.sock_state_cb = &CaresResolver::on_socket_state;
    opts.sock_state_cb_data = channel.get();
    int status = ares_init_options(&channel->handle, &opts, mask);
    if (status != ARES_SUCCESS) {
      last_error_ = ares_strerror(status);
      return nullptr;
    }
    if (!servers_.empty()) {
      std::vector<ares_addr_port_node> nodes = servers_;
      for (std::size_t i = 0; i + 1 < nodes.size(); ++i) nodes[i].next = &nodes[i + 1];
      nodes.back().next = nullptr;
      status = ares_set_servers_ports(channel->handle, nodes.data());
      if (status != ARES_SUCCESS) {
        last_error_ = ares_strerror(status);
        ares_destroy(channel->handle);
        return nullptr;
      }
    }
    Channel* raw = channel.get();
    channels_.emplace(key, std::move(channel));
    return raw;
  }

  void run() {
    std::vector<pollfd> fds;
    while (true) {
      std::uint64_t ignored;
      [[maybe_unused]] const auto n = ::read(wake_fd_, &ignored, sizeof ignored);
      std::deque<std::shared_ptr<Request>> incoming;
      bool stop = false;
      {
        std::lock_guard lock(mutex_);
        incoming.swap(queue_);
        stop = stopping_;
      }
      if (stop) {
        for (auto& request : incoming) finish_unstarted(*request);
        break;
      }
      for (auto& request : incoming) start(std::move(request));
      expire_deadlines();

      fds.clear();
      fds.push_back({wake_fd_, POLLIN, 0});
      for (const auto& [fd, interest] : sockets_) {
        fds.push_back(
            {fd, static_cast<short>((interest.read ? POLLIN : 0) | (interest.write ? POLLOUT : 0)),
             0});
      }
      int wait_ms = -1;
      const auto now = Clock::now();
      if (!deadlines_.empty()) {
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(deadlines_.begin()->first - now);
        wait_ms = static_cast<int>(std::max<long>(0, left.count()));
      }
      for (const auto& [key, channel] : channels_) {
        if (channel->in_flight == 0) continue;
        timeval tv{};
        if (ares_timeout(channel->handle, nullptr, &tv) != nullptr) {
          const long ms = tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
          if (wait_ms < 0 || ms < wait_ms) wait_ms = static_cast<int>(ms);
        }
      }
      if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) break;

      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        // Look the socket up again: processing an earlier one may have closed it.
        const auto it = sockets_.find(fds[i].fd);
        if (it == sockets_.end()) continue;
        const bool readable = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
        const bool writable = (fds[i].revents & POLLOUT) != 0;
        ares_process_fd(it->second.channel->handle, readable ? fds[i].fd : ARES_SOCKET_BAD,
                        writable ? fds[i].fd : ARES_SOCKET_BAD);
      }
      for (const auto& [key, channel] : channels_) {
        // No socket ready: this runs c-ares' own retry/timeout bookkeeping.
        if (channel->in_flight != 0) {
          ares_process_fd(channel->handle, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        }
      }
      expire_deadlines();
    }
    shutdown();
  }

  void shutdown() {
    // Every unanswered request fails with `other`, then destroying the channels runs the
    // remaining c-ares callbacks, which see finished requests and only free their context.
    while (!deadlines_.empty()) {
      finish(deadlines_.begin()->second, ResolveError::other, /*abandon=*/true);
    }
    for (auto& [key, channel] : channels_) ares_destroy(channel->handle);
    channels_.clear();
    std::deque<std::shared_ptr<Request>> late;
    {
      std::lock_guard lock(mutex_);
      late.swap(queue_);
    }
    for (auto& request : late) finish_unstarted(*request);
  }

  void finish_unstarted(Request& request) {
    {
      std::lock_guard lock(mutex_);
      --outstanding_;
    }
    deliver(request.done, ResolveResult{{}, ResolveError::other});
  }

  void start(std::shared_ptr<Request> request) {
    if (!hosts_file_.empty()) {
      if (auto found = lookup_hosts_file(hosts_file_, request->name)) {
        request->v6 = Family{false, ResolveError::none, std::move(found->first)};
        request->v4 = Family{false, ResolveError::none, std::move(found->second)};
        register_request(request, nullptr);
        finish(request, ResolveError::none);
        return;
      }
    }
    Channel* channel = channel_for(request->timeout);
    register_request(request, channel);
    if (channel == nullptr) {
      finish(request, ResolveError::other);
      return;
    }
    // Both queries go out now (parallel); either callback may run synchronously on failure.
    for (const bool v6 : {true, false}) {
      if (request->finished) break;
      ++channel->in_flight;
      ares_query(channel->handle, request->name.c_str(), kClassIn, v6 ? kTypeAaaa : kTypeA,
                 &CaresResolver::on_answer, new QueryContext{request, channel, v6});
    }
  }

  void register_request(const std::shared_ptr<Request>& request, Channel* channel) {
    request->channel = channel;
    if (channel != nullptr) ++channel->live;
    request->deadline_entry = deadlines_.emplace(request->deadline, request);
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<QueryContext> context(static_cast<QueryContext*>(arg));
    --context->channel->in_flight;
    Request& request = *context->request;
    if (request.finished) return;  // late answer after the deadline (or shutdown)
    Family& family = context->v6 ? request.v6 : request.v4;
    family.pending = false;
    if (status == ARES_SUCCESS) {
      // The hostent form returns every address of the answer: a fixed-size addrttl array would
      // silently drop answers past its end, and one dropped private answer must still refuse
      // the whole name (SPEC §6.2 rule 2).
      hostent* host = nullptr;
      status = context->v6 ? ares_parse_aaaa_reply(abuf, alen, &host, nullptr, nullptr)
                           : ares_parse_a_reply(abuf, alen, &host, nullptr, nullptr);
      if (status == ARES_SUCCESS && host != nullptr) {
        for (char** p = host->h_addr_list; p != nullptr && *p != nullptr; ++p) {
          const auto* bytes = reinterpret_cast<const unsigned char*>(*p);
          if (context->v6) {
            family.addresses.push_back(from_bytes16(bytes));
          } else {
            in_addr a{};
            std::memcpy(&a, bytes, sizeof a);
            family.addresses.push_back(from_in_addr(a));
          }
        }
      }
      if (host != nullptr) ares_free_hostent(host);
      // A NOERROR answer holding only a CNAME (or records for other names) is no data too.
      if (status == ARES_SUCCESS && family.addresses.empty()) status = ARES_ENODATA;
    }
    if (status != ARES_SUCCESS) {
      family.addresses.clear();
      family.error = map_status(status);
    }
    if (!request.v6.pending && !request.v4.pending) {
      context->channel->owner->finish(context->request, ResolveError::none);
    }
  }

  void expire_deadlines() {
    const auto now = Clock::now();
    std::vector<Channel*> touched;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      std::shared_ptr<Request> request = deadlines_.begin()->second;
      if (request->channel != nullptr) touched.push_back(request->channel);
      finish(request, ResolveError::timeout);
    }
    for (Channel* channel : touched) {
      // Nobody waits for this channel's queries any more: stop their retries now.
      if (channel->live == 0 && channel->in_flight != 0) ares_cancel(channel->handle);
    }
  }

  /// Answers a request once. `pending_error` stands in for families still waiting; `abandon`
  /// (shutdown) discards partial answers so that the caller sees `pending_error` alone.
  /// Takes `request` by value: the caller's reference may live in the deadline node erased here.
  void finish(std::shared_ptr<Request> request, ResolveError pending_error, bool abandon = false) {
    if (request->finished) return;
    request->finished = true;
    deadlines_.erase(request->deadline_entry);
    if (request->channel != nullptr) --request->channel->live;
    for (Family* family : {&request->v6, &request->v4}) {
      if (family->pending) {
        family->pending = false;
        family->error = pending_error;
      }
    }
    ResolveResult result;
    if (abandon) {
      result.error = pending_error;
    } else {
      result.addresses = interleave(request->v6.addresses, request->v4.addresses);
      if (result.addresses.empty()) {
        const ResolveError a = request->v6.error;
        const ResolveError b = request->v4.error;
        result.error = error_rank(a) <= error_rank(b) ? a : b;
        if (result.error == ResolveError::none) result.error = ResolveError::no_data;
      }
    }
    {
      std::lock_guard lock(mutex_);
      --outstanding_;  // before the callback, so that it may resolve again right away
    }
    deliver(request->done, std::move(result));
    request->done = nullptr;  // drop captured state now, not when late answers arrive
  }

  // Immutable after construction.
  const std::vector<ares_addr_port_node> servers_;
  std::size_t nservers_ = 1;      // set by prepare()
  const std::string hosts_file_;  // empty: not consulted
  const std::size_t max_outstanding_;
  std::unordered_map<std::string, std::vector<IpAddress>> static_hosts_;
  const int wake_fd_;

  // Shared with resolve().
  std::mutex mutex_;
  std::deque<std::shared_ptr<Request>> queue_;
  std::size_t outstanding_ = 0;
  bool stopping_ = false;

  // Resolver thread only (and prepare(), before the thread starts).
  std::map<long, std::unique_ptr<Channel>> channels_;
  std::unordered_map<ares_socket_t, SocketInterest> sockets_;
  std::multimap<Clock::time_point, std::shared_ptr<Request>> deadlines_;
  std::string last_error_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Resolver>> make_cares_resolver(const ResolverOptions& options) {
  std::vector<ares_addr_port_node> servers;
  for (const auto& text : options.servers) {
    auto node = parse_server(text);
    if (!node) return make_error("config", "dns: invalid name server address: " + text);
    servers.push_back(*node);
  }
  if (options.max_outstanding == 0) {
    return make_error("config", "dns: max_outstanding must be at least 1");
  }
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) return make_error("io", "dns: eventfd() failed");
  auto resolver = std::make_unique<CaresResolver>(options, std::move(servers), wake_fd);
  if (auto error = resolver->prepare()) return *error;
  return std::unique_ptr<Resolver>(std::move(resolver));
}

}  // namespace netfence::dns
