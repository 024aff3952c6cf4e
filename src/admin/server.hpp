// The admin API's socket side (SPEC §13): HTTP/1.1 connections with the §13 limits (head and
// body 8 KiB, 10 s per request, 64 connections), each request handed to admin/api on the control
// executor so nothing blocking runs on an I/O thread.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <optional>
#include <string>

#include "admin/api.hpp"
#include "log/log.hpp"

namespace netfence::admin {

struct AdminContext {
  AdminBackend& backend;
  /// Runs every request handler (reload reads files and compiles).
  boost::asio::any_io_executor control;
  /// The current admin_token (it may change on reload).
  std::function<std::optional<std::string>()> token;
  std::optional<core::IpAddress> listener_ip;
  log::Logger& log;
  std::atomic<int> connections{0};
};

inline constexpr int kMaxAdminConnections = 64;

boost::asio::awaitable<void> serve_admin_connection(boost::asio::ip::tcp::socket socket,
                                                    AdminContext& ctx);

}  // namespace netfence::admin
