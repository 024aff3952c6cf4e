// TOML → Config (SPEC §3). The only translation unit that includes toml++ (house rule 9): toml++
// throws parse_error, which is turned into a Result here, and nothing toml-shaped leaks out.
//
// Keys are visited in file order (toml++ tables iterate in key order), so the first error and
// the warnings come out in the order a reader of the file meets them.
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "config/listener.hpp"
#include "core/host.hpp"
#include "core/ip_address.hpp"
#include "netfence/config.hpp"
#include "policy/pattern.hpp"

namespace netfence {
namespace {

using config::quote_toml_string;

constexpr std::size_t kMinAdminTokenLength = 16;
constexpr std::size_t kMaxSocksPasswordLength = 255;  // RFC 1929: one length octet
constexpr std::uint16_t kDnsPort = 53;

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// A key as it would appear in a dotted TOML key: bare when possible, quoted otherwise.
std::string key_segment(std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
  return bare ? std::string(key) : quote_toml_string(key);
}

std::string entry_path(std::string_view table_path, std::string_view key) {
  return std::string(table_path) + "[" + quote_toml_string(key) + "]";
}

std::string index_path(std::string_view array_path, std::size_t i) {
  return std::string(array_path) + "[" + std::to_string(i) + "]";
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// Lexical normalisation of an absolute path: collapse "//", drop ".", resolve ".." but never
// above "/". No filesystem access: the socket may not exist yet.
std::string normalize_socket_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    std::string_view part = path.substr(pos, next - pos);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    pos = next + 1;
  }
  std::string out;
  for (auto part : parts) {
    out += '/';
    out += part;
  }
  return out.empty() ? "/" : out;
}

// "ip", "ip:port", "[v6]", "[v6]:port" or a bare IPv6 literal → "ip:port" (IPv6 bracketed).
// Strict literals only: a name server is an address, and `0x7f.1` there is more likely a typo.
std::optional<std::string> normalize_dns_server(std::string_view text) {
  std::string_view host = text;
  std::string_view port_text;
  bool want_v6 = false;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':' || after.size() == 1) return std::nullopt;
      port_text = after.substr(1);
    }
    want_v6 = true;
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    auto colon = text.find(':');
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (port_text.empty()) return std::nullopt;
  }
  auto ip = core::IpAddress::parse(host);
  if (!ip || (want_v6 && !ip->is_v6()) || (!port_text.empty() && !want_v6 && ip->is_v6())) {
    return std::nullopt;
  }
  std::uint32_t port = kDnsPort;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || port_text.front() == '0') return std::nullopt;
    port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return std::nullopt;
      port = port * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (port > 65535) return std::nullopt;
  }
  // An IPv4-mapped address is the IPv4 address (SPEC §4 step 6).
  const core::IpAddress addr = ip->unmapped();
  std::string out;
  if (addr.is_v6()) out += '[';
  out += addr.to_string();
  if (addr.is_v6()) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

// RFC 9110 token characters: an OTLP header name is sent verbatim on the wire.
bool is_header_name(std::string_view s) {
  constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kExtra.find(c) != std::string_view::npos;
  });
}

bool is_header_value(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
  });
}

using Entry = std::pair<const toml::key*, const toml::node*>;

bool before(const toml::source_position& a, const toml::source_position& b) {
  return a.line != b.line ? a.line < b.line : a.column < b.column;
}

std::vector<Entry> entries_in_file_order(const toml::table& table) {
  std::vector<Entry> out;
  out.reserve(table.size());
  for (auto&& [key, node] : table) out.emplace_back(&key, &node);
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return before(a.first->source().begin, b.first->source().begin);
  });
  return out;
}

struct BoolKey {
  std::string_view name;
  bool Config::*member;
};

constexpr std::array kBoolKeys{
    BoolKey{"enabled", &Config::enabled},
    BoolKey{"enable_socks5", &Config::enable_socks5},
    BoolKey{"enable_socks5_udp", &Config::enable_socks5_udp},
    BoolKey{"allow_upstream_proxy", &Config::allow_upstream_proxy},
    BoolKey{"dangerously_allow_non_loopback_proxy", &Config::dangerously_allow_non_loopback_proxy},
    BoolKey{"dangerously_allow_non_loopback_admin", &Config::dangerously_allow_non_loopback_admin},
    BoolKey{"mitm", &Config::mitm},
    BoolKey{"allow_local_binding", &Config::allow_local_binding},
    BoolKey{"dangerously_allow_all_unix_sockets", &Config::dangerously_allow_all_unix_sockets},
    BoolKey{"enable_admin", &Config::enable_admin},
};

template <class Struct>
struct IntKey {
  std::string_view name;
  std::uint32_t Struct::*member;
  std::int64_t min;
  std::int64_t max;
};

constexpr std::array kIntKeys{
    IntKey<Config>{"dns_timeout_ms", &Config::dns_timeout_ms, 1, 60000},
    IntKey<Config>{"connect_timeout_ms", &Config::connect_timeout_ms, 1, 300000},
    IntKey<Config>{"idle_timeout_s", &Config::idle_timeout_s, 1, 604800},
    IntKey<Config>{"max_connections", &Config::max_connections, 1, 1048576},
    IntKey<Config>{"decider_timeout_ms", &Config::decider_timeout_ms, 1, 600000},
};

constexpr std::array kAuditIntKeys{
    IntKey<AuditConfig>{"batch_size", &AuditConfig::batch_size, 1, 8192},
    IntKey<AuditConfig>{"batch_timeout_ms", &AuditConfig::batch_timeout_ms, 10, 60000},
    IntKey<AuditConfig>{"queue_size", &AuditConfig::queue_size, 1, 1000000},
};

struct MetadataKey {
  std::string_view name;
  std::optional<std::string> AuditMetadata::*member;
};

constexpr std::array kMetadataKeys{
    MetadataKey{"conversation_id", &AuditMetadata::conversation_id},
    MetadataKey{"app_version", &AuditMetadata::app_version},
    MetadataKey{"user_account_id", &AuditMetadata::user_account_id},
    MetadataKey{"auth_mode", &AuditMetadata::auth_mode},
    MetadataKey{"originator", &AuditMetadata::originator},
    MetadataKey{"user_email", &AuditMetadata::user_email},
    MetadataKey{"terminal_type", &AuditMetadata::terminal_type},
    MetadataKey{"model", &AuditMetadata::model},
    MetadataKey{"slug", &AuditMetadata::slug},
};

struct ListenerKey {
  std::string_view name;
  std::string Config::*member;
  std::uint16_t default_port;
};

constexpr std::array kListenerKeys{
    ListenerKey{"proxy_url", &Config::proxy_url, 3128},
    ListenerKey{"admin_url", &Config::admin_url, 8080},
    ListenerKey{"socks_url", &Config::socks_url, 8081},
};

constexpr std::string_view kDomainsExpectation = R"("allow", "deny" or "none")";
constexpr std::string_view kSocketsExpectation = R"("allow", "none" or "deny")";

// Walks one network table. Every check returns Result<void>; the first error ends the load.
class Loader {
 public:
  explicit Loader(std::string_view file) : file_(file) {}

  Result<Config> run(const toml::table& root);

 private:
  using Status = Result<void>;

  std::string where(const toml::source_region& region) const {
    return std::string(file_) + ":" + std::to_string(region.begin.line) + ":" +
           std::to_string(region.begin.column) + ": ";
  }
  Error fail(const toml::source_region& region, std::string_view path,
             std::string_view message) const {
    return make_error("config", where(region) + std::string(path) + ": " + std::string(message));
  }
  Error expected(const toml::node& node, std::string_view path, std::string_view expectation,
                 std::string_view got) const {
    return fail(node.source(), path,
                "expected " + std::string(expectation) + ", got " + std::string(got));
  }
  Error expected(const toml::node& node, std::string_view path,
                 std::string_view expectation) const {
    return expected(node, path, expectation, type_name(node));
  }
  void warn(const toml::source_region& region, std::string text) {
    cfg_.warnings.push_back(where(region) + std::move(text));
  }
  void warn_unknown(const toml::key& key, std::string_view table_path) {
    warn(key.source(),
         "unknown key " + std::string(table_path) + "." + key_segment(key.str()) + " (ignored)");
  }

  Result<const toml::table*> select_network_table(const toml::table& root);
  Status network_entry(const toml::key& key, const toml::node& node);
  Status audit_table(const toml::node& node);
  Status audit_metadata_table(const toml::node& node);

  Status string_value(const toml::node& node, std::string_view path, std::string& out);
  Status optional_string(const toml::node& node, std::string_view path,
                         std::optional<std::string>& out);
  template <class Struct>
  Status int_value(const toml::node& node, std::string_view path, const IntKey<Struct>& spec,
                   Struct& target);
  Status pattern_array(const toml::node& node, std::string_view path, policy::PatternList list);
  Status domains_table(const toml::node& node);
  Status pattern(const toml::source_region& region, std::string_view path, std::string_view raw,
                 policy::PatternList list);
  Status socket_array(const toml::node& node);
  Status sockets_table(const toml::node& node);
  Status dns_servers(const toml::node& node);
  Status dns_hosts(const toml::node& node);
  Status otlp_headers(const toml::node& node);

  void merge_lists();

  std::string_view file_;
  Config cfg_;
  // Alias merging needs every source first (SPEC §3.3): collected here, merged at the end.
  std::vector<std::string> allowed_, denied_, sockets_allowed_, sockets_removed_;
};

Result<Config> Loader::run(const toml::table& root) {
  auto network = select_network_table(root);
  if (!network) return network.error();
  if (*network) {
    for (const auto& [key, node] : entries_in_file_order(**network)) {
      if (auto st = network_entry(*key, *node); !st) return st.error();
    }
  }
  merge_lists();
  return std::move(cfg_);
}

Result<const toml::table*> Loader::select_network_table(const toml::table& root) {
  const toml::node* selected = nullptr;
  if (const toml::node* dp = root.get("default_permissions")) {
    const auto* name = dp->as_string();
    if (!name) return expected(*dp, "default_permissions", "a string");
    const std::string table_name = "permissions." + key_segment(name->get());
    const toml::node* perms = root.get("permissions");
    const toml::node* profile =
        perms && perms->is_table() ? perms->as_table()->get(name->get()) : nullptr;
    if (!profile) {
      return make_error("config",
                        where(dp->source()) + "default_permissions: no [" + table_name + "] table");
    }
    if (!profile->is_table()) return expected(*profile, table_name, "a table");
    selected = profile->as_table()->get("network");
    for (auto&& [key, node] : root) {
      if (key.str() == "network") {
        warn(key.source(),
             "[network] ignored because default_permissions selects [" + table_name + ".network]");
      }
    }
  } else {
    selected = root.get("network");
  }
  if (!selected) return nullptr;
  if (!selected->is_table()) return expected(*selected, "network", "a table");
  return selected->as_table();
}

Result<void> Loader::network_entry(const toml::key& key, const toml::node& node) {
  const std::string_view name = key.str();
  const std::string path = "network." + key_segment(name);

  for (const auto& spec : kBoolKeys) {
    if (spec.name != name) continue;
    const auto* b = node.as_boolean();
    if (!b) return expected(node, path, "a boolean");
    cfg_.*spec.member = b->get();
    return {};
  }
  for (const auto& spec : kIntKeys) {
    if (spec.name == name) return int_value(node, path, spec, cfg_);
  }
  for (const auto& spec : kListenerKeys) {
    if (spec.name != name) continue;
    std::string value;
    if (auto st = string_value(node, path, value); !st) return st;
    // Validated now so a typo fails the load; warnings and clamping belong to plan_listeners(),
    // which runs once at start-up (listener keys are not reloadable, SPEC §3.6).
    auto parsed = config::parse_listener_url(value, spec.default_port);
    if (!parsed) return fail(node.source(), path, parsed.error().message);
    cfg_.*spec.member = std::move(value);
    return {};
  }

  if (name == "mode") {
    const auto* s = node.as_string();
    constexpr std::string_view kModes = R"("full" or "limited")";
    if (!s) return expected(node, path, kModes);
    if (s->get() == "full") {
      cfg_.mode = Mode::full;
    } else if (s->get() == "limited") {
      cfg_.mode = Mode::limited;
    } else {
      return expected(node, path, kModes, quote_toml_string(s->get()));
    }
    return {};
  }
  if (name == "allowed_domains") return pattern_array(node, path, policy::PatternList::allowed);
  if (name == "denied_domains") return pattern_array(node, path, policy::PatternList::denied);
  if (name == "domains") return domains_table(node);
  if (name == "allow_unix_sockets") return socket_array(node);
  if (name == "unix_sockets") return sockets_table(node);
  if (name == "dns_servers") return dns_servers(node);
  if (name == "dns_hosts") return dns_hosts(node);
  if (name == "extra_ca_certs") return optional_string(node, path, cfg_.extra_ca_certs);
  if (name == "socks_password") {
    if (auto st = optional_string(node, path, cfg_.socks_password); !st) return st;
    if (cfg_.socks_password && cfg_.socks_password->size() > kMaxSocksPasswordLength) {
      return expected(node, path, "at most 255 bytes (RFC 1929)",
                      std::to_string(cfg_.socks_password->size()) + " bytes");
    }
    return {};
  }
  if (name == "admin_token") {
    if (auto st = optional_string(node, path, cfg_.admin_token); !st) return st;
    if (cfg_.admin_token && cfg_.admin_token->size() < kMinAdminTokenLength) {
      warn(node.source(),
           "network.admin_token is shorter than 16 characters; use a long random token");
    }
    return {};
  }
  if (name == "audit") return audit_table(node);
  if (name == "audit_metadata") return audit_metadata_table(node);

  warn_unknown(key, "network");
  return {};
}

Result<void> Loader::string_value(const toml::node& node, std::string_view path, std::string& out) {
  const auto* s = node.as_string();
  if (!s) return expected(node, path, "a string");
  out = s->get();
  return {};
}

// Empty means unset: that is how a templated config switches a secret or a sink off.
Result<void> Loader::optional_string(const toml::node& node, std::string_view path,
                                     std::optional<std::string>& out) {
  std::string value;
  if (auto st = string_value(node, path, value); !st) return st;
  if (value.empty()) {
    out.reset();
  } else {
    out = std::move(value);
  }
  return {};
}

template <class Struct>
Result<void> Loader::int_value(const toml::node& node, std::string_view path,
                               const IntKey<Struct>& spec, Struct& target) {
  const std::string expectation =
      "an integer from " + std::to_string(spec.min) + " to " + std::to_string(spec.max);
  const auto* i = node.as_integer();
  if (!i) return expected(node, path, expectation);
  const std::int64_t v = i->get();
  if (v < spec.min || v > spec.max) return expected(node, path, expectation, std::to_string(v));
  target.*spec.member = static_cast<std::uint32_t>(v);
  return {};
}

Result<void> Loader::pattern(const toml::source_region& region, std::string_view path,
                             std::string_view raw, policy::PatternList list) {
  auto compiled = policy::compile_pattern(raw, list);
  if (!compiled) return fail(region, path, compiled.error().message);
  if (compiled->port_ignored) {
    warn(region, std::string(path) + ": port in pattern " + quote_toml_string(raw) + " ignored");
  }
  auto& target = list == policy::PatternList::allowed ? allowed_ : denied_;
  target.push_back(compiled->pattern.text());
  return {};
}

Result<void> Loader::pattern_array(const toml::node& node, std::string_view path,
                                   policy::PatternList list) {
  const auto* arr = node.as_array();
  if (!arr) return expected(node, path, "an array of strings");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& el = *arr->get(i);
    const std::string el_path = index_path(path, i);
    const auto* s = el.as_string();
    if (!s) return expected(el, el_path, "a string");
    if (auto st = pattern(el.source(), el_path, s->get(), list); !st) return st;
  }
  return {};
}

Result<void> Loader::domains_table(const toml::node& node) {
  constexpr std::string_view kPath = "network.domains";
  const auto* table = node.as_table();
  if (!table) return expected(node, kPath, "a table of strings");
  for (const auto& [key, value] : entries_in_file_order(*table)) {
    const std::string path = entry_path(kPath, key->str());
    const auto* s = value->as_string();
    if (!s) return expected(*value, path, kDomainsExpectation);
    const std::string& verdict = s->get();
    if (verdict == "none") continue;  // adds nothing (SPEC §3.3), so it is not compiled either
    if (verdict != "allow" && verdict != "deny") {
      return expected(*value, path, kDomainsExpectation, quote_toml_string(verdict));
    }
    // The pattern is the key, so a bad pattern is reported at the key.
    const auto list =
        verdict == "allow" ? policy::PatternList::allowed : policy::PatternList::denied;
    if (auto st = pattern(key->source(), path, key->str(), list); !st) return st;
  }
  return {};
}

Result<void> Loader::socket_array(const toml::node& node) {
  constexpr std::string_view kPath = "network.allow_unix_sockets";
  const auto* arr = node.as_array();
  if (!arr) return expected(node, kPath, "an array of strings");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& el = *arr->get(i);
    const std::string el_path = index_path(kPath, i);
    const auto* s = el.as_string();
    if (!s) return expected(el, el_path, "a string");
    const std::string& p = s->get();
    if (p.empty() || p.front() != '/' || p.find('\0') != std::string::npos) {
      return expected(el, el_path, "an absolute path", quote_toml_string(p));
    }
    sockets_allowed_.push_back(normalize_socket_path(p));
  }
  return {};
}

Result<void> Loader::sockets_table(const toml::node& node) {
  constexpr std::string_view kPath = "network.unix_sockets";
  const auto* table = node.as_table();
  if (!table) return expected(node, kPath, "a table of strings");
  for (const auto& [key, value] : entries_in_file_order(*table)) {
    const std::string path = entry_path(kPath, key->str());
    const std::string_view p = key->str();
    if (p.empty() || p.front() != '/' || p.find('\0') != std::string_view::npos) {
      return fail(key->source(), path, "expected an absolute path, got " + quote_toml_string(p));
    }
    const auto* s = value->as_string();
    if (!s) return expected(*value, path, kSocketsExpectation);
    const std::string& verdict = s->get();
    if (verdict == "allow") {
      sockets_allowed_.push_back(normalize_socket_path(p));
    } else if (verdict == "none" || verdict == "deny") {
      sockets_removed_.push_back(normalize_socket_path(p));
    } else {
      return expected(*value, path, kSocketsExpectation, quote_toml_string(verdict));
    }
  }
  return {};
}

Result<void> Loader::dns_servers(const toml::node& node) {
  constexpr std::string_view kPath = "network.dns_servers";
  const auto* arr = node.as_array();
  if (!arr) return expected(node, kPath, "an array of strings");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& el = *arr->get(i);
    const std::string el_path = index_path(kPath, i);
    const auto* s = el.as_string();
    if (!s) return expected(el, el_path, "a string");
    auto server = normalize_dns_server(s->get());
    if (!server) {
      return expected(el, el_path, "an IP address or IP:port", quote_toml_string(s->get()));
    }
    cfg_.dns_servers.push_back(std::move(*server));
  }
  return {};
}

// Keys are canonical names (SPEC §4) so they compare equal to the host being resolved; answers
// are strict IP literals (IpAddress::parse), not host spellings: `0x7f.1` in a static answer is far
// more likely a mistake than intent. IPv4-mapped answers are stored as IPv4 (SPEC §4 step 6).
// Keys that canonicalise to the same name are merged, answers de-duplicated in file order.
Result<void> Loader::dns_hosts(const toml::node& node) {
  constexpr std::string_view kPath = "network.dns_hosts";
  const auto* table = node.as_table();
  if (!table) return expected(node, kPath, "a table of arrays of IP addresses");
  for (const auto& [key, value] : entries_in_file_order(*table)) {
    const std::string path = entry_path(kPath, key->str());
    auto host = core::canonicalize_host(key->str());
    if (!host || host->is_ip()) {
      return fail(key->source(), path,
                  "expected a host name, got " + quote_toml_string(key->str()));
    }
    const auto* arr = value->as_array();
    if (!arr) return expected(*value, path, "an array of IP addresses");
    if (arr->empty()) return expected(*value, path, "at least one IP address", "[]");

    auto it = std::find_if(cfg_.dns_hosts.begin(), cfg_.dns_hosts.end(),
                           [&](const auto& e) { return e.first == host->text; });
    if (it == cfg_.dns_hosts.end()) {
      cfg_.dns_hosts.emplace_back(host->text, std::vector<std::string>{});
      it = std::prev(cfg_.dns_hosts.end());
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& el = *arr->get(i);
      const std::string el_path = index_path(path, i);
      const auto* s = el.as_string();
      if (!s) return expected(el, el_path, "a string");
      auto ip = core::IpAddress::parse(s->get());
      if (!ip) return expected(el, el_path, "an IP address", quote_toml_string(s->get()));
      std::string text = ip->unmapped().to_string();
      if (std::find(it->second.begin(), it->second.end(), text) == it->second.end()) {
        it->second.push_back(std::move(text));
      }
    }
  }
  return {};
}

Result<void> Loader::audit_table(const toml::node& node) {
  constexpr std::string_view kPath = "network.audit";
  const auto* table = node.as_table();
  if (!table) return expected(node, kPath, "a table");
  for (const auto& [key, value] : entries_in_file_order(*table)) {
    const std::string_view name = key->str();
    const std::string path = std::string(kPath) + "." + key_segment(name);
    if (name == "jsonl_path") {
      if (auto st = optional_string(*value, path, cfg_.audit.jsonl_path); !st) return st;
    } else if (name == "otlp_endpoint") {
      if (auto st = optional_string(*value, path, cfg_.audit.otlp_endpoint); !st) return st;
      // The exporter speaks OTLP/HTTP only; anything else would fail at the first export.
      const auto& url = cfg_.audit.otlp_endpoint;
      if (url && !(istarts_with(*url, "http://") && url->size() > 7) &&
          !(istarts_with(*url, "https://") && url->size() > 8)) {
        return expected(*value, path, "an http:// or https:// URL", quote_toml_string(*url));
      }
    } else if (name == "otlp_headers") {
      if (auto st = otlp_headers(*value); !st) return st;
    } else {
      const auto* spec = std::find_if(kAuditIntKeys.begin(), kAuditIntKeys.end(),
                                      [&](const auto& k) { return k.name == name; });
      if (spec == kAuditIntKeys.end()) {
        warn_unknown(*key, kPath);
      } else if (auto st = int_value(*value, path, *spec, cfg_.audit); !st) {
        return st;
      }
    }
  }
  return {};
}

// Header names and values go verbatim into HTTP requests: refuse anything that could split them.
Result<void> Loader::otlp_headers(const toml::node& node) {
  constexpr std::string_view kPath = "network.audit.otlp_headers";
  const auto* table = node.as_table();
  if (!table) return expected(node, kPath, "a table of strings");
  for (const auto& [key, value] : entries_in_file_order(*table)) {
    const std::string path = entry_path(kPath, key->str());
    if (!is_header_name(key->str())) {
      return fail(key->source(), path,
                  "expected an HTTP header name, got " + quote_toml_string(key->str()));
    }
    const auto* s = value->as_string();
    if (!s) return expected(*value, path, "a string");
    if (!is_header_value(s->get())) {
      return expected(*value, path, "a header value without control characters",
                      quote_toml_string(s->get()));
    }
    cfg_.audit.otlp_headers.emplace_back(std::string(key->str()), s->get());
  }
  return {};
}

Result<void> Loader::audit_metadata_table(const toml::node& node) {
  constexpr std::string_view kPath = "network.audit_metadata";
  const auto* table = node.as_table();
  if (!table) return expected(node, kPath, "a table");
  for (const auto& [key, value] : entries_in_file_order(*table)) {
    const std::string_view name = key->str();
    const auto* spec = std::find_if(kMetadataKeys.begin(), kMetadataKeys.end(),
                                    [&](const auto& k) { return k.name == name; });
    if (spec == kMetadataKeys.end()) {
      warn_unknown(*key, kPath);
      continue;
    }
    std::string text;
    const std::string path = std::string(kPath) + "." + key_segment(name);
    if (auto st = string_value(*value, path, text); !st) return st;
    cfg_.audit_metadata.*(spec->member) = std::move(text);
  }
  return {};
}

void Loader::merge_lists() {
  auto contains = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  for (auto& p : denied_) {
    if (!contains(cfg_.denied_domains, p)) cfg_.denied_domains.push_back(p);
  }
  // Deny wins: a pattern in both lists is only a deny (SPEC §3.3).
  for (auto& p : allowed_) {
    if (!contains(cfg_.allowed_domains, p) && !contains(cfg_.denied_domains, p)) {
      cfg_.allowed_domains.push_back(p);
    }
  }
  for (auto& p : sockets_allowed_) {
    if (!contains(cfg_.allow_unix_sockets, p) && !contains(sockets_removed_, p)) {
      cfg_.allow_unix_sockets.push_back(p);
    }
  }
}

Result<Config> load_from_text(std::string_view text, std::string_view display_name) {
  // Exceptions stop here (house rule 4): toml++ reports syntax errors by throwing, and an
  // allocation failure must not escape a loader that runs on reload.
  try {
    toml::table root;
    try {
      root = toml::parse(text, display_name);
    } catch (const toml::parse_error& e) {
      const auto& pos = e.source().begin;
      return make_error("config", std::string(display_name) + ":" + std::to_string(pos.line) + ":" +
                                      std::to_string(pos.column) + ": " +
                                      std::string(e.description()));
    }
    return Loader(display_name).run(root);
  } catch (const std::exception& e) {
    return make_error("config", std::string(display_name) + ": " + e.what());
  }
}

}  // namespace

Result<Config> load_config_from_string(std::string_view toml_text, std::string_view display_name) {
  return load_from_text(toml_text, display_name);
}

Result<Config> load_config(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(name.c_str(), "rb"),
                                                       &std::fclose);
  auto io_error = [&](int err) {
    return make_error("config", name + ": " + std::generic_category().message(err));
  };
  if (!file) return io_error(errno);
  std::string text;
  std::array<char, 8192> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), file.get())) > 0) text.append(buf.data(), n);
  // fopen succeeds on a directory; the read then fails with EISDIR.
  if (std::ferror(file.get())) return io_error(errno);

  auto cfg = load_from_text(text, name);
  if (cfg) cfg->source_path = path;
  return cfg;
}

}  // namespace netfence
