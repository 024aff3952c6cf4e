// Name resolution behind one interface (SPEC §6.6). Every front end resolves through it, at most
// once per evaluation; tests inject fakes or point the real one at a stub server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ip_address.hpp"
#include "netfence/result.hpp"

namespace netfence::dns {

enum class ResolveError : std::uint8_t {
  none,
  nxdomain,
  servfail,
  refused,
  timeout,
  no_data,
  other
};

struct ResolveResult {
  /// Addresses in answer order, IPv6 and IPv4 interleaved (RFC 8305), empty on failure.
  std::vector<core::IpAddress> addresses;
  ResolveError error = ResolveError::none;
  bool ok() const noexcept { return error == ResolveError::none && !addresses.empty(); }
};

std::string_view to_string(ResolveError e) noexcept;

using ResolveCallback = std::function<void(ResolveResult)>;

class Resolver {
 public:
  virtual ~Resolver() = default;
  /// Resolves a canonical name (never an IP literal). Never blocks; `done` is called exactly
  /// once, from any thread (possibly before resolve() returns), within about `timeout`.
  virtual void resolve(std::string name, std::chrono::milliseconds timeout,
                       ResolveCallback done) = 0;
};

struct ResolverOptions {
  /// "ip:port" / "[v6]:port" / "ip" (port 53); empty = system configuration (/etc/resolv.conf).
  std::vector<std::string> servers;
  /// Static answers consulted first (config dns_hosts): canonical name -> addresses.
  std::vector<std::pair<std::string, std::vector<core::IpAddress>>> static_hosts;
  /// Consulted after static_hosts, only when `servers` is empty (SPEC §6.6).
  std::string hosts_file = "/etc/hosts";
  /// Bound on requests accepted but not yet answered (every queue in netfence is bounded);
  /// beyond it resolve() fails at once with ResolveError::other.
  std::size_t max_outstanding = 4096;
};

/// The default implementation: static hosts, then the hosts file, then A and AAAA queries in
/// parallel through c-ares (UDP with TCP fallback) on its own thread.
/// Destroying it answers every outstanding request (ResolveError::other) and joins the thread, so
/// it must not be destroyed from inside one of its own callbacks. Fails with code "config" for an
/// unparsable server address.
Result<std::unique_ptr<Resolver>> make_cares_resolver(const ResolverOptions& options);

/// Blocking helper for the CLI and tests: resolves and waits for the answer.
ResolveResult resolve_blocking(Resolver& resolver, std::string name,
                               std::chrono::milliseconds timeout);

}  // namespace netfence::dns
