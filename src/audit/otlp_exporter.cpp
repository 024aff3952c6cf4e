// The OTLP/HTTP logs sink (SPEC §15.4). write() runs on the audit thread and only appends to a
// bounded buffer; a worker thread of its own cuts batches (batch_size events, or batch_timeout_ms
// after the first one arrived), encodes them and POSTs them to `<otlp_endpoint>/v1/logs`.
//
// The HTTP client is a small blocking-looking loop over a private io_context: every operation is
// asynchronous, and the worker runs the context in slices of at most kSlice, so a request can
// be abandoned at its own deadline (request_timeout), at a flush deadline or at destruction
// within a slice. Name resolution runs getaddrinfo on a detached thread for the same reason: a
// hung resolver is left behind instead of wedging shutdown. Connections are kept alive between
// batches; a request that fails on a reused connection before any answer arrived goes out once
// more on a fresh one (the collector closed an idle connection), without counting an attempt.
//
// Logs: WARN lines name the endpoint, the HTTP status or connection error and the batch size,
// never event content; DEBUG adds a short excerpt of a collector's error answer.
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "audit/otlp.hpp"
#include "netfence/version.hpp"

namespace netfence::audit {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

// How long the worker may sit in the io_context before re-checking abort conditions.
constexpr auto kSlice = std::chrono::milliseconds(20);
constexpr std::uint32_t kResponseHeaderLimit = 16 * 1024;
constexpr std::uint64_t kResponseBodyLimit = 64 * 1024;

std::int64_t wall_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool valid_header_name(std::string_view n) {
  return !n.empty() && std::all_of(n.begin(), n.end(), is_token_char);
}

bool valid_header_value(std::string_view v) {
  return std::all_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

// Headers the exporter frames itself; an otlp_headers entry for one of them is ignored.
bool reserved_header(std::string_view n) {
  for (std::string_view r : {"host", "content-length", "content-type", "transfer-encoding",
                             "connection", "keep-alive", "expect", "te", "trailer", "upgrade"}) {
    if (iequals(n, r)) return true;
  }
  return false;
}

// Printable excerpt of a collector's answer, for DEBUG lines only.
std::string excerpt(std::string_view body) {
  std::string out(body.substr(0, 200));
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  return out;
}

using AbortFn = std::function<bool()>;

/// One attempt's outcome.
struct Attempt {
  enum class Kind : std::uint8_t { response, failed, aborted };
  Kind kind = Kind::failed;
  int status = 0;                                   // response
  std::optional<std::chrono::seconds> retry_after;  // response
  std::string body;                                 // response (bounded)
  std::string error;                                // failed: what went wrong

  static Attempt failure(std::string what) {
    Attempt a;
    a.error = std::move(what);
    return a;
  }
  static Attempt abort() {
    Attempt a;
    a.kind = Kind::aborted;
    return a;
  }
};

// getaddrinfo on a detached thread; the state outlives whichever side gives up first.
struct ResolveState {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::vector<tcp::endpoint> endpoints;
  std::string error;
};

class HttpClient {
 public:
  HttpClient(OtlpEndpoint ep, Headers headers, std::string user_agent)
      : ep_(std::move(ep)), headers_(std::move(headers)), user_agent_(std::move(user_agent)) {
    error_code ec;
    (void)asio::ip::make_address(ep_.host, ec);
    ip_literal_ = !ec;
  }

  Result<void> init() {
    if (!ep_.tls) return {};
    try {
      tls_ctx_.emplace(ssl::context::tls_client);
    } catch (const std::exception& e) {
      return make_error("audit",
                        std::string("OTLP exporter: cannot create a TLS context: ") + e.what());
    }
    error_code ec;
    tls_ctx_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                              ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                              ssl::context::no_tlsv1_1,
                          ec);
    tls_ctx_->set_default_verify_paths(ec);
    if (ec) {
      return make_error("audit",
                        "OTLP exporter: cannot load the system trust store: " + ec.message());
    }
    tls_ctx_->set_verify_mode(ssl::verify_peer, ec);
    return {};
  }

  /// One POST of `body`. Blocks the calling (worker) thread until an answer, an error, the
  /// deadline, or abort() turning true.
  Attempt post(const std::string& body, Clock::time_point deadline, const AbortFn& abort) {
    const bool reused = connected();
    if (!reused) {
      if (auto failed = open(deadline, abort)) return std::move(*failed);
    }
    bool stale = false;
    Attempt a = exchange(body, deadline, abort, reused, stale);
    if (stale) {
      if (auto failed = open(deadline, abort)) return std::move(*failed);
      a = exchange(body, deadline, abort, false, stale);
    }
    return a;
  }

  void disconnect() {
    error_code ignored;
    if (tls_) tls_->lowest_layer().close(ignored);
    if (plain_) plain_->close(ignored);
    tls_.reset();
    plain_.reset();
    keep_ = false;
  }

 private:
  enum class Wait : std::uint8_t { done, timeout, aborted };

  bool connected() const { return keep_ && (tls_ || plain_); }

  void close_socket() {
    error_code ignored;
    if (tls_) tls_->lowest_layer().close(ignored);
    if (plain_) plain_->close(ignored);
  }

  // Runs the context until `done`; at the deadline or on abort the socket is closed, the
  // pending operation completes with an error, and that completion is drained.
  Wait run_until_done(const bool& done, Clock::time_point deadline, const AbortFn& abort) {
    Wait result = Wait::done;
    ioc_.restart();
    while (!done) {
      const auto now = Clock::now();
      if (abort()) {
        result = Wait::aborted;
        break;
      }
      if (now >= deadline) {
        result = Wait::timeout;
        break;
      }
      ioc_.run_one_until(std::min(deadline, now + kSlice));
      if (ioc_.stopped() && !done) break;  // nothing pending: cannot happen, but never spin
    }
    if (!done) {
      close_socket();
      ioc_.restart();
      while (!done && ioc_.run_one() > 0) {
      }
    }
    return result;
  }

  std::optional<Attempt> resolve(Clock::time_point deadline, const AbortFn& abort,
                                 std::vector<tcp::endpoint>& out) {
    error_code ec;
    const auto address = asio::ip::make_address(ep_.host, ec);
    if (!ec) {
      out.emplace_back(address, ep_.port);
      return std::nullopt;
    }
    auto st = std::make_shared<ResolveState>();
    try {
      std::thread([st, host = ep_.host, port = std::to_string(ep_.port)] {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
        std::vector<tcp::endpoint> eps;
        std::string error;
        if (rc == 0) {
          for (const addrinfo* p = res; p; p = p->ai_next) {
            if ((p->ai_family != AF_INET && p->ai_family != AF_INET6) ||
                p->ai_addrlen > sizeof(sockaddr_in6)) {
              continue;
            }
            tcp::endpoint e;
            std::memcpy(e.data(), p->ai_addr, p->ai_addrlen);
            e.resize(p->ai_addrlen);
            if (std::find(eps.begin(), eps.end(), e) == eps.end()) eps.push_back(e);
          }
          ::freeaddrinfo(res);
          if (eps.empty()) error = "no addresses";
        } else {
          error = ::gai_strerror(rc);
        }
        std::lock_guard lock(st->m);
        st->endpoints = std::move(eps);
        st->error = std::move(error);
        st->done = true;
        st->cv.notify_all();
      }).detach();
    } catch (const std::exception&) {
      return Attempt::failure("cannot start a resolver thread");
    }
    std::unique_lock lock(st->m);
    while (!st->done) {
      if (abort()) return Attempt::abort();
      const auto now = Clock::now();
      if (now >= deadline) return Attempt::failure("name resolution timed out");
      st->cv.wait_until(lock, std::min(deadline, now + kSlice));
    }
    if (!st->error.empty())
      return Attempt::failure("cannot resolve " + ep_.host + ": " + st->error);
    out = std::move(st->endpoints);
    return std::nullopt;
  }

  // A fresh connection (and TLS session); nullopt on success.
  std::optional<Attempt> open(Clock::time_point deadline, const AbortFn& abort) {
    disconnect();
    std::vector<tcp::endpoint> endpoints;
    if (auto failed = resolve(deadline, abort, endpoints)) return failed;
    std::string last_error = "no addresses";
    bool connected_tcp = false;
    for (const auto& endpoint : endpoints) {
      plain_ = std::make_unique<tcp::socket>(ioc_);
      bool done = false;
      error_code ec;
      plain_->async_connect(endpoint, [&](const error_code& e) {
        ec = e;
        done = true;
      });
      const Wait w = run_until_done(done, deadline, abort);
      if (w == Wait::aborted) {
        disconnect();
        return Attempt::abort();
      }
      if (w == Wait::timeout) {
        disconnect();
        return Attempt::failure("connect timed out");
      }
      if (!ec) {
        connected_tcp = true;
        break;
      }
      last_error = "connect: " + ec.message();
      disconnect();
    }
    if (!connected_tcp) return Attempt::failure(last_error);
    error_code ignored;
    plain_->set_option(tcp::no_delay(true), ignored);
    if (ep_.tls) {
      tls_ = std::make_unique<ssl::stream<tcp::socket>>(std::move(*plain_), *tls_ctx_);
      plain_.reset();
      // SNI: Asio does not set it (cpp-stack A.5-19); never for an IP literal.
      if (!ip_literal_) SSL_set_tlsext_host_name(tls_->native_handle(), ep_.host.c_str());
      tls_->set_verify_mode(ssl::verify_peer, ignored);
      tls_->set_verify_callback(ssl::host_name_verification(ep_.host), ignored);
      bool done = false;
      error_code ec;
      tls_->async_handshake(ssl::stream_base::client, [&](const error_code& e) {
        ec = e;
        done = true;
      });
      const Wait w = run_until_done(done, deadline, abort);
      if (w != Wait::done || ec) {
        disconnect();
        if (w == Wait::aborted) return Attempt::abort();
        return Attempt::failure(w == Wait::timeout ? "TLS handshake timed out"
                                                   : "TLS handshake: " + ec.message());
      }
    }
    keep_ = true;
    return std::nullopt;
  }

  template <class F>
  void with_stream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*plain_);
    }
  }

  Attempt exchange(const std::string& body, Clock::time_point deadline, const AbortFn& abort,
                   bool reused, bool& stale) {
    stale = false;
    http::request<http::string_body> req{http::verb::post, ep_.target, 11};
    req.set(http::field::host, ep_.host_header);
    req.set(http::field::user_agent, user_agent_);
    req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers_) req.set(name, value);
    req.body() = body;
    req.prepare_payload();

    bool done = false;
    error_code ec;
    with_stream([&](auto& s) {
      http::async_write(s, req, [&](const error_code& e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    Wait w = run_until_done(done, deadline, abort);
    if (w != Wait::done || ec) {
      disconnect();
      if (w == Wait::aborted) return Attempt::abort();
      if (w == Wait::timeout) return Attempt::failure("sending timed out");
      stale = reused;
      return Attempt::failure("send: " + ec.message());
    }

    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(kResponseHeaderLimit);
    parser.body_limit(kResponseBodyLimit);
    done = false;
    with_stream([&](auto& s) {
      http::async_read(s, buffer, parser, [&](const error_code& e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    w = run_until_done(done, deadline, abort);
    if (w == Wait::aborted) {
      disconnect();
      return Attempt::abort();
    }
    if (!parser.is_header_done()) {
      const bool nothing = !parser.got_some() && buffer.size() == 0;
      disconnect();
      if (w == Wait::timeout) return Attempt::failure("waiting for the answer timed out");
      stale = reused && nothing;
      return Attempt::failure("receive: " + ec.message());
    }
    // The status counts even when the body was cut short; the connection does not survive it.
    Attempt a;
    a.kind = Attempt::Kind::response;
    const auto& res = parser.get();
    a.status = static_cast<int>(res.result_int());
    if (auto it = res.find(http::field::retry_after); it != res.end()) {
      a.retry_after = parse_retry_after(it->value());
    }
    if (parser.is_done()) a.body = res.body();
    if (w != Wait::done || ec || !parser.is_done() || !res.keep_alive() || buffer.size() != 0) {
      disconnect();
    }
    return a;
  }

  OtlpEndpoint ep_;
  Headers headers_;
  std::string user_agent_;
  bool ip_literal_ = false;
  asio::io_context ioc_{1};
  std::optional<ssl::context> tls_ctx_;
  std::unique_ptr<tcp::socket> plain_;
  std::unique_ptr<ssl::stream<tcp::socket>> tls_;
  bool keep_ = false;  // the current connection may carry the next request
};

bool retryable_status(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

class OtlpSink final : public AuditSink {
 public:
  OtlpSink(const OtlpEndpoint& ep, Headers headers, const AuditConfig& cfg,
           observe::Metrics& metrics, log::Logger& log, const OtlpOptions& options)
      : client_(ep, std::move(headers), "netfence/" + std::string(netfence::version())),
        endpoint_(ep.display),
        metrics_(metrics),
        log_(log),
        options_(options),
        version_(options.service_version.empty() ? std::string(netfence::version())
                                                 : options.service_version),
        batch_size_(std::max<std::size_t>(1, cfg.batch_size)),
        capacity_(std::max<std::size_t>({1, cfg.queue_size, cfg.batch_size})),
        batch_timeout_(std::max<std::uint32_t>(1, cfg.batch_timeout_ms)) {
    options_.max_attempts = std::max(1u, options_.max_attempts);
  }

  Result<void> start() {
    if (auto st = client_.init(); !st) return st;
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::exception& e) {
      return make_error("audit",
                        std::string("OTLP exporter: cannot start its thread: ") + e.what());
    }
    return {};
  }

  ~OtlpSink() override {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    work_cv_.notify_all();
    idle_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (!pending_.empty() && log_.enabled(log::Level::debug)) {
      log_.debug("audit: OTLP exporter stopped with " + std::to_string(pending_.size()) +
                 " events not exported");
    }
  }

  void write(const std::vector<AuditEvent>& events) override {
    if (events.empty()) return;
    std::uint64_t dropped = 0;
    bool warn = false;
    bool wake = false;
    {
      std::lock_guard lock(m_);
      if (stop_) return;
      const bool was_empty = pending_.empty();
      if (was_empty) first_at_ = Clock::now();
      pending_.insert(pending_.end(), events.begin(), events.end());
      // Drop-oldest, like the audit queue: the newest events describe what happens now.
      while (pending_.size() > capacity_) {
        pending_.pop_front();
        ++dropped;
      }
      if (dropped && !overflow_warned_) overflow_warned_ = warn = true;
      wake = was_empty || pending_.size() >= batch_size_;
    }
    if (wake) work_cv_.notify_one();
    if (dropped) metrics_.count_audit_dropped(dropped);
    if (warn) {
      log_.warn("audit: the OTLP export buffer is full (" + std::to_string(capacity_) +
                " events) while " + endpoint_ + " is slow or down; dropping the oldest events");
    }
  }

  void flush(Clock::time_point deadline) override {
    std::unique_lock lock(m_);
    if (stop_) return;
    ++flushers_;
    flush_deadline_ = flushers_ == 1 ? deadline : std::min(*flush_deadline_, deadline);
    work_cv_.notify_all();
    const bool idle =
        idle_cv_.wait_until(lock, deadline, [&] { return stop_ || (pending_.empty() && !busy_); });
    if (!idle && busy_) {
      // Out of time: the export in flight (or its retry wait) gives up now.
      abandon_ = true;
      work_cv_.notify_all();
    }
    if (--flushers_ == 0) flush_deadline_.reset();
  }

 private:
  // True when the export in progress must stop: destruction, a flush that ran out of time, or
  // a flush deadline that has passed.
  bool aborted() {
    std::lock_guard lock(m_);
    return stop_ || abandon_ || (flushers_ > 0 && Clock::now() >= *flush_deadline_);
  }

  // Sleeps before a retry; false when the retry cannot happen (destruction, or a flush whose
  // deadline comes first).
  bool wait_before_retry(Clock::duration delay) {
    std::unique_lock lock(m_);
    const auto until = Clock::now() + delay;
    const bool give_up = work_cv_.wait_until(lock, until, [&] {
      return stop_ || abandon_ || (flushers_ > 0 && until > *flush_deadline_);
    });
    return !give_up;
  }

  void run() {
    std::unique_lock lock(m_);
    for (;;) {
      if (stop_) return;
      if (pending_.empty()) {
        work_cv_.wait(lock);
        continue;
      }
      const auto now = Clock::now();
      const auto due = first_at_ + batch_timeout_;
      if (pending_.size() < batch_size_ && flushers_ == 0 && now < due) {
        work_cv_.wait_until(lock, due);
        continue;
      }
      const std::size_t n = std::min(batch_size_, pending_.size());
      std::vector<AuditEvent> batch(
          std::make_move_iterator(pending_.begin()),
          std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(n)));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
      if (!pending_.empty()) first_at_ = now;
      busy_ = true;
      abandon_ = false;
      lock.unlock();
      bool delivered = false;
      const std::size_t size = batch.size();
      try {
        delivered = export_batch(std::move(batch));
      } catch (const std::exception&) {
        // Out of memory or a library throwing: lose the batch, keep the exporter alive.
        give_up(size, "failed with an internal error");
      }
      lock.lock();
      busy_ = false;
      if (delivered) overflow_warned_ = false;
      idle_cv_.notify_all();
    }
  }

  void give_up(std::size_t n, const std::string& why) {
    metrics_.count_audit_export_failure();
    log_.warn("audit: OTLP export to " + endpoint_ + " " + why + "; dropped a batch of " +
              std::to_string(n) + (n == 1 ? " event" : " events"));
  }

  bool export_batch(std::vector<AuditEvent> batch) {
    const std::size_t n = batch.size();
    const std::string body = encode_otlp(batch, version_, wall_nanos());
    batch = {};
    for (unsigned attempt = 1;; ++attempt) {
      const auto deadline = Clock::now() + options_.request_timeout;
      Attempt a = client_.post(body, deadline, [this] { return aborted(); });
      if (a.kind == Attempt::Kind::aborted) {
        give_up(n, "abandoned (shutdown or flush deadline)");
        return false;
      }
      if (a.kind == Attempt::Kind::response && a.status >= 200 && a.status < 300) {
        if (attempt > 1 && log_.enabled(log::Level::debug)) {
          log_.debug("audit: OTLP batch of " + std::to_string(n) + " events delivered after " +
                     std::to_string(attempt) + " attempts");
        }
        return true;
      }
      const bool response = a.kind == Attempt::Kind::response;
      const std::string what = response ? "HTTP " + std::to_string(a.status) : a.error;
      if (response && !a.body.empty() && log_.enabled(log::Level::debug)) {
        log_.debug("audit: OTLP collector answered " + what + ": " + excerpt(a.body));
      }
      if (response && !retryable_status(a.status)) {
        give_up(n, "was rejected with " + what);
        return false;
      }
      if (attempt >= options_.max_attempts) {
        give_up(n, "failed " + std::to_string(attempt) + " times (last: " + what + ")");
        return false;
      }
      std::chrono::milliseconds delay =
          otlp_backoff(attempt, options_.backoff_base, options_.backoff_max);
      if (a.retry_after) {
        delay = std::min<std::chrono::milliseconds>(*a.retry_after, options_.retry_after_max);
      }
      if (log_.enabled(log::Level::debug)) {
        log_.debug("audit: OTLP export attempt " + std::to_string(attempt) + " failed (" + what +
                   "); retrying in " + std::to_string(delay.count()) + " ms");
      }
      if (!wait_before_retry(delay)) {
        give_up(n, "abandoned during retries (shutdown or flush deadline; last: " + what + ")");
        return false;
      }
    }
  }

  HttpClient client_;  // used by the worker thread only
  const std::string endpoint_;
  observe::Metrics& metrics_;
  log::Logger& log_;
  OtlpOptions options_;
  const std::string version_;
  const std::size_t batch_size_;
  const std::size_t capacity_;
  const std::chrono::milliseconds batch_timeout_;

  std::mutex m_;                     // guards the members below
  std::condition_variable work_cv_;  // wakes the worker
  std::condition_variable idle_cv_;  // wakes flush() callers
  std::deque<AuditEvent> pending_;
  Clock::time_point first_at_;  // when the oldest pending event's batch timer started
  std::optional<Clock::time_point> flush_deadline_;  // set while flushers_ > 0
  unsigned flushers_ = 0;
  bool busy_ = false;     // the worker is exporting a batch
  bool abandon_ = false;  // a flush ran out of time: the export in flight gives up
  bool stop_ = false;
  bool overflow_warned_ = false;

  std::thread thread_;  // last: started once everything above exists
};

}  // namespace

Result<std::shared_ptr<AuditSink>> make_otlp_sink(const AuditConfig& audit,
                                                  observe::Metrics& metrics, log::Logger& log,
                                                  const OtlpOptions& options) {
  if (!audit.otlp_endpoint) {
    return make_error("audit", "network.audit.otlp_endpoint is not set");
  }
  auto ep = parse_otlp_endpoint(*audit.otlp_endpoint);
  if (!ep) return ep.error();
  Headers headers;
  for (const auto& [name, value] : audit.otlp_headers) {
    if (!valid_header_name(name)) {
      return make_error("audit", "network.audit.otlp_headers: not an HTTP header name");
    }
    if (!valid_header_value(value)) {
      // The value is not repeated: it is typically a credential.
      return make_error("audit", "network.audit.otlp_headers." + name +
                                     ": a header value without control characters is needed");
    }
    if (reserved_header(name)) {
      log.warn("network.audit.otlp_headers." + name + " is set by the exporter itself (ignored)");
      continue;
    }
    headers.emplace_back(name, value);
  }
  auto sink = std::make_shared<OtlpSink>(*ep, std::move(headers), audit, metrics, log, options);
  if (auto st = sink->start(); !st) return st.error();
  return std::shared_ptr<AuditSink>(std::move(sink));
}

Result<std::shared_ptr<AuditSink>> make_otlp_sink(const AuditConfig& audit,
                                                  observe::Metrics& metrics, log::Logger& log) {
  return make_otlp_sink(audit, metrics, log, OtlpOptions());
}

}  // namespace netfence::audit
