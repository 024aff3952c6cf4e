// The MITM certificate authority on disk (SPEC §10.3): where it lives (§3.1), how it is created
// atomically, and every check an existing one must pass before netfence signs with it.
//
// Blocking file I/O and (on creation) key generation: call from the CLI, at start-up or on the
// control thread, never from an I/O thread.
#pragma once

#include <array>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mitm/openssl_ptr.hpp"
#include "netfence/result.hpp"

namespace netfence::mitm {

inline constexpr std::string_view kCaCertFile = "ca.pem";
inline constexpr std::string_view kCaKeyFile = "ca.key";
inline constexpr std::string_view kCaBundleFile = "ca-bundle.pem";

/// The state home of SPEC §3.1: `$NETFENCE_HOME`, else `$CODEX_HOME`, else `$HOME/.codex`
/// (empty variables count as unset), made absolute against the working directory.
std::filesystem::path state_home();

/// `<home>/proxy`, the directory holding ca.pem, ca.key and ca-bundle.pem.
std::filesystem::path proxy_dir(const std::filesystem::path& home);

/// A usable CA: certificate and private key plus what leaf minting needs from them.
struct CaMaterial {
  X509Ptr cert;
  PkeyPtr key;
  /// The files it was loaded from or created as (empty for in-memory material).
  std::filesystem::path cert_path, key_path;
  /// True when this call created the files (false when they already existed, also when another
  /// process won the creation race).
  bool created = false;
  /// SHA-256 of the DER certificate: the identity of this CA (leaves are re-minted when it
  /// changes).
  std::array<unsigned char, 32> fingerprint{};
  /// The CA's key identifier: its SubjectKeyIdentifier, or the RFC 5280 §4.2.1.2 method-1 hash
  /// of its public key when the certificate has none. Leaves carry it as AuthorityKeyIdentifier.
  std::vector<unsigned char> key_id;
  std::chrono::system_clock::time_point not_before, not_after;

  /// The certificate as PEM ("-----BEGIN CERTIFICATE-----\n...-----END CERTIFICATE-----\n").
  std::string cert_pem() const;
  /// The fingerprint as lower-case hex (64 characters).
  std::string fingerprint_hex() const;
};

/// Wraps a certificate and key, deriving fingerprint, key id and validity. No checks: use it
/// for in-memory material (tests, generate_ca); files go through load_or_create_ca.
CaMaterial make_ca_material(X509Ptr cert, PkeyPtr key);

/// A fresh CA exactly as §10.3 specifies (ECDSA P-256, `CN=netfence local MITM CA,O=netfence`
/// with CN first in the DER sequence, random positive 128-bit serial, notBefore = now − 1 day,
/// notAfter = notBefore + 10 calendar years, basicConstraints critical CA:TRUE pathlen:0,
/// keyUsage critical keyCertSign+cRLSign, SKI, ecdsa-with-SHA256), in memory only.
Result<CaMaterial> generate_ca(std::chrono::system_clock::time_point now);

/// Loads the CA from `<home_proxy_dir>/ca.pem` + `ca.key`, or creates it when both are absent
/// and `create` is true (§10.3).
///
/// Creation: the directory (and missing parents) with mode 0700; each file written to a
/// temporary name in the same directory, fsynced, then link(2)ed into place without overwriting
/// (renameat2(RENAME_NOREPLACE) where links are unsupported), then the directory fsynced; key
/// (0600, PKCS#8 PEM) first, then certificate (0644); a failed certificate step removes the key.
/// When another process wins the race its files are loaded instead; a key that appeared less
/// than 10 s ago without its certificate is waited for (up to 2 s) rather than refused.
///
/// Errors (code "ca", texts exactly as §10.3):
///   `CA files must both exist or both be absent (cert=<path>, key=<path>)`,
///   `refusing CA key <path>: it is a symlink` / `: not a regular file` /
///   `: mode <0octal> is group/world accessible (expected 0600 or stricter)` /
///   `: owned by uid <n>, not by the current user`,
///   `CA certificate <path> does not match its key` / `is not a CA` / `has expired` (valid for
///   less than one more day); plus unreadable or unparsable files, unsupported key types
///   (accepted: EC P-256 and P-384, RSA ≥ 2048 bits) and I/O failures while creating.
/// Both files absent and `create` false: code "ca_absent",
///   `no CA at <cert path> (run "netfence ca init" to create one)`.
Result<CaMaterial> load_or_create_ca(const std::filesystem::path& home_proxy_dir, bool create);

}  // namespace netfence::mitm
