#include "core/secret.hpp"

#include <algorithm>
#include <cstddef>

namespace netfence::core {

bool secret_equals(std::string_view a, std::string_view b) noexcept {
  // volatile keeps the compiler from turning the accumulation into an early exit.
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

}  // namespace netfence::core
