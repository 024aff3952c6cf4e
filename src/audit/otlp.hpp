// The OTLP/HTTP logs exporter (SPEC §15.4): JSON encoding of batches and a sink that posts them
// to `<otlp_endpoint>/v1/logs` with batching by size and time and retries with backoff.
#pragma once

#include <cstdint>
#include <memory>
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

}  // namespace netfence::audit
