#include "observe/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <mutex>
#include <type_traits>

namespace netfence::observe {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

constexpr std::size_t kOtherReason = Metrics::kReasons - 1;

static_assert(static_cast<std::size_t>(Protocol::unix_socket) + 1 == Metrics::kProtocols);
static_assert(static_cast<std::size_t>(Verdict::ask) + 1 == Metrics::kVerdicts);
static_assert(static_cast<std::size_t>(policy::Reason::policy_denied) + 2 == Metrics::kReasons);
static_assert(static_cast<std::size_t>(Listener::admin) + 1 == Metrics::kListeners);
static_assert(static_cast<std::size_t>(TunnelKind::socks5_udp) + 1 == Metrics::kTunnelKinds);
static_assert(static_cast<std::size_t>(Direction::target_to_client) + 1 == Metrics::kDirections);

// `le` label values, spelled once so no float formatting decides them.
constexpr std::array<std::string_view, LatencyHistogram::kBuckets> kLatencyLe = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",   "0.5",   "1",      "2.5",   "5",    "10",    "+Inf"};

// Upper limit of one observation's contribution to the sum (~31 years), so the nanosecond
// conversion cannot overflow.
constexpr double kMaxObservedSeconds = 1e9;

std::string_view reason_name(std::size_t index) noexcept {
  if (index == kOtherReason) return "other";
  return policy::to_string(static_cast<policy::Reason>(index));
}

template <class E>
std::size_t idx(E e) noexcept {
  return static_cast<std::size_t>(e);
}

// Appends Prometheus text; the format's rules live here and nowhere else.
class Writer {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  explicit Writer(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_escaped(help, /*quote=*/false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  template <class V>
  void sample(std::string_view name, Labels labels, V value) {
    out_ += name;
    if (labels.size() != 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [key, val] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += key;
        out_ += "=\"";
        append_escaped(val, /*quote=*/true);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    append_value(value);
    out_ += '\n';
  }

 private:
  // Label values escape backslash, double quote and newline; HELP text backslash and newline.
  void append_escaped(std::string_view s, bool quote) {
    for (char c : s) {
      if (c == '\\') {
        out_ += "\\\\";
      } else if (c == '\n') {
        out_ += "\\n";
      } else if (c == '"' && quote) {
        out_ += "\\\"";
      } else {
        out_ += c;
      }
    }
  }

  template <class V>
  void append_value(V value) {
    if constexpr (std::is_floating_point_v<V>) {
      if (std::isnan(value)) {
        out_ += "NaN";
        return;
      }
      if (std::isinf(value)) {
        out_ += value > 0 ? "+Inf" : "-Inf";
        return;
      }
    }
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    if (ec != std::errc{}) end = buf;  // cannot happen with 64 bytes
    // (pointer, length), not (first, last): g++ 12 warns falsely on the iterator form (-Wrestrict).
    out_.append(buf, static_cast<std::size_t>(end - buf));
  }

  std::string& out_;
};

void write_histogram(Writer& w, std::string_view name, std::string_view help,
                     const LatencyHistogram::Snapshot& s) {
  w.family(name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    w.sample(bucket, {{"le", kLatencyLe[i]}}, s.cumulative[i]);
  }
  w.sample(std::string(name) + "_sum", {}, s.sum);
  w.sample(std::string(name) + "_count", {}, s.count);
}

void write_labeled(Writer& w, std::string_view name, std::string_view label, std::string_view help,
                   const LabeledCounter& c) {
  w.family(name, "counter", help);
  for (const auto& [value, count] : c.values()) w.sample(name, {{label, value}}, count);
}

}  // namespace

std::string_view to_string(Listener l) noexcept {
  switch (l) {
    case Listener::http:
      return "http";
    case Listener::socks5:
      return "socks5";
    case Listener::admin:
      return "admin";
  }
  return "http";
}

std::string_view to_string(TunnelKind k) noexcept {
  switch (k) {
    case TunnelKind::connect:
      return "connect";
    case TunnelKind::websocket:
      return "websocket";
    case TunnelKind::mitm:
      return "mitm";
    case TunnelKind::socks5_tcp:
      return "socks5_tcp";
    case TunnelKind::socks5_udp:
      return "socks5_udp";
  }
  return "connect";
}

std::string_view to_string(Direction d) noexcept {
  return d == Direction::client_to_target ? "client_to_target" : "target_to_client";
}

// ---- LatencyHistogram ------------------------------------------------------------------------

void LatencyHistogram::add(std::size_t bucket, std::uint64_t nanos) noexcept {
  buckets_[bucket].fetch_add(1, kRelaxed);
  sum_ns_.fetch_add(nanos, kRelaxed);
}

void LatencyHistogram::observe(double seconds) noexcept {
  if (!(seconds >= 0.0)) seconds = 0.0;  // negative or NaN
  // First bound >= seconds: Prometheus buckets are `value <= le`.
  const auto it = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds);
  const auto bucket = static_cast<std::size_t>(it - kLatencyBuckets.begin());
  const double clamped = std::min(seconds, kMaxObservedSeconds);
  add(bucket, static_cast<std::uint64_t>(std::llround(clamped * 1e9)));
}

void LatencyHistogram::observe(std::chrono::nanoseconds d) noexcept {
  const std::int64_t ns = std::max<std::int64_t>(d.count(), 0);
  const double seconds = static_cast<double>(ns) / 1e9;
  const auto it = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds);
  add(static_cast<std::size_t>(it - kLatencyBuckets.begin()), static_cast<std::uint64_t>(ns));
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const noexcept {
  Snapshot s;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    running += buckets_[i].load(kRelaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = static_cast<double>(sum_ns_.load(kRelaxed)) / 1e9;
  return s;
}

// ---- LabeledCounter --------------------------------------------------------------------------

void LabeledCounter::add(std::string_view label, std::uint64_t n) noexcept {
  if (label.empty()) label = "other";
  {
    std::shared_lock lock(mutex_);
    if (auto it = counts_.find(label); it != counts_.end()) {
      it->second.fetch_add(n, kRelaxed);
      return;
    }
  }
  try {
    std::unique_lock lock(mutex_);
    auto it = counts_.find(label);
    if (it == counts_.end()) {
      if (counts_.size() >= kMaxLabels) label = "other";
      it = counts_.try_emplace(std::string(label)).first;
    }
    it->second.fetch_add(n, kRelaxed);
  } catch (...) {  // allocation failure: lose this count rather than the caller
  }
}

std::uint64_t LabeledCounter::value(std::string_view label) const noexcept {
  std::shared_lock lock(mutex_);
  auto it = counts_.find(label);
  return it == counts_.end() ? 0 : it->second.load(kRelaxed);
}

std::vector<std::pair<std::string, std::uint64_t>> LabeledCounter::values() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  std::shared_lock lock(mutex_);
  out.reserve(counts_.size());
  for (const auto& [label, count] : counts_) out.emplace_back(label, count.load(kRelaxed));
  return out;
}

// ---- Metrics ---------------------------------------------------------------------------------

std::size_t Metrics::reason_index(std::string_view reason) noexcept {
  const auto r = policy::parse_reason(reason);
  return r ? idx(*r) : kOtherReason;
}

std::size_t Metrics::decision_index(Protocol p, Verdict v, std::size_t reason) noexcept {
  return (idx(p) * kVerdicts + idx(v)) * kReasons + reason;
}

void Metrics::count_decision(Protocol p, Verdict v, std::string_view reason) noexcept {
  decisions_[decision_index(p, v, reason_index(reason))].fetch_add(1, kRelaxed);
}

void Metrics::count_decision(Protocol p, Verdict v, policy::Reason reason) noexcept {
  decisions_[decision_index(p, v, idx(reason))].fetch_add(1, kRelaxed);
}

void Metrics::connection_opened(Listener l) noexcept {
  connections_[idx(l)].fetch_add(1, kRelaxed);
}
void Metrics::connection_closed(Listener l) noexcept {
  connections_[idx(l)].fetch_sub(1, kRelaxed);
}
void Metrics::tunnel_opened(TunnelKind k) noexcept { tunnels_[idx(k)].fetch_add(1, kRelaxed); }
void Metrics::tunnel_closed(TunnelKind k) noexcept { tunnels_[idx(k)].fetch_sub(1, kRelaxed); }
void Metrics::add_bytes(Direction d, std::uint64_t n) noexcept {
  bytes_[idx(d)].fetch_add(n, kRelaxed);
}

std::uint64_t Metrics::decisions(Protocol p, Verdict v, std::string_view reason) const noexcept {
  return decisions_[decision_index(p, v, reason_index(reason))].load(kRelaxed);
}

std::int64_t Metrics::connections_active(Listener l) const noexcept {
  return connections_[idx(l)].load(kRelaxed);
}

std::int64_t Metrics::tunnels_active(TunnelKind k) const noexcept {
  return tunnels_[idx(k)].load(kRelaxed);
}

std::uint64_t Metrics::bytes_relayed(Direction d) const noexcept {
  return bytes_[idx(d)].load(kRelaxed);
}

std::string Metrics::render_prometheus(std::string_view version) const {
  std::string out;
  out.reserve(8192);
  Writer w(out);

  w.family("netfence_decisions_total", "counter",
           "Policy decisions by protocol, decision and reason (unknown reasons as other).");
  for (std::size_t p = 0; p < kProtocols; ++p) {
    for (std::size_t v = 0; v < kVerdicts; ++v) {
      for (std::size_t r = 0; r < kReasons; ++r) {
        const auto protocol = static_cast<Protocol>(p);
        const auto verdict = static_cast<Verdict>(v);
        const std::uint64_t n = decisions_[decision_index(protocol, verdict, r)].load(kRelaxed);
        if (n == 0) continue;
        w.sample("netfence_decisions_total",
                 {{"protocol", to_string(protocol)},
                  {"decision", to_string(verdict)},
                  {"reason", reason_name(r)}},
                 n);
      }
    }
  }

  w.family("netfence_connections_active", "gauge", "Client connections open, by listener.");
  for (std::size_t i = 0; i < kListeners; ++i) {
    w.sample("netfence_connections_active", {{"listener", to_string(static_cast<Listener>(i))}},
             connections_[i].load(kRelaxed));
  }

  w.family("netfence_tunnels_active", "gauge", "Tunnels relaying, by kind.");
  for (std::size_t i = 0; i < kTunnelKinds; ++i) {
    w.sample("netfence_tunnels_active", {{"kind", to_string(static_cast<TunnelKind>(i))}},
             tunnels_[i].load(kRelaxed));
  }

  w.family("netfence_bytes_relayed_total", "counter", "Bytes relayed, by direction.");
  for (std::size_t i = 0; i < kDirections; ++i) {
    w.sample("netfence_bytes_relayed_total", {{"direction", to_string(static_cast<Direction>(i))}},
             bytes_[i].load(kRelaxed));
  }

  write_histogram(w, "netfence_dns_lookup_seconds", "Duration of DNS lookups in seconds.",
                  dns_.snapshot());
  write_histogram(w, "netfence_connect_seconds",
                  "Duration of upstream connection establishment in seconds.", connect_.snapshot());

  write_labeled(w, "netfence_connections_rejected_total", "reason",
                "Client connections refused before a session started, by reason.", rejected_);

  w.family("netfence_blocked_total", "counter", "Refusals recorded in the blocked history.");
  w.sample("netfence_blocked_total", {}, blocked_.load(kRelaxed));

  w.family("netfence_audit_events_dropped_total", "counter",
           "Audit events dropped because the audit queue was full.");
  w.sample("netfence_audit_events_dropped_total", {}, audit_dropped_.load(kRelaxed));

  w.family("netfence_audit_export_failures_total", "counter",
           "Audit batches dropped after the OTLP export failed.");
  w.sample("netfence_audit_export_failures_total", {}, audit_export_failures_.load(kRelaxed));

  w.family("netfence_config_reloads_total", "counter", "Configuration reloads, by result.");
  w.sample("netfence_config_reloads_total", {{"result", "ok"}}, reloads_[0].load(kRelaxed));
  w.sample("netfence_config_reloads_total", {{"result", "error"}}, reloads_[1].load(kRelaxed));

  write_labeled(w, "netfence_udp_datagrams_dropped_total", "reason",
                "SOCKS5 UDP datagrams dropped, by reason.", udp_dropped_);

  w.family("netfence_build_info", "gauge", "Build information; the value is always 1.");
  w.sample("netfence_build_info", {{"version", version}}, 1);

  return out;
}

}  // namespace netfence::observe
