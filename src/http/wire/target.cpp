#include "http/wire/target.hpp"

#include <algorithm>
#include <string>

namespace netfence::http {
namespace {

bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Length of a scheme at the start of `s` followed by ':' (RFC 3986 §3.1), or 0.
std::size_t scheme_length(std::string_view s) noexcept {
  if (s.empty() || !is_alpha(s[0])) return 0;
  std::size_t i = 1;
  while (i < s.size() &&
         (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) {
    ++i;
  }
  return (i < s.size() && s[i] == ':') ? i : 0;
}

// Only visible ASCII: controls, spaces and non-ASCII bytes have no business in a path or query.
bool visible_ascii(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x21 && c <= 0x7E;
  });
}

// An authority may carry a U-label (`exämple.com`, SPEC §4 step 5 / §18 row 8): bytes >= 0x80
// pass here and core::parse_host_port decides (UTF-8 validity, UTS-46). Controls, space and DEL
// never pass.
bool authority_bytes_ok(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x21 && c != 0x7F;
  });
}

// SPEC §4 step 3: 1–5 digits, no sign, no leading zero, 1–65535.
bool parse_port(std::string_view s, std::uint16_t& port) noexcept {
  if (s.empty() || s.size() > 5 || s[0] == '0') return false;
  unsigned v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

struct Authority {
  std::string_view host;  // brackets kept for IPv6
  std::string_view port;
  bool has_port = false;
  bool unbracketed_colons = false;  // 2+ colons outside brackets (bare IPv6)
};

// Splits host[:port] / [v6][:port] without judging the host (core does that).
Authority split_authority(std::string_view a) noexcept {
  Authority out;
  if (!a.empty() && a[0] == '[') {
    const auto close = a.find(']');
    if (close != std::string_view::npos && close + 1 < a.size() && a[close + 1] == ':') {
      out.host = a.substr(0, close + 1);
      out.port = a.substr(close + 2);
      out.has_port = true;
    } else {
      out.host = a;  // "[v6]" or junk after ']' (core rejects it)
    }
    return out;
  }
  const auto colons = static_cast<std::size_t>(std::count(a.begin(), a.end(), ':'));
  if (colons >= 2) {
    out.host = a;
    out.unbracketed_colons = true;
  } else if (colons == 1) {
    const auto colon = a.find(':');
    out.host = a.substr(0, colon);
    out.port = a.substr(colon + 1);
    out.has_port = true;
  } else {
    out.host = a;
  }
  return out;
}

}  // namespace

TargetForm classify_target(std::string_view target) noexcept {
  if (target == "*") return TargetForm::asterisk;
  if (!target.empty() && target[0] == '/') return TargetForm::origin;
  const auto n = scheme_length(target);
  if (n > 0 && target.substr(n + 1, 2) == "//") return TargetForm::absolute;
  return TargetForm::authority;
}

WireResult<AbsoluteTarget> parse_absolute_target(std::string_view target) {
  if (!authority_bytes_ok(target)) return kInvalidRequestTarget;
  // A fragment or a backslash is where URL parsers disagree about the authority
  // (`http://evil.net#@example.com/`, `http://evil.net\@example.com/`).
  if (target.find_first_of("#\\") != std::string_view::npos) return kInvalidRequestTarget;
  const auto scheme_len = scheme_length(target);
  if (scheme_len == 0) return kInvalidRequestTarget;

  AbsoluteTarget out;
  out.scheme.assign(target.substr(0, scheme_len));
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
  if (out.scheme == "http" || out.scheme == "ws") {
    out.default_port = 80;
  } else if (out.scheme == "https" || out.scheme == "wss") {
    out.default_port = 443;
  } else {
    return kUnsupportedScheme;
  }

  auto rest = target.substr(scheme_len + 1);
  if (rest.substr(0, 2) != "//") return kInvalidRequestTarget;
  rest.remove_prefix(2);
  const auto auth_end = rest.find_first_of("/?");
  const auto authority = rest.substr(0, auth_end);
  const auto tail = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
  if (!visible_ascii(tail)) return kInvalidRequestTarget;
  // Userinfo: `http://example.com@evil.net/` goes to evil.net for some parsers.
  if (authority.find('@') != std::string_view::npos) return kInvalidRequestTarget;

  const auto a = split_authority(authority);
  if (a.host.empty()) return kInvalidRequestTarget;
  if (a.unbracketed_colons) return kInvalidHost;  // HTTP targets must bracket IPv6 (§4 step 3)
  out.port = out.default_port;
  if (a.has_port) {
    // `example.com:443.evil.net` is a malformed host rather than a bad port (§18 row 7).
    if (a.port.find('.') != std::string_view::npos) return kInvalidHost;
    if (!parse_port(a.port, out.port)) return kInvalidRequestTarget;
    out.port_explicit = true;
  }
  auto host = core::parse_host_port(a.host, core::HostSource::http);
  if (!host.ok() || host->port.has_value()) return kInvalidHost;
  out.host = std::move(host->host);

  if (tail.empty()) {
    out.origin_form = "/";
  } else if (tail[0] == '?') {
    out.origin_form.reserve(tail.size() + 1);
    out.origin_form = "/";
    out.origin_form.append(tail);
  } else {
    out.origin_form.assign(tail);
  }
  return out;
}

WireResult<core::HostPort> parse_connect_target(std::string_view target) {
  if (target.empty() || !authority_bytes_ok(target)) return kInvalidConnectTarget;
  // No userinfo, path, query, fragment or scheme ("://" contains '/').
  if (target.find_first_of("@/?#\\") != std::string_view::npos) return kInvalidConnectTarget;
  const auto a = split_authority(target);
  if (a.unbracketed_colons || !a.has_port || a.host.empty()) return kInvalidConnectTarget;
  if (a.port.find('.') != std::string_view::npos) return kInvalidHost;  // see parse_absolute_target
  std::uint16_t port = 0;
  if (!parse_port(a.port, port)) return kInvalidConnectTarget;
  auto host = core::parse_host_port(a.host, core::HostSource::http);
  if (!host.ok() || host->port.has_value()) return kInvalidHost;
  return core::HostPort{std::move(host->host), port};
}

std::optional<WireError> check_host_header(const Headers& headers,
                                           const core::CanonicalHost& target_host,
                                           std::uint16_t target_port,
                                           std::uint16_t scheme_default_port) {
  const auto values = headers.values("host");
  if (values.empty()) return std::nullopt;
  if (values.size() > 1) return kInvalidHostHeader;
  const auto host = core::parse_host_port(values.front(), core::HostSource::http);
  if (!host.ok()) return kInvalidHostHeader;
  if (host->host.text != target_host.text ||
      host->port.value_or(scheme_default_port) != target_port) {
    return kHostHeaderMismatch;
  }
  return std::nullopt;
}

std::string format_authority(const core::CanonicalHost& host, std::uint16_t port,
                             std::uint16_t default_port) {
  std::string out;
  if (host.kind == core::HostKind::ipv6) {
    out.push_back('[');
    const auto pct = host.text.find('%');
    if (pct == std::string::npos) {
      out.append(host.text);
    } else {
      out.append(host.text, 0, pct);
      out.append("%25");
      out.append(host.text, pct + 1);
    }
    out.push_back(']');
  } else {
    out = host.text;
  }
  if (port != default_port) {
    out.push_back(':');
    out.append(std::to_string(port));
  }
  return out;
}

}  // namespace netfence::http
