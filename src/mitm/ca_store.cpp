#include "mitm/ca_store.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <thread>
#include <utility>

#include "mitm/file_util.hpp"
#include "mitm/x509_util.hpp"

namespace netfence::mitm {
namespace {

namespace fs = std::filesystem;
using detail::Clock;
using namespace std::chrono_literals;

constexpr std::size_t kMaxPemSize = 1 << 20;
// A key without its certificate is another process half-way through creating the CA when it
// is this recent; its certificate is waited for instead of refusing at once.
constexpr auto kFreshKeyAge = 10s;
constexpr auto kCertWait = 2s;

Error ca_error(std::string msg) { return make_error("ca", std::move(msg)); }

struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// A std::string whose bytes are wiped before release (PEM of the private key).
struct SecretText {
  std::string text;
  SecretText() = default;
  SecretText(const SecretText&) = delete;
  SecretText& operator=(const SecretText&) = delete;
  SecretText(SecretText&& o) noexcept : text(std::move(o.text)) { o.text.clear(); }
  ~SecretText() {
    if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
  }
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

// Whether `p` exists as a directory entry (a dangling symlink counts).
Result<bool> entry_exists(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return ca_error("cannot access " + p.string() + ": " + detail::errno_text(errno));
}

Result<void> read_fd(int fd, const fs::path& p, std::string& out, std::string_view what) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ca_error("cannot read " + std::string(what) + " " + p.string() + ": " +
                      detail::errno_text(errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxPemSize) {
      return ca_error(std::string(what) + " " + p.string() + " is larger than 1 MiB");
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return {};
}

// Opens the key without following a symlink and checks the opened file itself, so a swap
// between check and read cannot pass a different file (§10.3 key checks, in spec order).
Result<SecretText> read_key_file(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP) return ca_error("refusing CA key " + p.string() + ": it is a symlink");
    return ca_error("cannot open CA key " + p.string() + ": " + detail::errno_text(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return ca_error("cannot stat CA key " + p.string() + ": " + detail::errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return ca_error("refusing CA key " + p.string() + ": not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return ca_error("refusing CA key " + p.string() + ": mode " + mode +
                    " is group/world accessible (expected 0600 or stricter)");
  }
  if (st.st_uid != ::geteuid()) {
    return ca_error("refusing CA key " + p.string() + ": owned by uid " +
                    std::to_string(st.st_uid) + ", not by the current user");
  }
  SecretText out;
  if (auto r = read_fd(fd, p, out.text, "CA key"); !r) return r.error();
  return out;
}

Result<std::string> read_cert_file(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    return ca_error("cannot open CA certificate " + p.string() + ": " + detail::errno_text(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return ca_error("cannot read CA certificate " + p.string() + ": not a regular file");
  }
  std::string out;
  if (auto r = read_fd(fd, p, out, "CA certificate"); !r) return r.error();
  return out;
}

// Never prompts: an encrypted key is refused rather than asking on a terminal.
int no_password(char*, int, int, void*) { return 0; }

// §10.3: P-256 (what netfence and the reference create), P-384, RSA ≥ 2048.
bool supported_key(EVP_PKEY* key) {
  const int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA) return EVP_PKEY_get_bits(key) >= 2048;
  if (id != EVP_PKEY_EC) return false;
  char group[80] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) !=
      1) {
    return false;
  }
  const std::string_view g(group, len);
  return g == "prime256v1" || g == "P-256" || g == "secp384r1" || g == "P-384";
}

// basicConstraints CA:TRUE, and keyCertSign when a keyUsage extension is present.
bool is_ca(X509* cert) {
  const std::uint32_t flags = X509_get_extension_flags(cert);
  if ((flags & EXFLAG_INVALID) != 0 || (flags & EXFLAG_CA) == 0) return false;
  if ((flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) == 0) {
    return false;
  }
  return true;
}

Result<CaMaterial> load_existing(const fs::path& cert_path, const fs::path& key_path) {
  auto key_pem = read_key_file(key_path);
  if (!key_pem) return key_pem.error();
  PkeyPtr key;
  {
    BioPtr bio(BIO_new_mem_buf(key_pem->text.data(), static_cast<int>(key_pem->text.size())));
    if (bio) key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, &no_password, nullptr));
  }
  if (!key) {
    ERR_clear_error();
    return ca_error("CA key " + key_path.string() + " is not an unencrypted PEM private key");
  }
  if (!supported_key(key.get())) {
    return ca_error("CA key " + key_path.string() +
                    " is not ECDSA P-256/P-384 or RSA of at least 2048 bits");
  }

  auto cert_pem = read_cert_file(cert_path);
  if (!cert_pem) return cert_pem.error();
  X509Ptr cert;
  {
    BioPtr bio(BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
    if (bio) cert.reset(PEM_read_bio_X509(bio.get(), nullptr, &no_password, nullptr));
  }
  if (!cert) {
    ERR_clear_error();
    return ca_error("CA certificate " + cert_path.string() + " is not a PEM certificate");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return ca_error("CA certificate " + cert_path.string() + " does not match its key");
  }
  if (!is_ca(cert.get())) {
    return ca_error("CA certificate " + cert_path.string() + " is not a CA");
  }
  const auto not_after = detail::to_time_point(X509_get0_notAfter(cert.get()));
  if (!not_after || *not_after < Clock::now() + 24h) {
    return ca_error("CA certificate " + cert_path.string() + " has expired");
  }
  CaMaterial m = make_ca_material(std::move(cert), std::move(key));
  m.cert_path = cert_path;
  m.key_path = key_path;
  return m;
}

Result<SecretText> key_to_pkcs8_pem(EVP_PKEY* key) {
  // secmem BIO: the buffer is wiped when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return ca_error(detail::openssl_error("cannot encode the CA key"));
  }
  SecretText out;
  out.text = bio_text(bio.get());
  return out;
}

// Creates both files. nullopt: another process placed a key first (load theirs).
Result<std::optional<CaMaterial>> create_files(const fs::path& dir, const fs::path& cert_path,
                                               const fs::path& key_path) {
  if (auto made = detail::make_private_dirs(dir); !made) return made.error();
  auto ca = generate_ca(Clock::now());
  if (!ca) return ca.error();
  auto key_pem = key_to_pkcs8_pem(ca->key.get());
  if (!key_pem) return key_pem.error();
  const std::string cert_pem = ca->cert_pem();

  auto placed_key = detail::place_exclusive(key_path, key_pem->text, 0600);
  if (!placed_key) return placed_key.error();
  if (!placed_key.value()) return std::optional<CaMaterial>();
  if (auto synced = detail::fsync_dir(dir); !synced) {
    ::unlink(key_path.c_str());
    return synced.error();
  }

  auto placed_cert = detail::place_exclusive(cert_path, cert_pem, 0644);
  Result<void> synced = placed_cert ? detail::fsync_dir(dir) : Result<void>();
  if (!placed_cert || !placed_cert.value() || !synced) {
    // §10.3: a key never stays behind without its certificate.
    ::unlink(key_path.c_str());
    (void)detail::fsync_dir(dir);
    if (!placed_cert) return placed_cert.error();
    if (!synced) return synced.error();
    return ca_error("CA certificate " + cert_path.string() +
                    " appeared while the CA was being created");
  }
  ca->cert_path = cert_path;
  ca->key_path = key_path;
  ca->created = true;
  return std::optional<CaMaterial>(std::move(ca.value()));
}

// The key's modification time is recent enough that its creator may still be writing the
// certificate.
bool key_is_fresh(const fs::path& key_path) {
  struct stat st {};
  if (::lstat(key_path.c_str(), &st) != 0) return false;
  const auto mtime = Clock::from_time_t(st.st_mtim.tv_sec);
  const auto now = Clock::now();
  return mtime <= now + 1s && now - mtime < kFreshKeyAge;
}

}  // namespace

fs::path state_home() {
  auto env = [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : nullptr;
  };
  fs::path p;
  if (const char* v = env("NETFENCE_HOME")) {
    p = v;
  } else if (const char* c = env("CODEX_HOME")) {
    p = c;
  } else {
    const char* home = env("HOME");
    if (home == nullptr) {
      const passwd* pw = ::getpwuid(::geteuid());
      home = pw != nullptr && pw->pw_dir != nullptr ? pw->pw_dir : "/";
    }
    p = fs::path(home) / ".codex";
  }
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return ec ? p : abs;
}

fs::path proxy_dir(const fs::path& home) { return home / "proxy"; }

std::string CaMaterial::cert_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !cert || PEM_write_bio_X509(bio.get(), cert.get()) != 1) return {};
  return bio_text(bio.get());
}

std::string CaMaterial::fingerprint_hex() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : fingerprint) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

CaMaterial make_ca_material(X509Ptr cert, PkeyPtr key) {
  CaMaterial m;
  unsigned int len = 0;
  X509_digest(cert.get(), EVP_sha256(), m.fingerprint.data(), &len);
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(cert.get()); ski != nullptr) {
    const unsigned char* d = ASN1_STRING_get0_data(ski);
    m.key_id.assign(d, d + ASN1_STRING_length(ski));
  } else {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_pubkey_digest(cert.get(), EVP_sha1(), md, &n) == 1) m.key_id.assign(md, md + n);
  }
  m.not_before = detail::to_time_point(X509_get0_notBefore(cert.get())).value_or(Clock::now());
  m.not_after = detail::to_time_point(X509_get0_notAfter(cert.get())).value_or(Clock::now());
  m.cert = std::move(cert);
  m.key = std::move(key);
  ERR_clear_error();
  return m;
}

Result<CaMaterial> generate_ca(Clock::time_point now) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return ca_error(detail::openssl_error("cannot generate the CA key"));
  X509Ptr cert(X509_new());
  if (!cert) return ca_error(detail::openssl_error("cannot create the CA certificate"));
  X509* x = cert.get();

  const auto not_before = std::chrono::time_point_cast<std::chrono::seconds>(now) - 24h;
  std::tm tm{};
  const std::time_t nb = Clock::to_time_t(not_before);
  gmtime_r(&nb, &tm);
  tm.tm_year += 10;  // calendar years: 29 February rolls over to 1 March
  const auto not_after = Clock::from_time_t(timegm(&tm));

  X509_NAME* name = X509_get_subject_name(x);
  auto add_rdn = [name](int nid, const char* value) {
    return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value), -1, -1,
                                      0) == 1;
  };
  const bool ok = X509_set_version(x, X509_VERSION_3) == 1 && detail::set_random_serial(x) &&
                  detail::set_time(X509_getm_notBefore(x), not_before) &&
                  detail::set_time(X509_getm_notAfter(x), not_after) &&
                  X509_set_pubkey(x, key.get()) == 1 &&
                  add_rdn(NID_commonName, "netfence local MITM CA") &&
                  add_rdn(NID_organizationName, "netfence") && X509_set_issuer_name(x, name) == 1 &&
                  detail::add_conf_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
                  detail::add_conf_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
                  detail::add_conf_ext(x, x, NID_subject_key_identifier, "hash") &&
                  X509_sign(x, key.get(), EVP_sha256()) > 0;
  if (!ok) return ca_error(detail::openssl_error("cannot create the CA certificate"));
  return make_ca_material(std::move(cert), std::move(key));
}

Result<CaMaterial> load_or_create_ca(const fs::path& home_proxy_dir, bool create) {
  const fs::path cert_path = home_proxy_dir / kCaCertFile;
  const fs::path key_path = home_proxy_dir / kCaKeyFile;
  std::optional<Clock::time_point> wait_until;
  for (;;) {
    auto key_present = entry_exists(key_path);
    if (!key_present) return key_present.error();
    auto cert_present = entry_exists(cert_path);
    if (!cert_present) return cert_present.error();

    if (key_present.value() && cert_present.value()) return load_existing(cert_path, key_path);

    if (!key_present.value() && !cert_present.value()) {
      if (!create) {
        return make_error("ca_absent", "no CA at " + cert_path.string() +
                                           " (run \"netfence ca init\" to create one)");
      }
      auto made = create_files(home_proxy_dir, cert_path, key_path);
      if (!made) return made.error();
      if (made.value()) return std::move(*made.value());
      continue;  // lost the race: load the winner's files
    }

    if (key_present.value() && key_is_fresh(key_path)) {
      if (!wait_until) wait_until = Clock::now() + kCertWait;
      if (Clock::now() < *wait_until) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
    }
    return ca_error("CA files must both exist or both be absent (cert=" + cert_path.string() +
                    ", key=" + key_path.string() + ")");
  }
}

}  // namespace netfence::mitm
