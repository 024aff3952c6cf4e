// The server side of TLS interception (SPEC §10.2–§10.4): the CA loaded (or created) whenever
// the configuration says `mitm = true`, leaf certificates from mitm::LeafMinter, and one server
// TLS context per intercepted host. Blocking (file I/O, signing): never call it on an I/O thread.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/host.hpp"
#include "mitm/leaf.hpp"
#include "netfence/config.hpp"
#include "netfence/result.hpp"

namespace netfence::proxy {

class MitmProvider {
 public:
  /// `proxy_dir` is `<home>/proxy` (SPEC §3.1, §10.3).
  explicit MitmProvider(std::filesystem::path proxy_dir);

  /// At start and at each reload: with `mitm = true` loads the CA from disk (creating it when
  /// absent) so a replaced CA takes effect; an error (§10.3 texts) must fail the start or the
  /// reload. With `mitm = false` nothing is touched.
  Result<void> configure(const Config& cfg);

  /// A server context for `host`: its leaf certificate and the shared key, TLS 1.2+, ALPN
  /// http/1.1. Null when interception was never configured or signing failed (logged by the
  /// caller). Thread-safe; mints on a cache miss (about 1 ms).
  std::shared_ptr<boost::asio::ssl::context> server_context(const core::CanonicalHost& host);

 private:
  struct Cached {
    std::shared_ptr<const mitm::LeafCertificate> leaf;
    std::shared_ptr<boost::asio::ssl::context> ctx;
  };

  const std::filesystem::path dir_;
  std::mutex mutex_;  // guards the members below
  std::shared_ptr<mitm::LeafMinter> minter_;
  // Contexts follow the minter's leaves: one is rebuilt when its leaf was re-minted. Bounded
  // like the leaf cache (SPEC §10.4: 1024), dropping the least recently used.
  std::list<std::string> order_;  // most recently used first
  std::unordered_map<std::string, std::pair<Cached, std::list<std::string>::iterator>> contexts_;
};

}  // namespace netfence::proxy
