// Drives the pure policy engine to a final decision for a front end: answers its `Need`s
// (resolution through the Resolver, off the I/O thread) and logs the outcome (SPEC §2 lines).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "net/dialer.hpp"
#include "net/relay.hpp"
#include "policy/evaluate.hpp"
#include "runtime/runtime.hpp"
#include "upstream/upstream_proxy.hpp"

namespace netfence::runtime {

/// Who asked, for the log line (and later the audit event).
struct Requester {
  std::string client;  // "ip:port" or "" when unknown
  std::string label;   // attribution label (SOCKS5 user name), "" when none
};

/// Evaluates `facts` against `snapshot` until a decision is reached. Resolves the name at most
/// once. Logs INFO `blocked …` for refusals and DEBUG `allowed …` otherwise.
boost::asio::awaitable<policy::Decision> decide(Runtime& rt, const policy::Snapshot& snapshot,
                                                policy::RequestFacts facts, const Requester& who);

/// Records one decision: its audit events (§15.3), the §2 log line, the decision metrics and,
/// for refusals, a blocked history entry (§14). Exposed for front ends that decide without
/// decide().
void log_decision(Runtime& rt, const policy::Decision& d, const policy::RequestFacts& facts,
                  const Requester& who, Mode mode, const AuditMetadata* metadata);

/// net::dial with the connect latency recorded (netfence_connect_seconds).
boost::asio::awaitable<net::DialResult> dial(Runtime& rt,
                                             std::span<const core::IpAddress> addresses,
                                             std::uint16_t port, std::chrono::milliseconds budget);

/// SPEC §12: connects to the upstream proxy itself. Its address is operator configuration, so it
/// is resolved (when a name) but exempt from local/private protection.
boost::asio::awaitable<net::DialResult> dial_upstream_proxy(Runtime& rt,
                                                            const upstream::ProxyEndpoint& proxy,
                                                            std::chrono::milliseconds budget);

/// SPEC §12: a `CONNECT host:port` tunnel through the upstream proxy (Proxy-Authorization from
/// its userinfo), all within `budget`. Any answer but 2xx is a failure (502); bytes the proxy
/// passed on after its answer are kept in `early_data`.
boost::asio::awaitable<net::DialResult> dial_through_upstream(Runtime& rt,
                                                              const upstream::ProxyEndpoint& proxy,
                                                              const core::CanonicalHost& host,
                                                              std::uint16_t port,
                                                              std::chrono::milliseconds budget);

/// Adds a finished relay's byte counts to netfence_bytes_relayed_total (a = client side).
void count_relayed(Runtime& rt, const net::RelayStats& stats);

/// Relays an established tunnel (CONNECT, SOCKS5 CONNECT, plain websocket upgrade) between two
/// sockets of the caller's I/O thread and returns at once (net::start_relay): registered so a
/// mode switch or shutdown stops it, counted by count_relayed when it ends, and keeping `life`
/// (the client connection's registration and max_connections slot) alive until then.
void start_tunnel(Runtime& rt, TunnelKind kind, boost::asio::ip::tcp::socket client,
                  boost::asio::ip::tcp::socket upstream, std::string to_upstream,
                  std::string to_client, std::chrono::seconds idle_timeout,
                  std::shared_ptr<void> life);

}  // namespace netfence::runtime
