// The CA store (SPEC §10.3): creation with every certificate field and file mode, reloading,
// every refusal text, accepted key types, and concurrent creation by threads and processes.
#include "mitm/ca_store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <latch>
#include <optional>
#include <set>
#include <thread>

#include "mitm/ca_store.hpp"  // self-contained header
#include "mitm_test_util.hpp"

namespace netfence::mitm {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

class CaStore : public ::testing::Test {
 protected:
  // A home whose proxy directory (and the home itself) does not exist yet.
  fs::path dir() const { return tmp_.path() / "home" / "proxy"; }
  fs::path cert() const { return dir() / "ca.pem"; }
  fs::path key() const { return dir() / "ca.key"; }

  CaMaterial create() {
    auto ca = load_or_create_ca(dir(), true);
    EXPECT_TRUE(ca.ok()) << (ca.ok() ? "" : ca.error().message);
    return std::move(ca.value());
  }

  // Writes a hand-made CA pair into dir().
  void install(EVP_PKEY* k, X509* c, mode_t key_mode = 0600) {
    fs::create_directories(dir());
    write_key(key(), k, key_mode);
    write_cert(cert(), c);
  }

  std::string load_error() {
    auto ca = load_or_create_ca(dir(), true);
    if (ca.ok()) return "<loaded>";
    EXPECT_EQ(ca.error().code, "ca");
    return ca.error().message;
  }

  void backdate(const fs::path& p) {
    timespec times[2];
    times[0].tv_sec = times[1].tv_sec = ::time(nullptr) - 3600;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  }

  TempDir tmp_;
};

TEST_F(CaStore, CreatesFilesWithSpecModes) {
  const auto ca = create();
  EXPECT_TRUE(ca.created);
  EXPECT_EQ(ca.cert_path, cert());
  EXPECT_EQ(ca.key_path, key());
  EXPECT_EQ(mode_of(dir()), 0700u);
  EXPECT_EQ(mode_of(dir().parent_path()), 0700u);
  EXPECT_EQ(mode_of(key()), 0600u);
  EXPECT_EQ(mode_of(cert()), 0644u);
  // Nothing else (no temporary names) is left behind.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir())) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"ca.key", "ca.pem"}));
  // PKCS#8 PEM key, PEM certificate.
  const std::string key_text = read_file(key());
  EXPECT_EQ(key_text.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u) << key_text.substr(0, 40);
  EXPECT_EQ(read_file(cert()).rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  EXPECT_EQ(read_file(cert()), ca.cert_pem());
}

TEST_F(CaStore, CertificateFieldsAreExactlyTheSpec) {
  const auto before = Clock::now();
  create();
  X509Ptr c = read_cert(cert());
  PkeyPtr k = read_key(key());
  ASSERT_TRUE(c && k);
  X509* x = c.get();

  // Key: ECDSA P-256, matching the certificate.
  EXPECT_EQ(EVP_PKEY_get_base_id(k.get()), EVP_PKEY_EC);
  char group[64] = {};
  size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_utf8_string_param(k.get(), "group", group, sizeof group, &len), 1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_EQ(X509_check_private_key(x, k.get()), 1);

  EXPECT_EQ(X509_get_version(x), X509_VERSION_3);
  EXPECT_FALSE(serial_negative(x));
  EXPECT_EQ(serial_bits(x), 128);
  EXPECT_EQ(name_entries(X509_get_subject_name(x)),
            (std::vector<std::string>{"CN=netfence local MITM CA", "O=netfence"}));
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);

  // notBefore = now − 1 day; notAfter = notBefore + 10 calendar years.
  const auto nb = time_of(X509_get0_notBefore(x));
  const auto na = time_of(X509_get0_notAfter(x));
  EXPECT_LE(nb, before - 24h + 2s);
  EXPECT_GE(nb, before - 24h - 60s);
  std::time_t nb_t = Clock::to_time_t(nb);
  std::tm tm{};
  gmtime_r(&nb_t, &tm);
  tm.tm_year += 10;
  EXPECT_EQ(Clock::to_time_t(na), timegm(&tm));

  // Exactly three extensions: basicConstraints, keyUsage, SKI.
  EXPECT_EQ(ext_count(x), 3u);
  int crit = -1;
  auto* bc =
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x, NID_basic_constraints, &crit, nullptr));
  ASSERT_NE(bc, nullptr);
  EXPECT_EQ(crit, 1);
  EXPECT_NE(bc->ca, 0);
  ASSERT_NE(bc->pathlen, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(bc->pathlen), 0);
  BASIC_CONSTRAINTS_free(bc);

  EXPECT_EQ(ext_critical(x, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(x), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));

  EXPECT_EQ(ext_critical(x, NID_subject_key_identifier), 0);
  EXPECT_EQ(octets(X509_get0_subject_key_id(x)), pubkey_sha1(x));

  EXPECT_EQ(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
  PkeyPtr pub(X509_get_pubkey(x));
  EXPECT_EQ(X509_verify(x, pub.get()), 1);
  EXPECT_EQ(X509_check_ca(x), 1);
}

TEST_F(CaStore, MaterialDescribesTheCertificate) {
  const auto ca = create();
  unsigned char md[32];
  unsigned int n = 0;
  X509_digest(ca.cert.get(), EVP_sha256(), md, &n);
  EXPECT_EQ(std::vector<unsigned char>(md, md + n),
            std::vector<unsigned char>(ca.fingerprint.begin(), ca.fingerprint.end()));
  EXPECT_EQ(ca.fingerprint_hex().size(), 64u);
  EXPECT_EQ(ca.key_id, octets(X509_get0_subject_key_id(ca.cert.get())));
  EXPECT_EQ(ca.not_after, time_of(X509_get0_notAfter(ca.cert.get())));
  EXPECT_EQ(ca.not_before, time_of(X509_get0_notBefore(ca.cert.get())));
}

TEST_F(CaStore, ReloadsTheExistingCa) {
  const auto first = create();
  const std::string cert_text = read_file(cert());
  const std::string key_text = read_file(key());
  auto second = load_or_create_ca(dir(), true);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->fingerprint, first.fingerprint);
  auto third = load_or_create_ca(dir(), false);
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_EQ(third->fingerprint, first.fingerprint);
  EXPECT_EQ(read_file(cert()), cert_text);
  EXPECT_EQ(read_file(key()), key_text);
}

TEST_F(CaStore, AbsentWithoutCreateIsReportedAndNothingIsCreated) {
  auto ca = load_or_create_ca(dir(), false);
  ASSERT_FALSE(ca.ok());
  EXPECT_EQ(ca.error().code, "ca_absent");
  EXPECT_EQ(ca.error().message,
            "no CA at " + cert().string() + " (run \"netfence ca init\" to create one)");
  EXPECT_FALSE(fs::exists(dir().parent_path()));
}

TEST_F(CaStore, ExistingProxyDirectoryIsUsedAsItIs) {
  fs::create_directories(dir());
  ::chmod(dir().c_str(), 0755);
  create();
  EXPECT_EQ(mode_of(dir()), 0755u);
}

// --- refusals (exact texts of §10.3) ---

TEST_F(CaStore, RefusesASymlinkKey) {
  create();
  fs::rename(key(), dir() / "real.key");
  fs::create_symlink(dir() / "real.key", key());
  EXPECT_EQ(load_error(), "refusing CA key " + key().string() + ": it is a symlink");
  // A dangling symlink is refused the same way, not treated as absent.
  fs::remove(dir() / "real.key");
  EXPECT_EQ(load_error(), "refusing CA key " + key().string() + ": it is a symlink");
}

TEST_F(CaStore, RefusesADirectoryAsKey) {
  create();
  fs::remove(key());
  fs::create_directory(key());
  EXPECT_EQ(load_error(), "refusing CA key " + key().string() + ": not a regular file");
}

TEST_F(CaStore, RefusesAFifoAsKeyWithoutBlocking) {
  create();
  fs::remove(key());
  ASSERT_EQ(::mkfifo(key().c_str(), 0600), 0);
  EXPECT_EQ(load_error(), "refusing CA key " + key().string() + ": not a regular file");
}

TEST_F(CaStore, RefusesAGroupOrWorldAccessibleKey) {
  create();
  for (mode_t mode : {0640, 0604, 0660, 0700, 0610}) {
    ::chmod(key().c_str(), mode);
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    if ((mode & 077) == 0) {
      EXPECT_EQ(load_error(), "<loaded>") << octal;
    } else {
      EXPECT_EQ(load_error(), "refusing CA key " + key().string() + ": mode " + octal +
                                  " is group/world accessible (expected 0600 or stricter)");
    }
  }
  ::chmod(key().c_str(), 0400);
  EXPECT_EQ(load_error(), "<loaded>");
}

TEST_F(CaStore, RefusesAKeyOwnedBySomeoneElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  create();
  ASSERT_EQ(::chown(key().c_str(), 65534, 65534), 0);
  EXPECT_EQ(load_error(),
            "refusing CA key " + key().string() + ": owned by uid 65534, not by the current user");
}

TEST_F(CaStore, RefusesACertificateWithoutKey) {
  create();
  fs::remove(key());
  const std::string msg = "CA files must both exist or both be absent (cert=" + cert().string() +
                          ", key=" + key().string() + ")";
  EXPECT_EQ(load_error(), msg);
  auto no_create = load_or_create_ca(dir(), false);
  ASSERT_FALSE(no_create.ok());
  EXPECT_EQ(no_create.error().message, msg);
}

TEST_F(CaStore, RefusesAnOldKeyWithoutCertificateAtOnce) {
  create();
  fs::remove(cert());
  backdate(key());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(load_error(), "CA files must both exist or both be absent (cert=" + cert().string() +
                              ", key=" + key().string() + ")");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(CaStore, RefusesAFreshKeyWithoutCertificateAfterWaiting) {
  create();
  fs::remove(cert());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(load_error(), "CA files must both exist or both be absent (cert=" + cert().string() +
                              ", key=" + key().string() + ")");
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 1900ms);
  EXPECT_LT(waited, 10s);
}

TEST_F(CaStore, WaitsForTheCertificateOfACaBeingCreated) {
  // Another process has placed its key and is about to place the certificate.
  const auto ca = create();
  const std::string cert_text = read_file(cert());
  fs::remove(cert());
  std::thread writer([&] {
    std::this_thread::sleep_for(200ms);
    write_file(dir() / "tmp.pem", cert_text);
    fs::rename(dir() / "tmp.pem", cert());
  });
  auto loaded = load_or_create_ca(dir(), true);
  writer.join();
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_FALSE(loaded->created);
  EXPECT_EQ(loaded->fingerprint, ca.fingerprint);
}

TEST_F(CaStore, RefusesACertificateOfAnotherKey) {
  create();
  TempDir other;
  auto b = load_or_create_ca(other.path() / "proxy", true);
  ASSERT_TRUE(b.ok());
  fs::copy_file(other.path() / "proxy" / "ca.pem", cert(), fs::copy_options::overwrite_existing);
  EXPECT_EQ(load_error(), "CA certificate " + cert().string() + " does not match its key");
}

TEST_F(CaStore, RefusesANonCaCertificate) {
  PkeyPtr k = make_ec_key("P-256");
  X509Ptr leaf = make_self_signed(k.get(), {.ca = false, .key_cert_sign = false});
  install(k.get(), leaf.get());
  EXPECT_EQ(load_error(), "CA certificate " + cert().string() + " is not a CA");
  // CA:TRUE but a keyUsage without keyCertSign cannot sign leaves either.
  X509Ptr no_sign = make_self_signed(k.get(), {.ca = true, .key_cert_sign = false});
  write_cert(cert(), no_sign.get());
  EXPECT_EQ(load_error(), "CA certificate " + cert().string() + " is not a CA");
}

TEST_F(CaStore, RefusesACertificateValidForLessThanOneMoreDay) {
  PkeyPtr k = make_ec_key("P-256");
  X509Ptr soon = make_self_signed(k.get(), {.not_after = 12h});
  install(k.get(), soon.get());
  EXPECT_EQ(load_error(), "CA certificate " + cert().string() + " has expired");
  X509Ptr past = make_self_signed(k.get(), {.not_before = -48h, .not_after = -24h});
  write_cert(cert(), past.get());
  EXPECT_EQ(load_error(), "CA certificate " + cert().string() + " has expired");
  X509Ptr enough = make_self_signed(k.get(), {.not_after = 25h});
  write_cert(cert(), enough.get());
  EXPECT_EQ(load_error(), "<loaded>");
}

TEST_F(CaStore, AcceptsP384AndRsa2048Cas) {
  for (auto make : {+[] { return make_ec_key("P-384"); }, +[] { return make_rsa_key(2048); },
                    +[] { return make_ec_key("P-256"); }}) {
    PkeyPtr k = make();
    X509Ptr c = make_self_signed(k.get());
    install(k.get(), c.get());
    auto ca = load_or_create_ca(dir(), false);
    ASSERT_TRUE(ca.ok()) << ca.error().message;
    EXPECT_FALSE(ca->created);
    EXPECT_EQ(EVP_PKEY_eq(ca->key.get(), k.get()), 1);
  }
}

TEST_F(CaStore, AcceptsATraditionalSec1Key) {
  PkeyPtr k = make_ec_key("P-256");
  X509Ptr c = make_self_signed(k.get());
  fs::create_directories(dir());
  write_key(key(), k.get(), 0600, /*traditional=*/true);
  write_cert(cert(), c.get());
  ASSERT_EQ(read_file(key()).rfind("-----BEGIN EC PRIVATE KEY-----", 0), 0u);
  EXPECT_EQ(load_error(), "<loaded>");
}

TEST_F(CaStore, RefusesWeakOrUnsupportedKeys) {
  const std::string msg =
      "CA key " + key().string() + " is not ECDSA P-256/P-384 or RSA of at least 2048 bits";
  PkeyPtr rsa = make_rsa_key(1024);
  X509Ptr rc = make_self_signed(rsa.get());
  install(rsa.get(), rc.get());
  EXPECT_EQ(load_error(), msg);
  PkeyPtr ed = make_ed25519_key();
  X509Ptr ec = make_self_signed(ed.get());
  install(ed.get(), ec.get());
  EXPECT_EQ(load_error(), msg);
  PkeyPtr k521 = make_ec_key("P-521");
  X509Ptr c521 = make_self_signed(k521.get());
  install(k521.get(), c521.get());
  EXPECT_EQ(load_error(), msg);
}

TEST_F(CaStore, RefusesAnEncryptedKeyWithoutPrompting) {
  PkeyPtr k = make_ec_key("P-256");
  X509Ptr c = make_self_signed(k.get());
  fs::create_directories(dir());
  write_key(key(), k.get(), 0600, false, /*encrypted=*/true);
  write_cert(cert(), c.get());
  EXPECT_EQ(load_error(), "CA key " + key().string() + " is not an unencrypted PEM private key");
}

TEST_F(CaStore, RefusesGarbage) {
  create();
  write_file(cert(), "not a certificate\n");
  EXPECT_EQ(load_error(), "CA certificate " + cert().string() + " is not a PEM certificate");
  write_file(key(), "not a key\n");
  EXPECT_EQ(load_error(), "CA key " + key().string() + " is not an unencrypted PEM private key");
}

TEST_F(CaStore, GeneratedCasAreIndependent) {
  auto a = generate_ca(Clock::now());
  auto b = generate_ca(Clock::now());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->fingerprint, b->fingerprint);
  EXPECT_NE(a->key_id, b->key_id);
  EXPECT_TRUE(a->cert_path.empty());
  EXPECT_FALSE(a->created);
}

// --- concurrency: one CA whoever wins ---

TEST_F(CaStore, ConcurrentThreadsCreateOneCa) {
  for (int round = 0; round < 5; ++round) {
    const fs::path d = tmp_.path() / ("round" + std::to_string(round)) / "proxy";
    constexpr int kThreads = 6;
    std::latch start(kThreads);
    std::vector<std::optional<CaMaterial>> results(kThreads);
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        auto ca = load_or_create_ca(d, true);
        if (ca.ok()) {
          results[i] = std::move(ca.value());
        } else {
          errors[i] = ca.error().message;
        }
      });
    }
    for (auto& t : threads) t.join();
    int created = 0;
    for (int i = 0; i < kThreads; ++i) {
      ASSERT_TRUE(results[i].has_value()) << errors[i];
      EXPECT_EQ(results[i]->fingerprint, results[0]->fingerprint);
      created += results[i]->created ? 1 : 0;
    }
    EXPECT_EQ(created, 1);
    auto on_disk = load_or_create_ca(d, false);
    ASSERT_TRUE(on_disk.ok());
    EXPECT_EQ(on_disk->fingerprint, results[0]->fingerprint);
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(d)) ++entries;
    EXPECT_EQ(entries, 2u);
  }
}

TEST_F(CaStore, ConcurrentProcessesCreateOneCa) {
  constexpr int kChildren = 4;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<std::pair<pid_t, int>> children;
  for (int i = 0; i < kChildren; ++i) {
    int result[2];
    ASSERT_EQ(::pipe(result), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(go[1]);
      ::close(result[0]);
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(3);
      auto ca = load_or_create_ca(dir(), true);
      const std::string line = ca.ok()
                                   ? std::string(ca->created ? "C" : "L") + ca->fingerprint_hex()
                                   : "E" + ca.error().message;
      const bool ok =
          ::write(result[1], line.data(), line.size()) == static_cast<ssize_t>(line.size());
      ::_exit(ok ? 0 : 4);
    }
    ::close(result[1]);
    children.emplace_back(pid, result[0]);
  }
  ::close(go[0]);
  const char start[kChildren] = {};
  ASSERT_EQ(::write(go[1], start, kChildren), kChildren);
  ::close(go[1]);
  std::set<std::string> fingerprints;
  int created = 0;
  for (auto [pid, fd] : children) {
    std::string line;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) line.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_FALSE(line.empty());
    ASSERT_NE(line[0], 'E') << line;
    created += line[0] == 'C' ? 1 : 0;
    fingerprints.insert(line.substr(1));
  }
  EXPECT_EQ(created, 1);
  ASSERT_EQ(fingerprints.size(), 1u);
  auto on_disk = load_or_create_ca(dir(), false);
  ASSERT_TRUE(on_disk.ok()) << on_disk.error().message;
  EXPECT_EQ(on_disk->fingerprint_hex(), *fingerprints.begin());
}

// --- state home (§3.1) ---

class StateHome : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* n : {"NETFENCE_HOME", "CODEX_HOME", "HOME"}) {
      const char* v = std::getenv(n);
      saved_.emplace_back(n, v ? std::optional<std::string>(v) : std::nullopt);
    }
  }
  void TearDown() override {
    for (const auto& [n, v] : saved_) {
      if (v) {
        ::setenv(n.c_str(), v->c_str(), 1);
      } else {
        ::unsetenv(n.c_str());
      }
    }
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST_F(StateHome, NetfenceHomeThenCodexHomeThenDotCodex) {
  ::setenv("HOME", "/home/u", 1);
  ::setenv("CODEX_HOME", "/codex", 1);
  ::setenv("NETFENCE_HOME", "/nf", 1);
  EXPECT_EQ(state_home(), fs::path("/nf"));
  ::setenv("NETFENCE_HOME", "", 1);  // empty counts as unset
  EXPECT_EQ(state_home(), fs::path("/codex"));
  ::unsetenv("NETFENCE_HOME");
  EXPECT_EQ(state_home(), fs::path("/codex"));
  ::setenv("CODEX_HOME", "", 1);
  EXPECT_EQ(state_home(), fs::path("/home/u/.codex"));
  ::unsetenv("CODEX_HOME");
  EXPECT_EQ(state_home(), fs::path("/home/u/.codex"));
  EXPECT_EQ(proxy_dir(state_home()), fs::path("/home/u/.codex/proxy"));
}

TEST_F(StateHome, RelativeHomeIsMadeAbsolute) {
  ::setenv("NETFENCE_HOME", "rel/home", 1);
  EXPECT_EQ(state_home(), fs::current_path() / "rel/home");
}

}  // namespace
}  // namespace netfence::mitm
