// A hermetic, scriptable DNS server on loopback for tests (SPEC §6.6: tests never use the real
// resolver). It binds UDP and TCP on 127.0.0.1 with the same port number, serves on its own
// thread, answers A and AAAA questions from a script and records every query it receives.
//
// Script format (StubDnsServer::load_script, `stub_dns --script FILE`): one rule per line,
// `#` starts a comment, blank lines are ignored, keywords are case-insensitive, names are
// matched case-insensitively without a trailing dot. Rules for one name accumulate.
//
//   allowed.test  A      93.184.216.34 [more addresses...] [ttl=60]   answers A questions
//   allowed.test  AAAA   2606:4700::1  [more addresses...] [ttl=60]   answers AAAA questions
//   alias.test    CNAME  target.test   [ttl=60]     answer = CNAME record(s), then the target's
//                                                   addresses (chains are followed, max 8 hops)
//   bad.test      NXDOMAIN                          rcode 3
//   fail.test     SERVFAIL                          rcode 2
//   refused.test  REFUSED                           rcode 5
//   slow.test     TIMEOUT                           never answers (the query is still counted)
//   empty.test    EMPTY                             NOERROR with no answer (NODATA)
//   rebind.test   REBIND 93.184.216.34 127.0.0.1    first query of each type gets the first
//                                                   address, every later one the second, TTL 0
//   big.test      TRUNCATE                          UDP: TC bit and no answers; TCP: the full
//                                                   answer (combine with A/AAAA lines)
//   half.test     TIMEOUT AAAA                      NXDOMAIN, SERVFAIL, REFUSED, TIMEOUT and
//                                                   EMPTY may name one question type (A or
//                                                   AAAA) to apply only to it
//
// Only the question asked is answered: an A question never gets AAAA records (a name with only
// AAAA rules answers A questions with NOERROR and no records). Names without any rule get
// NXDOMAIN. Precedence for one name: TIMEOUT, then NXDOMAIN/SERVFAIL/REFUSED, EMPTY, TRUNCATE
// (UDP only), REBIND, CNAME, addresses. REBIND counts per (name, type), so a resolver that sends
// AAAA before A still sees "first answer, then the other" for each family.
//
// Malformed packets never crash the server: packets shorter than a header or with QR set are
// dropped; others with an unreadable question get a header-only FORMERR. Neither is counted as
// a query (see malformed_count()).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dns_wire.hpp"

namespace netfence::testing {

enum class DnsTransport : std::uint8_t { udp, tcp };

struct StubQuery {
  std::string name;  // lower case, no trailing dot
  std::uint16_t type = 0;
  DnsTransport transport = DnsTransport::udp;
};

/// "udp A example.test": the line format of `stub_dns --log`.
std::string format_query(const StubQuery& query);

class StubDnsServer {
 public:
  enum class Behaviour : std::uint8_t { answer, nxdomain, servfail, refused, timeout, empty };

  /// Binds 127.0.0.1:`port` (0 = any free port; same number for UDP and TCP) and starts
  /// serving. Throws std::runtime_error when the sockets cannot be set up.
  explicit StubDnsServer(std::uint16_t port = 0);
  ~StubDnsServer();
  StubDnsServer(const StubDnsServer&) = delete;
  StubDnsServer& operator=(const StubDnsServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  /// "127.0.0.1:<port>", ready for ResolverOptions::servers / dns_servers.
  std::string address() const;

  // Script edits; safe to call while serving. Invalid input throws std::invalid_argument.
  void add_address(std::string_view name, std::string_view ip, std::uint32_t ttl = 60);
  void add_cname(std::string_view name, std::string_view target, std::uint32_t ttl = 60);
  /// `type` 0 = every question type; kTypeA / kTypeAaaa = only that one (overrides type 0).
  void set_behaviour(std::string_view name, Behaviour behaviour, std::uint16_t type = 0);
  void set_rebind(std::string_view name, std::string_view first_ip, std::string_view later_ip);
  void set_truncate(std::string_view name, bool truncate = true);
  /// Adds the rules of a script (format above). Throws std::invalid_argument("line N: ...").
  void load_script(std::string_view text);

  std::size_t query_count() const;
  std::size_t query_count(std::string_view name) const;
  std::size_t query_count(std::string_view name, std::uint16_t type) const;
  std::vector<StubQuery> queries() const;
  /// Packets that were not a readable query (dropped or answered with FORMERR).
  std::size_t malformed_count() const;
  /// Called on the server thread for every query, after it is recorded (e.g. for a log file).
  void set_observer(std::function<void(const StubQuery&)> observer);

  /// Stops serving and joins the thread; idempotent (the destructor calls it).
  void stop();

 private:
  struct Address {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};
    std::uint32_t ttl = 60;
  };
  struct Rule {
    Behaviour behaviour = Behaviour::answer;
    std::map<std::uint16_t, Behaviour> typed_behaviour;
    std::vector<Address> addresses;
    std::string cname;
    std::uint32_t cname_ttl = 60;
    bool truncate = false;
    bool rebind = false;
    Address rebind_first, rebind_later;
  };
  struct Reply {
    bool send = false;
    std::vector<std::uint8_t> bytes;
  };
  struct TcpConnection;

  static Address parse_address(std::string_view ip, std::uint32_t ttl);
  Reply handle_packet(std::span<const std::uint8_t> packet, DnsTransport transport);
  void serve();
  void serve_udp();
  void accept_tcp(std::vector<TcpConnection>& connections);
  bool serve_tcp(TcpConnection& connection);

  std::uint16_t port_ = 0;
  int udp_fd_ = -1;
  int tcp_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop()
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  mutable std::mutex mutex_;  // guards everything below
  std::map<std::string, Rule, std::less<>> rules_;
  std::map<std::pair<std::string, std::uint16_t>, std::size_t> rebind_seen_;
  std::vector<StubQuery> queries_;
  std::size_t malformed_ = 0;
  std::function<void(const StubQuery&)> observer_;
};

}  // namespace netfence::testing
