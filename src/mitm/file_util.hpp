// Crash-safe file placement for the CA store and the CA bundle (internal to src/mitm).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "netfence/result.hpp"

namespace netfence::mitm::detail {

/// "<strerror(errno)>" for the current errno.
std::string errno_text(int err);

/// Creates `dir` and any missing parents with mode exactly 0700 (whatever the umask). An
/// existing directory is left as it is. Error code "ca".
Result<void> make_private_dirs(const std::filesystem::path& dir);

/// fsync(2) of a directory, so renames and links in it are durable.
Result<void> fsync_dir(const std::filesystem::path& dir);

/// Writes `data` to a temporary file in `target`'s directory (O_EXCL, mode set with fchmod so
/// the umask does not matter), fsyncs it and links it to `target` without overwriting: link(2),
/// or renameat2(RENAME_NOREPLACE) where hard links are unsupported. The temporary name never
/// survives. Returns true when placed, false when `target` already existed (nothing changed).
/// Does not fsync the directory.
Result<bool> place_exclusive(const std::filesystem::path& target, std::string_view data,
                             mode_t mode);

/// Writes `data` to a temporary file beside `target`, fsyncs it and renames it over `target`,
/// then fsyncs the directory. Readers see the old or the new content, never a mix.
Result<void> replace_atomic(const std::filesystem::path& target, std::string_view data,
                            mode_t mode);

}  // namespace netfence::mitm::detail
