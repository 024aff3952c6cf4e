// Drives the real `netfence` binary: --version, check-config, run start-up rules and explain
// (SPEC §3.4, §3.5, §17), with the explain cases of §4, §5, §7.4 and §18 rows 1–8 and 14–17.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "process.hpp"
#include "stub_dns_server.hpp"

namespace netfence::testing {
namespace {

namespace fs = std::filesystem;

const std::string kBinary = NETFENCE_CLI_PATH;
const std::string kSourceDir = NETFENCE_SOURCE_DIR;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("netfence-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  // A config with an empty CODEX_HOME so nothing from the machine leaks in.
  ProcessResult netfence(std::vector<std::string> args) {
    args.insert(args.begin(), kBinary);
    return run_process(args, {{"CODEX_HOME", dir_.string()}, {"HOME", dir_.string()}});
  }

  // Runs explain against a config holding `network_body`, returns the parsed JSON (or null on
  // a non-JSON answer) and the exit code.
  std::pair<nlohmann::json, int> explain(const std::string& network_body,
                                         std::vector<std::string> args) {
    auto cfg = write("explain.toml", "[network]\nenabled = true\n" + network_body);
    args.insert(args.begin(), {"explain"});
    args.insert(args.end(), {"--config", cfg, "--json"});
    auto r = netfence(args);
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded()) j = nullptr;
    return {j, r.exit_code};
  }

  fs::path dir_;
};

TEST_F(Cli, VersionAndHelp) {
  auto v = netfence({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_TRUE(std::regex_match(v.out, std::regex(R"(netfence \d+\.\d+\.\d+\n)"))) << v.out;
  auto h = netfence({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("explain"), std::string::npos);
  EXPECT_NE(h.out.find("check-config"), std::string::npos);
  auto bad = netfence({"frobnicate"});
  EXPECT_EQ(bad.exit_code, 2);
}

TEST_F(Cli, CheckConfigPrintsEffectiveConfigInTableOrder) {
  auto r = netfence({"check-config", "--config", kSourceDir + "/examples/config.toml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "") << "the shipped example must load without warnings";
  auto j = nlohmann::ordered_json::parse(r.out);
  std::vector<std::string> keys;
  for (auto& [k, v] : j["network"].items()) keys.push_back(k);
  const std::vector<std::string> expected = {"enabled",
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
                                             "audit",
                                             "audit_metadata"};
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(j["network"]["enabled"], true);
  EXPECT_EQ(j["network"]["proxy_url"], "http://127.0.0.1:3128");
}

TEST_F(Cli, CheckConfigMergesAliasesAndRedactsSecrets) {
  auto cfg = write("c.toml", R"([network]
enabled = true
allowed_domains = ["Example.COM", "*.github.com"]
denied_domains = ["evil.example"]
admin_token = "0123456789abcdef0123"
domains = { "pypi.org" = "allow", "example.com" = "deny", "x.test" = "none" }
proxy_url = "http://10.1.2.3:9000"
)");
  auto r = netfence({"check-config", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out)["network"];
  EXPECT_EQ(j["allowed_domains"], nlohmann::json({"*.github.com", "pypi.org"}));
  EXPECT_EQ(j["denied_domains"], nlohmann::json({"evil.example", "example.com"}));
  EXPECT_EQ(j["admin_token"], "<redacted>");
  EXPECT_EQ(j["socks_password"], nullptr);
  EXPECT_EQ(j["proxy_url"], "http://10.1.2.3:9000") << "§17: listener URLs as configured";
  EXPECT_NE(r.err.find("WARN HTTP proxy: non-loopback bind 10.1.2.3:9000 refused, using "
                       "127.0.0.1:9000 (set dangerously_allow_non_loopback_proxy = true to "
                       "allow it)"),
            std::string::npos)
      << r.err;
}

TEST_F(Cli, CheckConfigDiagnosticsAreExact) {
  auto cfg = write("bad.toml", "[network]\nenabled = true\n\n\n\n\nmode = \"readonly\"\n");
  auto r = netfence({"check-config", "--config", cfg});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(cfg + ":7:8: network.mode: expected \"full\" or \"limited\", got "
                             "\"readonly\""),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");

  auto pat = write("pat.toml",
                   "[network]\nallowed_domains = [\n  \"a.com\",\n  \"b.com\",\n  "
                   "\"exa mple.com\",\n]\n");
  r = netfence({"check-config", "--config", pat});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(pat + ":5:3: network.allowed_domains[2]: invalid pattern \"exa mple.com\": "
                             "contains a space"),
            std::string::npos)
      << r.err;
}

TEST_F(Cli, CheckConfigUnknownKeyWarnsInLogFormat) {
  auto cfg = write("w.toml", "[network]\nbogus = 1\n");
  auto r = netfence({"check-config", "--config", cfg});
  EXPECT_EQ(r.exit_code, 0);
  std::regex line(
      R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN .*:2:1: unknown key network\.bogus \(ignored\)\n)");
  EXPECT_TRUE(std::regex_match(r.err, line)) << r.err;
}

TEST_F(Cli, MissingExplicitConfigIsUsageError) {
  auto r = netfence({"check-config", "--config", (dir_ / "nope.toml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nope.toml"), std::string::npos);
  auto syntax = write("syntax.toml", "[network\n");
  r = netfence({"run", "--config", syntax});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(syntax + ":1:"), std::string::npos) << r.err;
}

TEST_F(Cli, RunWithDisabledConfigExitsWithoutBinding) {
  auto cfg = write("off.toml", "[network]\nallowed_domains = [\"example.com\"]\n");
  auto r = netfence({"run", "--config", cfg});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("INFO network.enabled is false in " + cfg + "; no listeners started"),
            std::string::npos)
      << r.err;
}

TEST_F(Cli, RunWithoutConfigFileUsesDefaultsAndWarns) {
  // With defaults `run` serves on 127.0.0.1:3128 until stopped; the warning comes first.
  auto r = run_process({kBinary, "run"}, {{"CODEX_HOME", dir_.string()}, {"HOME", dir_.string()}},
                       std::chrono::milliseconds(1500));
  EXPECT_NE(r.err.find("WARN no config file at " + (dir_ / "config.toml").string() +
                       "; running with defaults and an empty allowlist, so every request will "
                       "be blocked"),
            std::string::npos)
      << r.err;
  const bool served = r.err.find("HTTP proxy listening on 127.0.0.1:3128") != std::string::npos;
  const bool port_taken = r.exit_code == 1 && r.err.find("cannot listen") != std::string::npos;
  EXPECT_TRUE(served || port_taken) << r.err;
}

TEST_F(Cli, ProfileLayoutIsSelected) {
  write("config.toml", R"(default_permissions = "agent"
[permissions.agent.network]
enabled = true
allowed_domains = ["profile.test"]
)");
  auto r = netfence({"check-config"});  // found through CODEX_HOME
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out)["network"];
  EXPECT_EQ(j["allowed_domains"], nlohmann::json({"profile.test"}));
}

// SPEC §4 table through explain: the canonical host and port.
TEST_F(Cli, ExplainCanonicalisesHosts) {
  struct Case {
    const char* input;
    const char* host;
    int port;
  };
  for (auto c :
       {Case{"  ExAmPlE.CoM.  ", "example.com", 80}, Case{"example.com.:443", "example.com", 443},
        Case{"exämple.com", "xn--exmple-cua.com", 80},
        Case{"EXÄMPLE.com", "xn--exmple-cua.com", 80},
        Case{"ｅｘａｍｐｌｅ．ｃｏｍ", "example.com", 80}, Case{"example。com", "example.com", 80},
        Case{"127.1", "127.0.0.1", 80}, Case{"0x7f.1", "127.0.0.1", 80},
        Case{"2130706433", "127.0.0.1", 80}, Case{"0177.0.0.1", "127.0.0.1", 80},
        Case{"[::ffff:7f00:1]", "127.0.0.1", 80}, Case{"[::ffff:127.0.0.1]", "127.0.0.1", 80},
        Case{"[0:0:0:0:0:0:0:1]", "::1", 80}, Case{"[0000::1]:443", "::1", 443},
        Case{"[2001:DB8:0:0:1:0:0:1]", "2001:db8::1:0:0:1", 80},
        Case{"[fe80::1%25eth0]", "fe80::1%eth0", 80}, Case{"fe80::1%eth0", "fe80::1%eth0", 80}}) {
    auto [j, code] = explain("allowed_domains = [\"*\"]\n", {c.input, "--no-dns"});
    ASSERT_FALSE(j.is_null()) << c.input;
    EXPECT_EQ(j["host"], c.host) << c.input;
    EXPECT_EQ(j["port"], c.port) << c.input;
  }
}

// SPEC §4 invalid rows and §18 rows 5 and 7: invalid host → exit 2, nothing resolved.
TEST_F(Cli, ExplainRejectsInvalidHosts) {
  StubDnsServer dns;
  for (auto h : {"[::ffff:1.2.3.4%x.allowed.com]", "[fd00::1%eth0]", "example.com%2eevil.net",
                 "ex ample.com", "a.com\r\n", "example.com:443.evil.net", "1.2.3.999",
                 "example.com%00.evil.net", "a.com..", "256.1.1.1",
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
                 "ex\xe2\x80\x8d"
                 "ample.com"}) {
    auto [j, code] =
        explain("allowed_domains = [\"*\"]\ndns_servers = [\"" + dns.address() + "\"]\n", {h});
    EXPECT_EQ(code, 2) << h;
  }
  std::string long_name;
  for (int i = 0; i < 51; ++i) long_name += "abcd.";
  long_name += "com";  // 258 octets > 253
  EXPECT_EQ(explain("allowed_domains = [\"*\"]\n", {long_name}).second, 2);
  EXPECT_EQ(dns.query_count(), 0u);
}

// SPEC §5 table through explain (allowlist = the pattern, --no-dns).
TEST_F(Cli, ExplainPatternTable) {
  struct Case {
    const char* pattern;
    const char* host;
    bool allowed;
  };
  for (auto c : {Case{"example.com", "example.com", true},
                 Case{"example.com", "EXAMPLE.com.", true},
                 Case{"*.example.com", "www.example.com", true},
                 Case{"*.example.com", "a.b.example.com", true},
                 Case{"*.example.com", "example.com", false},
                 Case{"*.example.com", "evilexample.com", false},
                 Case{"*.example.com", "example.com.evil.net", false},
                 Case{"*.example.com", "_acme-challenge.example.com", true},
                 Case{"**.example.com", "example.com", true},
                 Case{"*", "anything.test", true},
                 Case{"region*.v2.example.net", "region1.v2.example.net", true},
                 Case{"region*.v2.example.net", "region.v2.example.net", true},
                 Case{"region*.v2.example.net", "region.evil.v2.example.net", false},
                 Case{"api-?.example.com", "api-1.example.com", true},
                 Case{"api-?.example.com", "api-12.example.com", false},
                 Case{"api.*.example.com", "api.eu.example.com", true},
                 Case{"api.*.example.com", "api.a.b.example.com", false},
                 Case{"example.com:8443", "example.com:1234", true},
                 Case{"xn--exmple-cua.com", "exämple.com", true},
                 Case{"exämple.com", "xn--exmple-cua.com", true},
                 Case{"127.0.0.1", "0x7f.1", true},
                 Case{"::1", "[0:0:0:0:0:0:0:1]", true},
                 Case{"fe80::1", "fe80::1%eth1", true},
                 Case{"fe80::1%eth0", "fe80::1%eth1", false}}) {
    auto [j, code] =
        explain(std::string("allowed_domains = [\"") + c.pattern + "\"]\n", {c.host, "--no-dns"});
    ASSERT_FALSE(j.is_null()) << c.pattern << " / " << c.host;
    EXPECT_EQ(j["decision"], c.allowed ? "allow" : "deny") << c.pattern << " / " << c.host;
    EXPECT_EQ(code, c.allowed ? 0 : 3) << c.pattern << " / " << c.host;
    if (!c.allowed) {
      EXPECT_EQ(j["reason"], "not_allowed");
    }
  }
  // Row 25: an invalid pattern is a config error.
  EXPECT_EQ(explain("allowed_domains = [\"*.1.2.3\"]\n", {"a.test", "--no-dns"}).second, 2);
}

// SPEC §7.4 boundary examples (allowlist "*", IP literals need no DNS).
TEST_F(Cli, ExplainAddressBoundaries) {
  for (auto h : {"172.15.255.255", "172.32.0.0", "100.63.255.255", "100.128.0.0", "8.8.8.8",
                 "[2606:4700:4700::1111]", "[64:ff9c::1]", "[64:ff9b::808:808]"}) {
    auto [j, code] = explain("allowed_domains = [\"*\"]\n", {h});
    EXPECT_EQ(code, 0) << h << " " << j.dump();
  }
  for (auto h :
       {"172.16.0.0", "172.31.255.255", "100.64.0.0", "100.127.255.255", "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]", "[::a9fe:a9fe]", "[fec0::1]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
        "[2001:0:4136:e378:8000:63bf:5601:5601]"}) {
    auto [j, code] = explain("allowed_domains = [\"*\"]\n", {h});
    EXPECT_EQ(code, 3) << h;
    EXPECT_EQ(j["reason"], "not_allowed_local") << h;
    EXPECT_EQ(j["x-proxy-error"], "blocked-by-allowlist") << h;
  }
}

// SPEC §18 rows 1–4, 6, 8 for every protocol explain knows.
TEST_F(Cli, ExplainSecurityRows) {
  const std::vector<std::string> protocols = {"http", "https_connect", "socks5_tcp"};
  for (const auto& proto : protocols) {
    for (auto h : {"127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1",
                   "017700000001", "127.0.0.1.", "0", "0.0.0.0"}) {
      auto [j, code] = explain("allowed_domains = [\"*\"]\n", {h, "--protocol", proto});
      EXPECT_EQ(code, 3) << h;
      EXPECT_EQ(j["reason"], "not_allowed_local") << h;
      std::string host = j["host"];
      EXPECT_TRUE(host == "127.0.0.1" || host == "0.0.0.0") << h << " → " << host;
    }
    for (auto h : {"1572395042", "0x5db8d822", "[::ffff:93.184.216.34]"}) {
      auto [j, code] = explain("allowed_domains = [\"*\"]\ndenied_domains = [\"93.184.216.34\"]\n",
                               {h, "--protocol", proto});
      EXPECT_EQ(j["reason"], "denied") << h;
    }
    for (auto h : {"169.254.169.254", "2852039166", "0xa9fea9fe", "169.254.43518",
                   "[::ffff:a9fe:a9fe]", "[::a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]",
                   "[2002:a9fe:a9fe::]", "[2001:0:4136:e378:8000:63bf:5601:5601]",
                   "[fd00:ec2::254]", "168.63.129.16", "100.100.100.200"}) {
      auto [j, code] = explain("allowed_domains = [\"*\"]\nallow_local_binding = true\n",
                               {h, "--protocol", proto});
      EXPECT_EQ(j["reason"], "not_allowed_local") << h;
    }
    for (auto h : {"[::1]", "[0:0:0:0:0:0:0:1]", "[::]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
                   "[64:ff9b:1::a00:1]", "[2002:7f00:1::]", "[fc00::1]", "[fec0::1]", "[ff02::1]",
                   "[fe80::1%25eth0]"}) {
      auto [j, code] = explain("allowed_domains = [\"*\"]\n", {h, "--protocol", proto});
      EXPECT_EQ(j["reason"], "not_allowed_local") << h;
    }
  }
  // A refused literal reports the address that was vetted.
  EXPECT_EQ(explain("allowed_domains = [\"*\"]\n", {"127.1"}).first["addresses"],
            nlohmann::json({"127.0.0.1"}));
  // Row 3: an exact IP entry opens metadata.
  EXPECT_EQ(explain("allowed_domains = [\"169.254.169.254\"]\n", {"169.254.169.254"}).second, 0);
  // Row 6.
  const std::string lists =
      "allowed_domains = [\"*.example.com\"]\ndenied_domains = [\"evil.example.com\"]\n";
  EXPECT_EQ(explain(lists, {"evilexample.com", "--no-dns"}).first["reason"], "not_allowed");
  EXPECT_EQ(explain(lists, {"example.com.evil.net", "--no-dns"}).first["reason"], "not_allowed");
  EXPECT_EQ(explain(lists, {"Evil.Example.Com.", "--no-dns"}).first["reason"], "denied");
  EXPECT_EQ(explain(lists, {"_acme-challenge.example.com", "--no-dns"}).second, 0);
  // Row 8.
  const std::string idn =
      "allowed_domains = [\"xn--exmple-cua.com\", \"apple.com\", "
      "\"example.com\"]\n";
  EXPECT_EQ(explain(idn, {"exämple.com", "--no-dns"}).second, 0);
  EXPECT_EQ(explain(idn, {"\xD0\xB0pple.com", "--no-dns"}).first["reason"], "not_allowed");
  EXPECT_EQ(explain(idn, {"ｅｘａｍｐｌｅ．ｃｏｍ", "--no-dns"}).second, 0);
}

// SPEC §18 rows 14, 16, 17 and the self-target rule (row 18) with a stub DNS server.
TEST_F(Cli, ExplainWithStubDns) {
  StubDnsServer dns;
  dns.load_script(R"(
public.test A 93.184.216.34
public.test AAAA 2606:4700::1
loopback.test A 127.0.0.1
private.test A 10.0.0.1
mixed.test A 93.184.216.34 127.0.0.1
mapped.test AAAA ::ffff:127.0.0.1
nat64.test AAAA 64:ff9b::a9fe:a9fe
alias.test CNAME inner.test
inner.test A 10.1.1.1
gone.test NXDOMAIN
broken.test SERVFAIL
empty.test EMPTY
)");
  const std::string base = "dns_servers = [\"" + dns.address() + "\"]\ndns_timeout_ms = 500\n";
  const std::string all = base + "allowed_domains = [\"*\"]\n";

  auto [ok, ok_code] = explain(all, {"public.test"});
  EXPECT_EQ(ok_code, 0) << ok.dump();
  EXPECT_EQ(ok["addresses"], nlohmann::json({"2606:4700::1", "93.184.216.34"}));

  for (auto h :
       {"loopback.test", "private.test", "mixed.test", "mapped.test", "nat64.test", "alias.test"}) {
    auto [j, code] = explain(all, {h});
    EXPECT_EQ(code, 3) << h;
    EXPECT_EQ(j["reason"], "not_allowed_local") << h << " " << j.dump();
  }
  for (auto h : {"gone.test", "broken.test", "empty.test"}) {
    auto [j, code] = explain(all, {h});
    EXPECT_EQ(code, 3) << h;
    EXPECT_EQ(j["reason"], "dns_failure") << h;
    EXPECT_EQ(j["source"], "proxy_state") << h;
    EXPECT_EQ(j["x-proxy-error"], "dns-failure") << h;
  }

  // Row 17: names not on the allowlist are never resolved, even with allow_local_binding.
  std::size_t before = dns.query_count();
  auto [j, code] = explain(base +
                               "allowed_domains = [\"other.test\"]\nallow_local_binding = "
                               "true\n",
                           {"public.test"});
  EXPECT_EQ(j["reason"], "not_allowed");
  EXPECT_EQ(dns.query_count(), before);

  // Row 18: a name resolving to loopback on the admin port is a self target.
  auto [self, self_code] = explain(all + "allow_local_binding = true\n", {"loopback.test:8080"});
  EXPECT_EQ(self["reason"], "self_target");
  EXPECT_EQ(self["source"], "proxy_state");
  EXPECT_EQ(self_code, 3);
}

TEST_F(Cli, ExplainTextOutputAndUsageErrors) {
  auto cfg = write("t.toml", "[network]\nenabled = true\nallowed_domains = [\"example.com\"]\n");
  auto r = netfence({"explain", "other.test", "--config", cfg});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.out.find("decision: deny\nreason: not_allowed\nsource: baseline_policy\n"
                       "x-proxy-error: blocked-by-allowlist\nmessage: Blocked: this host is not "
                       "on the allowlist. Add it to allowed_domains to permit it.\nhost: "
                       "other.test\nport: 80\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(netfence({"explain", "a.test", "--config", cfg, "--protocol", "ftp"}).exit_code, 2);
  EXPECT_EQ(netfence({"explain", "a.test", "--config", cfg, "--method", "G T"}).exit_code, 2);
  auto limited = write("l.toml",
                       "[network]\nenabled = true\nmode = \"limited\"\n"
                       "allowed_domains = [\"93.184.216.34\"]\n");
  auto post = netfence({"explain", "93.184.216.34", "--config", limited, "--method", "POST"});
  EXPECT_EQ(post.exit_code, 3);
  EXPECT_NE(post.out.find("reason: method_not_allowed\nsource: mode_guard\n"), std::string::npos)
      << post.out;
  auto connect =
      netfence({"explain", "93.184.216.34", "--config", limited, "--protocol", "https_connect"});
  EXPECT_NE(connect.out.find("reason: mitm_required\n"), std::string::npos) << connect.out;
  EXPECT_NE(connect.out.find("port: 443\n"), std::string::npos);
}

}  // namespace
}  // namespace netfence::testing
