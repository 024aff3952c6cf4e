// Owning handles for OpenSSL objects. OpenSSL types stay in src/ (never in include/netfence/);
// the data plane hands the raw pointers to SSL_use_certificate / SSL_use_PrivateKey.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

namespace netfence::mitm {

struct X509Deleter {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};

/// One reference to an X509 certificate (X509_free on destruction).
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
/// One reference to a key (EVP_PKEY_free on destruction).
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

/// A new owning reference to `p` (X509_up_ref); null for null.
inline X509Ptr share(X509* p) noexcept {
  if (p != nullptr) X509_up_ref(p);
  return X509Ptr(p);
}
/// A new owning reference to `p` (EVP_PKEY_up_ref); null for null.
inline PkeyPtr share(EVP_PKEY* p) noexcept {
  if (p != nullptr) EVP_PKEY_up_ref(p);
  return PkeyPtr(p);
}

}  // namespace netfence::mitm
