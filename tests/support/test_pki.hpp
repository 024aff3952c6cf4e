// Throwaway PKI for TLS tests: a self-signed CA and a leaf certificate signed by it, generated
// at test time with OpenSSL (EC P-256) and written as PEM files into a directory.
#pragma once

#include <string>
#include <vector>

namespace netfence::testing {

struct TestPki {
  std::string ca_cert;    // PEM path of the CA certificate (trust anchor)
  std::string leaf_cert;  // PEM path of the leaf certificate
  std::string leaf_key;   // PEM path of the leaf's private key
};

/// Creates `<dir>/<prefix>-ca.pem`, `<prefix>-leaf.pem` and `<prefix>-leaf-key.pem`. The leaf
/// carries subjectAltName DNS entries for `dns_names` and IP entries for `ips`. Throws
/// std::runtime_error on failure.
TestPki make_test_pki(const std::string& dir, const std::string& prefix,
                      const std::vector<std::string>& dns_names,
                      const std::vector<std::string>& ips);

}  // namespace netfence::testing
