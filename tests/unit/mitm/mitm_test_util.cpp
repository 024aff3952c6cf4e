#include "mitm_test_util.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace netfence::mitm::testing {
namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    ERR_print_errors_fp(stderr);
    throw std::runtime_error(std::string("mitm test util: ") + what);
  }
}

void add_ext(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_nconf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

}  // namespace

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = fs::temp_directory_path() /
          ("netfence-mitm-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

PkeyPtr make_ec_key(const char* curve) {
  PkeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  check(k != nullptr, "EC keygen");
  return k;
}

PkeyPtr make_rsa_key(std::size_t bits) {
  PkeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
  check(k != nullptr, "RSA keygen");
  return k;
}

PkeyPtr make_ed25519_key() {
  PkeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  check(k != nullptr, "Ed25519 keygen");
  return k;
}

X509Ptr make_self_signed(EVP_PKEY* key, const CertSpec& spec) {
  X509Ptr cert(X509_new());
  X509* x = cert.get();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
  X509_gmtime_adj(X509_getm_notBefore(x), static_cast<long>(spec.not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(spec.not_after.count()));
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  add_ext(x, NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(x, NID_key_usage,
          spec.key_cert_sign ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  if (spec.ski) add_ext(x, NID_subject_key_identifier, "hash");
  const bool ed = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;
  check(X509_sign(x, key, ed ? nullptr : EVP_sha256()) > 0, "X509_sign");
  return cert;
}

void write_key(const fs::path& p, EVP_PKEY* key, mode_t mode, bool traditional, bool encrypted) {
  BIO* bio = BIO_new(BIO_s_mem());
  int ok = 0;
  static char pass[] = "secret";
  if (encrypted) {
    ok = PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), pass, 6, nullptr, nullptr);
  } else if (traditional) {
    ok = PEM_write_bio_PrivateKey_traditional(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    ok = PEM_write_bio_PKCS8PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  }
  check(ok == 1, "PEM write key");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  write_file(p, std::string(data, static_cast<std::size_t>(n)));
  BIO_free(bio);
  check(::chmod(p.c_str(), mode) == 0, "chmod");
}

void write_cert(const fs::path& p, X509* cert, mode_t mode) {
  BIO* bio = BIO_new(BIO_s_mem());
  check(PEM_write_bio_X509(bio, cert) == 1, "PEM write cert");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  write_file(p, std::string(data, static_cast<std::size_t>(n)));
  BIO_free(bio);
  check(::chmod(p.c_str(), mode) == 0, "chmod");
}

X509Ptr read_cert(const fs::path& p) {
  const std::string text = read_file(p);
  BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

PkeyPtr read_key(const fs::path& p) {
  const std::string text = read_file(p);
  BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return key;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  check(static_cast<bool>(out), "write file");
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return static_cast<unsigned>(st.st_mode & 07777);
}

int ext_critical(X509* cert, int nid) {
  const int i = X509_get_ext_by_NID(cert, nid, -1);
  if (i < 0) return -1;
  return X509_EXTENSION_get_critical(X509_get_ext(cert, i));
}

std::size_t ext_count(X509* cert) { return static_cast<std::size_t>(X509_get_ext_count(cert)); }

std::vector<unsigned char> pubkey_sha1(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  check(X509_pubkey_digest(cert, EVP_sha1(), md, &n) == 1, "X509_pubkey_digest");
  return {md, md + n};
}

std::vector<unsigned char> octets(const ASN1_OCTET_STRING* s) {
  if (s == nullptr) return {};
  const unsigned char* d = ASN1_STRING_get0_data(s);
  return {d, d + ASN1_STRING_length(s)};
}

std::vector<std::string> name_entries(const X509_NAME* name) {
  std::vector<std::string> out;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    const ASN1_STRING* v = X509_NAME_ENTRY_get_data(e);
    out.push_back(std::string(OBJ_nid2sn(nid)) + "=" +
                  std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                              static_cast<std::size_t>(ASN1_STRING_length(v))));
  }
  return out;
}

std::chrono::system_clock::time_point time_of(const ASN1_TIME* t) {
  std::tm tm{};
  check(ASN1_TIME_to_tm(t, &tm) == 1, "ASN1_TIME_to_tm");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

int serial_bits(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  const int bits = BN_num_bits(bn);
  BN_free(bn);
  return bits;
}

bool serial_negative(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  const bool neg = BN_is_negative(bn) != 0;
  BN_free(bn);
  return neg;
}

int verify_leaf(X509* leaf, X509* ca, const std::string& host, bool ip) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  }
  const int ok = X509_verify_cert(ctx);
  const int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  ERR_clear_error();
  return err;
}

}  // namespace netfence::mitm::testing
