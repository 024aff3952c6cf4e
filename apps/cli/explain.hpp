// `netfence explain` (SPEC §17): runs the decision pipeline for one target without connecting
// and without a decider, and reports what the proxy would do.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "netfence/config.hpp"

namespace netfence::cli {

struct ExplainRequest {
  std::string target;  // HOST[:PORT]
  std::string protocol = "http";
  std::optional<std::string> method;
  bool no_dns = false;
};

struct ExplainReport {
  std::string decision, reason, source;
  std::optional<std::string> x_proxy_error, message;  // absent when allowed
  std::string host;
  std::uint16_t port = 0;
  std::optional<std::vector<std::string>> addresses;  // absent = resolution skipped
  bool intercept = false;                             // limited-mode CONNECT with mitm
};

/// Error (code "usage") for an invalid target, protocol or method; otherwise the report.
Result<ExplainReport> explain(const Config& cfg, const ExplainRequest& req);

std::string format_text(const ExplainReport& r);
std::string format_json(const ExplainReport& r);

}  // namespace netfence::cli
