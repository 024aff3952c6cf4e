// The CA bundle handed to sandboxed clients (SPEC §17 `env`, `ca export --bundle`): the system
// root certificates followed by the netfence CA.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "mitm/ca_store.hpp"
#include "netfence/result.hpp"

namespace netfence::mitm {

/// The system's root certificate file: OpenSSL's compiled-in default (X509_get_default_cert_file,
/// `/usr/lib/ssl/cert.pem` on Debian), else the usual distribution paths
/// (`/etc/ssl/certs/ca-certificates.crt`, `/etc/pki/tls/certs/ca-bundle.crt`,
/// `/etc/ssl/ca-bundle.pem`, `/etc/ssl/cert.pem`); the first readable regular file wins.
/// `SSL_CERT_FILE` is deliberately not consulted: `netfence env` points it at the bundle itself.
std::optional<std::filesystem::path> system_roots_file();

struct CaBundle {
  std::string pem;  ///< system roots (newline-terminated), then the CA certificate
  std::optional<std::filesystem::path> roots;  ///< where the roots came from; none found → empty
};

/// Builds the bundle text from `roots` (the system roots file, or none) and the CA. Error code
/// "io" when the roots file cannot be read.
Result<CaBundle> build_ca_bundle(const CaMaterial& ca,
                                 const std::optional<std::filesystem::path>& roots);

struct BundleRefresh {
  bool rewritten = false;
  std::optional<std::filesystem::path> roots;  ///< none: the bundle holds only the CA
};

/// Writes `bundle_path` (mode 0644, atomically) when it is missing or older than either source
/// (the roots file or `ca.cert_path`); otherwise leaves it alone. Error code "io" (or "ca").
Result<BundleRefresh> refresh_ca_bundle(const CaMaterial& ca,
                                        const std::filesystem::path& bundle_path);

}  // namespace netfence::mitm
