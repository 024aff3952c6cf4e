// Helpers for the mitm tests: temporary directories, hand-made keys and certificates (to build
// the CAs the store must accept or refuse), and readers for certificate fields.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "mitm/openssl_ptr.hpp"

namespace netfence::mitm::testing {

namespace fs = std::filesystem;

/// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// EVP_PKEY_Q_keygen: ("EC", "P-256"), ("EC", "P-384"), ("RSA", bits), ("ED25519").
PkeyPtr make_ec_key(const char* curve);
PkeyPtr make_rsa_key(std::size_t bits);
PkeyPtr make_ed25519_key();

struct CertSpec {
  bool ca = true;             // basicConstraints CA:TRUE (else CA:FALSE)
  bool key_cert_sign = true;  // keyUsage keyCertSign (+cRLSign) when ca, else digitalSignature
  std::chrono::seconds not_before{-86400};  // relative to now
  std::chrono::seconds not_after{365 * 86400};
  std::string cn = "test CA";
  bool ski = true;  // SubjectKeyIdentifier "hash"
};

/// A self-signed certificate for `key` with SHA-256.
X509Ptr make_self_signed(EVP_PKEY* key, const CertSpec& spec = {});

/// PKCS#8 PEM (or traditional/SEC1 when `traditional`), optionally encrypted with "secret".
void write_key(const fs::path& p, EVP_PKEY* key, mode_t mode = 0600, bool traditional = false,
               bool encrypted = false);
void write_cert(const fs::path& p, X509* cert, mode_t mode = 0644);
X509Ptr read_cert(const fs::path& p);
PkeyPtr read_key(const fs::path& p);
std::string read_file(const fs::path& p);
void write_file(const fs::path& p, const std::string& text);

/// Permission bits (st_mode & 07777) of a path (not following symlinks).
unsigned mode_of(const fs::path& p);

/// The raw value of an extension (decoded d2i struct freed by caller is avoided: these return
/// simple facts). -1 when absent.
int ext_critical(X509* cert, int nid);
std::size_t ext_count(X509* cert);

/// SHA-1 of the certificate's subjectPublicKey (RFC 5280 SKI method 1).
std::vector<unsigned char> pubkey_sha1(X509* cert);
std::vector<unsigned char> octets(const ASN1_OCTET_STRING* s);

/// Subject entries as "SN=value" in DER order, e.g. {"CN=example.com"}.
std::vector<std::string> name_entries(const X509_NAME* name);

std::chrono::system_clock::time_point time_of(const ASN1_TIME* t);

/// Serial as a BIGNUM facts: bit length and sign.
int serial_bits(X509* cert);
bool serial_negative(X509* cert);

/// X509_verify_cert of `leaf` against `ca` as the only trust anchor, purpose sslserver, with
/// `host` checked as a DNS name or IP (when `ip`). Returns the X509_V_* result (X509_V_OK = 0).
int verify_leaf(X509* leaf, X509* ca, const std::string& host, bool ip);

}  // namespace netfence::mitm::testing
