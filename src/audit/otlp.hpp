// The OTLP/HTTP logs exporter (SPEC §15.4): JSON encoding of batches and a sink that posts them
// to `<otlp_endpoint>/v1/logs` with batching by size and time and retries with backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/event.hpp"
#include "audit/pipeline.hpp"
#include "log/log.hpp"
#include "netfence/config.hpp"
#include "netfence/result.hpp"
#include "observe/metrics.hpp"

namespace netfence::audit {

/// One ExportLogsServiceRequest in OTLP/JSON for `events` (resource service.name "netfence" and
/// service.version, scope kScopeName, one logRecord per event with every §15.2 field as an
/// attribute; integers as string intValue). `observed_nanos` is observedTimeUnixNano.
std::string encode_otlp(const std::vector<AuditEvent>& events, std::string_view service_version,
                        std::int64_t observed_nanos);

/// A sink exporting to `audit.otlp_endpoint` from its own worker thread, so a slow collector
/// never delays the other sinks. Errors only for an unusable endpoint URL.
Result<std::shared_ptr<AuditSink>> make_otlp_sink(const AuditConfig& audit,
                                                  observe::Metrics& metrics, log::Logger& log);

/// Knobs of the exporter's delivery. The defaults are the SPEC §15.4 values and are what
/// make_otlp_sink(audit, metrics, log) uses; tests shrink the delays.
struct OtlpOptions {
  OtlpOptions() {}  // user-provided: not an aggregate (docs/pitfalls.md 1)
  /// Delay after the first failed attempt; doubled after each further one, up to backoff_max.
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_max{30000};
  /// A `Retry-After: <seconds>` answer replaces the backoff delay, capped at this.
  std::chrono::milliseconds retry_after_max{30000};
  /// Budget of one attempt: resolve + connect + TLS handshake + send + receive.
  std::chrono::milliseconds request_timeout{5000};
  /// Attempts per batch before it is dropped and counted as an export failure.
  unsigned max_attempts = 5;
  /// resource attribute service.version; empty = netfence::version().
  std::string service_version;
};

Result<std::shared_ptr<AuditSink>> make_otlp_sink(const AuditConfig& audit,
                                                  observe::Metrics& metrics, log::Logger& log,
                                                  const OtlpOptions& options);

/// Where batches go, from `otlp_endpoint`.
struct OtlpEndpoint {
  bool tls = false;         // https
  std::string host;         // without IPv6 brackets
  std::uint16_t port = 0;   // explicit, or 80 / 443
  std::string target;       // the endpoint's path without trailing slashes + "/v1/logs"
  std::string host_header;  // Host: as written in the URL (brackets kept; port when given)
  std::string display;      // scheme://host[:port]<target>, for logs (never credentials)
};

/// Parses `http[s]://host[:port][/prefix][/]`. Refused: other schemes, an empty host, user
/// info (credentials belong in otlp_headers), a query or fragment, a bad port, spaces and
/// control characters. Errors have code "audit" and never repeat user info.
Result<OtlpEndpoint> parse_otlp_endpoint(std::string_view url);

/// `Retry-After` as delta-seconds ("120"); nullopt for an HTTP-date or anything unparsable.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value);

/// The wait after failed attempt `attempt` (1-based): base, 2·base, 4·base, … capped at `max`.
std::chrono::milliseconds otlp_backoff(unsigned attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds max);

}  // namespace netfence::audit
