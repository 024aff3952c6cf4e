// Reload on file change (SPEC §3.6): inotify on the config file's directory, so editors that
// save by writing a temporary file and renaming it over the original are seen too; events are
// debounced by 250 ms so one save triggers one reload.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <functional>

#include "log/log.hpp"

namespace netfence::proxy {

/// Watches `file` until the io_context stops (or `stop` is set) and calls `changed` (on the
/// io_context's thread) once per burst of changes. Logs a warning and returns if inotify is not
/// available; SIGHUP and POST /reload still work then.
boost::asio::awaitable<void> watch_config_file(std::filesystem::path file, log::Logger& log,
                                               std::function<void()> changed,
                                               const std::atomic<bool>& stop);

}  // namespace netfence::proxy
