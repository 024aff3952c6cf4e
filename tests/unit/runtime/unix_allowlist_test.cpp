// SPEC §11: header validation, lexical normalisation, and resolution at install time.
#include "runtime/unix_allowlist.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace netfence::runtime {
namespace {

namespace fs = std::filesystem;

TEST(UnixSocketHeader, Validation) {
  EXPECT_TRUE(valid_unix_socket_header("/var/run/docker.sock"));
  EXPECT_TRUE(valid_unix_socket_header("/tmp/caf\xc3\xa9.sock"));  // UTF-8 é
  EXPECT_TRUE(valid_unix_socket_header("/" + std::string(106, 'a')));  // 107 bytes: fits
  EXPECT_FALSE(valid_unix_socket_header("/" + std::string(107, 'a')));
  EXPECT_FALSE(valid_unix_socket_header(""));
  EXPECT_FALSE(valid_unix_socket_header("relative.sock"));
  EXPECT_FALSE(valid_unix_socket_header("@abstract"));
  EXPECT_FALSE(valid_unix_socket_header(std::string("/a\0b", 4)));
  EXPECT_FALSE(valid_unix_socket_header("/a\tb"));
  EXPECT_FALSE(valid_unix_socket_header("/a\x7f"));
  EXPECT_FALSE(valid_unix_socket_header("/a\xc2\x85"));      // C1 control (NEL)
  EXPECT_FALSE(valid_unix_socket_header("/a\xff"));          // not UTF-8
  EXPECT_FALSE(valid_unix_socket_header("/a\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(valid_unix_socket_header("/a\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(valid_unix_socket_header("/a\xe2\x82"));      // truncated
}

TEST(UnixSocketPath, LexicalNormalisation) {
  EXPECT_EQ(lexically_normal_unix_path("/tmp/x/../a.sock"), "/tmp/a.sock");
  EXPECT_EQ(lexically_normal_unix_path("//tmp///./a.sock"), "/tmp/a.sock");
  EXPECT_EQ(lexically_normal_unix_path("/../../etc/../a.sock"), "/a.sock");  // never above /
  EXPECT_EQ(lexically_normal_unix_path("/"), "/");
  EXPECT_EQ(lexically_normal_unix_path("/a/b/.."), "/a");
  EXPECT_EQ(lexically_normal_unix_path("/a/.../b"), "/a/.../b");
}

TEST(UnixAllowlist, ResolvedAtInstallTime) {
  const fs::path dir = fs::temp_directory_path() / ("nf-unix-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "real");
  std::ofstream(dir / "real" / "a.sock") << "";
  fs::create_symlink(dir / "real", dir / "link");

  Config cfg;
  cfg.allow_unix_sockets = {(dir / "link" / "a.sock").string(), (dir / "missing.sock").string()};
  const UnixAllowlist allow = UnixAllowlist::from(cfg);
  // The entry was resolved through the symlinked directory; requests through either spelling
  // reach the same file, and the connection goes to the resolved path.
  EXPECT_EQ(allow.admit((dir / "link" / "a.sock").string()), (dir / "real" / "a.sock").string());
  EXPECT_EQ(allow.admit((dir / "real" / "x" / ".." / "a.sock").string()),
            (dir / "real" / "a.sock").string());
  // An entry that did not exist counts in its lexical form.
  EXPECT_EQ(allow.admit((dir / "missing.sock").string()), (dir / "missing.sock").string());
  EXPECT_FALSE(allow.admit((dir / "other.sock").string()));

  // Re-pointing the directory link after install does not move the allowlist.
  fs::create_directories(dir / "evil");
  std::ofstream(dir / "evil" / "a.sock") << "";
  fs::remove(dir / "link");
  fs::create_symlink(dir / "evil", dir / "link");
  EXPECT_FALSE(allow.admit((dir / "link" / "a.sock").string()));

  Config all;
  all.dangerously_allow_all_unix_sockets = true;
  EXPECT_EQ(UnixAllowlist::from(all).admit("/nonexistent/x.sock"), "/nonexistent/x.sock");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace netfence::runtime
