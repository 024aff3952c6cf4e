#include "core/host.hpp"

#include <idn2.h>

#include <cstddef>
#include <memory>
#include <vector>

namespace netfence::core {

namespace {

constexpr std::size_t kMaxLabel = 63;
constexpr std::size_t kMaxHostInput = 1024;
constexpr std::size_t kMaxName = 253;
constexpr std::size_t kMaxZone = 15;

Error invalid(std::string reason) { return make_error("invalid_host", std::move(reason)); }

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_ascii(std::string_view s) noexcept {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}
char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// SPEC §4 step 2: the characters refused anywhere in a host (brackets and '%' are let through
// only by the IPv6 path, which never calls this on them).
bool is_forbidden(char c) noexcept {
  switch (c) {
    case '/':
    case '\\':
    case '@':
    case '#':
    case '%':
    case '?':
    case '*':
    case '[':
    case ']':
    case '{':
    case '}':
    case '!':
    case ',':
    case ';':
    case '"':
    case '\'':
    case '<':
    case '>':
    case '^':
    case '|':
    case '~':
    case '+':
    case ':':
      return true;
    default:
      return false;
  }
}

std::string forbidden_message(char c) {
  return std::string("contains a forbidden character '") + c + "'";
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      len = 3;
      if (b0 == 0xe0) lo = 0xa0;
      if (b0 == 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      len = 4;
      if (b0 == 0xf0) lo = 0x90;
      if (b0 == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b1 < lo || b1 > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      auto bk = static_cast<unsigned char>(s[i + k]);
      if (bk < 0x80 || bk > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

// Step 1-2 checks that apply to the whole input, before any splitting: a space or control
// character anywhere, and UTF-8 validity.
std::optional<Error> check_octets(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == ' ') return invalid("contains a space");
    if (c < 0x20 || c == 0x7f) return invalid("contains a control character");
  }
  if (!valid_utf8(s)) return invalid("invalid UTF-8");
  return std::nullopt;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Step 3: 1-5 ASCII digits, no sign, no leading zero, 1-65535.
std::optional<std::uint16_t> parse_port(std::string_view s) noexcept {
  if (s.empty() || s.size() > 5 || s[0] == '0') return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

// Step 5 trigger: the last label is all decimal digits, or "0x" followed by hex digits (like
// WHATWG URL and glibc, "0x" alone counts as the number 0).
bool is_numeric_label(std::string_view label) noexcept {
  if (label.empty()) return false;
  if (label.size() >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
    for (char c : label.substr(2)) {
      if (!is_hex(c)) return false;
    }
    return true;
  }
  for (char c : label) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// inet_aton syntax, written out here rather than calling glibc: its inet_aton accepts trailing
// garbage after a space ("1.2.3.4 evil") and the accepted forms differ between libcs. Parts are
// decimal, 0-octal or 0x-hex; with n parts the first n-1 are bytes and the last one fills the
// remaining 5-n bytes. Every part is range-checked.
std::optional<std::uint32_t> parse_inet_aton(std::string_view s) noexcept {
  std::array<std::uint64_t, 4> parts{};
  std::size_t n = 0;
  std::size_t pos = 0;
  while (true) {
    if (n == 4) return std::nullopt;
    std::size_t end = s.find('.', pos);
    std::string_view p = s.substr(pos, end == std::string_view::npos ? s.size() - pos : end - pos);
    if (p.empty()) return std::nullopt;
    unsigned base = 10;
    if (p.size() >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
      base = 16;
      p.remove_prefix(2);
    } else if (p.size() >= 2 && p[0] == '0') {
      base = 8;
      p.remove_prefix(1);
    }
    std::uint64_t v = 0;
    for (char c : p) {
      unsigned d = 0;
      if (is_digit(c)) {
        d = static_cast<unsigned>(c - '0');
      } else if (base == 16 && is_hex(c)) {
        d = static_cast<unsigned>(to_lower(c) - 'a' + 10);
      } else {
        return std::nullopt;
      }
      if (d >= base) return std::nullopt;
      v = v * base + d;
      if (v > 0xffffffffULL) return std::nullopt;  // also keeps v from overflowing
    }
    parts[n++] = v;
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  std::uint32_t value = 0;
  for (std::size_t i = 0; i + 1 < n; ++i) {
    if (parts[i] > 0xff) return std::nullopt;
    value |= static_cast<std::uint32_t>(parts[i]) << (24 - 8 * i);
  }
  std::size_t last_bits = 8 * (5 - n);
  std::uint64_t last_max = (std::uint64_t{1} << last_bits) - 1;
  if (parts[n - 1] > last_max) return std::nullopt;
  value |= static_cast<std::uint32_t>(parts[n - 1]);
  return value;
}

struct Idn2Deleter {
  void operator()(std::uint8_t* p) const noexcept { idn2_free(p); }
};

std::string idn2_reason(int rc) {
  switch (rc) {
    case IDN2_CONTEXTJ:
    case IDN2_CONTEXTJ_NO_RULE:
      return "invalid international domain name: joiner not allowed here";
    case IDN2_BIDI:
      return "invalid international domain name: bidi rule violated";
    case IDN2_DISALLOWED:
    case IDN2_INVALID_TRANSITIONAL:
    case IDN2_INVALID_NONTRANSITIONAL:
      return "invalid international domain name: disallowed character";
    case IDN2_PUNYCODE_BAD_INPUT:
    case IDN2_PUNYCODE_OVERFLOW:
      return "invalid international domain name: bad punycode";
    case IDN2_PUNYCODE_BIG_OUTPUT:  // the A-label would not fit in 63 octets
    case IDN2_TOO_BIG_LABEL:
      return "label longer than 63 octets";
    case IDN2_TOO_BIG_DOMAIN:
      return "name longer than 253 octets";
    default:
      return "invalid international domain name";
  }
}

// UTS-46 non-transitional processing of one label through libidn2. IDN2_NONTRANSITIONAL without
// IDN2_USE_STD3_ASCII_RULES keeps STD3 off ('_' passes); libidn2 2.3.3 always applies CheckBidi
// and CheckJoiners (ZWJ/ZWNJ outside their CONTEXTJ rule fail), and also CheckHyphens, which
// cannot be switched off: that is why ASCII labels never go through here.
Result<std::string> idn2_label(std::string_view label) {
  std::string z(label);  // libidn2 wants a NUL-terminated string
  std::uint8_t* out = nullptr;
  int rc =
      idn2_lookup_u8(reinterpret_cast<const std::uint8_t*>(z.c_str()), &out, IDN2_NONTRANSITIONAL);
  std::unique_ptr<std::uint8_t, Idn2Deleter> owned(out);
  if (rc != IDN2_OK || out == nullptr) return invalid(idn2_reason(rc));
  return std::string(reinterpret_cast<const char*>(out));
}

// Splits on '.' and the UTS-46 label separators U+3002, U+FF0E, U+FF61, which map to '.'.
std::vector<std::string_view> split_labels(std::string_view s) {
  std::vector<std::string_view> labels;
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t sep = 0;
    if (s[i] == '.') {
      sep = 1;
    } else if (s.substr(i, 3) == "\xE3\x80\x82" || s.substr(i, 3) == "\xEF\xBC\x8E" ||
               s.substr(i, 3) == "\xEF\xBD\xA1") {
      sep = 3;
    }
    if (sep == 0) {
      ++i;
      continue;
    }
    labels.push_back(s.substr(start, i - start));
    i += sep;
    start = i;
  }
  labels.push_back(s.substr(start));
  return labels;
}

// Step 7 for one label: ASCII is lower-cased (an xn-- label must be a valid A-label), anything
// else goes through UTS-46. The result is checked for the allowed characters and length.
Result<std::string> canonical_label(std::string_view label) {
  if (label.empty()) return invalid("empty label");
  std::string out;
  if (is_ascii(label)) {
    out.reserve(label.size());
    for (char c : label) out += to_lower(c);
  } else {
    auto mapped = idn2_label(label);
    if (!mapped) return mapped.error();
    out = std::move(mapped.value());
    // A label can map to something containing a dot only through characters UTS-46 disallows;
    // refuse rather than let one label become two.
    if (out.find('.') != std::string::npos) {
      return invalid("invalid international domain name: disallowed character");
    }
  }
  for (char c : out) {
    bool ok = (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_';
    if (!ok) return invalid(forbidden_message(c));
  }
  if (out.empty()) return invalid("empty label");
  if (out.size() > kMaxLabel) return invalid("label longer than 63 octets");
  if (out.size() >= 4 && out.compare(0, 4, "xn--") == 0) {
    // An A-label must decode to a valid U-label; libidn2's lookup decodes, validates and
    // re-encodes it, which must give back the same label.
    auto check = idn2_label(out);
    if (!check) return check.error();
    if (check.value() != out) return invalid("invalid international domain name: bad punycode");
  }
  return out;
}

Result<std::string> canonical_labels(const std::vector<std::string_view>& labels) {
  std::string name;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto l = canonical_label(labels[i]);
    if (!l) return l.error();
    if (i > 0) name += '.';
    name += l.value();
    // Stop as soon as the result is too long: IDNA work per label is not free, and a hostile
    // 64 KiB Host header must not buy 100 ms of CPU.
    if (name.size() > kMaxName) return invalid("name longer than 253 octets");
  }
  if (name.size() > kMaxName) return invalid("name longer than 253 octets");
  return name;
}

std::optional<Error> check_forbidden(std::string_view s) {
  for (char c : s) {
    if (is_forbidden(c)) return invalid(forbidden_message(c));
  }
  return std::nullopt;
}

CanonicalHost ipv4_host(std::uint32_t v) {
  CanonicalHost h;
  h.ip = IpAddress::v4(v);
  h.text = h.ip->to_string();
  h.kind = HostKind::ipv4;
  return h;
}

// Steps 4, 5 and 7 for a host without port, brackets or colons.
Result<CanonicalHost> canonical_name_or_ipv4(std::string_view host) {
  if (host.empty()) return invalid("empty host");
  if (auto e = check_forbidden(host)) return *e;
  std::vector<std::string_view> labels = split_labels(host);
  // Step 4: one trailing dot (also a mapped one, e.g. U+3002) is the root and is dropped.
  if (labels.size() > 1 && labels.back().empty()) labels.pop_back();
  if (labels.size() == 1 && labels[0].empty()) return invalid("empty host");
  for (auto l : labels) {
    if (l.empty()) return invalid("empty label");
  }
  // Step 5 on ASCII input; the mapped result is checked again below, so fullwidth digits
  // ("１２７.０.０.１") cannot smuggle an address in as a name.
  if (is_ascii(host) && is_numeric_label(labels.back())) {
    std::string joined;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) joined += '.';
      joined += labels[i];
    }
    auto v = parse_inet_aton(joined);
    if (!v) return invalid("invalid IPv4 address");
    return ipv4_host(*v);
  }
  auto name = canonical_labels(labels);
  if (!name) return name.error();
  std::string_view text = name.value();
  std::size_t last_dot = text.rfind('.');
  std::string_view last = last_dot == std::string_view::npos ? text : text.substr(last_dot + 1);
  if (is_numeric_label(last)) {
    auto v = parse_inet_aton(text);
    if (!v) return invalid("invalid IPv4 address");
    return ipv4_host(*v);
  }
  CanonicalHost h;
  h.text = std::move(name.value());
  h.kind = HostKind::name;
  return h;
}

bool is_zone_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '.' ||
         c == '-';
}

// Step 6: an IPv6 literal, without brackets, optionally with "%25zone" or "%zone".
Result<CanonicalHost> canonical_ipv6(std::string_view text) {
  std::string_view addr = text;
  std::string_view zone;
  bool has_zone = false;
  if (std::size_t pct = text.find('%'); pct != std::string_view::npos) {
    addr = text.substr(0, pct);
    zone = text.substr(pct + 1);
    has_zone = true;
    // RFC 6874 writes the '%' of a zone as "%25" inside URIs. "%25" followed by nothing is the
    // plain zone "25".
    if (zone.size() > 2 && zone.substr(0, 2) == "25") zone.remove_prefix(2);
  }
  // IpAddress::parse reads a colon-free string as IPv4; an IPv6 literal needs a colon.
  auto parsed = addr.find(':') == std::string_view::npos ? std::nullopt : IpAddress::parse(addr);
  if (!parsed || !parsed->is_v6()) return invalid("invalid IPv6 address");
  IpAddress ip = *parsed;
  CanonicalHost h;
  if (has_zone) {
    if (zone.empty() || zone.size() > kMaxZone) return invalid("invalid zone id");
    for (char c : zone) {
      if (!is_zone_char(c)) return invalid("invalid zone id");
    }
    // Keeps the canonical text re-parsable to itself: "%25x" would read back as zone "x".
    if (zone.size() > 2 && zone.substr(0, 2) == "25") return invalid("ambiguous zone id");
    const auto& b = ip.bytes();
    bool link_local = b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
    if (!link_local) return invalid("zone id only allowed on link-local addresses");
    h.zone = std::string(zone);
  }
  IpAddress plain = ip.unmapped();
  if (plain.is_v4()) return ipv4_host(plain.v4_value());
  h.ip = ip;
  h.kind = HostKind::ipv6;
  h.text = ip.to_string();
  if (!h.zone.empty()) h.text += "%" + h.zone;
  return h;
}

Result<HostPort> parse_impl(std::string_view input, HostSource source, bool allow_port) {
  std::string_view s = trim(input);
  if (s.empty()) return invalid("empty host");
  // No valid host spelling comes near this (253 octets, at most 4 UTF-8 bytes per character of
  // a U-label, plus brackets, zone and port); rejecting early bounds the cost of hostile input.
  if (s.size() > kMaxHostInput) return invalid("host longer than 1024 bytes");
  if (auto e = check_octets(s)) return *e;

  HostPort out;
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (s.front() == '[') {
    std::size_t close = s.find(']');
    if (close == std::string_view::npos) return invalid("unbalanced brackets");
    std::string_view inner = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || !allow_port) return invalid("unexpected characters after ']'");
      port = rest.substr(1);
      has_port = true;
    }
    if (inner.find(':') == std::string_view::npos) return invalid("invalid IPv6 address");
    auto h = canonical_ipv6(inner);
    if (!h) return h.error();
    out.host = std::move(h.value());
  } else {
    std::size_t colons = 0;
    for (char c : s) colons += c == ':' ? 1 : 0;
    if (colons >= 2 || (colons == 1 && !allow_port)) {
      if (colons >= 2 && source == HostSource::http) {
        return invalid("IPv6 address must be in brackets");
      }
      auto h = canonical_ipv6(s);
      if (!h) return h.error();
      out.host = std::move(h.value());
    } else {
      std::size_t colon = s.find(':');
      host = s.substr(0, colon);
      if (colon != std::string_view::npos) {
        port = s.substr(colon + 1);
        has_port = true;
      }
      if (host.empty()) return invalid("empty host");
      auto h = canonical_name_or_ipv4(host);
      if (!h) return h.error();
      out.host = std::move(h.value());
    }
  }
  if (has_port) {
    auto p = parse_port(port);
    if (!p) return invalid("invalid port");
    out.port = *p;
  }
  return out;
}

}  // namespace

Result<HostPort> parse_host_port(std::string_view input, HostSource source) {
  return parse_impl(input, source, true);
}

Result<CanonicalHost> canonicalize_host(std::string_view host) {
  auto r = parse_impl(host, HostSource::lenient, false);
  if (!r) return r.error();
  return std::move(r.value().host);
}

Result<std::string> canonicalize_name(std::string_view name) {
  if (name.empty()) return invalid("empty name");
  if (name.size() > kMaxHostInput) return invalid("host longer than 1024 bytes");
  if (auto e = check_octets(name)) return *e;
  if (auto e = check_forbidden(name)) return *e;
  return canonical_labels(split_labels(name));
}

}  // namespace netfence::core
