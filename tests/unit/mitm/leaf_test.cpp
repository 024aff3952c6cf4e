// Leaf minting (SPEC §10.4): every field, the CN rule, IP SANs, chain verification, a real TLS
// handshake with the minted pair, and the LRU cache (eviction, refresh, CA change, threads).
#include "mitm/leaf.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <thread>

#include "mitm/leaf.hpp"  // self-contained header
#include "mitm_test_util.hpp"

namespace netfence::mitm {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

std::shared_ptr<const CaMaterial> new_ca() {
  auto ca = generate_ca(Clock::now());
  if (!ca.ok()) throw std::runtime_error(ca.error().message);
  return std::make_shared<const CaMaterial>(std::move(ca.value()));
}

// A CA from hand-made parts (other key types, short validity).
std::shared_ptr<const CaMaterial> custom_ca(PkeyPtr key, const CertSpec& spec) {
  X509Ptr cert = make_self_signed(key.get(), spec);
  return std::make_shared<const CaMaterial>(make_ca_material(std::move(cert), std::move(key)));
}

std::unique_ptr<LeafMinter> new_minter(std::shared_ptr<const CaMaterial> ca,
                                       LeafMinterOptions options = {}) {
  auto m = LeafMinter::create(std::move(ca), std::move(options));
  if (!m.ok()) throw std::runtime_error(m.error().message);
  return std::move(m.value());
}

struct San {
  int type = -1;
  std::string value;  // dNSName text, or the raw address octets
};

std::vector<San> sans(X509* x) {
  std::vector<San> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    int type = 0;
    auto* v = static_cast<ASN1_STRING*>(GENERAL_NAME_get0_value(g, &type));
    out.push_back({type, std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                                     static_cast<std::size_t>(ASN1_STRING_length(v)))});
  }
  GENERAL_NAMES_free(names);
  return out;
}

class Leaf : public ::testing::Test {
 protected:
  std::shared_ptr<const CaMaterial> ca_ = new_ca();
  std::unique_ptr<LeafMinter> minter_ = new_minter(ca_);

  std::shared_ptr<const LeafCertificate> mint(const std::string& host, bool ip = false) {
    auto leaf = minter_->mint(host, ip);
    if (!leaf.ok()) throw std::runtime_error(leaf.error().message);
    return leaf.value();
  }
};

TEST_F(Leaf, NameCertificateHasExactlyTheSpecFields) {
  const auto before = Clock::now();
  const auto leaf = mint("api.example.com");
  X509* x = leaf->x509();
  ASSERT_NE(x, nullptr);

  EXPECT_EQ(X509_get_version(x), X509_VERSION_3);
  EXPECT_EQ(serial_bits(x), 128);
  EXPECT_FALSE(serial_negative(x));
  EXPECT_EQ(name_entries(X509_get_subject_name(x)), std::vector<std::string>{"CN=api.example.com"});
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca_->cert.get())), 0);

  const auto nb = time_of(X509_get0_notBefore(x));
  const auto na = time_of(X509_get0_notAfter(x));
  EXPECT_LE(nb, before - 24h + 2s);
  EXPECT_GE(nb, before - 24h - 60s);
  EXPECT_EQ(na - nb, std::chrono::hours(24 * 91));  // now + 90 days
  EXPECT_EQ(leaf->not_before, nb);
  EXPECT_EQ(leaf->not_after, na);

  // SAN dNSName, not critical while the subject carries the name.
  auto names = sans(x);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].type, GEN_DNS);
  EXPECT_EQ(names[0].value, "api.example.com");
  EXPECT_EQ(ext_critical(x, NID_subject_alt_name), 0);

  // Exactly: SAN, basicConstraints, keyUsage, EKU, SKI, AKI.
  EXPECT_EQ(ext_count(x), 6u);
  int crit = -1;
  auto* bc =
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x, NID_basic_constraints, &crit, nullptr));
  ASSERT_NE(bc, nullptr);
  EXPECT_EQ(bc->ca, 0);
  EXPECT_EQ(bc->pathlen, nullptr);
  EXPECT_EQ(crit, 0);
  BASIC_CONSTRAINTS_free(bc);
  EXPECT_EQ(X509_check_ca(x), 0);

  EXPECT_EQ(ext_critical(x, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(x), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(ext_critical(x, NID_ext_key_usage), 0);
  EXPECT_EQ(X509_get_extended_key_usage(x), static_cast<std::uint32_t>(XKU_SSL_SERVER));

  EXPECT_EQ(octets(X509_get0_subject_key_id(x)), pubkey_sha1(x));
  EXPECT_EQ(octets(X509_get0_authority_key_id(x)),
            octets(X509_get0_subject_key_id(ca_->cert.get())));
  EXPECT_EQ(octets(X509_get0_authority_key_id(x)), ca_->key_id);
  EXPECT_EQ(X509_get0_authority_issuer(x), nullptr);
  EXPECT_EQ(X509_get0_authority_serial(x), nullptr);

  EXPECT_EQ(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
  EXPECT_EQ(leaf->host, "api.example.com");
  EXPECT_EQ(leaf->ca, ca_);
}

TEST_F(Leaf, KeyIsOneInMemoryP256KeyPerMinter) {
  const auto a = mint("a.example");
  const auto b = mint("b.example");
  EXPECT_EQ(a->pkey(), minter_->leaf_key());
  EXPECT_EQ(b->pkey(), minter_->leaf_key());
  EXPECT_EQ(EVP_PKEY_get_base_id(a->pkey()), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(a->pkey()), 256);
  EXPECT_EQ(X509_check_private_key(a->x509(), a->pkey()), 1);
  PkeyPtr pub(X509_get_pubkey(b->x509()));
  EXPECT_EQ(EVP_PKEY_eq(pub.get(), minter_->leaf_key()), 1);
  // Serials are random.
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a->x509()), X509_get0_serialNumber(b->x509())),
            0);
  // Another minter (another process) has another key.
  auto other = new_minter(ca_);
  EXPECT_NE(EVP_PKEY_eq(other->leaf_key(), minter_->leaf_key()), 1);
}

TEST_F(Leaf, VerifiesAgainstTheCaForItsHostOnly) {
  const auto leaf = mint("api.example.com");
  EXPECT_EQ(verify_leaf(leaf->x509(), ca_->cert.get(), "api.example.com", false), X509_V_OK);
  EXPECT_EQ(verify_leaf(leaf->x509(), ca_->cert.get(), "API.Example.COM", false), X509_V_OK);
  EXPECT_EQ(verify_leaf(leaf->x509(), ca_->cert.get(), "other.example.com", false),
            X509_V_ERR_HOSTNAME_MISMATCH);
  auto stranger = new_ca();
  EXPECT_EQ(verify_leaf(leaf->x509(), stranger->cert.get(), "api.example.com", false),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(Leaf, LongNamesGetAnEmptySubjectAndACriticalSan) {
  // 58 + 12 = 70 octets: over the 64-octet limit of a CN.
  const std::string long_name = std::string(58, 'a') + ".example.com";
  ASSERT_EQ(long_name.size(), 70u);
  const auto leaf = mint(long_name);
  X509* x = leaf->x509();
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
  EXPECT_EQ(ext_critical(x, NID_subject_alt_name), 1);
  auto names = sans(x);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].value, long_name);
  EXPECT_EQ(verify_leaf(x, ca_->cert.get(), long_name, false), X509_V_OK);

  // The boundary: 64 octets still gets a CN; 65 does not.
  const std::string n64 = std::string(52, 'b') + ".example.com";
  ASSERT_EQ(n64.size(), 64u);
  const auto l64 = mint(n64);
  EXPECT_EQ(name_entries(X509_get_subject_name(l64->x509())),
            std::vector<std::string>{"CN=" + n64});
  EXPECT_EQ(ext_critical(l64->x509(), NID_subject_alt_name), 0);
  const auto l65 = mint("c" + n64);
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(l65->x509())), 0);
  EXPECT_EQ(ext_critical(l65->x509(), NID_subject_alt_name), 1);
}

TEST_F(Leaf, IpLiteralsGetAnIpAddressSan) {
  const auto v4 = mint("127.0.0.1", true);
  auto n4 = sans(v4->x509());
  ASSERT_EQ(n4.size(), 1u);
  EXPECT_EQ(n4[0].type, GEN_IPADD);
  EXPECT_EQ(n4[0].value, std::string("\x7f\x00\x00\x01", 4));
  EXPECT_EQ(name_entries(X509_get_subject_name(v4->x509())),
            std::vector<std::string>{"CN=127.0.0.1"});
  EXPECT_EQ(verify_leaf(v4->x509(), ca_->cert.get(), "127.0.0.1", true), X509_V_OK);
  EXPECT_EQ(verify_leaf(v4->x509(), ca_->cert.get(), "127.0.0.2", true),
            X509_V_ERR_IP_ADDRESS_MISMATCH);

  const auto v6 = mint("::1", true);
  auto n6 = sans(v6->x509());
  ASSERT_EQ(n6.size(), 1u);
  EXPECT_EQ(n6[0].type, GEN_IPADD);
  EXPECT_EQ(n6[0].value, std::string(15, '\0') + '\x01');
  EXPECT_EQ(name_entries(X509_get_subject_name(v6->x509())), std::vector<std::string>{"CN=::1"});
  EXPECT_EQ(verify_leaf(v6->x509(), ca_->cert.get(), "::1", true), X509_V_OK);

  // A zone is local to this host: the certificate names the address alone.
  const auto zoned = mint("fe80::1%eth0", true);
  auto nz = sans(zoned->x509());
  ASSERT_EQ(nz.size(), 1u);
  EXPECT_EQ(nz[0].value, std::string("\xfe\x80", 2) + std::string(13, '\0') + '\x01');
  EXPECT_EQ(name_entries(X509_get_subject_name(zoned->x509())),
            std::vector<std::string>{"CN=fe80::1"});
  EXPECT_EQ(zoned->host, "fe80::1%eth0");
}

TEST_F(Leaf, RefusesTextThatIsNotAHostOfTheGivenKind) {
  for (auto [host, ip] :
       std::vector<std::pair<std::string, bool>>{{"example.com", true},
                                                 {"300.1.1.1", true},
                                                 {"", false},
                                                 {"ex ample.com", false},
                                                 {"a,DNS:evil.com", false},
                                                 {"é.example", false},
                                                 {".example.com", false},
                                                 {std::string(254, 'a'), false}}) {
    auto leaf = minter_->mint(host, ip);
    ASSERT_FALSE(leaf.ok()) << host;
    EXPECT_EQ(leaf.error().code, "invalid_host");
  }
}

TEST_F(Leaf, ValidityEndsWithTheCa) {
  auto short_ca = custom_ca(make_ec_key("P-256"), {.not_after = std::chrono::hours(24 * 30)});
  auto m = new_minter(short_ca);
  auto leaf = m->mint("example.com", false);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(time_of(X509_get0_notAfter(leaf.value()->x509())), short_ca->not_after);
  EXPECT_EQ(verify_leaf(leaf.value()->x509(), short_ca->cert.get(), "example.com", false),
            X509_V_OK);
}

TEST_F(Leaf, RsaAndP384CasSignWithSha256) {
  auto rsa = custom_ca(make_rsa_key(2048), {});
  auto leaf = new_minter(rsa)->mint("example.com", false);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(X509_get_signature_nid(leaf.value()->x509()), NID_sha256WithRSAEncryption);
  EXPECT_EQ(verify_leaf(leaf.value()->x509(), rsa->cert.get(), "example.com", false), X509_V_OK);
  auto p384 = custom_ca(make_ec_key("P-384"), {});
  auto l384 = new_minter(p384)->mint("example.com", false);
  ASSERT_TRUE(l384.ok());
  EXPECT_EQ(X509_get_signature_nid(l384.value()->x509()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(verify_leaf(l384.value()->x509(), p384->cert.get(), "example.com", false), X509_V_OK);
}

TEST_F(Leaf, CaWithoutSkiGivesTheHashOfItsKeyAsAki) {
  auto no_ski = custom_ca(make_ec_key("P-256"), {.ski = false});
  ASSERT_EQ(X509_get0_subject_key_id(no_ski->cert.get()), nullptr);
  EXPECT_EQ(no_ski->key_id, pubkey_sha1(no_ski->cert.get()));
  auto leaf = new_minter(no_ski)->mint("example.com", false);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(octets(X509_get0_authority_key_id(leaf.value()->x509())), no_ski->key_id);
  EXPECT_EQ(verify_leaf(leaf.value()->x509(), no_ski->cert.get(), "example.com", false), X509_V_OK);
}

// Drives a TLS handshake over a BIO pair: server with the minted pair, client trusting only
// the CA and checking the host name. Returns the negotiated version or "" on failure.
std::string handshake(const LeafCertificate& leaf, X509* ca, const std::string& host, int version) {
  SSL_CTX* sctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(sctx, version);
  SSL_CTX_set_max_proto_version(sctx, version);
  EXPECT_EQ(SSL_CTX_use_certificate(sctx, leaf.x509()), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey(sctx, leaf.pkey()), 1);
  EXPECT_EQ(SSL_CTX_check_private_key(sctx), 1);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, nullptr);
  SSL* s = SSL_new(sctx);
  SSL* c = SSL_new(cctx);
  SSL_set1_host(c, host.c_str());
  SSL_set_tlsext_host_name(c, host.c_str());
  BIO *sb = nullptr, *cb = nullptr;
  BIO_new_bio_pair(&sb, 0, &cb, 0);
  SSL_set_bio(s, sb, sb);
  SSL_set_bio(c, cb, cb);
  SSL_set_accept_state(s);
  SSL_set_connect_state(c);
  bool s_done = false, c_done = false, failed = false;
  for (int i = 0; i < 100 && !(s_done && c_done) && !failed; ++i) {
    for (auto [ssl, done] : {std::pair{c, &c_done}, std::pair{s, &s_done}}) {
      if (*done) continue;
      const int r = SSL_do_handshake(ssl);
      if (r == 1) {
        *done = true;
      } else {
        const int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) failed = true;
      }
    }
  }
  std::string out =
      s_done && c_done && SSL_get_verify_result(c) == X509_V_OK ? SSL_get_version(c) : "";
  SSL_free(s);
  SSL_free(c);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  ERR_clear_error();
  return out;
}

TEST_F(Leaf, MintedPairServesTls12AndTls13) {
  auto leaf = minter_->get("api.example.com", false);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(handshake(*leaf.value(), ca_->cert.get(), "api.example.com", TLS1_3_VERSION),
            "TLSv1.3");
  EXPECT_EQ(handshake(*leaf.value(), ca_->cert.get(), "api.example.com", TLS1_2_VERSION),
            "TLSv1.2");
  EXPECT_EQ(handshake(*leaf.value(), ca_->cert.get(), "evil.example.com", TLS1_3_VERSION), "");
}

// --- the cache ---

TEST_F(Leaf, CacheAnswersRepeatedHostsWithTheSameLeaf) {
  auto a = minter_->get("example.com", false);
  auto b = minter_->get("example.com", false);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.value(), b.value());
  core::CanonicalHost h{"example.com", core::HostKind::name, std::nullopt, ""};
  auto c = minter_->get(h);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value(), a.value());
  auto ip = minter_->get(core::CanonicalHost{"10.1.2.3", core::HostKind::ipv4, std::nullopt, ""});
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(sans(ip.value()->x509())[0].type, GEN_IPADD);
  const auto s = minter_->stats();
  EXPECT_EQ(s.mints, 2u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(minter_->cache_size(), 2u);
  auto bad = minter_->get("bad host", false);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(minter_->cache_size(), 2u);
}

TEST_F(Leaf, CacheEvictsTheLeastRecentlyUsed) {
  auto m = new_minter(ca_, {.cache_capacity = 3});
  auto get = [&](const std::string& h) { return m->get(h, false).value(); };
  auto a = get("a.test");
  auto b = get("b.test");
  auto c = get("c.test");
  EXPECT_EQ(get("a.test"), a);  // a is now the most recent; b the least
  auto d = get("d.test");
  EXPECT_EQ(m->cache_size(), 3u);
  EXPECT_EQ(m->stats().evictions, 1u);
  EXPECT_EQ(get("a.test"), a);
  EXPECT_EQ(get("c.test"), c);
  EXPECT_EQ(get("d.test"), d);
  auto b2 = get("b.test");  // evicted: minted again (and a, least recent now, goes)
  EXPECT_NE(b2, b);
  EXPECT_EQ(m->stats().evictions, 2u);
  EXPECT_NE(get("a.test"), a);
  // Handed-out leaves stay valid after eviction.
  EXPECT_EQ(verify_leaf(b->x509(), ca_->cert.get(), "b.test", false), X509_V_OK);
}

TEST_F(Leaf, DefaultCacheHolds1024Leaves) {
  EXPECT_EQ(minter_->cache_capacity(), 1024u);
  for (int i = 0; i < 1030; ++i) {
    ASSERT_TRUE(minter_->get("h" + std::to_string(i) + ".test", false).ok());
  }
  EXPECT_EQ(minter_->cache_size(), 1024u);
  EXPECT_EQ(minter_->stats().evictions, 6u);
  const auto mints = minter_->stats().mints;
  ASSERT_TRUE(minter_->get("h1029.test", false).ok());
  ASSERT_TRUE(minter_->get("h6.test", false).ok());
  EXPECT_EQ(minter_->stats().mints, mints);  // both still cached
  ASSERT_TRUE(minter_->get("h0.test", false).ok());
  EXPECT_EQ(minter_->stats().mints, mints + 1);  // h0 was evicted first
}

TEST_F(Leaf, CaChangeReMints) {
  auto first = minter_->get("example.com", false).value();
  auto other = new_ca();
  minter_->set_ca(other);
  EXPECT_EQ(minter_->ca(), other);
  auto second = minter_->get("example.com", false).value();
  EXPECT_NE(second, first);
  EXPECT_EQ(second->ca, other);
  EXPECT_EQ(octets(X509_get0_authority_key_id(second->x509())), other->key_id);
  EXPECT_EQ(verify_leaf(second->x509(), other->cert.get(), "example.com", false), X509_V_OK);
  EXPECT_NE(verify_leaf(second->x509(), ca_->cert.get(), "example.com", false), X509_V_OK);
  EXPECT_EQ(minter_->cache_size(), 1u);

  // The same CA loaded again (another CaMaterial, same fingerprint) keeps the cache.
  auto again = std::make_shared<const CaMaterial>(
      make_ca_material(share(other->cert.get()), share(other->key.get())));
  minter_->set_ca(again);
  EXPECT_EQ(minter_->get("example.com", false).value(), second);
}

TEST_F(Leaf, ReMintsWhenLessThanOneDayRemains) {
  // Whole seconds, like the certificate times.
  std::atomic<Clock::rep> now{
      std::chrono::duration_cast<Clock::duration>(
          std::chrono::time_point_cast<std::chrono::seconds>(Clock::now()).time_since_epoch())
          .count()};
  auto clock = [&now] { return Clock::time_point(Clock::duration(now.load())); };
  auto m = new_minter(ca_, {.clock = clock});
  auto advance = [&now](auto d) { now += std::chrono::duration_cast<Clock::duration>(d).count(); };
  auto first = m->get("example.com", false).value();
  EXPECT_EQ(first->not_after - clock(), std::chrono::hours(24 * 90));
  advance(std::chrono::hours(24 * 88));  // 2 days left
  EXPECT_EQ(m->get("example.com", false).value(), first);
  advance(std::chrono::hours(24) + 1s);  // 23:59:59 left
  auto second = m->get("example.com", false).value();
  EXPECT_NE(second, first);
  EXPECT_EQ(second->not_after - clock(), std::chrono::hours(24 * 90));
  EXPECT_EQ(m->get("example.com", false).value(), second);
}

TEST_F(Leaf, ConcurrentGetsAreSafe) {
  auto m = new_minter(ca_, {.cache_capacity = 8});
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        const std::string host = "h" + std::to_string((i * 7 + t) % 16) + ".test";
        auto leaf = m->get(host, false);
        if (!leaf.ok()) {
          ++failed;
          continue;
        }
        auto names = sans(leaf.value()->x509());
        if (names.size() != 1 || names[0].value != host || leaf.value()->host != host) ++wrong;
        if (t == 0 && i == 75) m->set_ca(new_ca());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(m->cache_size(), 8u);
  const auto s = m->stats();
  EXPECT_EQ(s.hits + s.mints, 6u * 150u);
}

TEST(LeafMinterCreate, NeedsACa) {
  auto m = LeafMinter::create(nullptr);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, "ca");
}

}  // namespace
}  // namespace netfence::mitm
