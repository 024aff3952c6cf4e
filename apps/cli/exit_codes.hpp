// Process exit codes of the CLI (SPEC §17).
#pragma once

namespace netfence::cli {

inline constexpr int kExitOk = 0;       // success, or `explain` allow
inline constexpr int kExitRuntime = 1;  // runtime failure: bind, CA, I/O
inline constexpr int kExitUsage = 2;    // usage or config error
inline constexpr int kExitDenied = 3;   // `explain` deny/ask

}  // namespace netfence::cli
