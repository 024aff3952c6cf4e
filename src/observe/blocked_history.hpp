// The blocked history (SPEC §14): an in-memory ring of the last refusals, shared by every front
// end and kept across reloads, served by `GET /blocked` and the library's blocked_snapshot() /
// drain_blocked().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "netfence/blocked.hpp"
#include "netfence/types.hpp"

namespace netfence::observe {

/// One refusal, with the §14 fields in §14 order.
/// The public entry type (netfence/blocked.hpp) under the name this module always used.
using BlockedEntry = ::netfence::BlockedRequest;

/// Called with each entry after it has been recorded.
using BlockedObserver = std::function<void(const BlockedEntry&)>;

/// A thread-safe ring of the last `capacity` entries, oldest first.
///
/// Every member function may be called from any thread. One mutex guards the ring; it is held
/// only to move an entry in or the ring out, never while the observer runs, so `record()` costs
/// a lock and a move (plus one copy of the entry while an observer is installed).
class BlockedHistory {
 public:
  static constexpr std::size_t kDefaultCapacity = 200;  // SPEC §14

  /// A capacity of 0 keeps nothing (the observer is still called).
  explicit BlockedHistory(std::size_t capacity = kDefaultCapacity);

  BlockedHistory(const BlockedHistory&) = delete;
  BlockedHistory& operator=(const BlockedHistory&) = delete;

  /// Appends `entry`, evicting the oldest one when the ring is full, then calls the observer
  /// (if any) with the recorded entry.
  ///
  /// Threading: the observer runs synchronously on the thread that calls record(), after the
  /// lock is released, so it may call back into this object. SPEC §14 wants library observers
  /// called on the audit thread: the caller either records from the audit thread or installs an
  /// observer that queues there. Observers racing on several threads may see entries in a
  /// different order than the ring holds them. An exception thrown by the observer is caught
  /// and discarded: a faulty user callback must not break the session that recorded.
  void record(BlockedEntry entry);

  /// The entries, oldest first.
  std::vector<BlockedEntry> snapshot() const;

  /// The entries, oldest first, and empties the ring in the same critical section: an entry is
  /// returned by exactly one drain() however records and drains interleave.
  std::vector<BlockedEntry> drain();

  std::size_t size() const;
  std::size_t capacity() const noexcept { return capacity_; }

  /// Installs (or, with an empty function, removes) the observer. Calls already in progress
  /// finish with the observer they started with.
  void set_observer(BlockedObserver observer);

 private:
  std::vector<BlockedEntry> ordered_locked() const;

  const std::size_t capacity_;
  mutable std::mutex mutex_;        // guards the members below
  std::vector<BlockedEntry> ring_;  // grows to capacity_, then wraps
  std::size_t head_ = 0;            // index of the oldest entry once ring_ is full
  std::shared_ptr<const BlockedObserver> observer_;
};

/// One entry as §14 JSON: keys `host, reason, client, method, mode, protocol, decision, source,
/// port, timestamp, label` in that order; `client` and `method` are null when unknown, `label`
/// is omitted when absent. Bytes that are not valid UTF-8 become U+FFFD (never an exception).
std::string to_json(const BlockedEntry& entry);

/// `{"blocked":[…]}` with the entries in the given order (the `GET /blocked` body).
std::string blocked_json(const std::vector<BlockedEntry>& entries);

}  // namespace netfence::observe
