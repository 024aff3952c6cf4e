// Fuzzes the upstream proxy settings (SPEC §12). The whole input is a NO_PROXY list; split at
// NUL bytes it is also the environment (HTTP_PROXY, http_proxy, HTTPS_PROXY, https_proxy,
// ALL_PROXY, all_proxy, NO_PROXY, no_proxy in that order), read with fixed own listeners.
// Checked: warnings are the three documented texts, endpoints are well-formed and carry no
// credentials in `display`, loop protection holds, `*` matches everything, an empty NO_PROXY
// matches nothing, choose() agrees with the settings, and reading is deterministic.
// std::abort() on violation.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/host.hpp"
#include "core/ip_address.hpp"
#include "upstream/upstream_proxy.hpp"

namespace {

using netfence::core::CanonicalHost;
using netfence::core::HostKind;
using netfence::core::IpAddress;
using netfence::upstream::EnvLookup;
using netfence::upstream::NoProxy;
using netfence::upstream::OwnListener;
using netfence::upstream::ProxyEndpoint;
using netfence::upstream::Settings;

constexpr std::array<std::string_view, 8> kVars = {"HTTP_PROXY",  "http_proxy", "HTTPS_PROXY",
                                                   "https_proxy", "ALL_PROXY",  "all_proxy",
                                                   "NO_PROXY",    "no_proxy"};
constexpr std::uint16_t kOwnPort = 3128;

void check(bool ok) {
  if (!ok) std::abort();
}

bool known_var(std::string_view v) {
  for (std::string_view k : kVars) {
    if (k == v) return true;
  }
  return false;
}

bool is_warning(const std::string& w) {
  constexpr std::string_view kPrefix = "ignoring ";
  if (!w.starts_with(kPrefix)) return false;
  const std::size_t colon = w.find(": ");
  if (colon == std::string::npos || !known_var(w.substr(kPrefix.size(), colon - kPrefix.size()))) {
    return false;
  }
  const std::string_view rest = std::string_view(w).substr(colon + 2);
  return rest == "only http and https upstream proxies are supported" ||
         rest == "invalid proxy URL" ||
         rest == "it points at netfence's own listener 127.0.0.1:3128" ||
         rest == "it points at netfence's own listener [::1]:3128";
}

bool is_loopback(const CanonicalHost& h) {
  if (h.kind == HostKind::name) return h.text == "localhost";
  if (h.ip->is_v4()) return h.text == "127.0.0.1";
  return h.text == "::1";
}

void check_endpoint(const std::optional<ProxyEndpoint>& ep) {
  if (!ep) return;
  check(ep->port != 0);
  check(known_var(ep->variable));
  check(ep->authorization.empty() || ep->authorization.starts_with("Basic "));
  check(ep->display.starts_with(ep->tls ? "https://" : "http://"));
  check(ep->display.find('@') == std::string::npos);
  check(ep->display.ends_with(":" + std::to_string(ep->port)));
  check(!(ep->port == kOwnPort && is_loopback(ep->host)));  // loop protection
  // The host is canonical: it canonicalises to itself.
  auto again = netfence::core::canonicalize_host(ep->host.text);
  check(again.ok() && again->text == ep->host.text && again->kind == ep->host.kind);
}

bool same(const std::optional<ProxyEndpoint>& a, const std::optional<ProxyEndpoint>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->tls == b->tls && a->host.text == b->host.text && a->port == b->port &&
         a->authorization == b->authorization && a->display == b->display &&
         a->variable == b->variable;
}

// Targets to match: fixed ones plus every slice that parses as a host.
std::vector<std::pair<CanonicalHost, std::uint16_t>> targets(
    const std::vector<std::string_view>& slices) {
  std::vector<std::pair<CanonicalHost, std::uint16_t>> out;
  for (std::string_view t : {"example.com", "www.example.com", "10.0.0.1", "::1", "fd00::1",
                             "127.0.0.1", "xn--exmple-cua.com", "fe80::1%eth0"}) {
    auto h = netfence::core::canonicalize_host(t);
    check(h.ok());
    out.emplace_back(std::move(*h), 443);
  }
  // A bounded number, so that inputs with many NULs stay linear.
  for (std::size_t i = 0; i < slices.size() && i < 16; ++i) {
    auto hp = netfence::core::parse_host_port(slices[i], netfence::core::HostSource::lenient);
    if (hp) out.emplace_back(std::move(hp->host), hp->port.value_or(80));
  }
  return out;
}

void check_no_proxy(const NoProxy& np,
                    const std::vector<std::pair<CanonicalHost, std::uint16_t>>& hosts) {
  for (const auto& [host, port] : hosts) {
    const bool m = np.matches(host, port);
    if (np.empty()) check(!m);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  std::vector<std::string_view> slices;
  for (std::size_t start = 0;;) {
    const std::size_t nul = in.find('\0', start);
    slices.push_back(in.substr(start, nul == std::string_view::npos ? nul : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  const auto hosts = targets(slices);

  const NoProxy whole = NoProxy::parse(in);
  check_no_proxy(whole, hosts);
  if (in == "*") {
    for (const auto& [host, port] : hosts) check(whole.matches(host, port));
  }

  const EnvLookup env = [&slices](std::string_view name) -> std::optional<std::string> {
    for (std::size_t i = 0; i < kVars.size() && i < slices.size(); ++i) {
      if (kVars[i] == name) return std::string(slices[i]);
    }
    return std::nullopt;
  };
  const std::vector<OwnListener> own = {{*IpAddress::parse("127.0.0.1"), kOwnPort},
                                        {*IpAddress::parse("::1"), kOwnPort}};
  const Settings s = netfence::upstream::read_settings(env, own);

  check(s.warnings.size() <= 6);  // each proxy variable is judged at most once
  for (const std::string& w : s.warnings) check(is_warning(w));
  check_endpoint(s.http);
  check_endpoint(s.https);
  check(s.active() == (s.http.has_value() || s.https.has_value()));
  check_no_proxy(s.no_proxy, hosts);

  for (const auto& [host, port] : hosts) {
    for (bool secure : {false, true}) {
      const ProxyEndpoint* p = s.choose(secure, host, port);
      const auto& want = secure ? s.https : s.http;
      if (!want || s.no_proxy.matches(host, port)) {
        check(p == nullptr);
      } else {
        check(p == &*want);
      }
    }
  }

  const Settings again = netfence::upstream::read_settings(env, own);
  check(again.warnings == s.warnings);
  check(same(again.http, s.http) && same(again.https, s.https));
  return 0;
}
