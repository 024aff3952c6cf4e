#include "audit/pipeline.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netfence::audit {

Pipeline::Pipeline(std::size_t queue_size, observe::Metrics& metrics)
    : metrics_(metrics), capacity_(std::max<std::size_t>(1, queue_size)) {
  thread_ = std::thread([this] { run(); });
  audit_thread_ = thread_.get_id();
}

Pipeline::~Pipeline() { shutdown(std::chrono::milliseconds(2000)); }

void Pipeline::emit(std::vector<AuditEvent> events) {
  if (events.empty()) return;
  std::uint64_t dropped = 0;
  bool was_empty = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    was_empty = queue_.empty();
    queued_events_ += events.size();
    queue_.push_back(Item{std::move(events), {}});
    // Drop-oldest: the newest events describe what is happening now. Tasks (blocked-observer
    // calls) are never dropped and are stepped over, so the bound holds whatever is oldest.
    for (auto it = queue_.begin(); queued_events_ > capacity_ && it != queue_.end();) {
      if (it->task) {
        ++it;
        continue;
      }
      const std::size_t n = std::min(it->events.size(), queued_events_ - capacity_);
      it->events.erase(it->events.begin(), it->events.begin() + static_cast<std::ptrdiff_t>(n));
      queued_events_ -= n;
      dropped += n;
      it = it->events.empty() ? queue_.erase(it) : std::next(it);
    }
  }
  if (dropped) metrics_.count_audit_dropped(dropped);
  // The audit thread drains the whole queue whenever it wakes, so only the push that made the
  // queue non-empty needs to wake it; later pushes join that batch without a futex call.
  if (was_empty) wake_.notify_one();
}

void Pipeline::post(std::function<void()> task) {
  bool was_empty = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    was_empty = queue_.empty();
    queue_.push_back(Item{{}, std::move(task)});
  }
  if (was_empty) wake_.notify_one();
}

void Pipeline::set_sinks(std::vector<std::shared_ptr<AuditSink>> sinks) {
  {
    std::lock_guard lock(mutex_);
    for (auto& s : sinks_) retired_.push_back(std::move(s));
    sinks_ = std::move(sinks);
    has_sinks_.store(!sinks_.empty(), std::memory_order_relaxed);
  }
  wake_.notify_one();
}

void Pipeline::set_queue_size(std::size_t n) {
  std::lock_guard lock(mutex_);
  capacity_ = std::max<std::size_t>(1, n);
}

void Pipeline::shutdown(std::chrono::milliseconds budget) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      flush_deadline_ = std::chrono::steady_clock::now() + budget;
    }
  }
  wake_.notify_one();
  // Concurrent callers: one joins, the others wait for it (joining one thread twice is UB).
  if (audit_thread_ == std::this_thread::get_id()) return;  // a task called us
  std::lock_guard join_lock(join_mutex_);
  if (thread_.joinable()) thread_.join();
}

void Pipeline::deliver(std::vector<Item>& items) {
  std::vector<std::shared_ptr<AuditSink>> sinks, retired;
  {
    std::lock_guard lock(mutex_);
    sinks = sinks_;
    retired.swap(retired_);
  }
  for (auto& s : retired) s->flush(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  retired.clear();
  std::vector<AuditEvent> batch;
  auto send = [&] {
    if (batch.empty()) return;
    for (auto& s : sinks) s->write(batch);
    batch.clear();
  };
  for (auto& item : items) {
    if (item.task) {
      send();  // a task observes the events emitted before it
      try {
        item.task();
      } catch (...) {
        // A faulty library callback must not take the audit thread down.
      }
      continue;
    }
    for (auto& e : item.events) batch.push_back(std::move(e));
  }
  send();
}

void Pipeline::run() {
  for (;;) {
    std::vector<Item> items;
    bool stop = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !retired_.empty(); });
      items.reserve(queue_.size());
      for (auto& i : queue_) items.push_back(std::move(i));
      queue_.clear();
      queued_events_ = 0;
      stop = stopping_;
    }
    deliver(items);
    if (stop) {
      std::vector<std::shared_ptr<AuditSink>> sinks;
      std::chrono::steady_clock::time_point deadline;
      {
        std::lock_guard lock(mutex_);
        sinks = sinks_;
        deadline = flush_deadline_;
      }
      for (auto& s : sinks) s->flush(deadline);
      return;
    }
  }
}

namespace {

class JsonlSink final : public AuditSink {
 public:
  JsonlSink(int fd, bool owned) : fd_(fd), owned_(owned) {}
  ~JsonlSink() override {
    if (owned_) ::close(fd_);
  }
  void write(const std::vector<AuditEvent>& events) override {
    std::string out;
    for (const auto& e : events) {
      out += encode_jsonl(e);
      out.push_back('\n');
    }
    // One write per batch: with O_APPEND, lines from a batch stay together in the file.
    std::size_t off = 0;
    while (off < out.size()) {
      const ssize_t n = ::write(fd_, out.data() + off, out.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // disk full or closed stderr: nothing sensible to do on this thread
      off += static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_;
  bool owned_;
};

}  // namespace

Result<std::shared_ptr<AuditSink>> make_jsonl_sink(const std::string& path) {
  if (path == "-") return std::shared_ptr<AuditSink>(std::make_shared<JsonlSink>(2, false));
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(
        "audit", "network.audit.jsonl_path: cannot open " + path + ": " + std::strerror(errno));
  }
  return std::shared_ptr<AuditSink>(std::make_shared<JsonlSink>(fd, true));
}

}  // namespace netfence::audit
