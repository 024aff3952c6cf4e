// Comparison of secrets (socks_password, admin_token) without a timing side channel.
#pragma once

#include <string_view>

namespace netfence::core {

/// true iff a == b. The time taken depends only on the lengths, never on where the inputs
/// differ. (OpenSSL's CRYPTO_memcmp needs equal lengths and would pull TLS into core.)
bool secret_equals(std::string_view a, std::string_view b) noexcept;

}  // namespace netfence::core
