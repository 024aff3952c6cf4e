// Drives the real `netfence` binary for `ca init|path|export` and `env` (SPEC §17, §10.3,
// §3.1), and checks the created CA with the real `openssl` command.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "process.hpp"

namespace netfence::testing {
namespace {

namespace fs = std::filesystem;

const std::string kBinary = NETFENCE_CLI_PATH;
const char* const kOpenssl = "/usr/bin/openssl";

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return static_cast<unsigned>(st.st_mode & 07777);
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// The system roots as `ca export --bundle` is expected to find them on Debian.
std::optional<fs::path> system_roots() {
  for (const char* p : {"/usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt"}) {
    if (fs::is_regular_file(p)) return fs::path(p);
  }
  return std::nullopt;
}

class CliCa : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("netfence-cli-ca-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    home_ = dir_ / "home";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path proxy() const { return home_ / "proxy"; }
  fs::path cert() const { return proxy() / "ca.pem"; }
  fs::path key() const { return proxy() / "ca.key"; }
  fs::path bundle() const { return proxy() / "ca-bundle.pem"; }

  std::string write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  // NETFENCE_HOME = home_; CODEX_HOME and HOME elsewhere so a wrong lookup shows.
  ProcessResult netfence(std::vector<std::string> args,
                         std::vector<std::pair<std::string, std::string>> env = {}) {
    args.insert(args.begin(), kBinary);
    std::vector<std::pair<std::string, std::string>> base = {
        {"NETFENCE_HOME", home_.string()},
        {"CODEX_HOME", (dir_ / "codex").string()},
        {"HOME", (dir_ / "user").string()}};
    for (auto& kv : env) {
      for (auto& b : base) {
        if (b.first == kv.first) b.second = kv.second;
      }
    }
    return run_process(args, base);
  }

  fs::path dir_, home_;
};

TEST_F(CliCa, PathBeforeInitFails) {
  auto r = netfence({"ca", "path"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(" ERROR no CA at " + cert().string()), std::string::npos) << r.err;
  auto e = netfence({"ca", "export"});
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_EQ(e.out, "");
  EXPECT_FALSE(fs::exists(proxy())) << "export must not create the CA";
}

TEST_F(CliCa, InitCreatesThenValidates) {
  auto r = netfence({"ca", "init"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, cert().string() + "\n");
  EXPECT_NE(r.err.find(" INFO created MITM CA " + cert().string()), std::string::npos) << r.err;
  EXPECT_EQ(mode_of(home_), 0700u);
  EXPECT_EQ(mode_of(proxy()), 0700u);
  EXPECT_EQ(mode_of(cert()), 0644u);
  EXPECT_EQ(mode_of(key()), 0600u);
  EXPECT_EQ(read(key()).rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  const std::string pem = read(cert());

  auto again = netfence({"ca", "init"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, cert().string() + "\n");
  EXPECT_EQ(again.err, "");
  EXPECT_EQ(read(cert()), pem);

  auto path = netfence({"ca", "path"});
  EXPECT_EQ(path.exit_code, 0);
  EXPECT_EQ(path.out, cert().string() + "\n");
}

TEST_F(CliCa, ExportPrintsOrWritesThePem) {
  ASSERT_EQ(netfence({"ca", "init"}).exit_code, 0);
  const std::string pem = read(cert());
  auto r = netfence({"ca", "export"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, pem);
  EXPECT_EQ(r.err, "");

  const fs::path out = dir_ / "exported.pem";
  auto w = netfence({"ca", "export", "--out", out.string()});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_EQ(w.out, "");
  EXPECT_EQ(read(out), pem);

  auto bad = netfence({"ca", "export", "--out", (dir_ / "no" / "such" / "dir.pem").string()});
  EXPECT_EQ(bad.exit_code, 1);
}

TEST_F(CliCa, ExportBundleIsSystemRootsThenTheCa) {
  ASSERT_EQ(netfence({"ca", "init"}).exit_code, 0);
  const std::string pem = read(cert());
  const fs::path out = dir_ / "bundle.pem";
  auto w = netfence({"ca", "export", "--bundle", "--out", out.string()});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  const std::string bundle = read(out);
  ASSERT_GE(bundle.size(), pem.size());
  EXPECT_EQ(bundle.substr(bundle.size() - pem.size()), pem);
  if (auto roots = system_roots()) {
    std::string roots_text = read(*roots);
    if (!roots_text.empty() && roots_text.back() != '\n') roots_text += '\n';
    EXPECT_EQ(bundle, roots_text + pem);
    EXPECT_EQ(count(bundle, "-----BEGIN CERTIFICATE-----"),
              count(roots_text, "-----BEGIN CERTIFICATE-----") + 1);
  }
  auto s = netfence({"ca", "export", "--bundle"});
  ASSERT_EQ(s.exit_code, 0);
  EXPECT_EQ(s.out, bundle);
}

TEST_F(CliCa, OpensslSeesTheSpecFields) {
  if (!fs::exists(kOpenssl)) GTEST_SKIP() << "openssl command not installed";
  ASSERT_EQ(netfence({"ca", "init"}).exit_code, 0);
  auto r = run_process({kOpenssl, "x509", "-in", cert().string(), "-text", "-noout"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string& t = r.out;
  for (const char* needle : {
           "Version: 3 (0x2)",
           "Signature Algorithm: ecdsa-with-SHA256",
           "Issuer: CN = netfence local MITM CA, O = netfence",
           "Subject: CN = netfence local MITM CA, O = netfence",
           "Public Key Algorithm: id-ecPublicKey",
           "Public-Key: (256 bit)",
           "NIST CURVE: P-256",
           "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0\n",
           "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign\n",
           "X509v3 Subject Key Identifier:",
       }) {
    EXPECT_NE(t.find(needle), std::string::npos) << needle << "\n" << t;
  }
  EXPECT_EQ(t.find("Authority Key Identifier"), std::string::npos);
  EXPECT_EQ(t.find("Extended Key Usage"), std::string::npos);

  // 128-bit serial: 16 octets printed as aa:bb:..., positive.
  auto serial = run_process({kOpenssl, "x509", "-in", cert().string(), "-noout", "-serial"});
  ASSERT_EQ(serial.exit_code, 0);
  ASSERT_EQ(serial.out.rfind("serial=", 0), 0u);
  EXPECT_EQ(serial.out.size(), std::string("serial=").size() + 32 + 1) << serial.out;

  // Self-signed and usable as a trust anchor; the key matches.
  auto verify = run_process({kOpenssl, "verify", "-CAfile", cert().string(), cert().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto cert_pub = run_process({kOpenssl, "x509", "-in", cert().string(), "-noout", "-pubkey"});
  auto key_pub = run_process({kOpenssl, "pkey", "-in", key().string(), "-pubout"});
  ASSERT_EQ(key_pub.exit_code, 0) << key_pub.err;
  EXPECT_EQ(cert_pub.out, key_pub.out);

  // notAfter − notBefore = 10 years (from the dates openssl prints).
  auto dates = run_process({kOpenssl, "x509", "-in", cert().string(), "-noout", "-dates"});
  ASSERT_EQ(dates.exit_code, 0);
  const auto nb = dates.out.find("notBefore=");
  const auto na = dates.out.find("notAfter=");
  ASSERT_NE(nb, std::string::npos);
  ASSERT_NE(na, std::string::npos);
  std::string before = dates.out.substr(nb + 10, dates.out.find('\n', nb) - nb - 10);
  std::string after = dates.out.substr(na + 9, dates.out.find('\n', na) - na - 9);
  // "Nov 27 11:03:18 2026 GMT": equal except the year, which is 10 more.
  ASSERT_EQ(before.size(), after.size());
  const auto year_at = before.size() - 8;
  EXPECT_EQ(before.substr(0, year_at), after.substr(0, year_at));
  EXPECT_EQ(std::stoi(after.substr(year_at, 4)), std::stoi(before.substr(year_at, 4)) + 10);
}

TEST_F(CliCa, RefusalsExitOneWithTheSpecText) {
  ASSERT_EQ(netfence({"ca", "init"}).exit_code, 0);
  ::chmod(key().c_str(), 0644);
  for (const char* action : {"init", "export"}) {
    auto r = netfence({"ca", action});
    EXPECT_EQ(r.exit_code, 1) << action;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find(" ERROR refusing CA key " + key().string() +
                         ": mode 0644 is group/world accessible (expected 0600 or stricter)\n"),
              std::string::npos)
        << r.err;
  }
  ::chmod(key().c_str(), 0600);
  fs::remove(cert());
  // An old key (not one whose creator is still writing the certificate) is refused at once.
  timespec old[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
  ::utimensat(AT_FDCWD, key().c_str(), old, 0);
  auto r = netfence({"ca", "init"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("CA files must both exist or both be absent (cert=" + cert().string() +
                       ", key=" + key().string() + ")"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(cert())) << "init must not replace a half CA";
}

TEST_F(CliCa, StateHomePrecedence) {
  // CODEX_HOME when NETFENCE_HOME is empty; ~/.codex when both are.
  auto codex = netfence({"ca", "init"}, {{"NETFENCE_HOME", ""}});
  ASSERT_EQ(codex.exit_code, 0) << codex.err;
  EXPECT_EQ(codex.out, (dir_ / "codex" / "proxy" / "ca.pem").string() + "\n");
  auto user = netfence({"ca", "init"}, {{"NETFENCE_HOME", ""}, {"CODEX_HOME", ""}});
  ASSERT_EQ(user.exit_code, 0) << user.err;
  EXPECT_EQ(user.out, (dir_ / "user" / ".codex" / "proxy" / "ca.pem").string() + "\n");
  EXPECT_FALSE(fs::exists(proxy()));
}

TEST_F(CliCa, UsageErrorsExitTwo) {
  EXPECT_EQ(netfence({"ca"}).exit_code, 2);
  EXPECT_EQ(netfence({"ca", "frob"}).exit_code, 2);
  EXPECT_EQ(netfence({"ca", "init", "--bundle"}).exit_code, 2);
  EXPECT_EQ(netfence({"ca", "path", "--config", (dir_ / "missing.toml").string()}).exit_code, 2);
  EXPECT_EQ(netfence({"env", "--shell", "zsh"}).exit_code, 2);
  auto help = netfence({"--help"});
  EXPECT_NE(help.out.find("ca"), std::string::npos);
  EXPECT_NE(help.out.find("env"), std::string::npos);
  // --config is accepted before or after the action.
  const auto cfg = write("ok.toml", "[network]\nenabled = true\n");
  ASSERT_EQ(netfence({"ca", "init", "--config", cfg}).exit_code, 0);
  EXPECT_EQ(netfence({"ca", "--config", cfg, "path"}).exit_code, 0);
}

// --- env ---

const std::vector<std::string> kHttpVars = {"HTTP_PROXY",
                                            "HTTPS_PROXY",
                                            "http_proxy",
                                            "https_proxy",
                                            "WS_PROXY",
                                            "WSS_PROXY",
                                            "ws_proxy",
                                            "wss_proxy",
                                            "YARN_HTTP_PROXY",
                                            "YARN_HTTPS_PROXY",
                                            "npm_config_proxy",
                                            "npm_config_http_proxy",
                                            "npm_config_https_proxy",
                                            "NPM_CONFIG_PROXY",
                                            "NPM_CONFIG_HTTP_PROXY",
                                            "NPM_CONFIG_HTTPS_PROXY",
                                            "BUNDLE_HTTP_PROXY",
                                            "BUNDLE_HTTPS_PROXY",
                                            "PIP_PROXY",
                                            "DOCKER_HTTP_PROXY",
                                            "DOCKER_HTTPS_PROXY"};
const std::vector<std::string> kAllVars = {"ALL_PROXY", "all_proxy", "FTP_PROXY", "ftp_proxy"};
const std::vector<std::string> kNoProxyVars = {"NO_PROXY",           "no_proxy",
                                               "npm_config_noproxy", "NPM_CONFIG_NOPROXY",
                                               "YARN_NO_PROXY",      "BUNDLE_NO_PROXY"};
const std::vector<std::string> kCaVars = {
    "SSL_CERT_FILE",     "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",    "PIP_CERT",
    "npm_config_cafile", "NPM_CONFIG_CAFILE",  "AWS_CA_BUNDLE",  "CARGO_HTTP_CAINFO", "DENO_CERT"};

std::string expected_env(const std::string& http, const std::string& all, bool local,
                         const std::optional<std::pair<std::string, std::string>>& ca,
                         bool fish = false) {
  std::string out;
  auto line = [&](const std::string& n, const std::string& v) {
    out += (fish ? "set -gx " + n + " '" : "export " + n + "='") + v + "'\n";
  };
  for (const auto& n : kHttpVars) line(n, http);
  for (const auto& n : kAllVars) line(n, all);
  for (const auto& n : kNoProxyVars) {
    line(n, "localhost,127.0.0.1,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16");
  }
  line("NETFENCE_PROXY_ACTIVE", "1");
  line("CODEX_NETWORK_PROXY_ACTIVE", "1");
  line("CODEX_NETWORK_ALLOW_LOCAL_BINDING", local ? "1" : "0");
  line("ELECTRON_GET_USE_PROXY", "true");
  if (ca) {
    for (const auto& n : kCaVars) line(n, ca->first);
    line("NODE_EXTRA_CA_CERTS", ca->second);
  }
  return out;
}

TEST_F(CliCa, EnvWithoutMitm) {
  const auto cfg = write("c.toml",
                         "[network]\nenabled = true\nproxy_url = \"http://127.0.0.1:3999\"\n"
                         "socks_url = \"127.0.0.1:4999\"\n");
  auto r = netfence({"env", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            expected_env("http://127.0.0.1:3999", "socks5h://127.0.0.1:4999", false, std::nullopt));
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(fs::exists(proxy())) << "env without mitm must not create a CA";

  auto fish = netfence({"env", "--config", cfg, "--shell", "fish"});
  ASSERT_EQ(fish.exit_code, 0);
  EXPECT_EQ(fish.out, expected_env("http://127.0.0.1:3999", "socks5h://127.0.0.1:4999", false,
                                   std::nullopt, true));
  auto sh = netfence({"env", "--config", cfg, "--shell", "sh"});
  EXPECT_EQ(sh.out, r.out);
}

TEST_F(CliCa, EnvDefaultsSocksOffIpv6AndClamping) {
  // Defaults (implicit config lookup finds nothing): 3128 and 8081.
  auto d = netfence({"env"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(d.out,
            expected_env("http://127.0.0.1:3128", "socks5h://127.0.0.1:8081", false, std::nullopt));
  EXPECT_NE(d.err.find("WARN no config file at"), std::string::npos);

  const auto off = write("off.toml",
                         "[network]\nenabled = true\nenable_socks5 = false\n"
                         "socks_url = \"127.0.0.1:0\"\nallow_local_binding = true\n");
  auto o = netfence({"env", "--config", off});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out,
            expected_env("http://127.0.0.1:3128", "http://127.0.0.1:3128", true, std::nullopt));

  const auto v6 = write("v6.toml",
                        "[network]\nenabled = true\nproxy_url = \"http://[::1]:3129\"\n"
                        "socks_url = \"socks5://[::1]:1080\"\n");
  auto s = netfence({"env", "--config", v6});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(s.out, expected_env("http://[::1]:3129", "socks5h://[::1]:1080", false, std::nullopt));

  const auto wide = write("wide.toml", "[network]\nenabled = true\nproxy_url = \"0.0.0.0:3130\"\n");
  auto w = netfence({"env", "--config", wide});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_EQ(w.out.substr(0, w.out.find('\n')), "export HTTP_PROXY='http://127.0.0.1:3130'");
  EXPECT_NE(w.err.find("non-loopback bind"), std::string::npos) << w.err;

  const auto disabled = write("disabled.toml", "[network]\nenabled = false\n");
  auto x = netfence({"env", "--config", disabled});
  EXPECT_EQ(x.exit_code, 0);
  EXPECT_EQ(x.out,
            expected_env("http://127.0.0.1:3128", "socks5h://127.0.0.1:8081", false, std::nullopt));
  EXPECT_NE(x.err.find("WARN network.enabled is false in " + disabled), std::string::npos);
}

TEST_F(CliCa, EnvRefusesPortZeroAndBadConfig) {
  const auto http0 = write("h0.toml", "[network]\nenabled = true\nproxy_url = \"127.0.0.1:0\"\n");
  auto h = netfence({"env", "--config", http0});
  EXPECT_EQ(h.exit_code, 2);
  EXPECT_EQ(h.out, "");
  const auto socks0 = write("s0.toml", "[network]\nenabled = true\nsocks_url = \"127.0.0.1:0\"\n");
  auto s = netfence({"env", "--config", socks0});
  EXPECT_EQ(s.exit_code, 2);
  EXPECT_EQ(s.out, "");
  const auto bad = write("bad.toml", "[network]\nmode = \"readonly\"\n");
  EXPECT_EQ(netfence({"env", "--config", bad}).exit_code, 2);
  EXPECT_EQ(netfence({"env", "--config", (dir_ / "missing.toml").string()}).exit_code, 2);
}

TEST_F(CliCa, EnvWithMitmCreatesTheCaAndTheBundle) {
  const auto cfg = write("m.toml", "[network]\nenabled = true\nmitm = true\nmode = \"limited\"\n");
  auto r = netfence({"env", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected_env("http://127.0.0.1:3128", "socks5h://127.0.0.1:8081", false,
                                std::pair{bundle().string(), cert().string()}));
  ASSERT_TRUE(fs::exists(cert()));
  EXPECT_EQ(mode_of(bundle()), 0644u);
  const std::string pem = read(cert());
  const std::string b = read(bundle());
  EXPECT_EQ(b.substr(b.size() - pem.size()), pem);
  if (auto roots = system_roots()) {
    std::string roots_text = read(*roots);
    if (!roots_text.empty() && roots_text.back() != '\n') roots_text += '\n';
    EXPECT_EQ(b, roots_text + pem);
  }
  // `ca export --bundle` gives the same bytes.
  auto e = netfence({"ca", "export", "--bundle"});
  EXPECT_EQ(e.out, b);

  // Not rewritten while newer than both sources; rewritten once the CA file is newer.
  struct stat before {};
  ::stat(bundle().c_str(), &before);
  std::ofstream(bundle(), std::ios::app) << "# marker\n";
  timespec old[2] = {before.st_mtim, before.st_mtim};
  ::utimensat(AT_FDCWD, bundle().c_str(), old, 0);
  auto again = netfence({"env", "--config", cfg});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, r.out);
  EXPECT_NE(read(bundle()).find("# marker"), std::string::npos);
  timespec older[2] = {{before.st_mtim.tv_sec - 100, 0}, {before.st_mtim.tv_sec - 100, 0}};
  ::utimensat(AT_FDCWD, bundle().c_str(), older, 0);
  ASSERT_EQ(netfence({"env", "--config", cfg}).exit_code, 0);
  EXPECT_EQ(read(bundle()), b);
}

TEST_F(CliCa, EnvWithMitmFailsOnABrokenCa) {
  ASSERT_EQ(netfence({"ca", "init"}).exit_code, 0);
  fs::remove(key());
  fs::create_symlink(dir_ / "elsewhere.key", key());
  const auto cfg = write("m.toml", "[network]\nenabled = true\nmitm = true\n");
  auto r = netfence({"env", "--config", cfg});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("refusing CA key " + key().string() + ": it is a symlink"),
            std::string::npos)
      << r.err;
}

TEST_F(CliCa, EnvQuotingSurvivesTheShell) {
  // A home path with a quote, a space and a backslash.
  home_ = dir_ / "it's a \\home";
  const auto cfg = write("m.toml", "[network]\nenabled = true\nmitm = true\n");
  auto r = netfence({"env", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string script = write("env.sh", r.out);
  auto sh = run_process({"/bin/sh", "-c",
                         ". \"$0\"; printf '%s|%s' \"$SSL_CERT_FILE\" "
                         "\"$NODE_EXTRA_CA_CERTS\"",
                         script});
  ASSERT_EQ(sh.exit_code, 0) << sh.err;
  EXPECT_EQ(sh.out, bundle().string() + "|" + cert().string());

  auto fish = netfence({"env", "--config", cfg, "--shell", "fish"});
  ASSERT_EQ(fish.exit_code, 0);
  std::string escaped;
  for (char c : bundle().string()) {
    if (c == '\'' || c == '\\') escaped += '\\';
    escaped += c;
  }
  EXPECT_NE(fish.out.find("set -gx SSL_CERT_FILE '" + escaped + "'\n"), std::string::npos)
      << fish.out;
}

}  // namespace
}  // namespace netfence::testing
