// Delivery of audit events (SPEC §15.4): a bounded queue that I/O threads push to without ever
// blocking on a sink, and one audit thread that hands every event to every sink in order.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "audit/event.hpp"
#include "observe/metrics.hpp"

namespace netfence::audit {

/// A destination for events. Called only on the audit thread.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  /// Events in emission order; never empty.
  virtual void write(const std::vector<AuditEvent>& events) = 0;
  /// Graceful shutdown: deliver what is buffered before `deadline` if possible.
  virtual void flush(std::chrono::steady_clock::time_point deadline) { (void)deadline; }
};

class Pipeline {
 public:
  /// `queue_size` bounds the events waiting for the audit thread; when full the oldest is
  /// dropped and counted in netfence_audit_events_dropped_total.
  Pipeline(std::size_t queue_size, observe::Metrics& metrics);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// From any thread. Takes a lock for a few moves; never waits for a sink.
  void emit(std::vector<AuditEvent> events);
  /// Runs `task` on the audit thread after the events emitted before it (blocked observers).
  void post(std::function<void()> task);

  /// Replaces the sinks (reload). Events already queued go to the new sinks; the old ones are
  /// flushed and destroyed on the audit thread.
  void set_sinks(std::vector<std::shared_ptr<AuditSink>> sinks);
  void set_queue_size(std::size_t n);
  /// Whether any sink would receive an event: callers skip building events nobody reads (the
  /// common no-audit configuration then costs no lock and no wake-up per decision).
  bool has_sinks() const noexcept { return has_sinks_.load(std::memory_order_relaxed); }

  /// Delivers what is queued, flushes every sink within `budget`, and stops the audit thread.
  /// Idempotent; emit() afterwards drops silently.
  void shutdown(std::chrono::milliseconds budget);

 private:
  struct Item {
    std::vector<AuditEvent> events;  // empty for a task
    std::function<void()> task;
  };
  void run();
  void deliver(std::vector<Item>& items);

  observe::Metrics& metrics_;
  std::mutex mutex_;  // guards the members below
  std::condition_variable wake_;
  std::deque<Item> queue_;
  std::size_t queued_events_ = 0;
  std::size_t capacity_;
  std::vector<std::shared_ptr<AuditSink>> sinks_;
  std::atomic<bool> has_sinks_{false};  // mirrors !sinks_.empty() for has_sinks()
  std::vector<std::shared_ptr<AuditSink>> retired_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point flush_deadline_;
  std::mutex join_mutex_;  // serialises shutdown()'s join
  std::thread thread_;
  std::thread::id audit_thread_;  // fixed at construction, read without the lock
};

/// The JSON-lines sink: one encode_jsonl() record per line, appended to `path` (created with
/// mode 0600) or written to stderr for "-".
Result<std::shared_ptr<AuditSink>> make_jsonl_sink(const std::string& path);

}  // namespace netfence::audit
