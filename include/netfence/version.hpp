#pragma once

#include <string_view>

namespace netfence {
/// Semantic version of this build, e.g. "0.1.0".
std::string_view version() noexcept;
}  // namespace netfence
