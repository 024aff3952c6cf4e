// The CA bundle for clients (SPEC §17): system roots followed by the netfence CA, rewritten only
// when older than either source.
#include "mitm/trust_bundle.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "mitm/trust_bundle.hpp"  // self-contained header
#include "mitm_test_util.hpp"

namespace netfence::mitm {
namespace {

using namespace testing;

timespec mtime(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mtim;
}

void set_mtime(const fs::path& p, std::time_t t) {
  timespec times[2] = {{t, 0}, {t, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
}

class Bundle : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = load_or_create_ca(tmp_.path() / "proxy", true);
    ASSERT_TRUE(ca.ok()) << ca.error().message;
    ca_ = std::make_unique<CaMaterial>(std::move(ca.value()));
  }
  TempDir tmp_;
  std::unique_ptr<CaMaterial> ca_;
};

TEST_F(Bundle, RootsThenCa) {
  const fs::path roots = tmp_.path() / "roots.pem";
  write_file(roots, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----");
  auto b = build_ca_bundle(*ca_, roots);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->pem, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" +
                        read_file(ca_->cert_path));
  EXPECT_EQ(b->roots, roots);
}

TEST_F(Bundle, WithoutRootsOnlyTheCa) {
  auto b = build_ca_bundle(*ca_, std::nullopt);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->pem, read_file(ca_->cert_path));
  EXPECT_FALSE(b->roots.has_value());
}

TEST_F(Bundle, UnreadableRootsAreAnError) {
  auto b = build_ca_bundle(*ca_, tmp_.path() / "missing.pem");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, "io");
}

TEST_F(Bundle, SystemRootsAreFoundOnThisMachine) {
  auto roots = system_roots_file();
  if (!roots) GTEST_SKIP() << "no system root store (ca-certificates not installed)";
  EXPECT_TRUE(fs::is_regular_file(*roots));
  EXPECT_NE(read_file(*roots).find("-----BEGIN CERTIFICATE-----"), std::string::npos);
}

TEST_F(Bundle, RefreshWritesOnlyWhenOlderThanASource) {
  const fs::path bundle = tmp_.path() / "proxy" / "ca-bundle.pem";
  auto first = refresh_ca_bundle(*ca_, bundle);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->rewritten);
  EXPECT_EQ(mode_of(bundle), 0644u);
  auto expected = build_ca_bundle(*ca_, system_roots_file());
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(read_file(bundle), expected->pem);
  EXPECT_EQ(first->roots, system_roots_file());

  auto second = refresh_ca_bundle(*ca_, bundle);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->rewritten);

  // A bundle older than the CA certificate is rewritten.
  write_file(bundle, "stale");
  set_mtime(bundle, ::time(nullptr) - 3600);
  set_mtime(ca_->cert_path, ::time(nullptr) - 60);
  auto third = refresh_ca_bundle(*ca_, bundle);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->rewritten);
  EXPECT_EQ(read_file(bundle), expected->pem);
  const auto t = mtime(bundle);
  EXPECT_GE(t.tv_sec, ::time(nullptr) - 5);

  // Older than the system roots: rewritten too.
  if (auto roots = system_roots_file()) {
    write_file(bundle, "stale");
    set_mtime(bundle, mtime(*roots).tv_sec - 1);
    set_mtime(ca_->cert_path, mtime(*roots).tv_sec - 2);
    auto fourth = refresh_ca_bundle(*ca_, bundle);
    ASSERT_TRUE(fourth.ok());
    EXPECT_TRUE(fourth->rewritten);
    EXPECT_EQ(read_file(bundle), expected->pem);
  }
}

}  // namespace
}  // namespace netfence::mitm
