#include "mitm/trust_bundle.hpp"

#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "mitm/file_util.hpp"

namespace netfence::mitm {
namespace {

namespace fs = std::filesystem;

bool readable_regular(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), R_OK) == 0;
}

// Modification time through symlinks; nullopt when the file cannot be stat'ed.
std::optional<timespec> mtime(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return std::nullopt;
  return st.st_mtim;
}

bool older(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

}  // namespace

std::optional<fs::path> system_roots_file() {
  const char* builtin = X509_get_default_cert_file();
  const fs::path candidates[] = {
      builtin != nullptr ? fs::path(builtin) : fs::path(),
      "/etc/ssl/certs/ca-certificates.crt",
      "/etc/pki/tls/certs/ca-bundle.crt",
      "/etc/ssl/ca-bundle.pem",
      "/etc/ssl/cert.pem",
  };
  for (const auto& c : candidates) {
    if (!c.empty() && readable_regular(c)) return c;
  }
  return std::nullopt;
}

Result<CaBundle> build_ca_bundle(const CaMaterial& ca, const std::optional<fs::path>& roots) {
  CaBundle out;
  out.roots = roots;
  if (roots) {
    std::ifstream in(*roots, std::ios::binary);
    std::ostringstream text;
    if (!in || !(text << in.rdbuf())) {
      return make_error("io", "cannot read system root certificates " + roots->string());
    }
    out.pem = std::move(text).str();
    if (!out.pem.empty() && out.pem.back() != '\n') out.pem += '\n';
  }
  const std::string ca_pem = ca.cert_pem();
  if (ca_pem.empty()) return make_error("ca", "cannot encode the CA certificate");
  out.pem += ca_pem;
  return out;
}

Result<BundleRefresh> refresh_ca_bundle(const CaMaterial& ca, const fs::path& bundle_path) {
  BundleRefresh out;
  out.roots = system_roots_file();
  const auto bundle_time = mtime(bundle_path);
  bool stale = !bundle_time;
  if (!stale && out.roots) {
    const auto t = mtime(*out.roots);
    stale = !t || older(*bundle_time, *t);
  }
  if (!stale && !ca.cert_path.empty()) {
    const auto t = mtime(ca.cert_path);
    stale = !t || older(*bundle_time, *t);
  }
  if (!stale) return out;
  auto bundle = build_ca_bundle(ca, out.roots);
  if (!bundle) return bundle.error();
  if (auto written = detail::replace_atomic(bundle_path, bundle->pem, 0644); !written) {
    return make_error("io", written.error().message);
  }
  out.rewritten = true;
  return out;
}

}  // namespace netfence::mitm
