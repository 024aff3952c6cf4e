// A compiled, immutable policy (SPEC §5, §6): pattern sets indexed for fast matching plus the
// settings evaluation needs. Built off the I/O threads; shared read-only by every connection.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/host.hpp"
#include "netfence/config.hpp"
#include "netfence/result.hpp"
#include "netfence/types.hpp"
#include "policy/pattern.hpp"

namespace netfence::policy {

/// A list of patterns with hash indexes, so that evaluation with 10,000 patterns costs a few
/// lookups per label of the host instead of a scan (SPEC §19: ≤ 2 µs per decision).
class PatternSet {
  // Transparent hashing: suffix lookups with string_view, no allocation per label.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  using NameSet = std::unordered_set<std::string, Hash, std::equal_to<>>;

 public:
  void add(Pattern p);

  /// Any pattern matches the host (SPEC §5).
  bool matches(const core::CanonicalHost& host) const;
  /// An exact entry (no wildcard) names this host; for a zoned IPv6 host the zone-less entry
  /// counts too (SPEC §6.2 rule 2).
  bool matches_exact(const core::CanonicalHost& host) const;
  /// An IP-literal entry equals this address (any zone).
  bool contains_ip(const core::IpAddress& a) const;

  /// Normalised pattern texts in insertion order.
  const std::vector<std::string>& texts() const { return texts_; }
  std::size_t size() const { return texts_.size(); }

 private:
  std::vector<std::string> texts_;
  bool everything_ = false;
  NameSet exact_;                   // names
  NameSet subdomains_;              // suffixes of "*.x"
  NameSet apex_;                    // suffixes of "**.x"
  std::vector<Pattern> ips_;        // few in practice; compared with zones
  std::vector<Pattern> labelwise_;  // mid-label globs: scanned
};

struct Snapshot {
  bool enabled = false;
  Mode mode = Mode::full;
  bool mitm = false;
  bool allow_local_binding = false;
  PatternSet allowed;
  PatternSet denied;
  /// The configuration this snapshot was compiled from (for /config, limits, timeouts).
  std::shared_ptr<const Config> config;
};

/// Compiles a validated Config. Patterns in a Config are already normalised, so an error here
/// means the Config was built by hand with a bad pattern (message names list and index).
Result<std::shared_ptr<const Snapshot>> compile(std::shared_ptr<const Config> config);

}  // namespace netfence::policy
