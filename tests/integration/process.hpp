// Runs a program to completion with captured stdout/stderr and a bounded wait, for tests that
// drive the real netfence binary.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace netfence::testing {

struct ProcessResult {
  int exit_code = -1;  // -1: killed (timeout or signal)
  std::string out, err;
};

/// Runs `argv` with `env` added to (or overriding) the current environment. Kills the process
/// after `timeout`.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::pair<std::string, std::string>>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace netfence::testing
