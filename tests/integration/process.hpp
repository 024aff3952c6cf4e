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

/// The current environment with `set` added or overriding and the names in `unset` removed, as
/// `NAME=value` strings. Built before fork(): a child of a multithreaded process may make only
/// async-signal-safe calls before exec (a malloc or setenv there can deadlock on a lock another
/// thread held at fork time; seen under ASan), so the child just passes this to execve.
std::vector<std::string> environment_with(
    const std::vector<std::pair<std::string, std::string>>& set,
    const std::vector<std::string>& unset = {});
/// Null-terminated pointers into `env` for execve.
std::vector<char*> envp_of(std::vector<std::string>& env);

/// Runs `argv` with `env` added to (or overriding) the current environment. Kills the process
/// after `timeout`.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::pair<std::string, std::string>>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace netfence::testing
