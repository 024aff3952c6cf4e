// Domain patterns (SPEC §5): validation, normalisation and matching against canonical hosts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/host.hpp"
#include "netfence/result.hpp"

namespace netfence::policy {

enum class PatternList : std::uint8_t { allowed, denied };

class Pattern {
 public:
  enum class Kind : std::uint8_t {
    exact,          // example.com
    subdomains,     // *.example.com  (one or more labels in front, not the apex)
    apex_and_subs,  // **.example.com (apex and any depth)
    everything,     // *  (allowlist only)
    labelwise,      // labels with * or ? inside: same label count, wildcards never cross dots
    ip,             // canonical IP literal, optionally zoned
  };

  Kind kind() const noexcept { return kind_; }
  /// Normalised text, e.g. "*.xn--exmple-cua.com", "127.0.0.1", "fe80::1%eth0".
  const std::string& text() const noexcept { return text_; }
  /// True for patterns without '*' or '?' (the "exact entry" of SPEC §6.2).
  bool is_exact() const noexcept { return kind_ == Kind::exact || kind_ == Kind::ip; }

  bool matches(const core::CanonicalHost& host) const noexcept;

 private:
  friend struct PatternCompiler;
  Kind kind_ = Kind::exact;
  std::string text_;
  std::string suffix_;               // for subdomains/apex_and_subs: "example.com"
  std::vector<std::string> labels_;  // for labelwise
  std::optional<core::IpAddress> ip_;
  std::string zone_;
};

struct CompiledPattern {
  Pattern pattern;
  bool port_ignored = false;  // a trailing ":port" was dropped (caller warns, SPEC §5)
};

/// Validates and normalises one pattern for `list`. On failure the Error (code "pattern") has
/// the message that follows "network.<list>[i]: " in SPEC §5, e.g.
///   invalid pattern "exa mple.com": contains a space
///   pattern "*.*" would match every host; use a concrete domain such as "*.example.com"
///   pattern "**" would match every host; use "*" to allow every host
Result<CompiledPattern> compile_pattern(std::string_view raw, PatternList list);

}  // namespace netfence::policy
