#include "api/child_env.hpp"

#include <array>
#include <string_view>

namespace netfence::api {
namespace {

constexpr std::array kHttpProxyVars = {
    "HTTP_PROXY",
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
    "DOCKER_HTTPS_PROXY",
};
constexpr std::array kAllProxyVars = {"ALL_PROXY", "all_proxy", "FTP_PROXY", "ftp_proxy"};
constexpr std::array kNoProxyVars = {"NO_PROXY",           "no_proxy",      "npm_config_noproxy",
                                     "NPM_CONFIG_NOPROXY", "YARN_NO_PROXY", "BUNDLE_NO_PROXY"};
constexpr std::string_view kNoProxyValue =
    "localhost,127.0.0.1,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16";
constexpr std::array kCaBundleVars = {
    "SSL_CERT_FILE",     "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",    "PIP_CERT",
    "npm_config_cafile", "NPM_CONFIG_CAFILE",  "AWS_CA_BUNDLE",  "CARGO_HTTP_CAINFO", "DENO_CERT"};

}  // namespace

std::vector<std::pair<std::string, std::string>> child_environment(const ChildEnvInput& in) {
  std::vector<std::pair<std::string, std::string>> vars;
  const std::string http_url = "http://" + in.http_addr;
  for (const char* name : kHttpProxyVars) vars.emplace_back(name, http_url);
  const std::string all_url = in.socks_addr ? "socks5h://" + *in.socks_addr : http_url;
  for (const char* name : kAllProxyVars) vars.emplace_back(name, all_url);
  for (const char* name : kNoProxyVars) vars.emplace_back(name, kNoProxyValue);
  vars.emplace_back("NETFENCE_PROXY_ACTIVE", "1");
  vars.emplace_back("CODEX_NETWORK_PROXY_ACTIVE", "1");
  vars.emplace_back("CODEX_NETWORK_ALLOW_LOCAL_BINDING", in.allow_local_binding ? "1" : "0");
  vars.emplace_back("ELECTRON_GET_USE_PROXY", "true");
  if (in.ca_bundle && in.ca_cert) {
    for (const char* name : kCaBundleVars) vars.emplace_back(name, *in.ca_bundle);
    vars.emplace_back("NODE_EXTRA_CA_CERTS", *in.ca_cert);
  }
  return vars;
}

}  // namespace netfence::api
