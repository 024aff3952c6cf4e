// Leaf certificates for intercepted hosts (SPEC §10.4): one in-memory ECDSA P-256 key per
// process, one certificate per canonical host, signed by the MITM CA and kept in a bounded LRU.
//
// Cost: a cache miss mints and signs a certificate, about 0.25–1 ms of CPU (more under
// sanitizers). Callers MUST NOT call get()/mint() on an I/O thread: post the call to a worker
// pool and resume the TLS handshake with the result (e.g. from an SSL_CTX cert callback that
// suspends). Cache hits are cheap but still take a mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/host.hpp"
#include "mitm/ca_store.hpp"
#include "mitm/openssl_ptr.hpp"
#include "netfence/result.hpp"

namespace netfence::mitm {

/// One minted leaf: the certificate, the shared leaf key and the CA that signed it (kept alive
/// as long as the leaf is). Immutable; safe to share between threads and TLS sessions.
struct LeafCertificate {
  X509Ptr cert;
  PkeyPtr key;
  std::shared_ptr<const CaMaterial> ca;
  std::string host;  ///< the canonical host it was minted for (the cache key)
  std::chrono::system_clock::time_point not_before, not_after;

  /// For SSL_use_certificate / SSL_CTX_use_certificate (they take their own reference).
  X509* x509() const noexcept { return cert.get(); }
  /// For SSL_use_PrivateKey / SSL_CTX_use_PrivateKey (they take their own reference).
  EVP_PKEY* pkey() const noexcept { return key.get(); }
};

struct LeafMinterOptions {
  /// Maximum cached leaves (SPEC §10.4: 1024); the least recently used one is dropped first.
  std::size_t cache_capacity = 1024;
  /// Wall clock for validity periods and expiry checks; system_clock::now when empty (tests
  /// inject one).
  std::function<std::chrono::system_clock::time_point()> clock{};
};

/// Mints and caches leaf certificates. Thread-safe: every member may be called concurrently.
class LeafMinter {
 public:
  struct Stats {
    std::uint64_t hits = 0;       ///< get() answered from the cache
    std::uint64_t mints = 0;      ///< certificates signed (cache misses and refreshes)
    std::uint64_t evictions = 0;  ///< entries dropped because the cache was full
  };

  /// Generates the process's leaf key (ECDSA P-256, never written anywhere). Error code "ca"
  /// when OpenSSL fails, or when `ca` is null.
  static Result<std::unique_ptr<LeafMinter>> create(std::shared_ptr<const CaMaterial> ca,
                                                    LeafMinterOptions options = {});

  LeafMinter(const LeafMinter&) = delete;
  LeafMinter& operator=(const LeafMinter&) = delete;
  ~LeafMinter();

  /// Switches to another CA (reload). Cached leaves of a CA with a different fingerprint are
  /// re-minted on their next get(); leaves already handed out stay valid for their holders.
  void set_ca(std::shared_ptr<const CaMaterial> ca);
  std::shared_ptr<const CaMaterial> ca() const;

  /// The shared leaf key.
  EVP_PKEY* leaf_key() const noexcept { return key_.get(); }

  /// The cached leaf for `host` (canonical text, SPEC §4: A-label name, dotted IPv4 or RFC 5952
  /// IPv6, optionally with "%zone"), minting one when there is none, when the cached one has
  /// less than one day of validity left, or when it was signed by another CA. Error code
  /// "invalid_host" for text that is not a host of the kind `is_ip` says, "ca" when signing fails.
  Result<std::shared_ptr<const LeafCertificate>> get(std::string_view host, bool is_ip);
  Result<std::shared_ptr<const LeafCertificate>> get(const core::CanonicalHost& host) {
    return get(host.text, host.is_ip());
  }

  /// Mints a fresh leaf without touching the cache. Fields (SPEC §10.4): random positive
  /// 128-bit serial; subject `CN=<host>` when the host is at most 64 octets, else an empty
  /// subject and a critical SAN; issuer = the CA's subject; notBefore = now − 1 day; notAfter =
  /// min(now + 90 days, CA notAfter); SAN dNSName, or iPAddress for IP literals (zone dropped);
  /// basicConstraints CA:FALSE; keyUsage critical digitalSignature; extendedKeyUsage
  /// serverAuth; SubjectKeyIdentifier; AuthorityKeyIdentifier = the CA's key id; SHA-256
  /// signature (ecdsa-with-SHA256 with an EC CA).
  Result<std::shared_ptr<const LeafCertificate>> mint(std::string_view host, bool is_ip) const;

  std::size_t cache_size() const;
  std::size_t cache_capacity() const noexcept { return capacity_; }
  Stats stats() const;

 private:
  struct Entry {
    std::string host;
    std::shared_ptr<const LeafCertificate> leaf;
  };

  LeafMinter(PkeyPtr key, std::vector<unsigned char> key_id, std::shared_ptr<const CaMaterial> ca,
             LeafMinterOptions options);
  std::chrono::system_clock::time_point now() const;
  bool usable(const LeafCertificate& leaf, const CaMaterial& ca,
              std::chrono::system_clock::time_point at) const;

  const PkeyPtr key_;
  const std::vector<unsigned char> key_id_;  // SKI of every leaf (they share the key)
  const std::size_t capacity_;
  const std::function<std::chrono::system_clock::time_point()> clock_;

  mutable std::mutex mutex_;
  std::shared_ptr<const CaMaterial> ca_;  // guarded by mutex_
  std::list<Entry> lru_;                  // most recently used first; guarded
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // keys view lru_
  Stats stats_;                                                             // guarded
};

}  // namespace netfence::mitm
