#include "audit/otlp.hpp"

// Placeholder until the exporter lands: encoding and export are not available yet.
namespace netfence::audit {

std::string encode_otlp(const std::vector<AuditEvent>&, std::string_view, std::int64_t) {
  return {};
}

Result<std::shared_ptr<AuditSink>> make_otlp_sink(const AuditConfig&, observe::Metrics&,
                                                  log::Logger& log) {
  log.warn("network.audit.otlp_endpoint is set but the OTLP exporter is not available yet");
  return std::shared_ptr<AuditSink>();
}

}  // namespace netfence::audit
