#include "mitm/leaf.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "mitm/x509_util.hpp"

namespace netfence::mitm {
namespace {

using detail::Clock;
using namespace std::chrono_literals;

constexpr auto kLeafLifetime = std::chrono::hours(24 * 90);
constexpr auto kMinRemaining = 24h;
constexpr std::size_t kMaxCommonName = 64;  // ub-common-name (RFC 5280 appendix A)

Error ca_error(std::string msg) { return make_error("ca", std::move(msg)); }
Error host_error(std::string_view host) {
  return make_error("invalid_host", "cannot mint a certificate for \"" + std::string(host) + "\"");
}

// Canonical names only (SPEC §4 output): the SAN is an IA5String and must not carry anything
// a name cannot hold.
bool valid_dns_name(std::string_view h) {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.') return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

struct Octets {
  unsigned char bytes[16];
  int size = 0;
};

// The address of an IP literal ("%zone" ignored: a zone is local to this host).
std::optional<Octets> parse_ip(std::string_view h) {
  std::string text(h.substr(0, h.find('%')));
  Octets o;
  if (text.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, text.c_str(), o.bytes) != 1) return std::nullopt;
    o.size = 4;
  } else {
    if (inet_pton(AF_INET6, text.c_str(), o.bytes) != 1) return std::nullopt;
    o.size = 16;
  }
  return o;
}

bool add_san(X509* x, std::string_view host, const std::optional<Octets>& ip, bool critical) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME* name = GENERAL_NAME_new();
  bool ok = names != nullptr && name != nullptr;
  if (ok && ip) {
    ASN1_OCTET_STRING* oct = ASN1_OCTET_STRING_new();
    ok = oct != nullptr && ASN1_OCTET_STRING_set(oct, ip->bytes, ip->size) == 1;
    if (ok) {
      GENERAL_NAME_set0_value(name, GEN_IPADD, oct);
    } else {
      ASN1_OCTET_STRING_free(oct);
    }
  } else if (ok) {
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    ok = ia5 != nullptr && ASN1_STRING_set(ia5, host.data(), static_cast<int>(host.size())) == 1;
    if (ok) {
      GENERAL_NAME_set0_value(name, GEN_DNS, ia5);
    } else {
      ASN1_IA5STRING_free(ia5);
    }
  }
  if (ok) {
    ok = sk_GENERAL_NAME_push(names, name) > 0;
    if (ok) name = nullptr;  // owned by names now
  }
  ok = ok &&
       X509_add1_ext_i2d(x, NID_subject_alt_name, names, critical ? 1 : 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAME_free(name);
  GENERAL_NAMES_free(names);
  return ok;
}

bool add_basic_constraints_leaf(X509* x) {
  BASIC_CONSTRAINTS* bc = BASIC_CONSTRAINTS_new();
  if (bc == nullptr) return false;
  bc->ca = 0;
  const bool ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 0, X509V3_ADD_DEFAULT) == 1;
  BASIC_CONSTRAINTS_free(bc);
  return ok;
}

bool add_key_usage_digital_signature(X509* x) {
  ASN1_BIT_STRING* ku = ASN1_BIT_STRING_new();
  bool ok = ku != nullptr && ASN1_BIT_STRING_set_bit(ku, 0, 1) == 1;  // digitalSignature
  ok = ok && X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1;
  ASN1_BIT_STRING_free(ku);
  return ok;
}

bool add_eku_server_auth(X509* x) {
  EXTENDED_KEY_USAGE* eku = sk_ASN1_OBJECT_new_null();
  bool ok = eku != nullptr && sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) > 0;
  ok = ok && X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1;
  sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);  // no-op for the static object
  return ok;
}

bool add_octets_ext(X509* x, int nid, const std::vector<unsigned char>& bytes) {
  ASN1_OCTET_STRING* oct = ASN1_OCTET_STRING_new();
  bool ok = oct != nullptr &&
            ASN1_OCTET_STRING_set(oct, bytes.data(), static_cast<int>(bytes.size())) == 1;
  ok = ok && X509_add1_ext_i2d(x, nid, oct, 0, X509V3_ADD_DEFAULT) == 1;
  ASN1_OCTET_STRING_free(oct);
  return ok;
}

bool add_authority_key_id(X509* x, const std::vector<unsigned char>& key_id) {
  AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
  if (akid == nullptr) return false;
  akid->keyid = ASN1_OCTET_STRING_new();
  bool ok = akid->keyid != nullptr &&
            ASN1_OCTET_STRING_set(akid->keyid, key_id.data(), static_cast<int>(key_id.size())) == 1;
  ok = ok && X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) == 1;
  AUTHORITY_KEYID_free(akid);
  return ok;
}

}  // namespace

Result<std::unique_ptr<LeafMinter>> LeafMinter::create(std::shared_ptr<const CaMaterial> ca,
                                                       LeafMinterOptions options) {
  if (!ca || !ca->cert || !ca->key) return ca_error("no CA to mint leaf certificates with");
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return ca_error(detail::openssl_error("cannot generate the leaf key"));
  // RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING. Every leaf shares the
  // key, so it is computed once.
  X509Ptr probe(X509_new());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!probe || X509_set_pubkey(probe.get(), key.get()) != 1 ||
      X509_pubkey_digest(probe.get(), EVP_sha1(), md, &n) != 1) {
    return ca_error(detail::openssl_error("cannot hash the leaf key"));
  }
  return std::unique_ptr<LeafMinter>(new LeafMinter(
      std::move(key), std::vector<unsigned char>(md, md + n), std::move(ca), std::move(options)));
}

LeafMinter::LeafMinter(PkeyPtr key, std::vector<unsigned char> key_id,
                       std::shared_ptr<const CaMaterial> ca, LeafMinterOptions options)
    : key_(std::move(key)),
      key_id_(std::move(key_id)),
      capacity_(std::max<std::size_t>(options.cache_capacity, 1)),
      clock_(std::move(options.clock)),
      ca_(std::move(ca)) {}

LeafMinter::~LeafMinter() = default;

Clock::time_point LeafMinter::now() const { return clock_ ? clock_() : Clock::now(); }

void LeafMinter::set_ca(std::shared_ptr<const CaMaterial> ca) {
  if (!ca) return;
  std::lock_guard lock(mutex_);
  ca_ = std::move(ca);
}

std::shared_ptr<const CaMaterial> LeafMinter::ca() const {
  std::lock_guard lock(mutex_);
  return ca_;
}

bool LeafMinter::usable(const LeafCertificate& leaf, const CaMaterial& ca,
                        Clock::time_point t) const {
  return leaf.ca->fingerprint == ca.fingerprint && leaf.not_after - t >= kMinRemaining;
}

Result<std::shared_ptr<const LeafCertificate>> LeafMinter::get(std::string_view host, bool is_ip) {
  const auto t = now();
  {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(host); it != index_.end()) {
      if (usable(*it->second->leaf, *ca_, t)) {
        lru_.splice(lru_.begin(), lru_, it->second);
        ++stats_.hits;
        return it->second->leaf;
      }
    }
  }
  // Minting runs unlocked: two threads missing on one host may both mint; the later insert wins.
  auto minted = mint(host, is_ip);
  if (!minted) return minted.error();
  std::lock_guard lock(mutex_);
  ++stats_.mints;
  if (auto it = index_.find(host); it != index_.end()) {
    it->second->leaf = minted.value();
    lru_.splice(lru_.begin(), lru_, it->second);
    return minted;
  }
  lru_.push_front(Entry{std::string(host), minted.value()});
  index_.emplace(lru_.front().host, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().host);
    lru_.pop_back();
    ++stats_.evictions;
  }
  return minted;
}

Result<std::shared_ptr<const LeafCertificate>> LeafMinter::mint(std::string_view host,
                                                                bool is_ip) const {
  std::optional<Octets> ip;
  if (is_ip) {
    ip = parse_ip(host);
    if (!ip) return host_error(host);
  } else if (!valid_dns_name(host)) {
    return host_error(host);
  }
  const std::string_view name = is_ip ? host.substr(0, host.find('%')) : host;
  const std::shared_ptr<const CaMaterial> ca = this->ca();
  const auto t = std::chrono::time_point_cast<std::chrono::seconds>(now());
  const auto not_before = t - 24h;
  const auto not_after = std::min<Clock::time_point>(t + kLeafLifetime, ca->not_after);

  X509Ptr cert(X509_new());
  if (!cert) return ca_error(detail::openssl_error("cannot create a leaf certificate"));
  X509* x = cert.get();
  const bool with_cn = name.size() <= kMaxCommonName;
  bool ok = X509_set_version(x, X509_VERSION_3) == 1 && detail::set_random_serial(x) &&
            detail::set_time(X509_getm_notBefore(x), not_before) &&
            detail::set_time(X509_getm_notAfter(x), not_after) &&
            X509_set_pubkey(x, key_.get()) == 1 &&
            X509_set_issuer_name(x, X509_get_subject_name(ca->cert.get())) == 1;
  if (ok && with_cn) {
    ok = X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(name.data()),
                                    static_cast<int>(name.size()), -1, 0) == 1;
  }
  // RFC 5280 §4.2.1.6: with an empty subject the SAN is critical.
  ok = ok && add_san(x, name, ip, !with_cn) && add_basic_constraints_leaf(x) &&
       add_key_usage_digital_signature(x) && add_eku_server_auth(x) &&
       add_octets_ext(x, NID_subject_key_identifier, key_id_) &&
       add_authority_key_id(x, ca->key_id) && X509_sign(x, ca->key.get(), EVP_sha256()) > 0;
  if (!ok)
    return ca_error(detail::openssl_error("cannot mint a certificate for " + std::string(host)));

  auto leaf = std::make_shared<LeafCertificate>();
  leaf->cert = std::move(cert);
  leaf->key = share(key_.get());
  leaf->ca = ca;
  leaf->host = std::string(host);
  leaf->not_before = not_before;
  leaf->not_after = not_after;
  return std::shared_ptr<const LeafCertificate>(std::move(leaf));
}

std::size_t LeafMinter::cache_size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

LeafMinter::Stats LeafMinter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace netfence::mitm
