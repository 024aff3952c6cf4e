#include "policy/pattern.hpp"

#include <algorithm>
#include <array>

namespace netfence::policy {
namespace {

bool is_wild(char c) { return c == '*' || c == '?'; }
bool has_wildcard(std::string_view s) { return s.find_first_of("*?") != std::string_view::npos; }

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The IDNA full stops map to '.' (UTS-46); splitting wildcard patterns needs them as ASCII dots
// before the literal labels reach the IDNA step.
std::string map_unicode_dots(std::string_view s) {
  static constexpr std::array<std::string_view, 3> kDots = {"\xE3\x80\x82", "\xEF\xBC\x8E",
                                                            "\xEF\xBD\xA1"};
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    bool mapped = false;
    for (auto dot : kDots) {
      if (s.substr(i, dot.size()) == dot) {
        out.push_back('.');
        i += dot.size();
        mapped = true;
        break;
      }
    }
    if (!mapped) out.push_back(s[i++]);
  }
  return out;
}

std::vector<std::string_view> split_labels(std::string_view s) {
  std::vector<std::string_view> labels;
  std::size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    labels.push_back(s.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels;
}

bool is_numeric_label(std::string_view label) {
  if (label.empty()) return false;
  if (label.size() > 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
    return std::all_of(label.begin() + 2, label.end(),
                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
  }
  return std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Glob match of one label: '*' = zero or more characters, '?' = exactly one. Labels never contain
// dots, so wildcards cannot cross them. Iterative with single backtrack point: linear-ish and no
// recursion on attacker-controlled hosts.
bool glob_label(std::string_view pat, std::string_view s) {
  std::size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && (pat[p] == '?' || pat[p] == s[i])) {
      ++p;
      ++i;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

Error invalid(std::string_view raw, std::string_view why) {
  return make_error("pattern", "invalid pattern \"" + std::string(raw) + "\": " + std::string(why));
}

}  // namespace

// Builds Pattern objects; a friend so Pattern's representation stays private.
struct PatternCompiler {
  static Result<CompiledPattern> compile(std::string_view raw, PatternList list);
  static Result<CompiledPattern> compile_wildcard(std::string_view raw, std::string_view body,
                                                  bool port_ignored, PatternList list);
};

Result<CompiledPattern> compile_pattern(std::string_view raw, PatternList list) {
  return PatternCompiler::compile(raw, list);
}

Result<CompiledPattern> PatternCompiler::compile(std::string_view raw, PatternList list) {
  std::string_view body = raw;
  while (!body.empty() && (body.front() == ' ' || body.front() == '\t')) body.remove_prefix(1);
  while (!body.empty() && (body.back() == ' ' || body.back() == '\t')) body.remove_suffix(1);
  if (body.empty()) return invalid(raw, "empty pattern");

  // Brackets are IPv6 syntax only as "[v6]" or "[v6]:port"; anywhere else they are glob syntax.
  const auto close = body.find(']');
  const bool ipv6_brackets = body.front() == '[' && close != std::string_view::npos &&
                             body.substr(1, close).find(':') != std::string_view::npos;
  if (body.find_first_of("{}!") != std::string_view::npos ||
      (body.find_first_of("[]") != std::string_view::npos && !ipv6_brackets)) {
    return invalid(raw, "glob syntax ([ ] { } !) is not supported; use * or ?");
  }

  if (!has_wildcard(body)) {
    auto hp = core::parse_host_port(body, core::HostSource::lenient);
    if (!hp) return invalid(raw, hp.error().message);
    CompiledPattern out;
    out.port_ignored = hp->port.has_value();
    Pattern& p = out.pattern;
    p.text_ = hp->host.text;
    if (hp->host.is_ip()) {
      p.kind_ = Pattern::Kind::ip;
      p.ip_ = hp->host.ip;
      p.zone_ = hp->host.zone;
    } else {
      p.kind_ = Pattern::Kind::exact;
    }
    return out;
  }

  // Wildcard pattern: drop a trailing ":port" (compat), then work label by label.
  std::string mapped = map_unicode_dots(body);
  std::string_view rest = mapped;
  bool port_ignored = false;
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    if (rest.find(':') != colon) return invalid(raw, "wildcards cannot be used in an IP address");
    std::string_view port = rest.substr(colon + 1);
    bool digits =
        !port.empty() && port.size() <= 5 && port.front() != '0' &&
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoul(std::string(port)) > 65535) return invalid(raw, "invalid port");
    rest = rest.substr(0, colon);
    port_ignored = true;
  }
  return compile_wildcard(raw, rest, port_ignored, list);
}

Result<CompiledPattern> PatternCompiler::compile_wildcard(std::string_view raw,
                                                          std::string_view body, bool port_ignored,
                                                          PatternList list) {
  if (body == "*." || body == "**.") return invalid(raw, "nothing after \"*.\"");
  if (!body.empty() && body.back() == '.') body.remove_suffix(1);
  if (body.empty()) return invalid(raw, "empty pattern");

  CompiledPattern out;
  out.port_ignored = port_ignored;
  Pattern& p = out.pattern;
  std::string lowered = lower_ascii(body);

  if (lowered == "*") {
    if (list == PatternList::denied) {
      return make_error("pattern", "pattern \"" + std::string(raw) +
                                       "\" would match every host; use a concrete domain such "
                                       "as \"*.example.com\"");
    }
    p.kind_ = Pattern::Kind::everything;
    p.text_.assign(1, '*');  // not = "*": g++ 12 false -Wrestrict (GCC PR 105329)
    return out;
  }

  auto labels = split_labels(lowered);
  bool any_literal = false;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::string_view label = labels[i];
    if (label.empty()) return invalid(raw, "empty label");
    if (label.find("**") != std::string_view::npos && !(i == 0 && label == "**")) {
      return invalid(raw, "\"**\" is allowed only as the whole first label");
    }
    if (std::any_of(label.begin(), label.end(), [](char c) { return !is_wild(c); })) {
      any_literal = true;
    }
  }
  if (!any_literal) {
    if (list == PatternList::denied) {
      return make_error("pattern", "pattern \"" + std::string(raw) +
                                       "\" would match every host; use a concrete domain such "
                                       "as \"*.example.com\"");
    }
    return make_error("pattern", "pattern \"" + std::string(raw) +
                                     "\" would match every host; use \"*\" to allow every host");
  }
  // Leading "*." / "**." prefix, then labels that are literal or label-local globs.
  std::size_t first = 0;
  Pattern::Kind prefix_kind = Pattern::Kind::labelwise;
  if (labels[0] == "*" && labels.size() > 1) {
    prefix_kind = Pattern::Kind::subdomains;
    first = 1;
  } else if (labels[0] == "**") {
    prefix_kind = Pattern::Kind::apex_and_subs;
    first = 1;
  }

  std::vector<std::string> normalised;
  bool rest_has_wildcard = false;
  for (std::size_t i = first; i < labels.size(); ++i) {
    std::string_view label = labels[i];
    if (has_wildcard(label)) {
      rest_has_wildcard = true;
      for (char c : label) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || is_wild(c);
        if (!ok) return invalid(raw, "wildcard labels may contain only a-z 0-9 - _ * ?");
      }
      if (label.size() > 63) return invalid(raw, "label longer than 63 octets");
      normalised.emplace_back(label);
    } else {
      // Literal labels of the original (not lower-cased) text go through IDNA one by one.
      auto name = core::canonicalize_name(label);
      if (!name) return invalid(raw, name.error().message);
      // UTS-46 maps a few characters (U+2488 "1.") to text with a dot; such a label would
      // change the pattern's label structure after normalisation.
      if (name->find('.') != std::string::npos) {
        return invalid(raw, "a label maps to text containing a dot");
      }
      normalised.push_back(std::move(name.value()));
    }
  }

  // `*.1.2.3` and `10.0.0.*` look like IP ranges but could never match an IP literal (SPEC §5
  // keeps wildcards away from IPs): refuse them rather than let a deny entry block nothing. Checked
  // after IDNA so that full-width digits ("example.\uFF16") count as the digits they become.
  const auto numeric_or_wild = [](std::string_view l) {
    return has_wildcard(l) || is_numeric_label(l);
  };
  if (is_numeric_label(normalised.back()) ||
      (std::all_of(labels.begin(), labels.begin() + static_cast<std::ptrdiff_t>(first),
                   numeric_or_wild) &&
       std::all_of(normalised.begin(), normalised.end(), numeric_or_wild))) {
    return invalid(raw, "wildcards cannot be used in an IP address");
  }

  std::string suffix;
  for (std::size_t i = 0; i < normalised.size(); ++i) {
    if (i) suffix.push_back('.');
    suffix += normalised[i];
  }
  if (suffix.size() > 253) return invalid(raw, "name longer than 253 octets");

  if (prefix_kind == Pattern::Kind::labelwise || rest_has_wildcard) {
    p.kind_ = Pattern::Kind::labelwise;
    p.labels_.clear();
    if (first == 1) p.labels_.push_back(std::string(labels[0]));
    for (auto& l : normalised) p.labels_.push_back(l);
  } else {
    p.kind_ = prefix_kind;
  }
  p.suffix_ = suffix;
  p.text_ = first == 1 ? std::string(labels[0]) + "." + suffix : suffix;
  return out;
}

bool Pattern::matches(const core::CanonicalHost& host) const noexcept {
  switch (kind_) {
    case Kind::everything:
      return true;
    case Kind::ip:
      return host.is_ip() && host.ip && ip_ && host.ip->unmapped() == ip_->unmapped() &&
             (zone_.empty() || host.zone == zone_);
    case Kind::exact:
      return !host.is_ip() && host.text == text_;
    case Kind::subdomains:
      return !host.is_ip() && host.text.size() > suffix_.size() + 1 &&
             host.text.ends_with(suffix_) &&
             host.text[host.text.size() - suffix_.size() - 1] == '.';
    case Kind::apex_and_subs:
      return !host.is_ip() &&
             (host.text == suffix_ ||
              (host.text.size() > suffix_.size() + 1 && host.text.ends_with(suffix_) &&
               host.text[host.text.size() - suffix_.size() - 1] == '.'));
    case Kind::labelwise: {
      if (host.is_ip()) return false;
      // Compare label by label from the right without allocating: this runs for every
      // label-wise pattern on every request.
      const std::size_t first = (labels_[0] == "*" || labels_[0] == "**") ? 1 : 0;
      const std::size_t n = labels_.size() - first;
      const std::size_t host_labels =
          static_cast<std::size_t>(std::count(host.text.begin(), host.text.end(), '.')) + 1;
      if (first == 0 && host_labels != n) return false;
      if (first == 1 && labels_[0] == "*" && host_labels <= n) return false;
      if (host_labels < n) return false;
      std::string_view rest = host.text;
      for (std::size_t k = 0; k < n; ++k) {
        auto dot = rest.rfind('.');
        std::string_view label = dot == std::string_view::npos ? rest : rest.substr(dot + 1);
        if (!glob_label(labels_[labels_.size() - 1 - k], label)) return false;
        rest = dot == std::string_view::npos ? std::string_view() : rest.substr(0, dot);
      }
      return true;
    }
  }
  return false;
}

}  // namespace netfence::policy
