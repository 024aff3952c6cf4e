// The metrics registry behind `GET /metrics` (SPEC §13): every `netfence_` family, updated from
// the I/O threads and rendered in the Prometheus text exposition format 0.0.4.
//
// Cost model. Every family with a fixed label set (decisions, connections, tunnels, bytes,
// histograms, reloads and the unlabelled counters) is a fixed array of std::atomic updated with
// relaxed ordering: no lock, no allocation, no branch on a string beyond mapping a reason name
// to its enum. The two free-form families (`connections_rejected_total{reason}`,
// `udp_datagrams_dropped_total{reason}`) use a LabeledCounter: a shared-locked map lookup with
// string_view (no allocation) and an atomic increment; only the first use of a new label takes
// the exclusive lock and allocates. Those reasons must be fixed strings chosen by our code, never
// peer input; past kMaxLabels distinct values they are counted as "other".
//
// Rendering reads each atomic once, so a scrape running beside updates sees every series at
// some recent value; within a histogram `_count` and `+Inf` are derived from the same bucket
// reads and always agree.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netfence/types.hpp"
#include "policy/reasons.hpp"

namespace netfence::observe {

/// `connections_active{listener}`.
enum class Listener : std::uint8_t { http, socks5, admin };
/// `tunnels_active{kind}`; the runtime maps its own runtime::TunnelKind onto this.
enum class TunnelKind : std::uint8_t { connect, websocket, mitm, socks5_tcp, socks5_udp };
/// `bytes_relayed_total{direction}`.
enum class Direction : std::uint8_t { client_to_target, target_to_client };

std::string_view to_string(Listener l) noexcept;
std::string_view to_string(TunnelKind k) noexcept;
std::string_view to_string(Direction d) noexcept;

/// The `content-type` of a `GET /metrics` answer (SPEC §13).
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the latency histograms, 0.5 ms to 10 s (SPEC §13); an implicit
/// `+Inf` bucket follows.
inline constexpr std::array<double, 14> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/// A fixed-bucket latency histogram; observe() is lock-free and allocation-free.
class LatencyHistogram {
 public:
  static constexpr std::size_t kBuckets = kLatencyBuckets.size() + 1;  // + the +Inf bucket

  struct Snapshot {
    std::array<std::uint64_t, kBuckets> cumulative{};  // `_bucket` values; last is +Inf
    std::uint64_t count = 0;                           // == cumulative.back()
    double sum = 0;                                    // seconds
  };

  /// Negative and NaN durations count as 0; the sum saturates near 10^9 s per observation.
  void observe(double seconds) noexcept;
  void observe(std::chrono::nanoseconds d) noexcept;
  Snapshot snapshot() const noexcept;

 private:
  void add(std::size_t bucket, std::uint64_t nanos) noexcept;

  std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};  // per bucket, not cumulative
  std::atomic<std::uint64_t> sum_ns_{0};  // integer nanoseconds: one fetch_add, no CAS loop
};

/// A counter family keyed by one free-form label (see the cost model above).
class LabeledCounter {
 public:
  static constexpr std::size_t kMaxLabels = 32;

  /// Adds `n` to the series `label`; an empty label, or a new one once kMaxLabels are in use,
  /// counts under "other".
  void add(std::string_view label, std::uint64_t n = 1) noexcept;
  std::uint64_t value(std::string_view label) const noexcept;
  /// Every series, sorted by label.
  std::vector<std::pair<std::string, std::uint64_t>> values() const;

 private:
  mutable std::shared_mutex mutex_;  // guards the map's shape; counts are atomics
  std::map<std::string, std::atomic<std::uint64_t>, std::less<>> counts_;
};

/// Every SPEC §13 metric. All member functions are thread-safe; the update functions are
/// noexcept and meant for the I/O threads.
class Metrics {
 public:
  static constexpr std::size_t kProtocols = 6;  // netfence::Protocol
  static constexpr std::size_t kVerdicts = 3;   // netfence::Verdict
  static constexpr std::size_t kReasons = 12;   // policy::Reason + "other"
  static constexpr std::size_t kListeners = 3;
  static constexpr std::size_t kTunnelKinds = 5;
  static constexpr std::size_t kDirections = 2;

  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// `decisions_total{protocol,decision,reason}`. A reason that is not a §6.4 reason name (nor
  /// "allow"), e.g. a decider's own text, is counted as "other".
  void count_decision(Protocol p, Verdict v, std::string_view reason) noexcept;
  void count_decision(Protocol p, Verdict v, policy::Reason reason) noexcept;

  /// `connections_active{listener}`: call closed() exactly once per opened().
  void connection_opened(Listener l) noexcept;
  void connection_closed(Listener l) noexcept;

  /// `tunnels_active{kind}`: call closed() exactly once per opened().
  void tunnel_opened(TunnelKind k) noexcept;
  void tunnel_closed(TunnelKind k) noexcept;

  /// `bytes_relayed_total{direction}`.
  void add_bytes(Direction d, std::uint64_t n) noexcept;

  /// `dns_lookup_seconds` and `connect_seconds`.
  void observe_dns(double seconds) noexcept { dns_.observe(seconds); }
  void observe_dns(std::chrono::nanoseconds d) noexcept { dns_.observe(d); }
  void observe_connect(double seconds) noexcept { connect_.observe(seconds); }
  void observe_connect(std::chrono::nanoseconds d) noexcept { connect_.observe(d); }

  /// `connections_rejected_total{reason}`, e.g. "max_connections" (a fixed string; see above).
  void count_rejected(std::string_view reason) noexcept { rejected_.add(reason); }
  /// `blocked_total`: one per entry recorded in the blocked history.
  void count_blocked() noexcept { blocked_.fetch_add(1, std::memory_order_relaxed); }
  /// `audit_events_dropped_total`.
  void count_audit_dropped(std::uint64_t n = 1) noexcept {
    audit_dropped_.fetch_add(n, std::memory_order_relaxed);
  }
  /// `audit_export_failures_total`: one per OTLP batch given up on.
  void count_audit_export_failure() noexcept {
    audit_export_failures_.fetch_add(1, std::memory_order_relaxed);
  }
  /// `config_reloads_total{result="ok|error"}`.
  void count_reload(bool ok) noexcept {
    reloads_[ok ? 0 : 1].fetch_add(1, std::memory_order_relaxed);
  }
  /// `udp_datagrams_dropped_total{reason}` (a fixed string; see above).
  void count_udp_dropped(std::string_view reason) noexcept { udp_dropped_.add(reason); }

  // Readers, for tests and diagnostics.
  std::uint64_t decisions(Protocol p, Verdict v, std::string_view reason) const noexcept;
  std::int64_t connections_active(Listener l) const noexcept;
  std::int64_t tunnels_active(TunnelKind k) const noexcept;
  std::uint64_t bytes_relayed(Direction d) const noexcept;
  std::uint64_t rejected(std::string_view reason) const noexcept { return rejected_.value(reason); }
  std::uint64_t udp_dropped(std::string_view reason) const noexcept {
    return udp_dropped_.value(reason);
  }
  std::uint64_t blocked() const noexcept { return blocked_.load(std::memory_order_relaxed); }
  std::uint64_t reloads(bool ok) const noexcept {
    return reloads_[ok ? 0 : 1].load(std::memory_order_relaxed);
  }
  LatencyHistogram::Snapshot dns_lookups() const noexcept { return dns_.snapshot(); }
  LatencyHistogram::Snapshot connects() const noexcept { return connect_.snapshot(); }

  /// The whole registry in Prometheus text format 0.0.4: `# HELP` and `# TYPE` before each
  /// family, label values escaped. Pre-populated (zero series shown from the start): every
  /// listener, tunnel kind, direction and reload result, both histograms and the unlabelled
  /// counters. decisions_total and the free-form families show only series that have counted.
  /// `version` becomes `build_info{version}`.
  std::string render_prometheus(std::string_view version) const;

 private:
  static std::size_t decision_index(Protocol p, Verdict v, std::size_t reason) noexcept;
  static std::size_t reason_index(std::string_view reason) noexcept;

  std::array<std::atomic<std::uint64_t>, kProtocols * kVerdicts * kReasons> decisions_{};
  std::array<std::atomic<std::int64_t>, kListeners> connections_{};
  std::array<std::atomic<std::int64_t>, kTunnelKinds> tunnels_{};
  std::array<std::atomic<std::uint64_t>, kDirections> bytes_{};
  LatencyHistogram dns_;
  LatencyHistogram connect_;
  LabeledCounter rejected_;
  std::atomic<std::uint64_t> blocked_{0};
  std::atomic<std::uint64_t> audit_dropped_{0};
  std::atomic<std::uint64_t> audit_export_failures_{0};
  std::array<std::atomic<std::uint64_t>, 2> reloads_{};  // [0] ok, [1] error
  LabeledCounter udp_dropped_;
};

}  // namespace netfence::observe
