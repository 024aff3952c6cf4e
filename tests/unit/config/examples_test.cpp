// File-based tests: the shipped example, the fixtures under tests/data/config, load_config()'s
// own I/O paths.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "config/listener.hpp"
#include "netfence/config.hpp"

namespace netfence {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const fs::path kSourceDir = NETFENCE_SOURCE_DIR;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ExampleConfig, LoadsWithoutWarnings) {
  const fs::path path = kSourceDir / "examples" / "config.toml";
  auto r = load_config(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = *r;
  EXPECT_THAT(c.warnings, IsEmpty());
  EXPECT_EQ(c.source_path, path);
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.mode, Mode::full);
  EXPECT_THAT(c.allowed_domains, ::testing::Contains("example.com"));
  EXPECT_THAT(c.allowed_domains, ::testing::Contains("*.github.com"));
  EXPECT_FALSE(c.denied_domains.empty());
  EXPECT_FALSE(c.unix_sockets_enabled());
  // No sink or secret switched on by the example.
  EXPECT_FALSE(c.audit.jsonl_path || c.audit.otlp_endpoint || c.admin_token || c.socks_password);

  auto plan = config::plan_listeners(c);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->http->to_string(), "127.0.0.1:3128");
  EXPECT_EQ(plan->socks5->to_string(), "127.0.0.1:8081");
  EXPECT_EQ(plan->admin->to_string(), "127.0.0.1:8080");
  EXPECT_THAT(plan->log, IsEmpty());
}

TEST(ExampleConfig, MentionsEveryKey) {
  const std::string text = read_file(kSourceDir / "examples" / "config.toml");
  for (const char* key : {"enabled",
                          "proxy_url",
                          "admin_url",
                          "enable_socks5",
                          "socks_url",
                          "enable_socks5_udp",
                          "allow_upstream_proxy",
                          "dangerously_allow_non_loopback_proxy",
                          "dangerously_allow_non_loopback_admin",
                          "mode",
                          "mitm",
                          "allowed_domains",
                          "denied_domains",
                          "allow_local_binding",
                          "allow_unix_sockets",
                          "dangerously_allow_all_unix_sockets",
                          "enable_admin",
                          "dns_timeout_ms",
                          "connect_timeout_ms",
                          "idle_timeout_s",
                          "max_connections",
                          "decider_timeout_ms",
                          "extra_ca_certs",
                          "dns_servers",
                          "dns_hosts",
                          "admin_token",
                          "socks_password",
                          "domains",
                          "unix_sockets",
                          "[network.audit]",
                          "jsonl_path",
                          "otlp_endpoint",
                          "otlp_headers",
                          "batch_size",
                          "batch_timeout_ms",
                          "queue_size",
                          "[network.audit_metadata]",
                          "conversation_id",
                          "app_version",
                          "user_account_id",
                          "auth_mode",
                          "originator",
                          "user_email",
                          "terminal_type",
                          "model",
                          "slug"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key;
  }
}

// Each tests/data/config/<name>.toml is checked against <name>.expected (see the README there).
TEST(Fixtures, MatchTheirExpectations) {
  const fs::path dir = kSourceDir / "tests" / "data" / "config";
  std::vector<fs::path> fixtures;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".toml") fixtures.push_back(entry.path());
  }
  std::sort(fixtures.begin(), fixtures.end());
  ASSERT_GE(fixtures.size(), 5U);

  for (const auto& toml : fixtures) {
    SCOPED_TRACE(toml.filename().string());
    fs::path expected_path = toml;
    expected_path.replace_extension(".expected");
    ASSERT_TRUE(fs::exists(expected_path));
    std::optional<std::string> expected_error;
    std::vector<std::string> expected_warnings;
    std::istringstream lines(read_file(expected_path));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("error: ", 0) == 0) {
        expected_error = line.substr(7);
      } else if (line.rfind("warning: ", 0) == 0) {
        expected_warnings.push_back(line.substr(9));
      } else if (!line.empty()) {
        ADD_FAILURE() << "bad line in " << expected_path << ": " << line;
      }
    }

    auto r = load_config_from_string(read_file(toml), "config.toml");
    if (expected_error) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, "config");
      EXPECT_EQ(r.error().message, *expected_error);
    } else {
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_EQ(r->warnings, expected_warnings);
    }
  }
}

TEST(Fixtures, AliasesMerge) {
  auto r = load_config(kSourceDir / "tests" / "data" / "config" / "aliases.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(r->allowed_domains, ElementsAre("example.com", "pypi.org"));
  EXPECT_THAT(r->denied_domains, ElementsAre("ads.example.com", "shared.example.org"));
  EXPECT_THAT(r->allow_unix_sockets, ElementsAre("/tmp/b.sock"));
}

TEST(Fixtures, ProfileLayoutValues) {
  auto r = load_config(kSourceDir / "tests" / "data" / "config" / "profile_layout.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->enabled);
  EXPECT_EQ(r->mode, Mode::limited);
  EXPECT_THAT(r->allowed_domains, ElementsAre("pypi.org"));
  EXPECT_EQ(r->audit.jsonl_path, "-");
}

TEST(LoadConfigFile, DiagnosticsNameThePathAsGiven) {
  const fs::path path = kSourceDir / "tests" / "data" / "config" / "mode_readonly.toml";
  auto r = load_config(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            path.string() + R"(:7:8: network.mode: expected "full" or "limited", got "readonly")");
}

TEST(LoadConfigFile, MissingFileIsAConfigError) {
  auto r = load_config(kSourceDir / "no" / "such" / "config.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "config");
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("config.toml: No such file or directory"));
}

TEST(LoadConfigFile, DirectoryIsAConfigError) {
  auto r = load_config(kSourceDir / "tests");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "config");
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("Is a directory"));
}

TEST(LoadConfigFile, StringFormHasNoSourcePath) {
  auto r = load_config_from_string("[network]\n", "inline");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->source_path);
}

}  // namespace
}  // namespace netfence
