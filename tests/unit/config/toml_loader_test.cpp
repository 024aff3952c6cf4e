#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "netfence/config.hpp"  // first: the header is self-contained

namespace netfence {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Result<Config> load(std::string_view text) { return load_config_from_string(text, "config.toml"); }

// The error message of a load that must fail.
std::string error_of(std::string_view text) {
  auto r = load(text);
  if (r.ok()) return "<loaded without error>";
  EXPECT_EQ(r.error().code, "config");
  return r.error().message;
}

// A load that must succeed.
Config ok(std::string_view text) {
  auto r = load(text);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? std::move(r).value() : Config{};
}

// "[network]\n<key> = <value>\n": the value sits on line 2 at column key.size() + 4.
std::string net(std::string_view key, std::string_view value) {
  return "[network]\n" + std::string(key) + " = " + std::string(value) + "\n";
}
std::string at2(std::string_view key) {
  return "config.toml:2:" + std::to_string(key.size() + 4) + ": network." + std::string(key) + ": ";
}

// ---------------------------------------------------------------------------------------------
// Defaults and table selection

void expect_defaults(const Config& c) {
  EXPECT_FALSE(c.enabled);
  EXPECT_EQ(c.proxy_url, "http://127.0.0.1:3128");
  EXPECT_EQ(c.admin_url, "http://127.0.0.1:8080");
  EXPECT_TRUE(c.enable_socks5);
  EXPECT_EQ(c.socks_url, "http://127.0.0.1:8081");
  EXPECT_TRUE(c.enable_socks5_udp);
  EXPECT_TRUE(c.allow_upstream_proxy);
  EXPECT_FALSE(c.dangerously_allow_non_loopback_proxy);
  EXPECT_FALSE(c.dangerously_allow_non_loopback_admin);
  EXPECT_EQ(c.mode, Mode::full);
  EXPECT_FALSE(c.mitm);
  EXPECT_THAT(c.allowed_domains, IsEmpty());
  EXPECT_THAT(c.denied_domains, IsEmpty());
  EXPECT_FALSE(c.allow_local_binding);
  EXPECT_THAT(c.allow_unix_sockets, IsEmpty());
  EXPECT_FALSE(c.dangerously_allow_all_unix_sockets);
  EXPECT_TRUE(c.enable_admin);
  EXPECT_EQ(c.dns_timeout_ms, 2000U);
  EXPECT_EQ(c.connect_timeout_ms, 10000U);
  EXPECT_EQ(c.idle_timeout_s, 3600U);
  EXPECT_EQ(c.max_connections, 4096U);
  EXPECT_EQ(c.decider_timeout_ms, 30000U);
  EXPECT_FALSE(c.extra_ca_certs);
  EXPECT_THAT(c.dns_servers, IsEmpty());
  EXPECT_THAT(c.dns_hosts, IsEmpty());
  EXPECT_FALSE(c.admin_token);
  EXPECT_FALSE(c.socks_password);
  EXPECT_FALSE(c.audit.jsonl_path);
  EXPECT_FALSE(c.audit.otlp_endpoint);
  EXPECT_THAT(c.audit.otlp_headers, IsEmpty());
  EXPECT_EQ(c.audit.batch_size, 512U);
  EXPECT_EQ(c.audit.batch_timeout_ms, 1000U);
  EXPECT_EQ(c.audit.queue_size, 8192U);
  EXPECT_FALSE(c.audit_metadata.conversation_id || c.audit_metadata.app_version ||
               c.audit_metadata.user_account_id || c.audit_metadata.auth_mode ||
               c.audit_metadata.originator || c.audit_metadata.user_email ||
               c.audit_metadata.terminal_type || c.audit_metadata.model || c.audit_metadata.slug);
  EXPECT_FALSE(c.source_path);
  EXPECT_THAT(c.warnings, IsEmpty());
}

TEST(LoadConfig, EmptyFileMeansAllDefaults) { expect_defaults(ok("")); }

TEST(LoadConfig, EmptyNetworkTableMeansAllDefaults) { expect_defaults(ok("[network]\n")); }

TEST(LoadConfig, OtherTablesAndKeysAreIgnoredSilently) {
  expect_defaults(ok("model = \"o3\"\n[tui]\nfoo = 1\n[mcp_servers.x]\ncommand = \"y\"\n"));
}

TEST(LoadConfig, NetworkMustBeATable) {
  EXPECT_EQ(error_of("network = 5\n"),
            "config.toml:1:11: network: expected a table, got an integer");
  EXPECT_EQ(error_of("[[network]]\n"), "config.toml:1:1: network: expected a table, got an array");
}

TEST(LoadConfig, DottedKeysAtTopLevelWork) {
  Config c = ok("network.enabled = true\nnetwork.mode = \"limited\"\n");
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.mode, Mode::limited);
}

TEST(ProfileLayout, SelectsThePermissionsNetworkTable) {
  Config c =
      ok("default_permissions = \"work\"\n"
         "[permissions.work.network]\n"
         "enabled = true\n"
         "allowed_domains = [\"example.com\"]\n"
         "[permissions.home.network]\n"
         "allowed_domains = [\"other.com\"]\n");
  EXPECT_TRUE(c.enabled);
  EXPECT_THAT(c.allowed_domains, ElementsAre("example.com"));
  EXPECT_THAT(c.warnings, IsEmpty());
}

TEST(ProfileLayout, ProfileWithoutNetworkMeansAllDefaults) {
  expect_defaults(ok("default_permissions = \"p\"\n[permissions.p]\nother = 1\n"));
}

TEST(ProfileLayout, MissingProfileIsAnError) {
  EXPECT_EQ(error_of("default_permissions = \"work\"\n[network]\nenabled = true\n"),
            "config.toml:1:23: default_permissions: no [permissions.work] table");
  EXPECT_EQ(error_of("x = 1\ndefault_permissions = \"a b\"\n[permissions.ab]\n"),
            R"(config.toml:2:23: default_permissions: no [permissions."a b"] table)");
}

TEST(ProfileLayout, WrongTypesAreErrors) {
  EXPECT_EQ(error_of("default_permissions = 1\n"),
            "config.toml:1:23: default_permissions: expected a string, got an integer");
  EXPECT_EQ(error_of("default_permissions = \"p\"\npermissions.p = 3\n"),
            "config.toml:2:17: permissions.p: expected a table, got an integer");
  EXPECT_EQ(error_of("default_permissions = \"p\"\n[permissions.p]\nnetwork = []\n"),
            "config.toml:3:11: network: expected a table, got an array");
}

TEST(ProfileLayout, TopLevelNetworkIsIgnoredWithAWarning) {
  Config c =
      ok("default_permissions = \"p\"\n"
         "[network]\n"
         "enabled = true\n"
         "mode = 12\n"  // not even validated: the table is not used
         "[permissions.p.network]\n"
         "mitm = true\n");
  EXPECT_FALSE(c.enabled);
  EXPECT_TRUE(c.mitm);
  EXPECT_THAT(c.warnings, ElementsAre("config.toml:2:2: [network] ignored because "
                                      "default_permissions selects [permissions.p.network]"));
}

TEST(ProfileLayout, KeyPathsAreCanonical) {
  EXPECT_EQ(error_of("default_permissions = \"p\"\n[permissions.p.network]\nmode = \"x\"\n"),
            R"(config.toml:3:8: network.mode: expected "full" or "limited", got "x")");
  Config c = ok("default_permissions = \"p\"\n[permissions.p.network.audit]\nfoo = 1\n");
  EXPECT_THAT(c.warnings, ElementsAre("config.toml:3:1: unknown key network.audit.foo (ignored)"));
}

// ---------------------------------------------------------------------------------------------
// Scalars

struct BoolCase {
  std::string_view key;
  bool Config::*member;
  bool default_value;
};

TEST(BoolKeys, DefaultsTypesAndValues) {
  const BoolCase cases[] = {
      {"enabled", &Config::enabled, false},
      {"enable_socks5", &Config::enable_socks5, true},
      {"enable_socks5_udp", &Config::enable_socks5_udp, true},
      {"allow_upstream_proxy", &Config::allow_upstream_proxy, true},
      {"dangerously_allow_non_loopback_proxy", &Config::dangerously_allow_non_loopback_proxy,
       false},
      {"dangerously_allow_non_loopback_admin", &Config::dangerously_allow_non_loopback_admin,
       false},
      {"mitm", &Config::mitm, false},
      {"allow_local_binding", &Config::allow_local_binding, false},
      {"dangerously_allow_all_unix_sockets", &Config::dangerously_allow_all_unix_sockets, false},
      {"enable_admin", &Config::enable_admin, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    EXPECT_EQ(Config{}.*c.member, c.default_value);
    EXPECT_EQ(ok(net(c.key, "true")).*c.member, true);
    EXPECT_EQ(ok(net(c.key, "false")).*c.member, false);
    EXPECT_EQ(error_of(net(c.key, "\"true\"")), at2(c.key) + "expected a boolean, got a string");
    EXPECT_EQ(error_of(net(c.key, "1")), at2(c.key) + "expected a boolean, got an integer");
  }
}

struct IntCase {
  std::string_view key;
  std::uint32_t Config::*member;
  std::uint32_t default_value;
  std::int64_t min, max;
};

TEST(IntKeys, DefaultsRangesAndTypes) {
  const IntCase cases[] = {
      {"dns_timeout_ms", &Config::dns_timeout_ms, 2000, 1, 60000},
      {"connect_timeout_ms", &Config::connect_timeout_ms, 10000, 1, 300000},
      {"idle_timeout_s", &Config::idle_timeout_s, 3600, 1, 604800},
      {"max_connections", &Config::max_connections, 4096, 1, 1048576},
      {"decider_timeout_ms", &Config::decider_timeout_ms, 30000, 1, 600000},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    const std::string expectation =
        "expected an integer from " + std::to_string(c.min) + " to " + std::to_string(c.max);
    EXPECT_EQ(Config{}.*c.member, c.default_value);
    EXPECT_EQ(ok(net(c.key, std::to_string(c.min))).*c.member, c.min);
    EXPECT_EQ(ok(net(c.key, std::to_string(c.max))).*c.member, c.max);
    EXPECT_EQ(error_of(net(c.key, std::to_string(c.min - 1))),
              at2(c.key) + expectation + ", got " + std::to_string(c.min - 1));
    EXPECT_EQ(error_of(net(c.key, std::to_string(c.max + 1))),
              at2(c.key) + expectation + ", got " + std::to_string(c.max + 1));
    EXPECT_EQ(error_of(net(c.key, "-5")), at2(c.key) + expectation + ", got -5");
    EXPECT_EQ(error_of(net(c.key, "9223372036854775807")),
              at2(c.key) + expectation + ", got 9223372036854775807");
    EXPECT_EQ(error_of(net(c.key, "1.5")), at2(c.key) + expectation + ", got a float");
    EXPECT_EQ(error_of(net(c.key, "\"100\"")), at2(c.key) + expectation + ", got a string");
  }
}

TEST(IntKeys, HexAndUnderscoreIntegersAreIntegers) {
  EXPECT_EQ(ok(net("max_connections", "1_000")).max_connections, 1000U);
  EXPECT_EQ(ok(net("max_connections", "0x10")).max_connections, 16U);
}

TEST(Mode, ExactExampleFromTheSpec) {
  EXPECT_EQ(error_of("# netfence\n\n[network]\nenabled = true\nallowed_domains = []\n\n"
                     "mode = \"readonly\"\n"),
            R"(config.toml:7:8: network.mode: expected "full" or "limited", got "readonly")");
}

TEST(Mode, LowerCaseOnly) {
  EXPECT_EQ(ok(net("mode", "\"full\"")).mode, Mode::full);
  EXPECT_EQ(ok(net("mode", "\"limited\"")).mode, Mode::limited);
  EXPECT_EQ(error_of(net("mode", "\"Limited\"")),
            at2("mode") + R"(expected "full" or "limited", got "Limited")");
  EXPECT_EQ(error_of(net("mode", "true")),
            at2("mode") + R"(expected "full" or "limited", got a boolean)");
}

TEST(GotTexts, NameEveryTomlType) {
  EXPECT_EQ(error_of(net("mitm", "1979-05-27T07:32:00Z")),
            at2("mitm") + "expected a boolean, got a date-time");
  EXPECT_EQ(error_of(net("mitm", "1979-05-27")),
            at2("mitm") + "expected a boolean, got a date-time");
  EXPECT_EQ(error_of(net("mitm", "07:32:00")), at2("mitm") + "expected a boolean, got a date-time");
  EXPECT_EQ(error_of(net("mitm", "[true]")), at2("mitm") + "expected a boolean, got an array");
  EXPECT_EQ(error_of(net("mitm", "{}")), at2("mitm") + "expected a boolean, got a table");
  EXPECT_EQ(error_of(net("mitm", "inf")), at2("mitm") + "expected a boolean, got a float");
  EXPECT_EQ(error_of("[network.mitm]\n"),
            "config.toml:1:1: network.mitm: expected a boolean, got a table");
}

TEST(GotTexts, StringsAreQuotedAsInToml) {
  EXPECT_EQ(error_of(net("mode", R"("a\"b\\c\n")")),
            at2("mode") + R"(expected "full" or "limited", got "a\"b\\c\n")");
  EXPECT_EQ(error_of(net("mode", "'lit\\eral'")),
            at2("mode") + R"(expected "full" or "limited", got "lit\\eral")");
}

TEST(Strings, ExtraCaCertsAndSecrets) {
  Config c =
      ok("[network]\n"
         "extra_ca_certs = \"/etc/ssl/corp.pem\"\n"
         "admin_token = \"0123456789abcdef\"\n"
         "socks_password = \"s3cret\"\n");
  EXPECT_EQ(c.extra_ca_certs, "/etc/ssl/corp.pem");
  EXPECT_EQ(c.admin_token, "0123456789abcdef");
  EXPECT_EQ(c.socks_password, "s3cret");
  EXPECT_THAT(c.warnings, IsEmpty());
  for (std::string_view key : {"extra_ca_certs", "admin_token", "socks_password"}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(error_of(net(key, "1")), at2(key) + "expected a string, got an integer");
  }
}

TEST(Strings, EmptySecretsMeanUnset) {
  Config c = ok("[network]\nadmin_token = \"\"\nsocks_password = \"\"\nextra_ca_certs = \"\"\n");
  EXPECT_FALSE(c.admin_token);
  EXPECT_FALSE(c.socks_password);
  EXPECT_FALSE(c.extra_ca_certs);
  EXPECT_THAT(c.warnings, IsEmpty());
}

TEST(Strings, ShortAdminTokenWarns) {
  Config c = ok(net("admin_token", "\"123456789012345\""));
  EXPECT_EQ(c.admin_token, "123456789012345");
  EXPECT_THAT(c.warnings, ElementsAre("config.toml:2:15: network.admin_token is shorter than 16 "
                                      "characters; use a long random token"));
}

TEST(Strings, SocksPasswordFitsRfc1929) {
  EXPECT_TRUE(load(net("socks_password", "\"" + std::string(255, 'x') + "\"")).ok());
  EXPECT_EQ(error_of(net("socks_password", "\"" + std::string(256, 'x') + "\"")),
            at2("socks_password") + "expected at most 255 bytes (RFC 1929), got 256 bytes");
}

// ---------------------------------------------------------------------------------------------
// Listener URLs

TEST(ListenerKeys, ValuesAreKeptAsWritten) {
  Config c =
      ok("[network]\n"
         "proxy_url = \"http://127.0.0.1:0\"\n"
         "socks_url = \"socks5h://[::1]:1080\"\n"
         "admin_url = \"localhost\"\n");
  EXPECT_EQ(c.proxy_url, "http://127.0.0.1:0");
  EXPECT_EQ(c.socks_url, "socks5h://[::1]:1080");
  EXPECT_EQ(c.admin_url, "localhost");
  // Compat warnings (names, userinfo, path) come from plan_listeners(), not from the loader.
  EXPECT_THAT(ok(net("proxy_url", "\"http://u@proxy:1/x\"")).warnings, IsEmpty());
}

TEST(ListenerKeys, InvalidValuesAreErrors) {
  for (std::string_view key : {"proxy_url", "socks_url", "admin_url"}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(error_of(net(key, "\"http://127.0.0.1:80a\"")),
              at2(key) + R"(expected a port from 0 to 65535, got "80a")");
    EXPECT_EQ(error_of(net(key, "\"127.0.0.1:65536\"")),
              at2(key) + R"(expected a port from 0 to 65535, got "65536")");
    EXPECT_EQ(error_of(net(key, "\"127.0.0.1:-1\"")),
              at2(key) + R"(expected a port from 0 to 65535, got "-1")");
    EXPECT_EQ(
        error_of(net(key, "\"ftp://127.0.0.1\"")),
        at2(key) +
            R"(expected a URL with scheme http, https, socks5 or socks5h, got "ftp://127.0.0.1")");
    EXPECT_EQ(error_of(net(key, "3128")), at2(key) + "expected a string, got an integer");
  }
}

// ---------------------------------------------------------------------------------------------
// Domain lists and the alias table

TEST(DomainLists, ExactExampleFromTheSpec) {
  EXPECT_EQ(error_of("[network]\nenabled = true\n\n\n\n\n\n\n\n\nallowed_domains = [\n"
                     "  \"example.com\",\n  \"*.github.com\",\n  \"exa mple.com\",\n]\n"),
            "config.toml:14:3: network.allowed_domains[2]: invalid pattern \"exa mple.com\": "
            "contains a space");
  EXPECT_EQ(error_of("[network]\nenabled = true\n\n\n\n\n\n\n\n\n"
                     "allowed_domains = [\"example.com\", \"*.github.com\",\n"
                     "  \"exa mple.com\"]\n"),
            "config.toml:12:3: network.allowed_domains[2]: invalid pattern \"exa mple.com\": "
            "contains a space");
}

TEST(DomainLists, AreNormalisedAndDeduplicatedInFirstSeenOrder) {
  Config c =
      ok("[network]\n"
         "allowed_domains = [\"Example.COM.\", \"*.github.com\", \"example.com\", \"exämple.com\","
         " \"0x7f.1\", \"[::1]\"]\n"
         "denied_domains = [\"Evil.example.com\", \"evil.example.com\"]\n");
  EXPECT_THAT(c.allowed_domains,
              ElementsAre("example.com", "*.github.com", "xn--exmple-cua.com", "127.0.0.1", "::1"));
  EXPECT_THAT(c.denied_domains, ElementsAre("evil.example.com"));
}

TEST(DomainLists, TypeErrors) {
  EXPECT_EQ(error_of(net("allowed_domains", "\"example.com\"")),
            at2("allowed_domains") + "expected an array of strings, got a string");
  EXPECT_EQ(error_of(net("denied_domains", "[\"a.com\", 3]")),
            "config.toml:2:28: network.denied_domains[1]: expected a string, got an integer");
}

TEST(DomainLists, PatternErrorsNameListIndexAndPattern) {
  EXPECT_EQ(error_of(net("denied_domains", "[\"*\"]")),
            "config.toml:2:19: network.denied_domains[0]: pattern \"*\" would match every host; "
            "use a concrete domain such as \"*.example.com\"");
  EXPECT_EQ(error_of(net("allowed_domains", "[\"a.com\", \"*.*\"]")),
            "config.toml:2:29: network.allowed_domains[1]: pattern \"*.*\" would match every "
            "host; use \"*\" to allow every host");
  EXPECT_EQ(error_of(net("allowed_domains", "[\"\"]"))
                .rfind("config.toml:2:20: network.allowed_domains[0]: invalid pattern \"\": ", 0),
            0U);
  EXPECT_EQ(ok(net("allowed_domains", "[\"*\"]")).allowed_domains, std::vector<std::string>{"*"});
}

TEST(DomainLists, PortsInPatternsAreIgnoredWithAWarning) {
  Config c =
      ok("[network]\n"
         "allowed_domains = [\"example.com:8443\"]\n"
         "domains = { \"api.example.com:443\" = \"deny\" }\n");
  EXPECT_THAT(c.allowed_domains, ElementsAre("example.com"));
  EXPECT_THAT(c.denied_domains, ElementsAre("api.example.com"));
  EXPECT_THAT(c.warnings,
              ElementsAre("config.toml:2:20: network.allowed_domains[0]: port in pattern "
                          "\"example.com:8443\" ignored",
                          "config.toml:3:13: network.domains[\"api.example.com:443\"]: port in "
                          "pattern \"api.example.com:443\" ignored"));
}

TEST(DomainsAlias, MergesWithTheArrays) {
  Config c =
      ok("[network]\n"
         "allowed_domains = [\"a.com\", \"b.com\"]\n"
         "denied_domains = [\"x.com\"]\n"
         "[network.domains]\n"
         "\"c.com\" = \"allow\"\n"
         "\"A.com\" = \"allow\"\n"
         "\"y.com\" = \"deny\"\n"
         "\"z.com\" = \"none\"\n");
  EXPECT_THAT(c.allowed_domains, ElementsAre("a.com", "b.com", "c.com"));
  EXPECT_THAT(c.denied_domains, ElementsAre("x.com", "y.com"));
}

TEST(DomainsAlias, DenyWinsAfterNormalisation) {
  Config c =
      ok("[network]\n"
         "allowed_domains = [\"a.com\", \"B.com\", \"c.com\"]\n"
         "domains = { \"b.com.\" = \"deny\", \"c.com\" = \"allow\" }\n"
         "denied_domains = [\"C.COM\"]\n");
  EXPECT_THAT(c.allowed_domains, ElementsAre("a.com"));
  EXPECT_THAT(c.denied_domains, ElementsAre("b.com", "c.com"));  // file order
}

TEST(DomainsAlias, Errors) {
  EXPECT_EQ(error_of(net("domains", "[\"a.com\"]")),
            at2("domains") + "expected a table of strings, got an array");
  EXPECT_EQ(error_of(net("domains", "{ \"a.com\" = \"yes\" }")),
            "config.toml:2:23: network.domains[\"a.com\"]: expected \"allow\", \"deny\" or "
            "\"none\", got \"yes\"");
  EXPECT_EQ(error_of(net("domains", "{ \"a.com\" = true }")),
            "config.toml:2:23: network.domains[\"a.com\"]: expected \"allow\", \"deny\" or "
            "\"none\", got a boolean");
  EXPECT_EQ(error_of(net("domains", "{ \"exa mple.com\" = \"allow\" }")),
            "config.toml:2:13: network.domains[\"exa mple.com\"]: invalid pattern \"exa "
            "mple.com\": contains a space");
  EXPECT_EQ(
      error_of(net("domains", "{ \"**\" = \"deny\" }"))
          .rfind("config.toml:2:13: network.domains[\"**\"]: pattern \"**\" would match every host",
                 0),
      0U);
}

TEST(DomainsAlias, EntriesAreCheckedInFileOrder) {
  // toml++ iterates keys sorted; the first error must still be the first one in the file.
  EXPECT_EQ(error_of("[network.domains]\n\"z z\" = \"allow\"\n\"a a\" = \"allow\"\n"),
            "config.toml:2:1: network.domains[\"z z\"]: invalid pattern \"z z\": contains a space");
}

// ---------------------------------------------------------------------------------------------
// Unix sockets

TEST(UnixSockets, ExactExampleFromTheSpec) {
  EXPECT_EQ(error_of(net("allow_unix_sockets", "[\"relative.sock\"]")),
            "config.toml:2:23: network.allow_unix_sockets[0]: expected an absolute path, got "
            "\"relative.sock\"");
}

TEST(UnixSockets, PathsAreNormalisedAndMerged) {
  Config c =
      ok("[network]\n"
         "allow_unix_sockets = [\"/var/run//docker.sock\", \"/tmp/./a/../b.sock\", \"/../../c\","
         " \"/tmp/b.sock\", \"/gone.sock\", \"/dir/\"]\n"
         "[network.unix_sockets]\n"
         "\"/run/x.sock\" = \"allow\"\n"
         "\"/gone.sock\" = \"none\"\n"
         "\"/var/run/docker.sock/.\" = \"deny\"\n"
         "\"/never.sock\" = \"none\"\n");
  EXPECT_THAT(c.allow_unix_sockets, ElementsAre("/tmp/b.sock", "/c", "/dir", "/run/x.sock"));
  EXPECT_TRUE(c.unix_sockets_enabled());
}

TEST(UnixSockets, RemovalAppliesWhateverTheOrder) {
  Config c = ok("[network]\nunix_sockets = { \"/a\" = \"deny\" }\nallow_unix_sockets = [\"/a\"]\n");
  EXPECT_THAT(c.allow_unix_sockets, IsEmpty());
  EXPECT_FALSE(c.unix_sockets_enabled());
}

TEST(UnixSockets, Errors) {
  EXPECT_EQ(error_of(net("allow_unix_sockets", "\"/a\"")),
            at2("allow_unix_sockets") + "expected an array of strings, got a string");
  EXPECT_EQ(error_of(net("allow_unix_sockets", "[\"/a\", 1]")),
            "config.toml:2:29: network.allow_unix_sockets[1]: expected a string, got an integer");
  EXPECT_EQ(error_of(net("allow_unix_sockets", "[\"\"]")),
            "config.toml:2:23: network.allow_unix_sockets[0]: expected an absolute path, got \"\"");
  EXPECT_EQ(error_of(net("unix_sockets", "{ \"rel.sock\" = \"allow\" }")),
            "config.toml:2:18: network.unix_sockets[\"rel.sock\"]: expected an absolute path, got "
            "\"rel.sock\"");
  EXPECT_EQ(error_of(net("unix_sockets", "{ \"/a\" = \"yes\" }")),
            "config.toml:2:25: network.unix_sockets[\"/a\"]: expected \"allow\", \"none\" or "
            "\"deny\", got \"yes\"");
  EXPECT_EQ(error_of(net("unix_sockets", "{ \"/a\" = 1 }")),
            "config.toml:2:25: network.unix_sockets[\"/a\"]: expected \"allow\", \"none\" or "
            "\"deny\", got an integer");
  EXPECT_EQ(error_of(net("unix_sockets", "[]")),
            at2("unix_sockets") + "expected a table of strings, got an array");
}

// ---------------------------------------------------------------------------------------------
// DNS

TEST(DnsServers, AreNormalisedToIpPort) {
  Config c = ok(net("dns_servers",
                    "[\"1.1.1.1\", \"127.0.0.1:5353\", \"[2001:DB8::1]\", \"[::1]:53535\", "
                    "\"2001:4860:4860::8888\", \"[::ffff:9.9.9.9]:54\"]"));
  EXPECT_THAT(c.dns_servers, ElementsAre("1.1.1.1:53", "127.0.0.1:5353", "[2001:db8::1]:53",
                                         "[::1]:53535", "[2001:4860:4860::8888]:53", "9.9.9.9:54"));
}

TEST(DnsServers, Errors) {
  EXPECT_EQ(error_of(net("dns_servers", "\"1.1.1.1\"")),
            at2("dns_servers") + "expected an array of strings, got a string");
  for (std::string_view bad : {"dns.google", "1.1.1.1:0", "1.1.1.1:65536", "1.1.1.1:", "[1.1.1.1]",
                               "::1:53x", "[::1]:", "[::1", "0x7f.1", "1.1.1.1:053", ""}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(
        error_of(net("dns_servers", "[\"" + std::string(bad) + "\"]")),
        "config.toml:2:16: network.dns_servers[0]: expected an IP address or IP:port, got \"" +
            std::string(bad) + "\"");
  }
  EXPECT_EQ(error_of(net("dns_servers", "[53]")),
            "config.toml:2:16: network.dns_servers[0]: expected a string, got an integer");
}

TEST(DnsHosts, KeysAndAnswersAreCanonical) {
  Config c =
      ok("[network.dns_hosts]\n"
         "\"API.Example.com.\" = [\"203.0.113.7\", \"2001:DB8::7\"]\n"
         "\"exämple.com\" = [\"::ffff:192.0.2.1\"]\n"
         "\"api.example.com\" = [\"203.0.113.8\", \"203.0.113.7\"]\n");
  ASSERT_EQ(c.dns_hosts.size(), 2U);
  EXPECT_EQ(c.dns_hosts[0].first, "api.example.com");
  EXPECT_THAT(c.dns_hosts[0].second, ElementsAre("203.0.113.7", "2001:db8::7", "203.0.113.8"));
  EXPECT_EQ(c.dns_hosts[1].first, "xn--exmple-cua.com");
  EXPECT_THAT(c.dns_hosts[1].second, ElementsAre("192.0.2.1"));
}

TEST(DnsHosts, Errors) {
  EXPECT_EQ(error_of(net("dns_hosts", "[]")),
            at2("dns_hosts") + "expected a table of arrays of IP addresses, got an array");
  EXPECT_EQ(error_of(net("dns_hosts", "{ \"*.a.com\" = [\"1.2.3.4\"] }")),
            "config.toml:2:15: network.dns_hosts[\"*.a.com\"]: expected a host name, got "
            "\"*.a.com\"");
  EXPECT_EQ(error_of(net("dns_hosts", "{ \"1.2.3.4\" = [\"1.2.3.4\"] }")),
            "config.toml:2:15: network.dns_hosts[\"1.2.3.4\"]: expected a host name, got "
            "\"1.2.3.4\"");
  EXPECT_EQ(error_of(net("dns_hosts", "{ \"a.com\" = \"1.2.3.4\" }")),
            "config.toml:2:25: network.dns_hosts[\"a.com\"]: expected an array of IP addresses, "
            "got a string");
  EXPECT_EQ(error_of(net("dns_hosts", "{ \"a.com\" = [] }")),
            "config.toml:2:25: network.dns_hosts[\"a.com\"]: expected at least one IP address, "
            "got []");
  EXPECT_EQ(error_of(net("dns_hosts", "{ \"a.com\" = [\"1.2.3.4\", \"0x7f.1\"] }")),
            "config.toml:2:37: network.dns_hosts[\"a.com\"][1]: expected an IP address, got "
            "\"0x7f.1\"");
  EXPECT_EQ(error_of(net("dns_hosts", "{ \"a.com\" = [1] }")),
            "config.toml:2:26: network.dns_hosts[\"a.com\"][0]: expected a string, got an integer");
}

// ---------------------------------------------------------------------------------------------
// Audit

TEST(Audit, AllKeys) {
  Config c =
      ok("[network.audit]\n"
         "jsonl_path = \"-\"\n"
         "otlp_endpoint = \"http://127.0.0.1:4318\"\n"
         "otlp_headers = { authorization = \"Bearer x\", \"x-b\" = \"2\", \"x-a\" = \"1\" }\n"
         "batch_size = 8192\n"
         "batch_timeout_ms = 10\n"
         "queue_size = 1000000\n"
         "[network.audit_metadata]\n"
         "conversation_id = \"c\"\napp_version = \"v\"\nuser_account_id = \"u\"\n"
         "auth_mode = \"a\"\noriginator = \"o\"\nuser_email = \"e\"\nterminal_type = \"t\"\n"
         "model = \"m\"\nslug = \"s\"\n");
  EXPECT_EQ(c.audit.jsonl_path, "-");
  EXPECT_EQ(c.audit.otlp_endpoint, "http://127.0.0.1:4318");
  using Header = std::pair<std::string, std::string>;
  EXPECT_THAT(c.audit.otlp_headers, ElementsAre(Header{"authorization", "Bearer x"},
                                                Header{"x-b", "2"}, Header{"x-a", "1"}));
  EXPECT_EQ(c.audit.batch_size, 8192U);
  EXPECT_EQ(c.audit.batch_timeout_ms, 10U);
  EXPECT_EQ(c.audit.queue_size, 1000000U);
  const auto& m = c.audit_metadata;
  EXPECT_EQ(m.conversation_id, "c");
  EXPECT_EQ(m.app_version, "v");
  EXPECT_EQ(m.user_account_id, "u");
  EXPECT_EQ(m.auth_mode, "a");
  EXPECT_EQ(m.originator, "o");
  EXPECT_EQ(m.user_email, "e");
  EXPECT_EQ(m.terminal_type, "t");
  EXPECT_EQ(m.model, "m");
  EXPECT_EQ(m.slug, "s");
  EXPECT_THAT(c.warnings, IsEmpty());
}

TEST(Audit, IntegerRanges) {
  struct Case {
    std::string_view key;
    std::int64_t min, max;
  };
  for (const auto& c : {Case{"batch_size", 1, 8192}, Case{"batch_timeout_ms", 10, 60000},
                        Case{"queue_size", 1, 1000000}}) {
    SCOPED_TRACE(c.key);
    const std::string prefix = "config.toml:2:" + std::to_string(c.key.size() + 4) +
                               ": network.audit." + std::string(c.key) +
                               ": expected an integer from " + std::to_string(c.min) + " to " +
                               std::to_string(c.max) + ", got ";
    auto text = [&](std::string_view v) {
      return "[network.audit]\n" + std::string(c.key) + " = " + std::string(v) + "\n";
    };
    EXPECT_TRUE(load(text(std::to_string(c.min))).ok());
    EXPECT_TRUE(load(text(std::to_string(c.max))).ok());
    EXPECT_EQ(error_of(text(std::to_string(c.min - 1))), prefix + std::to_string(c.min - 1));
    EXPECT_EQ(error_of(text(std::to_string(c.max + 1))), prefix + std::to_string(c.max + 1));
    EXPECT_EQ(error_of(text("\"5\"")), prefix + "a string");
  }
}

TEST(Audit, Errors) {
  EXPECT_EQ(error_of(net("audit", "1")), at2("audit") + "expected a table, got an integer");
  EXPECT_EQ(error_of(net("audit_metadata", "\"x\"")),
            at2("audit_metadata") + "expected a table, got a string");
  EXPECT_EQ(error_of("[network.audit]\njsonl_path = 1\n"),
            "config.toml:2:14: network.audit.jsonl_path: expected a string, got an integer");
  EXPECT_EQ(error_of("[network.audit]\notlp_endpoint = \"127.0.0.1:4318\"\n"),
            "config.toml:2:17: network.audit.otlp_endpoint: expected an http:// or https:// URL, "
            "got \"127.0.0.1:4318\"");
  EXPECT_EQ(error_of("[network.audit]\notlp_headers = []\n"),
            "config.toml:2:16: network.audit.otlp_headers: expected a table of strings, got an "
            "array");
  EXPECT_EQ(error_of("[network.audit]\notlp_headers = { \"a b\" = \"1\" }\n"),
            "config.toml:2:18: network.audit.otlp_headers[\"a b\"]: expected an HTTP header name, "
            "got \"a b\"");
  EXPECT_EQ(error_of("[network.audit]\notlp_headers = { x = 1 }\n"),
            "config.toml:2:22: network.audit.otlp_headers[\"x\"]: expected a string, got an "
            "integer");
  EXPECT_EQ(error_of("[network.audit]\notlp_headers = { x = \"a\\r\\nInjected: 1\" }\n"),
            "config.toml:2:22: network.audit.otlp_headers[\"x\"]: expected a header value without "
            "control characters, got \"a\\r\\nInjected: 1\"");
  EXPECT_EQ(error_of("[network.audit_metadata]\nmodel = 5\n"),
            "config.toml:2:9: network.audit_metadata.model: expected a string, got an integer");
}

TEST(Audit, EmptySinkPathsMeanUnset) {
  Config c = ok("[network.audit]\njsonl_path = \"\"\notlp_endpoint = \"\"\n");
  EXPECT_FALSE(c.audit.jsonl_path);
  EXPECT_FALSE(c.audit.otlp_endpoint);
}

// ---------------------------------------------------------------------------------------------
// Unknown keys, syntax errors, ordering

TEST(UnknownKeys, WarnAndContinue) {
  Config c =
      ok("[network]\n"
         "enabled = true\n"
         "proxy = \"x\"\n"
         "\"odd key\" = 1\n"
         "[network.audit]\n"
         "foo = 1\n"
         "[network.audit_metadata]\n"
         "bar = \"x\"\n"
         "[network.extra]\n"
         "x = 1\n");
  EXPECT_TRUE(c.enabled);
  EXPECT_THAT(c.warnings,
              ElementsAre("config.toml:3:1: unknown key network.proxy (ignored)",
                          "config.toml:4:1: unknown key network.\"odd key\" (ignored)",
                          "config.toml:6:1: unknown key network.audit.foo (ignored)",
                          "config.toml:8:1: unknown key network.audit_metadata.bar (ignored)",
                          "config.toml:9:10: unknown key network.extra (ignored)"));
}

TEST(Errors, FirstErrorInFileOrderStopsLoading) {
  EXPECT_EQ(error_of("[network]\nmode = \"x\"\nenabled = 1\n"),
            R"(config.toml:2:8: network.mode: expected "full" or "limited", got "x")");
  EXPECT_EQ(error_of("[network]\nzzz_unknown = 1\nenabled = 1\n"),
            "config.toml:3:11: network.enabled: expected a boolean, got an integer");
}

TEST(Errors, WarningsOrderFollowsTheFile) {
  Config c = ok("[network]\nzeta = 1\nadmin_token = \"short\"\nalpha = 2\n");
  EXPECT_THAT(c.warnings, ElementsAre("config.toml:2:1: unknown key network.zeta (ignored)",
                                      "config.toml:3:15: network.admin_token is shorter than 16 "
                                      "characters; use a long random token",
                                      "config.toml:4:1: unknown key network.alpha (ignored)"));
}

TEST(SyntaxErrors, ReportTheParserPosition) {
  EXPECT_EQ(error_of("[network]\nenabled = true\nmode = = \"full\"\n"),
            "config.toml:3:8: Error while parsing value: could not determine value type");
  auto dup = error_of("[network]\nenabled = true\nenabled = false\n");
  EXPECT_EQ(dup.rfind("config.toml:3:", 0), 0U) << dup;
  auto unterminated = error_of("[network\n");
  EXPECT_EQ(unterminated.rfind("config.toml:1:", 0), 0U) << unterminated;
}

TEST(SyntaxErrors, UseTheDisplayName) {
  auto r = load_config_from_string("a = ", "/etc/netfence/x.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "config");
  EXPECT_EQ(r.error().message.rfind("/etc/netfence/x.toml:1:", 0), 0U) << r.error().message;
}

TEST(SyntaxErrors, HostileBytesNeverThrow) {
  const std::string inputs[] = {
      std::string("a = \"\0\"", 7),  "\xff\xfe", "[[[[", "a = [[[[[[[[", std::string(10000, '['),
      "network = { enabled = true, "};
  for (const auto& in : inputs) {
    auto r = load(in);
    EXPECT_FALSE(r.ok());
  }
}

// Inputs that hit toml++ 3.3.0 bugs in the fuzz build (fuzz/regressions/config): the shipped
// library must report them as ordinary parse errors.
TEST(SyntaxErrors, KnownTomlppPreconditionInputs) {
  EXPECT_EQ(error_of("[\n\0network]\n"),
            "config.toml:1:2: Error while parsing key: expected bare key starting character or "
            "string delimiter, saw '\\n'");
  EXPECT_EQ(error_of("[[[1]]]").rfind("config.toml:1:3: ", 0), 0U);
  EXPECT_EQ(error_of("[network]\nmitm = 1979-05-27TE03:Z27:0\n"),
            "config.toml:2:19: Error while parsing time: expected 2-digit hour, saw 'E'");
  EXPECT_EQ(error_of("[network]\nmitm = true \u00a7\n").rfind("config.toml:2:", 0), 0U);
  auto ok_multiline = load("[network.audit_metadata]\nslug = \"\"\"\\\n\u00a7x\"\"\"\n");
  ASSERT_TRUE(ok_multiline.ok()) << ok_multiline.error().message;
  EXPECT_EQ(ok_multiline->audit_metadata.slug, "\u00a7x");
}

}  // namespace
}  // namespace netfence
