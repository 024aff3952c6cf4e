// Fuzzes the pattern compiler (SPEC §5) and pattern matching: compilation must never crash, a
// compiled pattern's normalised text must compile to itself, and matching must be total.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/host.hpp"
#include "policy/pattern.hpp"

using netfence::policy::compile_pattern;
using netfence::policy::PatternList;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // First byte splits the input into a pattern and a host to match.
  std::string_view all(reinterpret_cast<const char*>(data), size);
  std::size_t split = size ? data[0] % (size + 1) : 0;
  std::string_view pattern = all.substr(split < size ? 1 : 0, split);
  std::string_view host = all.substr(std::min(split + 2, size));  // skip one separator byte

  for (auto list : {PatternList::allowed, PatternList::denied}) {
    auto p = compile_pattern(pattern, list);
    if (!p.ok()) continue;
    auto again = compile_pattern(p->pattern.text(), list);
    if (!again.ok() || again->pattern.text() != p->pattern.text()) std::abort();
    if (auto h = netfence::core::canonicalize_host(host); h.ok()) {
      (void)p->pattern.matches(h.value());
    }
  }
  return 0;
}
