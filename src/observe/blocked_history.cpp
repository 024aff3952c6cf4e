#include "observe/blocked_history.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

namespace netfence::observe {

BlockedHistory::BlockedHistory(std::size_t capacity) : capacity_(capacity) {
  ring_.reserve(capacity_);
}

void BlockedHistory::record(BlockedEntry entry) {
  std::shared_ptr<const BlockedObserver> observer;
  {
    std::lock_guard lock(mutex_);
    observer = observer_;
    if (capacity_ != 0) {
      // Copy only when the observer needs the entry after the lock is gone (a later record may
      // overwrite the slot); otherwise move.
      BlockedEntry* slot = nullptr;
      if (ring_.size() < capacity_) {
        slot = &ring_.emplace_back();
      } else {
        slot = &ring_[head_];
        head_ = (head_ + 1) % capacity_;
      }
      if (observer) {
        *slot = entry;
      } else {
        *slot = std::move(entry);
      }
    }
  }
  if (observer) {
    try {
      (*observer)(entry);
    } catch (...) {  // NOLINT(bugprone-empty-catch): documented in the header
    }
  }
}

std::vector<BlockedEntry> BlockedHistory::ordered_locked() const {
  std::vector<BlockedEntry> out;
  out.reserve(ring_.size());
  const auto head = static_cast<std::ptrdiff_t>(head_);
  out.insert(out.end(), ring_.begin() + head, ring_.end());
  out.insert(out.end(), ring_.begin(), ring_.begin() + head);
  return out;
}

std::vector<BlockedEntry> BlockedHistory::snapshot() const {
  std::lock_guard lock(mutex_);
  return ordered_locked();
}

std::vector<BlockedEntry> BlockedHistory::drain() {
  std::vector<BlockedEntry> taken;
  std::size_t head = 0;
  {
    std::lock_guard lock(mutex_);
    taken.swap(ring_);
    std::swap(head, head_);
  }
  // Reorder outside the lock: the ring is already empty for everyone else.
  std::rotate(taken.begin(), taken.begin() + static_cast<std::ptrdiff_t>(head), taken.end());
  return taken;
}

std::size_t BlockedHistory::size() const {
  std::lock_guard lock(mutex_);
  return ring_.size();
}

void BlockedHistory::set_observer(BlockedObserver observer) {
  auto next = observer ? std::make_shared<const BlockedObserver>(std::move(observer)) : nullptr;
  std::lock_guard lock(mutex_);
  observer_ = std::move(next);
}

namespace {

nlohmann::ordered_json entry_object(const BlockedEntry& e) {
  nlohmann::ordered_json j;
  j["host"] = e.host;
  j["reason"] = e.reason;
  j["client"] = e.client ? nlohmann::ordered_json(*e.client) : nlohmann::ordered_json(nullptr);
  j["method"] = e.method ? nlohmann::ordered_json(*e.method) : nlohmann::ordered_json(nullptr);
  j["mode"] = to_string(e.mode);
  j["protocol"] = to_string(e.protocol);
  j["decision"] = to_string(e.decision);
  j["source"] = to_string(e.source);
  j["port"] = e.port;
  j["timestamp"] = e.timestamp;
  if (e.label) j["label"] = *e.label;
  return j;
}

std::string dump(const nlohmann::ordered_json& j) {
  // A label comes from a client's proxy credentials and may hold any bytes; replace invalid
  // UTF-8 rather than throw.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

std::string to_json(const BlockedEntry& entry) { return dump(entry_object(entry)); }

std::string blocked_json(const std::vector<BlockedEntry>& entries) {
  auto list = nlohmann::ordered_json::array();
  for (const auto& e : entries) list.push_back(entry_object(e));
  nlohmann::ordered_json j;
  j["blocked"] = std::move(list);
  return dump(j);
}

}  // namespace netfence::observe
